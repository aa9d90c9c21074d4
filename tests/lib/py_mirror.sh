# Sourced by the tests that run the Python client's command line
# (python3 -m tablepub_client --mirror FILE, stderr to a file) and compare
# its mirror with the tables while it runs, instead of giving it a fixed
# number of seconds that a loaded machine may not be enough for.

# py_mirror_equals PID ERR MIRROR EXPECTED SECONDS: waits until the client's
# stderr ERR shows a table going live (its SIGUSR1 handler is installed by
# then), then asks it for its mirror (SIGUSR1) every half second until the
# mirror equals the file EXPECTED; returns 1 if that does not happen within
# SECONDS.
py_mirror_equals() {
    local pid=$1 err=$2 mirror=$3 expected=$4 i
    for i in $(seq 1 $(($5 * 2))); do
        if grep -q -- '-> live' "$err" 2>/dev/null; then
            kill -USR1 "$pid" 2>/dev/null || return 1
            sleep 0.5
            [ -f "$mirror" ] && cmp -s "$mirror" "$expected" && return 0
        else
            sleep 0.5
        fi
    done
    return 1
}
