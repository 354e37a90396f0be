#!/bin/bash
# `make demo` end to end, non-interactively: the demo brings up PostgreSQL primary and
# replica, two agents and HAProxy, reports rw → postgresql1 and ro → postgresql2 (its exit
# status says whether it did), and leaves no process or directory behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${KW_BUILD:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
before=$({ compgen -G "/tmp/keepwatch-demo.*" || true; } | wc -l)
DEMO_SECONDS=1 timeout 120 test/demo/run "$build" >"$out" 2>&1 || { cat "$out"; exit 1; }
grep -q "ready: rw reaches postgresql1, ro reaches postgresql2" "$out" || { cat "$out"; exit 1; }
dir=$(sed -nE 's|.*Logs: (/tmp/keepwatch-demo\.[A-Za-z0-9]+)/.*|\1|p' "$out")
[ -n "$dir" ] || { echo "no demo directory in the output"; exit 1; }
[ ! -e "$dir" ] || { echo "demo left $dir behind"; exit 1; }
if pgrep -f "$dir" >/dev/null; then echo "demo left processes behind:"; pgrep -af "$dir"; exit 1; fi
after=$({ compgen -G "/tmp/keepwatch-demo.*" || true; } | wc -l)
[ "$after" -le "$before" ] || { echo "a demo directory remains"; exit 1; }
echo "demo: up, routed, torn down"
