#!/usr/bin/env bash
# Figures for docs/performance.md, "The native heap (soak live --heap)":
#   1. soak-server leaky and fixed under --heap, seeds 1-3, $DURATION runs (5m),
#      plans ws-steady and ws-churn ($PLANS):
#      verdicts, the heap's and RSS's growth (± s.e.), the top growing sites, and
#      how the preload's live bytes compare with soak-server's own /metrics heap
#      (requested sizes, and the usable sizes it counts with SOAK_SERVER_USABLE_HEAP=1).
#   2. threaded-service (live/examples/threaded-service: std, a thread per
#      connection) fixed with --heap and with --no-heap, leaky with --heap.
#   3. Overhead, interleaved pairs at each plan's peak rate held flat: the target's
#      throughput, p99 latency and CPU with --no-heap, with --heap, and once under
#      heaptrack; and the flat-out rate (max-rate.toml) with and without.
#   4. The allocator's cost per call: callgrind on the alloc_overhead example's
#      `MODE=system` loop (200,000 malloc+free pairs) under glibc and the preload.
# Rows go to $OUT/*.tsv (one per part). Takes about an hour; meant for a quiet machine:
#   cargo build --release --workspace --lib --bins --examples && ci/preload.sh
# PARTS=13 runs parts 1 and 3 only; DURATION, PAIR (60s) and REPS (3) shorten a trial;
# part 3: TARGETS ("ts ss": threaded-service, soak-server) narrows it, PEAK=0,
# HEAPTRACK=0 and FLAT=0 leave out the peak-rate pairs, the heaptrack runs and the
# flat-out pairs;
# PLANS ("ws-steady ws-churn"), SEEDS ("1 2 3") and VARIANTS ("fixed leaky") narrow part 1
# (parallel shards: give each its own OUT).
set -u
cd "$(dirname "$0")/.."
R=target/release
BIN=$R/soak
E=$R/examples
OUT=${OUT:-reports/preload}
DURATION=${DURATION:-5m}
PARTS=${PARTS:-1234}
PAIR=${PAIR:-60s}
REPS=${REPS:-3}
TARGETS=${TARGETS:-ts ss}
HEAPTRACK=${HEAPTRACK:-1}
FLAT=${FLAT:-1}
PEAK=${PEAK:-1}
rm -rf "$OUT"
mkdir -p "$OUT"
for f in "$BIN" "$R/soak-server" "$R/libsoak_preload.so" "$E/threaded-service" "$E/alloc_overhead"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "missing $f: cargo build --release --workspace --lib --bins --examples" >&2; exit 2; }
done

# The cooldowns and ws-churn plans held at their peak rate all run long.
sed -e 's/^trough = .*/trough = 150.0/' -e '/^recurring/d' live/plans/cooldowns.toml > "$OUT/cooldowns-peak.toml"
sed -e 's/^trough = .*/trough = 40.0/' -e '/^bursts/d' live/plans/ws-churn.toml > "$OUT/ws-churn-peak.toml"

# cpu_watch PATTERN FILE: the CPU seconds (user + system) of the newest process whose
# command line starts with PATTERN, as last read before it ended.
cpu_watch() {
    local pid="" hz
    hz=$(getconf CLK_TCK)
    for _ in $(seq 300); do
        pid=$(pgrep -n -f "^$1") && break
        sleep 0.2
    done
    [ -n "$pid" ] || return
    while [ -r "/proc/$pid/stat" ]; do
        awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$pid/stat" > "$2.tmp" 2>/dev/null && mv "$2.tmp" "$2"
        sleep 0.5
    done
}

# row TSV NAME EXIT DIR CPUFILE: one line of figures from a run directory.
row() {
    python3 - "$@" <<'EOF'
import csv, json, os, sys
tsv, name, code, d, cpu = sys.argv[1:6]
j = json.load(open(os.path.join(d, "summary.json")))
res = {r["name"]: r for r in j["resources"]}
def rate(n):
    r = res.get(n) or {}
    e = r.get("estimate") or {}
    if not e: return "-"
    return "%.2f ± %.2f" % (e["per_hour"] / 2**20, e["stderr"] / 2**20)
def verdict(n):
    r = res.get(n)
    return r["verdict"] if r else "-"
rows = list(csv.DictReader(open(os.path.join(d, "samples.csv"))))
def agreement(col):
    ratios = []
    for r in rows:
        try:
            a, b = float(r["live_bytes"]), float(r[col])
            if b >= 2**20: ratios.append(a / b)
        except (KeyError, ValueError, TypeError):
            pass
    if not ratios: return "-"
    return "%.4f–%.4f (mean %.4f)" % (min(ratios), max(ratios), sum(ratios) / len(ratios))
agree = agreement("soak_server_heap_live_bytes")
agree_usable = agreement("soak_server_heap_usable_bytes")
sites = j.get("growth_sites") or []
top = " | ".join("%s %.0f%%" % (s["frames"][0] if s["frames"] else "?",
                 100 * (s.get("share_of_heap_growth") or 0)) for s in sites[:3]) or "-"
live = j["live"]
nh = live.get("native_heap") or {}
c = open(cpu).read().strip() if os.path.exists(cpu) else ""
out = [name, code, j["verdict"], verdict("heap"), rate("heap"), verdict("rss"), rate("rss"),
       agree, agree_usable, top, live["requests"]["total"], live["requests"]["per_second"],
       live["latency_ms"].get("p99"), c or "-", nh.get("samples", "-"), nh.get("warning") or "-"]
with open(tsv, "a") as f:
    f.write("\t".join(map(str, out)) + "\n")
EOF
}

