#!/usr/bin/env bash
# The nightly soak: every scenario, full 24 virtual hours, three seeds.
#  - fixed variants must pass (exit 0): a regression in a fix fails the night;
#  - leaky variants must fail (exit 1): a detector that stops catching leaks fails too.
# Reports land in $OUT (default reports/nightly) for the workflow to upload.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-reports/nightly}
SEEDS=${SEEDS:-"1 2 3"}
cargo build --release --bin soak || exit 2
status=0
for seed in $SEEDS; do
    ./target/release/soak all --seed "$seed" --out "$OUT/seed-$seed" -q
    rc=$?
    if [ "$rc" -ne 0 ]; then echo "nightly: fixed variants, seed $seed: exit $rc (want 0)"; status=1; fi
    for s in $(./target/release/soak list | awk '{print $1}'); do
        ./target/release/soak run "$s" --variant leaky --seed "$seed" --out "$OUT/seed-$seed" -q
        rc=$?
        if [ "$rc" -ne 1 ]; then echo "nightly: $s leaky, seed $seed: exit $rc (want 1: leak caught)"; status=1; fi
    done
done
exit $status
