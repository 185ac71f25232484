#!/bin/bash
# bench/cluster.sh - the cost of shared limits: the same load through Tern
# without and with a <cluster> block (Redis in the benchmark's namespace),
# with limits that become shared but never bind, and the Redis commands
# each message cost (docs/cluster.md).
#
#   sudo BENCH_NICE=-10 bench/cluster.sh [run.sh options]   (-n 5000 ...)
#
# The limits (TERN_DOMAIN_EXTRA, both runs): max-smtp-out 40 (tern-start.sh)
# is a connection lease per connection; max-msg-rate 600000/m (10000/s,
# above what one node does) costs tokens taken in chunks; max-connect-rate
# a token per connection.
set -u
export TERN_DOMAIN_EXTRA="${TERN_DOMAIN_EXTRA:-    max-msg-rate 600000/m
    max-connect-rate 60000/m}"
exec "$(dirname "$0")/run.sh" "$@" tern tern-cluster
