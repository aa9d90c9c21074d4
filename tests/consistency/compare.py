#!/usr/bin/python3
"""Compares a tablepub-tail --mirror file with the tables, row by row.

    compare.py MIRROR_FILE --tables T1,T2,... [--raw RAW_STREAM_FILE [--delivered TAIL_OUTPUT_FILE]]

The tables are dumped by psql (PG* from the environment) into the same JSON
form tablepub-tail uses (see value_to_json in tools/tail/src/tail_format.cpp):
numeric as its exact text, bytea as base64, timestamptz as
YYYY-MM-DDTHH:MM:SS.ffffffZ, timestamp without the Z, date as YYYY-MM-DD,
jsonb embedded, arrays and uuid as their text. Both sides are then brought
to one canonical line per row (keys sorted; floats compared as doubles), and
the first differing rows are printed. Exits 1 on any difference.

The published columns, their types and the primary keys come from the
catalog (tablepub.publications).

With RAW_STREAM_FILE (the output of a plain `tablepub-tail` of every table):
also checks that nothing of an unlisted table and no unpublished column was
published, and that every sequence number that arrived more than once
(republished after a relay restart) carried identical content.

With TAIL_OUTPUT_FILE (the subscriber's own output, `tablepub-tail
--snapshot`): checks the changes it applied after its last snapshot against
the raw stream: sequence numbers strictly increasing (nothing doubled or
misordered), every message after the snapshot's seq either applied or
contained in the snapshot by the visibility rule (nothing lost), and each
applied message identical to the one on the bus. A final-state comparison
alone misses a lost change that a later change of the same row overwrote.
"""
import argparse
import json
import subprocess
import sys

def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


# SQL expression giving a column's value in tablepub-tail's JSON form, by
# format_type(); anything not listed is sent as `other` (its text output).
def json_expr(col, sqltype):
    c = quote_ident(col)
    if sqltype.startswith("numeric") or sqltype in ("double precision", "real"):
        return c + "::text"
    if sqltype == "bytea":
        return "translate(encode(%s, 'base64'), E'\\n', '')" % c
    if sqltype == "timestamp with time zone" or sqltype.startswith("timestamp(") and "with time zone" in sqltype:
        return "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" % c
    if sqltype.startswith("timestamp"):
        return "to_char(%s, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')" % c
    if sqltype == "date":
        return "to_char(%s, 'YYYY-MM-DD')" % c
    if sqltype in ("smallint", "integer", "bigint", "oid", "boolean", "text", "json", "jsonb") or \
            sqltype.startswith("character varying") or sqltype == "name":
        return c
    # The type's output function, as the extension sends `other`: a cast to
    # text is not always that (inet::text adds /32 to a host address).
    return "CASE WHEN %s IS NOT NULL THEN format('%%s', %s) END" % (c, c)


def psql(sql):
    r = subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("compare: psql failed: %s\n%s" % (r.stderr.strip(), sql))
    return r.stdout


# table -> {"key": [key columns in order], "cols": {column: expr}, "float": {float columns}}
TABLES = {}


