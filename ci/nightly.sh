#!/usr/bin/env bash
# The nightly soak, locally and in CI (.github/workflows/soak.yml runs it once per
# matrix cell): every scenario of the shard, both variants, full 24 virtual hours,
# for each seed, in one `soak all` that runs JOBS of them at a time (each in a
# process of its own, longest first).
#  - fixed variants must pass: a regression in a fix fails the night;
#  - leaky variants must fail: a detector that stops catching leaks fails too.
# Environment (all optional):
#   SEEDS  seeds to run, spaces or commas  (default "1 2 3")
#   SHARD  K/N: this runner's share        (default 1/1: every scenario)
#   HOURS  virtual hours per run           (default 24; e.g. 2 for a quick local look)
#   JOBS   runs at a time                  (default: soak's, the number of cores)
#   OUT    report root                     (default reports/nightly)
# Reports land in $OUT/seed-N/SCENARIO/VARIANT, JUnit in $OUT/junit-K-N.xml, the run
# history in $OUT/history.jsonl; at the end `soak report $OUT` merges histories,
# draws the trend charts and the index, and writes $OUT/summary.md (and appends it
# to $GITHUB_STEP_SUMMARY when that is set).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-reports/nightly}
SEEDS=${SEEDS:-"1 2 3"}
SHARD=${SHARD:-1/1}
HOURS=${HOURS:-24}
JOBS=${JOBS:-}
cargo build --release --bin soak || exit 2
soak=./target/release/soak
scenarios=$($soak list --shard "$SHARD" | awk '{print $1}') || exit 2
seeds=$(echo "$SEEDS" | tr -s ' ,' ',' | sed 's/^,//; s/,$//')
jobs=()
if [ -n "$JOBS" ]; then jobs=(--jobs "$JOBS"); fi
status=0
$soak all --shard "$SHARD" --variant both --seeds "$seeds" --hours "$HOURS" --out "$OUT" -q \
    "${jobs[@]}" --junit "$OUT/junit-$(echo "$SHARD" | tr / -).xml"
rc=$?
# 1 is what a good night exits with: the leaky variants fail (checked run by run
# below). 0 means no leak was caught; 2, 3, 130, 143 an error, an inconclusive run
# or a stop.
if [ "$rc" -ne 1 ]; then echo "nightly: shard $SHARD: soak all exit $rc (want 1: every leaky variant caught)"; status=1; fi
# Run by run: every fixed variant passed and every leaky one failed, all complete.
python3 - "$OUT" "$seeds" $scenarios <<'PY' || status=1
import json, sys
out, seeds, scenarios = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
bad = 0
for seed in seeds:
    for s in scenarios:
        for variant, want in (("fixed", "pass"), ("leaky", "fail")):
            path = f"{out}/seed-{seed}/{s}/{variant}/summary.json"
            try:
                with open(path) as f:
                    j = json.load(f)
                got = j["verdict"] if j.get("complete", True) else "partial " + j["verdict"]
            except (OSError, ValueError, KeyError) as e:
                got = f"no report ({e})"
            if got != want:
                print(f"nightly: {s} {variant}, seed {seed}: {got} (want {want})")
                bad += 1
sys.exit(1 if bad else 0)
PY
rm -f "$OUT/summary.md"
$soak report "$OUT" --markdown "$OUT/summary.md" >/dev/null || status=2
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$OUT/summary.md" >> "$GITHUB_STEP_SUMMARY"; fi
echo "nightly: index $OUT/index.html, summary $OUT/summary.md"
exit $status
