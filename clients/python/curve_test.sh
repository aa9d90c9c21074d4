#!/usr/bin/env bash
# The Python client with CURVE keys against a real relay that runs as a
# non-superuser member of tablepub_relay with --curve-secret-key and
# --curve-allow: the allowed client's mirror equals the table (snapshot and
# deltas); a client whose key is not allowed gets nothing.
#   clients/python/curve_test.sh BUILD   (BUILD/bin/tablepub-relay, tablepub-keygen, BUILD/python)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
py=/usr/bin/python3
D=$(mktemp -d /tmp/tablepub-pycurve.XXXX); rmdir "$D"
"$root/tests/lib/pgtmp" start "$D" --owner $$ >/dev/null
. "$D/env"
RELAY=
cleanup() { [ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null; wait 2>/dev/null || true; "$root/tests/lib/pgtmp" stop "$D"; }
trap cleanup EXIT
K=$D/keys
mkdir -p "$K/clients"
"$build/bin/tablepub-keygen" "$K/relay" >/dev/null
"$build/bin/tablepub-keygen" "$K/alice" >/dev/null
"$build/bin/tablepub-keygen" "$K/mallory" >/dev/null
cp "$K/alice.key" "$K/clients/"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v'||g FROM generate_series(1,5000) g;
SELECT tablepub.publish('t');
SQL
. "$root/tests/lib/relay_role.sh"
create_relay_role
P=ipc://$D/pub.sock
S=ipc://$D/snap.sock
"$build/bin/tablepub-relay" --db "dbname=postgres user=$RELAY_ROLE" --publish "$P" --snapshot "$S" \
    --curve-secret-key "$K/relay.key_secret" --curve-allow "$K/clients" --heartbeat-interval 500 \
    2>"$D/relay.log" &
RELAY=$!
for _ in $(seq 100); do grep -q "publishing on" "$D/relay.log" && break; sleep 0.1; done
( for i in $(seq 1 100); do
    psql -qX -c "BEGIN; UPDATE t SET v = 'u$i' WHERE id = $i; DELETE FROM t WHERE id = 4000 + $i;
                 INSERT INTO t VALUES (9000 + $i, 'new'); COMMIT;"
  done ) &
W=$!
export PYTHONPATH=$build/python:$here
"$py" -m tablepub_client --connect "$P" --snapshot-endpoint "$S" --table public.t --quiet \
    --curve-server-key "$K/relay.key" --curve-client-key "$K/alice.key_secret" --mirror "$D/alice.jsonl" \
    2>"$D/alice.err" &
A=$!
"$py" -m tablepub_client --connect "$P" --snapshot-endpoint "$S" --table public.t --seconds 4 --quiet \
    --curve-server-key "$K/relay.key" --curve-client-key "$K/mallory.key_secret" --mirror "$D/mallory.jsonl" \
    2>"$D/mallory.err" &
M=$!
wait $W
psql -qXAt -c "SELECT json_build_object('table','public.t','row',json_build_object('id',id,'v',v)) FROM t" |
    "$py" -c 'import json,sys; print("".join(sorted(json.dumps(json.loads(l), sort_keys=True)+"\n" for l in sys.stdin if l.strip())), end="")' \
    >"$D/table.jsonl"
# The allowed client runs until its mirror equals the table (60 s at most).
. "$root/tests/lib/py_mirror.sh"
py_mirror_equals $A "$D/alice.err" "$D/alice.jsonl" "$D/table.jsonl" 60 || true
kill -TERM $A
wait $A
wait $M
if ! diff -q "$D/alice.jsonl" "$D/table.jsonl" >/dev/null; then
    echo "FAIL: the allowed client's mirror differs from the table" >&2
    diff "$D/alice.jsonl" "$D/table.jsonl" | head -10 >&2
    exit 1
fi
if [ -s "$D/mallory.jsonl" ]; then
    echo "FAIL: a client whose key is not allowed received rows" >&2
    exit 1
fi
if ! grep -q "public.t: syncing seq 0 rows 0" "$D/mallory.err"; then
    echo "FAIL: the refused client should have stayed syncing with nothing:" >&2
    cat "$D/mallory.err" >&2
    exit 1
fi
mallory_key=$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$K/mallory.key")
if ! grep -qF "with key $mallory_key" "$D/relay.log"; then
    echo "FAIL: the relay did not log the refused key" >&2
    exit 1
fi
echo "ok: CURVE client mirror of $(wc -l <"$D/alice.jsonl") rows equals the table; a key not allowed got nothing"
