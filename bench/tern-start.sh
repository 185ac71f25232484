#!/bin/bash
# tern-start.sh - start Tern as the `ours` target of the shared end-to-end
# benchmark (../shared/bench/e2e.sh): listen on 127.0.0.1:$PORT, relay
# everything to 127.0.0.1:$SINK_PORT, spool and logs in $RUN_DIR.
#
#   OURS_PORT=2530 OURS_START=/path/to/tern/bench/tern-start.sh \
#       ../shared/bench/e2e.sh -n 5000 ours
#
# TERN_BUILD (default: the build/ next to this script) picks the binaries.
set -eu
. "$(dirname "$0")/lib.sh"
{
	tern_conf_base "$PORT"
	cat <<CONF
<domain *>
    route 127.0.0.1:$SINK_PORT
    max-smtp-out 40
    retry-after 5s
${TERN_DOMAIN_EXTRA:-}
</domain>
${TERN_EXTRA:-}
CONF
} > "$RUN_DIR/tern.conf"
exec "$TERN_BUILD/ternd/ternd" -d -f "$RUN_DIR/tern.conf" 2> "$RUN_DIR/ternd.log"
