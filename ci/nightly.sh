#!/usr/bin/env bash
# The nightly soak, locally and in CI (.github/workflows/soak.yml runs it once per
# matrix cell): every scenario of the shard, full 24 virtual hours, for each seed.
#  - fixed variants must pass (exit 0): a regression in a fix fails the night;
#  - leaky variants must fail (exit 1): a detector that stops catching leaks fails too.
# Environment (all optional):
#   SEEDS  seeds to run             (default "1 2 3")
#   SHARD  K/N: this runner's share  (default 1/1: every scenario)
#   HOURS  virtual hours per run     (default 24; e.g. 2 for a quick local look)
#   OUT    report root               (default reports/nightly)
# Reports land in $OUT/seed-N/SCENARIO/VARIANT, JUnit in $OUT/seed-N/junit-*.xml, run
# histories in $OUT/seed-N/history.jsonl; at the end `soak report $OUT` merges them,
# draws the trend charts and the index, and writes $OUT/summary.md (and appends it
# to $GITHUB_STEP_SUMMARY when that is set).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-reports/nightly}
SEEDS=${SEEDS:-"1 2 3"}
SHARD=${SHARD:-1/1}
HOURS=${HOURS:-24}
cargo build --release --bin soak || exit 2
soak=./target/release/soak
scenarios=$($soak list --shard "$SHARD" | awk '{print $1}') || exit 2
status=0
for seed in $SEEDS; do
    dir="$OUT/seed-$seed"
    $soak all --shard "$SHARD" --seed "$seed" --hours "$HOURS" --out "$dir" -q \
        --junit "$dir/junit-fixed-$(echo "$SHARD" | tr / -).xml"
    rc=$?
    if [ "$rc" -ne 0 ]; then echo "nightly: fixed variants, shard $SHARD, seed $seed: exit $rc (want 0)"; status=1; fi
    for s in $scenarios; do
        $soak run "$s" --variant leaky --seed "$seed" --hours "$HOURS" --out "$dir" -q \
            --junit "$dir/junit-leaky-$s.xml"
        rc=$?
        if [ "$rc" -ne 1 ]; then echo "nightly: $s leaky, seed $seed: exit $rc (want 1: leak caught)"; status=1; fi
    done
done
rm -f "$OUT/summary.md"
$soak report "$OUT" --markdown "$OUT/summary.md" >/dev/null || status=2
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$OUT/summary.md" >> "$GITHUB_STEP_SUMMARY"; fi
echo "nightly: index $OUT/index.html, summary $OUT/summary.md"
exit $status
