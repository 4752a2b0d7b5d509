#!/usr/bin/env bash
# A live run stopped by SIGTERM at a random moment leaves either the previous run
# directory or a whole new one — summary, samples, charts, goose's reports and the
# target's logs together — never a directory missing any of them (issue 19).
#
#   ci/live-interrupts.sh [RUNS]        # default 10; needs a release build
#
# One complete run first (the previous directory), then RUNS runs of the same name,
# each sent SIGTERM after a random 0.1–9.9 s (bring-up, load, wind-down and the
# write all get hit). After each: the directory is whole, and is the previous one
# (unchanged) or a new one (`"complete": false`, or true when the signal came after
# the load). Exit 0 when every check held. Loopback only; each run stops by itself.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
SOAK=${SOAK:-target/release/soak}
SERVER=${SERVER:-target/release/soak-server}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dir="$out/live-chat-bot/fixed"
# `exec`: started with `run &`, the background subshell becomes soak itself, so the
# SIGTERM below reaches soak (a subshell would defer it until soak had finished).
run() {
    exec "$SOAK" live --cmd "$SERVER --variant fixed" --plan chat-bot --duration 6s \
        --sample-every 250ms --quiet --out "$out"
}
# Every file a live run directory holds, goose's reports included.
whole() {
    for f in samples.csv summary.json heap.svg heap.png goose-report.html \
        goose-report.json target-stdout.log target-stderr.log; do
        # The target's logs may be empty (a quiet server); the rest may not.
        [ -s "$1/$f" ] || { [ "${f#target-}" != "$f" ] && [ -f "$1/$f" ]; } || {
            echo "missing $f"
            return 1
        }
    done
}
(run >/dev/null 2>&1) || true
whole "$dir" >/dev/null || { echo "the first run left no whole directory"; exit 2; }
bad=0
kept=0
new=0
for i in $(seq 1 "$RUNS"); do
    before=$(md5sum "$dir/summary.json" | cut -d' ' -f1)
    run >/dev/null 2>&1 &
    pid=$!
    delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.1f", 0.1 + rand() * 9.8 }')
    sleep "$delay"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    if ! why=$(whole "$dir"); then
        echo "run $i (SIGTERM after ${delay}s, exit $rc): NOT WHOLE: $why"
        bad=$((bad + 1))
        continue
    fi
    after=$(md5sum "$dir/summary.json" | cut -d' ' -f1)
    complete=$(sed -n 's/^  "complete": \(.*\),$/\1/p' "$dir/summary.json")
    if [ "$before" = "$after" ]; then
        kept=$((kept + 1))
        what="previous directory kept"
    else
        new=$((new + 1))
        what="new directory, complete: $complete"
    fi
    echo "run $i (SIGTERM after ${delay}s, exit $rc): whole; $what"
done
echo "$RUNS runs: $new new directories, $kept previous kept, $bad not whole"
exit $((bad > 0))
