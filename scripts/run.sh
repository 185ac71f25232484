#!/usr/bin/env bash
# run.sh - install the dependencies, build Tern and run it in the foreground
# on the quick-start config etc/tern-local.conf: SMTP on 127.0.0.1:2525,
# spool, accounting file and control socket under ./run/ (not /var).
# Stop it with Ctrl-C.  Extra arguments go to ternd (e.g. -v).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
mkdir -p run
exec build/ternd/ternd -d -f etc/tern-local.conf "$@"
