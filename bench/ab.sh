#!/bin/bash
# bench/ab.sh - before/after: the same bench/run.sh load through several
# Tern builds, one after the other, ROUNDS times, so that each pair is
# measured under the same conditions on a shared machine.
#
#   bench/ab.sh [-n MESSAGES] [-r ROUNDS] BUILD_DIR...
#
# Each BUILD_DIR is a Tern build (cmake --build DIR, plus its `bench`
# target).  Prints one line per run: build, then run.sh's row (e2e msg/s,
# inject msg/s, MTA CPU ms/msg, peak RSS, e2e s, delivered, status) and
# the load average after it.  Other run.sh options: RUN_ARGS="-c 100".
set -u
N=5000 R=2
while getopts n:r:h opt; do
	case $opt in
	n) N=$OPTARG ;; r) R=$OPTARG ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$R"); do
	for b in "$@"; do
		# setsid: run.sh's namespace and cleanup stay out of our group
		setsid env BENCH_NO_BUILD=1 TERN_BUILD="$b" \
			"$here/run.sh" -n "$N" ${RUN_ARGS:-} tern > "$out" 2>&1 < /dev/null
		row=$(grep '^tern ' "$out" | tr -s ' ')
		[ -n "$row" ] || row="FAILED: $(tail -1 "$out")"
		echo "$b ${row#tern } load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
