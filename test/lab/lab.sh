# The reference cluster in network namespaces, for the failover scenarios, `make bench`
# and the demo.  Source this file (or use test/lab/lab, the command-line front end).
#
# Six nodes on one bridge, 10.215.0.0/24 (the reference cluster's 192.168.55.0/24 with the
# host parts kept, so the example configurations need only the prefix substituted):
#   postgresql1 .121  PostgreSQL 15 primary (run as postgres), keepwatchd
#   postgresql2 .122  PostgreSQL 15 streaming replica, keepwatchd
#   lb1 .111, lb2 .112  HAProxy (packaging/examples/haproxy.cfg), keepwatchd
#   odoo1 .131, odoo2 .132  keepwatchd (odoo2 is the one non-voter)
#   client .200  no daemon: where clients (the observer, a browser forward) connect from
# Every keepwatchd runs its example configuration (packaging/examples/keepwatch-lb.ini,
# keepwatch-odoo.ini, keepwatch-postgresql.ini) followed by
# packaging/examples/keepwatch-cluster.ini, with addresses and paths substituted, and with
# LAB_TIMINGS=fast the shorter timings of `make test` (probe 500 ms, lease 2 s, HAProxy
# inter 300 ms fall 3 + timeout check 500 ms < 2 s).
#
# Everything lives under $LAB (a temporary directory) and in namespaces named
# kwl<id>-<node>; lab_down removes all of it: the processes found in the namespaces
# (ip netns pids, so also those a test started there), PostgreSQL's shared memory, the
# namespaces and the directory.  Needs root, ip, nft, haproxy, PostgreSQL 15.
#
# Functions (NODE: a node name or pg1, pg2 for postgresql1, postgresql2):
#   lab_up                 build and start everything; waits until postgresql1 serves
#   lab_down               remove everything (idempotent; safe in a trap)
#   lab_kill_pg NODE       kill -9 the postmaster (its children exit on their own)
#   lab_kill_node NODE     kill -9 every process in the node's namespace
#   lab_start_node NODE    start what the node runs and is not running (PostgreSQL,
#                          HAProxy, keepwatchd)
#   lab_cut NODE / lab_heal NODE   nftables drop of everything but loopback, both ways
#   lab_split GROUP...     e.g. lab_split "pg1 lb1 odoo2" "pg2 lb2 odoo1": each node drops
#                          traffic with the nodes of the other groups; lab_heal_all undoes
#   lab_freeze NODE / lab_thaw NODE   SIGSTOP / SIGCONT the node's keepwatchd
#   lab_sync on|off        synchronous_standby_names on the current primary
#   lab_admin NODE CMD...  keepwatch CMD (switchover --to, pause, ...) on the node's agent
#   lab_exec NODE CMD...   run a command in the node's namespace
#   lab_get NODE PATH      the node's agent's HTTP status code for PATH (000: no answer)
#   lab_json NODE PATH     the body
#   lab_sql NODE SQL       psql as postgres to the node's PostgreSQL (-At)
#   lab_status             one line per node
#   lab_forward PORT NODE [NODE_PORT]  127.0.0.1:PORT on the host to the node (default: its
#                          agent, for /ui in a browser)
#   lab_wait SECS WHAT CMD...  polls CMD every 0.2 s (bounded); prints ok/FAIL

LAB_NODES="postgresql1 postgresql2 lb1 lb2 odoo1 odoo2"
LAB_NET=10.215.0
LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_PGBIN=${KW_PG_BIN:-/usr/lib/postgresql/15/bin}
LAB_PASSWORD=lab-keepwatch-password

lab_node() {  # canonical node name
  case $1 in
    pg1) echo postgresql1 ;;
    pg2) echo postgresql2 ;;
    app1) echo odoo1 ;;
    app2) echo odoo2 ;;
    *) echo "$1" ;;
  esac
}
lab_addr() {
  case $(lab_node "$1") in
    postgresql1) echo $LAB_NET.121 ;; postgresql2) echo $LAB_NET.122 ;;
    lb1) echo $LAB_NET.111 ;; lb2) echo $LAB_NET.112 ;;
    odoo1) echo $LAB_NET.131 ;; odoo2) echo $LAB_NET.132 ;;
    client) echo $LAB_NET.200 ;;
    *) echo "lab: unknown node $1" >&2; return 1 ;;
  esac
}
lab_ns() { echo "$LAB_PREFIX-$(lab_node "$1")"; }
lab_has_pg() { [[ $(lab_node "$1") == postgresql* ]]; }
lab_is_lb() { [[ $(lab_node "$1") == lb* ]]; }
lab_exec() { local n=$1; shift; ip netns exec "$(lab_ns "$n")" "$@"; }
lab_as_postgres() { runuser -u postgres -- "$@"; }
lab_log() { echo "[$(date +%T.%N | cut -c1-12)] $*"; }

