#!/bin/bash
# keepalived + keepwatch: two "load balancers" in network namespaces joined by a veth
# pair, each running HAProxy, keepwatchd (a haproxy check on HAProxy's stats socket) and
# keepalived with packaging/examples/keepalived.conf adapted to the test network
# (unicast VRRP, virtual IP 10.211.0.100 on that private link only).  The track_script
# is `keepwatch check haproxy` on lb1; lb2 uses the example's track_file variant (the
# agent's <track_dir>/haproxy.state), so both ways are exercised.  When HAProxy stops on the master the address must move
# to the backup within the agent's detection + keepalived's fall × interval, and back
# when HAProxy returns.  Also: the example haproxy.cfg and keepalived.conf pass the real
# tools' configuration checks.
set -u
KW_BUILD=${KW_BUILD:-build}
KW_BUILD=$(cd "$KW_BUILD" && pwd)
cd "$(dirname "$0")/../.."
EXAMPLES=packaging/examples

fail() { echo "FAIL: $*"; exit 1; }
log() { echo "[$(date +%T.%N | cut -c1-12)] $*"; }

T=$(mktemp -d /tmp/kw-keepalived.XXXXXX)
NS1=kwlb1-$$ NS2=kwlb2-$$ V1=kwv1-$$ V2=kwv2-$$
VIP=10.211.0.100
declare -A PIDS=()

