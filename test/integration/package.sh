#!/bin/bash
# The Debian package end to end on this machine: build it (out of tree), lintian with no
# error or warning, install it, check files, owners, modes, the keepwatch user and its
# directories, that the service is installed but not enabled and that keepwatchd
# --check-config passes on the shipped default; then purge it and find nothing left.
#
# It installs on the test machine itself (dpkg through apt, which waits for the dpkg
# lock): a debootstrap chroot works here, through the configured mirror, but takes about
# 100 s and 200 MB before keepwatch's own dependencies, and would make the test depend on
# the network.  So the test refuses to run where keepwatch is already installed or its
# paths exist, restores the machine on any exit (trap), and runs one at a time (flock).
# Debian keeps system users on purge and so does this package (see debian/postrm); the
# test checks that, then removes the user itself if it did not exist before.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (installs a package)"; exit 1; }

exec 9>/run/lock/keepwatch-package-test.lock
flock -w 600 9 || { echo "FAIL: another package test holds the lock"; exit 1; }

tmp=$(mktemp -d /tmp/keepwatch-pkgtest.XXXXXX)
installed_by_us=""
user_existed=""
getent passwd keepwatch >/dev/null && user_existed=1
apt_opts=(-y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends)
cleanup() {
  if [ -n "$installed_by_us" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" purge keepwatch >/dev/null 2>&1 ||
      dpkg --purge keepwatch >/dev/null 2>&1 || true
  fi
  if [ -z "$user_existed" ] && getent passwd keepwatch >/dev/null; then
    userdel keepwatch 2>/dev/null || true
    getent group keepwatch >/dev/null && groupdel keepwatch 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
must() { if "$@"; then :; else echo "FAIL: $*"; exit 1; fi; }

if dpkg-query -W -f='${db:Status-Status}' keepwatch 2>/dev/null | grep -qv '^not-installed$'; then
  echo "FAIL: the keepwatch package is already on this machine; not touching it"; exit 1
fi
paths_made="/etc/keepwatch /var/lib/keepwatch /run/keepwatch /usr/sbin/keepwatchd /usr/bin/keepwatch"
for p in $paths_made; do
  [ ! -e "$p" ] || { echo "FAIL: $p exists before the test; not touching it"; exit 1; }
done

# --- build -------------------------------------------------------------------------
start=$(date +%s)
deb=$(packaging/build-deb "$tmp/out" | tail -1)
ok "built $(basename "$deb") in $(($(date +%s) - start)) s"
version=$(sed -nE 's/.*kVersion = "([^"]+)".*/\1/p' agent/version.h)
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "keepwatch_${version}_${arch}.deb" ] || bad "file name $(basename "$deb")"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] && ok "package version $version = agent/version.h" ||
  bad "package version $(dpkg-deb -f "$deb" Version) != agent/version.h $version"
[ "$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)" = "$version" ] ||
  bad "debian/changelog does not match agent/version.h"

# --- lintian -------------------------------------------------------------------------
start=$(date +%s)
lint=$(lintian --fail-on error,warning "${deb%.deb}.changes" 2>&1) && lrc=0 || lrc=$?
if [ $lrc = 0 ] && ! grep -qE '^[EW]: ' <<<"$lint"; then
  ok "lintian: no errors or warnings ($(($(date +%s) - start)) s)"
else
  bad "lintian:"; echo "$lint"
fi
[ -n "$lint" ] && echo "$lint" | sed 's/^/     lintian: /'

# --- install -----------------------------------------------------------------------
installed_by_us=1
DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install "$deb" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; echo "FAIL: install"; exit 1; }
ok "installed"

check_file() {  # path type mode owner:group
  local got
  if [ ! -e "$1" ]; then bad "$1 missing"; return; fi
  got=$(stat -c '%F %a %U:%G' "$1")
  [ "$got" = "$2 $3 $4" ] && ok "$1 $got" || bad "$1 is '$got', expected '$2 $3 $4'"
}
unitdir=$(dirname "$(dpkg -L keepwatch | grep '/systemd/system/keepwatchd.service$')")
check_file /usr/sbin/keepwatchd "regular file" 755 root:root
check_file /usr/bin/keepwatch "regular file" 755 root:root
check_file "$unitdir/keepwatchd.service" "regular file" 644 root:root
check_file /usr/lib/sysusers.d/keepwatch.conf "regular file" 644 root:root
check_file /usr/lib/tmpfiles.d/keepwatch.conf "regular file" 644 root:root
check_file /etc/keepwatch/keepwatch.ini "regular file" 644 root:root
check_file /usr/share/man/man8/keepwatchd.8.gz "regular file" 644 root:root
check_file /usr/share/man/man1/keepwatch.1.gz "regular file" 644 root:root
check_file /usr/share/man/man5/keepwatch.ini.5.gz "regular file" 644 root:root
for role in postgresql odoo lb; do
  check_file "/usr/share/doc/keepwatch/examples/systemd/$role.conf" "regular file" 644 root:root
