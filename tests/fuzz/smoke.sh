#!/usr/bin/env bash
# The fuzz smoke of `make test` (tests/run.sh calls it) and the long fuzz runs
# of `make soak`: one place that builds build-fuzz/ and drives every libFuzzer
# target the same way, so a short run and a soak differ only in FUZZ_SECS.
# build-fuzz/ is clang with the whole tree instrumented for libFuzzer and
# built with ASan+UBSan (a UBSan report is fatal, see UBSAN_OPTIONS below).
# For each target fuzz_NAME:
#   1. replay: every file of tests/fuzz/corpus/NAME/ and
#      tests/fuzz/regressions/NAME/ (inputs that once crashed a target or
#      found a bug) runs once; any crash, leak, sanitizer report or timeout
#      fails, as does a target without seeds or a file that did not run;
#   2. fuzz: FUZZ_SECS seconds from a copy of both folders (0: replay only).
#      A crash input is kept and its path printed: once the bug is fixed it
#      goes to tests/fuzz/regressions/NAME/.
#   FUZZ_SECS=n        seconds of fuzzing per target (default 20)
#   FUZZ_TARGETS="a b" only these targets (default: every one built)
# Prints "PASS fuzz: ..." / "FAIL fuzz: ..." per check (run.sh counts them),
# ends with "fuzz smoke done"; exits 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
FUZZ_SECS=${FUZZ_SECS:-20}
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
nfail=0
ok() { echo "PASS fuzz: $*"; }
bad() {
	echo "FAIL fuzz: $*"
	nfail=$((nfail + 1))
}
done_() {
	echo "fuzz smoke done"
	exit $((nfail > 0))
}

if ! command -v clang >/dev/null; then
	bad "clang not installed"
	done_
fi
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
if ! ninja -C build-fuzz >/dev/null; then
	bad "build-fuzz does not build"
	done_
fi

targets=()
for f in build-fuzz/tests/fuzz/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] || continue # meson's .p folders
	targets+=("${f##*/fuzz_}")
done
# a regressions folder whose target is gone would silently replay nothing
for d in tests/fuzz/regressions/*/; do
	[ -d "$d" ] || continue
	d=${d%/}
	[[ " ${targets[*]} " == *" ${d##*/} "* ]] || bad "$d has no target fuzz_${d##*/}"
done
if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -ra targets <<<"$FUZZ_TARGETS"
fi

for name in "${targets[@]}"; do
	f=build-fuzz/tests/fuzz/fuzz_$name
	if [ ! -x "$f" ]; then
		bad "$name: no such target $f"
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/cbx-fuzz-$name.XXXXXX")
	mapfile -t inputs < <(find "tests/fuzz/corpus/$name" "tests/fuzz/regressions/$name" \
		-maxdepth 1 -type f 2>/dev/null | sort)
	nreg=$(find "tests/fuzz/regressions/$name" -maxdepth 1 -type f 2>/dev/null | wc -l)
	echo "-- fuzz_$name: replay ${#inputs[@]} inputs ($nreg regressions)"
	if [ ${#inputs[@]} -eq 0 ]; then
		bad "$name has no seeds in tests/fuzz/corpus/$name"
		rm -rf "$work"
		continue
	fi
	# Files as arguments: libFuzzer runs each once and says "Executed" per file.
	"$f" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/" "${inputs[@]}" \
		>"$work/replay.log" 2>&1
	rc=$?
	ran=$(grep -c '^Executed ' "$work/replay.log")
	if [ $rc = 0 ] && [ "$ran" = ${#inputs[@]} ]; then
		ok "$name replay (${#inputs[@]} inputs)"
	else
		tail -n 30 "$work/replay.log"
		bad "$name replay: exit $rc, $ran of ${#inputs[@]} inputs ran"
	fi
	if [ "$FUZZ_SECS" -gt 0 ]; then
		mkdir "$work/corpus"
		for i in "${inputs[@]}"; do
			cp "$i" "$work/corpus/${i//\//_}" # both folders, names kept apart
		done
		# -max_len: libFuzzer's own default for these corpora, which the 16 KiB
		# regressions would otherwise raise (slower runs of bigger inputs);
		# they ran whole in the replay
		if "$f" -max_total_time="$FUZZ_SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
			>"$work/fuzz.log" 2>&1; then
			ok "$name ${FUZZ_SECS}s"
			grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' "$work/fuzz.log" | tail -n 2
		else
			tail -n 30 "$work/fuzz.log"
			ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null |
				sed 's/^/kept input: /'
			bad "$name ${FUZZ_SECS}s (log and input kept in $work)"
			continue
		fi
	fi
	rm -rf "$work"
done
done_
