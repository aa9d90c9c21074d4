#!/usr/bin/env bash
# tablepub side by side with logical decoding (wal2json) and PgQ (issue 10):
# what each costs the database's writers, and how fast each delivers a
# backlog. One invocation, alternating rounds, a fresh throwaway cluster for
# every measurement (unix socket in a temp dir, stopped on every exit path).
#
#   bench/peers.sh [BUILD_DIR]
#
# Measurements (each repeated PEERS_ROUNDS times, modes alternating):
#  tps    pgbench tpcb-like (-M prepared, pgbench_history with a bigserial
#         primary key in every mode) with synchronous_commit off and on, in
#         the modes of PEERS_MODES:
#           none      no capture
#           capture   tablepub, the 4 tables published, no relay
#           e2e       tablepub, relay + C++ subscriber of the table topics, as
#                     the library's Subscriber subscribes (parses every
#                     message, checks seq continuity and that every change
#                     arrived)
#           e2e_tx    the same subscriber subscribed to every topic, the
#                     transaction topic ".tx" included (as a set of tables
#                     mirrored as one unit subscribes): what commit order costs
#           e2e_tail  tablepub, relay + tablepub-tail writing JSON to a file
#           wal2json  wal_level = logical, pg_recvlogical -P wal2json to a file
#           pgq       pgq.logutriga triggers + pgqd, no consumer
#  bulk   INSERT of PEERS_ROWS rows then UPDATE of all of them (two
#         transactions), produce time per mode (none, tablepub, wal2json: a
#         slot exists, pgq), then the backlog's drain rate: relay + C++
#         subscriber, relay + tablepub-tail to a file, pg_recvlogical
#         wal2json to a file (from consumer start to the last change)
#  lat    commit-to-subscriber latency at PEERS_LAT_RATES tx/s (bench/latency.sh)
#  cpu    in the e2e modes, the CPU time (user + system) that the relay, its
#         database backend and the subscriber spent on the run, per 100k
#         pgbench transactions: robust where TPS is not, on a shared machine
#
# Settings (environment): PEERS_ROUNDS (3), PEERS_SECONDS (30), PEERS_SCALE
# (10), PEERS_CLIENTS (4), PEERS_THREADS (2), PEERS_ROWS (250000),
# PEERS_SYNC ("off on"), PEERS_MODES ("none capture e2e e2e_tail wal2json
# pgq"), PEERS_BULK ("none tablepub tablepub_tail wal2json pgq"; empty:
# skip), PEERS_LAT_RATES ("1000 5000"; empty: skip), PEERS_LAT_SECONDS (20),
# PEERS_RELAY_ARGS (extra relay flags), PEERS_RATE (pgbench -R: a fixed
# rate of transactions per second, so that every mode does the same work in
# the same batches and the cpu figures compare on a busy machine; TPS then
# only says whether the rate was held), PEERS_DOCS (docs/benchmarks.md:
# the report replaces the part between its peers markers and the plot goes
# to docs/img/peers.png; "-": print the report only), PEERS_OUT (a
# directory to keep raw results and logs in), PEERS_PERF (a directory: in
# the e2e modes, perf record -g of the relay, its backends and the
# subscriber during pgbench, one file per process kind, mode, sync and round;
# and the wait events of pgbench's backends sampled every 10 ms, counted in
# waits.MODE-SYNC-ROUND: what the writers waited for).
#
# Rounds alternate the order of the modes (odd rounds as listed, even
# rounds reversed). A/B comparisons: a mode may carry a variant, MODE@V (e.g. "capture
# capture@B"); variant V runs PostgreSQL from PEERS_PGBIN_V (a bindir whose
# pkglibdir has another build of the extension) and the relay from
# PEERS_BUILD_V, with PEERS_RELAY_ARGS_V.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib/procs.sh"
. "$ROOT/bench/lib.sh"
PGTMP=$ROOT/tests/lib/pgtmp

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROUNDS=${PEERS_ROUNDS:-3}
SECONDS_RUN=${PEERS_SECONDS:-30}
SCALE=${PEERS_SCALE:-10}
CLIENTS=${PEERS_CLIENTS:-4}
THREADS=${PEERS_THREADS:-2}
ROWS=${PEERS_ROWS:-250000}
SYNCS=${PEERS_SYNC-off on}
MODES=${PEERS_MODES-none capture e2e e2e_tail wal2json pgq}
BULK=${PEERS_BULK-none tablepub tablepub_tail wal2json pgq}
LAT_RATES=${PEERS_LAT_RATES-1000 5000}
LAT_SECONDS=${PEERS_LAT_SECONDS:-20}
RATE=${PEERS_RATE:-}
PERF_DIR=${PEERS_PERF:-}
DOCS=${PEERS_DOCS:-$ROOT/docs/benchmarks.md}
START_DELAY_S=0.3