# Loads $LAB/env (for the command-line front end, one process per command).
lab_load() {
  [ -n "${LAB:-}" ] && [ -f "$LAB/env" ] || { echo "lab: LAB is not a running lab" >&2; return 1; }
  # shellcheck disable=SC1091
  . "$LAB/env"
}

lab_wait() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit)) t0=$SECONDS
  while ((SECONDS < end)); do
    if "$@"; then lab_log "ok: $what ($((SECONDS - t0))s)"; return 0; fi
    sleep 0.2
  done
  lab_log "FAIL: $what not within ${limit}s"
  return 1
}

lab_get() {
  lab_exec "$1" curl -s -o /dev/null -w '%{http_code}' -m 1 \
    "http://$(lab_addr "$1"):9201$2" 2>/dev/null || true
}
lab_json() { lab_exec "$1" curl -s -m 1 "http://$(lab_addr "$1"):9201$2" 2>/dev/null || true; }
lab_sql() {
  lab_exec "$1" psql -X -At -h "$(lab_addr "$1")" -p 5432 -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -c "$2"
}

# ---- building ---------------------------------------------------------------------------
lab_up() {
  [ "$(id -u)" = 0 ] || { echo "lab: needs root" >&2; return 1; }
  LAB_BUILD=$(cd "${KW_BUILD:-$LAB_SRC/build}" && pwd)
  LAB_TIMINGS=${LAB_TIMINGS:-default}
  LAB=$(mktemp -d /tmp/kw-lab.XXXXXX)
  chmod 755 "$LAB"  # PostgreSQL (user postgres) lives under it
  LAB_PREFIX="kwl$(( $$ % 100000 ))$(( RANDOM % 100 ))"
  export LAB
  cat >"$LAB/env" <<ENV
LAB_PREFIX=$LAB_PREFIX
LAB_BUILD=$LAB_BUILD
LAB_TIMINGS=$LAB_TIMINGS
ENV
  lab_log "lab $LAB_PREFIX in $LAB ($LAB_TIMINGS timings)"
  lab_network && lab_configure && lab_postgres && {
    local n
    for n in $LAB_NODES; do lab_start_node "$n" || return 1; done
    lab_wait 60 "postgresql1 leads and serves /primary" \
      eval '[ "$(lab_get postgresql1 /primary)" = 200 ]' &&
      lab_wait 30 "postgresql2 serves /replica" eval '[ "$(lab_get postgresql2 /replica)" = 200 ]' &&
      lab_wait 30 "lb1 and lb2 route rw to postgresql1" lab_rw_routed lb1 lb2
  }
}
lab_rw_routed() {  # LB...: each LB's rw port reaches postgresql1 from the client namespace
  local lb
  for lb in "$@"; do
    [ "$(lab_exec client psql -X -At -h "$(lab_addr "$lb")" -p 5433 -U app -d postgres \
      -c 'SELECT inet_server_addr()' 2>/dev/null)" = "$LAB_NET.121" ] || return 1
  done
}

lab_network() {
  local sw="$LAB_PREFIX-sw" i=0 n
  ip netns add "$sw" || return 1
  ip -n "$sw" link add br0 type bridge && ip -n "$sw" link set br0 up || return 1
  for n in $LAB_NODES client; do
    ip netns add "$LAB_PREFIX-$n" || return 1
    ip link add eth0 netns "$LAB_PREFIX-$n" type veth peer name "v$i" netns "$sw" || return 1
    ip -n "$LAB_PREFIX-$n" addr add "$(lab_addr "$n")/24" dev eth0
    ip -n "$LAB_PREFIX-$n" link set eth0 up
    ip -n "$LAB_PREFIX-$n" link set lo up
    ip -n "$sw" link set "v$i" master br0
    ip -n "$sw" link set "v$i" up
    i=$((i + 1))
  done
}

