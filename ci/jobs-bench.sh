#!/usr/bin/env bash
# Wall time of `soak all` in parallel against the same runs one after another
# (docs/performance.md, "The suite in parallel"). Interleaved, so a machine whose
# load drifts disturbs both sides alike:
#   1. REPS x (soak all --jobs 1, soak all --jobs $JOBS): every scenario, fixed,
#      24 virtual hours. The bound of issue 23 is
#         wall(--jobs N) <= 1.1 x max(longest run, sum of runs / N)
#      with the runs' own wall_seconds taken from the --jobs 1 tree of the pair.
#   2. NIGHTLY_REPS x the nightly's work (every scenario x both variants x seeds
#      1,2,3): before = the old ci/nightly.sh loop (`soak all` per seed for the
#      fixed variants, `soak run` per scenario for the leaky ones), after =
#      `soak all --variant both --seeds 1,2,3 --jobs $JOBS`. NIGHTLY_REPS=0 skips it.
# From the serial per-run times it also projects the longest-first schedule on
# 4 cores (a CI runner), and per nightly shard of the workflow's matrix.
# Prints a Markdown table; raw rows in $OUT/jobs-bench.tsv. `uptime` is recorded
# before and after: run it on a quiet machine for figures worth comparing. (With the
# kernel's autogroup scheduling, /proc/sys/kernel/sched_autogroup_enabled, a busy
# machine gives this session one share of the CPU whatever its number of processes:
# then --jobs cannot gain, and the CPU column is the figure to read.)
#   cargo build --release --bin soak && ci/jobs-bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/soak}
OUT=${OUT:-reports/jobs-bench}
JOBS=${JOBS:-2}
REPS=${REPS:-3}
NIGHTLY_REPS=${NIGHTLY_REPS:-1}
HOURS=${HOURS:-24}
rm -rf "$OUT"
mkdir -p "$OUT"
T=$OUT/jobs-bench.tsv
echo -e "what\trep\twall_s\tcpu_s\tsum_runs_s\tlongest_run_s\truns" > "$T"
# wall and CPU seconds (user + system, children included) of a command, tab-separated
timed() {
    local f; f=$(mktemp)
    /usr/bin/time -f "%e\t%U\t%S" -o "$f" "$@"
    # (the file starts "Command exited with non-zero status N" when it did)
    tail -n 1 "$f" | awk -F"\t" '{printf "%.2f\t%.2f", $1, $2 + $3}'; rm -f "$f"
}
# sum and max of wall_seconds over the summaries below $1, and their count
runs_of() {
    python3 - "$1" <<'PY'
import json, pathlib, sys
w = [json.load(open(p))["wall_seconds"] for p in pathlib.Path(sys.argv[1]).rglob("summary.json")]
print(f"{sum(w):.2f}\t{max(w):.2f}\t{len(w)}")
PY
}
row() { echo -e "$1\t$2\t$3\t$4" >> "$T"; }
export BIN HOURS
echo "uptime before: $(uptime)" | tee "$OUT/uptime.txt"
for rep in $(seq 1 "$REPS"); do
    for j in 1 "$JOBS"; do
        d=$OUT/all-j$j-$rep
        w=$(timed sh -c "\$BIN all --jobs $j --hours \$HOURS -q --no-history --out $d > $d.log 2>&1")
        row "all --jobs $j" "$rep" "$w" "$(runs_of "$d")"
    done
done
# The old ci/nightly.sh loop, as a script of its own so it can be timed.
OLD_NIGHTLY='for seed in 1 2 3; do
    $BIN all --jobs 1 --seed $seed --hours $HOURS --out $1/seed-$seed -q
    for s in $($BIN list | awk "{print \$1}"); do
        $BIN run $s --variant leaky --seed $seed --hours $HOURS --out $1/seed-$seed -q
    done
done'
for rep in $(seq 1 "$NIGHTLY_REPS"); do
    d=$OUT/nightly-before-$rep
    w=$(timed bash -c "{ $OLD_NIGHTLY; } > $d.log 2>&1" old-nightly "$d")
    row "nightly before (serial script)" "$rep" "$w" "$(runs_of "$d")"
    d=$OUT/nightly-after-$rep
    w=$(timed sh -c "\$BIN all --variant both --seeds 1,2,3 --jobs $JOBS --hours \$HOURS -q --out $d > $d.log 2>&1")
    row "nightly after (--jobs $JOBS)" "$rep" "$w" "$(runs_of "$d")"
done
echo "uptime after: $(uptime)" | tee -a "$OUT/uptime.txt"
python3 - "$T" "$JOBS" "$OUT" "$BIN" <<'PY'
import collections, json, pathlib, subprocess, sys
tsv, jobs, out, binary = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(tsv)][1:]
print(f"\n| what | rep | wall s | CPU s | sum of runs s | longest run s | runs | bound 1.1 × max(longest, sum ÷ {jobs}) s | wall ÷ bound |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
serial = {}
for what, rep, wall, cpu, total, longest, n in rows:
    if what == "all --jobs 1":
        serial[rep] = (float(total), float(longest))
for what, rep, wall, cpu, total, longest, n in rows:
    bound = ratio = ""
    if what.startswith("all --jobs") and what != "all --jobs 1" and rep in serial:
        total_s, longest_s = serial[rep]
        b = 1.1 * max(longest_s, total_s / jobs)
        bound, ratio = f"{b:.2f}", f"{float(wall) / b:.2f}"
    print(f"| {what} | {rep} | {float(wall):.2f} | {float(cpu):.2f} | {float(total):.2f} | {float(longest):.2f} | {n} | {bound} | {ratio} |")

def lpt(times, cores):
    """Longest-first list schedule: the makespan of `times` on `cores`."""
    load = [0.0] * cores
    for t in sorted(times, reverse=True):
        load[load.index(min(load))] += t
    return max(load)

def times(tree):
    t = collections.defaultdict(list)
    for p in pathlib.Path(tree).rglob("summary.json"):
        j = json.load(open(p))
        t[j["scenario"]].append(j["wall_seconds"])
    return t

first = sorted(out.glob("all-j1-*"))
if first:
    t = times(first[0])
    w = [x for v in t.values() for x in v]
    print(f"\nProjection from {first[0].name}'s runs (longest first, per-process overhead not included):")
    for cores in (2, 4):
        print(f"- `soak all --jobs {cores}`: {lpt(w, cores):.2f} s (sum {sum(w):.2f} s, longest {max(w):.2f} s)")
nightly = sorted(out.glob("nightly-before-*"))
if nightly:
    t = times(nightly[0])
    shards = subprocess.run([binary, "list"], capture_output=True, text=True).stdout.split("\n")
    names = [l.split()[0] for l in shards if l.strip()]
    print(f"\nNightly matrix projection from {nightly[0].name} (3 shards, each all its seeds × both variants, longest first):")
    for k in range(3):
        mine = [x for i, n in enumerate(names) if i % 3 == k for x in t.get(n, [])]
        print(f"- shard {k + 1}/3: {len(mine)} runs, sum {sum(mine):.1f} s; on 4 cores {lpt(mine, 4):.1f} s, on 2 cores {lpt(mine, 2):.1f} s")
PY
