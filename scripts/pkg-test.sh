#!/usr/bin/env bash
# pkg-test.sh - build the Debian package, install it on this machine, run
# the service the way systemd would, send a message through it, check
# privilege separation, then purge it and check the machine is as before.
#
#   scripts/pkg-test.sh            (as root; exit 0 = every check passed)
#
# Steps (each prints "ok - ..." or "FAIL - ..."):
#   1. dpkg-buildpackage -b from a copy of the tree with packaging/debian
#      as debian/ (DEB_BUILD_OPTIONS=nocheck: ctest runs in its own
#      stage); the .deb's Depends, conffiles and file list.
#   2. dpkg -i: users, directories with owners and modes.
#   3. the service: where systemd runs (PID 1) `systemctl start tern`;
#      otherwise ExecStartPre/ExecStart from the installed unit, run as
#      root in a private mount namespace with what the unit's hardening
#      says and util-linux can do: NoNewPrivileges, CapabilityBoundingSet
#      (setpriv), ProtectSystem=full (/usr, /boot, /efi, /etc read-only),
#      ProtectHome, PrivateTmp, RuntimeDirectory.  The shipped config is
#      used, with two changes: the listener moves off port 25 to a free
#      port, and a conf.d drop-in routes pkgtest.test to an aiosmtpd
#      sink on 127.0.0.9.
#   4. a message through it (swaks), delivered to the sink; `tern show
#      status` (default config) counts it; acct.csv has its d record.
#   5. privilege separation: each daemon under its own user (Uid, Gid),
#      in its chroot (/proc/PID/root); ternd keeps only the unit's
#      capabilities; the spool unreadable to _tern; the control socket
#      refuses nobody.
#   6. ExecReload (SIGHUP) reloads; logrotate accepts the installed file
#      and rotates with it: acct.csv moved aside, `tern rotate acct`, the
#      next record in a new acct.csv.
#   7. stop (SIGTERM, as systemd), dpkg --purge, and the machine as
#      before: no file of the package, no directory it made, users as
#      they were (Debian keeps system users on purge: users this script
#      caused to be created are removed by it, not by the package).
#
# It refuses to run when Tern is installed or /etc/tern exists (it would
# be a real installation).  Bounded: the build takes a few minutes on a
# loaded machine, the rest well under one.
#
# Environment: TERN_PKG_JOBS (build parallelism, default nproc),
#              TERN_PKG_KEEP=1 (keep the work directory).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
PKG=tern
W=
SINK_PID=
MAINPID=
INSTALLED=0
FAILS=0

