# bench/lib.sh - shared by run.sh, scale-1m.sh and scale-domains.sh
# (sourced, not run).  Provides:
#   bench_enter_ns "$0" "$@"  re-exec the caller inside private network,
#                       PID and mount namespaces (root only): loopback is
#                       the only interface, every port is free, and
#                       whatever is still running when the caller exits is
#                       killed with the namespace.  One run at a time (lock).
#                       BENCH_NICE=N runs it all at that nice level.
#   bench_build         build the Tern daemons and the bench tools into
#                       $TERN_BUILD (default: build/ in the repository;
#                       BENCH_NO_BUILD=1 uses it as it is).
#   cg_new NAME         make a cgroup v2 leaf $CG/NAME (exact CPU of all
#                       its processes, exited ones included)
#   in_cg NAME CMD...   run CMD inside cgroup NAME
#   cg_cpu_us NAME      CPU time (user+system) so far, microseconds
#   cg_mem NAME         sets MEM_RSS MEM_PSS (KB) and MEM_N, summed over
#                       its processes
#   cg_stop NAME        SIGTERM its processes, SIGKILL after 5 s
#   wait_listen PORT [TENTHS]
#   sink_field FILE KEY VAR  sets VAR to KEY's value in a tern-sink status
#                       file (0 if none)
#   bench_sleep SECONDS sleep without a process
#   The helpers the monitoring loop calls while an MTA is measured fork
#   nothing: the loop's subshells, cat, grep and awk every 0.2 s took up to
#   a sixth of the machine's CPU during a Tern run (perf -a), most of the
#   "no process" column, and took it from the MTA (docs/performance.md).
#   tern_conf_base PORT [SOURCE-LINE...]  the configuration every bench
#                       Tern shares: SMTP on 127.0.0.1:PORT, relaying for
#                       127.0.0.1 (extra lines go into its <source>),
#                       spool, accounting and control socket in $RUN_DIR
#   sink_start ADDR PORT   start tern-sink in cgroup "sink", status in
#                       $RUN_DIR/sink.status (it offers CHUNKING unless
#                       SINK_NO_CHUNKING=1)
#   bench_inject NAME PORT GEN-OPTIONS...   run tern-gen against PORT in
#                       cgroup "gen", wait until the receiver counted every
#                       recipient (or nothing moved for $STALL_S s), and set
#                       ROW: name, e2e msg/s, inject msg/s, CPU ms/msg of
#                       cgroup "mta", peak RSS (PSS) MB of "mta", e2e s,
#                       delivered/expected, status (tab-separated).
#                       PERF_RECORD=1: `perf record -g` every process of
#                       cgroup "mta" meanwhile, into $RUN_DIR/perf.data.
#                       STRACE_COUNT=1: `strace -c -f` each of them, into
#                       $RUN_DIR/strace.COMM.PID (STRACE_ARGS replaces -c).
#                       CTXSW=1: context switches of each of their threads
#                       before and after, into $RUN_DIR/ctxsw.0 and .1.
#                       Appends to CPU_ROWS where the machine's CPU went
#                       per message: MTA, generator, receiver (cgroup
#                       "sink"), the cgroups named in BENCH_OTHER_CG (the
#                       DNS server, Redis), what no process is charged
#                       with (loopback softirq work, and any other work on
#                       the machine: read it from a quiet one), and the
#                       whole machine's busy CPU (/proc/stat).
#   cpu_table           print CPU_ROWS as a table
# Set BENCH_STATE (default /tmp/tern-bench) before sourcing to move the
# scratch directory.

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TERN_SRC=$(cd "$BENCH_SRC/.." && pwd)
BENCH_STATE=${BENCH_STATE:-/tmp/tern-bench}
TERN_BUILD=${TERN_BUILD:-$TERN_SRC/build}
export TERN_BUILD BENCH_STATE

bench_die() { echo "${0##*/}: $*" >&2; exit 1; }

bench_enter_ns() {
	local script=$1
	shift
	[ "${TERN_BENCH_NS:-}" = 1 ] && return 0
	[ "$(id -u)" = 0 ] || bench_die "needs root (namespaces, cgroups, Postfix)"
	mkdir -p "$BENCH_STATE"
	exec 9> "$BENCH_STATE/lock"
	flock -n 9 || bench_die "another benchmark holds $BENCH_STATE/lock"
	# BENCH_NICE=-10 gives the whole run (MTA, generator, receiver alike)
	# CPU priority over other work on a shared machine.
	# Inside, every run is PID 1: the cgroup is named after this PID
	# (unique on the machine), or concurrent runs (other BENCH_STATEs)
	# shared one, mixed their CPU figures and stopped each other's
	# processes.
	exec nice -n "${BENCH_NICE:-0}" \
		unshare --net --pid --fork --mount-proc \
		env TERN_BENCH_NS=1 TERN_BENCH_ID=$$ \
		bash "$(cd "$(dirname "$script")" && pwd)/${script##*/}" "$@"
}

