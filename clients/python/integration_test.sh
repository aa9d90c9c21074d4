#!/usr/bin/env bash
# The Python client against a real relay: a throwaway cluster, a published
# table with 20k rows, writers running while the client joins mid-stream;
# the client's mirror must equal the tables, and the snapshot endpoint must
# answer bad requests with the right error codes.
#   clients/python/integration_test.sh BUILD   (BUILD/bin/tablepub-relay, BUILD/python)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
relay_bin=$build/bin/tablepub-relay
# PY: the python of an installed client (install_test.sh); else the source tree.
py=${PY:-/usr/bin/python3}
D=$(mktemp -d /tmp/tablepub-pyit.XXXX); rmdir "$D"
"$root/tests/lib/pgtmp" start "$D" --owner $$ >/dev/null
. "$D/env"
RELAY=
cleanup() { [ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null; wait 2>/dev/null || true; "$root/tests/lib/pgtmp" stop "$D"; }
trap cleanup EXIT
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE t (id int PRIMARY KEY, v text, n numeric);
CREATE TABLE t2 (id int PRIMARY KEY, v text);
CREATE TABLE secret (id int PRIMARY KEY);
INSERT INTO t SELECT g, 'v'||g, g*1.5 FROM generate_series(1,20000) g;
SELECT tablepub.publish('t');
SELECT tablepub.publish('t2');
SQL
. "$root/tests/lib/relay_role.sh"
create_relay_role
. "$root/tests/lib/free_port.sh"
P=$(free_port)
S=$(free_port)
"$relay_bin" --db "dbname=postgres user=$RELAY_ROLE" --publish tcp://127.0.0.1:$P --snapshot tcp://127.0.0.1:$S \
    --heartbeat-interval 1000 2>"$D/relay.log" &
RELAY=$!
sleep 1
# One session for the 200 transactions.
( for i in $(seq 1 200); do
    echo "BEGIN; UPDATE t SET v = 'u$i' WHERE id = $i; DELETE FROM t WHERE id = 10000 + $i;
          INSERT INTO t VALUES (30000 + $i, 'new', NULL); INSERT INTO t2 VALUES ($i, 'x'); COMMIT;"
  done | psql -qX -v ON_ERROR_STOP=1 >/dev/null ) &
W=$!
[ -n "${PY:-}" ] || export PYTHONPATH=$build/python:$here
"$py" -m tablepub_client --connect tcp://127.0.0.1:$P --snapshot-endpoint tcp://127.0.0.1:$S \
    --table public.t --table public.t2 --quiet --mirror "$D/mirror.jsonl" 2>"$D/client.err" &
C=$!
wait $W
psql -qXAt -c "SELECT json_build_object('table','public.t','row',json_build_object('id',id,'n',n::text,'v',v))
               FROM t UNION ALL
               SELECT json_build_object('table','public.t2','row',json_build_object('id',id,'v',v)) FROM t2" |
    "$py" -c 'import json,sys; print("".join(sorted(json.dumps(json.loads(l), sort_keys=True)+"\n" for l in sys.stdin if l.strip())), end="")' \
    >"$D/table.jsonl"
# The client runs until its mirror equals the tables (60 s at most).
. "$root/tests/lib/py_mirror.sh"
py_mirror_equals $C "$D/client.err" "$D/mirror.jsonl" "$D/table.jsonl" 60 || true
kill -TERM $C
wait $C
if ! diff -q "$D/mirror.jsonl" "$D/table.jsonl" >/dev/null; then
    echo "FAIL: mirror differs from the tables" >&2
    diff "$D/mirror.jsonl" "$D/table.jsonl" | head -10 >&2
    exit 1
fi
echo "ok: mirror of $(wc -l <"$D/mirror.jsonl") rows equals the tables"
"$py" "$here/tests/probe_errors.py" tcp://127.0.0.1:$S
