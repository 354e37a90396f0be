#!/bin/bash
# The /ui status page in real headless Chromium, against a real keepwatchd with a passing
# check (tcp to a listening loopback port) and a failing one (tcp to a closed port):
# after the page's own refresh from /status and /cluster, the DOM shows the passing check
# as up and the failing one as down, and the node as an alive gossip member; a screenshot is taken and must be a real image.
# KW_UI_SCREENSHOT=FILE keeps a copy of the screenshot (for people to look at).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${KW_BUILD:-build}")
tmp=$(mktemp -d /tmp/keepwatch-ui.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {  # a loopback port nobody listens on (TCP or UDP)
  local p i
  for i in $(seq 1 100); do
    p=$((30000 + RANDOM % 30000))
    if ! ss -Htuln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
}

open_port=$(free_port)
socat -u "TCP-LISTEN:$open_port,bind=127.0.0.1,reuseaddr,fork" OPEN:/dev/null &
pids+=($!)
closed_port=$(free_port)
while [ "$closed_port" = "$open_port" ]; do closed_port=$(free_port); done
agent_port=$(free_port)
gossip_port=$(free_port)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/cluster.key"
echo >>"$tmp/cluster.key"
chmod 600 "$tmp/cluster.key"

cat >"$tmp/keepwatch.ini" <<INI
[agent]
node = ui-test-node
listen = 127.0.0.1:$agent_port
state_dir = $tmp/state

[check.alive]
type = tcp
address = 127.0.0.1:$open_port
interval = 500ms
timeout = 300ms

[check.closed]
type = tcp
address = 127.0.0.1:$closed_port
interval = 500ms
timeout = 300ms

[cluster]
name = ui-test
bind = 127.0.0.1:$gossip_port
key_file = $tmp/cluster.key
failover = off

[member.ui-test-node]
address = 127.0.0.1:$gossip_port
http = 127.0.0.1:$agent_port
INI
mkdir -p "$tmp/state"
"$build/keepwatchd" -c "$tmp/keepwatch.ini" >"$tmp/agent.log" 2>&1 &
pids+=($!)

base="http://127.0.0.1:$agent_port"
ready=""
for i in $(seq 1 50); do
  if curl -fsS -o /dev/null "$base/readiness" 2>/dev/null; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "FAIL: agent not ready"; cat "$tmp/agent.log"; exit 1; }
# Both checks must have settled as the test expects before the browser looks.
curl -fsS -o /dev/null "$base/check/alive" || { echo "FAIL: check alive is not up"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/check/closed")
[ "$code" = 503 ] || { echo "FAIL: check closed answers $code, expected 503"; exit 1; }
ctype=$(curl -fsS -o /dev/null -w '%{content_type}' "$base/ui")
[ "$ctype" = "text/html; charset=utf-8" ] || { echo "FAIL: /ui content type '$ctype'"; exit 1; }

chrome() {
  local profile
  profile=$(mktemp -d "$tmp/profile.XXXXXX")
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" --window-size=1200,900 "$@" 2>>"$tmp/chromium.log"
}

# --virtual-time-budget lets the page's scripts run (fetches, two refresh ticks) before
# the DOM is dumped.
chrome --virtual-time-budget=5000 --dump-dom "$base/ui" >"$tmp/dom.html" ||
  { echo "FAIL: chromium --dump-dom failed"; tail -20 "$tmp/chromium.log"; exit 1; }
chrome --virtual-time-budget=5000 --screenshot="$tmp/ui.png" "$base/ui" >/dev/null ||
  { echo "FAIL: chromium --screenshot failed"; tail -20 "$tmp/chromium.log"; exit 1; }

fail=0
dom=$(tr -d '\n' <"$tmp/dom.html")
row() {  # the <tr> of check $1
  echo "$dom" | grep -oE "<tr data-check=\"$1\"[^>]*>.*" | sed -E 's|</tr>.*||'
}
expect() {  # description, pattern that must be in the text
  if ! grep -qE -- "$2" <<<"$3"; then echo "FAIL: $1"; fail=1; else echo "ok   $1"; fi
}
refreshes=$(echo "$dom" | sed -nE 's/.*id="updated" data-refreshes="([0-9]+)".*/\1/p')
if [ "${refreshes:-0}" -ge 1 ]; then echo "ok   the page refreshed itself ($refreshes times)"
else echo "FAIL: the page never refreshed (data-refreshes='${refreshes}')"; fail=1; fi
expect "node name shown" 'id="node">ui-test-node<' "$dom"
expect "passing check shown as up" 'data-state="up".*class="badge up">up<' "$(row alive)"
expect "passing check: probe passed" '>pass<' "$(row alive)"
expect "failing check shown as down" 'data-state="down".*class="badge down">down<' "$(row closed)"
expect "failing check: probe failed" '>fail<' "$(row closed)"
expect "failing check's detail shown" 'class="detail">[^<]+' "$(row closed)"
expect "1 of 2 checks passing, in red" 'class="v bad" id="passing">1 / 2<' "$dom"
expect "term shown" 'id="term">[0-9]+<' "$dom"
expect "failover off: its tile is a dash" 'id="failover">—<' "$dom"
expect "no leader yet: a dash" 'id="leader">—<' "$dom"
expect "1 of 1 members alive" 'id="alive">1 / 1<' "$dom"
member=$(echo "$dom" | grep -oE '<tr data-member="ui-test-node"[^>]*>.*' | sed -E 's|</tr>.*||')
expect "this node listed as an alive member" 'data-state="alive".*\(this node\).*class="badge up">alive<' "$member"
expect "its gossiped checks: 1 passing, 1 failing (closed)" '1 passing, 1 failing \(closed\)' "$member"
expect "no error banner" 'id="banner" role="alert"( class="")?>(</div>)' "$dom"

# A real screenshot: a PNG of the window's size, not a blank page.
if [ "$(head -c 8 "$tmp/ui.png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
  echo "FAIL: the screenshot is not a PNG"; fail=1
else
  size=$(od -An -tu1 -j16 -N8 "$tmp/ui.png" | awk '{ print ($1*16777216+$2*65536+$3*256+$4) "x" ($5*16777216+$6*65536+$7*256+$8) }')
  bytes=$(stat -c %s "$tmp/ui.png")
  if [ "$size" = 1200x900 ] && [ "$bytes" -gt 20000 ]; then echo "ok   screenshot $size, $bytes bytes"
  else echo "FAIL: screenshot $size, $bytes bytes (expected 1200x900, more than 20 kB)"; fail=1; fi
fi
[ -n "${KW_UI_SCREENSHOT:-}" ] && cp "$tmp/ui.png" "$KW_UI_SCREENSHOT"
[ $fail = 0 ] || { echo "--- DOM"; cat "$tmp/dom.html"; }
exit $fail