header() {
    echo -e "run\texit\tverdict\theap\theap MiB/wall h\trss\trss MiB/wall h\tpreload/metrics heap\tpreload/metrics usable\ttop sites\trequests\treq/s\tp99 ms\ttarget CPU s\tsamples\twarning" > "$1"
}

# run TSV NAME PATTERN SOAK-ARGS...: one soak live run, its row appended.
run() {
    local tsv=$1 name=$2 pat=$3
    shift 3
    local d=$OUT/runs
    cpu_watch "$pat" "$OUT/$name.cpu" &
    local w=$!
    "$BIN" live "$@" --name "$name" --out "$d" --quiet > "$OUT/$name.log" 2>&1
    local code=$?
    wait $w 2>/dev/null
    local dir
    dir=$(find "$d" -maxdepth 2 -type d -name "$name" | head -1)
    if [ -n "$dir" ] && [ -f "$dir/summary.json" ]; then
        row "$tsv" "$name" "$code" "$dir" "$OUT/$name.cpu"
    else
        echo -e "$name\t$code\t(no report: $(tail -1 "$OUT/$name.log"))" >> "$tsv"
    fi
}

# 1. soak-server under --heap, three seeds.
part() { [[ $PARTS == *$1* ]]; }
T1=$OUT/soak-server.tsv
part 1 && header "$T1" && for plan in ${PLANS:-ws-steady ws-churn}; do
  for seed in ${SEEDS:-1 2 3}; do for v in ${VARIANTS:-fixed leaky}; do
    SOAK_SERVER_USABLE_HEAP=1 run "$T1" "ss-$plan-$v-seed$seed" "$R/soak-server" --cmd "$R/soak-server --variant $v" \
        --plan "$plan" --heap --duration "$DURATION" --seed "$seed"
  done; done
done

# 2. threaded-service: fixed with and without --heap, leaky with it.
T2=$OUT/threaded.tsv
part 2 && header "$T2" && for v in fixed leaky; do
    run "$T2" "ts-$v-heap" "$E/threaded-service" --cmd "$E/threaded-service --variant $v" \
        --plan cooldowns --heap --duration "$DURATION"
done
part 2 && run "$T2" "ts-fixed-rss" "$E/threaded-service" --cmd "$E/threaded-service --variant fixed" \
    --plan cooldowns --no-heap --duration "$DURATION"

# 3. Overhead pairs at the plans' peak rates, then flat out.
T3=$OUT/overhead.tsv
target() { [[ " $TARGETS " == *" $1 "* ]]; }
part 3 && header "$T3" && [ "$PEAK" != 0 ] && for rep in $(seq "$REPS"); do
    for mode in no-heap heap; do
        target ts && run "$T3" "ts-peak-$mode-$rep" "$E/threaded-service" --cmd "$E/threaded-service" \
            --plan "$OUT/cooldowns-peak.toml" --"$mode" --duration "$PAIR"
        target ss && run "$T3" "ss-peak-$mode-$rep" "$R/soak-server" --cmd "$R/soak-server" \
            --plan "$OUT/ws-churn-peak.toml" --"$mode" --duration "$PAIR"
    done
done
if ! part 3 || [ "$HEAPTRACK" = 0 ]; then
    :
elif command -v heaptrack > /dev/null; then
    target ts && run "$T3" "ts-peak-heaptrack" "$E/threaded-service" \
        --cmd "heaptrack -o $OUT/heaptrack-threaded $E/threaded-service" \
        --plan "$OUT/cooldowns-peak.toml" --no-heap --duration "$PAIR"
    target ss && run "$T3" "ss-peak-heaptrack" "$R/soak-server" \
        --cmd "heaptrack -o $OUT/heaptrack-soak-server $R/soak-server" \
        --plan "$OUT/ws-churn-peak.toml" --no-heap --duration "$PAIR"
else
    echo "heaptrack is not installed (Debian: apt-get install heaptrack); skipping it" >&2
fi
part 3 && target ts && [ "$FLAT" != 0 ] && for rep in $(seq "$REPS"); do
    for mode in no-heap heap; do
        run "$T3" "ts-max-$mode-$rep" "$E/threaded-service" --cmd "$E/threaded-service" \
            --plan live/tests/fixtures/max-rate.toml --"$mode" --duration 30s
    done
done

# 4. Instructions per call.
T4=$OUT/callgrind.tsv
part 4 && echo -e "allocator\trounds\tinstructions" > "$T4"
if ! part 4; then
    :
elif command -v valgrind > /dev/null; then
    for rounds in 10 20; do
        for a in glibc preload-counting preload-sampling; do
            case $a in
                glibc) env=() ;;
                preload-counting) env=(LD_PRELOAD="$PWD/$R/libsoak_preload.so" SOAK_HEAP_SAMPLE_BYTES=0) ;;
                preload-sampling) env=(LD_PRELOAD="$PWD/$R/libsoak_preload.so") ;;
            esac
            n=$(env "${env[@]}" MODE=system ROUNDS=$rounds valgrind --tool=callgrind \
                --callgrind-out-file=/dev/null "$E/alloc_overhead" 2>&1 | awk '/Collected/ {print $4}')
            echo -e "$a\t$rounds\t$n" >> "$T4"
        done
    done
else
    echo "valgrind is not installed; skipping the instruction counts" >&2
fi
echo "done $(date -u +%FT%TZ) at $(git rev-parse --short HEAD)" >> "$OUT/done"
