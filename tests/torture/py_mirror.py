#!/usr/bin/python3
"""A Python subscriber (clients/python) for the torture scenarios.

    py_mirror.py --connect EP... --snapshot-endpoint EP... --table S.T... --mirror FILE
                 [--request-timeout SECONDS]

Like `tablepub-tail --mirror`: on SIGUSR1 and on exit (SIGTERM) writes FILE
(one {"row":{...},"table":"s.t"} line per row, values in tablepub-tail's JSON
form, see value_to_json in tools/tail/src/tail_format.cpp) and FILE.status (same
fields as the tail's), so tests/consistency/caught_up.py and compare.py
read both subscribers alike. PYTHONPATH must hold tablepub_pb2 and
clients/python.
"""
import argparse
import base64
import datetime
import json
import math
import os
import signal
import sys
import uuid

import tablepub_pb2 as pb
from tablepub_client.subscriber import Subscriber

EPOCH = datetime.datetime(1970, 1, 1)
INT64_MAX, INT32_MAX = 2**63 - 1, 2**31 - 1


def fmt_timestamp(micros, utc):
    if micros == INT64_MAX:
        return "infinity"
    if micros == -INT64_MAX - 1:
        return "-infinity"
    t = EPOCH + datetime.timedelta(microseconds=micros)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d" % t.microsecond + ("Z" if utc else "")


def fmt_date(days):
    if days == INT32_MAX:
        return "infinity"
    if days == -INT32_MAX - 1:
        return "-infinity"
    return (EPOCH + datetime.timedelta(days=days)).strftime("%Y-%m-%d")


def value_json(v):
    """The value as tablepub-tail prints it (bytea as base64)."""
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    if kind == "real":
        d = v.real
        if math.isnan(d):
            return "NaN"
        if math.isinf(d):
            return "Infinity" if d > 0 else "-Infinity"
        return d
    if kind == "binary":
        return base64.b64encode(v.binary).decode("ascii")
    if kind == "timestamp":
        return fmt_timestamp(v.timestamp, True)
    if kind == "local_timestamp":
        return fmt_timestamp(v.local_timestamp, False)
    if kind == "date":
        return fmt_date(v.date)
    if kind == "uuid":
        return str(uuid.UUID(bytes=v.uuid))
    if kind == "interval":
        return {"months": v.interval.months, "days": v.interval.days, "microseconds": v.interval.microseconds}
    if kind == "json":
        try:
            return json.loads(v.json)
        except ValueError:
            return v.json
    if kind in ("boolean", "integer", "text", "numeric", "other"):
        return getattr(v, kind)
    raise SystemExit("py_mirror: value kind %s not supported" % kind)


def write_atomically(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def dump(sub, path, dumps):
    lines = []
    for t in sub.tables.values():
        for row in t.mirror.rows.values():
            lines.append(json.dumps({"table": t.name, "row": {k: value_json(v) for k, v in row.items()}},
                                    sort_keys=True, ensure_ascii=False))
    write_atomically(path, "".join(line + "\n" for line in sorted(lines)))
    status = {"dumps": dumps, "tables": [
        {"table": t.name, "state": t.state, "last_seq": t.last_seq, "latest_seq": t.latest_seq,
         "lag": max(0, t.latest_seq - t.last_seq), "buffered": len(t.buffer), "rows": len(t.mirror),
         "stale": False, "stats": dict(t.stats)}
        for t in sub.tables.values()]}
    write_atomically(path + ".status", json.dumps(status) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", action="append", required=True)
    ap.add_argument("--snapshot-endpoint", action="append", required=True)
    ap.add_argument("--table", action="append", required=True)
    ap.add_argument("--mirror", required=True)
    ap.add_argument("--request-timeout", type=float, default=10.0)
    args = ap.parse_args()
    flags = {"dump": 0, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: flags.__setitem__("dump", flags["dump"] + 1))
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("stop", True))
    sub = Subscriber(args.connect, args.snapshot_endpoint, args.table, request_timeout=args.request_timeout)
    done = 0
    dump(sub, args.mirror, done)  # dump 0: the signal handlers are in place
    while not flags["stop"]:
        sub.poll(0.05)
        if flags["dump"] > done:
            done = flags["dump"]
            dump(sub, args.mirror, done)
    dump(sub, args.mirror, done)
    for t in sub.tables.values():
        print("%s: %s seq %d rows %d %s" % (t.name, t.state, t.last_seq, len(t.mirror), t.stats), file=sys.stderr)
    sub.close()


if __name__ == "__main__":
    main()
