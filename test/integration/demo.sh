#!/bin/bash
# `make demo` end to end, non-interactively: the demo builds the namespace lab (PostgreSQL
# primary and replica, HAProxy on lb1 and lb2, an agent on every node), reports rw →
# postgresql1 and ro → postgresql2 through HAProxy and a status page forwarded to
# 127.0.0.1 (its exit status says whether it did), and leaves no namespace, process or
# directory behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${KW_BUILD:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
DEMO_SECONDS=1 timeout 300 test/demo/run "$build" >"$out" 2>&1 || { cat "$out"; exit 1; }
grep -q "ready: rw reaches postgresql1, ro reaches postgresql2" "$out" || { cat "$out"; exit 1; }
grep -qE "http://127\.0\.0\.1:[0-9]+/ui +postgresql1" "$out" || { cat "$out"; exit 1; }
read -r prefix dir < <(sed -nE 's|.*lab (kwl[0-9]+) in (/tmp/kw-lab\.[A-Za-z0-9]+).*|\1 \2|p' "$out" | head -1)
[ -n "$dir" ] || { echo "no lab directory in the output"; cat "$out"; exit 1; }
[ ! -e "$dir" ] || { echo "demo left $dir behind"; exit 1; }
if ip netns list | grep -q "^$prefix-"; then echo "demo left namespaces behind"; ip netns list; exit 1; fi
if pgrep -f "$dir" >/dev/null; then echo "demo left processes behind:"; pgrep -af "$dir"; exit 1; fi
echo "demo: lab up, routed through HAProxy, status page forwarded, torn down"
