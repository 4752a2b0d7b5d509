#!/usr/bin/env bash
# The verdict grid behind docs/verdict.md: every scenario × fixed/leaky × run
# lengths × seeds, one run at a time, one TSV row per run, then the tallies.
#
#   ci/verdict-grid.sh                         # windows 1 2 4 6 12 24 h, seeds 1-5
#   HOURS=auto SEEDS="$(seq -s' ' 1 25)" VARIANTS=fixed ci/verdict-grid.sh grid-auto.tsv
#
# A wrong verdict is a fixed variant that fails or a leaky one that passes.
# Exit status 0 when there is none, 1 otherwise. Needs only bash, sed and awk.
set -uo pipefail
cd "$(dirname "$0")/.."
TSV=${1:-reports/verdict-grid.tsv}
OUT=${OUT:-reports/verdict-grid}
HOURS=${HOURS:-"1 2 4 6 12 24"}
SEEDS=${SEEDS:-"1 2 3 4 5"}
VARIANTS=${VARIANTS:-"fixed leaky"}
# SOAK=path runs that binary instead of building one (a grid takes a while; a
# copy keeps later builds from changing it mid-way).
if [ -z "${SOAK:-}" ]; then
    cargo build --release --bin soak -q || exit 2
    SOAK=./target/release/soak
fi
SCENARIOS=${SCENARIOS:-$($SOAK list | awk '{print $1}')}
mkdir -p "$(dirname "$TSV")"

field() { sed -n "s/^  \"$1\": \(.*\),\$/\1/p" "$2" | tr -d '"' | head -1; }

printf 'scenario\tvariant\thours\tseed\texit\tverdict\tvirtual_hours\tgrowth\tstderr\tlate\twall_s\tmessage\n' >"$TSV"
for s in $SCENARIOS; do
    for v in $VARIANTS; do
        for h in $HOURS; do
            for n in $SEEDS; do
                dir="$OUT/$s-$v-$h-$n"
                $SOAK run "$s" --variant "$v" --hours "$h" --seed "$n" -q --out "$dir" >/dev/null
                rc=$?
                j="$dir/$s/$v/summary.json"
                if [ ! -f "$j" ]; then
                    printf '%s\t%s\t%s\t%s\t%s\terror\t\t\t\t\t\t\n' "$s" "$v" "$h" "$n" "$rc" >>"$TSV"
                    continue
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$v" "$h" "$n" "$rc" \
                    "$(field verdict "$j")" "$(field virtual_hours "$j")" \
                    "$(field growth_bytes_per_hour "$j")" "$(field growth_stderr_bytes_per_hour "$j")" \
                    "$(field late_growth_bytes_per_hour "$j")" "$(field wall_seconds "$j")" \
                    "$(field message "$j")" >>"$TSV"
            done
        done
    done
done

awk -F'\t' 'NR > 1 {
    runs[$3]++; state[$3, $6]++
    if (($2 == "fixed" && $6 == "fail") || ($2 == "leaky" && $6 == "pass")) { wrong[$3]++; bad++
        print "WRONG: " $1 " " $2 " --hours " $3 " --seed " $4 ": " $12 }
    if (!($3 in seen)) { seen[$3] = 1; order[++k] = $3 }
}
END {
    printf "%-8s %6s %6s %6s %13s %6s\n", "hours", "runs", "pass", "fail", "inconclusive", "wrong"
    for (i = 1; i <= k; i++) { h = order[i]
        printf "%-8s %6d %6d %6d %13d %6d\n", h, runs[h], state[h, "pass"], state[h, "fail"], state[h, "inconclusive"], wrong[h] }
    exit bad > 0
}' "$TSV"
