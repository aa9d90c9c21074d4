#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/ from real traffic: a
# throwaway cluster, published tables of many column types, a relay, a
# workload (DML, DDL, unpublish), and capture_corpus.py recording what the
# relay publishes and answers (and the requests it was sent).
#   fuzz/capture_corpus.sh BUILD     (BUILD/bin/tablepub-relay)
# Needs the extension installed (make -C extension install).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
py=/usr/bin/python3
D=$(mktemp -d /tmp/tablepub-corpus.XXXX); rmdir "$D"
"$root/tests/lib/pgtmp" start "$D" --owner $$ >/dev/null
. "$D/env"
RELAY=
cleanup() { [ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null; wait 2>/dev/null || true; "$root/tests/lib/pgtmp" stop "$D"; }
trap cleanup EXIT
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE t (id int PRIMARY KEY, v text, n numeric, b bytea, j jsonb, u uuid,
                ts timestamptz, lt timestamp, d date, i interval, f float8, ok bool,
                a int[], m mood, x inet);
CREATE TABLE t2 (a text, b bigint, v text, PRIMARY KEY (a, b));
INSERT INTO t SELECT g, 'v' || g, g * 1.5, '\x00ff'::bytea, '{"k": [1, 2]}',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2026-01-01 00:00:00+00', '2026-01-01',
       '2026-01-01', '1 mon 2 days 3 sec', 'NaN', true, '{1,2}', 'ok', '10.0.0.1'
  FROM generate_series(1, 7) g;
INSERT INTO t2 VALUES ('x', 1, 'one'), ('é', -2, NULL);
SELECT tablepub.publish('t');
SELECT tablepub.publish('t2', full_row => true);
SQL
port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); S=$(port)
# The cluster's superuser: this generates data, it tests nothing, and the
# corpus needs real snapshot replies (a tablepub_relay member cannot take
# snapshots until issue 7's least-privilege fix is merged).
"$build/bin/tablepub-relay" --db "dbname=$PGDATABASE" --publish tcp://127.0.0.1:$P \
    --snapshot tcp://127.0.0.1:$S --heartbeat-interval 200 2>"$D/relay.log" &
RELAY=$!
workload() {
    psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO t (id, v, n) VALUES (100, 'new', '-12.3400');
UPDATE t SET v = 'changed', f = '-Infinity' WHERE id = 1;
UPDATE t SET id = 101 WHERE id = 2;
DELETE FROM t WHERE id = 3;
BEGIN; INSERT INTO t2 VALUES ('y', 3, 'three'); UPDATE t2 SET v = 'uno' WHERE a = 'x'; COMMIT;
DELETE FROM t2 WHERE b = -2;
ALTER TABLE t ADD COLUMN extra text;
UPDATE t SET extra = 'e' WHERE id = 4;
ALTER TABLE t DROP COLUMN x;
TRUNCATE t2;
SELECT tablepub.unpublish('t2');
SQL
}
export PYTHONPATH=$build/python
protoc -I "$root/proto" --python_out="$build/python" "$root/proto/tablepub.proto"
"$py" "$here/capture_corpus.py" tcp://127.0.0.1:$P tcp://127.0.0.1:$S "$here/corpus" \
    "$(declare -f workload); workload"