WORK=$(mktemp -d /tmp/tablepub-peers.XXXXXX)
chmod 755 "$WORK"
OUT=${PEERS_OUT:-$WORK/out}
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
PIDS=()
CLUSTERS=()

cleanup() {
    local pid d
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$pid"; done
    PIDS=()
    for d in "${CLUSTERS[@]+"${CLUSTERS[@]}"}"; do PGBIN=$(cluster_bin "$d") "$PGTMP" stop "$d" >/dev/null 2>&1 || true; done
    CLUSTERS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { log "peers: $*"; exit 1; }
psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psqlv() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
now_s() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
record() { local IFS=$'\t'; echo "$*" >>"$RESULTS"; }
drop_pid() {
    local keep=() p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
stop_tracked() { stop_pid "$1"; drop_pid "$1"; }

# --- Variants ---------------------------------------------------------------
variant_of() { case $1 in *@*) echo "${1#*@}" ;; *) echo "" ;; esac; }
base_of() { echo "${1%@*}"; }
# The PostgreSQL in PATH at the start; every cluster's PATH starts from here.
DEFAULT_PGBIN=$(pg_config --bindir)
START_PATH=$PATH
pgbin_of() {
    local v=$1 var
    if [ -z "$v" ]; then echo "$DEFAULT_PGBIN"; return; fi
    var=PEERS_PGBIN_$v
    [ -n "${!var:-}" ] || die "variant $v: set $var"
    echo "${!var}"
}
build_of() {
    local v=$1 var
    [ -z "$v" ] && { echo "$BUILD"; return; }
    var=PEERS_BUILD_$v
    echo "${!var:-$BUILD}"
}
relay_args_of() {
    local v=$1 var
    [ -z "$v" ] && { echo "${PEERS_RELAY_ARGS:-}"; return; }
    var=PEERS_RELAY_ARGS_$v
    echo "${!var:-${PEERS_RELAY_ARGS:-}}"
}
cluster_bin() { cat "$1/pgbin" 2>/dev/null || echo "$DEFAULT_PGBIN"; }

# --- Peers from Debian ------------------------------------------------------
# The Debian packages install into the system PostgreSQL; a PostgreSQL
# elsewhere (a relocated copy, as the helpers' sandboxes use) gets their
# files copied into its own directories.
provide_peers() {
    local bin=$1 pg_config=$1/pg_config pkg f lib share
    [ -x "$pg_config" ] || pg_config=pg_config
    lib=$("$pg_config" --pkglibdir) share=$("$pg_config" --sharedir)
    for pkg in postgresql-15-wal2json postgresql-15-pgq3; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || die "$pkg is not installed (make bench installs it)"
        while read -r f; do
            [ -f "$f" ] || continue
            case $f in
                /usr/lib/postgresql/15/lib/*.so) [ -e "$lib/${f##*/}" ] || cp "$f" "$lib/" ;;
                /usr/share/postgresql/15/extension/*) [ -e "$share/extension/${f##*/}" ] || cp "$f" "$share/extension/" ;;
            esac
        done < <(dpkg -L "$pkg")
    done
    command -v pgqd >/dev/null || die "pgqd is not installed (make bench installs it)"
}

