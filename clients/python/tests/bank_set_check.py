"""Mirrors two account tables as one set from a real relay and checks the
total balance at every transaction boundary the set exposes (each
on_transaction call, and the view after each poll). Run by
set_integration_test.sh.

  bank_set_check.py PUBLISH SNAPSHOT TOTAL WORKDIR

Writes WORKDIR/live once the set is live; after WORKDIR/expected.jsonl
appears (the tables' rows when the writers were done), waits until the
mirror equals it (at most 60 s). Exit status 0 only with no violation.
"""

import json
import os
import sys
import time

from tablepub_client.set_subscriber import TableSetSubscriber
from tablepub_client.sync import LIVE, REPLAYING

TABLES = ["public.acct_a", "public.acct_b"]


def main():
    publish, snapshot, total, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    violations, checked = [], [0]

    def total_now(sync):
        return sum(r["balance"] for t in TABLES for r in sync.rows(t))

    def on_transaction(sync, tx):
        checked[0] += 1
        got = total_now(sync)
        if got != total:
            violations.append(f"position {tx.position} txid {tx.txid}: total {got}")

    states = []
    # A request to the killed relay is given up after 3 s (default 10 s).
    sub = TableSetSubscriber([publish], [snapshot], TABLES, request_timeout=3.0,
                             on_transaction=on_transaction,
                             on_state=lambda s, old, new, why: states.append(f"{new}: {why}"))
    sync = sub.sync
    expected = os.path.join(work, "expected.jsonl")
    deadline = None
    seen_live = False
    try:
        while True:
            sub.poll(0.05)
            if sync.state in (LIVE, REPLAYING):
                got = total_now(sync)
                if got != total:
                    violations.append(f"view at position {sync.position}: total {got}")
                if not seen_live:
                    seen_live = True
                    open(os.path.join(work, "live"), "w").close()
            if deadline is None and os.path.exists(expected + ".done"):
                deadline = time.monotonic() + 60
                with open(expected) as f:
                    want = sorted(f.read().split("\n"))
            if deadline is not None:
                mine = sorted([json.dumps({"table": t, "row": r}, sort_keys=True)
                               for t in TABLES for r in sync.rows(t)] + [""])
                if sync.state == LIVE and mine == want:
                    break
                if time.monotonic() > deadline:
                    print("FAIL: the mirror does not equal the tables after 60 s "
                          f"(state {sync.state}: {sync.why}; {len(mine) - 1} rows, "
                          f"want {len(want) - 1})", file=sys.stderr)
                    print("\n".join(states[-10:]), file=sys.stderr)
                    return 1
    finally:
        sub.close()
    if violations:
        print(f"FAIL: {len(violations)} states with a wrong total, first: {violations[:5]}",
              file=sys.stderr)
        return 1
    st = sync.stats
    if st["anomalies"]:
        print(f"FAIL: {st['anomalies']} anomalies", file=sys.stderr)
        return 1
    print(f"ok: total {total} at all {checked[0]} transaction boundaries the set exposed, "
          f"position {sync.position}, {st['skipped']} in the snapshot, replays {st['replays']}, "
          f"resyncs {st['resyncs']}, duplicates {st['duplicates']}; mirror equals the tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
