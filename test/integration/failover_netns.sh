#!/bin/bash
# Failover end to end in the namespace lab (test/lab/lab.sh: the reference cluster, six
# keepwatchd, real PostgreSQL 15 primary and replica, real HAProxy on lb1 and lb2), fast
# timings (probe 500 ms, lease 2 s).  Each scenario gets a fresh lab and runs under the
# observer (test/helpers/observer.cpp), which polls both PostgreSQL agents' /primary
# every 50 ms from inside their namespaces and writes a numbered sequence through
# HAProxy; it fails the scenario on two 200s that may overlap, on a write accepted by the
# old primary after the new one accepted one, and (synchronous replication) on an
# acknowledged write missing from the new primary.
#
# Synchronous replication (synchronous_standby_names = postgresql2 on postgresql1) is on
# wherever the primary loses its role, so that "no acknowledged write lost" can be
# asserted; it is off where the replica is cut away and the primary must keep serving
# (with it PostgreSQL itself would hold every commit until the replica came back).
#
# Needs root, ip, nft, haproxy and PostgreSQL 15; says so and passes without them.
# Operator commands (keepwatch switchover, pause/resume, rejoin) go through lab_admin.
# SCENARIOS="kill_pg cut_primary" runs a subset.
set -u
if [ "$(id -u)" != 0 ] || ! command -v nft >/dev/null || ! command -v haproxy >/dev/null ||
  [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "failover netns: needs root, nft, haproxy and PostgreSQL 15; not run"
  exit 0
fi
export KW_BUILD=${KW_BUILD:-build}
cd "$(dirname "$0")/../.."
. test/lab/lab.sh
[ -x "$KW_BUILD/kw-observer" ] || make -s BUILD="$KW_BUILD" "$KW_BUILD/kw-observer" >/dev/null ||
  { echo "FAIL: cannot build kw-observer"; exit 1; }
export LAB_TIMINGS=fast
trap 'lab_down' EXIT
trap 'exit 130' INT TERM

PG1=$LAB_NET.121 PG2=$LAB_NET.122
failed=()
fail() { lab_log "FAIL: $*"; return 1; }

dump() {
  lab_status
  local n
  for n in postgresql1 postgresql2; do
    echo "--- $n agent (last 15 lines)"; tail -15 "$LAB/$n/agent.log"
    echo "--- $n PostgreSQL (last 5 lines)"; tail -5 "$LAB/$n/pg/log"
  done
  echo "--- lb1 haproxy (last 6 lines)"; tail -6 "$LAB/lb1/haproxy.log"
  if [ -f "$LAB/observer.log" ]; then
    echo "--- observer: failed writes (first and last 3)"
    grep ' fail ' "$LAB/observer.log" | head -3; grep ' fail ' "$LAB/observer.log" | tail -3
  fi
}

# Runs scenario function NAME in a fresh lab; the lab is removed afterwards either way.
run() {
  local name=$1
  echo "=== scenario $name"
  if lab_up && "scenario_$name"; then
    echo "=== ok $name"
  else
    dump
    failed+=("$name")
    echo "=== FAILED $name"
  fi
  lab_down
}

# A failover: FAULT (a command) on the primary, then the replica must take the writes.
expect_failover() {
  lab_observe_start --sync || return 1
  sleep 1
  lab_observe_mark
  "$@" || return 1
  lab_observe_until "$PG2" 30 || { lab_observe_stop; return 1; }
  # Keep watching: the old primary must not come back, also when AFTER (a command run
  # once the replica took over) brings its node back.
  if [ -n "${AFTER:-}" ]; then eval "$AFTER" || { lab_observe_stop; return 1; }; fi
  sleep 4
  lab_observe_stop || return 1
  [ "$(lab_observed old)" = "$PG1" ] && [ "$(lab_observed new)" = "$PG2" ] ||
    fail "expected writes to move from $PG1 to $PG2"
  lab_log "failover: first write on the new primary $(lab_observed failover_ms) ms after the fault"
}

# No failover: the primary keeps every write and the replica never answers 200.
expect_no_failover() {
  lab_observe_start || return 1
  sleep 1
  lab_observe_mark
  "$@" || return 1
  # Longer than the replica would need to be elected (lease + drift + election).
  sleep 8
  lab_observe_stop || return 1
  [ "$(lab_observed handovers)" = 0 ] && [ "$(lab_observed new)" = "$PG1" ] ||
    fail "the writes moved away from $PG1" || return 1
  [ "$(lab_observed failed_after_mark)" = 0 ] ||
    fail "writes failed although the primary stayed" || return 1
  ! grep -q '^poll postgresql2 .* 200$' "$LAB/observer.log" || fail "postgresql2 answered 200"
}

# The old primary's agent must report it fenced, needing a rejoin, and never serve.
expect_fenced_old_primary() {
  lab_wait 20 "postgresql1 says it needs a rejoin" \
    eval '[ "$(lab_json postgresql1 /status | jq -r .failover.needs_rejoin)" = true ]' || return 1
  local ro i
  ro=$(lab_sql postgresql1 "SHOW default_transaction_read_only") || return 1
  [ "$ro" = on ] || fail "postgresql1 is not fenced read-only ($ro)" || return 1
  for i in $(seq 20); do
    [ "$(lab_get postgresql1 /primary)" = 503 ] || fail "postgresql1 /primary is not 503" || return 1
    sleep 0.1
  done
  [ "$(lab_get postgresql2 /primary)" = 200 ] || fail "postgresql2 lost the role"
}

# The old primary comes back in each failover scenario while the observer watches, and
# must stay fenced.
scenario_kill_pg() {  # kill -9 the primary's PostgreSQL (its agent lives on); restarted
  lab_sync on && AFTER="lab_start_node postgresql1" expect_failover lab_kill_pg postgresql1 &&
    expect_fenced_old_primary
}

scenario_kill_node() {  # the primary's host dies, comes back as it was, and rejoins
  lab_sync on && AFTER="lab_start_node postgresql1" expect_failover lab_kill_node postgresql1 &&
    expect_fenced_old_primary && rejoined postgresql1
}

scenario_cut_primary() {  # nftables drops all of the primary's traffic; healed; rejoins
  lab_sync on && AFTER="heal_keeps_leader postgresql1" expect_failover lab_cut postgresql1 &&
    expect_fenced_old_primary && rejoined postgresql1
}

# The node cut off stays so a while (asking for pre-votes all along), then the heal must
# leave the new leader, postgresql2, alone: same term, never deposed.
heal_keeps_leader() {
  sleep 8
  local term now
  term=$(lab_json postgresql2 /status | jq -r .failover.term) || return 1
  lab_heal "$1" || return 1
  sleep 6
  now=$(lab_json postgresql2 /status | jq -r .failover.term)
  [ "$now" = "$term" ] || fail "the heal disturbed postgresql2: term $term became $now" || return 1
  ! grep -q "no longer leader" "$LAB/postgresql2/agent.log" || fail "postgresql2 lost the lead"
}

scenario_cut_replica() {  # asynchronous: the primary must keep serving without it
  expect_no_failover lab_cut postgresql2 || return 1
  lab_heal postgresql2
  lab_wait 30 "postgresql2 streams again after the heal" \
    eval '[ "$(lab_get postgresql2 /replica)" = 200 ]'
}

# 3/3 with the primary among two voters: only the other side (three voters) may elect.
scenario_split_3_3() {
  lab_sync on &&
    AFTER="lab_heal_all" expect_failover lab_split "postgresql1 lb1 odoo2" "postgresql2 lb2 odoo1" &&
    expect_fenced_old_primary
}

# 2/4 with the replica among two voters (asynchronous): nobody on its side may elect,
# the primary's side (three voters) keeps it.
scenario_split_2_4() {
  expect_no_failover lab_split "postgresql2 lb2" "postgresql1 lb1 odoo1 odoo2" || return 1
  lab_heal_all
  lab_wait 30 "postgresql2 streams again after the heal" \
    eval '[ "$(lab_get postgresql2 /replica)" = 200 ]'
}

# The primary's agent frozen past the lease: it can neither fence nor answer; HAProxy must
# drop it and the replica take over; thawed, the old agent must not serve.
scenario_freeze_agent() {
  lab_sync on && AFTER="lab_thaw postgresql1" expect_failover lab_freeze postgresql1 ||
    { lab_thaw postgresql1; return 1; }
  expect_fenced_old_primary
}

# A planned switchover (keepwatch switchover --to): the writes move, none acknowledged is
# lost, and the old primary is left fenced until it rejoins.
scenario_switchover() {
  lab_sync on &&
    expect_failover lab_admin postgresql1 --wait 30s switchover --to postgresql2 &&
    expect_fenced_old_primary
}

# keepwatch pause: the primary's PostgreSQL dies and nobody takes over; keepwatch resume
# (on another member): the replica does.
scenario_pause_resume() {
  lab_sync on && lab_admin postgresql1 pause || return 1
  lab_wait 10 "postgresql2 knows failover is paused" \
    eval '[ "$(lab_json postgresql2 /status | jq -r .failover.paused)" = true ]' || return 1
  lab_observe_start --sync || return 1
  sleep 1
  lab_observe_mark
  lab_kill_pg postgresql1
  sleep 8  # longer than an automatic failover takes
  if grep -q "^write .* ok $PG2\$" "$LAB/observer.log" ||
    grep -q '^poll postgresql2 .* 200$' "$LAB/observer.log"; then
    lab_observe_stop
    fail "postgresql2 took over while failover was paused"
    return 1
  fi
  lab_admin postgresql2 resume || { lab_observe_stop; return 1; }
  lab_observe_until "$PG2" 30 || { lab_observe_stop; return 1; }
  lab_start_node postgresql1 || { lab_observe_stop; return 1; }  # for the observer's reading
  sleep 3
  lab_observe_stop || return 1
  [ "$(lab_observed new)" = "$PG2" ] || fail "the writes did not move to $PG2" || return 1
  expect_fenced_old_primary
}

# Switchover, keepwatch rejoin of the old primary (a real pg_rewind), switchover back,
# rejoin: the writes go A > B > A and no acknowledged one is lost.
last_write_on() { grep ' ok ' "$LAB/observer.log" | tail -1 | grep -q " ok $1\$"; }
rejoined() {  # NODE: a streaming replica again
  lab_admin "$1" --wait 60s rejoin || return 1
  lab_wait 30 "$1 streams as a replica" eval '[ "$(lab_get '"$1"' /replica)" = 200 ]'
}
scenario_switchover_and_back() {
  lab_sync on && lab_observe_start --sync --max-handovers 2 || return 1
  sleep 1
  lab_observe_mark
  lab_admin postgresql1 --wait 30s switchover --to postgresql2 &&
    lab_wait 30 "writes on postgresql2" last_write_on "$PG2" &&
    rejoined postgresql1 &&
    lab_admin postgresql2 --wait 30s switchover --to postgresql1 &&
    lab_wait 30 "writes on postgresql1 again" last_write_on "$PG1" &&
    rejoined postgresql2 || { lab_observe_stop; return 1; }
  sleep 2
  lab_observe_stop || return 1
  [ "$(lab_observed handovers)" = 2 ] && [ "$(lab_observed new)" = "$PG1" ] ||
    fail "expected the writes to go $PG1 > $PG2 > $PG1"
}

for s in ${SCENARIOS:-kill_pg kill_node cut_primary cut_replica split_3_3 split_2_4 freeze_agent \
  switchover pause_resume switchover_and_back}; do
  run "$s"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failover netns: FAILED: ${failed[*]}"
  exit 1
fi
echo "failover netns: all passed"