# --- Clusters ---------------------------------------------------------------
# new_cluster VARIANT [-c name=value ...]: a fresh cluster; sets DIR and
# exports its PG* variables.
new_cluster() {
    local v=$1 bin; shift
    bin=$(pgbin_of "$v")
    DIR=$(mktemp -d "$WORK/pg.XXXXXX")
    CLUSTERS+=("$DIR")
    PGBIN=$bin "$PGTMP" start "$DIR" --owner $$ "$@" >/dev/null
    echo "$bin" >"$DIR/pgbin"
    # shellcheck disable=SC1091
    . "$DIR/env"
    export PATH=$bin:$START_PATH
}
drop_cluster() {
    PGBIN=$(cluster_bin "$DIR") "$PGTMP" stop "$DIR" >/dev/null 2>&1 || true
    local keep=() d
    for d in "${CLUSTERS[@]}"; do [ "$d" = "$DIR" ] || keep+=("$d"); done
    CLUSTERS=("${keep[@]+"${keep[@]}"}")
}

# Settings every mode of a measurement shares; wal2json adds logical decoding.
cluster_conf() {
    local base=$1 sync=$2
    echo "-c synchronous_commit=$sync -c max_wal_size=4GB -c checkpoint_timeout=30min"
    case $base in
        wal2json) echo "-c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4 -c output_plugin_libraries=pgoutput,test_decoding,wal2json" ;;
    esac
}

init_pgbench() {
    pgbench -q -i -s "$SCALE" >/dev/null 2>&1 || die "pgbench -i failed"
    psqlq -c "ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY" -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

PGB_TABLES="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history"

setup_tablepub() {
    local t
    psqlq -c "CREATE EXTENSION tablepub"
    for t in "$@"; do psqlq -c "SELECT tablepub.publish('$t')" >/dev/null; done
    # The relay runs as README.md says: a login that is only a member of tablepub_relay.
    psqlq -c "CREATE ROLE peers_relay LOGIN IN ROLE tablepub_relay"
}
# Outbox rows, as the number of changes a pgbench run publishes: each of
# pgbench's statements changes one row, and a single change is never packed
# (design.md, "Packed rows"). A workload of multi-row statements needs
# another count.
outbox_rows() { psqlv -c "SELECT count(*) FROM tablepub.outbox"; }

new_endpoint() { ENDPOINT=tcp://127.0.0.1:$(free_port); }

# start_relay VARIANT: publishing on ENDPOINT; sets RELAY_PID, RELAY_T0
start_relay() {
    local v=$1 build args
    build=$(build_of "$v") args=$(relay_args_of "$v")
    # shellcheck disable=SC2086
    "$(tool_path "$build" tablepub-relay)" --db "host=$PGHOST port=$PGPORT dbname=postgres user=peers_relay" \
        --publish "$ENDPOINT" --send-hwm 100000000 --heartbeat-interval 1h --log-level warn $args \
        >>"$OUT/relay.log" 2>&1 &
    RELAY_PID=$!
    PIDS+=("$RELAY_PID")
    RELAY_T0=$(now_s)
}

# start_counter VARIANT EXPECTED IDLE_MS [PREFIX]: the C++ subscriber,
# connected before the relay starts, subscribed to PREFIX (default: every
# topic). It reports after EXPECTED changes, or when no message came for
# IDLE_MS (the relay's heartbeats, 1 h apart, never extend that): long
# enough for the relay's first batch query over a backlog on a busy
# machine. GNU time writes its CPU seconds to COUNTER_OUT.cpu.
start_counter() {
    local build prefix=()
    build=$(build_of "$1")
    # (a build before 0.3 takes no prefix and publishes no ".tx"; the usage
    # text is read whole: with pipefail, a pipe from the usage's exit status
    # 2 into grep would say "no prefix" for every build)
    if [ -n "${4:-}" ] && [[ $("$(tool_path "$build" tablepub-bench-subscriber)" 2>&1 || true) == *TOPIC_PREFIX* ]]; then
        prefix=("$4")
    fi
    COUNTER_OUT=$WORK/counter.$RANDOM
    /usr/bin/time -f '%U %S' -o "$COUNTER_OUT.cpu" \
        "$(tool_path "$build" tablepub-bench-subscriber)" "$ENDPOINT" "$2" "$3" "${prefix[@]+"${prefix[@]}"}" \
        >"$COUNTER_OUT" 2>&1 &
    COUNTER_PID=$!
    PIDS+=("$COUNTER_PID")
}

# start_perf NAME: perf record -g of the relay, its backends and the
# subscriber, each into PERF_DIR/perf.KIND.NAME, until run_tps stops them.
start_perf() {
    local kind pids
    mkdir -p "$PERF_DIR"
    for kind in relay backend subscriber; do
        case $kind in
            relay) pids=$RELAY_PID ;;
            backend) pids=$(echo $RELAY_BACKENDS | tr ' ' ,) ;;
            subscriber) pids=$(pgrep -P "$COUNTER_PID" || echo "$COUNTER_PID") ;;
        esac
        perf record -F 999 -g -p "$pids" -o "$PERF_DIR/perf.$kind.$1" >/dev/null 2>&1 &
        perf_pids+=("$!")
        PIDS+=("$!")
    done
}

