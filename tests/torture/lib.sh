# Shared parts of the torture scenarios (tests/torture/*.sh). Source it after
# setting `scenario`; every scenario is
#
#   tests/torture/NAME.sh SEED [BUILD]
#
# and ends with tt_finish: each subscriber's mirror (the C++ tablepub-tail
# --mirror and the Python client, tests/torture/py_mirror.py) must be live,
# caught up with the relay, have 0 anomalies (and no resync unless the
# scenario says why one is expected), and equal the tables row by row
# (tests/consistency/compare.py). Every process and server a scenario starts
# is stopped on every exit path; servers listen on 127.0.0.1 and unix
# sockets only. The relay runs as the login `tp_relay`, a non-superuser whose
# only privilege is membership in tablepub_relay.
#
# Nothing here sleeps to synchronize: tt_wait_sql and tt_wait_caught_up poll
# for a condition and fail the scenario when it does not come in time
# (TT_TIMEOUT seconds, default 180, generous for a loaded 2-core machine).
set -euo pipefail
seed=${1:?usage: $scenario.sh SEED [BUILD]}
tt_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$tt_here/../.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3
consistency=$root/tests/consistency
TT_TIMEOUT=${TT_TIMEOUT:-180}
RANDOM=$seed
tt_start=$(date +%s)
export PGCLIENTENCODING=UTF8 PGAPPNAME=tablepub-torture

D=$(mktemp -d "/tmp/tablepub-torture-$scenario.XXXX")
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
. "$root/tests/lib/all_published.sh"
. "$root/tests/lib/free_port.sh"

declare -A TT_PID=()     # name -> pid of every process we started
declare -A TT_SUB=()     # subscriber name -> "tail" | "py"
declare -A TT_TABLES=()  # subscriber name -> comma-separated tables
declare -A TT_DUMPS=()   # subscriber name -> status dumps asked for
TT_RELAY_ROLE=tp_relay
TT_ALLOW_RESYNC=""       # set to a reason when a scenario's resyncs are by design
TT_RAW=1                 # keep a raw tail of the stream and check it (compare.py --raw)
TT_STOPPED=()            # pids of server processes held with SIGSTOP (tt_hold_walwriter)

