#!/bin/bash
# bench/run.sh - the same SMTP load through Tern, through Postfix and
# straight into the receiver (the no-MTA ceiling), in one run; one table.
#
#   sudo bench/run.sh [-n MESSAGES] [-c SESSIONS] [-s BYTES] [-r RCPTS]
#                     [-d DOMAINS] [-m PER_CONN] [-T SECONDS] [-g GEN]
#                     [TARGET...]
#
#   TARGET     direct | tern | postfix        (default: all three)
#              | tern-cluster: tern with a <cluster> block and a
#                redis-server in the namespace (docs/cluster.md); prints
#                the Redis commands per message
#                (TERN_DOMAIN_EXTRA: more lines for tern's <domain *>,
#                e.g. the limits that become shared; bench/cluster.sh)
#   -n         messages per target                          (5000)
#   -c         concurrent sessions of the generator         (20)
#   -s         body bytes                                   (4096)
#   -r         recipients per message                       (1)
#   -d         recipient domains (all routed to the sink)   (1)
#   -m         messages per connection, 0 = unlimited       (1)
#   -T         injection time bound per target, seconds     (120)
#   -g         generator: tern-gen, or smtp-source (Postfix's, the one
#              the shared harness ../shared/bench/e2e.sh uses; about
#              three times tern-gen's CPU per message: a lower no-MTA
#              ceiling; -d and -m other than 0/1 are tern-gen's only)
# Environment: TERN_BUILD (build dir, default build/; built if needed),
#   BENCH_STATE (/tmp/tern-bench: lock, per-target run dirs with logs),
#   STALL_S (30: give up when the receiver counts nothing for that long),
#   OUT (append the rows as TSV to this file).
#
# Everything runs in private network/PID/mount namespaces (loopback only;
# whatever is left is killed with them), each role in its own cgroup v2
# leaf: MTA CPU is exact, exited processes included.  Tern and Postfix
# both fsync a message before their 250; Postfix keeps its defaults
# (config from bench/postfix/, the shared harness's peer config).  The
# generator is bench/tern-gen.c (-g: or smtp-source), the receiver
# bench/tern-sink.c.
set -u
. "$(dirname "$0")/lib.sh"
bench_enter_ns "$0" "$@"

N=5000 C=20 S=4096 R=1 D=1 M=1 T=120
BENCH_GEN=${BENCH_GEN:-tern-gen}
while getopts n:c:s:r:d:m:T:g:h opt; do
	case $opt in
	n) N=$OPTARG ;; c) C=$OPTARG ;; s) S=$OPTARG ;; r) R=$OPTARG ;;
	d) D=$OPTARG ;; m) M=$OPTARG ;; T) T=$OPTARG ;; g) BENCH_GEN=$OPTARG ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TARGETS=${*:-direct tern postfix}
STALL_S=${STALL_S:-30}
SINK_PORT=2500 TERN_PORT=2530 POSTFIX_PORT=2525

bench_ns_setup
bench_build
ROWS=()

postfix_start() {
	if ! command -v postfix > /dev/null; then
		if [ -x /work/shared/bench/install-peers.sh ] && [ "${INSTALL_POSTFIX:-1}" = 1 ]; then
			echo "run.sh: Postfix missing, installing it (install-peers.sh)" >&2
			/work/shared/bench/install-peers.sh > "$RUN_DIR/install.log" 2>&1
		fi
		command -v postfix > /dev/null || return 1
	fi
	mkdir -p "$RUN_DIR/etc" "$RUN_DIR/spool"
	for f in main.cf master.cf; do
		sed -e "s|@PORT@|$POSTFIX_PORT|g" -e "s|@SINK_PORT@|$SINK_PORT|g" \
		    -e "s|@RUN_DIR@|$RUN_DIR|g" "$BENCH_SRC/postfix/$f" > "$RUN_DIR/etc/$f"
	done
	(cd "$RUN_DIR" && in_cg mta postfix -c "$RUN_DIR/etc" start) \
		> "$RUN_DIR/start.log" 2>&1
}

tern_start() {
	(cd "$RUN_DIR" && PORT=$TERN_PORT SINK_PORT=$SINK_PORT RUN_DIR=$RUN_DIR \
		in_cg mta "$BENCH_SRC/tern-start.sh") > "$RUN_DIR/start.log" 2>&1 &
}

# tern-cluster: Redis in its own cgroup (not counted as MTA CPU), then
# Tern with <cluster> pointing at it.
REDIS_PORT=6379
redis_start() {
	cg_new redis
	in_cg redis redis-server --bind 127.0.0.1 --port $REDIS_PORT \
		--save "" --appendonly no --dir "$RUN_DIR" \
		> "$RUN_DIR/redis.log" 2>&1 &
	wait_listen $REDIS_PORT 100 || bench_die "redis-server did not start"
	export TERN_EXTRA="<cluster>
    redis 127.0.0.1:$REDIS_PORT
    node-name bench
</cluster>"
}

