"""The Python client (clients/python, tablepub_client.amqp.AmqpSubscriber)
following a table from RabbitMQ, snapshots and replays from the relay's
snapshot endpoint. Writes STATUS in the format of mirror.py's dump whenever
the table is live with nothing outstanding: "last" is its last seq, "gaps"
lists what the client could not repair (anomalies, a failed state), "dups"
the duplicates it dropped.

usage: py_mirror.py AMQP_URL SNAPSHOT_ENDPOINT TABLE STATUS"""
import json
import os
import signal
import sys

from tablepub_client.amqp import AmqpSubscriber
from tablepub_client.sync import FAILED, LIVE


def dump(sub, path):
    out = {}
    for name, t in sub.tables.items():
        problems = []
        if t.stats["anomalies"]:
            problems.append("%d anomalies" % t.stats["anomalies"])
        if t.state == FAILED:
            problems.append("failed: " + t.why)
        out[name] = {"last": t.last_seq if t.state == LIVE and t.pending is None else 0,
                     "dups": t.stats["duplicates"], "gaps": problems, "stats": t.stats,
                     "amqp": sub.amqp_stats, "state": t.state,
                     "rows": sorted(t.mirror.as_dicts(), key=lambda r: json.dumps(r, sort_keys=True))}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"tables": out}, f)
    os.replace(tmp, path)


def main():
    url, snapshot, table, status = sys.argv[1:5]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sub = AmqpSubscriber(url, [snapshot], [table], request_timeout=2.0,
                         on_state=lambda t, old, new, why: print(
                             "%s: %s -> %s (%s)" % (t.name, old, new, why), flush=True))
    while not stop:
        sub.poll(0.1)
        dump(sub, status)
    sub.close()


if __name__ == "__main__":
    main()
