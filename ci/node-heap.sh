#!/bin/bash
# The Node heap probe's figures (docs/performance.md, "Node targets: the JS heap and
# growth per function"). Every run is `soak live` on a Node fixture under
# live/tests/fixtures/, judged by the heap probe unless said otherwise:
#   verdicts  cooldown-server (plan cooldowns; its cooldowns kept 10 s, swept every
#             2 s: --ttl-ms 10000 --sweep-ms 2000, --retention 10s), voice-server
#             (voice-sessions.toml) and limiter-server (plan cooldowns, --retention
#             10s: the published memory-cache 0.1.4, leaky, and 0.1.5, its fix),
#             fixed and leaky, seeds 1-3, 5 minutes each, no forced collections of
#             their own (18 runs, 90 min)
#   plain     catalog-server (a plain service: no forced collections, no /metrics),
#             5 minutes with the heap probe and 5 with --no-heap; limiter-server,
#             both releases, 5 minutes with --no-heap (what RSS alone says) (20 min)
#   long      cooldown-server fixed, 30 minutes: the sampler does not grow the target
#   overhead  cooldown-server fixed at the plan's peak rate (cooldowns-peak.toml),
#             MINUTES (5) with the probe and as long without, the two of a pair
#             side by side (at once, so both see the same machine), 4 pairs (20 min)
# Rows go to $OUT/node-heap.tsv (appended; remove it to start over); PARTS=table
# prints them as a Markdown table. Run on a quiet
# machine for the overhead pairs; PARTS selects parts.
#   cargo build --release && ci/node-heap.sh
#   PARTS=overhead PAIRS=8 ci/node-heap.sh
#   PARTS=overhead PAIRS=1 MINUTES=30 ci/node-heap.sh   (one 30-minute pair)
#   PARTS=overhead HEAP_ARGS="--heap-every 30s" ci/node-heap.sh   (flags for the probe's runs)
#   PARTS=verdicts SEEDS=2 ci/node-heap.sh   (parts and seeds can run side by side)
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/soak}
OUT=${OUT:-reports/node-heap}
PARTS=${PARTS:-verdicts plain long overhead}
PAIRS=${PAIRS:-4}
MINUTES=${MINUTES:-5}
SEEDS=${SEEDS:-1 2 3}
F=live/tests/fixtures
T=$OUT/node-heap.tsv
command -v node >/dev/null || { echo "ci/node-heap.sh: node is not on PATH" >&2; exit 2; }
mkdir -p "$OUT"
[ -f "$T" ] || printf '%s\n' "part	fixture	variant	seed	mode	minutes	exit	verdict	js_heap_per_h	js_heap_se	rss_per_h	rss_se	top_site	top_share	sites_past_budget	requests_per_s	p99_ms	target_cpu_s	cycles	pause_share	message" > "$T"

# row PART FIXTURE VARIANT SEED MODE MINUTES EXIT DIR
row() {
  python3 - "$@" >> "$T" <<'PY'
import csv, json, math, sys
part, fixture, variant, seed, mode, minutes, code, d = sys.argv[1:9]
try:
    s = json.load(open(f"{d}/summary.json"))
except Exception as e:
    print("\t".join([part, fixture, variant, seed, mode, minutes, code, "no summary"] + [""] * 12 + [str(e)]))
    sys.exit()
def est(name):
    for r in s.get("resources", []):
        if r.get("name") == name and r.get("estimate"):
            return r["estimate"]["per_hour"] / 2**20, r["estimate"]["stderr"] / 2**20
    return float("nan"), float("nan")
js, js_se = est("js_heap")
rss, rss_se = est("rss")
sites = s.get("growth_sites") or []
top = sites[0] if sites else {}
share = top.get("share_of_heap_growth")
live = s.get("live", {})
cpu = ""
try:
    rows = list(csv.DictReader(open(f"{d}/samples.csv")))
    c = [float(r["process_cpu_seconds_total"]) for r in rows if r.get("process_cpu_seconds_total") not in (None, "", "NaN")]
    if c:
        cpu = f"{c[-1] - c[0]:.2f}"
except Exception:
    pass
heap = live.get("js_heap", {}) if isinstance(live.get("js_heap"), dict) else {}
req = live.get("requests", {})
print("\t".join(map(str, [
    part, fixture, variant, seed, mode, minutes, code, s.get("verdict"),
    f"{js:.3f}", f"{js_se:.3f}", f"{rss:.3f}", f"{rss_se:.3f}",
    (top.get("frames") or [""])[0], "" if share is None else f"{share:.2f}",
    sum(1 for x in sites if x.get("past_budget")),
    req.get("per_second", ""), live.get("latency_ms", {}).get("p99", ""), cpu,
    heap.get("collections", {}).get("count", ""), heap.get("pause_share", ""),
    s.get("message", "").replace("\t", " "),
])))
PY
}