# Substitutes the reference cluster's network and paths in an example; fails when a
# substitution did not apply (an example that changed must not be half-adapted).
lab_adapt() {  # FILE NODE [sed args...]
  local file=$1 n=$2; shift 2
  local d=$LAB/$n
  sed -e "s/192\.168\.55\./$LAB_NET./g" \
    -e "s|^node = .*|node = $n|" \
    -e "s|/var/lib/keepwatch|$d/state|" -e "s|/run/keepwatch|$d/track|" \
    -e "s|/etc/keepwatch/cluster.key|$LAB/cluster.key|" \
    -e "s|/etc/keepwatch/pgpass|$LAB/pgpass|" -e "s|/etc/keepwatch/admin.token|$LAB/admin.token|" \
    "$@" "$file"
}
lab_require() {  # FILE PATTERN...: every pattern must occur
  local f=$1 p; shift
  for p in "$@"; do
    grep -q -- "$p" "$f" || { echo "lab: adapting $f: '$p' missing" >&2; return 1; }
  done
}

lab_configure() {
  local ex=$LAB_SRC/packaging/examples n d
  "$LAB_BUILD/keepwatch" keygen >"$LAB/cluster.key" && chmod 600 "$LAB/cluster.key" || return 1
  "$LAB_BUILD/keepwatch" keygen >"$LAB/admin.token" && chmod 600 "$LAB/admin.token" || return 1
  printf '*:*:*:keepwatch:%s\n' "$LAB_PASSWORD" >"$LAB/pgpass" && chmod 600 "$LAB/pgpass"
  local fast=() hafast=()
  if [ "$LAB_TIMINGS" = fast ]; then
    hafast=(-e 's/inter 1s fall 3 rise 2/inter 300ms fall 3 rise 2/'
      -e 's/timeout check 1s/timeout check 500ms/')
    fast=(-e 's/^probe_interval = 1s/probe_interval = 500ms/'
      -e 's/^probe_timeout = 500ms/probe_timeout = 200ms/' -e 's/^lease = 5s/lease = 2s/'
      -e 's/^drift_margin = 500ms/drift_margin = 200ms/'
      -e 's/^election_timeout = 2s/election_timeout = 1s/'
      -e 's/^interval = 1s/interval = 300ms/' -e 's/^timeout = 1s/timeout = 250ms/')
  fi
  for n in $LAB_NODES; do
    d=$LAB/$n
    mkdir -p "$d/state" "$d/track"
    case $n in
      postgresql*)
        lab_adapt "$ex/keepwatch-postgresql.ini" "$n" \
          -e "s|host=/var/run/postgresql|host=$d/pg|" ${fast[@]+"${fast[@]}"} >"$d/keepwatch.ini" ;;
      lb*)
        lab_adapt "$ex/keepwatch-lb.ini" "$n" -e "s|/run/haproxy/admin.sock|$d/admin.sock|" \
          >"$d/keepwatch.ini"
        lab_adapt "$ex/haproxy.cfg" "$n" -e "s|/run/haproxy/admin.sock|$d/admin.sock|" \
          -e "s|log /dev/log local0|log stderr format raw local0|" \
          ${hafast[@]+"${hafast[@]}"} >"$d/haproxy.cfg"
        lab_require "$d/haproxy.cfg" "$d/admin.sock" "log stderr" "server postgresql1 $LAB_NET.121" \
          "server postgresql2 $LAB_NET.122" || return 1 ;;
      odoo*)
        lab_adapt "$ex/keepwatch-odoo.ini" "$n" -e "s|/var/lib/odoo|$d/filestore|" >"$d/keepwatch.ini"
        lab_require "$d/keepwatch.ini" "portal = $LAB_NET.112" || return 1 ;;
    esac
    lab_adapt "$ex/keepwatch-cluster.ini" "$n" ${fast[@]+"${fast[@]}"} >>"$d/keepwatch.ini"
    lab_require "$d/keepwatch.ini" "^node = $n$" "state_dir = $d/state" "key_file = $LAB/cluster.key" \
      "address = $LAB_NET.121" || return 1
    if [ "$LAB_TIMINGS" = fast ]; then
      lab_require "$d/keepwatch.ini" "^lease = 2s" || return 1
      if lab_is_lb "$n"; then lab_require "$d/haproxy.cfg" "inter 300ms" "check 500ms" || return 1; fi
    fi
    "$LAB_BUILD/keepwatchd" --check-config -c "$d/keepwatch.ini" >"$d/check-config.log" 2>&1 ||
      { cat "$d/check-config.log" >&2; return 1; }
  done
}

