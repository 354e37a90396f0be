#!/bin/bash
# Six keepwatchd, each in its own network namespace, on one bridge (itself in a
# namespace of its own, so nothing is added to the host's network):
#   all see six alive; kill -9 one -> all others mark it dead; SIGSTOP one for less than
#   the suspicion minimum -> nobody marks it dead; cut one off with nftables -> the
#   others mark it dead, and it rejoins after the cut is removed.
# Needs root (ip netns, nft).  Skips (exit 0, saying so) without them.  Every wait is
# bounded; namespaces and processes are removed on exit, failure included.
set -euo pipefail
build=$(realpath "${KW_BUILD:-build}")
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
  echo "gossip netns: needs root, ip and nft; not run"; exit 0
fi
id=$(( $$ % 100000 ))
N=6
sw="kwg$id-sw"
ns() { echo "kwg$id-n$1"; }
addr() { echo "10.213.$((id % 200)).$((10 + $1))"; }
tmp=$(mktemp -d /tmp/kw-gossip-ns.XXXXXX)
declare -A pid=()
cleanup() {
  for n in "${!pid[@]}"; do
    kill -CONT "${pid[$n]}" 2>/dev/null || true
    kill -9 "${pid[$n]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  for i in $(seq 0 $((N - 1))); do ip netns del "$(ns "$i")" 2>/dev/null || true; done
  ip netns del "$sw" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$sw"
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
for i in $(seq 0 $((N - 1))); do
  n=$(ns "$i")
  ip netns add "$n"
  ip link add "kg${id}a$i" type veth peer name "kg${id}b$i"
  ip link set "kg${id}a$i" netns "$n"
  ip link set "kg${id}b$i" netns "$sw"
  ip -n "$n" link set "kg${id}a$i" name eth0
  ip -n "$n" addr add "$(addr "$i")/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
  ip -n "$sw" link set "kg${id}b$i" master br0
  ip -n "$sw" link set "kg${id}b$i" up
done

(umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$tmp/cluster.key")
for i in $(seq 0 $((N - 1))); do
  mkdir -p "$tmp/state$i"
  {
    printf '[agent]\nnode = n%d\nlisten = %s:9201\nstate_dir = %s/state%d\n' "$i" "$(addr "$i")" "$tmp" "$i"
    printf '[check.self]\ntype = tcp\naddress = %s:9201\ninterval = 1s\n' "$(addr "$i")"
    printf '[cluster]\nname = ns-test\nfailover = off\nbind = %s:7950\nkey_file = %s/cluster.key\n' "$(addr "$i")" "$tmp"
    printf 'probe_interval = 500ms\nprobe_timeout = 200ms\nsuspicion_mult = 3\n'
    printf 'gossip_interval = 100ms\nreconnect_interval = 2s\npush_pull_interval = 10s\n'
    for j in $(seq 0 $((N - 1))); do printf '[member.n%d]\naddress = %s\n' "$j" "$(addr "$j")"; done
  } >"$tmp/n$i.ini"
done
start() {
  ip netns exec "$(ns "$1")" "$build/keepwatchd" -c "$tmp/n$1.ini" >"$tmp/n$1.log" 2>&1 &
  pid[$1]=$!
}
seen() {  # status of member $2 in node $1's view
  ip netns exec "$(ns "$1")" curl -s -m 1 "http://$(addr "$1"):9201/cluster" 2>/dev/null | python3 -c "
import json, sys
try: d = json.load(sys.stdin)
except Exception: print('none'); sys.exit()
print(next((m['status'] for m in d['members'] if m['name'] == '$2'), 'none'))" || echo none
}
wait_until() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit)) t0=$SECONDS
  while ((SECONDS < end)); do
    if "$@"; then echo "ok: $what ($((SECONDS - t0))s)"; return 0; fi
    sleep 0.2
  done
  echo "FAIL: $what not within ${limit}s"
  for i in $(seq 0 $((N - 1))); do echo "--- n$i: $(for j in $(seq 0 $((N - 1))); do printf '%s ' "$(seen "$i" "n$j")"; done)"; done
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

for i in $(seq 0 $((N - 1))); do start "$i"; done
wait_until 30 "six agents in six namespaces see six alive" all_alive

kill -9 "${pid[0]}"; wait "${pid[0]}" 2>/dev/null || true; unset 'pid[0]'
wait_until 25 "n0 (kill -9) dead everywhere" all_see dead n0 0

kill -STOP "${pid[1]}"; sleep 1; kill -CONT "${pid[1]}"
end=$((SECONDS + 8))
while ((SECONDS < end)); do
  for i in 2 3 4 5; do
    if [ "$(seen "$i" n1)" = dead ]; then echo "FAIL: n$i marked paused n1 dead"; exit 1; fi
  done
  sleep 0.3
done
echo "ok: n1 paused 1s and never marked dead"

# Cut n5 off: drop everything but loopback in its namespace, both directions.
ip netns exec "$(ns 5)" nft -f - <<'EOF'
table inet kwcut {
  chain in { type filter hook input priority 0; policy drop; iif "lo" accept; }
  chain out { type filter hook output priority 0; policy drop; oif "lo" accept; }
}
EOF
wait_until 25 "cut-off n5 dead for everyone else" all_see dead n5 0 5
ip netns exec "$(ns 5)" nft delete table inet kwcut
start 0
wait_until 30 "n5 healed and n0 restarted: all alive" all_alive
echo "gossip netns: all passed"
