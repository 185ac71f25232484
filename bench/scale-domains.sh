#!/bin/bash
# bench/scale-domains.sh - many recipient domains through many VMTAs:
# throughput with DOMAINS recipient domains against the single-domain
# case, same load, same Tern, same run.
#
#   sudo bench/scale-domains.sh [-n MESSAGES] [-d DOMAINS] [-v VMTAS]
#                               [-c SESSIONS] [-m PER_CONN] [-s BYTES]
#
# Defaults: 20000 messages of one recipient, 10000 domains, 50 VMTAs
# (127.0.1.1-127.0.1.50, a <virtual-mta-pool> the <source> selects, so
# messages take turns over them), 20 sessions, 1 message per connection,
# 4096 bytes.  Mail goes by MX: an authoritative server on 127.0.0.1:53
# serves bench.test with dN.bench.test MX mx.dN.bench.test, A 127.1.X.Y
# for every domain, and one tern-sink listens on 0.0.0.0:25 for all
# those addresses.  Nothing is routed by hand.  The server is NSD (from
# Debian, installed on first use with its own service kept from
# starting, run only inside the benchmark's namespace), so that the
# DNS server costs the machine little; BENCH_DNS=python uses
# bench/dns-server.py (dnslib) instead, as before.  Runs "1 domain" then "DOMAINS domains", each with
# a fresh spool, and prints one table and the ratio (target: the many-
# domain throughput at least 80% of the single-domain one).
# Environment: TERN_BUILD, BENCH_STATE, STALL_S as for run.sh;
#   TERN_EXTRA_CONF: lines appended to Tern's configuration (experiments);
#   BENCH_DNS: nsd (default) or python.
set -u
. "$(dirname "$0")/lib.sh"
BENCH_DNS=${BENCH_DNS:-nsd}

# Before the namespace (it has no network): NSD from the Debian archive.
# policy-rc.d keeps the package's service from starting on the host,
# and it is disabled for later boots: only our private instance runs.
nsd_install() {
	local policy=/usr/sbin/policy-rc.d made=
	command -v nsd > /dev/null && return 0
	[ "$(id -u)" = 0 ] || return 1
	echo "scale-domains.sh: NSD missing, installing it (apt-get install nsd)" >&2
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && made=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nsd > /dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq nsd > /dev/null 2>&1; }
	[ -n "$made" ] && rm -f $policy
	systemctl disable --now nsd > /dev/null 2>&1
	update-rc.d nsd disable > /dev/null 2>&1
	command -v nsd > /dev/null
}
if [ "${TERN_BENCH_NS:-}" != 1 ] && [ "$BENCH_DNS" = nsd ] && ! nsd_install; then
	echo "scale-domains.sh: no NSD, using bench/dns-server.py" >&2
	export BENCH_DNS=python
fi
bench_enter_ns "$0" "$@"

N=20000 D=10000 V=50 C=20 M=1 S=4096
while getopts n:d:v:c:m:s:h opt; do
	case $opt in
	n) N=$OPTARG ;; d) D=$OPTARG ;; v) V=$OPTARG ;; c) C=$OPTARG ;;
	m) M=$OPTARG ;; s) S=$OPTARG ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
PORT=2530
bench_ns_setup
bench_build
[ "$BENCH_DNS" = nsd ] || /usr/bin/python3 -c 'import dnslib' 2> /dev/null ||
	bench_die "needs python3-dnslib (apt-get install python3-dnslib)"

tern_conf() {
	local i
	tern_conf_base $PORT "default-virtual-mta pool"
	echo "name-server 127.0.0.1:53"
	cat <<CONF
<domain *>
    max-smtp-out 20
    retry-after 5s
</domain>
CONF
	for ((i = 1; i <= V; i++)); do
		printf '<virtual-mta v%d>\n    smtp-source-host 127.0.1.%d v%d.bench.tern.test\n</virtual-mta>\n' $i $i $i
	done
	echo '<virtual-mta-pool pool>'
	for ((i = 1; i <= V; i++)); do echo "    virtual-mta v$i"; done
	echo '</virtual-mta-pool>'
	printf '%s\n' "${TERN_EXTRA_CONF:-}"
}

# The zone bench/dns-server.py answers, as a zone file: dN.bench.test
# MX 10 mx.dN.bench.test, mx.dN.bench.test A 127.1.X.Y (N from 0).
nsd_zone() {  # DOMAINS
	awk -v n="$1" 'BEGIN {
		print "$ORIGIN bench.test.\n$TTL 3600"
		print "@ SOA ns hostmaster 1 3600 600 86400 3600\n@ NS ns\nns A 127.0.0.1"
		for (i = 0; i < n; i++)
			printf "d%d MX 10 mx.d%d\nmx.d%d A 127.1.%d.%d\n", i, i, i,
			    int(i / 250) % 256, i % 250 + 1
	}'
}

