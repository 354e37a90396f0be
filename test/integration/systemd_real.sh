#!/bin/bash
# The shipped unit under a real systemd: boots systemd as PID 1 of a container
# (systemd-nspawn) and runs keepwatchd.service in it with its full hardening.
#
# The container is cheap: its /usr is an overlay on this machine's own /usr (systemd,
# curl and keepwatchd's libraries are already there; writes go to a temporary upper
# directory), its /etc holds a few files, it has its own network namespace (only lo) and
# a pure cgroup v2 hierarchy.  keepwatch is installed into it the way the Debian package
# does (same paths; systemd-sysusers, systemd-tmpfiles --create, daemon-reload as in the
# postinst), with the built binaries from $KW_BUILD instead of a .deb (building the
# package takes minutes; test/integration/package.sh covers it).
#
# Shown: READY (active/running, StatusText from the agent's STATUS=); the process is
# keepwatch with no capabilities, NoNewPrivs and a seccomp filter; the HTTP API answers
# in the container; checks that read /proc/self/mountinfo and /sys, write a probe into
# the state directory and resolve a host name pass, track files appear in the runtime
# directory; alive past WatchdogSec; structured journal fields and no warning; SIGKILL
# leads to a restart; the odoo role's drop-in lets the filestore check and its write
# probe pass; `systemctl stop` ends it with status 0 within 2 s.
#
# Machines without systemd as PID 1 (this one, CI) have no machined and no D-Bus for
# nspawn: it runs with --register=no --keep-unit, in a cgroup this test makes (and
# removes) under its own in every mounted hierarchy.  Everything it made is removed on
# any exit (trap).
set -euo pipefail
build=$(realpath "${KW_BUILD:-build}")
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (boots a container)"
command -v systemd-nspawn >/dev/null || fail "systemd-nspawn missing (package systemd-container; make deps)"
for b in keepwatchd keepwatch; do [ -x "$build/$b" ] || fail "$build/$b not built"; done

started=$SECONDS
name=kw-sysd-$$
tmp=$(mktemp -d /var/tmp/keepwatch-sysd.XXXXXX)
root=$tmp/root
nspawn_pid=""
leader=""
cgroups=()
made_nspawn_run=""  # nspawn's /run/systemd/nspawn (locks, propagate), if this test made it
[ -e /run/systemd/nspawn ] || made_nspawn_run=1