# Redis round trips per message: the commands Tern sent (INFO
# commandstats also counts those its scripts ran inside Redis).
redis_per_msg() {
	redis-cli -p $REDIS_PORT INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$1" '
		/^cmdstat_/ { c = substr($1, 9); if (c == "info") next; all += $3
			if (c ~ /^(evalsha|eval|zrem|ping|auth|script.*|asking)$/) { rt += $3; by = by " " c "=" $3 } }
		END { printf "tern-cluster: %.4f Redis round trips per message (%d:%s; %d commands run in Redis, scripts included)\n", rt / n, rt, by, all }'
}

# One target: start receiver and MTA, inject, wait for the receiver to
# count every recipient, stop everything, append a row to ROWS.
bench_target() {
	local target=$1 port expect=$((N * R))
	RUN_DIR=$BENCH_STATE/run/$target
	rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
	cg_new mta
	sink_start 127.0.0.1 $SINK_PORT
	case $target in
	direct) port=$SINK_PORT ;;
	tern) port=$TERN_PORT; tern_start ;;
	tern-cluster) port=$TERN_PORT; redis_start; tern_start
		BENCH_OTHER_CG=redis BENCH_OTHER_NAME=Redis ;;
	postfix) port=$POSTFIX_PORT
		if ! postfix_start; then
			ROWS+=("postfix	-	-	-	-	-	0/$expect	SKIPPED(postfix not installed)")
			cg_stop gen; cg_stop mta; cg_stop sink; return
		fi ;;
	esac
	wait_listen $port 300 || bench_die "$target is not listening on $port (see $RUN_DIR)"
	[ "$target" = direct ] || sleep "${SETTLE_S:-2}"

	bench_inject "$target" $port -c "$C" -n "$N" -s "$S" -r "$R" -d "$D" -m "$M" -T "$T"
	[ "$target" = postfix ] && postfix -c "$RUN_DIR/etc" stop > /dev/null 2>&1
	[ "$target" = tern-cluster ] && REDIS_LINE=$(redis_per_msg "$N")
	cg_stop gen; cg_stop mta; cg_stop sink
	[ "$target" = tern-cluster ] && { cg_stop redis; unset TERN_EXTRA; }
	ROWS+=("$ROW")
}

for t in $TARGETS; do
	case $t in direct | tern | tern-cluster | postfix) bench_target "$t" ;;
	*) bench_die "unknown target $t" ;; esac
done

load=$(awk '{ print $1, $2, $3 }' /proc/loadavg)
commit=$(git -C "$TERN_SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo
echo "N=$N sessions=$C size=$S rcpts=$R domains=$D per-conn=$M generator=$BENCH_GEN; $(nproc) CPUs," \
	"load average after the run $load; Tern $commit"
{
	echo "target	e2e msg/s	inject msg/s	MTA CPU ms/msg	peak RSS MB (PSS)	e2e s	delivered/expected	status"
	printf '%s\n' "${ROWS[@]}"
} | column -t -s '	'
cpu_table
[ -n "${REDIS_LINE:-}" ] && echo "$REDIS_LINE"
[ -n "${OUT:-}" ] && printf '%s\n' "${ROWS[@]}" | sed "s|^|$(date -u +%FT%TZ)	N=$N,c=$C,s=$S,r=$R,d=$D,m=$M,g=$BENCH_GEN	|" >> "$OUT"
# Ratios the performance issue asks for (only when all three ran).
printf '%s\n' "${ROWS[@]}" | awk -F'\t' '
	{ rate[$1] = $2; cpu[$1] = $4 }
	END {
		if (rate["tern"] > 0 && rate["postfix"] > 0)
			printf "Tern/Postfix throughput %.2fx (target >= 3); CPU per message %.2f of Postfix'"'"'s (target <= 0.33)\n",
			    rate["tern"] / rate["postfix"], cpu["tern"] / cpu["postfix"]
		if (rate["tern"] > 0 && rate["tern-cluster"] > 0)
			printf "tern-cluster at %.1f%% of tern without <cluster> (target >= 90%%)\n", 100 * rate["tern-cluster"] / rate["tern"]
		if (rate["tern"] > 0 && rate["direct"] > 0)
			printf "Tern at %.0f%% of the no-MTA ceiling (target >= 50%%)\n", 100 * rate["tern"] / rate["direct"]
	}'
printf '%s\n' "${ROWS[@]}" | grep -v -e '	OK$' -e '	SKIPPED' -q && exit 1
exit 0
