#!/usr/bin/env bash
# Writes real changes to extension/fuzz/corpus, the fuzzer's seeds: every
# kind of Value, every op the capture writes, keys and old keys, full rows,
# schemas, packed rows. Starts a throwaway cluster with the installed extension (run
# `make -C extension install` first) and stops it however the script ends.
# Files are named by their SHA-1, as libFuzzer names what it adds.
set -euo pipefail

ext=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$ext/.." && pwd)
out=$ext/fuzz/corpus

cluster=$(mktemp -d /tmp/tablepub-seed.XXXXXX)
trap '"$root/tests/lib/pgtmp" stop "$cluster" >/dev/null 2>&1 || true' EXIT
"$root/tests/lib/pgtmp" start "$cluster" --owner $$ >/dev/null
# shellcheck disable=SC1091
. "$cluster/env"

psql -qX -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE typed (
    id int8 PRIMARY KEY, i2 int2, i4 int4, o oid, n numeric, f4 float4, f8 float8,
    t text, vc varchar(10), c char(3), nm name, b bytea, bo bool, tstz timestamptz,
    ts timestamp, d date, iv interval, u uuid, j json, jb jsonb, ia int[], m mood,
    ip inet, r int4range);
SELECT tablepub.publish('typed');
INSERT INTO typed VALUES (1, 32767, -2147483648, 4294967295, 12345.678, 1.5, -0.1,
    E'tab\there "quoted" \\ é 日本', 'vc', 'ab', 'nm', '\x00ff10', true,
    '2024-02-29 12:00:00+01', 'infinity', '-infinity', '1 year 2 mons 3 days 04:05:06.789',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50]}', '{"b": null}',
    '{1,NULL,3}', 'happy', '10.0.0.1/8', '[1,10)');
INSERT INTO typed (id, n, f8, d) VALUES (2, 'NaN', 'Infinity', '2000-01-01');
INSERT INTO typed (id) VALUES (3);
UPDATE typed SET t = 'changed', f4 = 'NaN' WHERE id = 1;
UPDATE typed SET id = 4 WHERE id = 2;
DELETE FROM typed WHERE id = 3;
-- packed rows (0.4): several changes of one statement, small and big
INSERT INTO typed (id, t, i4) SELECT g, 'row ' || g, g FROM generate_series(10, 14) g;
INSERT INTO typed (id, t) SELECT g, repeat('p', g * 20) FROM generate_series(20, 40) g;
DELETE FROM typed WHERE id >= 10;
ALTER TABLE typed ADD COLUMN extra text;
SELECT tablepub.publish('typed', exclude_columns => '{b}', full_row => true);
UPDATE typed SET extra = 'x' WHERE id = 1;
DELETE FROM typed WHERE id = 4;
TRUNCATE typed;
CREATE TABLE comp (a int, b text, v text, PRIMARY KEY (b, a)) PARTITION BY LIST (a);
CREATE TABLE comp_1 PARTITION OF comp FOR VALUES IN (1);
SELECT tablepub.publish('comp', columns => '{v}');
INSERT INTO comp VALUES (1, 'k', 'v');
UPDATE comp SET b = 'k2';
SELECT tablepub.unpublish('comp');
SQL

mkdir -p "$out"
psql -qXAt -c "SELECT encode(change, 'hex') FROM tablepub.outbox ORDER BY txid, pos" |
python3 -c '
import hashlib, os, sys
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    with open(os.path.join(sys.argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
' "$out"
echo "$(ls "$out" | wc -l) files in $out"