say()  { echo "pkg-test: $*"; }
ok()   { echo "ok - $*"; }
bad()  { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
die()  { echo "FAIL - $*"; FAILS=$((FAILS + 1)); exit 1; }
check() {	# DESCRIPTION COMMAND...: ok if the command succeeds
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "pkg-test: needs root (it installs a package)" >&2
	exit 77
fi

# ------------------------------------------------------------ state

# Paths the package or its scripts touch; "before" and "after" must match.
WATCH=(/etc/tern /etc/logrotate.d/tern /var/spool/tern /var/log/tern
       /run/tern /var/empty /var/empty/tern /usr/libexec/tern
       /usr/sbin/ternd /usr/sbin/tern /usr/sbin/pmta
       /lib/systemd/system/tern.service /usr/lib/systemd/system/tern.service
       /etc/systemd/system/multi-user.target.wants/tern.service
       /var/lib/systemd/deb-systemd-helper-enabled/tern.service.dsh-also
       /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/tern.service
       /usr/share/man/man8/ternd.8.gz /usr/share/man/man5/tern.conf.5.gz
       /usr/share/doc/tern)
USERS=(_tern _ternq)

snapshot() {
	local p u
	for p in "${WATCH[@]}"; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			stat -c '%n %F %U:%G %a' "$p"
		else
			echo "$p absent"
		fi
	done
	for u in "${USERS[@]}"; do
		getent passwd "$u" || echo "user $u absent"
	done
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$PKG" 2>/dev/null |
	    grep -v '^un ' || echo "package $PKG not installed"
}

stop_service() {
	local i
	[ -n "$MAINPID" ] || return 0
	if kill -0 "$MAINPID" 2>/dev/null; then
		kill -TERM "$MAINPID"
		for i in $(seq 300); do
			kill -0 "$MAINPID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$MAINPID" 2>/dev/null; then
			bad "ternd still running 30 s after SIGTERM (TimeoutStopSec)"
			kill -KILL "$MAINPID"
		fi
	fi
	wait "$MAINPID" 2>/dev/null
	MAINPID=
}

cleanup() {
	stop_service
	if [ -n "$SINK_PID" ]; then
		kill "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
	if [ "$INSTALLED" = 1 ]; then
		say "purging after a failure"
		dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	if [ -n "$W" ] && [ "${TERN_PKG_KEEP:-0}" != 1 ]; then
		rm -rf "$W"
	fi
}
trap cleanup EXIT

# ------------------------------------------------------------ preflight

if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -q installed ||
    [ -e /etc/tern ] || [ -e /usr/sbin/ternd ]; then
	echo "pkg-test: Tern is installed on this machine (package or /etc/tern);" \
	    "refusing to touch it" >&2
	exit 1
fi
for tool in dpkg-buildpackage dh swaks setpriv runuser unshare logrotate; do
	command -v "$tool" >/dev/null ||
	    die "$tool is missing (scripts/install-deps.sh installs it)"
done
W=$(mktemp -d /tmp/tern-pkg-test.XXXXXX)
chmod 0755 "$W"
BEFORE=$(snapshot)
USERS_BEFORE=()
for u in "${USERS[@]}"; do
	getent passwd "$u" >/dev/null && USERS_BEFORE+=("$u")
done
TERN_GROUP_BEFORE=0
getent group tern >/dev/null && TERN_GROUP_BEFORE=1

# ------------------------------------------------------------ 1. build

say "building the package in $W/src"
mkdir -p "$W/src"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 tar -cf - --no-recursion) | tar -C "$W/src" -xf - ||
    die "copying the source tree"
cp -r "$W/src/packaging/debian" "$W/src/debian"
BUILD_T0=$SECONDS
if ! (cd "$W/src" &&
      DEB_BUILD_OPTIONS="nocheck noddebs parallel=${TERN_PKG_JOBS:-$(nproc)}" \
      dpkg-buildpackage -b -us -uc -Pnocheck >"$W/build.log" 2>&1); then
	tail -n 40 "$W/build.log"
	die "dpkg-buildpackage (log above)"
fi
DEB=$(ls "$W"/${PKG}_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || die "no ${PKG}_*.deb built"
ok "dpkg-buildpackage built $(basename "$DEB") ($((SECONDS - BUILD_T0))s)"

DEPENDS=$(dpkg-deb -f "$DEB" Depends)
say "Depends: $DEPENDS"
for lib in libuv1 libssl3 libjansson4 libbsd0 libudns0 libcrypt1 libc6 adduser; do
	check "Depends names $lib" grep -q "\b$lib\b" <<<"$DEPENDS"
done
check "Depends names h2o's library" grep -q 'libh2o' <<<"$DEPENDS"
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$W/files"
for f in /usr/sbin/ternd /usr/sbin/tern /usr/sbin/pmta \
    /usr/libexec/tern/smtpd /usr/libexec/tern/queued \
    /usr/libexec/tern/deliverd /usr/libexec/tern/bounced \
    /usr/libexec/tern/mgmtd /etc/tern/tern.conf /etc/tern/conf.d/smtpd.conf \
    /lib/systemd/system/tern.service /etc/logrotate.d/tern \
    /usr/share/man/man8/ternd.8.gz /usr/share/man/man8/tern.8.gz \
    /usr/share/man/man5/tern.conf.5.gz /var/spool/tern /var/log/tern; do
	grep -qxF "$f" "$W/files" || bad "the package lacks $f"
done
ok "the package holds design.md §7's tree"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$W/conffiles"
for f in /etc/tern/tern.conf /etc/tern/conf.d/bounced.conf \
    /etc/tern/conf.d/deliverd.conf /etc/tern/conf.d/mgmtd.conf \
    /etc/tern/conf.d/queued.conf /etc/tern/conf.d/smtpd.conf \
    /etc/logrotate.d/tern; do
	grep -qxF "$f" "$W/conffiles" || bad "$f is not a conffile"
done
ok "/etc/tern/* and /etc/logrotate.d/tern are conffiles"

# ------------------------------------------------------------ 2. install

INSTALLED=1
if ! dpkg -i "$DEB" >"$W/install.log" 2>&1; then
	cat "$W/install.log"
	die "dpkg -i"
fi
ok "dpkg -i $(basename "$DEB")"
for u in "${USERS[@]}"; do
	check "user $u exists, no login shell" \
	    sh -c "getent passwd $u | grep -q ':/usr/sbin/nologin$'"
done
owner_mode() {	# PATH OWNER:GROUP MODE
	local got
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null)
	if [ "$got" = "$2 $3" ]; then ok "$1 is $2 $3"; else bad "$1 is '$got', want $2 $3"; fi
}
owner_mode /var/spool/tern _ternq:_ternq 700
owner_mode /var/log/tern root:adm 750
owner_mode /var/empty/tern root:root 755
owner_mode /etc/tern/tern.conf root:root 644

# ------------------------------------------------------------ 3. start

free_port() {	# ADDRESS: a port nothing listens on (the kernel's choice)
	"$PY" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
SINK_ADDR=127.0.0.9
SINK_PORT=$(free_port "$SINK_ADDR")
SMTP_PORT=$(free_port 127.0.0.1)
mkdir -p "$W/sink"
"$PY" -m aiosmtpd -n -l "$SINK_ADDR:$SINK_PORT" \
    -c aiosmtpd.handlers.Mailbox "$W/sink/mail" >"$W/sink.log" 2>&1 &
SINK_PID=$!

# The shipped listener is 127.0.0.1:25; this machine may have an MTA there.
sed -i "s/^smtp-listener 127\.0\.0\.1:25\$/smtp-listener 127.0.0.1:$SMTP_PORT/" \
    /etc/tern/conf.d/smtpd.conf
grep -q "^smtp-listener 127.0.0.1:$SMTP_PORT\$" /etc/tern/conf.d/smtpd.conf ||
    die "could not move the listener off port 25 in conf.d/smtpd.conf"
cat >/etc/tern/conf.d/zz-pkg-test.conf <<EOF
# scripts/pkg-test.sh: deliver the test domain to the local sink.
<domain pkgtest.test>
    route $SINK_ADDR:$SINK_PORT
</domain>
EOF

UNIT=$(ls /lib/systemd/system/tern.service /usr/lib/systemd/system/tern.service 2>/dev/null | head -n 1)
[ -n "$UNIT" ] || die "no tern.service installed"
unit_values() { sed -n "s/^$1=//p" "$UNIT"; }	# KEY: every value, in order
# systemd's own parser (it works without systemd running): no unknown
# key, no bad value, the programs and the man pages it names exist.
if out=$(systemd-analyze verify "$UNIT" 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify $UNIT"
else
	bad "systemd-analyze verify $UNIT: $out"
fi

# CapabilityBoundingSet=CAP_A CAP_B -> setpriv's -all,+a,+b
bounding_set() {
	local c out=-all
	for c in $(unit_values CapabilityBoundingSet); do
		c=${c#CAP_}
		out="$out,+${c,,}"
	done
	echo "$out"
}

# The mounts of ProtectSystem=full, ProtectHome=yes, PrivateTmp=yes, as
# a script for the service's private mount namespace.
sandbox_mounts() {
	local d
	[ "$(unit_values ProtectSystem)" = full ] && for d in /usr /boot /efi /etc; do
		[ -d "$d" ] && echo "mount --bind $d $d && mount -o remount,bind,ro $d || exit 1"
	done
	[ "$(unit_values ProtectHome)" = yes ] && for d in /home /root /run/user; do
		[ -d "$d" ] && echo "mount -t tmpfs -o mode=000,ro tmpfs $d || exit 1"
	done
	[ "$(unit_values PrivateTmp)" = yes ] &&
	    echo "mount -t tmpfs -o mode=1777 tmpfs /tmp && mount -t tmpfs -o mode=1777 tmpfs /var/tmp || exit 1"
}

# run_sandboxed COMMAND-LINE: exec it as the unit would run it (the
# caller's process becomes the service's main process: call in a
# subshell).
run_sandboxed() {
	local nnp=()
	[ "$(unit_values NoNewPrivileges)" = yes ] && nnp=(--no-new-privs)
	exec unshare --mount --propagation private -- sh -c "$(sandbox_mounts)
exec setpriv ${nnp[*]} --bounding-set $(bounding_set) -- $1"
}

if [ -d /run/systemd/system ]; then
	say "systemd is PID 1: systemctl start tern"
	systemctl daemon-reload
	systemctl start tern || die "systemctl start tern"
	MAINPID=$(systemctl show -p MainPID --value tern)
	SYSTEMD=1
else
	say "no systemd running: starting $UNIT's ExecStart by hand"
	SYSTEMD=0
	rdir=$(unit_values RuntimeDirectory)
	rmode=$(unit_values RuntimeDirectoryMode)
	[ -n "$rdir" ] && install -d -m "${rmode:-0755}" "/run/$rdir"
	while read -r pre; do
		[ -n "$pre" ] || continue
		(run_sandboxed "$pre") >>"$W/service.log" 2>&1 ||
		    { cat "$W/service.log"; die "ExecStartPre $pre"; }
	done < <(unit_values ExecStartPre)
	(run_sandboxed "$(unit_values ExecStart)") >>"$W/service.log" 2>&1 &
	MAINPID=$!
fi
service_log() {
	if [ "$SYSTEMD" = 1 ]; then journalctl -u tern --no-pager -n 80; else tail -n 80 "$W/service.log"; fi
}

# wait_for SECONDS COMMAND...: poll until the command succeeds
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
status_ok() { /usr/sbin/tern show status; }
if ! wait_for 60 status_ok; then
	service_log
	die "tern show status never answered (service log above)"
fi
ok "the service started (ternd pid $MAINPID) and answers tern show status"

# ------------------------------------------------------------ 4. a message

if swaks --server "127.0.0.1:$SMTP_PORT" --from sender@localhost \
    --to rcpt@pkgtest.test --header "Subject: pkg-test" \
    --body "through the installed package" >"$W/swaks.log" 2>&1; then
	ok "smtpd accepted a message for rcpt@pkgtest.test"
else
	cat "$W/swaks.log"
	bad "swaks to 127.0.0.1:$SMTP_PORT"
fi
delivered() { grep -rlq "through the installed package" "$W/sink/mail"; }
if wait_for 60 delivered; then
	ok "the sink on $SINK_ADDR:$SINK_PORT received it"
else
	service_log
	bad "the message never reached the sink"
fi
status_delivered() {
	/usr/sbin/tern --json show status |
	    "$PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["status"]["delivered"] >= 1 else 1)'
}
if wait_for 30 status_delivered; then
	ok "tern show status counts it delivered"
else
	/usr/sbin/tern show status
	bad "tern show status does not count the delivery"
fi
acct_d() { grep -q '^d,.*rcpt@pkgtest.test' /var/log/tern/acct.csv; }
check "/var/log/tern/acct.csv has its d record" wait_for 30 acct_d
/usr/sbin/tern show status

# ------------------------------------------------------------ 5. privileges

uid_of() { id -u "$1"; }
gid_of() { id -g "$1"; }
dev_ino() { stat -L -c '%d:%i' "$1" 2>/dev/null; }
EMPTY_ID=$(dev_ino /var/empty/tern)
SPOOL_ID=$(dev_ino /var/spool/tern)
LOG_ID=$(dev_ino /var/log/tern)
check_daemon() {	# PID NAME USER CHROOT-ID CHROOT-NAME
	local ids gids
	ids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$1/status")
	gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$1/status")
	local u g
	u=$(uid_of "$3")
	g=$(gid_of "$3")
	if [ "$ids" = "$u $u $u $u" ] && [ "$gids" = "$g $g $g $g" ]; then
		ok "$2 (pid $1) runs as $3 (uid $u, gid $g)"
	else
		bad "$2 (pid $1): Uid '$ids' Gid '$gids', want $3 ($u/$g)"
	fi
	if [ "$(dev_ino "/proc/$1/root")" = "$4" ]; then
		ok "$2 (pid $1) is chrooted in $5"
	else
		bad "$2 (pid $1): root is $(readlink "/proc/$1/root"), want $5"
	fi
}
declare -A SEEN=()
CHILDREN=$(pgrep -P "$MAINPID")
for pid in $CHILDREN; do
	name=$(cat "/proc/$pid/comm" 2>/dev/null)
	case $name in
	smtpd|mgmtd)	check_daemon "$pid" "$name" _tern "$EMPTY_ID" /var/empty/tern ;;
	deliverd*)	check_daemon "$pid" "$name" _tern "$EMPTY_ID" /var/empty/tern ;;
	queued)		check_daemon "$pid" "$name" _ternq "$SPOOL_ID" /var/spool/tern ;;
	bounced)	check_daemon "$pid" "$name" _tern "$LOG_ID" /var/log/tern ;;
	*)		bad "unexpected child of ternd: $pid $name" ;;
	esac
	SEEN[${name%%[0-9]*}]=1
