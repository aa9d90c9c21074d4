#!/usr/bin/python3
"""Latency subscriber for bench/latency.sh.

Subscribes to one table's topic, and for every INSERT message records
now - value of column `ts` (the row's clock_timestamp() taken just before its
transaction committed). Prints p50/p90/p99/max in milliseconds after
`--count` messages or `--timeout` seconds without a change.
"""
import argparse
import sys
import time

import zmq

import tablepub_pb2 as pb


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
    sub.connect(args.connect)
    open(args.ready_file, "w").close()

    latencies_us = []
    msg = pb.Message()
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    # Heartbeats keep arriving after the workload: stop after `timeout` without a change.
    last_change = time.monotonic()
    while len(latencies_us) < args.count and time.monotonic() - last_change < args.timeout:
        if not poller.poll(500):
            continue
        topic, body = sub.recv_multipart()
        now_us = time.time_ns() // 1000
        if topic.decode() != args.topic:
            continue
        msg.ParseFromString(body)
        if msg.WhichOneof("body") != "change" or msg.change.op != pb.INSERT:
            continue
        for col in msg.change.values:
            if col.name == "ts":
                latencies_us.append(now_us - col.value.timestamp)
        last_change = time.monotonic()
    if not latencies_us:
        print("no messages received", file=sys.stderr)
        return 1
    latencies_us.sort()

    def pct(p: float) -> float:
        return latencies_us[min(len(latencies_us) - 1, int(p * len(latencies_us)))] / 1000.0

    print(f"{len(latencies_us)} {pct(0.50):.3f} {pct(0.90):.3f} {pct(0.99):.3f} {latencies_us[-1] / 1000.0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
