#!/bin/bash
# systemd-analyze verify on the shipped unit (with ExecStart pointed at the built binary,
# since verify insists the executable exists, and MANPATH at packaging/man, since it
# checks the Documentation= man pages too).
set -euo pipefail
build=$(realpath "${KW_BUILD:-build}")
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/keepwatchd|$build/keepwatchd|g" systemd/keepwatchd.service >"$tmp/keepwatchd.service"
for p in packaging/man/*.[0-9]; do
  s=${p##*.}; mkdir -p "$tmp/man/man$s"; cp "$p" "$tmp/man/man$s/"
done
verify() {  # unit file
  local out
  out=$(MANPATH="$tmp/man" systemd-analyze verify "$1" 2>&1) || { echo "$out"; exit 1; }
  # verify exits 0 on some warnings; treat any line about our unit as a failure.
  if grep -q keepwatchd <<<"$out"; then echo "$out"; exit 1; fi
}
verify "$tmp/keepwatchd.service"
# Each role's drop-in, applied by appending it (later assignments win, as in a drop-in).
for d in packaging/examples/systemd/*.conf; do
  mkdir -p "$tmp/$(basename "$d" .conf)"
  cat "$tmp/keepwatchd.service" "$d" >"$tmp/$(basename "$d" .conf)/keepwatchd.service"
  verify "$tmp/$(basename "$d" .conf)/keepwatchd.service"
done
echo "systemd-analyze verify: clean (unit and $(ls packaging/examples/systemd/*.conf | wc -l) drop-ins)"
