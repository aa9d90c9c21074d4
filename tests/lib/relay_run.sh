# Sourced by the tests that run one relay on a throwaway cluster and kill
# and restart it at will (tests/consistency/run.sh, tx_run.sh,
# tests/durability/crash_restart.sh). Needs root and RUN_NAME (how failure
# lines name the run: "consistency seed 3"); sets build, relay_bin,
# tail_bin and py from the test's BUILD argument (default ./build).
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
. "$root/tests/lib/relay_role.sh"
. "$root/tests/lib/free_port.sh"

build=$(cd "${RUN_BUILD:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3

RELAY= TAIL= RAW= WORK=

run_cleanup() {
    local rc=$?
    stop_pid "$WORK"; stop_pid "$TAIL"; stop_pid "$RAW"; stop_pid "$RELAY"
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    end_workdir $rc "$D" 15 "$RUN_NAME: FAILED (logs kept in $D)" "$D/relay.log" "$D/tail.err"
    exit $rc
}

# run_start NAME [pgtmp option...]: a temp dir D (/tmp/tablepub-NAME.XXXX,
# kept after a failure) and a cluster in PGD=$D/pg, its PG* set (superuser).
# The processes in WORK, TAIL, RAW and RELAY (pids) and the cluster are
# stopped on every exit path.
run_start() {
    local name=$1
    shift
    D=$(mktemp -d "/tmp/tablepub-$name.XXXX")
    chmod 755 "$D"  # pgtmp runs postgres as its own user
    PGD=$D/pg
    trap run_cleanup EXIT
    trap 'exit 130' INT TERM
    "$root/tests/lib/pgtmp" start "$PGD" --owner $$ "$@" >/dev/null
    . "$PGD/env"
}


# relay_setup: after CREATE EXTENSION, the relay's least-privilege login
# (RELAY_ROLE) and its endpoints PUB and SNAP on free ports.
relay_setup() {
    create_relay_role
    PUB=tcp://127.0.0.1:$(free_port)
    SNAP=tcp://127.0.0.1:$(free_port)
}

# start_relay: starts the relay (RELAY, its stderr appended to
# $D/relay.log); kill_relay: kill -9, as a crash would.
start_relay() {
    "$relay_bin" --db "dbname=$PGDATABASE user=$RELAY_ROLE" --publish "$PUB" --snapshot "$SNAP" \
        --heartbeat-interval 500 --poll-interval 200 --start-delay 200 2>>"$D/relay.log" &
    RELAY=$!
}
kill_relay() { kill -9 "$RELAY" 2>/dev/null || true; wait "$RELAY" 2>/dev/null || true; RELAY=; }

# kill_relay_during_work JOIN_AT FIRST FIRST_SPREAD EVERY EVERY_SPREAD:
# while the workload WORK runs (WORK_SECONDS long), kills the relay (-9) at
# FIRST + RANDOM % FIRST_SPREAD seconds and then every EVERY + RANDOM %
# EVERY_SPREAD seconds until 2 s before the end, restarting it 0.1 to 0.8 s
# later; at JOIN_AT seconds calls join_subscriber (the test's: starts TAIL).
# Then reaps WORK, shows its output ($D/workload.out) and the kills, and
# fails if the subscriber never joined.
kill_relay_during_work() {
    local join_at=$1 first=$2 first_spread=$3 every=$4 every_spread=$5
    local kills=0 t0 now next_kill joined=0
    t0=$(date +%s)
    next_kill=$((first + RANDOM % first_spread))
    while kill -0 "$WORK" 2>/dev/null; do
        sleep 0.5
        now=$(( $(date +%s) - t0 ))
        if [ $joined = 0 ] && [ $now -ge "$join_at" ]; then
            join_subscriber
            joined=1
        fi
        if [ $now -ge $next_kill ] && [ $now -lt $((WORK_SECONDS - 2)) ]; then
            kill_relay
            kills=$((kills + 1))
            sleep "0.$((RANDOM % 8 + 1))"
            start_relay
            next_kill=$((now + every + RANDOM % every_spread))
        fi
    done
    wait "$WORK"; WORK=
    cat "$D/workload.out"
    echo "relay killed (-9) and restarted $kills times; subscriber joined at $join_at s"
    [ $joined = 1 ] || { echo "FAIL: the workload ended before the subscriber joined" >&2; exit 1; }
}
