#!/bin/bash
# ctxsw.sh RUN_DIR MESSAGES - per daemon, from a CTXSW=1 run of
# bench/run.sh: CPU ms per message and context switches per message
# (voluntary: it waited for something; involuntary: preempted).
d=${1:?RUN_DIR}; n=${2:?MESSAGES}
awk -v n="$n" '
	FNR == NR { v0[$1] += $2; i0[$1] += $3; c0[$1] += $4; next }
	{ v1[$1] += $2; i1[$1] += $3; c1[$1] += $4 }
	END { for (c in v1) printf "%-9s cpu_ms/msg=%.3f vol/msg=%.2f invol/msg=%.2f\n",
		c, (c1[c] - c0[c]) / n / 1e6, (v1[c] - v0[c]) / n, (i1[c] - i0[c]) / n }
' "$d/ctxsw.0" "$d/ctxsw.1" | sort
