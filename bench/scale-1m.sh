#!/bin/bash
# bench/scale-1m.sh - one million queued recipients: memory of all Tern
# daemons together, and how long a restart takes to recover that spool
# and accept mail again.
#
#   sudo bench/scale-1m.sh [-m MESSAGES] [-r RCPTS] [-c SESSIONS]
#
# Injects MESSAGES (1000) messages of RCPTS (1000) recipients each over
# SESSIONS (10) connections into a Tern whose only route (127.0.0.1:9)
# refuses every connection, so every recipient stays queued (deferred,
# retry in an hour).  Reports: injection rate, the peak and settled RSS
# (and PSS) summed over every Tern process, then stops Tern (SIGTERM),
# starts it again on the same spool and reports the time from exec to
# the SMTP listener, to the first message accepted (250 after fsync),
# and to `tern show status` counting every recipient again.  Limits the
# issue sets: RSS <= 512 MB, accepting mail <= 10 s after the restart.
# Bounded: injection at most 600 s, restart checks at most 120 s.
# Environment: TERN_BUILD, BENCH_STATE as for run.sh.
set -u
. "$(dirname "$0")/lib.sh"
bench_enter_ns "$0" "$@"

MSGS=1000 RCPTS=1000 SESS=10
while getopts m:r:c:h opt; do
	case $opt in
	m) MSGS=$OPTARG ;; r) RCPTS=$OPTARG ;; c) SESS=$OPTARG ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
EXPECT=$((MSGS * RCPTS))
PORT=2530
bench_ns_setup
bench_build
GEN=$TERN_BUILD/bench/tern-gen TERN=$TERN_BUILD/cli/tern
RUN_DIR=$BENCH_STATE/run/scale-1m
rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
CONF=$RUN_DIR/tern.conf
{
	tern_conf_base $PORT
	cat <<CONF
<domain *>
    route 127.0.0.1:9
    retry-after 1h
</domain>
CONF
} > "$CONF"

tern_up() {
	cg_new mta
	in_cg mta "$TERN_BUILD/ternd/ternd" -d -f "$CONF" 2>> "$RUN_DIR/ternd.log" &
}
queued_rcpts() {  # recipients queued, from `tern show status`
	timeout 10 "$TERN" -f "$CONF" show status 2>/dev/null |
		awk '$1 == "queue.recipients" { print $2 }'
}
PEAK_RSS=0 PEAK_PSS=0
sample_mem() {
	cg_mem mta
	((MEM_RSS > PEAK_RSS)) && PEAK_RSS=$MEM_RSS
	((MEM_PSS > PEAK_PSS)) && PEAK_PSS=$MEM_PSS
	MEM_NOW="$((MEM_RSS / 1024)) MB RSS ($((MEM_PSS / 1024)) MB PSS, $MEM_N processes)"
}

tern_up
wait_listen $PORT 300 || bench_die "Tern did not start (see $RUN_DIR/ternd.log)"
cg_new gen
t0=$EPOCHREALTIME
in_cg gen "$GEN" -c "$SESS" -n "$MSGS" -r "$RCPTS" -m 0 -s 2048 -T 600 \
	-D 'd%u.unreachable.test' "127.0.0.1:$PORT" > "$RUN_DIR/gen.out" 2>&1 &
GENPID=$!
while kill -0 $GENPID 2>/dev/null; do sample_mem; sleep 0.5; done
wait $GENPID
GENRC=$?
t1=$EPOCHREALTIME
echo "inject: $(cat "$RUN_DIR/gen.out") (rc $GENRC)"
awk -v a="$t0" -v b="$t1" -v n="$EXPECT" 'BEGIN { printf "inject: %d recipients in %.1f s = %.0f rcpt/s\n", n, b - a, n / (b - a) }'
# Let the scheduler try (and fail) the first deliveries and settle.
for i in 1 2 3 4 5 6 7 8 9 10; do sample_mem; sleep 1; done
Q1=$(queued_rcpts)
echo "queued after injection: ${Q1:-?} recipients (expected $EXPECT)"
echo "memory settled: $MEM_NOW; peak $((PEAK_RSS / 1024)) MB RSS ($((PEAK_PSS / 1024)) MB PSS)"
du -sh "$RUN_DIR/spool" | awk '{ print "spool on disk: " $1 }'

cg_stop mta
echo "stopped; restarting on the same spool"
PEAK1=$PEAK_RSS PEAK_RSS=0 PEAK_PSS=0
r0=$EPOCHREALTIME
tern_up
wait_listen $PORT 1200 || bench_die "Tern did not come back"
r1=$EPOCHREALTIME
cg_new probe
for ((i = 0; i < 1200; i++)); do
	in_cg probe "$GEN" -c 1 -n 1 -r 1 -T 5 "127.0.0.1:$PORT" > "$RUN_DIR/probe.out" 2>&1 && break
	sleep 0.05
done
r2=$EPOCHREALTIME
Q2=
for ((i = 0; i < 240; i++)); do
	Q2=$(queued_rcpts)
	[ -n "$Q2" ] && ((Q2 >= EXPECT)) && break
	sample_mem
	sleep 0.5
done
r3=$EPOCHREALTIME
for i in 1 2 3; do sample_mem; sleep 1; done
awk -v a="$r0" -v b="$r1" -v c="$r2" -v d="$r3" 'BEGIN {
	printf "restart: listening after %.2f s, first message accepted (250) after %.2f s, all recipients back in the queue after %.2f s\n", b - a, c - a, d - a }'
echo "queued after restart: ${Q2:-?} recipients (expected $EXPECT + 1 probe)"
echo "memory after restart: $MEM_NOW; peak $((PEAK_RSS / 1024)) MB RSS ($((PEAK_PSS / 1024)) MB PSS)"
((PEAK1 > PEAK_RSS)) && PEAK_RSS=$PEAK1
awk -v a="$r0" -v c="$r2" -v rss="$PEAK_RSS" 'BEGIN {
	ok = (c - a <= 10) && (rss / 1024 <= 512)
	printf "verdict: %s (accepting mail %.1f s <= 10 s; RSS %d MB <= 512 MB)\n", ok ? "PASS" : "FAIL", c - a, rss / 1024
	exit !ok }'
