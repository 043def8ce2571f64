#!/usr/bin/env bash
# Every test of cachebox: Criterion unit tests (meson test), static checks
# (clang-format, cppcheck), integration scenarios against the real binaries
# (tests/integration/test_*.py), and a fuzz smoke run of every libFuzzer
# target (clang, build-fuzz/).
# Ends with one line "N passed, N failed[, N skipped]".
#   BUILD=dir     build directory (default build)
#   FUZZ=0        skip the fuzz smoke   FUZZ_SECS=n  seconds per target (default 20)
#   ONLY=pattern  run only integration scenarios matching pattern (several: blank-separated)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ=${FUZZ:-1}
FUZZ_SECS=${FUZZ_SECS:-20}
# leaks in libraries we do not own (tests/lsan.supp says which and why)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# a UBSan report ends the process that made it (a unit test, a daemon: its
# scenario fails), instead of a line nobody reads
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# Every ASan and LSan report, from whichever process made it (a unit test, a
# daemon, cacheboxctl, a fuzz target, a child whose stderr a test captured
# and dropped), lands as a file in one directory, world-writable because
# daemons drop to the cachebox user; after each step any new file fails that
# step and is shown. (A fatal UBSan report ignores log_path and goes to
# stderr.) So outputs are also scanned for the sanitizer markers and for
# "internal error" (cb_assert's line): the unit test log, each scenario's
# output (the daemons' logs are scanned by the scenario itself, cbtest.py).
SANLOG=$(mktemp -d /tmp/cbx-sanlog.XXXXXX)
chmod 1777 "$SANLOG"
mkdir -p "$SANLOG/seen"
trap 'rm -rf "$SANLOG"' EXIT
for v in ASAN_OPTIONS LSAN_OPTIONS; do
	export "$v=${!v:+${!v}:}log_path=$SANLOG/asan"
done
export PYTHONUNBUFFERED=1
BAD_MARKERS='AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:|internal error'
passed=0 failed=0 skipped=0
failures=()

note() { printf '\n== %s\n' "$*"; }
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); }
# clean STEP [OUTPUT...]: 0 if no sanitizer file appeared since the last call
# and no OUTPUT file holds a marker line; else shows them and returns 1.
clean() {
	local step=$1 ok=0 f
	shift
	for f in "$SANLOG"/*.*; do
		[ -f "$f" ] || continue
		# a report has an ERROR or SUMMARY line; LSan's "Running thread N was
		# not suspended" (DPDK's EAL threads) and the runtime's own CHECK
		# failing on an allocation test_torture refused it are notices, shown
		if grep -aqE '^==[0-9]+==ERROR: |^SUMMARY: |runtime error:' "$f"; then
			echo "sanitizer report during $step ($f):"
			head -n 40 "$f"
			ok=1
		else
			echo "sanitizer notice during $step: $(head -c 300 "$f" | tr '\n' ' ')"
		fi
		mv "$f" "$SANLOG/seen/"
	done
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -aE "$BAD_MARKERS" "$f" | head -n 5 | grep -q .; then
			echo "marker lines in the output of $step:"
			grep -aE "$BAD_MARKERS" "$f" | head -n 5
			ok=1
		fi
	done
	return $ok
}

note "unit tests (meson test -C $BUILD)"
if meson test -C "$BUILD" --suite unit --print-errorlogs --num-processes 2; then
	n=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["result"]=="OK"))' "$BUILD/meson-logs/testlog.json")
	passed=$((passed + n))
else
	while read -r name result; do
		if [ "$result" = OK ]; then pass; else fail "unit: $name ($result)"; fi
	done < <(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    t = json.loads(l); print(t["name"], t["result"])' "$BUILD/meson-logs/testlog.json")
fi

clean "unit tests" "$BUILD/meson-logs/testlog.txt" || fail "unit: sanitizer report or internal error (above)"

note "static checks (clang-format, cppcheck)"
mapfile -t csrc < <(git ls-files '*.c' '*.h' 2>/dev/null || find common config storage control bench tests -name '*.[ch]')
if clang-format --dry-run --Werror "${csrc[@]}" >/dev/null 2>&1; then
	pass
else
	clang-format --dry-run "${csrc[@]}" 2>&1 | grep warning | head -20
	fail "format: clang-format differences (run clang-format -i on the files above)"
fi
# DPDK's headers want the compiler's byte-order macros, which cppcheck does
# not predefine: the files that include them get a second run with them
# (each when it is built).
cpp=(cppcheck --project="$BUILD/compile_commands.json" --enable=warning,portability --inline-suppr
	--quiet --error-exitcode=1)
dpdk_src=(dataplane/dp_dpdk.c bench/dp_memif_gen.c)
cpp_ok=1
"${cpp[@]}" -i tests "${dpdk_src[@]/#/-i}" 2>&1 || cpp_ok=0
for f in "${dpdk_src[@]}"; do
	grep -q "${f//./\\.}" "$BUILD/compile_commands.json" || continue
	"${cpp[@]}" --file-filter="*$f" -D__ORDER_LITTLE_ENDIAN__=1234 \
		-D__ORDER_BIG_ENDIAN__=4321 -D__BYTE_ORDER__=1234 2>&1 || cpp_ok=0
done
if [ $cpp_ok = 1 ]; then
	pass
else
	fail "cppcheck: findings above"
fi

note "integration scenarios"
export BUILD
for t in tests/integration/test_*.py; do
	if [ -n "${ONLY:-}" ]; then
		hit=0
		for p in $ONLY; do [[ "$t" == *${p}* ]] && hit=1; done
		[ "$hit" = 1 ] || continue
	fi
	echo "-- $t"
	out=$(mktemp)
	timeout 600 python3 "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	clean "$t" "$out" || rc=1
	rm -f "$out"
	case $rc in
	0) pass ;;
	77) skipped=$((skipped + 1)); echo "skipped: $t" ;;
	*) fail "integration: $t (exit $rc)" ;;
	esac
done

if [ "$FUZZ" = 1 ]; then
	# tests/fuzz/smoke.sh on build-fuzz/ (clang, libFuzzer, ASan+UBSan): each
	# target replays every file of tests/fuzz/corpus/<name>/ and
	# tests/fuzz/regressions/<name>/ once (a crash fails), then fuzzes
	# FUZZ_SECS seconds (FUZZ_SECS=0: the replay alone). FUZZ=0 skips both:
	# test-asan and test-nodpdk set it, the plain make test has replayed.
	note "fuzz smoke (replay, then ${FUZZ_SECS}s per target)"
	fuzz_end=0
	while IFS= read -r line; do
		case $line in
		"PASS fuzz: "*) pass ;;
		"FAIL fuzz: "*) fail "${line#FAIL }" ;;
		"fuzz smoke done") fuzz_end=1 ;;
		esac
		printf '%s\n' "$line"
	done < <(FUZZ_SECS="$FUZZ_SECS" tests/fuzz/smoke.sh 2>&1 | tee "$SANLOG/seen/fuzz-output")
	[ $fuzz_end = 1 ] || fail "fuzz: tests/fuzz/smoke.sh ended early"
	clean "fuzz smoke" "$SANLOG/seen/fuzz-output" || fail "fuzz: sanitizer report or internal error (above)"
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