done
for d in smtpd queued deliverd bounced mgmtd; do
	[ -n "${SEEN[$d]:-}" ] || bad "no $d process under ternd"
done
check "ternd itself runs as root (to restart daemons and reload)" \
    grep -q '^Uid:[[:space:]]*0[[:space:]]' "/proc/$MAINPID/status"
if [ "$SYSTEMD" = 0 ]; then
	want=$(setpriv --bounding-set "$(bounding_set)" -- \
	    awk '/^CapBnd:/ { print $2 }' /proc/self/status)
	check "ternd's capabilities are the unit's CapabilityBoundingSet" \
	    grep -q "^CapBnd:[[:space:]]*$want\$" "/proc/$MAINPID/status"
	check "ternd runs with no_new_privs (NoNewPrivileges)" \
	    grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$MAINPID/status"
fi
if runuser -u _tern -- ls /var/spool/tern >/dev/null 2>&1; then
	bad "_tern can list the spool"
else
	ok "the spool is unreadable to _tern"
fi
spool_file=$(find /var/spool/tern -type f | head -n 1)
if [ -n "$spool_file" ]; then
	if runuser -u _tern -- cat "$spool_file" >/dev/null 2>&1; then
		bad "_tern can read $spool_file"
	else
		ok "_tern cannot read $spool_file"
	fi
