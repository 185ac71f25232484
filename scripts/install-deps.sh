#!/usr/bin/env bash
# install-deps.sh - install everything Tern needs to build, run and test,
# from Debian 12 packages.
#
# Idempotent and quiet: when every package is already installed it prints
# nothing and touches nothing (no apt-get update).  Otherwise it runs
# apt-get update once and installs only the missing packages.  Runs as
# root, or through sudo when not root.
#
# It also creates the system users the daemons run as when ternd is
# started as root (_tern, and _ternq for queued), if they are missing.
set -euo pipefail

USERS=(_tern _ternq)

PKGS=(
	# build
	build-essential cmake pkg-config
	# fuzzing and sanitizers: clang, libFuzzer/ASan runtimes, symbolizer
	clang libclang-rt-14-dev llvm-14
	# libraries
	libuv1-dev libudns-dev libssl-dev libbsd-dev libjansson-dev
	libcrypt-dev
	# cluster: shared throttles/suppression in Redis, events to RabbitMQ
	libhiredis-dev librabbitmq-dev
	# mgmtd's HTTP server (h2o on libuv)
	libh2o-dev
	# unit tests
	libcmocka-dev
	# integration tests (always run with /usr/bin/python3)
	python3 python3-pytest python3-pytest-timeout python3-pytest-xdist
	python3-aiosmtpd
	python3-dnslib python3-dkim swaks
	# cluster tests start these on loopback themselves
	redis-server rabbitmq-server
	# event shipping tests read what Tern published to RabbitMQ
	python3-pika
	# mgmtd tests: Prometheus text parser, the web page in a real browser
	python3-prometheus-client chromium
	# the SNMP agent (net-snmp's BER/PDU code) and its tests' tools
	libsnmp-dev snmp
	# tools the scripts and tests call
	openssl procps
	# the Debian package and its test (scripts/pkg-test.sh), man pages
	debhelper adduser logrotate groff-base
)

missing=()
installed=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PKGS[@]}" \
    2>/dev/null | awk '$1 == "installed" { print $2 }' | sed 's/:.*//') || true
for p in "${PKGS[@]}"; do
	if ! grep -qxF "$p" <<<"$installed"; then
		missing+=("$p")
	fi
done
nousers=()
for u in "${USERS[@]}"; do
	getent passwd "$u" >/dev/null || nousers+=("$u")
done

if [ "${#missing[@]}" -eq 0 ] && [ "${#nousers[@]}" -eq 0 ]; then
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		if [ "${#missing[@]}" -eq 0 ]; then
			# Only root needs the users (ternd drops privileges
			# only when started as root).
			exit 0
		fi
		echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
		exit 1
	fi
	SUDO=(sudo)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

for u in "${nousers[@]}"; do
	echo "install-deps: creating system user $u" >&2
	"${SUDO[@]}" useradd --system --user-group --no-create-home \
	    --home-dir /var/empty/tern --shell /usr/sbin/nologin "$u"
done
echo "install-deps: done" >&2
