#!/bin/sh
# Run one libFuzzer target for a while on a copy of its seed corpus, so the
# checked-in corpus never changes. Fails if the fuzzer finds a crash, leak or
# timeout; the temp dir with the reproducer is kept and named on failure.
#
#   tests/fuzz/run.sh BINARY CORPUS_DIR SECONDS
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 BINARY CORPUS_DIR SECONDS" >&2
    exit 2
fi
bin=$1 corpus=$2 seconds=$3
if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
    echo "$0: no binary $bin or no corpus dir $corpus" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sss-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp "$corpus"/. "$work/corpus/" -R

rc=0
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=16384 -timeout=25 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    "$work/corpus" >"$work/log" 2>&1 || rc=$?
found=$(ls "$work/artifacts" | wc -l)

if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    tail -n 60 "$work/log" >&2
    echo "$0: $(basename "$bin") failed (exit $rc, $found artifacts); kept $work" >&2
    exit 1
fi
grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$work/log" || true
rm -rf "$work"