# postgresql1: initdb, roles, the observer's table; postgresql2: pg_basebackup -R.
lab_postgres() {
  local p=$LAB/postgresql1/pg r=$LAB/postgresql2/pg
  mkdir -p "$p" "$r" && chown postgres: "$p" "$r" || return 1
  lab_as_postgres "$LAB_PGBIN/initdb" -N -A trust -U postgres -D "$p/data" >"$p/initdb.log" || return 1
  cat >>"$p/data/postgresql.conf" <<CONF
listen_addresses = '$LAB_NET.121'
port = 5432
unix_socket_directories = '$p'
fsync = off
wal_level = replica
wal_log_hints = on
max_wal_senders = 5
wal_keep_size = 256MB
hot_standby = on
wal_receiver_status_interval = 1s
wal_receiver_timeout = ${LAB_WAL_RECEIVER_TIMEOUT:-$([ "$LAB_TIMINGS" = fast ] && echo 2s || echo 5s)}
wal_sender_timeout = 5s
dynamic_shared_memory_type = mmap
cluster_name = 'postgresql1'
CONF
  cat >"$p/data/pg_hba.conf" <<HBA
local all keepwatch scram-sha-256
host all keepwatch $LAB_NET.0/24 scram-sha-256
local all all trust
host all all $LAB_NET.0/24 trust
host replication all $LAB_NET.0/24 trust
HBA
  lab_pg_start postgresql1 || return 1
  lab_sql postgresql1 "
    CREATE ROLE keepwatch LOGIN PASSWORD '$LAB_PASSWORD' IN ROLE pg_monitor, pg_signal_backend;
    GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO keepwatch;
    GRANT EXECUTE ON FUNCTION pg_reload_conf() TO keepwatch;
    GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO keepwatch;
    CREATE ROLE rewind LOGIN REPLICATION;
    GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean), pg_stat_file(text, boolean),
      pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean) TO rewind;
    GRANT pg_checkpoint TO rewind;
    CREATE ROLE app LOGIN;
    CREATE TABLE observed (seq bigint NOT NULL, server inet NOT NULL,
                           at timestamptz NOT NULL DEFAULT clock_timestamp());
    ALTER TABLE observed OWNER TO app;" >/dev/null || return 1
  lab_exec postgresql2 runuser -u postgres -- "$LAB_PGBIN/pg_basebackup" -h $LAB_NET.121 -p 5432 \
    -U postgres -D "$r/data" -R -X stream -c fast || return 1
  cat >>"$r/data/postgresql.conf" <<CONF
listen_addresses = '$LAB_NET.122'
unix_socket_directories = '$r'
cluster_name = 'postgresql2'
CONF
  lab_pg_start postgresql2
}

