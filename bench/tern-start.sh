#!/bin/sh
# tern-start.sh - start Tern as the `ours` target of the shared end-to-end
# benchmark (../shared/bench/e2e.sh): listen on 127.0.0.1:$PORT, relay
# everything to 127.0.0.1:$SINK_PORT, spool and logs in $RUN_DIR.
#
#   OURS_PORT=2530 OURS_START=/path/to/tern/bench/tern-start.sh \
#       ../shared/bench/e2e.sh -n 5000 ours
#
# TERN_BUILD (default: the build/ next to this script) picks the binaries.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${TERN_BUILD:-$here/build}
cat > "$RUN_DIR/tern.conf" <<CONF
smtp-listener 127.0.0.1:$PORT
host-name bench.tern.test
<source 127.0.0.1>
    always-allow-relaying yes
</source>
<spool $RUN_DIR/spool>
</spool>
<acct-file $RUN_DIR/acct.csv>
    records d,b
</acct-file>
control-socket $RUN_DIR/control.sock
total-max-smtp-in 1000
<domain *>
    route 127.0.0.1:$SINK_PORT
    max-smtp-out 40
    retry-after 5s
</domain>
CONF
exec "$build/ternd/ternd" -d -f "$RUN_DIR/tern.conf" 2> "$RUN_DIR/ternd.log"
