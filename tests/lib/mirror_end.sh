# Sourced by the tests that follow tables with one tablepub-tail --mirror
# subscriber and end by checking it (tests/consistency/run.sh, tx_run.sh,
# tests/durability/crash_restart.sh, tests/upgrade/run.sh; the demo uses
# mirror_dump_within). Needs root, py, D, TAIL (the tail's pid: its mirror
# is $D/mirror.jsonl, its output $D/tail.jsonl, its stderr $D/tail.err) and
# stop_pid (tests/lib/procs.sh).

MIRROR_DUMPS=0

# mirror_dump_within TENTHS: asks the tail for its mirror (SIGUSR1) and
# waits up to TENTHS tenths of a second for the status of that dump
# (MIRROR_DUMPS counts them); returns 1 if it did not come.
mirror_dump_within() {
    local j
    MIRROR_DUMPS=$((MIRROR_DUMPS + 1))
    kill -USR1 "$TAIL"
    for j in $(seq 1 "$1"); do
        "$py" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["dumps"] < int(sys.argv[2]))' \
            "$D/mirror.jsonl.status" "$MIRROR_DUMPS" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# mirror_dump: the same, waiting up to 60 s (a loaded machine can stall the
# tail for seconds; a dump that never comes is a failure, a slow one is not).
mirror_dump() {
    mirror_dump_within 600 && return 0
    echo "FAIL: the subscriber did not write its mirror status" >&2
    exit 1
}

# wait_caught_up: the relay has published every committed change and the
# subscriber is live at the relay's durable seq of every table
# (tests/consistency/caught_up.py), twice in a row; fails after 80 rounds.
wait_caught_up() {
    local i caught=0
    for i in $(seq 1 80); do
        mirror_dump
        if "$py" "$root/tests/consistency/caught_up.py" "$D/mirror.jsonl.status" "$MIRROR_DUMPS"; then
            caught=$((caught + 1))
        else
            caught=0
        fi
        [ $caught -ge 2 ] && return 0
        sleep 0.25
    done
    echo "FAIL: the subscriber did not catch up with the relay within 20 s" >&2
    cat "$D/mirror.jsonl.status" >&2
    exit 1
}

# finish_mirror TABLES: the tail's own account (every table live, no
# resync, no anomaly, nothing dropped, one snapshot), then stops the tail
# and the raw tail RAW (both write their last output as they exit) and
# compares the mirror with the comma-separated TABLES, with what went over
# the bus ($D/raw.jsonl) and with what the tail printed
# (tests/consistency/compare.py).
finish_mirror() {
    "$py" "$root/tests/torture/check_status.py" --strict "$D/mirror.jsonl.status"
    if grep -q -- '-> resyncing' "$D/tail.err"; then
        echo "FAIL: the subscriber resynced:" >&2
        grep -- '-> resyncing' "$D/tail.err" >&2
        exit 1
    fi
    stop_pid "$TAIL"; TAIL=
    stop_pid "$RAW"; RAW=
    "$py" "$root/tests/consistency/compare.py" "$D/mirror.jsonl" --tables "$1" \
        --raw "$D/raw.jsonl" --delivered "$D/tail.jsonl"
}