fi
out=$(runuser -u nobody -- /usr/sbin/tern show status 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -qi 'permission denied' <<<"$out"; then
	ok "the control socket refuses nobody ($out)"
else
	bad "tern show status as nobody: exit $rc: $out"
fi
if runuser -u _tern -- /usr/sbin/tern show status >/dev/null 2>&1; then
	bad "the control socket lets _tern in"
else
	ok "the control socket refuses _tern"
fi
# Operators in the package's `tern` group may steer it without root.
sock=/run/tern/control.sock
if [ "$(stat -c '%G %a' "$sock" 2>/dev/null)" = "tern 660" ]; then
	ok "$sock is group tern, mode 660"
else
	bad "$sock is '$(stat -c '%U:%G %a' "$sock" 2>&1)', want group tern 660"
fi
tern_gid=$(getent group tern | cut -d: -f3)
if [ -n "$tern_gid" ] && setpriv --reuid=nobody --regid=nogroup \
    --groups="$tern_gid" /usr/sbin/tern show status >/dev/null 2>&1; then
	ok "a member of group tern (nobody + tern) may use the control socket"
else
	bad "a member of group tern cannot use the control socket"
fi

# ------------------------------------------------------------ 6. reload, logrotate

reload=$(unit_values ExecReload)
reload=${reload//\$MAINPID/$MAINPID}
if [ "$SYSTEMD" = 1 ]; then systemctl reload tern; else sh -c "$reload"; fi
reloaded() {
	if [ "$SYSTEMD" = 1 ]; then journalctl -u tern | grep -q 'configuration reloaded'
	else grep -q 'configuration reloaded' "$W/service.log"; fi
}
check "ExecReload ($reload) reloads the configuration" wait_for 30 reloaded
check "ternd still runs after the reload" kill -0 "$MAINPID"
logrotate_dry() {
	logrotate -d -s "$W/logrotate.state" /etc/logrotate.d/tern \
	    >"$W/logrotate.log" 2>&1
}
check "logrotate accepts /etc/logrotate.d/tern" logrotate_dry
# As logrotate.timer would: acct.csv moved aside, `tern rotate acct`.
if logrotate -f -s "$W/logrotate.state" /etc/logrotate.d/tern \
    >>"$W/logrotate.log" 2>&1; then
	ok "logrotate -f /etc/logrotate.d/tern (postrotate: tern rotate acct)"
else
	cat "$W/logrotate.log"
	bad "logrotate -f /etc/logrotate.d/tern"
fi
check "logrotate moved acct.csv aside (acct.csv.1 has the first record)" \
    grep -q 'rcpt@pkgtest.test' /var/log/tern/acct.csv.1
swaks --server "127.0.0.1:$SMTP_PORT" --from sender@localhost \
    --to second@pkgtest.test >/dev/null 2>&1
acct_new() { grep -q 'second@pkgtest.test' /var/log/tern/acct.csv; }
check "after the rotation the next record goes to a new acct.csv" \
    wait_for 30 acct_new
check "and not into the moved one" \
    sh -c "! grep -q 'second@pkgtest.test' /var/log/tern/acct.csv.1"

# ------------------------------------------------------------ 7. stop, purge

if [ "$SYSTEMD" = 1 ]; then
	systemctl stop tern
	MAINPID=
else
	stop_service
fi
gone() { local p; for p in $CHILDREN; do [ ! -d "/proc/$p" ] || return 1; done; }
check "every daemon stopped with ternd" wait_for 10 gone
kill "$SINK_PID" 2>/dev/null
wait "$SINK_PID" 2>/dev/null
SINK_PID=
# The drop-in is this test's, not the package's: dpkg would keep it.
rm -f /etc/tern/conf.d/zz-pkg-test.conf
if dpkg --purge "$PKG" >"$W/purge.log" 2>&1; then
	INSTALLED=0
	ok "dpkg --purge $PKG"
else
	cat "$W/purge.log"
	bad "dpkg --purge"
fi
# Debian keeps system users on purge; the ones this test created go.
for u in "${USERS[@]}"; do
	[[ " ${USERS_BEFORE[*]} " == *" $u "* ]] && continue
	say "removing user $u (created for this test; the package keeps it)"
	deluser --system --quiet "$u" >/dev/null 2>&1
	getent group "$u" >/dev/null && delgroup --system --quiet "$u" >/dev/null 2>&1
done
if [ "$TERN_GROUP_BEFORE" = 0 ] && getent group tern >/dev/null; then
	say "removing group tern (created for this test; the package keeps it)"
	delgroup --system --quiet tern >/dev/null 2>&1
fi
# Other Terns on this machine (tests) chroot into /var/empty/tern: the
# package's purge keeps it while one runs; if it existed, it comes back.
for d in /var/empty /var/empty/tern; do
	grep -qxF "$d directory root:root 755" <<<"$BEFORE" && [ ! -d "$d" ] &&
	    install -d -m 0755 "$d"
done
AFTER=$(snapshot)
if [ "$BEFORE" = "$AFTER" ]; then
	ok "the machine is as before (${#WATCH[@]} paths, users, package state)"
else
	bad "the machine differs from before:"
	diff <(echo "$BEFORE") <(echo "$AFTER")
fi

echo
if [ "$FAILS" -eq 0 ]; then
	say "all checks passed"
	exit 0
fi
say "$FAILS check(s) failed"
exit 1
