#!/usr/bin/python3
"""Exit 0 when a tablepub-tail --mirror subscriber has caught up with the relay.

    caught_up.py MIRROR_FILE.status MIN_DUMPS

True when the status file is from dump MIN_DUMPS or later, the relay has
published every committed change (no outbox row beyond its consumed
snapshot), and every table is live at the relay's durable sequence number
with nothing buffered. PG* from the environment.
"""
import json
import subprocess
import sys


def main():
    try:
        st = json.load(open(sys.argv[1]))
    except (OSError, ValueError):
        sys.exit(1)
    if st["dumps"] < int(sys.argv[2]):
        sys.exit(1)
    out = subprocess.run(
        ["psql", "-qXAt", "-c",
         "SELECT schema_name || '.' || table_name, last_seq FROM tablepub.relay_stream"
         " UNION ALL SELECT 'pending', count(*) FROM tablepub.outbox"
         " WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state))"],
        capture_output=True, text=True, check=True).stdout
    relay = dict(line.split("|") for line in out.split())
    if relay.pop("pending") != "0":
        sys.exit(1)
    for t in st["tables"]:
        if t["state"] != "live" or t["lag"] or t["buffered"] or str(t["last_seq"]) != relay.get(t["table"]):
            sys.exit(1)


if __name__ == "__main__":
    main()