done
check_file /usr/share/doc/keepwatch/copyright "regular file" 644 root:root
cmp -s systemd/keepwatchd.service "$unitdir/keepwatchd.service" && ok "unit is systemd/keepwatchd.service" ||
  bad "installed unit differs from systemd/keepwatchd.service"
cmp -s packaging/keepwatch.ini /etc/keepwatch/keepwatch.ini && ok "default configuration shipped" ||
  bad "installed keepwatch.ini differs from packaging/keepwatch.ini"
dpkg-query -W -f='${Conffiles}\n' keepwatch | grep -q '^ /etc/keepwatch/keepwatch.ini ' &&
  ok "/etc/keepwatch/keepwatch.ini is a conffile" || bad "/etc/keepwatch/keepwatch.ini is not a conffile"

# The user and the directories the maintainer scripts made.
if pw=$(getent passwd keepwatch); then
  IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
  [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/keepwatch ] && [[ "$shell" == */nologin ]] &&
    ok "user keepwatch: system uid $uid, home $home, shell $shell" ||
    bad "user keepwatch: uid $uid home $home shell $shell"
  [ "$(getent group keepwatch | cut -d: -f3)" = "$gid" ] && ok "group keepwatch is its primary group" ||
    bad "group keepwatch is not the user's primary group"
  passwd -S keepwatch | awk '{ exit !($2 == "L" || $2 == "NP") }' && ok "keepwatch has no usable password" ||
    bad "keepwatch has a password: $(passwd -S keepwatch)"
else
  bad "user keepwatch was not created"
fi
check_file /var/lib/keepwatch directory 750 keepwatch:keepwatch
check_file /run/keepwatch directory 755 keepwatch:keepwatch
[ ! -e /etc/systemd/system/multi-user.target.wants/keepwatchd.service ] && ok "service installed, not enabled" ||
  bad "service was enabled on install"

# The shipped default is valid, also for the user the service runs as.
out=$(/usr/sbin/keepwatchd --check-config -c /etc/keepwatch/keepwatch.ini 2>&1) && ok "check-config: $out" ||
  bad "keepwatchd --check-config on the shipped default: $out"
out=$(runuser -u keepwatch -- /usr/sbin/keepwatchd --check-config 2>&1) && ok "check-config as keepwatch" ||
  bad "check-config as user keepwatch: $out"
[ "$(/usr/sbin/keepwatchd --version)" = "keepwatchd $version" ] && ok "keepwatchd --version" ||
  bad "keepwatchd --version says '$(/usr/sbin/keepwatchd --version)'"
MANWIDTH=80 man --warnings keepwatch.ini 2>&1 >/dev/null | grep . && bad "man keepwatch.ini warns" ||
  ok "man keepwatch.ini renders from the installed page"

# --- purge -------------------------------------------------------------------------
dpkg -L keepwatch | grep -vE '^/(\.|usr|usr/(bin|sbin|lib|share)|etc|lib)$' >"$tmp/files"
DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" purge keepwatch >"$tmp/purge.log" 2>&1 ||
  { cat "$tmp/purge.log"; echo "FAIL: purge"; exit 1; }
installed_by_us=""
status=$(dpkg-query -W -f='${db:Status-Status}' keepwatch 2>/dev/null || echo not-installed)
[ "$status" = not-installed ] && ok "purged: dpkg knows nothing of keepwatch" || bad "after purge dpkg says '$status'"
left=0
while read -r f; do
  if [ -e "$f" ] && ! [ -d "$f" ] || { [ -d "$f" ] && [[ "$f" == *keepwatch* ]]; }; then
    bad "left after purge: $f"; left=1
  fi
done <"$tmp/files"
for p in $paths_made; do [ ! -e "$p" ] || { bad "left after purge: $p"; left=1; }; done
for d in /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked; do
  [ -d "$d" ] || continue
  found=$(find "$d" -name '*keepwatch*' 2>/dev/null)
  [ -z "$found" ] || { bad "left after purge: $found"; left=1; }
done
[ $left = 0 ] && ok "nothing left after purge ($(wc -l <"$tmp/files") packaged paths, state, runtime and configuration directories)"
getent passwd keepwatch >/dev/null && ok "user keepwatch kept on purge (Debian practice; see debian/postrm)" ||
  bad "user keepwatch was removed on purge"
exit $fail
