#!/usr/bin/env bash
# make soak: the long runs that make test cannot afford (hours, not minutes;
# see docs/testing.md, "Long runs: make soak"). Not part of make test.
#   1. kill -9 during fills, SOAK_ROUNDS rounds (tests/integration/test_crash.py
#      with CRASH_ROUNDS; make test runs 20);
#   2. every fuzz target for SOAK_FUZZ_SECS seconds (tests/fuzz/smoke.sh;
#      make test gives each 20 s);
#   3. recovery of a cache of SOAK_PIECES pieces after kill -9 (tests/soak/recovery.py,
#      the 5 s restart target);
#   4. slowloris with SOAK_CONNS connections (tests/soak/slowloris.py).
#   SOAK_ROUNDS=200 SOAK_FUZZ_SECS=600 SOAK_PIECES=10000 SOAK_CONNS=3000 (defaults)
#   SOAK_ONLY="crash fuzz recovery slowloris"  a subset
#   BUILD=dir  the build the scenarios run on (default build)
# Ends with one line per piece (result, duration) and exits 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export BUILD=${BUILD:-build}
SOAK_ROUNDS=${SOAK_ROUNDS:-200}
SOAK_FUZZ_SECS=${SOAK_FUZZ_SECS:-600}
export SOAK_PIECES=${SOAK_PIECES:-10000}
export SOAK_CONNS=${SOAK_CONNS:-3000}
SOAK_ONLY=${SOAK_ONLY:-crash fuzz recovery slowloris}
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
results=()
failed=0

piece() { # name, command...
	local name=$1 t0 rc
	shift
	[[ " $SOAK_ONLY " == *" $name "* ]] || return 0
	printf '\n== soak: %s\n' "$name"
	t0=$(date +%s)
	"$@"
	rc=$?
	if [ $rc = 0 ]; then
		results+=("$(printf 'PASS %-10s %6d s' "$name" $(($(date +%s) - t0)))")
	else
		results+=("$(printf 'FAIL %-10s %6d s (exit %d)' "$name" $(($(date +%s) - t0)) $rc)")
		failed=$((failed + 1))
	fi
}

piece crash env CRASH_ROUNDS="$SOAK_ROUNDS" timeout $((SOAK_ROUNDS * 60 + 600)) \
	python3 tests/integration/test_crash.py
piece fuzz env FUZZ_SECS="$SOAK_FUZZ_SECS" tests/fuzz/smoke.sh
piece recovery timeout 3600 python3 tests/soak/recovery.py
piece slowloris timeout 900 python3 tests/soak/slowloris.py

echo
printf '%s\n' "${results[@]}"
[ $failed = 0 ]