# --- cleanup -----------------------------------------------------------------------
kill_cgroup() {  # dir: SIGKILL every process in it and below
  local p
  if [ -e "$1/cgroup.kill" ]; then echo 1 >"$1/cgroup.kill" 2>/dev/null || true; return; fi
  find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null; done
}
cleanup() {
  set +e
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"  # nspawn asks the container's systemd to power off
    timeout 15 tail --pid="$nspawn_pid" -f /dev/null || kill -KILL "$nspawn_pid"
  fi
  local c
  for c in "${cgroups[@]}"; do
    for _ in $(seq 50); do
      [ -z "$(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
      kill_cgroup "$c"; sleep 0.1
    done
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -e "$c" ] && echo "cleanup: could not remove cgroup $c"
  done
  [ -n "$made_nspawn_run" ] && rmdir /run/systemd/nspawn/{locks,propagate} /run/systemd/nspawn 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $*"; }
wait_for() {  # seconds command...: polls every 0.2 s; false when it never held
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
# A command inside the container (all its namespaces, a clean environment).
in_ct() { nsenter --target="$leader" --all -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin "$@"; }
prop() { in_ct systemctl show --value -p "$1" keepwatchd.service; }
http_code() { in_ct curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:9201$1"; }
status_json() { in_ct curl -sf --max-time 3 http://127.0.0.1:9201/status; }
check_field() {  # check field: from GET /status
  status_json | jq -r --arg c "$1" --arg f "$2" '.checks[] | select(.name == $c) | .[$f] // empty'
}

# --- the tree ----------------------------------------------------------------------
mkdir -p "$root"/{etc/systemd/system,var,run,tmp,usr,root} "$tmp/usr" "$tmp/pkg"
for l in bin sbin lib lib64; do ln -s "usr/$l" "$root/$l"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:20000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
chmod 640 "$root/etc/shadow" "$root/etc/gshadow"
cp /etc/ld.so.cache "$root/etc/"
printf 'passwd: files systemd\ngroup: files systemd\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
cp /usr/lib/os-release "$root/etc/os-release"  # nspawn looks for it before mounting /usr
: >"$root/etc/machine-id"                        # systemd makes one from the container UUID
ln -s /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
ln -s /dev/null "$root/etc/systemd/system/console-getty.service"  # no one logs in

# What the package installs, staged for the "postinst" below.
cp "$build/keepwatchd" "$build/keepwatch" systemd/keepwatchd.service packaging/keepwatch.ini \
  packaging/examples/systemd/odoo.conf "$tmp/pkg/"
cp systemd/keepwatch.sysusers "$tmp/pkg/sysusers.conf"
cp systemd/keepwatch.tmpfiles "$tmp/pkg/tmpfiles.conf"
# Under make asan: LeakSanitizer stops the process's threads with ptrace at exit, which the
# unit's SystemCallFilter forbids (as it should), so it would fail every exit; AddressSanitizer
# and UBSan stay on.
if ldd "$build/keepwatchd" | grep -q libasan; then
  printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$tmp/pkg/sanitizer.conf"
fi

# The state directory's file system, as the agent will see it in /proc/self/mountinfo and
# /sys/dev/block: the container's /var/lib lives in $tmp.
state_fstype=$(findmnt -no FSTYPE -T "$tmp")
state_majmin=$(findmnt -no MAJ:MIN -T "$tmp" | tr -d ' ')
state_dev=$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$state_majmin/uevent" 2>/dev/null || true)
[ -n "$state_dev" ] ||
  fail "$tmp ($state_fstype, $state_majmin) is not on a block device: the /sys reading below needs one"

# --- cgroups: one of our own in each hierarchy nspawn uses ---------------------------
cg_path() {  # /proc/self/cgroup line prefix -> our path in that hierarchy, "" for the root
  local p
  p=$(sed -n "s/^$1//p" /proc/self/cgroup)
  echo "${p%/}"
}
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cgroups+=("/sys/fs/cgroup$(cg_path 0::)/$name")
else
  cgroups+=("/sys/fs/cgroup/systemd$(cg_path '[0-9]*:name=systemd:')/$name")
  [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
    cgroups+=("/sys/fs/cgroup/unified$(cg_path 0::)/$name")
fi
for c in "${cgroups[@]}"; do mkdir "$c"; done

# --- boot ----------------------------------------------------------------------------
boot_start=$SECONDS
(
  for c in "${cgroups[@]}"; do echo "$BASHPID" >"$c/cgroup.procs"; done
  # A pure cgroup v2 hierarchy in the container, as on a Debian 12 host, even where this
  # machine mounts the hybrid layout.
  export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  exec systemd-nspawn --quiet --register=no --keep-unit --machine="$name" \
    --directory="$root" --overlay=/usr:"$tmp/usr":/usr --private-network \
    --bind-ro="$tmp/pkg":/run/keepwatch-pkg --tmpfs=/var/lib/odoo:mode=0755 \
    --console=pipe --boot
) </dev/null >"$tmp/console.log" 2>&1 &
nspawn_pid=$!
find_leader() {
  kill -0 "$nspawn_pid" 2>/dev/null || { cat "$tmp/console.log"; fail "systemd-nspawn exited"; }
  leader=$(pgrep -P "$nspawn_pid" | head -1)
  [ -n "$leader" ] && [ "$(readlink "/proc/$leader/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ]
}
wait_for 20 find_leader || fail "the container's PID 1 did not exec systemd within 20 s"
booted() {
  local s
  s=$(in_ct systemctl is-system-running 2>/dev/null) || true
  case $s in running | degraded) booted_state=$s ;; *) return 1 ;; esac
}
wait_for 30 booted ||
  { tail -30 "$tmp/console.log"; fail "the container's systemd did not finish booting within 30 s"; }
if [ "$booted_state" != running ]; then
  in_ct systemctl --failed --no-pager || true
  fail "container booted $booted_state"
fi
[ "$(in_ct cat /proc/1/comm)" = systemd ] || fail "PID 1 in the container is not systemd"
[ "$(in_ct stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "container has no cgroup v2 hierarchy"
ok "systemd $(in_ct systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is PID 1 of container $name (cgroup v2), booted in $((SECONDS - boot_start)) s"

# --- install, as the package's postinst does -------------------------------------------
in_ct sh -euc '
  p=/run/keepwatch-pkg
  install -D -m 0755 $p/keepwatchd /usr/sbin/keepwatchd
  install -D -m 0755 $p/keepwatch /usr/bin/keepwatch
  install -D -m 0644 $p/keepwatchd.service /lib/systemd/system/keepwatchd.service
  install -D -m 0644 $p/sysusers.conf /usr/lib/sysusers.d/keepwatch.conf
  install -D -m 0644 $p/tmpfiles.conf /usr/lib/tmpfiles.d/keepwatch.conf
  install -D -m 0644 $p/keepwatch.ini /etc/keepwatch/keepwatch.ini
  systemd-sysusers keepwatch.conf
  systemd-tmpfiles --create keepwatch.conf
  if [ -f $p/sanitizer.conf ]; then
    install -D -m 0644 $p/sanitizer.conf /etc/systemd/system/keepwatchd.service.d/sanitizer.conf
  fi
  systemctl daemon-reload'
[ "$(in_ct systemctl is-enabled keepwatchd.service 2>&1)" = disabled ] ||
  fail "keepwatchd.service is not installed disabled"
ok "installed like the package: user $(in_ct id -u keepwatch) keepwatch, unit disabled"

# The node's checks, added to the shipped default (which keeps its own tcp check):
# - state: the state directory's mount in the agent's namespace, from
#   /proc/self/mountinfo, its device name from /sys/dev/block, and a write probe in it;
# - filestore: an Odoo filestore stand-in (a tmpfs), read-only to the base unit;
# - iscsi: /sys/class/iscsi_session (no sessions here);
# - web: an http check through the resolver (a host name; no netlink for glibc);
# and keepalived track files in the runtime directory.
ini=$root/etc/keepwatch/keepwatch.ini
sed -i 's|^listen = 127.0.0.1:9201$|&\ntrack_dir = /run/keepwatch|' "$ini"
grep -q '^track_dir = /run/keepwatch$' "$ini" || fail "could not set track_dir in the shipped keepwatch.ini"
cat >>"$ini" <<EOF

[check.state]
type = ocfs2
path = /var/lib/keepwatch
fstype = $state_fstype
write_probe = yes
interval = 1s

[check.filestore]
type = ocfs2
path = /var/lib/odoo
fstype = tmpfs
interval = 1s

[check.iscsi]
type = iscsi
target = iqn.2019-02.lb2:odcfs2
interval = 1s

[check.web]
type = http
url = http://localhost:9201/liveness
interval = 1s
EOF

# --- start: READY under the full hardening ------------------------------------------
t=$SECONDS
# As README says, once the checks are written.  (Enabled, the unit also stays loaded
# when inactive, so its exit status can be read after the stop below.)
timeout 30 nsenter --target="$leader" --all -- systemctl enable --now --quiet keepwatchd.service ||
  { in_ct journalctl -u keepwatchd --no-pager | tail -30; fail "systemctl enable --now keepwatchd"; }
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] ||
  fail "after start: $(prop ActiveState)/$(prop SubState)"
active_at=$SECONDS
ok "systemctl enable --now: active/running in $((SECONDS - t)) s (Type=notify: READY=1 came)"
status_text=$(prop StatusText)
[[ "$status_text" =~ ^[0-9]+/5\ checks\ passing ]] || fail "StatusText is '$status_text'"
ok "StatusText: $status_text"
pid=$(prop MainPID)
proc_status=$(in_ct cat "/proc/$pid/status")
field() { sed -n "s/^$1:[[:space:]]*//p" <<<"$proc_status"; }
[ "$(in_ct ps -o user= -p "$pid")" = keepwatch ] || fail "main process runs as $(in_ct ps -o user= -p "$pid")"
[ "$(field CapEff)" = 0000000000000000 ] && [ "$(field CapBnd)" = 0000000000000000 ] ||
  fail "capabilities: CapEff $(field CapEff) CapBnd $(field CapBnd)"
[ "$(field NoNewPrivs)" = 1 ] && [ "$(field Seccomp)" = 2 ] ||
  fail "NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp) (want 1 and 2: filter)"
ok "pid $pid runs as keepwatch: no capabilities, NoNewPrivs, seccomp filter"

# --- the HTTP API and the checks ------------------------------------------------------
[ "$(http_code /status)" = 200 ] || fail "GET /status: $(http_code /status)"
[ "$(http_code /readiness)" = 200 ] || fail "GET /readiness: $(http_code /readiness)"
[ "$(http_code /liveness)" = 200 ] || fail "GET /liveness: $(http_code /liveness)"
ok "GET /status, /readiness, /liveness: 200 inside the container"

state_up() { [ "$(check_field state state)" = up ]; }
wait_for 10 state_up || fail "check state not up within 10 s: $(check_field state detail)"
labels=$(status_json | jq -c '.checks[] | select(.name == "state") | .labels')
[ "$(jq -r .device <<<"$labels")" = "$state_dev" ] || fail "state check labels $labels: no device $state_dev from /sys"
[ "$(jq -r .fstype <<<"$labels")" = "$state_fstype" ] || fail "state check labels $labels"
ok "state: $(check_field state detail); device $state_dev from /sys/dev/block; write probe in /var/lib/keepwatch"
fs_detail=$(check_field filestore detail)
[ "$(check_field filestore state)" = down ] && [[ "$fs_detail" == *"mounted read-only (per-mount ro"* ]] ||
  fail "filestore under the base unit: $(check_field filestore state): $fs_detail"
ok "filestore (base unit, ProtectSystem=strict): down: $fs_detail"
iscsi_detail=$(check_field iscsi detail)
[ "$(check_field iscsi state)" = down ] && [[ "$iscsi_detail" == *iqn.2019-02.lb2:odcfs2* ]] ||
  fail "iscsi: $(check_field iscsi state): $iscsi_detail"
ok "iscsi: down: $iscsi_detail"
[ "$(check_field web state)" = up ] || fail "web (http://localhost:9201/liveness): $(check_field web detail)"
ok "web: $(check_field web detail)"
track() { in_ct cat "/run/keepwatch/$1.state"; }
[ "$(track state)" = 0 ] && [ "$(track filestore)" = 1 ] && [ "$(track iscsi)" = 1 ] ||
  fail "track files in /run/keepwatch: state '$(track state)', filestore '$(track filestore)', iscsi '$(track iscsi)'"
ok "track files in /run/keepwatch: state 0, filestore 1, iscsi 1"

# --- the watchdog: alive past WatchdogSec ---------------------------------------------
[ "$(prop WatchdogUSec)" = 10s ] || fail "WatchdogUSec is $(prop WatchdogUSec)"
entered=$(prop ActiveEnterTimestampMonotonic)
left=$((12 - (SECONDS - active_at)))
[ "$left" -le 0 ] || sleep "$left"
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] && [ "$(prop MainPID)" = "$pid" ] &&
  [ "$(prop NRestarts)" = 0 ] || fail "after 12 s: $(prop ActiveState)/$(prop SubState) pid $(prop MainPID) restarts $(prop NRestarts)"
ping=$(prop WatchdogTimestampMonotonic)
[ "$ping" -gt $((entered + 4000000)) ] || fail "no WATCHDOG=1 seen after start (last $ping, start $entered)"
ok "alive 12 s after start (WatchdogSec=10s), same pid, last ping $(((ping - entered) / 1000000)) s after start"

# --- the journal --------------------------------------------------------------------
fields=$(in_ct journalctl -u keepwatchd.service -o json --no-pager |
  jq -r 'select(.KEEPWATCH_CHECK != null) | "\(.KEEPWATCH_CHECK) \(.KEEPWATCH_OLD_STATE) \(.KEEPWATCH_NEW_STATE)"')
grep -qx 'state unknown up' <<<"$fields" && grep -qx 'filestore unknown down' <<<"$fields" ||
  { echo "$fields"; fail "journal: no KEEPWATCH_CHECK/OLD_STATE/NEW_STATE for state and filestore"; }
ok "journal: KEEPWATCH_CHECK, KEEPWATCH_OLD_STATE, KEEPWATCH_NEW_STATE ($(wc -l <<<"$fields") transitions)"

# --- SIGKILL: Restart=on-failure ----------------------------------------------------------
in_ct systemctl kill -s SIGKILL keepwatchd.service
restarted() {
  [ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)/$(prop SubState)" = active/running ] &&
    [ "$(prop MainPID)" != "$pid" ]
}
wait_for 10 restarted ||
  fail "no restart within 10 s of SIGKILL: NRestarts $(prop NRestarts), $(prop ActiveState)/$(prop SubState)"
ok "SIGKILL: restarted (NRestarts=1, pid $(prop MainPID))"

# --- the odoo role: its drop-in, a filestore the agent may probe -------------------------
in_ct sh -euc '
  groupadd --system odoo
  chown root:odoo /var/lib/odoo && chmod 0750 /var/lib/odoo
  install -d -o keepwatch -g keepwatch -m 0750 /var/lib/odoo/.keepwatch
  install -D -m 0644 /run/keepwatch-pkg/odoo.conf /etc/systemd/system/keepwatchd.service.d/role.conf
  systemctl daemon-reload'
sed -i '/^path = \/var\/lib\/odoo$/a write_probe = yes\nprobe_dir = /var/lib/odoo/.keepwatch' \
  "$ini"
timeout 30 nsenter --target="$leader" --all -- systemctl restart keepwatchd.service ||
  fail "systemctl restart with the odoo drop-in"
filestore_up() { [ "$(check_field filestore state)" = up ]; }
wait_for 10 filestore_up || fail "filestore not up within 10 s with the odoo drop-in: $(check_field filestore detail)"
[ "$(track filestore)" = 0 ] || fail "track file filestore.state is '$(track filestore)' with the filestore up"
ok "filestore (odoo drop-in): $(check_field filestore detail); its track file 0"

# --- stop: clean and quick ----------------------------------------------------------
cursor=$(in_ct journalctl -u keepwatchd.service -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
t0=$(date +%s.%N)
timeout 10 nsenter --target="$leader" --all -- systemctl stop keepwatchd.service || fail "systemctl stop"
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$(prop Result)" = success ] && [ "$(prop ExecMainCode)" = 1 ] && [ "$(prop ExecMainStatus)" = 0 ] ||
  fail "after stop: Result $(prop Result), ExecMainCode $(prop ExecMainCode), ExecMainStatus $(prop ExecMainStatus)"
awk -v t="$took" 'BEGIN { exit !(t < 2) }' || fail "systemctl stop took $took s"
stop_log=$(in_ct journalctl -u keepwatchd.service --after-cursor="$cursor" --no-pager)
! grep -qiE 'SIGKILL|timed out|killing' <<<"$stop_log" || { echo "$stop_log"; fail "the stop needed a SIGKILL"; }
ok "systemctl stop: exited 0, Result=success, in $took s"
warnings=$(in_ct journalctl -u keepwatchd.service -t keepwatchd -p warning --no-pager -q)
[ -z "$warnings" ] || { echo "$warnings"; fail "keepwatchd logged warnings or errors (a write or call the sandbox denied?)"; }
ok "journal: no warning or error from keepwatchd in the whole run"

# --- shut the container down ------------------------------------------------------------
kill -TERM "$nspawn_pid"
timeout 20 tail --pid="$nspawn_pid" -f /dev/null || fail "container did not power off within 20 s"
wait "$nspawn_pid" || fail "systemd-nspawn exited $?"
nspawn_pid=""
ok "container powered off; $((SECONDS - started)) s in all"
