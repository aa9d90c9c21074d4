#!/usr/bin/python3
"""A torture subscriber's own account, from its FILE.status.

    check_status.py FILE.status [--allow-resync REASON] [--strict]

Fails (exit 1) unless every table is live, not stale, and had 0 anomalies
(changes that did not fit its mirror) and 0 resyncs; with a non-empty
REASON, resyncs are accepted (the scenario expects them by design, e.g. a
primary-key change), anomalies never are. --strict (a subscriber that
joined once and was never made to start over, tests/lib/mirror_end.sh):
also 0 dropped changes and exactly one snapshot.
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("status")
    ap.add_argument("--allow-resync", default="")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    st = json.load(open(args.status))
    bad = False
    for t in st["tables"]:
        s = t["stats"]
        print("  %s: %s seq %d rows %d; applied %d, skipped %d, duplicates %d, gaps %d, replays %d, "
              "resyncs %d, anomalies %d, dropped %d"
              % (t["table"], t["state"], t["last_seq"], t["rows"], s["applied"], s["skipped_visible"],
                 s["duplicates"], s["gaps"], s["replays"], s["resyncs"], s["anomalies"], s["dropped"]))
        if t["state"] != "live" or t["stale"]:
            print("  FAIL: %s ended %s%s" % (t["table"], t["state"], " (stale)" if t["stale"] else ""))
            bad = True
        if s["anomalies"]:
            print("  FAIL: %s saw %d changes that did not fit its mirror" % (t["table"], s["anomalies"]))
            bad = True
        if s["resyncs"] and not args.allow_resync:
            print("  FAIL: %s had to resync %d times (a snapshot again instead of replay)" % (t["table"], s["resyncs"]))
            bad = True
        elif s["resyncs"]:
            print("  (%d resyncs accepted: %s)" % (s["resyncs"], args.allow_resync))
        if args.strict and (s["dropped"] or s["snapshots"] != 1):
            print("  FAIL: %s dropped %d changes and took %d snapshots (one expected)"
                  % (t["table"], s["dropped"], s["snapshots"]))
            bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