# sample_waits FILE SECONDS: pgbench backends' wait events (CPU when none),
# sampled every 10 ms from one session (its statistics snapshot cleared
# before each sample) for SECONDS, then counted into FILE.
sample_waits() {
    psqlq -c "CREATE UNLOGGED TABLE waits (w text)" \
        -c "DO \$\$ DECLARE stop timestamptz := clock_timestamp() + interval '$2 s'; BEGIN
            WHILE clock_timestamp() < stop LOOP
                PERFORM pg_stat_clear_snapshot();
                INSERT INTO waits SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
                  FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';
                COMMIT;
                PERFORM pg_sleep(0.01);
            END LOOP; END \$\$"
    psqlv -F ' ' -c "SELECT count(*), w FROM waits GROUP BY w ORDER BY 1 DESC" >"$1"
}

# cpu_s PID...: CPU seconds (user + system) live processes have used.
cpu_s() {
    local p
    for p in "$@"; do cat "/proc/$p/stat"; done | awk -v hz="$(getconf CLK_TCK)" '{ s += $14 + $15 } END { printf "%.3f", s / hz }'
}

# counter_result EXPECTED: waits for the subscriber (not in a subshell: it
# is this shell's child); sets COUNTER_LAST (unix time of its last change);
# dies on seq gaps or a shortfall.
counter_result() {
    local expected=$1 out n secs gaps
    wait "$COUNTER_PID" || true
    drop_pid "$COUNTER_PID"
    out=$(tail -1 "$COUNTER_OUT")
    read -r n secs gaps COUNTER_LAST <<<"$out"
    [ "$gaps" = 0 ] || die "C++ subscriber saw $gaps seq gaps ($out)"
    [ "$n" = "$expected" ] || die "C++ subscriber received $n changes, the outbox has $expected ($out)"
}

# lines_matching FILE PATTERN
lines_matching() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# wait_lines FILE PATTERN N TIMEOUT: until FILE has N lines matching PATTERN.
wait_lines() {
    local file=$1 pat=$2 n=$3 until
    until=$(($(date +%s) + $4))
    while [ "$(lines_matching "$file" "$pat")" -lt "$n" ]; do
        [ "$(date +%s)" -lt "$until" ] || die "$file: $(lines_matching "$file" "$pat") of $n lines after $4 s"
        sleep 0.2
    done
}

start_pgqd() {
    cat >"$DIR/pgqd.ini" <<INI
[pgqd]
base_connstr = host=$PGHOST port=$PGPORT user=postgres
initial_database = postgres
database_list = postgres
logfile = $DIR/pgqd.log
pidfile = $DIR/pgqd.pid
INI
    pgqd "$DIR/pgqd.ini" >>"$DIR/pgqd.out" 2>&1 &
    PIDS+=("$!")
}

setup_pgq() {
    local t
    psqlq -c "CREATE EXTENSION pgq" -c "SELECT pgq.create_queue('peers')" >/dev/null
    for t in "$@"; do
        psqlq -c "CREATE TRIGGER peers_pgq AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('peers')"
    done
    start_pgqd
}

