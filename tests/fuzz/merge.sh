#!/usr/bin/env bash
# make fuzz-merge: grows the seed corpora of tests/fuzz/corpus/ with what a
# fuzzing run finds, keeping only inputs that reach code the corpus does not
# (libFuzzer -merge=1), so the corpus make test replays gets better without
# getting big. Review and commit what it adds (git status tests/fuzz/corpus).
# First the replay of tests/fuzz/smoke.sh (build-fuzz/, nothing is merged if
# it fails), then for each target FUZZ_SECS (default 20) of fuzzing from its
# corpus and regressions (libFuzzer writes what it finds to the first folder
# only, a scratch one), which is then merged into the corpus.
#   FUZZ_SECS=n  FUZZ_TARGETS="a b"  as for smoke.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
FUZZ_SECS=${FUZZ_SECS:-20}
FUZZ_SECS=0 tests/fuzz/smoke.sh || {
	echo "fuzz-merge: the replay failed, nothing merged"
	exit 1
}
for f in build-fuzz/tests/fuzz/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=${f##*/fuzz_}
	if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/cbx-fuzzmerge-$name.XXXXXX")
	mkdir "$work/new"
	regs=()
	[ -d "tests/fuzz/regressions/$name" ] && regs=("tests/fuzz/regressions/$name")
	before=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
	if ! "$f" -max_total_time="$FUZZ_SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/" "$work/new" "tests/fuzz/corpus/$name" "${regs[@]}" \
		>"$work/fuzz.log" 2>&1; then
		tail -n 30 "$work/fuzz.log"
		echo "fuzz-merge: fuzz_$name crashed; input and log kept in $work"
		exit 1
	fi
	"$f" -merge=1 -timeout=10 -rss_limit_mb=2048 "tests/fuzz/corpus/$name" "$work/new" \
		>"$work/merge.log" 2>&1 || {
		tail -n 20 "$work/merge.log"
		exit 1
	}
	echo "fuzz_$name: $before -> $(find "tests/fuzz/corpus/$name" -type f | wc -l) seeds"
	rm -rf "$work"
done