tt_cleanup() {
    local rc=$? n
    trap - EXIT
    for n in "${TT_STOPPED[@]+"${TT_STOPPED[@]}"}"; do kill -CONT "$n" 2>/dev/null || true; done
    for n in "${!TT_PID[@]}"; do kill -CONT "${TT_PID[$n]}" 2>/dev/null || true; stop_pid "${TT_PID[$n]}"; done
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    [ -n "${PGD2:-}" ] && { "$root/tests/lib/pgtmp" stop "$PGD2" >/dev/null 2>&1 || true; }
    end_workdir $rc "$D" 12 "torture $scenario seed $seed: FAILED after $(( $(date +%s) - tt_start )) s (logs kept in $D)" \
        "$D"/*.log "$D"/*.err
    exit $rc
}
trap tt_cleanup EXIT
trap 'exit 130' INT TERM

tt_fail() { echo "FAIL: $*" >&2; exit 1; }
tt_log() { echo "[$scenario $(( $(date +%s) - tt_start ))s] $*"; }


# tt_pg_start [-c name=value ...]: the cluster; PG* exported (superuser).
tt_pg_start() {
    "$root/tests/lib/pgtmp" start "$PGD" --owner $$ -c deadlock_timeout=50ms "$@" >/dev/null
    . "$PGD/env"
}

# tt_db_init DB: the extension in DB (created unless it exists) and the relay
# login. Later psql calls go to DB.
tt_db_init() {
    local db=$1
    [ "$db" = postgres ] || [ -n "$(psql -qXAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ] \
        || createdb "$db"
    export PGDATABASE=$db
    psql -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS tablepub" >/dev/null
    psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TT_RELAY_ROLE') THEN
        CREATE ROLE $TT_RELAY_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
END \$\$;
GRANT tablepub_relay TO $TT_RELAY_ROLE;
SQL
}

tt_sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }

# tt_wait_sql WHAT SQL [TIMEOUT]: waits until SQL returns 't'.
tt_wait_sql() {
    local what=$1 sql=$2 limit=${3:-$TT_TIMEOUT} t0
    t0=$(date +%s)
    until [ "$(psql -qXAt -c "$sql" 2>/dev/null)" = t ]; do
        [ $(( $(date +%s) - t0 )) -lt "$limit" ] || tt_fail "timed out after ${limit}s waiting for $what"
        sleep 0.05
    done
}

# tt_hold_walwriter: stops the cluster's WAL writer (SIGSTOP) until the next
# tt_crash_db, so that WAL of asynchronous commits stays in the WAL buffers
# (give the cluster a large wal_buffers) until a backend flushes it: the
# crash then loses every commit nobody flushed. A WAL writer merely slowed
# (wal_writer_delay) still writes each completed WAL page at once, and
# written pages survive a crash of PostgreSQL.
#
# It must be stopped while it sleeps in its main loop (wait event
# WalWriterMain), never in the middle of a write: stopped while holding
# WALWriteLock, it would block every backend's WAL flush, and with it every
# synchronous commit (the relay's included) until the crash. A stopped
# process's wait event cannot change, so the check after SIGSTOP is exact;
# when it caught the writer at work, it lets it go on and tries again.
tt_hold_walwriter() {
    local pid tries=0
    pid=$(tt_sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'")
    [ -n "$pid" ] || tt_fail "no walwriter process"
    while :; do
        kill -STOP "$pid"
        [ "$(tt_sql "SELECT wait_event FROM pg_stat_activity WHERE pid = $pid")" = WalWriterMain ] && break
        kill -CONT "$pid"
        tries=$((tries + 1))
        [ $tries -lt 1000 ] || tt_fail "the walwriter was never caught asleep"
        sleep 0.01
    done
    TT_STOPPED+=("$pid")
}

# tt_hold_drain: holds the active relay's drain (whose synchronous batch
# commits flush the WAL) until the next crash: a session takes an EXCLUSIVE
# lock on tablepub.relay_batch, and the wait ends when the relay's session
# is blocked by that session (pg_blocking_pids; any other lock wait of the
# relay, say maintain() waiting for an outbox partition, is not the hold).
tt_hold_drain() {
    PGAPPNAME=tt-hold-drain psql -qXAt \
        -c "BEGIN; LOCK TABLE tablepub.relay_batch IN EXCLUSIVE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
    TT_PID[hold-drain]=$!
    tt_wait_sql "the relay's drain to wait for the held lock" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity r, pg_stat_activity h
                         WHERE r.usename = '$TT_RELAY_ROLE' AND r.application_name = 'tablepub-relay'
                           AND h.application_name = 'tt-hold-drain'
                           AND h.pid = ANY (pg_catalog.pg_blocking_pids(r.pid)))"
}

# tt_crash_db: crashes the database and restarts it (pg_ctl restart -m
# immediate: every server process quits at once, nothing is flushed). A WAL
# writer held by tt_hold_walwriter cannot quit, and the postmaster would wait
# 5 s before it SIGKILLs it: it is SIGKILLed once the shutdown is asked for.
tt_crash_db() {
    local pg pid
    as_pg "$PGTMP_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -m immediate -w -t 60 restart >/dev/null &
    pg=$!
    for pid in "${TT_STOPPED[@]+"${TT_STOPPED[@]}"}"; do kill -9 "$pid" 2>/dev/null || true; done
    TT_STOPPED=()
    wait "$pg" || tt_fail "pg_ctl restart -m immediate failed (see $PGD/postgres.log)"
    tt_stop hold-drain
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Relay endpoints: one pair per relay name, chosen once.
declare -A TT_PUB=() TT_SNAP=()
tt_endpoints() {
    local name=$1
    [ -n "${TT_PUB[$name]:-}" ] && return 0
    TT_PUB[$name]=tcp://127.0.0.1:$(free_port)
    TT_SNAP[$name]=tcp://127.0.0.1:$(free_port)
}

# tt_relay NAME [relay flags...]: starts (or restarts) relay NAME against
# $PGDATABASE as the least-privileged login.
tt_relay() {
    local name=$1; shift
    tt_endpoints "$name"
    "$relay_bin" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$TT_RELAY_ROLE" \
        --publish "${TT_PUB[$name]}" --snapshot "${TT_SNAP[$name]}" \
        --heartbeat-interval 500 --poll-interval 200 --start-delay 200 "$@" 2>>"$D/relay-$name.log" &
    TT_PID[relay-$name]=$!
}

# tt_wait_log RELAY PATTERN COUNT: relay RELAY's log has COUNT lines
# matching PATTERN (grep -E), e.g. "took over".
tt_wait_log() {
    local t0; t0=$(date +%s)
    until [ "$(grep -cE "$2" "$D/relay-$1.log" 2>/dev/null || true)" -ge "$3" ]; do
        [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] || tt_fail "relay $1 did not log '$2' ($3 times)"
        sleep 0.05
    done
}

# tt_kill NAME: SIGKILL a started process (relay-A, tail-x, ...) and reap it.
tt_kill() {
    local pid=${TT_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -9 "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
    unset "TT_PID[$1]"
}

# tt_stop NAME: SIGTERM (then SIGKILL) a started process and reap it.
tt_stop() {
    local pid=${TT_PID[$1]:-}
    [ -n "$pid" ] || return 0
    stop_pid "$pid"
    unset "TT_PID[$1]"
}

# tt_signal_when NAME SIGNAL WHAT SQL: sends SIGNAL to started process NAME
# the moment SQL returns true (tests/torture/signal_when.py).
tt_signal_when() {
    "$py" "$tt_here/signal_when.py" "${TT_PID[$1]}" "$2" "$TT_TIMEOUT" "$4" \
        || tt_fail "timed out after ${TT_TIMEOUT}s waiting for $3"
}

tt_all_pub() { local n out=(); for n in "${!TT_PUB[@]}"; do out+=(--connect "${TT_PUB[$n]}"); done; echo "${out[@]}"; }
tt_all_snap() { local n out=(); for n in "${!TT_SNAP[@]}"; do out+=(--snapshot-endpoint "${TT_SNAP[$n]}"); done; echo "${out[@]}"; }

# tt_raw_tail: a plain tail of every table on every relay: what went over the bus.
tt_raw_tail() {
    # shellcheck disable=SC2046
    "$tail_bin" $(tt_all_pub) >"$D/raw.jsonl" 2>"$D/raw.err" &
    TT_PID[raw]=$!
}

# tt_tail NAME TABLE... [-- tail flags]: a C++ subscriber (tablepub-tail
# --snapshot --mirror) of TABLEs on every relay started so far.
tt_tail() {
    local name=$1; shift
    local tables=() extra=() t
    while [ $# -gt 0 ] && [ "$1" != -- ]; do tables+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; extra=("$@"); }
    local targs=()
    for t in "${tables[@]}"; do targs+=(--table "$t"); done
    # shellcheck disable=SC2046
    "$tail_bin" $(tt_all_pub) $(tt_all_snap) --request-timeout "${TT_TAIL_TIMEOUT:-1500}" "${targs[@]}" \
        --snapshot --mirror "$D/mirror-$name.jsonl" "${extra[@]+"${extra[@]}"}" \
        >"$D/tail-$name.jsonl" 2>"$D/tail-$name.err" &
    TT_PID[tail-$name]=$!
    TT_SUB[$name]=tail
    TT_TABLES[$name]=$(IFS=,; echo "${tables[*]}")
    TT_DUMPS[$name]=0
}

# tt_py NAME TABLE...: a Python subscriber (clients/python) of TABLEs.
tt_py() {
    local name=$1; shift
    local targs=() t
    for t in "$@"; do targs+=(--table "$t"); done
    mkdir -p "$build/python"
    [ -f "$build/python/tablepub_pb2.py" ] || protoc -I "$root/proto" --python_out="$build/python" "$root/proto/tablepub.proto"
    # shellcheck disable=SC2046
    PYTHONPATH="$build/python:$root/clients/python" "$py" "$tt_here/py_mirror.py" \
        $(tt_all_pub) $(tt_all_snap) --request-timeout "${TT_PY_TIMEOUT:-1.5}" "${targs[@]}" --mirror "$D/mirror-$name.jsonl" \
        >"$D/py-$name.log" 2>&1 &
    TT_PID[py-$name]=$!
    local t0; t0=$(date +%s)
    until [ -f "$D/mirror-$name.jsonl.status" ]; do  # SIGUSR1 before its handler would kill it
        kill -0 "${TT_PID[py-$name]}" 2>/dev/null || tt_fail "Python subscriber $name exited: $(cat "$D/py-$name.log")"
        [ $(( $(date +%s) - t0 )) -lt 60 ] || tt_fail "Python subscriber $name did not start"
        sleep 0.05
    done
    TT_SUB[$name]=py
    TT_TABLES[$name]=$(IFS=,; echo "$*")
    TT_DUMPS[$name]=0
}

tt_sub_pid() { echo "${TT_PID[${TT_SUB[$1]}-$1]}"; }

# tt_dump NAME: asks subscriber NAME for a status dump and waits for it.
tt_dump() {
    local name=$1 pid t0
    pid=$(tt_sub_pid "$name")
    kill -0 "$pid" 2>/dev/null || tt_fail "subscriber $name exited"
    TT_DUMPS[$name]=$(( ${TT_DUMPS[$name]} + 1 ))
    kill -USR1 "$pid"
    t0=$(date +%s)
    until "$py" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["dumps"] < int(sys.argv[2]))' \
            "$D/mirror-$name.jsonl.status" "${TT_DUMPS[$name]}" 2>/dev/null; do
        [ $(( $(date +%s) - t0 )) -lt 30 ] || tt_fail "subscriber $name did not write its status"
        sleep 0.05
    done
}

# tt_wait_caught_up [NAME...]: every (named) subscriber is live at the
# relay's durable last seq of each of its tables with nothing pending in the
# outbox, twice in a row (tests/consistency/caught_up.py).
tt_wait_caught_up() {
    local names=("$@") n ok caught=0 t0
    [ ${#names[@]} -gt 0 ] || names=("${!TT_SUB[@]}")
    t0=$(date +%s)
    while [ $caught -lt 2 ]; do
        ok=1
        for n in "${names[@]}"; do
            tt_dump "$n"
            "$py" "$consistency/caught_up.py" "$D/mirror-$n.jsonl.status" "${TT_DUMPS[$n]}" || { ok=0; break; }
        done
        if [ $ok = 1 ]; then caught=$((caught + 1)); else caught=0; fi
        if [ $(( $(date +%s) - t0 )) -ge "$TT_TIMEOUT" ]; then
            for n in "${names[@]}"; do echo "--- $n status:" >&2; cat "$D/mirror-$n.jsonl.status" >&2; echo >&2; done
            tt_fail "subscribers did not catch up with the relay within ${TT_TIMEOUT}s"
        fi
        [ $caught -ge 2 ] || sleep 0.2
    done
}

# tt_finish: catch up, stop the subscribers (they write a last mirror and
# status), check their own account and compare each mirror with the tables.
tt_finish() {
    local n args
    tt_wait_caught_up
    for n in "${!TT_SUB[@]}"; do tt_stop "${TT_SUB[$n]}-$n"; done
    tt_stop raw
    for n in $(printf '%s\n' "${!TT_SUB[@]}" | sort); do
        echo "subscriber $n (${TT_SUB[$n]}):"
        "$py" "$tt_here/check_status.py" "$D/mirror-$n.jsonl.status" --allow-resync "$TT_ALLOW_RESYNC" \
            || tt_fail "subscriber $n: see above"
        if [ "${TT_SUB[$n]}" = tail ]; then
            grep -- '-> resyncing' "$D/tail-$n.err" | sed 's/^/  /' || true
        fi
        args=()
        if [ "$TT_RAW" = 1 ] && [ -f "$D/raw.jsonl" ]; then
            args+=(--raw "$D/raw.jsonl")
            [ "${TT_SUB[$n]}" = tail ] && args+=(--delivered "$D/tail-$n.jsonl")
        fi
        "$py" "$consistency/compare.py" "$D/mirror-$n.jsonl" --tables "${TT_TABLES[$n]}" "${args[@]+"${args[@]}"}" \
            | sed 's/^/  /'
        [ "${PIPESTATUS[0]}" = 0 ] || tt_fail "subscriber $n: mirror differs from the tables"
    done
    echo "torture $scenario seed $seed: ok in $(( $(date +%s) - tt_start )) s"
}
