#!/bin/bash
# systemd-analyze verify on the shipped unit (with ExecStart pointed at the built binary,
# since verify insists the executable exists).
set -euo pipefail
build=$(realpath "${KW_BUILD:-build}")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/keepwatchd|$build/keepwatchd|g" systemd/keepwatchd.service >"$tmp/keepwatchd.service"
out=$(systemd-analyze verify "$tmp/keepwatchd.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings; treat any line about our unit as a failure.
if echo "$out" | grep -q keepwatchd; then echo "$out"; exit 1; fi
echo "systemd-analyze verify: clean"