cleanup() {
  for name in "${!PIDS[@]}"; do kill "${PIDS[$name]}" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for name in "${!PIDS[@]}"; do kill -0 "${PIDS[$name]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for name in "${!PIDS[@]}"; do kill -9 "${PIDS[$name]}" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS1" 2>/dev/null
  ip netns del "$NS2" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# --- the examples pass the real tools' checks ------------------------------------------
haproxy -c -q -f $EXAMPLES/haproxy.cfg || fail "haproxy -c rejects $EXAMPLES/haproxy.cfg"
# (keepalived_script is created at installation and keepwatch installed in /usr/bin;
# root and the build stand in for them here)
sed -e 's/script_user keepalived_script/script_user root/' \
    -e "s|/usr/bin/keepwatch|$KW_BUILD/keepwatch|" $EXAMPLES/keepalived.conf > "$T/example-check.conf"
out=$(keepalived -t -f "$T/example-check.conf" 2>&1) || fail "keepalived -t: $out"
[ -z "$out" ] || fail "keepalived -t complains: $out"

# --- network: two namespaces, one veth link ------------------------------------------
ip netns add "$NS1" && ip netns add "$NS2" || fail "cannot create network namespaces"
ip link add "$V1" netns "$NS1" type veth peer name "$V2" netns "$NS2" || fail "veth"
ip -n "$NS1" addr add 10.211.0.1/24 dev "$V1"
ip -n "$NS2" addr add 10.211.0.2/24 dev "$V2"
for ns in "$NS1" "$NS2"; do ip -n "$ns" link set lo up; done
ip -n "$NS1" link set "$V1" up
ip -n "$NS2" link set "$V2" up

# --- per node: haproxy, keepwatchd, keepalived ------------------------------------------
# node NAME NS IFACE SRC PEER PRIORITY TRACK(script|file)
setup_node() {
  local name=$1 ns=$2 ifc=$3 src=$4 peer=$5 prio=$6 track=$7 d=$T/$1
  mkdir -p "$d/track"
  cat > "$d/haproxy.cfg" <<CFG
global
  stats socket $d/admin.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 1s
  timeout client 30s
  timeout server 30s
listen postgres_rw
  bind 127.0.0.1:5433
  server postgresql1 127.0.0.1:9201 check inter 200ms
CFG
  cat > "$d/keepwatch.ini" <<CFG
[agent]
node = $name
listen = 127.0.0.1:9201
state_dir = $d
track_dir = $d/track
[check.haproxy]
type = haproxy
socket = $d/admin.sock
backends = postgres_rw
interval = 500ms
timeout = 400ms
rise = 1
fall = 2
CFG
  # The example, adapted: this test's names, addresses, interface and binaries.
  sed -e "s/router_id lb1/router_id $name/" \
      -e '/enable_script_security/d' \
      -e 's/script_user keepalived_script/script_user root/' \
      -e "s|/usr/bin/keepwatch|$KW_BUILD/keepwatch --url http://127.0.0.1:9201|" \
      -e "s/interface eth0/interface $ifc/" -e "s/dev eth0/dev $ifc/" \
      -e "s/priority 150/priority $prio/" \
      -e "s/unicast_src_ip 192.168.55.111/unicast_src_ip $src/" \
      -e "s/^    192.168.55.112$/    $peer/" \
      -e "s|192.168.55.110/24|$VIP/24|" \
      -e "s|/run/keepwatch/haproxy.state|$d/track/haproxy.state|" \
      $EXAMPLES/keepalived.conf > "$d/keepalived.conf"
  if [ "$track" = file ]; then  # the example's track_file variant, as its comments say
    sed -i -e '/^  track_script {/,/^  }/d' \
        -e 's/^# vrrp_track_file/vrrp_track_file/' -e 's/^#   file /  file /' -e 's/^# }$/}/' \
        -e 's/^  # track_file {/  track_file {/' -e 's/^  #   keepwatch_haproxy_file/    keepwatch_haproxy_file/' \
        -e 's/^  # }$/  }/' "$d/keepalived.conf"
    grep -q "^vrrp_track_file" "$d/keepalived.conf" && ! grep -q "^  track_script" "$d/keepalived.conf" ||
      fail "adapting keepalived.conf to track_file for $name"
  fi
  grep -q "unicast_src_ip $src" "$d/keepalived.conf" && grep -q "^    $peer$" "$d/keepalived.conf" &&
    grep -q "$KW_BUILD/keepwatch" "$d/keepalived.conf" || fail "adapting keepalived.conf for $name"
}

start_haproxy() {  # NAME NS
  ip netns exec "$2" haproxy -db -f "$T/$1/haproxy.cfg" >> "$T/$1/haproxy.log" 2>&1 &
  PIDS[haproxy-$1]=$!
}
start_node() {  # NAME NS
  local d=$T/$1
  start_haproxy "$1" "$2"
  ip netns exec "$2" "$KW_BUILD/keepwatchd" -c "$d/keepwatch.ini" > "$d/keepwatchd.log" 2>&1 &
  PIDS[keepwatchd-$1]=$!
  ip netns exec "$2" keepalived -n -l -D -P -f "$d/keepalived.conf" -p "$d/keepalived.pid" \
    -r "$d/vrrp.pid" > "$d/keepalived.log" 2>&1 &
  PIDS[keepalived-$1]=$!
}

has_vip() { ip -n "$1" -4 addr show | grep -q "inet $VIP/"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_vip OWNER OTHER LIMIT_TENTHS: until only OWNER holds the address, by the clock
# (not by counting polls: each poll costs time too); prints the milliseconds waited.
wait_vip() {
  local start end now
  start=$(now_ms); end=$((start + $3 * 100))
  while :; do
    now=$(now_ms)
    if has_vip "$1" && ! has_vip "$2"; then echo $((now - start)); return 0; fi
    [ "$now" -ge "$end" ] && { echo $((now - start)); return 1; }
    sleep 0.05
  done
}
dump() {
  for n in lb1 lb2; do
    echo "--- $n keepalived"; tail -20 "$T/$n/keepalived.log"
    echo "--- $n keepwatchd"; tail -8 "$T/$n/keepwatchd.log"
  done
}

setup_node lb1 "$NS1" "$V1" 10.211.0.1 10.211.0.2 150 script
setup_node lb2 "$NS2" "$V2" 10.211.0.2 10.211.0.1 100 file
start_node lb1 "$NS1"
start_node lb2 "$NS2"

t=$(wait_vip "$NS1" "$NS2" 200) || { dump; fail "lb1 never became master with the address"; }
log "lb1 holds $VIP ($t ms after start)"
ip netns exec "$NS1" "$KW_BUILD/keepwatch" check haproxy || fail "keepwatch check haproxy fails on lb1"

# Agent detection: interval 500ms × fall 2; keepalived: fall 2 × interval 1s; plus one
# advertisement interval.  Allowed: 1.5 + 2 + 1 s, and 1 s of slack for a loaded machine.
LIMIT=55
log "stopping HAProxy on lb1"
kill "${PIDS[haproxy-lb1]}"; wait "${PIDS[haproxy-lb1]}" 2>/dev/null; unset 'PIDS[haproxy-lb1]'
t=$(wait_vip "$NS2" "$NS1" $LIMIT) || { dump; fail "the address did not move to lb2 within $((LIMIT * 100)) ms"; }
log "the address moved to lb2 after $t ms"
ip netns exec "$NS1" "$KW_BUILD/keepwatch" check haproxy; rc=$?
[ $rc = 1 ] || fail "keepwatch check haproxy on lb1 exits $rc, expected 1"

# Recovery: agent rise 1 (≤ 0.5 s + a probe), keepalived rise 2 × 1 s; leaving FAULT,
# keepalived re-enters BACKUP and takes over after its master-down interval
# (3 × advert_int + skew ≈ 3.4 s at priority 150).  Allowed 6 s + 2 s of slack.
RECOVERY_LIMIT=80
log "starting HAProxy on lb1 again"
start_haproxy lb1 "$NS1"
t=$(wait_vip "$NS1" "$NS2" $RECOVERY_LIMIT) || { dump; fail "the address did not come back to lb1 within $((RECOVERY_LIMIT * 100)) ms"; }
log "the address is back on lb1 after $t ms"

# The backup's own HAProxy going down (seen through its track file) puts it in FAULT
# and must not take the address from the master; back up, it leaves FAULT.
[ "$(cat "$T/lb2/track/haproxy.state")" = 0 ] || fail "lb2's track file does not say 0"
# (lb2 also went through FAULT at start, before its HAProxy answered: count entries)
faults() { grep -ci "entering FAULT state" "$T/lb2/keepalived.log"; }
leaves() { grep -ci "leaving FAULT state" "$T/lb2/keepalived.log"; }
f0=$(faults) l0=$(leaves)
kill "${PIDS[haproxy-lb2]}"; wait "${PIDS[haproxy-lb2]}" 2>/dev/null; unset 'PIDS[haproxy-lb2]'
for _ in $(seq 50); do [ "$(faults)" -gt "$f0" ] && break; sleep 0.1; done
[ "$(faults)" -gt "$f0" ] || { dump; fail "lb2 did not go to FAULT"; }
[ "$(cat "$T/lb2/track/haproxy.state")" = 1 ] || fail "lb2's track file does not say 1"
has_vip "$NS1" && ! has_vip "$NS2" || { dump; fail "lb2's HAProxy failure moved the address"; }
log "lb2 in FAULT through its track file with its HAProxy down; lb1 keeps the address"
start_haproxy lb2 "$NS2"
for _ in $(seq 50); do [ "$(leaves)" -gt "$l0" ] && break; sleep 0.1; done
[ "$(leaves)" -gt "$l0" ] || { dump; fail "lb2 did not leave FAULT"; }
[ "$(cat "$T/lb2/track/haproxy.state")" = 0 ] || fail "lb2's track file does not say 0 again"
has_vip "$NS1" && ! has_vip "$NS2" || { dump; fail "lb2's recovery moved the address"; }
log "lb2 left FAULT when its HAProxy came back"
echo "PASS"
