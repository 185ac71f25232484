#!/usr/bin/env bash
# test.sh - install the dependencies, build Tern and run every test.
# This is what CI runs (.ci/run).
#
# Stages, each counted as passed or failed:
#   deps               scripts/install-deps.sh
#   build              cmake build in build/ (RelWithDebInfo)
#   unit               ctest in build/ (cmocka, tests/unit)
#   integration        pytest tests/integration against build/
#   package            (root only) scripts/pkg-test.sh: build the .deb,
#                      install it, run the service, send a message through
#                      it, check privilege separation, purge it
#   asan-build         cmake -DTERN_SANITIZE=ON build in build-asan/
#   asan-unit          ctest in build-asan/
#   asan-integration   pytest against build-asan/ (TERN_BUILD=build-asan);
#                      any sanitizer report in the daemons' stderr fails
#                      the test that started them (sanitizer builds of the
#                      daemons neither chroot nor change users, so that
#                      LeakSanitizer can read /proc at exit)
#   fuzz-libternc      common/*.c compiled with clang for libFuzzer
#   fuzz:NAME          tests/fuzz/fuzz_NAME.c built with
#                      clang -fsanitize=fuzzer,address,undefined and run
#                      FUZZ_SECONDS from the seeds in tests/fuzz/corpus/NAME/
# The last line is "N passed, N failed[, N skipped]"; the exit status is 0
# only when no stage failed.  A stage that finds nothing to run (no unit
# test, no pytest test, no fuzz target) fails.
#
# A fuzz target is linked with libternc and with the daemon sources it
# needs: for every `#include "x.h"` found in a daemon folder (smtpd/,
# deliverd/, ...) next to an x.c, that x.c (transitively); more can be
# named in the target with a line containing `FUZZ_EXTRA: dir/file.c ...`.
#
# Environment (the defaults are what CI runs):
#   TERN_TEST_QUICK=1    skip the asan and fuzz stages
#   TERN_TEST_SKIP="..." skip stage groups: unit integration package asan
#                        fuzz
#   FUZZ_SECONDS=N       time per fuzz target (default 20)
#   PYTEST_ARGS="..."    extra pytest arguments (e.g. "-k reuse -x")
#   TERN_PYTEST_WORKERS=N  integration tests run in N processes at once
#                        (pytest-xdist; default 3: the tests mostly wait on
#                        timers and sockets, not on the CPU); 0 = serially
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
SKIP=" ${TERN_TEST_SKIP:-} "
if [ "${TERN_TEST_QUICK:-0}" = 1 ]; then
	SKIP="$SKIP asan fuzz "
fi
ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
DAEMON_DIRS=(ternd smtpd queued deliverd bounced mgmtd cli)

passed=0 failed=0 skipped=0
results=()
T_START=$SECONDS

# stage NAME COMMAND...: run one stage, count it, return its status.
stage() {
	local name=$1 rc t0=$SECONDS
	shift
	echo
	echo "==== [$name] start ($(date -u +%H:%M:%S))"
	"$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		results+=("PASS  $name ($((SECONDS - t0))s)")
		echo "==== [$name] PASS ($((SECONDS - t0))s)"
	else
		failed=$((failed + 1))
		results+=("FAIL  $name (exit $rc, $((SECONDS - t0))s)")
		echo "==== [$name] FAIL (exit $rc, $((SECONDS - t0))s)"
	fi
	return "$rc"
}

# not_run NAME WHY: a stage that could not run because another failed.
not_run() {
	failed=$((failed + 1))
	results+=("FAIL  $1 (not run: $2)")
	echo "==== [$1] FAIL (not run: $2)"
}

skip() {
	skipped=$((skipped + 1))
	results+=("SKIP  $1")
}

skipping() { [[ "$SKIP" == *" $1 "* ]]; }

# maybe GROUP NAME COMMAND...: the stage, unless GROUP is skipped.
maybe() {
	local group=$1
	shift
	if skipping "$group"; then
		skip "$1"
	else
		stage "$@"
	fi
}

