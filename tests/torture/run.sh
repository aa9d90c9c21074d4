#!/usr/bin/env bash
# Runs the torture scenarios (every tests/torture/*.sh but lib.sh and this
# file, and tests/durability/*.sh; each is `NAME.sh SEED [BUILD]`) and prints a table scenario x seeds x
# result. A failed run never stops the others and is never retried; the exit
# status is 1 if any run failed.
#
#   tests/torture/run.sh --once SEED [BUILD]     each scenario once with SEED
#   tests/torture/run.sh --minutes M [BUILD]     rounds of every scenario with
#                                                seeds 1, 2, 3, ... until M
#                                                minutes are up (a round in
#                                                progress is finished)
#
# TORTURE_SCENARIOS="a b" limits the scenarios; every run's output is kept in
# $TORTURE_LOGS (default: a new /tmp/tablepub-torture-runs.XXXX).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:?usage: run.sh --once SEED | --minutes M [BUILD]}
arg=${2:?usage: run.sh --once SEED | --minutes M [BUILD]}
build=${3:-$here/../../build}
logs=${TORTURE_LOGS:-$(mktemp -d /tmp/tablepub-torture-runs.XXXX)}
mkdir -p "$logs"
declare -A path=()
for f in "$here"/*.sh "$here"/../durability/*.sh; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .sh)
    [ "$n" = lib ] || [ "$n" = run ] || path[$n]=$f
done
if [ -n "${TORTURE_SCENARIOS:-}" ]; then
    scenarios=($TORTURE_SCENARIOS)
    for s in "${scenarios[@]}"; do [ -n "${path[$s]:-}" ] || { echo "run.sh: no scenario $s" >&2; exit 2; }; done
else
    mapfile -t scenarios < <(printf '%s\n' "${!path[@]}" | sort)
fi
case $mode in
    --once) seeds_fixed=$arg; deadline=0 ;;
    --minutes) seeds_fixed=; deadline=$(( $(date +%s) + arg * 60 )) ;;
    *) echo "usage: run.sh --once SEED | --minutes M [BUILD]" >&2; exit 2 ;;
esac

declare -A runs=() ok=() bad=() secs=() badseeds=()
for s in "${scenarios[@]}"; do runs[$s]=0; ok[$s]=0; bad[$s]=0; secs[$s]=0; badseeds[$s]=; done
seed=${seeds_fixed:-1}
while :; do
    for s in "${scenarios[@]}"; do
        t0=$(date +%s)
        log=$logs/$s.seed$seed.log
        if "${path[$s]}" "$seed" "$build" >"$log" 2>&1; then
            ok[$s]=$(( ${ok[$s]} + 1 )); r=ok
        else
            bad[$s]=$(( ${bad[$s]} + 1 )); badseeds[$s]+=" $seed"; r="FAILED (log: $log)"
        fi
        dt=$(( $(date +%s) - t0 ))
        runs[$s]=$(( ${runs[$s]} + 1 )); secs[$s]=$(( ${secs[$s]} + dt ))
        echo "torture: $s seed $seed: $r in ${dt}s"
    done
    [ -n "$seeds_fixed" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || break
    seed=$((seed + 1))
done

echo
printf '%-20s %6s %6s %6s %9s  %s\n' scenario runs passed failed "s/run" "failed seeds"
passed=0 failed=0
for s in "${scenarios[@]}"; do
    printf '%-20s %6d %6d %6d %9d  %s\n' "$s" "${runs[$s]}" "${ok[$s]}" "${bad[$s]}" \
        $(( ${secs[$s]} / (${runs[$s]} > 0 ? ${runs[$s]} : 1) )) "${badseeds[$s]:- -}"
    passed=$((passed + ${ok[$s]})); failed=$((failed + ${bad[$s]}))
done
echo "logs: $logs"
echo "torture: $passed passed, $failed failed"
[ "$failed" = 0 ]
