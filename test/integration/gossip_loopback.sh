#!/bin/bash
# Six real keepwatchd processes gossiping on 127.0.0.1 (distinct ports):
#   all see six alive; kill -9 one -> every other marks it dead; SIGSTOP one for less
#   than the suspicion minimum -> nobody marks it dead; a process with the wrong key ->
#   its datagrams are dropped and counted (auth) and it stays dead; restarted with the
#   right key -> it rejoins.  Every wait is bounded; everything is cleaned up on exit.
set -euo pipefail
build=$(realpath "${KW_BUILD:-build}")
tmp=$(mktemp -d /tmp/kw-gossip-lo.XXXXXX)
declare -A pid=()
cleanup() {
  for n in "${!pid[@]}"; do
    kill -CONT "${pid[$n]}" 2>/dev/null || true
    kill -9 "${pid[$n]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

N=6
# Free ports: 2 per node (UDP gossip, TCP HTTP), chosen by the kernel and released.
read -r -a ports <<<"$(python3 - "$N" <<'EOF'
import socket, sys
n = int(sys.argv[1]); socks = []; out = []
for i in range(n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0))
    socks += [u, t]; out += [u.getsockname()[1], t.getsockname()[1]]
print(" ".join(map(str, out)))
EOF
)"
gport() { echo "${ports[$((2 * $1))]}"; }
hport() { echo "${ports[$((2 * $1 + 1))]}"; }

(umask 077; "$build/keepwatch" keygen >"$tmp/cluster.key" 2>/dev/null || python3 -c 'import secrets; print(secrets.token_hex(32))' >"$tmp/cluster.key")
(umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$tmp/wrong.key")

# probe 500ms, suspicion minimum 3 x 0.5 s = 1.5 s, maximum 9 s.
write_config() {  # node index, key file
  local i=$1 key=$2 f="$tmp/n$1.ini"
  {
    printf '[agent]\nnode = n%d\nlisten = 127.0.0.1:%d\nstate_dir = %s/state%d\n' "$i" "$(hport "$i")" "$tmp" "$i"
    printf '[check.self]\ntype = tcp\naddress = 127.0.0.1:%d\ninterval = 1s\n' "$(hport "$i")"
    printf '[cluster]\nname = lo-test\nfailover = off\nbind = 127.0.0.1:%d\nkey_file = %s\n' "$(gport "$i")" "$key"
    printf 'probe_interval = 500ms\nprobe_timeout = 200ms\nsuspicion_mult = 3\n'
    printf 'gossip_interval = 100ms\nreconnect_interval = 2s\npush_pull_interval = 10s\n'
    for j in $(seq 0 $((N - 1))); do
      printf '[member.n%d]\naddress = 127.0.0.1:%d\nhttp = 127.0.0.1:%d\n' "$j" "$(gport "$j")" "$(hport "$j")"
    done
  } >"$f"
  mkdir -p "$tmp/state$i"
}
start() {  # node index [key file]
  write_config "$1" "${2:-$tmp/cluster.key}"
  "$build/keepwatchd" -c "$tmp/n$1.ini" >"$tmp/n$1.log" 2>&1 &
  pid[$1]=$!
}
cluster() { curl -s -m 1 "http://127.0.0.1:$(hport "$1")/cluster" || true; }
# status of member $2 as node $1 sees it
seen() { cluster "$1" | python3 -c "
import json, sys
try: d = json.load(sys.stdin)
except Exception: print('none'); sys.exit()
print(next((m['status'] for m in d['members'] if m['name'] == '$2'), 'none'))"; }
# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.2 s
wait_until() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit)) t0=$SECONDS
  while ((SECONDS < end)); do
    if "$@"; then echo "ok: $what ($((SECONDS - t0))s)"; return 0; fi
    sleep 0.2
  done
  echo "FAIL: $what not within ${limit}s"
  for i in $(seq 0 $((N - 1))); do echo "--- n$i: $(cluster "$i" | head -c 600)"; done
  return 1
}
all_see() {  # status member [except...]
  local want=$1 m=$2; shift 2
  for i in $(seq 0 $((N - 1))); do
    [[ " $* " == *" $i "* ]] && continue
    [ "$(seen "$i" "$m")" = "$want" ] || return 1
  done
}
all_alive() { for j in $(seq 0 $((N - 1))); do all_see alive "n$j" || return 1; done; }
metric() {  # node, metric line prefix -> value (0 when absent)
  curl -s -m 1 "http://127.0.0.1:$(hport "$1")/metrics" | awk -v k="$2" 'index($0, k) == 1 {print $2; f=1} END {if (!f) print 0}'
}

for i in $(seq 0 $((N - 1))); do start "$i"; done
wait_until 30 "six agents see six alive members" all_alive

"$build/keepwatch" --url "http://127.0.0.1:$(hport 0)" members >"$tmp/members.txt"
cat "$tmp/members.txt"
[ "$(grep -c '^n[0-5] .*alive' "$tmp/members.txt")" = 6 ] || { echo "FAIL: keepwatch members table"; exit 1; }

# kill -9: every other member marks it dead.
kill -9 "${pid[5]}"; wait "${pid[5]}" 2>/dev/null || true; unset 'pid[5]'
wait_until 25 "n5 (kill -9) dead everywhere" all_see dead n5 5

# SIGSTOP n4 for 1 s (< 1.5 s suspicion minimum): nobody may mark it dead.
kill -STOP "${pid[4]}"; sleep 1; kill -CONT "${pid[4]}"
end=$((SECONDS + 8))
while ((SECONDS < end)); do
  for i in 0 1 2 3; do
    if [ "$(seen "$i" n4)" = dead ]; then echo "FAIL: n$i marked paused n4 dead"; exit 1; fi
  done
  sleep 0.2
done
echo "ok: n4 paused 1s and never marked dead"
wait_until 10 "n4 alive everywhere after the pause" all_see alive n4 5

# Wrong key: n5 comes back with another key; the others drop its datagrams (auth).
before=$(metric 0 'keepwatch_gossip_dropped_total{reason="auth"}')
start 5 "$tmp/wrong.key"
wait_until 10 "n0 counts n5's datagrams as auth failures" \
  bash -c "[ \"\$(curl -s -m 1 http://127.0.0.1:$(hport 0)/metrics | awk 'index(\$0, \"keepwatch_gossip_dropped_total{reason=\\\"auth\\\"}\") == 1 {print \$2}')\" -gt $before ]"
sleep 2
all_see dead n5 5 || { echo "FAIL: a member accepted n5 with the wrong key"; exit 1; }
echo "ok: n5 with the wrong key stays dead"
kill -9 "${pid[5]}"; wait "${pid[5]}" 2>/dev/null || true; unset 'pid[5]'

# Right key again: it rejoins.
start 5
wait_until 20 "n5 rejoined: all alive" all_alive
echo "gossip loopback: all passed"