# not_run_unless GROUP NAME WHY: a failed dependency, unless GROUP is skipped.
not_run_unless() {
	if skipping "$1"; then
		skip "$2"
	else
		not_run "$2" "$3"
	fi
}

summary() {
	echo
	echo "==== summary ($((SECONDS - T_START))s)"
	printf '  %s\n' "${results[@]}"
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit
}

build_tree() {	# DIR CMAKE-ARGS...
	local dir=$1
	shift
	cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j"$JOBS"
}

unit_tests() {	# DIR
	ctest --test-dir "$1" --output-on-failure --no-tests=error \
	    --timeout 300 -j"$JOBS"
}

integration_tests() {	# BUILD-DIR
	local rc par=()
	if [ "${TERN_PYTEST_WORKERS:-3}" -gt 0 ]; then
		par=(-n "${TERN_PYTEST_WORKERS:-3}")
	fi
	# shellcheck disable=SC2086
	env TERN_BUILD="$1" PYTHONDONTWRITEBYTECODE=1 \
	    timeout -k 30 1200 "$PY" -m pytest -p no:cacheprovider -v \
	    "${par[@]}" tests/integration ${PYTEST_ARGS:-}
	rc=$?
	if [ "$rc" -eq 5 ]; then
		echo "pytest collected no tests: that is a failure" >&2
	elif [ "$rc" -eq 124 ]; then
		echo "pytest did not finish within 20 minutes" >&2
	fi
	return "$rc"
}

# ---------------------------------------------------------------- fuzzing

FUZZ_DIR="build-fuzz"
FUZZ_CFLAGS=(-g -O1 -std=gnu11 -fno-omit-frame-pointer -D_GNU_SOURCE
	     '-DTERN_VERSION="fuzz"' -Icommon)
FUZZ_LIBS=()

fuzz_setup() {
	local d
	for d in "${DAEMON_DIRS[@]}"; do
		[ -d "$d" ] && FUZZ_CFLAGS+=("-I$d")
	done
	# shellcheck disable=SC2207
	FUZZ_CFLAGS+=($(pkg-config --cflags libuv libbsd-overlay openssl jansson))
	# shellcheck disable=SC2207
	FUZZ_LIBS=($(pkg-config --libs libuv libbsd-overlay openssl jansson) -ludns -lnetsnmp)
}

# libternc for libFuzzer: common/*.c with the fuzzer's instrumentation.
fuzz_libternc() {
	local src obj objs=() bad=0
	rm -rf "$FUZZ_DIR/obj" "$FUZZ_DIR/libternc.a"
	mkdir -p "$FUZZ_DIR/obj"
	for src in common/*.c; do
		[ -e "$src" ] || continue
		obj="$FUZZ_DIR/obj/$(basename "${src%.c}").o"
		clang "${FUZZ_CFLAGS[@]}" \
		    -fsanitize=fuzzer-no-link,address,undefined \
		    -c "$src" -o "$obj" || bad=1
		[ -e "$obj" ] && objs+=("$obj")
	done
	if [ "${#objs[@]}" -gt 0 ]; then
		ar rcs "$FUZZ_DIR/libternc.a" "${objs[@]}" || bad=1
	fi
	return "$bad"
}

# The daemon sources a fuzz target needs (see the header of this file).
fuzz_sources() {	# TARGET.c
	local todo=("$1") seen=" " f base d c cands
	while [ "${#todo[@]}" -gt 0 ]; do
		f=${todo[0]}
		todo=("${todo[@]:1}")
		cands=()
		# x.c next to an included "x.h" in a daemon folder
		for base in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$f"); do
			base=$(basename "$base")
			for d in "${DAEMON_DIRS[@]}"; do
				[ -e "$d/$base.h" ] && cands+=("$d/$base.c")
			done
		done
		# FUZZ_EXTRA: dir/file.c ...
		# shellcheck disable=SC2207
		cands+=($(grep -o 'FUZZ_EXTRA:.*' "$f" | sed 's/^FUZZ_EXTRA://; s|\*/||' |
		    tr -s ' \t' '\n\n' | grep '\.c$'))
		for c in "${cands[@]}"; do
			[ -e "$c" ] || continue
			case $seen in *" $c "*) continue ;; esac
			seen="$seen$c "
			# a daemon's main() cannot be linked with libFuzzer's
			grep -Eq '^(int[[:space:]]+)?main[[:space:]]*\(' "$c" && continue
			todo+=("$c")
			echo "$c"
		done
	done
}

