#!/usr/bin/python3
"""Checks the invariants of tx_schema.sql at every state a subscriber exposed.

    tx_check.py TAIL_OUTPUT

TAIL_OUTPUT is the output of `tablepub-tail --tx --snapshot` for the set
public.checking, public.savings, public.parent, public.child: snapshots of
the set and one line per transaction. The checker rebuilds the subscriber's
view from it and checks, after every snapshot and after every transaction
(every boundary the library exposed):
  money:  sum of the balances of both account tables = 100000
  family: every parent's n_children = the number of its children
  fk:     every child's parent exists
and that positions strictly increase, and that every change fits the view
(no INSERT of an existing key, no UPDATE or DELETE of a missing one).
Exits 1 on any violation or anomaly, or when nothing was checked.
"""
import json
import sys
from collections import Counter

TOTAL = 100000
TABLES = ("public.checking", "public.savings", "public.parent", "public.child")


def violations(view):
    out = []
    total = sum(r["balance"] for t in ("public.checking", "public.savings") for r in view[t].values())
    if total != TOTAL:
        out.append("money: total %d != %d" % (total, TOTAL))
    counts = Counter(r["parent_id"] for r in view["public.child"].values())
    for pid, r in view["public.parent"].items():
        if r["n_children"] != counts.get(pid, 0):
            out.append("family: parent %s says %d children, has %d" % (pid, r["n_children"], counts.get(pid, 0)))
    for cid, r in view["public.child"].items():
        if r["parent_id"] not in view["public.parent"]:
            out.append("fk: child %s of missing parent %s" % (cid, r["parent_id"]))
    return out


def main():
    view = None
    position = 0
    snapshots = transactions = anomalies = bad = 0
    for n, line in enumerate(open(sys.argv[1]), 1):
        j = json.loads(line)
        where = "line %d" % n
        if j.get("op") == "snapshot_begin":
            view = {t: {} for t in TABLES}
            position = j["position"]
            continue
        if "row" in j:
            view[j["table"]][j["row"]["id"]] = dict(j["row"])
            continue
        if j.get("op") == "snapshot_end":
            snapshots += 1
            where += " (snapshot at position %d)" % position
        elif "changes" in j:
            if view is None:
                print("FAIL: %s: a transaction before any snapshot" % where)
                sys.exit(1)
            if j["position"] <= position:
                print("FAIL: %s: position %d after %d" % (where, j["position"], position))
                bad += 1
            position = j["position"]
            transactions += 1
            where += " (position %d, txid %d)" % (position, j["txid"])
            for c in j["changes"]:
                rows = view[c["table"]]
                op = c["op"]
                if op == "insert":
                    k = c["key"]["id"]
                    if k in rows:
                        anomalies += 1
                    rows[k] = dict(c["values"])
                elif op == "update":
                    old = c.get("old_key", c["key"])["id"]
                    if old not in rows:
                        anomalies += 1
                    row = rows.pop(old, {})
                    row.update(c.get("values", {}))
                    row.update(c["key"])
                    rows[c["key"]["id"]] = row
                elif op == "delete":
                    if rows.pop(c["key"]["id"], None) is None:
                        anomalies += 1
                elif op == "truncate":
                    rows.clear()
        else:
            continue
        for v in violations(view):
            bad += 1
            if bad <= 10:
                print("FAIL: %s: %s" % (where, v))
    print("tx-check: %d snapshots and %d transactions checked; %d violations, %d anomalies"
          % (snapshots, transactions, bad, anomalies))
    sys.exit(1 if bad or anomalies or snapshots == 0 or transactions == 0 else 0)


if __name__ == "__main__":
    main()
