#!/usr/bin/python3
"""The Nova test's own checks, after tests/torture/lib.sh tt_finish compared
the mirrors with the tables (tests/nova/run.sh).

    check_nova.py --raw RAW --tables T1,T2,... --status FILE.status... --files FILE...
                  [--upgraded TABLE]

Fails (exit 1) when:
- the secret marker "tpsecret" (in instances.user_data,
  block_device_mapping.connection_info, console_auth_tokens.token_hash and
  the network info cache, none of them published) appears in the raw stream,
  in any FILE (mirrors, the subscriber's output) or in any outbox row; or
  when the database holds no such value (the check would prove nothing);
- the outbox holds a change of a table that is not published;
- the raw stream lacks an operation the workload does on a published table
  (inserts, updates, soft deletes, hard deletes: "every change arrives" is
  not tested on a table that did not change);
- the upgraded TABLE's SCHEMA messages did not bring the columns Nova's
  later migration added, or brought an excluded column;
- a subscriber resynced a table other than the upgraded one, or did not
  resync the upgraded one (its snapshot predates the upgrade, and new
  columns need a new snapshot: docs/protocol.md section 4).
PG* from the environment.
"""
import argparse
import collections
import json
import subprocess
import sys

MARKER = "tpsecret"
# Where Nova's workload writes the marker; each must hold some (not vacuous).
SECRET_PLACES = {
    "instances.user_data": "SELECT count(*) FROM instances WHERE user_data LIKE 'tpsecret%'",
    "block_device_mapping.connection_info":
        "SELECT count(*) FROM block_device_mapping WHERE connection_info LIKE '%tpsecret%'",
    "console_auth_tokens (unpublished)": "SELECT count(*) FROM console_auth_tokens WHERE token_hash LIKE 'tpsecret%'",
    "instance_info_caches (unpublished)":
        "SELECT count(*) FROM instance_info_caches WHERE network_info LIKE '%tpsecret%'",
}
# Operations the workload does on each published table, as tablepub-tail
# names them; "soft_delete" is an update setting `deleted` (Nova's soft delete).
EXPECTED_OPS = {
    "public.instances": {"insert", "update", "soft_delete", "delete"},
    "public.instance_metadata": {"insert", "update", "soft_delete", "delete"},
    "public.instance_system_metadata": {"insert", "update", "soft_delete", "delete"},
    "public.instance_faults": {"insert"},
    "public.block_device_mapping": {"insert", "update", "soft_delete", "schema"},
    "public.migrations": {"insert", "update"},
    "public.tags": {"insert", "delete"},
    "public.compute_nodes": {"insert", "update"},
    "public.services": {"insert", "update"},
}
UPGRADE_COLUMNS = {"encrypted", "encryption_secret_uuid", "encryption_format", "encryption_options"}


def psql(sql):
    return subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--tables", required=True)
    ap.add_argument("--status", action="append", default=[])
    ap.add_argument("--files", nargs="*", default=[])
    ap.add_argument("--upgraded")
    args = ap.parse_args()
    tables = set(args.tables.split(","))
    problems = []

    for place, sql in SECRET_PLACES.items():
        n = int(psql(sql))
        print("secrets in %s: %d rows" % (place, n))
        if n == 0:
            problems.append("no secret was written to %s: the check proves nothing" % place)
    for path in [args.raw] + args.files:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if MARKER in line:
                    problems.append("%s line %d carries a secret: %s" % (path, lineno, line.strip()[:300]))
                    break
    outbox = psql("SELECT relid::regclass::text, count(*), count(*) FILTER (WHERE position('\\x%s'::bytea IN change) > 0)"
                  " FROM tablepub.outbox GROUP BY 1 ORDER BY 1" % MARKER.encode().hex())
    for line in outbox.splitlines():
        rel, n, secret = line.split("|")
        if "public." + rel not in tables and rel not in tables:
            problems.append("the outbox holds %s changes of unpublished table %s" % (n, rel))
        if int(secret):
            problems.append("the outbox holds %s changes of %s that carry a secret" % (secret, rel))
    print("outbox: %s" % ", ".join(line.replace("|", " ", 1).split("|")[0] for line in outbox.splitlines()))

    ops = collections.defaultdict(collections.Counter)
    schemas = []
    with open(args.raw, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            m = json.loads(line)
            op = m["op"]
            if op == "update" and m.get("values", {}).get("deleted") not in (None, 0):
                op = "soft_delete"
            ops[m["table"]][op] += 1
            if op == "schema" and m["table"] == args.upgraded:
                schemas.append({c["name"] for c in m["schema"]["columns"]})
    for table in sorted(tables):
        print("bus: %s: %s" % (table, ", ".join("%s %d" % kv for kv in sorted(ops[table].items()))))
        missing = EXPECTED_OPS.get(table, set()) - set(ops[table])
        if missing:
            problems.append("no %s of %s on the bus" % ("/".join(sorted(missing)), table))

    if args.upgraded:
        if not schemas or not UPGRADE_COLUMNS <= schemas[-1]:
            problems.append("the SCHEMA messages of %s lack the upgrade's columns %s"
                            % (args.upgraded, sorted(UPGRADE_COLUMNS - (schemas[-1] if schemas else set()))))
        print("bus: %s: %d SCHEMA messages; the last publishes %d columns"
              % (args.upgraded, len(schemas), len(schemas[-1]) if schemas else 0))
        for path in args.status:
            for t in json.load(open(path))["tables"]:
                n = t["stats"]["resyncs"]
                if t["table"] == args.upgraded and n == 0:
                    problems.append("%s: %s did not take a new snapshot after its columns were added" % (path, t["table"]))
                elif t["table"] != args.upgraded and n:
                    problems.append("%s: %s resynced %d times" % (path, t["table"], n))

    for p in problems:
        print("FAIL: " + p)
    if problems:
        sys.exit(1)
    print("ok: nothing unpublished left the database; every kind of change arrived")


if __name__ == "__main__":
    main()