fuzz_target() {	# SRC NAME
	local src=$1 name=$2 bin="$FUZZ_DIR/fuzz_$2" rc extra lib=()
	local seeds="tests/fuzz/corpus/$name" work="$FUZZ_DIR/corpus/$name"
	local log="$FUZZ_DIR/fuzz_$name.log"
	# shellcheck disable=SC2207
	extra=($(fuzz_sources "$src"))
	[ -e "$FUZZ_DIR/libternc.a" ] && lib=("$FUZZ_DIR/libternc.a")
	echo "sources: $src ${extra[*]}"
	clang "${FUZZ_CFLAGS[@]}" -fsanitize=fuzzer,address,undefined \
	    "$src" "${extra[@]}" "${lib[@]}" "${FUZZ_LIBS[@]}" \
	    -o "$bin" || return 1
	mkdir -p "$work" "$FUZZ_DIR/artifacts"
	if [ ! -d "$seeds" ]; then
		echo "warning: no seed corpus $seeds" >&2
		seeds=
	fi
	echo "running $bin for ${FUZZ_SECONDS}s (log: $log)"
	env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    timeout -k 10 $((FUZZ_SECONDS + 300)) "$bin" \
	    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$name-" \
	    "$work" ${seeds:+"$seeds"} >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log"
	else
		tail -n 60 "$log"
		ls -l "$FUZZ_DIR/artifacts/$name-"* 2>/dev/null
	fi
	return "$rc"
}

fuzz_all() {
	local src name targets=()
	for src in tests/fuzz/fuzz_*.c; do
		[ -e "$src" ] && targets+=("$src")
	done
	if [ "${#targets[@]}" -eq 0 ]; then
		stage fuzz sh -c 'echo "no tests/fuzz/fuzz_*.c target" >&2; exit 1'
		return
	fi
	fuzz_setup
	mkdir -p "$FUZZ_DIR"
	stage fuzz-libternc fuzz_libternc
	for src in "${targets[@]}"; do
		name=$(basename "$src" .c)
		name=${name#fuzz_}
		stage "fuzz:$name" fuzz_target "$src" "$name"
	done
}

# ---------------------------------------------------------------- stages

if ! stage deps scripts/install-deps.sh; then
	summary
fi

if stage build build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
	maybe unit unit unit_tests build
	maybe integration integration integration_tests build
else
	not_run_unless unit unit "build failed"
	not_run_unless integration integration "build failed"
fi

# Installs and purges a package: only as root, and only when Tern is not
# really installed here (pkg-test.sh refuses then).
if [ "$(id -u)" -eq 0 ]; then
	maybe package package scripts/pkg-test.sh
else
	skip package
fi

if skipping asan; then
	skip asan-build
	skip asan-unit
	skip asan-integration
elif stage asan-build build_tree build-asan -DTERN_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug; then
	export "${ASAN_ENV[@]}"
	maybe unit asan-unit unit_tests build-asan
	maybe integration asan-integration integration_tests build-asan
	unset ASAN_OPTIONS UBSAN_OPTIONS
else
	not_run_unless unit asan-unit "asan-build failed"
	not_run_unless integration asan-integration "asan-build failed"
fi

if skipping fuzz; then
	skip fuzz
else
	fuzz_all
fi

summary