# run PART FIXTURE VARIANT SEED MODE MINUTES -- soak live arguments
run() {
  local part=$1 fixture=$2 variant=$3 seed=$4 mode=$5 minutes=$6; shift 7
  local name="$part-$fixture-$variant-seed$seed-$mode"
  local extra=()
  [ "$mode" = rss ] && extra=(--no-heap)
  # HEAP_ARGS: more flags for the probe's runs (e.g. "--heap-every 30s").
  [ "$mode" = heap ] && [ -n "${HEAP_ARGS:-}" ] && read -r -a extra <<< "$HEAP_ARGS"
  "$BIN" live -q --duration "${minutes}m" --seed "$seed" --variant "$variant" \
      --name "$name" --out "$OUT/runs" "${extra[@]}" "$@" > "$OUT/$name.log" 2>&1
  local code=$?
  local d
  d=$(ls -d "$OUT"/runs/live-*/"$name" 2>/dev/null | head -1)
  row "$part" "$fixture" "$variant" "$seed" "$mode" "$minutes" "$code" "${d:-$OUT/missing}"
  tail -1 "$T" | cut -f1-8,13
}

cooldown() { echo "node $F/cooldown-server.js --variant $1 ${2:-}"; }
# The verdict runs' cooldowns: a 10-s TTL. With the fixture's default 60 s (a fifth
# of a 5-minute run whose day is compressed 288-fold) the fixed map's size follows
# the load through a lag longer than the growth model's load covariates reach
# (their longest is 2 h of the day, 25 s of wall time), and its standard error
# stays 3-4 MiB/h however often the heap is read (docs/performance.md).
COOL='--ttl-ms 10000 --sweep-ms 2000'
voice() { echo "node $F/voice-server.js --variant $1"; }
limiter() { echo "node $F/limiter-server.js --variant $1 --ttl-ms 10000"; }

for part in $PARTS; do case $part in
verdicts)
  for seed in $SEEDS; do for v in fixed leaky; do
    run verdicts cooldown $v $seed heap 5 -- --cmd "$(cooldown $v "$COOL")" --plan cooldowns \
        --retention 10s
    run verdicts voice $v $seed heap 5 -- --cmd "$(voice $v)" --plan $F/voice-sessions.toml
    run verdicts limiter $v $seed heap 5 -- --cmd "$(limiter $v)" --plan cooldowns --retention 10s
  done; done ;;
plain)
  run plain catalog fixed 1 heap 5 -- --cmd "node $F/catalog-server.js" --plan $F/catalog.toml
  run plain catalog fixed 1 rss 5 -- --cmd "node $F/catalog-server.js" --plan $F/catalog.toml
  for v in fixed leaky; do
    run plain limiter $v 1 rss 5 -- --cmd "$(limiter $v)" --plan cooldowns --retention 10s
  done ;;
long)
  run long cooldown fixed 1 heap 30 -- --cmd "$(cooldown fixed)" --plan cooldowns ;;
overhead)
  for pair in $(seq 1 "$PAIRS"); do
    for mode in heap rss; do
      run overhead cooldown fixed "$pair" $mode "$MINUTES" -- --cmd "$(cooldown fixed)" \
          --plan $F/cooldowns-peak.toml --retention 60s &
    done
    wait
  done ;;
table)
  # The rows as the Markdown table of docs/performance.md.
  python3 - "$T" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cols = ["part", "fixture", "variant", "seed", "mode", "minutes", "exit", "js_heap_per_h",
        "js_heap_se", "rss_per_h", "rss_se", "top_site", "sites_past_budget",
        "requests_per_s", "p99_ms", "target_cpu_s", "cycles", "pause_share"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for r in sorted(rows, key=lambda r: (r["part"], r["fixture"], r["variant"], r["seed"], r["mode"])):
    print("| " + " | ".join(r.get(c, "").replace("|", "\\|") for c in cols) + " |")
PY
  ;;
*) echo "ci/node-heap.sh: unknown part '$part' (verdicts, plain, long, overhead, table)" >&2; exit 2 ;;
esac; done
echo "rows: $T"