# --- pgbench ----------------------------------------------------------------
# run_tps MODE SYNC ROUND
run_tps() {
    local mode=$1 sync=$2 round=$3 v base conf tps txs extra=""
    v=$(variant_of "$mode") base=$(base_of "$mode")
    # shellcheck disable=SC2046
    new_cluster "$v" $(cluster_conf "$base" "$sync")
    init_pgbench
    case $base in
        none) ;;
        capture) setup_tablepub $PGB_TABLES ;;
        e2e | e2e_tx | e2e_tail)
            setup_tablepub $PGB_TABLES
            new_endpoint
            start_relay "$v"
            if [ "$base" = e2e ]; then
                start_counter "$v" 1000000000000 5000 public.
            elif [ "$base" = e2e_tx ]; then
                start_counter "$v" 1000000000000 5000
            else
                TAIL_OUT=$WORK/tail.jsonl
                "$(tool_path "$(build_of "$v")" tablepub-tail)" --connect "$ENDPOINT" >"$TAIL_OUT" 2>"$WORK/tail.err" &
                TAIL_PID=$!
                PIDS+=("$TAIL_PID")
            fi
            sleep 1.5 ;;
        wal2json)
            pg_recvlogical -d postgres -S peers --create-slot -P wal2json
            pg_recvlogical -d postgres -S peers --start -o format-version=2 -s 1 -f "$WORK/wal2json.out" --no-loop &
            W2J_PID=$!
            PIDS+=("$W2J_PID") ;;
        pgq) setup_pgq $PGB_TABLES ;;
        *) die "unknown mode $mode" ;;
    esac
    local before=0 cpu0=""
    case $base in capture | e2e | e2e_tx | e2e_tail) before=$(outbox_rows) ;; esac
    case $base in
        e2e | e2e_tx)
            # (every connection of the relay)
            RELAY_BACKENDS=$(psqlv -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'tablepub-relay'")
            [ -n "$RELAY_BACKENDS" ] || die "the relay has no database backend"
            # shellcheck disable=SC2086
            cpu0="$(cpu_s "$RELAY_PID") $(cpu_s $RELAY_BACKENDS)" ;;
    esac
    local t_end perf_pids=() waits_pid=
    if [ -n "$PERF_DIR" ]; then
        case $base in e2e | e2e_tx) start_perf "$mode-$sync-$round" ;; esac
        sample_waits "$PERF_DIR/waits.$mode-$sync-$round" "$((SECONDS_RUN - 2))" &
        waits_pid=$!
        PIDS+=("$!")
    fi
    pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_RUN" ${RATE:+-R "$RATE"} >"$WORK/pgbench.out" 2>&1 \
        || { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
    t_end=$(now_s)
    local p
    for p in "${perf_pids[@]+"${perf_pids[@]}"}"; do kill -INT "$p"; wait "$p" || true; drop_pid "$p"; done
    if [ -n "$waits_pid" ]; then wait "$waits_pid" || die "sampling wait events failed"; drop_pid "$waits_pid"; fi
    tps=$(awk '/^tps = /{printf "%.0f", $3}' "$WORK/pgbench.out")
    txs=$(awk -F': ' '/number of transactions actually processed/{print $2}' "$WORK/pgbench.out" | cut -d/ -f1)
    # Every mode with a consumer must have delivered everything, or its TPS means nothing.
    case $base in
        e2e | e2e_tx)
            local expected rss hwm relay_cpu backend_cpu sub_cpu
            expected=$(($(outbox_rows) - before))
            rss=$(awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$RELAY_PID/status")
            hwm=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$RELAY_PID/status")
            counter_result "$expected"
            record rss "$sync" "$mode" "$round" "$rss" "$hwm"
            # every change was delivered: what the relay, its backend and
            # the subscriber spent on the run, per 100k transactions
            read -r relay_cpu backend_cpu <<<"$cpu0"
            relay_cpu=$(calc "($(cpu_s "$RELAY_PID") - $relay_cpu) * 100000 / $txs")
            # shellcheck disable=SC2086
            backend_cpu=$(calc "($(cpu_s $RELAY_BACKENDS) - $backend_cpu) * 100000 / $txs")
            sub_cpu=$(calc "($(tail -1 "$COUNTER_OUT.cpu" | awk '{ print $1 + $2 }')) * 100000 / $txs")
            record cpu "$sync" "$mode" "$round" "$relay_cpu" "$backend_cpu" "$sub_cpu"
            log "round $round sync=$sync $mode: CPU s per 100k tx: relay $relay_cpu, its backend $backend_cpu, subscriber $sub_cpu"
            # seconds from the end of pgbench to the last change received (the counter waited 5 s idle after it)
            extra="lag=$(calc "$COUNTER_LAST - $t_end")s"
            stop_tracked "$RELAY_PID" ;;
        e2e_tail)
            local expected
            expected=$(($(outbox_rows) - before))
            wait_lines "$TAIL_OUT" '"op":"[iud]' "$expected" 120
            extra="lag=$(calc "$(now_s) - $t_end")s"
            stop_tracked "$TAIL_PID"; stop_tracked "$RELAY_PID" ;;
        wal2json)
            wait_lines "$WORK/wal2json.out" '"action":"[IUD]"' $((txs * 4)) 120
            extra="lag=$(calc "$(now_s) - $t_end")s"
            stop_tracked "$W2J_PID" ;;
    esac
    record tps "$sync" "$mode" "$round" "$tps" "$extra"
    log "round $round sync=$sync $mode: $tps tps $extra"
    cleanup_mode_files
    drop_cluster
}
cleanup_mode_files() { rm -f "$WORK"/tail.jsonl "$WORK"/wal2json.out "$WORK"/counter.*; }

