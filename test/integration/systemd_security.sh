#!/bin/bash
# systemd-analyze security --offline=yes on the shipped unit, alone and with each node
# role's drop-in from packaging/examples/systemd/: the overall exposure must stay under
# 2.0.  A drop-in is applied by appending it to a copy of the unit (a later assignment
# overrides an earlier one, as a drop-in does).
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=2.0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0

exposure() {  # unit file -> the number in "Overall exposure level for X: 1.1 OK"
  local out
  out=$(systemd-analyze security --offline=yes --no-pager "$1" 2>&1) || true
  echo "$out" | sed -nE 's/.*Overall exposure level for [^:]+: ([0-9]+\.[0-9]+) .*/\1/p'
}

check() {  # name unit-file
  local n
  n=$(exposure "$2")
  if [ -z "$n" ]; then
    echo "FAIL $1: no exposure level in systemd-analyze output"; fail=1; return
  fi
  if awk -v n="$n" -v l="$limit" 'BEGIN { exit !(n < l) }'; then
    echo "ok   $1: exposure $n (< $limit)"
  else
    echo "FAIL $1: exposure $n (limit $limit)"; fail=1
  fi
}

cp systemd/keepwatchd.service "$tmp/keepwatchd.service"
check base "$tmp/keepwatchd.service"
# The parser itself must be able to fail: an unhardened unit scores far above the limit.
mkdir -p "$tmp/plain"
printf '[Service]\nExecStart=/usr/sbin/keepwatchd\n' >"$tmp/plain/keepwatchd.service"
plain=$(exposure "$tmp/plain/keepwatchd.service")
if ! awk -v n="${plain:-0}" 'BEGIN { exit !(n > 5) }'; then
  echo "FAIL: an unhardened unit should score above 5, got '${plain}'"; fail=1
fi

roles=0
for d in packaging/examples/systemd/*.conf; do
  role=$(basename "$d" .conf)
  mkdir -p "$tmp/$role"
  cat systemd/keepwatchd.service "$d" >"$tmp/$role/keepwatchd.service"
  check "$role drop-in" "$tmp/$role/keepwatchd.service"
  roles=$((roles + 1))
done
[ "$roles" -ge 3 ] || { echo "FAIL: expected drop-ins for postgresql, odoo and lb, found $roles"; fail=1; }
exit $fail
