#!/bin/bash
# The manual pages in packaging/man/: they render without a single groff/man warning,
# name the version of agent/version.h, keepwatch.ini(5) documents every configuration key
# the sources read, and keepwatchd(8) every endpoint the API routes.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
version=$(sed -nE 's/.*kVersion = "([^"]+)".*/\1/p' agent/version.h)

render_warnings() { MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null; }

# The warning check must be able to fail: an undefined macro is reported.
printf '.TH X 1\n.SH NAME\nx \\- y\n.NOSUCHMACRO\n' >"$tmp/bad.1"
[ -n "$(render_warnings "$tmp/bad.1")" ] || { echo "FAIL: man --warnings reported nothing for a bad page"; fail=1; }

pages=(packaging/man/keepwatchd.8 packaging/man/keepwatch.1 packaging/man/keepwatch.ini.5)
for p in "${pages[@]}"; do
  [ -f "$p" ] || { echo "FAIL: $p is missing"; fail=1; continue; }
  w=$(render_warnings "$p")
  if [ -n "$w" ]; then echo "FAIL: $p renders with warnings:"; echo "$w"; fail=1; fi
  grep -q "^\.TH .*\"keepwatch $version\"" "$p" || { echo "FAIL: $p does not say keepwatch $version"; fail=1; }
  [ "$(MANWIDTH=80 man -l "$p" 2>/dev/null | wc -l)" -gt 20 ] || { echo "FAIL: $p renders almost nothing"; fail=1; }
done

# Every key a KeyReader getter asks for, e.g. r.Dur("interval", ...), keys.Size("max_lag", ...).
keys=$(grep -ohE '\b(r|keys|reader|k)\.(String|RequiredString|Dur|Size|Bool|Int|Address|RequiredAddress|Choice|List)\("[a-z_]+"' \
         agent/*.cpp agent/*/*.cpp checks/*.cpp 2>/dev/null | sed -E 's/.*\("([a-z_]+)"/\1/' | sort -u)
[ "$(echo "$keys" | wc -w)" -ge 20 ] || { echo "FAIL: found only $(echo "$keys" | wc -w) keys in the sources"; fail=1; }
ini=$(MANWIDTH=200 man -l packaging/man/keepwatch.ini.5 2>/dev/null)
for k in $keys; do
  grep -qE "^ +$k +=" <<<"$ini" || { echo "FAIL: keepwatch.ini(5) does not document key '$k'"; fail=1; }
done
# Every check type the registry knows.
types=$(sed -nE 's/^ *\{"([a-z0-9]+)", *[A-Za-z:]+\}.*/\1/p' checks/registry.cpp)
[ -n "$types" ] || { echo "FAIL: no check types found in checks/registry.cpp"; fail=1; }
for t in $types; do
  grep -qE "type = $t\b" <<<"$ini" || { echo "FAIL: keepwatch.ini(5) does not document type '$t'"; fail=1; }
done

# Every path the API answers.
daemon=$(MANWIDTH=200 man -l packaging/man/keepwatchd.8 2>/dev/null)
paths=$(grep -ohE 'path == "/[a-z/-]*"|kCheck = "/check/"' agent/api.cpp agent/roles.cpp | sed -E 's/.*"(\/[a-z/-]*)"/\1/' | sort -u)
[ "$(echo "$paths" | wc -w)" -ge 12 ] || { echo "FAIL: found only $(echo "$paths" | wc -w) paths in the API sources"; fail=1; }
for p in $paths; do
  grep -qF -- "$p" <<<"$daemon" || { echo "FAIL: keepwatchd(8) does not document $p"; fail=1; }
done
[ $fail = 0 ] && echo "man pages: $(echo "$keys" | wc -w) keys, $(echo "$paths" | wc -w) paths documented, no warnings"
exit $fail
