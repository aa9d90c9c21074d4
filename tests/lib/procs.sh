# Process helpers for the test and demo scripts. Source it.

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; reaps it. Empty PID: no-op.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
