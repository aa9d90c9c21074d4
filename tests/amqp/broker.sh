# A throwaway RabbitMQ broker for the tests (Debian's rabbitmq-server):
# node name, AMQP port, distribution port and epmd port of its own, state
# and logs in a directory of its own, so that it clashes with nothing on the
# machine. Source it; needs $py and tests/lib/procs.sh.
#
#   broker_init DIR      chooses ports and writes the configuration
#   broker_start         starts it and waits until it takes AMQP connections
#                        (= broker_launch, then broker_wait; broker_wait may
#                        run in the background, broker_launch may not: it
#                        records the pids this shell stops)
#   broker_stop          stops it (SIGTERM to the server script, which stops
#                        the Erlang VM cleanly) and its epmd; state is kept,
#                        so broker_start again is a broker restart
# BROKER_URL is amqp://guest:guest@127.0.0.1:PORT/ afterwards.

. "$(dirname "${BASH_SOURCE[0]}")/../lib/free_port.sh"

broker_init() {
    BROKER_DIR=$1
    mkdir -p "$BROKER_DIR/home" "$BROKER_DIR/log"
    BROKER_PORT=$(free_port)
    BROKER_DIST_PORT=$(free_port)
    BROKER_EPMD_PORT=$(free_port)
    BROKER_NODE="tp$$@localhost"
    BROKER_URL="amqp://guest:guest@127.0.0.1:$BROKER_PORT/"
    echo "[]." >"$BROKER_DIR/enabled_plugins"
    cat >"$BROKER_DIR/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$BROKER_PORT
disk_free_limit.absolute = 50MB
log.file.level = info
CONF
    BROKER_PID="" BROKER_EPMD_PID=""
    # -start_epmd false: the VM uses our epmd and never starts a daemon one
    # that would outlive the test.
    broker_env=(HOME="$BROKER_DIR/home" ERL_EPMD_PORT="$BROKER_EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
        RABBITMQ_NODENAME="$BROKER_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$BROKER_PORT" RABBITMQ_DIST_PORT="$BROKER_DIST_PORT"
        RABBITMQ_MNESIA_BASE="$BROKER_DIR/mnesia" RABBITMQ_LOG_BASE="$BROKER_DIR/log"
        RABBITMQ_CONFIG_FILE="$BROKER_DIR/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$BROKER_DIR/enabled_plugins"
        RABBITMQ_PID_FILE="$BROKER_DIR/pid" RABBITMQ_ADVANCED_CONFIG_FILE="$BROKER_DIR/advanced.config"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false")
}


broker_launch() {
    # Our own epmd in the foreground, so that it is our child and stopped by
    # pid (the VM would otherwise start a daemon one).
    if [ -z "$BROKER_EPMD_PID" ]; then
        env HOME="$BROKER_DIR/home" ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$BROKER_EPMD_PORT" \
            >>"$BROKER_DIR/epmd.log" 2>&1 &
        BROKER_EPMD_PID=$!
    fi
    # env execs the server script: $! is the script, whose SIGTERM handler
    # stops the VM and waits for it.
    # Started in BROKER_DIR: Mnesia writes its crash dumps (MnesiaCore.*)
    # into the VM's working directory, and they must not land in the tree.
    (cd "$BROKER_DIR" && exec env "${broker_env[@]}" ERL_CRASH_DUMP="$BROKER_DIR/erl_crash.dump" \
        /usr/lib/rabbitmq/bin/rabbitmq-server >>"$BROKER_DIR/server.log" 2>&1) &
    BROKER_PID=$!
}

broker_wait() {
    "$py" - "$BROKER_PORT" "$BROKER_PID" "${BROKER_TIMEOUT:-120}" <<'PY' || { tail -n 30 "$BROKER_DIR/server.log" >&2; return 1; }
import os, socket, sys, time
import amqp
port, pid, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("rabbitmq-server exited while starting")
    try:
        c = amqp.Connection(host="127.0.0.1:%d" % port, userid="guest", password="guest", connect_timeout=2)
        c.connect()
        c.close()
        sys.exit(0)
    except Exception:
        if time.monotonic() > deadline:
            sys.exit("rabbitmq-server did not accept AMQP connections in time")
        time.sleep(0.2)
PY
}

broker_start() {
    broker_launch
    broker_wait
}

broker_stop() {
    local i
    [ -n "$BROKER_PID" ] || return 0
    # A clean stop of the VM takes a few seconds; SIGKILL only after 60.
    kill "$BROKER_PID" 2>/dev/null || true
    for i in $(seq 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$BROKER_PID"
    BROKER_PID=""
}

# broker_cleanup: on every exit path; also stops epmd.
broker_cleanup() {
    broker_stop
    stop_pid "$BROKER_EPMD_PID"
    BROKER_EPMD_PID=""
}
