#!/usr/bin/env bash
# Peak RSS of a run with allocation-site sampling (the default, 512 KiB) against the
# same run with --sample-bytes 0 (docs/performance.md, "Memory: what naming the sites
# costs"): calibration and raid-burst (fixed, 24 h), and the outside example's leaky
# governor-keys (24 h). The two runs of a pair go one after the other, pairs N times
# (default 3); one row per pair, then the medians and their difference.
#   cargo build --release --bin soak
#   cargo build --release --manifest-path examples/outside-crate/Cargo.toml --target-dir target
#   ci/site-memory.sh
# The outside example is measured as last built (with its line tables, or without them
# after CARGO_PROFILE_RELEASE_DEBUG=0); OUTSIDE=path/to/governor-soak picks another.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-3}
SOAK=${SOAK:-target/release/soak}
OUTSIDE=${OUTSIDE:-target/release/governor-soak}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Peak resident set (KiB) of one run, from /usr/bin/time.
peak() {
    /usr/bin/time -o "$tmp/time" -f %M "$@" -q --no-history --out "$tmp/r" >/dev/null 2>&1 || true
    tail -1 "$tmp/time"
}

echo -e "pair\tcase\tsampling_kib\toff_kib" | tee "$tmp/rows.tsv"
for pair in $(seq "$N"); do
    for case in calibration raid-burst outside; do
        if [ "$case" = outside ]; then
            cmd=("$OUTSIDE" run governor-keys --variant leaky)
        else
            cmd=("$SOAK" run "$case")
        fi
        on=$(peak "${cmd[@]}")
        off=$(peak "${cmd[@]}" --sample-bytes 0)
        echo -e "$pair\t$case\t$on\t$off" | tee -a "$tmp/rows.tsv"
    done
done
python3 - "$tmp/rows.tsv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for case in dict.fromkeys(r["case"] for r in rows):
    on = statistics.median(int(r["sampling_kib"]) for r in rows if r["case"] == case)
    off = statistics.median(int(r["off_kib"]) for r in rows if r["case"] == case)
    print(f"{case}: peak RSS {on / 1024:.1f} MiB with sampling, {off / 1024:.1f} MiB without "
          f"(+{(on - off) / 1024:.1f} MiB; medians of {sum(r['case'] == case for r in rows)})")
EOF