lab_pg_start() {  # pg_ctl's notice about a stale postmaster.pid (after kill -9) is kept quiet
  local d
  d=$LAB/$(lab_node "$1")/pg
  lab_exec "$1" runuser -u postgres -- "$LAB_PGBIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 60 \
    start >/dev/null 2>"$d/pg_ctl.err" || { cat "$d/pg_ctl.err" >&2; return 1; }
}
lab_pg_pid() {  # the running postmaster's pid, or nothing
  local f=$LAB/$(lab_node "$1")/pg/data/postmaster.pid pid
  [ -f "$f" ] || return 0
  pid=$(head -n 1 "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

# Starts what the node runs, as it was: PostgreSQL (its data directory as it is now),
# HAProxy, keepwatchd.  Each daemon in its own session, so a Ctrl-C in the terminal that
# started the lab does not reach it (lab_down does).
lab_start_node() {
  local n d
  n=$(lab_node "$1"); d=$LAB/$n
  if lab_has_pg "$n" && [ -z "$(lab_pg_pid "$n")" ]; then lab_pg_start "$n" || return 1; fi
  # Not through lab_exec: a function run in the background is a subshell, and $! must be
  # the daemon itself (ip netns exec and setsid exec it in place).
  if lab_is_lb "$n" && ! lab_alive "$d/haproxy.pid"; then
    ip netns exec "$(lab_ns "$n")" setsid haproxy -db -f "$d/haproxy.cfg" >>"$d/haproxy.log" 2>&1 \
      </dev/null &
    echo $! >"$d/haproxy.pid"
    disown $!  # lab_down ends it (no "Killed" notice from this shell)
  fi
  if ! lab_alive "$d/agent.pid"; then
    ip netns exec "$(lab_ns "$n")" setsid "$LAB_BUILD/keepwatchd" -c "$d/keepwatch.ini" \
      >>"$d/agent.log" 2>&1 </dev/null &
    echo $! >"$d/agent.pid"
    disown $!
  fi
}
lab_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---- faults -----------------------------------------------------------------------------
lab_agent_pid() { cat "$LAB/$(lab_node "$1")/agent.pid"; }
lab_kill_pg() {  # the postmaster and its children, at once
  local pid
  pid=$(lab_pg_pid "$1")
  [ -n "$pid" ] || { echo "lab: $1 has no running PostgreSQL" >&2; return 1; }
  # shellcheck disable=SC2046
  kill -9 "$pid" $(ps -o pid= --ppid "$pid")
}
lab_kill_node() {
  local ns pids i
  ns=$(lab_ns "$1")
  for i in $(seq 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null
    sleep 0.1
  done
  echo "lab: processes left in $ns: $pids" >&2
  return 1
}
lab_nft() {  # NODE RULES: replace the node's lab table with one holding RULES
  local ns
  ns=$(lab_ns "$1")
  ip netns exec "$ns" nft delete table inet kwlab 2>/dev/null
  [ -z "$2" ] && return 0
  ip netns exec "$ns" nft -f - <<EOF
table inet kwlab {
  chain in { type filter hook input priority 0; policy accept; iif "lo" accept; $2 }
  chain out { type filter hook output priority 0; policy accept; oif "lo" accept; ${3:-$2} }
}
EOF
}
lab_cut() { lab_nft "$1" "drop;"; }
lab_heal() { lab_nft "$1" ""; }
lab_heal_all() { local n; for n in $LAB_NODES; do lab_heal "$n"; done; }
lab_split() {
  local g n m others
  for g in "$@"; do
    others=""
    for m in "$@"; do
      [ "$m" = "$g" ] && continue
      for n in $m; do others+="$(lab_addr "$n"), "; done
    done
    others=${others%, }
    for n in $g; do
      lab_nft "$n" "ip saddr { $others } drop;" "ip daddr { $others } drop;" || return 1
    done
  done
}
lab_freeze() { kill -STOP "$(lab_agent_pid "$1")"; }
lab_thaw() { kill -CONT "$(lab_agent_pid "$1")"; }

# lab_admin NODE COMMAND...: an operator command (keepwatch switchover --to NODE, pause,
# resume, failover --to NODE, rejoin) through the node's own agent, with the lab's token.
lab_admin() {
  local n=$1; shift
  lab_exec "$n" "$LAB_BUILD/keepwatch" --token-file "$LAB/admin.token" "$@"
}

lab_sync() {  # on|off, on postgresql1 (the replica is postgresql2)
  local v="''"
  [ "$1" = on ] && v="'postgresql2'"
  lab_sql postgresql1 "ALTER SYSTEM SET synchronous_standby_names = $v" >/dev/null &&
    lab_sql postgresql1 "SELECT pg_reload_conf()" >/dev/null
}

# lab_forward PORT NODE [NODE_PORT]: 127.0.0.1:PORT on the host forwards to the node's
# NODE_PORT (9201: the agent, whose /ui is the status page) — for a browser (the demo).
lab_forward() {
  local ns addr
  ns=$(lab_ns "$2"); addr=$(lab_addr "$2") || return 1
  setsid socat "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" \
    "SYSTEM:ip netns exec $ns socat STDIO TCP\:$addr\:${3:-9201}" </dev/null >/dev/null 2>&1 &
  echo $! >>"$LAB/forward.pids"
}

lab_status() {
  local n s
  for n in $LAB_NODES; do
    s=$(lab_json "$n" /status | jq -r '.failover // {} |
      "\(.role // "-") term \(.term // "-") leader \(.leader // "-")\(if .fenced then " FENCED" else "" end)\(if .needs_rejoin then " needs-rejoin" else "" end)"' \
      2>/dev/null)
    printf '%-12s %-14s primary %s replica %s  %s\n' "$n" "$(lab_addr "$n")" \
      "$(lab_get "$n" /primary)" "$(lab_get "$n" /replica)" "${s:-agent not answering}"
  done
}

# ---- the observer (test/helpers/observer.cpp) ----------------------------------------------
# lab_observe_start [kw-observer options]: polls both PostgreSQL nodes' /primary from their
# own namespaces and writes through lb1's rw port from the client namespace (lb2's after a
# failure, and so on); returns once a first write was acknowledged.  lab_observe_mark before the
# fault; lab_observe_until ADDR SECS waits for a write accepted by ADDR; lab_observe_stop
# ends it, prints its judgement and returns its exit status (the figures are then in
# $LAB/observer.out, the `result` line: lab_observed KEY).
lab_observe_start() {
  local p=$LAB_PREFIX
  : >"$LAB/observer.log"
  "$LAB_BUILD/kw-observer" --log "$LAB/observer.log" \
    --write "$p-client=host=$LAB_NET.111 port=5433 user=app dbname=postgres connect_timeout=2" \
    --write "$p-client=host=$LAB_NET.112 port=5433 user=app dbname=postgres connect_timeout=2" \
    --poll "postgresql1=$p-postgresql1=$LAB_NET.121:9201" \
    --poll "postgresql2=$p-postgresql2=$LAB_NET.122:9201" \
    --verify "$p-postgresql1=host=$LAB_NET.121 user=postgres dbname=postgres connect_timeout=2" \
    --verify "$p-postgresql2=host=$LAB_NET.122 user=postgres dbname=postgres connect_timeout=2" \
    "$@" >"$LAB/observer.out" 2>&1 &
  echo $! >"$LAB/observer.pid"
  lab_wait 20 "the observer's first write" grep -q '^write .* ok ' "$LAB/observer.log"
}
lab_observe_mark() { kill -USR1 "$(cat "$LAB/observer.pid")"; }
lab_observe_until() {  # ADDR SECS
  lab_wait "$2" "a write accepted by $1" grep -q "^write .* ok $1\$" "$LAB/observer.log"
}
lab_observe_stop() {
  local pid rc
  pid=$(cat "$LAB/observer.pid") || return 1
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
  rc=$?
  rm -f "$LAB/observer.pid"
  sed 's/^/    /' "$LAB/observer.out"
  return $rc
}
lab_observed() { sed -n 's/^result .*\b'"$1"'=\([^ ]*\).*/\1/p' "$LAB/observer.out"; }

# ---- teardown ---------------------------------------------------------------------------
lab_down() {
  [ -n "${LAB:-}" ] && [ -f "$LAB/env" ] || return 0
  lab_load || return 0
  local n ns pids pidfile shm i
  if [ -f "$LAB/forward.pids" ]; then  # lab_forward's listeners, in the host's namespace
    # shellcheck disable=SC2046
    kill $(cat "$LAB/forward.pids") 2>/dev/null
  fi
  if [ -f "$LAB/observer.pid" ]; then  # the observer runs in the host's namespace
    kill -9 "$(cat "$LAB/observer.pid")" 2>/dev/null
    wait "$(cat "$LAB/observer.pid")" 2>/dev/null
  fi
  for n in $LAB_NODES client; do  # thaw first: a stopped process ignores nothing but CONT
    pids=$(ip netns pids "$LAB_PREFIX-$n" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -CONT $pids 2>/dev/null
  done
  for n in postgresql1 postgresql2; do  # a clean stop removes PostgreSQL's shared memory
    [ -n "$(lab_pg_pid "$n")" ] && lab_exec "$n" runuser -u postgres -- "$LAB_PGBIN/pg_ctl" \
      -D "$LAB/$n/pg/data" -m immediate -w -t 10 stop >/dev/null 2>&1
  done
  for n in $LAB_NODES client; do
    ns=$LAB_PREFIX-$n
    for i in $(seq 50); do
      pids=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -9 $pids 2>/dev/null
      sleep 0.1
    done
  done
  # A PostgreSQL killed with -9 leaves its System V segment (key and id on the
  # postmaster.pid's 7th line) behind; remove it once nothing is attached.
  for pidfile in "$LAB"/postgresql*/pg/data/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    shm=$(sed -n 7p "$pidfile" | awk '{print $2}')
    [ -n "$shm" ] && ipcrm -m "$shm" 2>/dev/null
  done
  for n in $LAB_NODES client sw; do ip netns del "$LAB_PREFIX-$n" 2>/dev/null; done
  rm -rf "$LAB"
  unset LAB
}
