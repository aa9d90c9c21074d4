#!/usr/bin/env bash
# tablepub-tail behind a slow reader (issue 15): a backlog many times the
# relay's --send-hwm goes through a tail whose output pipe is read slowly,
# so ZeroMQ drops messages on the way.
#
#  1. With --snapshot-endpoint the output must hold every change exactly
#     once, in seq order, and the tail must exit 0 (after replaying: the
#     test fails if nothing was dropped, as it would prove nothing).
#  2. Without it the tail must exit non-zero, and the ranges its stderr
#     names as missed must be exactly the changes missing from its output.
#
#   tools/tail/tests/slow_reader.sh RELAY_BIN TAIL_BIN [ROWS]
# The relay runs as the least-privilege role (tests/lib/relay_role.sh).
set -euo pipefail
relay_bin=${1:?usage: slow_reader.sh RELAY_BIN TAIL_BIN [ROWS]}
tail_bin=${2:?usage: slow_reader.sh RELAY_BIN TAIL_BIN [ROWS]}
ROWS=${3:-20000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

D=$(mktemp -d /tmp/tablepub-tail-slow.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
RELAY= TAIL=
. "$root/tests/lib/procs.sh"
cleanup() {
    local rc=$?
    stop_pid "$TAIL"; stop_pid "$RELAY"
    "$root/tests/lib/pgtmp" stop "$D/pg" >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        echo "tail slow reader: FAILED (files kept in $D)" >&2
        for f in relay.log repair.err plain.err; do
            [ -f "$D/$f" ] && { echo "--- last lines of $f" >&2; tail -n 8 "$D/$f" >&2; }
        done
    else
        rm -rf "$D"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "tail slow reader: $*" >&2; exit 1; }

"$root/tests/lib/pgtmp" start "$D/pg" --owner $$ >/dev/null
. "$D/pg/env"
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE t (id int PRIMARY KEY, pad text NOT NULL);
SELECT FROM tablepub.publish('t');
SQL
. "$root/tests/lib/relay_role.sh"
create_relay_role

# Unix sockets: their kernel buffers are small, so a stalled reader backs
# up into the relay's queue soon (loopback TCP would buffer megabytes).
PUB=ipc://$D/pub SNAP=ipc://$D/snap
"$relay_bin" --db "dbname=$PGDATABASE user=$RELAY_ROLE" --publish "$PUB" --snapshot "$SNAP" \
    --send-hwm 200 --heartbeat-interval 200 --poll-interval 100 --start-delay 0 2>>"$D/relay.log" &
RELAY=$!

# Reads its stdin 4 KiB at a time, 2 ms apart (about 2 MB/s).
cat >"$D/slow.py" <<'PY'
import os, sys, time
out = sys.stdout.buffer
while True:
    b = os.read(0, 4096)
    if not b:
        break
    out.write(b)
    out.flush()
    time.sleep(0.002)
PY

# run_tail NAME ARGS...: starts the tail (heartbeats printed, so that the
# test knows where it joined) behind the slow reader; sets TAIL.
run_tail() {
    local name=$1; shift
    "$tail_bin" --connect "$PUB" --table public.t --heartbeats --receive-hwm 100 "$@" \
        2>"$D/$name.err" > >("$py" "$D/slow.py" >"$D/$name.jsonl") &
    TAIL=$!
    local i
    for i in $(seq 300); do
        grep -q '"op":"heartbeat"' "$D/$name.jsonl" 2>/dev/null && return 0
        kill -0 "$TAIL" 2>/dev/null || fail "$name: the tail exited early: $(cat "$D/$name.err")"
        sleep 0.1
    done
    fail "$name: no heartbeat within 30 s"
}

# insert FIRST: ROWS rows from id FIRST in one transaction (one burst).
insert() {
    psql -qX -v ON_ERROR_STOP=1 -c \
        "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series($1, $(($1 + ROWS - 1))) g"
}

# check NAME FIRST_ID MODE: compares NAME's output (and, for MODE plain,
# the gaps its stderr names) with the ROWS inserted rows.
check() {
    "$py" - "$D/$1.jsonl" "$D/$1.err" "$2" "$ROWS" "$3" <<'PY'
import json, re, sys
out, err, first_id, rows, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
joined, seqs, ids = None, [], []
with open(out, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        j = json.loads(line)  # every line must be JSON
        if j["op"] in ("heartbeat", "schema") and not seqs:
            # Where the tail joined (the relay may publish the table's
            # SCHEMA message after the tail's first heartbeat).
            joined = j["seq"]
            continue
        if j["op"] == "heartbeat":
            continue
        assert j["op"] == "insert" and j["table"] == "public.t", line
        seqs.append(j["seq"])
        ids.append(j["key"]["id"])
assert joined is not None, "no heartbeat"
want = list(range(joined + 1, joined + rows + 1))
want_ids = list(range(first_id, first_id + rows))
missed = []
for line in open(err, encoding="utf-8"):
    m = re.match(r"tablepub-tail: table public\.t: missed seq (\d+)\.\.(\d+) \((\d+) messages?\)", line)
    if m:
        a, b = int(m[1]), int(m[2])
        assert int(m[3]) == b - a + 1, line
        missed.extend(range(a, b + 1))
if mode == "repair":
    assert not missed, f"reported missed seqs: {missed[:10]}"
    assert seqs == want, f"{len(seqs)} changes printed, want {rows}; first difference at " + str(
        next((i for i, (a, b) in enumerate(zip(seqs, want)) if a != b), min(len(seqs), len(want))))
    assert ids == want_ids, "ids differ from the inserted rows"
else:
    # Each seq either printed or named missed, never both, in order.
    assert seqs == sorted(set(seqs)), "duplicates or disorder"
    assert not set(seqs) & set(missed), "a seq both printed and named missed"
    assert sorted(seqs + missed) == want, f"printed {len(seqs)} + missed {len(missed)} != {rows}"
    assert missed, "nothing was dropped: the test proves nothing"
    assert all(i - first_id == s - joined - 1 for i, s in zip(ids, seqs)), "ids do not match seqs"
print(f"{mode}: {len(seqs)} printed, {len(missed)} named missed")
PY
}

# stop_when_complete NAME FIRST_ID MODE: waits (at most 60 s) until the
# check passes on the output the slow reader has copied so far, then stops
# the tail (SIGTERM) and sets RC to its exit status.
stop_when_complete() {
    local i
    for i in $(seq 120); do
        if [ "$(grep -c '"op":"insert"' "$D/$1.jsonl")" -ge "$ROWS" ] || [ "$3" = plain ]; then
            check "$@" >/dev/null 2>&1 && break
        fi
        kill -0 "$TAIL" 2>/dev/null || fail "$1: the tail exited early: $(cat "$D/$1.err")"
        sleep 0.5
    done
    kill -TERM "$TAIL"
    RC=0
    wait "$TAIL" || RC=$?
    TAIL=
}

# 1. With a snapshot endpoint: complete, exit 0.
run_tail repair --snapshot-endpoint "$SNAP"
insert 1
stop_when_complete repair 1 repair
[ $RC -eq 0 ] || fail "repair: exit status $RC: $(cat "$D/repair.err")"
check repair 1 repair
grep -Eq 'replay\(s\) printed [1-9][0-9]* message' "$D/repair.err" ||
    fail "repair: nothing was replayed, so nothing was dropped: the test proves nothing"

# 2. Without one: every missed range named (a heartbeat names a lost last
# message), non-zero exit.
run_tail plain
insert $((ROWS + 1))
stop_when_complete plain $((ROWS + 1)) plain
[ $RC -eq 3 ] || fail "plain: exit status $RC, want 3"
grep -q 'message(s) never received; the output is incomplete' "$D/plain.err" || fail "plain: no summary line"
check plain $((ROWS + 1)) plain
echo "tail slow reader: ok"
