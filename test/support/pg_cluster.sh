# Shell helpers for a throw-away PostgreSQL 15 primary/replica on 127.0.0.1 (the demo and
# the benchmark; the C++ tests use test/support/pg_cluster.h).  Source this file.
# Servers run as the `postgres` user (through runuser when root); settings favour speed
# (fsync=off): never for data.  kwpg_stop_all stops every server under a directory.
kwpg_bin=${KW_PG_BIN:-/usr/lib/postgresql/15/bin}

kwpg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# kwpg_primary DIR PORT NAME PASSWORD [EXTRA_CONF]: initdb in DIR/data, start, create the
# keepwatch role (pg_monitor) with PASSWORD and DIR/../pgpass for it.
kwpg_primary() {
  local dir=$1 port=$2 name=$3 password=$4 extra=${5:-}
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  kwpg_as "$kwpg_bin/initdb" -N -A trust -U postgres -D "$dir/data" >"$dir/initdb.log"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
wal_level = replica
max_wal_senders = 5
wal_keep_size = 256MB
hot_standby = on
wal_receiver_status_interval = 1s
cluster_name = '$name'
$extra
CONF
  cat >"$dir/data/pg_hba.conf" <<HBA
host all keepwatch 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
HBA
  kwpg_as "$kwpg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w start >/dev/null
  psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE keepwatch LOGIN PASSWORD '$password' IN ROLE pg_monitor"
  printf '127.0.0.1:*:*:keepwatch:%s\n' "$password" >"$dir/../pgpass"
  chmod 600 "$dir/../pgpass"
}

# kwpg_replica DIR PORT NAME PRIMARY_PORT: pg_basebackup -R from the primary, start.
kwpg_replica() {
  local dir=$1 port=$2 name=$3 primary=$4
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  kwpg_as "$kwpg_bin/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir/data" -R \
    -X stream -c fast
  printf "port = %s\ncluster_name = '%s'\n" "$port" "$name" >>"$dir/data/postgresql.conf"
  kwpg_as "$kwpg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w start >/dev/null
}

# kwpg_stop_all TOP: stops (immediate) every server whose data dir is TOP/*/data, thawing
# a frozen one first.
kwpg_stop_all() {
  local top=$1 pidfile pid
  for pidfile in "$top"/*/data/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(head -n 1 "$pidfile")
    kill -CONT "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null
    kwpg_as "$kwpg_bin/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1
  done
}

kwpg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
