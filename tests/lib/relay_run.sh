# Sourced by the tests that run one relay on a throwaway cluster and kill
# and restart it at will (tests/consistency/run.sh, tx_run.sh,
# tests/durability/crash_restart.sh). Needs root, py, relay_bin and
# RUN_NAME (how failure lines name the run: "consistency seed 3").
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
. "$root/tests/lib/relay_role.sh"

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

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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