# Inside the namespace: loopback up, DNS pointed at 127.0.0.1 (nothing
# answers unless a script starts a server there), cgroup root made.
bench_ns_setup() {
	ip link set lo up
	printf 'nameserver 127.0.0.1\n' > "$BENCH_STATE/resolv.conf"
	mount --bind "$BENCH_STATE/resolv.conf" /etc/resolv.conf
	CGROOT=/sys/fs/cgroup
	[ -f $CGROOT/cgroup.controllers ] || CGROOT=/sys/fs/cgroup/unified
	CG=$CGROOT/tern-bench.${TERN_BENCH_ID:-$$}
	mkdir -p "$CG" || bench_die "cannot create a cgroup under $CGROOT"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_build() {
	# BENCH_NO_BUILD=1: take $TERN_BUILD as it is (e.g. a copy holding an
	# older binary for a before/after comparison).
	[ "${BENCH_NO_BUILD:-}" = 1 ] && return 0
	if [ ! -f "$TERN_BUILD/CMakeCache.txt" ]; then
		cmake -S "$TERN_SRC" -B "$TERN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
			> /dev/null || bench_die "cmake failed"
	fi
	cmake --build "$TERN_BUILD" -j"${BUILD_JOBS:-1}" --target ternd smtpd queued \
		deliverd bounced mgmtd tern bench > "$BENCH_STATE/build.log" 2>&1 ||
		bench_die "build failed, see $BENCH_STATE/build.log"
}

cg_new() { mkdir -p "$CG/$1"; }
in_cg() {
	local g=$1
	shift
	sh -c 'echo $$ > "$1/cgroup.procs" || exit 111; shift; exec "$@"' in_cg "$CG/$g" "$@"
}
# A process of another PID namespace reads as 0 (and kill 0 would signal
# our own process group).
# Busy CPU time of the whole machine (every CPU, every process, softirq
# included; idle and iowait not), ms: what the load as a whole cost.
machine_busy_ms() {
	awk '$1 == "cpu" { print int(($2 + $3 + $4 + $7 + $8) * 1000 / '"$(getconf CLK_TCK)"') }' /proc/stat
}
# CPU us of several cgroups together (0 for none).
cg_cpu_sum() {
	local g t=0
	for g in "$@"; do t=$((t + $(cg_cpu_us "$g" 2>/dev/null || echo 0))); done
	echo $t
}
cpu_table() {
	echo "CPU ms per message, by part (busy CPU of the whole machine; other work on it counts too):"
	{
		echo "run	MTA	generator	receiver	${BENCH_OTHER_NAME:-other}	no process	machine"
		printf '%s\n' "${CPU_ROWS[@]}"
	} | column -t -s '	'
}
cg_pids() { grep -vx 0 "$CG/$1/cgroup.procs" 2>/dev/null; }
# A pipe nobody writes to: `read -t` on it is a sleep without a fork.
exec {BENCH_SLEEP_FD}<> <(:)
bench_sleep() { read -r -t "$1" -u "$BENCH_SLEEP_FD" _ || :; }
cg_cpu_us() { awk '$1 == "usage_usec" { print $2 }' "$CG/$1/cpu.stat"; }
cg_mem() {
	local p l pids=() lines=()
	MEM_RSS=0 MEM_PSS=0 MEM_N=0
	{ mapfile -t pids < "$CG/$1/cgroup.procs"; } 2> /dev/null
	for p in "${pids[@]}"; do
		[ "$p" = 0 ] && continue
		{ mapfile -t lines < "/proc/$p/smaps_rollup"; } 2> /dev/null || continue
		MEM_N=$((MEM_N + 1))
		for l in "${lines[@]}"; do
			l=${l//kB/}
			case $l in
			Rss:*) MEM_RSS=$((MEM_RSS + ${l#Rss:})) ;;
			Pss:*) MEM_PSS=$((MEM_PSS + ${l#Pss:})) ;;
			esac
		done
	done
}
cg_signal() { local p; for p in $(cg_pids "$2"); do kill -"$1" "$p" 2>/dev/null; done; }
cg_wait_empty() {  # NAME TENTHS
	local i
	for ((i = 0; i < $2; i++)); do [ -z "$(cg_pids "$1")" ] && return 0; sleep 0.1; done
	return 1
}
cg_stop() {
	[ -d "$CG/$1" ] || return 0
	if [ -n "$(cg_pids "$1")" ]; then
		cg_signal TERM "$1"
		cg_wait_empty "$1" 100 || { cg_signal KILL "$1"; cg_wait_empty "$1" 50; }
	fi
	rmdir "$CG/$1" 2>/dev/null
}
bench_cleanup() {
	trap - EXIT INT TERM
	local g
	for g in "$CG"/*/; do [ -d "$g" ] && cg_stop "$(basename "$g")"; done
	rmdir "$CG" 2>/dev/null
}

wait_listen() {
	local i
	for ((i = 0; i < ${2:-300}; i++)); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

sink_field() {
	local kv line=
	printf -v "$3" 0
	{ read -r line < "$1"; } 2> /dev/null
	for kv in $line; do
		[ "${kv%%=*}" = "$2" ] && { printf -v "$3" %s "${kv#*=}"; return; }
	done
}

sink_start() {
	cg_new sink
	rm -f "$RUN_DIR/sink.status"
	in_cg sink "$TERN_BUILD/bench/tern-sink" ${SINK_NO_CHUNKING:+-D} \
		-a "$1" -p "$2" -o "$RUN_DIR/sink.status" > "$RUN_DIR/sink.log" 2>&1 &
	wait_listen "$2" 50 || bench_die "receiver did not start on $2"
}

# Per thread of cgroup "mta": comm, voluntary and involuntary context
# switches, ns on a CPU (CTXSW=1; bench/ctxsw.sh sums them per daemon).
ctxsw_snap() {
	local p t
	for p in $(cg_pids mta); do
		for t in /proc/$p/task/*; do
			echo "$(cat /proc/$p/comm)" \
				"$(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' $t/status)" \
				"$(cut -d' ' -f1 $t/schedstat)"
		done
	done 2>/dev/null
}

# The generator's command line in gen_cmd, from tern-gen's options.
# BENCH_GEN=smtp-source runs Postfix's smtp-source instead, the shared
# harness's generator (../shared/bench/e2e.sh; it costs the machine
# about three times tern-gen's CPU per message, so its no-MTA ceiling is
# lower): -c, -n, -s, -r and -m 0|1 translate, -d and -f do not.
gen_command() {
	local port=$1 o c=20 n=1000 s=4096 r=1 m=1 t=120
	shift
	if [ "${BENCH_GEN:-tern-gen}" = tern-gen ]; then
		gen_cmd=("$TERN_BUILD/bench/tern-gen" "$@" "127.0.0.1:$port")
		return
	fi
	[ "$BENCH_GEN" = smtp-source ] || bench_die "BENCH_GEN: tern-gen or smtp-source"
	command -v smtp-source > /dev/null ||
		bench_die "smtp-source missing (Debian's postfix package; ../shared/bench/install-peers.sh)"
	OPTIND=1
	while getopts c:n:s:r:d:m:T:D:Pf: o; do
		case $o in
		c) c=$OPTARG ;; n) n=$OPTARG ;; s) s=$OPTARG ;; r) r=$OPTARG ;;
		m) m=$OPTARG ;; T) t=$OPTARG ;;
		d) [ "$OPTARG" = 1 ] || bench_die "smtp-source sends to one domain" ;;
		*) bench_die "smtp-source: no equivalent of tern-gen's -$o" ;;
		esac
	done
	OPTIND=1
	case $m in 1) m= ;; 0) m=-d ;; *) bench_die "smtp-source: -m is 0 or 1" ;; esac
	gen_cmd=(timeout "$t" smtp-source $m -M src.test -s "$c" -m "$n" -l "$s" \
		-r "$r" -f a@src.test -t b@d0.bench.test "127.0.0.1:$port")
}

bench_inject() {
	local target=$1 port=$2 n=1000 nr=1 o
	shift 2
	# N and R from the generator's options, for the expected count.
	local args=("$@")
	OPTIND=1
	while getopts c:n:s:r:d:m:T:D:Pf: o; do
		case $o in n) n=$OPTARG ;; r) nr=$OPTARG ;; esac
	done
	OPTIND=1
	local expect=$((n * nr)) got=0 status rss=0 pss=0 prev=-1 moved=$SECONDS
	local cpu0 t0 t_inj= rc= last cpu1
	cg_new gen
	rm -f "$RUN_DIR/gen.done"
	local perfpid=
	if [ "${PERF_RECORD:-}" = 1 ] && [ -n "$(cg_pids mta)" ]; then
		perf record -q -F 499 -g -o "$RUN_DIR/perf.data" \
			-p "$(cg_pids mta | paste -sd,)" > "$RUN_DIR/perf.log" 2>&1 &
		perfpid=$!
		sleep 0.5
	fi
	local stracepids=() sp
	if [ "${STRACE_COUNT:-}" = 1 ]; then
		for sp in $(cg_pids mta); do
			strace ${STRACE_ARGS:--c} -f -o "$RUN_DIR/strace.$(cat /proc/$sp/comm).$sp" \
				-p "$sp" 2> /dev/null &
			stracepids+=($!)
		done
		sleep 0.5
	fi
	cpu0=$(cg_cpu_us mta 2>/dev/null || echo 0)
	local busy0 sink0 other0
	busy0=$(machine_busy_ms) sink0=$(cg_cpu_us sink 2>/dev/null || echo 0)
	other0=$(cg_cpu_sum ${BENCH_OTHER_CG:-})
	[ "${CTXSW:-}" = 1 ] && ctxsw_snap > "$RUN_DIR/ctxsw.0"
	t0=$EPOCHREALTIME
	local gen_cmd
	gen_command "$port" "${args[@]}"
	(
		in_cg gen "${gen_cmd[@]}" > "$RUN_DIR/gen.out" 2>&1
		echo "$? $EPOCHREALTIME" > "$RUN_DIR/gen.done"
	) &
	while :; do
		[ -z "$t_inj" ] && [ -f "$RUN_DIR/gen.done" ] && read -r rc t_inj < "$RUN_DIR/gen.done"
		sink_field "$RUN_DIR/sink.status" rcpts got
		[ "$got" != "$prev" ] && prev=$got moved=$SECONDS
		cg_mem mta
		((MEM_RSS > rss)) && rss=$MEM_RSS; ((MEM_PSS > pss)) && pss=$MEM_PSS
		if [ -n "$t_inj" ]; then
			((got >= expect)) && break
			[ "$rc" != 0 ] && ((SECONDS - moved >= 5)) && break
		fi
		((SECONDS - moved >= ${STALL_S:-30})) && break
		bench_sleep 0.2
	done
	local busy=$(($(machine_busy_ms) - busy0))
	sleep 1	# late duplicates still count
	sink_field "$RUN_DIR/sink.status" rcpts got
	sink_field "$RUN_DIR/sink.status" last_ms last
	cpu1=$(cg_cpu_us mta 2>/dev/null || echo 0)
	local sink=$((($(cg_cpu_us sink 2>/dev/null || echo 0) - sink0) / 1000))
	local other=$((($(cg_cpu_sum ${BENCH_OTHER_CG:-}) - other0) / 1000))
	[ "${CTXSW:-}" = 1 ] && ctxsw_snap > "$RUN_DIR/ctxsw.1"
	# perf stops by itself when a process it follows exits.
	[ -n "$perfpid" ] && { kill -INT $perfpid 2> /dev/null; wait $perfpid || :; }
	for sp in "${stracepids[@]}"; do kill -INT "$sp" 2> /dev/null; wait "$sp" || :; done
	if [ -z "$t_inj" ]; then status="STALLED"
	elif [ "$rc" != 0 ]; then status="GEN-FAILED($(cat "$RUN_DIR/gen.out"))"
	elif ((got < expect)); then status="LOST($((expect - got)))"
	elif ((got > expect)); then status="DUPLICATES($((got - expect)))"
	else status=OK
	fi
	local gen=$(($(cg_cpu_us gen) / 1000))
	cg_stop gen
	CPU_ROWS+=("$(awk -v t="$target" -v n="$n" -v c0="$cpu0" -v c1="$cpu1" \
		-v g="$gen" -v k="$sink" -v o="$other" -v b="$busy" 'BEGIN {
		m = (c1 - c0) / 1000
		printf "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", t, m / n,
		    g / n, k / n, o / n, (b - m - g - k - o) / n, b / n }')")
	ROW=$(awk -v t="$target" -v n="$n" -v t0="$t0" -v ti="${t_inj:-0}" \
		-v last="$last" -v c0="$cpu0" -v c1="$cpu1" -v rss="$rss" -v pss="$pss" \
		-v got="$got" -v want="$expect" -v st="$status" 'BEGIN {
		e2e = last > 0 ? last / 1000 - t0 : 0; inj = ti > 0 ? ti - t0 : 0
		cpu = c1 == c0 ? "-" : sprintf("%.3f", (c1 - c0) / 1000 / n)
		mem = rss == 0 ? "-" : sprintf("%.1f (%.1f)", rss / 1024, pss / 1024)
		printf "%s\t%.0f\t%.0f\t%s\t%s\t%.2f\t%d/%d\t%s\n", t,
		    (e2e > 0 ? n / e2e : 0), (inj > 0 ? n / inj : 0), cpu, mem, e2e,
		    got, want, st }')
}

tern_conf_base() {
	local port=$1 l
	shift
	echo "smtp-listener 127.0.0.1:$port"
	echo "host-name bench.tern.test"
	echo "<source 127.0.0.1>"
	echo "    always-allow-relaying yes"
	for l in "$@"; do echo "    $l"; done
	echo "</source>"
	cat <<CONF
<spool $RUN_DIR/spool>
</spool>
<acct-file $RUN_DIR/acct.csv>
    records d,b
</acct-file>
control-socket $RUN_DIR/control.sock
total-max-smtp-in 1000
CONF
}