# --- Bulk DML and backlog drain ---------------------------------------------
BULK_TABLE="CREATE TABLE bulk (id int PRIMARY KEY, n int NOT NULL, label text, at timestamptz)"
produce() {
    local t0 t1 t2
    psqlq -c "CHECKPOINT"
    t0=$(now_s)
    psqlq -c "INSERT INTO bulk SELECT g, g % 1000, 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g"
    t1=$(now_s)
    psqlq -c "UPDATE bulk SET n = n + 1"
    t2=$(now_s)
    PRODUCE="$(calc "$t1 - $t0") $(calc "$t2 - $t1")"
}

# run_bulk MODE ROUND
run_bulk() {
    local mode=$1 round=$2 v base rate=""
    v=$(variant_of "$mode") base=$(base_of "$mode")
    # shellcheck disable=SC2046
    new_cluster "$v" $(cluster_conf "$([ "$base" = wal2json ] && echo wal2json || echo x)" off)
    psqlq -c "$BULK_TABLE"
    case $base in
        none) ;;
        tablepub | tablepub_tail) setup_tablepub bulk ;;
        wal2json) pg_recvlogical -d postgres -S peers --create-slot -P wal2json ;;
        pgq) setup_pgq bulk ;;
        *) die "unknown bulk mode $mode" ;;
    esac
    produce
    local n=$((2 * ROWS)) t0 t1
    case $base in
        tablepub)
            new_endpoint
            start_counter "$v" "$n" 120000
            sleep 0.5
            start_relay "$v"
            counter_result "$n"
            rate=$(awk "BEGIN { printf \"%.0f\", $n / ($COUNTER_LAST - $RELAY_T0 - $START_DELAY_S) }")
            stop_tracked "$RELAY_PID" ;;
        tablepub_tail)
            new_endpoint
            # its SCHEMA change counts too
            "$(tool_path "$(build_of "$v")" tablepub-tail)" --connect "$ENDPOINT" --count $((n + 1)) >"$WORK/tail.jsonl" 2>"$WORK/tail.err" &
            TAIL_PID=$!
            PIDS+=("$TAIL_PID")
            sleep 0.5
            start_relay "$v"
            wait "$TAIL_PID" || { cat "$WORK/tail.err" >&2; die "tablepub-tail failed"; }
            t1=$(now_s)
            drop_pid "$TAIL_PID"
            [ "$(lines_matching "$WORK/tail.jsonl" '"op":"[iu]')" = "$n" ] || die "tablepub-tail printed too few changes"
            rate=$(awk "BEGIN { printf \"%.0f\", $n / ($t1 - $RELAY_T0 - $START_DELAY_S) }")
            stop_tracked "$RELAY_PID" ;;
        wal2json)
            # the insert position: with synchronous_commit = off the last commit may not be written yet
            local endpos; endpos=$(psqlv -c "SELECT pg_current_wal_insert_lsn()")
            t0=$(now_s)
            pg_recvlogical -d postgres -S peers --start -o format-version=2 --endpos "$endpos" -f "$WORK/wal2json.out" --no-loop
            t1=$(now_s)
            local got; got=$(lines_matching "$WORK/wal2json.out" '"action":"[IU]"')
            [ "$got" = "$n" ] || die "pg_recvlogical wrote $got changes, not $n"
            rate=$(awk "BEGIN { printf \"%.0f\", $n / ($t1 - $t0) }") ;;
    esac
    record bulk off "$mode" "$round" $PRODUCE "$rate"
    log "round $round bulk $mode: insert+update $PRODUCE s, drain ${rate:-n/a}/s"
    cleanup_mode_files
    drop_cluster
}

