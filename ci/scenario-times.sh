#!/bin/bash
# Wall times of every scenario (docs/performance.md, "Scenarios: 24 virtual hours"):
# sampling on vs off, interleaved, 3 runs each, fixed and leaky; then --dhat and
# heaptrack once each (fixed). Run on an idle machine; rows go to $OUT/perf.tsv.
#   cargo build --release && ci/scenario-times.sh
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/soak}
OUT=${OUT:-reports/scenario-times}; rm -rf "$OUT"; mkdir -p "$OUT"
T=$OUT/perf.tsv; echo -e "rep\tscenario\tvariant\tmode\twall_s\tverdict" > $T
S="calibration moderator-flood raid-burst artifact-cache connection-churn timer-lifecycle"
rec() { python3 -c "import json;j=json.load(open('$1'));print('\t'.join(map(str,['$2','$3','$4','$5',j['wall_seconds'],j['verdict']])))" >> $T; }
for rep in 1 2 3; do for s in $S; do for v in fixed leaky; do for mode in on off; do
  extra=""; [ $mode = off ] && extra="--sample-bytes 0"
  d=$OUT/r-$rep-$mode; $BIN run $s --variant $v -q --out $d $extra > /dev/null
  rec $d/$s/$v/summary.json $rep $s $v $mode
done; done; done; done
for s in $S; do
  d=$OUT/dhat; $BIN run $s --dhat -q --out $d > /dev/null; rec $d/$s/fixed/summary.json 1 $s fixed dhat
  if command -v heaptrack >/dev/null; then
    d=$OUT/ht; mkdir -p $d
    heaptrack -o $d/$s $BIN run $s --sample-bytes 0 -q --out $d > $d/$s.log 2>&1
    rec $d/$s/fixed/summary.json 1 $s fixed heaptrack
  else
    echo "heaptrack is not installed (Debian: apt-get install heaptrack); skipping its column" >&2
  fi
done
echo done >> $T