# NSD in the foreground, everything under $RUN_DIR/nsd, as root (no
# chroot, no user change), no rate limiting (every query comes from
# 127.0.0.1), control on a Unix socket for the query count.
nsd_conf() {
	local d=$RUN_DIR/nsd
	cat <<CONF
server:
	ip-address: 127.0.0.1@53
	do-ip6: no
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "$d"
	database: ""
	zonelistfile: "$d/zone.list"
	xfrdfile: "$d/xfrd.state"
	xfrdir: "$d"
	pidfile: "$d/nsd.pid"
	logfile: "$d/nsd.log"
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: yes
	control-interface: "$d/control.sock"
zone:
	name: bench.test
	zonefile: bench.test.zone
CONF
}

dns_start() {  # DOMAINS
	cg_new dns
	if [ "$BENCH_DNS" = python ]; then
		in_cg dns /usr/bin/python3 "$BENCH_SRC/dns-server.py" 127.0.0.1 53 \
			> "$RUN_DIR/dns.log" 2>&1 &
	else
		mkdir -p "$RUN_DIR/nsd"
		nsd_zone "$1" > "$RUN_DIR/nsd/bench.test.zone"
		nsd_conf > "$RUN_DIR/nsd/nsd.conf"
		in_cg dns nsd -d -c "$RUN_DIR/nsd/nsd.conf" > "$RUN_DIR/dns.log" 2>&1 &
	fi
	wait_listen 53 100 || bench_die "DNS server did not start (see $RUN_DIR/dns.log)"
}

# The number of queries answered, as the Python server prints it.
dns_stop() {
	if [ "$BENCH_DNS" = nsd ]; then
		nsd-control -c "$RUN_DIR/nsd/nsd.conf" stats_noreset 2> /dev/null |
			awk -F= '$1 == "num.queries" { print "queries=" $2 }' >> "$RUN_DIR/dns.log"
	fi
	cg_stop dns
}

ROWS=() CPU_ROWS=() BENCH_OTHER_CG=dns BENCH_OTHER_NAME="DNS server"
scenario() {  # NAME DOMAINS
	RUN_DIR=$BENCH_STATE/run/domains-$2
	rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
	dns_start "$2"
	sink_start 0.0.0.0 25
	tern_conf > "$RUN_DIR/tern.conf"
	cg_new mta
	in_cg mta "$TERN_BUILD/ternd/ternd" -d -f "$RUN_DIR/tern.conf" \
		2> "$RUN_DIR/ternd.log" &
	wait_listen $PORT 300 || bench_die "Tern did not start (see $RUN_DIR/ternd.log)"
	sleep "${SETTLE_S:-2}"
	bench_inject "$1" $PORT -c "$C" -n "$N" -s "$S" -r 1 -d "$2" -m "$M" -T 600
	ROWS+=("$ROW")
	cg_stop mta; cg_stop sink; dns_stop
	# How many queues and DNS queries it took.
	ls "$RUN_DIR/spool" > /dev/null 2>&1
	echo "$1: $(cat "$RUN_DIR/dns.log" | tail -1), $(cut -d, -f1 "$RUN_DIR/acct.csv" 2>/dev/null | grep -c '^d') d rows" >&2
}

[ "${SKIP_SINGLE:-}" = 1 ] || scenario "1 domain, $V VMTAs" 1
scenario "$D domains, $V VMTAs" "$D"

echo
echo "N=$N sessions=$C per-conn=$M size=$S; $(nproc) CPUs, load average" \
	"after the run $(awk '{ print $1, $2, $3 }' /proc/loadavg);" \
	"Tern $(git -C "$TERN_SRC" rev-parse --short HEAD 2>/dev/null)"
{
	echo "scenario	e2e msg/s	inject msg/s	MTA CPU ms/msg	peak RSS MB (PSS)	e2e s	delivered/expected	status"
	printf '%s\n' "${ROWS[@]}"
} | column -t -s '	'
cpu_table
printf '%s\n' "${ROWS[@]}" | awk -F'\t' '
	{ rate[NR] = $2; ok = ok && $8 == "OK" } BEGIN { ok = 1 }
	END {
		r = rate[1] > 0 ? rate[2] / rate[1] : 0
		printf "many domains / one domain: %.0f%% (target >= 80%%): %s\n", 100 * r, (r >= 0.8 && ok) ? "PASS" : "FAIL"
		exit !(r >= 0.8 && ok)
	}'