# --- Latency ----------------------------------------------------------------
run_latency() {
    local rate=$1 round=$2 out p50 p99
    # latency.sh takes its build directory relative to the source tree
    out=$("$ROOT/bench/latency.sh" "$(realpath --relative-to="$ROOT" "$BUILD")" --rate "$rate" --duration "$LAT_SECONDS" 2>>"$OUT/latency.log") \
        || die "bench/latency.sh failed (log: $OUT/latency.log)"
    p50=$(echo "$out" | awk -F'|' '$2 ~ /^ p50 /{gsub(/ /, "", $3); print $3}')
    p99=$(echo "$out" | awk -F'|' '$2 ~ /^ p99 /{gsub(/ /, "", $3); print $3}')
    achieved=$(echo "$out" | sed -n 's/.*(achieved \([0-9.]*\) tx\/s.*/\1/p')
    record lat on "$rate" "$round" "$p50" "$p99" "$achieved"
    log "round $round latency at $rate tx/s: p50 $p50 ms, p99 $p99 ms (achieved $achieved tx/s)"
}

# --- Main -------------------------------------------------------------------
# In a function, called on the script's last line with exit: bash has read
# the whole file before anything runs, so editing it meanwhile is harmless.
main() {
    for tool in tablepub-relay tablepub-bench-subscriber tablepub-tail; do
        [ -n "$(tool_path "$BUILD" $tool)" ] || die "$tool is not in $BUILD: build the relay first (make)"
    done
    for m in $MODES $BULK; do
        case $(base_of "$m") in wal2json | pgq) need_peers=1 ;; esac
    done
    if [ -n "${need_peers:-}" ]; then
        provide_peers "$DEFAULT_PGBIN"
        for m in $MODES $BULK; do
            v=$(variant_of "$m")
            [ -n "$v" ] && provide_peers "$(pgbin_of "$v")"
        done
    fi

    STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
    {
        echo "date	$STARTED"
        echo "machine	$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "postgres	$(postgres --version)"
        echo "settings	rounds=$ROUNDS seconds=$SECONDS_RUN scale=$SCALE clients=$CLIENTS threads=$THREADS rows=$ROWS fsync=on shared_buffers=256MB max_wal_size=4GB${RATE:+ rate=$RATE tx/s}"
        echo "commit	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +changes)"
        echo "command	PEERS_ROUNDS=$ROUNDS PEERS_SECONDS=$SECONDS_RUN${RATE:+ PEERS_RATE=$RATE} bench/peers.sh"
    } >"$OUT/meta.tsv"

    # reversed WORDS...: the words in reverse order.
    reversed() { local out=() w; for w in "$@"; do out=("$w" "${out[@]+"${out[@]}"}"); done; echo "${out[*]-}"; }

    # Even rounds run the modes in reverse order: on this kind of machine the
    # position in a round matters (a run right after another one's cluster
    # went away measured up to 2x apart), so every mode gets both positions.
    for round in $(seq 1 "$ROUNDS"); do
        modes=$MODES bulk=$BULK
        if [ $((round % 2)) = 0 ]; then
            # shellcheck disable=SC2086
            modes=$(reversed $MODES) bulk=$(reversed $BULK)
        fi
        for sync in $SYNCS; do
            for mode in $modes; do run_tps "$mode" "$sync" "$round"; done
        done
        for mode in $bulk; do run_bulk "$mode" "$round"; done
        for rate in $LAT_RATES; do run_latency "$rate" "$round"; done
    done

    args=(--results "$RESULTS" --meta "$OUT/meta.tsv" --note "${PEERS_NOTE:-}")
    if [ "$DOCS" != - ]; then
        mkdir -p "$(dirname "$DOCS")/img"
        args+=(--docs "$DOCS" --plot "$(dirname "$DOCS")/img/peers.png")
    fi
    /usr/bin/python3 "$ROOT/bench/tools/peers_report.py" "${args[@]}"
}

main "$@"; exit $?