def load_specs(tables):
    """Published columns, their types and the primary key, from the catalog."""
    for table in tables:
        rows = psql("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                   coalesce((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                              WHERE k.attnum = a.attnum), 0)
              FROM tablepub.publications p
              JOIN pg_attribute a ON a.attrelid = p."table"::oid AND a.attname = ANY (p.columns)
              LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
             WHERE p."table"::oid = '%s'::regclass ORDER BY a.attnum""" % table)
        spec = {"key": [], "cols": {}, "float": set()}
        keys = []
        for line in rows.splitlines():
            name, sqltype, keypos = line.split("|")
            spec["cols"][name] = json_expr(name, sqltype)
            if sqltype in ("double precision", "real"):
                spec["float"].add(name)
            if int(keypos):
                keys.append((int(keypos), name))
        if not spec["cols"]:
            raise SystemExit("compare: %s is not published" % table)
        spec["key"] = [n for _, n in sorted(keys)]
        TABLES[table] = spec


def canon_float(v):
    if v is None:
        return None
    return repr(float(v))  # "Infinity" -> inf, "-0" -> -0.0, 3 -> 3.0


def canon_row(table, row):
    spec = TABLES[table]
    row = dict(row)
    for c in spec["float"]:
        if c in row:
            row[c] = canon_float(row[c])
    return row


def row_key(table, row):
    # Sort key: table, then key values (None first), typed as they come.
    return (table, tuple((v is not None, v) for v in (row.get(c) for c in TABLES[table]["key"])))


def load_db():
    parts = []
    for table, spec in TABLES.items():
        fields = ["'%s', %s" % (c.replace("'", "''"), e) for c, e in spec["cols"].items()]
        # A function takes at most 100 arguments: 50 columns per object, merged.
        row = " || ".join("jsonb_build_object(%s)" % ", ".join(fields[i:i + 50]) for i in range(0, len(fields), 50))
        parts.append("SELECT json_build_object('table', '%s', 'row', %s) FROM %s" % (table, row, table))
    out = psql(" UNION ALL ".join(parts))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def index(entries, origin, problems):
    rows = {}
    for e in entries:
        table = e["table"]
        if table not in TABLES:
            problems.append("%s: unexpected table %s" % (origin, table))
            continue
        row = canon_row(table, e["row"])
        k = row_key(table, row)
        if k in rows:
            problems.append("%s: key %s of %s appears twice" % (origin, k[1], table))
        rows[k] = json.dumps(row, sort_keys=True, ensure_ascii=False)
    return rows


def check_raw_stream(path):
    problems = []
    seen = {}
    lines = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            m = json.loads(line)
            if m["table"] == ".tx":
                continue  # the transaction topic: no table data (docs/protocol.md section 4)
            if m["table"] not in TABLES:
                problems.append("stream: message of unpublished table %s" % m["table"])
                continue
            sent = set(m.get("values", {})) | set(m.get("key", {}))
            if m["op"] == "schema":
                sent |= {c["name"] for c in m["schema"]["columns"]}
            if sent - set(TABLES[m["table"]]["cols"]):
                problems.append("stream: unpublished column(s) %s of %s on the bus: %s"
                                % (sorted(sent - set(TABLES[m["table"]]["cols"])), m["table"], line.strip()))
            body = json.dumps(m, sort_keys=True)
            prev = seen.setdefault((m["table"], m["seq"]), body)
            if prev != body:
                problems.append("stream: seq %d of %s republished with other content:\n  %s\n  %s"
                                % (m["seq"], m["table"], prev, body))
    dups = lines - len(seen)
    print("stream: %d messages, %d distinct (table, seq), %d republished copies" % (lines, len(seen), dups))
    return problems


def visible(txid, snap):
    return txid < snap["xmin"] or (txid < snap["xmax"] and txid not in snap["xip"])


def check_delivered(raw_path, tail_path, final_seq):
    """final_seq: table -> the subscriber's last seq (from its status)."""
    problems = []
    raw = {}
    with open(raw_path) as f:
        for line in f:
            if line.strip():
                m = json.loads(line)
                if m["op"] != "heartbeat":
                    raw[(m["table"], m["seq"])] = m
    snaps, applied = {}, {}
    with open(tail_path) as f:
        for line in f:
            if not line.strip():
                continue
            m = json.loads(line)
            t = m["table"]
            if m["op"] == "snapshot_begin":
                snaps[t] = m
                applied[t] = []
            elif m["op"] not in ("snapshot", "snapshot_end"):
                applied.setdefault(t, []).append(m)
    unverifiable = 0
    for t in TABLES:
        if t not in snaps:
            problems.append("subscriber: no snapshot of %s" % t)
            continue
        snap = snaps[t]
        seqs = [m["seq"] for m in applied[t]]
        for a, b in zip(seqs, seqs[1:]):
            if b <= a:
                problems.append("subscriber: %s applied seq %d after seq %d (doubled or misordered)" % (t, b, a))
                break
        got = {m["seq"]: m for m in applied[t]}
        for m in applied[t]:
            r = raw.get((t, m["seq"]))
            if r is not None and r != m:
                problems.append("subscriber: %s seq %d applied as\n  %s\nbut published as\n  %s"
                                % (t, m["seq"], json.dumps(m, sort_keys=True), json.dumps(r, sort_keys=True)))
            if m["seq"] <= snap["seq"]:
                problems.append("subscriber: %s applied seq %d, already in its snapshot (seq %d)"
                                % (t, m["seq"], snap["seq"]))
            if visible(m["txid"], snap):
                problems.append("subscriber: %s applied seq %d of txid %d, visible in its snapshot"
                                % (t, m["seq"], m["txid"]))
        for seq in range(snap["seq"] + 1, final_seq.get(t, 0) + 1):
            if seq in got:
                continue
            r = raw.get((t, seq))
            if r is None:
                unverifiable += 1  # lost on the raw SUB socket too (relay killed after queueing it)
            elif not visible(r["txid"], snap):
                problems.append("subscriber: %s seq %d (txid %d, %s) was neither applied nor in the snapshot"
                                % (t, seq, r["txid"], r["op"]))
        print("subscriber: %s snapshot at seq %d, %d changes applied after it" % (t, snap["seq"], len(seqs)))
    if unverifiable:
        print("subscriber: %d skipped seqs not on the raw stream either (not verifiable)" % unverifiable)
    return problems


def main():
    ap = argparse.ArgumentParser(description="compare a tablepub-tail --mirror file with the tables")
    ap.add_argument("mirror", help="the tail's --mirror FILE (FILE.status is read too)")
    ap.add_argument("--tables", required=True, help="comma-separated schema.table list")
    ap.add_argument("--raw", help="output of a plain tablepub-tail of every table")
    ap.add_argument("--delivered", help="the mirroring tail's own --snapshot output (needs --raw)")
    args = ap.parse_args()
    load_specs(args.tables.split(","))
    problems = []
    with open(args.mirror) as f:
        mirror_entries = [json.loads(line) for line in f if line.strip()]
    mirror = index(mirror_entries, "mirror", problems)
    db = index(load_db(), "table", problems)
    if args.raw:
        problems += check_raw_stream(args.raw)
    if args.raw and args.delivered:
        status = json.load(open(args.mirror + ".status"))
        final_seq = {t["table"]: t["last_seq"] for t in status["tables"]}
        problems += check_delivered(args.raw, args.delivered, final_seq)

    diffs = []
    for k in sorted(set(mirror) | set(db)):
        a, b = mirror.get(k), db.get(k)
        if a != b:
            diffs.append((k, a, b))
    per_table = {}
    for (table, _) in db:
        per_table[table] = per_table.get(table, 0) + 1
    print("tables: %s" % ", ".join("%s %d rows" % (t, per_table.get(t, 0)) for t in TABLES))
    if diffs:
        print("FAIL: mirror differs from the tables in %d rows (mirror %d rows, tables %d rows); first ones:"
              % (len(diffs), len(mirror), len(db)))
        for (table, key), a, b in diffs[:8]:
            print("  %s key %s\n    mirror: %s\n    table:  %s" % (table, [v for _, v in key], a, b))
    for p in problems[:20]:
        print("FAIL: " + p)
    if diffs or problems:
        sys.exit(1)
    print("ok: mirror equals tables: %d rows" % len(db))


if __name__ == "__main__":
    main()
