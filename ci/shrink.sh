#!/bin/bash
# soak shrink's acceptance runs (figures in docs/shrink.md):
#  - moderator-flood, raid-burst and timer-lifecycle, leaky, seeds 1-3: soak shrink,
#    then the original command and the minimal one again, interleaved, $REPS times
#    each (paired: whatever else loads the machine hits both alike); the ratio of
#    the median wall times beside the one shrink.json records;
#  - calibration --leak-rate 4MiB/h (needs no kind) and calibration's leaky twin
#    (bytes per request against the item size / 50 = 43.5 B).
# Checks: every minimal run fails, its top site is the original's, the paired ratio
# is at least 5 for the three scenarios; exits 1 otherwise. Rows: $OUT/shrink.tsv.
#   cargo build --release --bin soak && ci/shrink.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/soak}
OUT=${OUT:-reports/shrink-acceptance}
SEEDS=${SEEDS:-"1 2 3"}
REPS=${REPS:-3}
rm -rf "$OUT"; mkdir -p "$OUT"

# shrink NAME SCENARIO [OPTIONS...]: one shrink, its shrink.json path on stdout.
shrink() {
    local name=$1 s=$2; shift 2
    local d=$OUT/$name
    "$BIN" shrink "$s" "$@" --out "$d" > "$d.txt" 2> "$d.progress"
    local code=$?
    [ $code = 1 ] || echo "$name: soak shrink exited $code (want 1); see $d.txt" >&2
    find "$d/shrink/$s" -name shrink.json | head -1
}

# json FILE EXPR: a Python expression over the JSON in j.
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

for s in moderator-flood raid-burst timer-lifecycle; do
    for seed in $SEEDS; do
        name=$s-$seed
        j=$(shrink "$name" "$s" --variant leaky --seed "$seed")
        [ -n "$j" ] || continue
        read -r -a orig <<< "$(json "$j" "' '.join(j['runs'][0]['args'])")"
        read -r -a mini <<< "$(json "$j" "' '.join(j['runs'][j['minimal']-1]['args'])")"
        for rep in $(seq "$REPS"); do
            "$BIN" run "$s" "${orig[@]}" -q --no-history --out "$OUT/$name-time/o$rep" > /dev/null
            "$BIN" run "$s" "${mini[@]}" -q --no-history --out "$OUT/$name-time/m$rep" > /dev/null
        done
    done
done
jc=$(shrink calibration-leak-rate calibration --leak-rate 4MiB/h)
jl=$(shrink calibration-leaky calibration --variant leaky)

python3 - "$OUT" "$jc" "$jl" <<'EOF'
import glob, json, os, statistics, sys
out, jc, jl = sys.argv[1:4]
bad = []
rows = [["scenario", "seed", "needed", "not needed", "minimal run", "virtual h",
         "original s", "minimal s", "ratio (shrink.json)", "paired median ratio",
         "top site (minimal)", "same as original", "per event"]]
def walls(d, which):
    return [json.load(open(p))["wall_seconds"]
            for p in glob.glob(f"{d}/{which}*/*/leaky/summary.json")]
for j in sorted(glob.glob(f"{out}/*-[0-9]*/shrink/*/leaky/shrink.json")):
    s = json.load(open(j))
    name = f"{s['scenario']}-{s['seed']}"
    m = s["runs"][s["minimal"] - 1]
    o, mm = walls(f"{out}/{name}-time", "o"), walls(f"{out}/{name}-time", "m")
    paired = statistics.median(o) / statistics.median(mm) if o and mm else float("nan")
    opts = " ".join(m["args"][4:])  # after --variant V --seed N
    per = "; ".join(f"{p['kind']}: {p['per_event']:.1f} ± {p['stderr']:.1f} {p['unit']} of {p['resource']}"
                    for p in s["per_event"] if p["resource"] == "heap" or p["resource"] == s["resource"])
    rows.append([s["scenario"], s["seed"], ", ".join(s["needed"]) or "none",
                 ", ".join(s["not_needed"]), opts, m["virtual_hours"],
                 s["runs"][0]["wall_seconds"], m["wall_seconds"], round(s["speedup"], 1),
                 round(paired, 1), s["top_site"], s["same_top_site"], per])
    if m["verdict"] != "fail": bad.append(f"{name}: minimal run {m['verdict']}")
    if not s["same_top_site"]: bad.append(f"{name}: top site {s['top_site']} is the original's #{s['top_site_rank_in_original']}, not {s['original_top_site']}")
    if not paired >= 5: bad.append(f"{name}: paired ratio {paired:.1f} < 5")
for path, label in [(jc, "calibration --leak-rate 4MiB/h"), (jl, "calibration leaky")]:
    if not path: bad.append(f"{label}: no shrink.json"); continue
    s = json.load(open(path))
    m = s["runs"][s["minimal"] - 1]
    per = "; ".join(f"{p['kind']}: {p['per_event']:.2f} ± {p['stderr']:.2f} B" for p in s["per_event"] if p["resource"] == "heap")
    rows.append([label, s["seed"], ", ".join(s["needed"]) or "none", ", ".join(s["not_needed"]),
                 " ".join(m["args"]), m["virtual_hours"], s["runs"][0]["wall_seconds"],
                 m["wall_seconds"], round(s["speedup"], 1), "", s["top_site"], s["same_top_site"], per])
    if label.endswith("4MiB/h") and s["needed"]: bad.append(f"{label}: needs {s['needed']}")
    if label.endswith("leaky"):
        p = next((p for p in s["per_event"] if p["resource"] == "heap"), None)
        want = (256 + 4096) / 2 / 50
        if not p or abs(p["per_event"] / want - 1) >= 0.15: bad.append(f"{label}: per request {p}")
with open(f"{out}/shrink.tsv", "w") as f:
    for r in rows: f.write("\t".join(map(str, r)) + "\n")
for r in rows: print(" | ".join(map(str, r)))
for b in bad: print("FAILED:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
