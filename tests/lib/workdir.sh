# Sourced by test scripts: how a test's temp dir ends.

# end_workdir RC DIR LINES FAILURE_LINE FILE...: after a failed test (RC not
# 0) prints FAILURE_LINE and the last LINES lines of every non-empty FILE on
# stderr and keeps DIR for a look; after a passed one removes DIR.
end_workdir() {
    local rc=$1 dir=$2 lines=$3 failure=$4 f
    shift 4
    if [ "$rc" -ne 0 ]; then
        echo "$failure" >&2
        for f in "$@"; do
            if [ -s "$f" ]; then
                echo "--- last lines of $f" >&2
                tail -n "$lines" "$f" >&2
            fi
        done
    else
        rm -rf "$dir"
    fi
}
