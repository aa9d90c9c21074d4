#!/usr/bin/python3
"""Exit 0 when a tablepub-tail --mirror subscriber has caught up with the relay.

    caught_up.py MIRROR_FILE.status MIN_DUMPS

True when the status file is from dump MIN_DUMPS or later, the relay has
published every committed change (tests/lib/all_published.sql), and every
table is live at the relay's durable sequence number with nothing buffered.
The status of a set (tablepub-tail --tx) has one state, lag and buffer for
all its tables. PG* from the environment.
"""
import json
import os
import subprocess
import sys

ALL_PUBLISHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "all_published.sql")


def main():
    try:
        st = json.load(open(sys.argv[1]))
    except (OSError, ValueError):
        sys.exit(1)
    if st["dumps"] < int(sys.argv[2]):
        sys.exit(1)
    if "state" in st and (st["state"] != "live" or st["lag"] or st["buffered"]):
        sys.exit(1)
    with open(ALL_PUBLISHED) as f:
        all_published = "".join(line for line in f if not line.startswith("--"))
    out = subprocess.run(
        ["psql", "-qXAt", "-c",
         "SELECT schema_name || '.' || table_name, last_seq FROM tablepub.relay_stream"
         " UNION ALL SELECT 'all published', (" + all_published + ")::int"],
        capture_output=True, text=True, check=True).stdout
    relay = dict(line.split("|") for line in out.splitlines())
    if relay.pop("all published") != "1":
        sys.exit(1)
    for t in st["tables"]:
        if "state" in t and (t["state"] != "live" or t["lag"] or t["buffered"]):
            sys.exit(1)
        if str(t["last_seq"]) != relay.get(t["table"]):
            sys.exit(1)


if __name__ == "__main__":
    main()
