"""python3 -m tablepub_client: mirror tables and print them as JSON lines.

  python3 -m tablepub_client --connect tcp://127.0.0.1:5556 \
      --snapshot-endpoint tcp://127.0.0.1:5557 --table public.instances \
      [--until-live] [--seconds N] [--mirror FILE] [--tx]
      [--curve-server-key relay.key --curve-client-key me.key_secret]

or from RabbitMQ (a relay started with --amqp), snapshots still from the
relay's snapshot endpoint:

  python3 -m tablepub_client --amqp amqp://guest:guest@127.0.0.1:5672/ \
      --snapshot-endpoint tcp://127.0.0.1:5557 --table public.instances \
      [--amqp-exchange tablepub] [--amqp-routing-prefix tablepub] [--amqp-queue NAME]

Prints one JSON object per applied change; with --tx (ZeroMQ only) mirrors
the tables as one set and prints one JSON object per transaction (position,
txid, commit_time, its changes across the tables). With --mirror writes the
mirror (one row per line, sorted) on exit, and also whenever it receives
SIGUSR1 (between two steps, so always at a transaction boundary).
"""

import argparse
import json
import os
import signal
import sys
import time

import tablepub_pb2 as pb

from .curve import KeyFileError, load_client_curve
from .set_subscriber import TableSetSubscriber
from .subscriber import Subscriber
from .sync import value_to_python


def _json_default(o):
    # value_to_python gives bytes only for raw_text (SQL_ASCII text that is
    # not UTF-8): printed as {"raw_text": hex} so it cannot pass for text.
    if isinstance(o, bytes):
        return {"raw_text": o.hex()}
    return str(o)


def change_json(table, msg):
    return json.dumps(change_dict(table.name, msg), sort_keys=True, default=_json_default)


def transaction_json(tx):
    return json.dumps({"position": tx.position, "txid": tx.txid,
                       "commit_time": tx.commit_time,
                       "changes": [change_dict(name, m) for name, m in tx.changes]},
                      sort_keys=True, default=_json_default)


def change_dict(table, msg):
    ch = msg.change
    return {
        "table": table, "seq": msg.seq, "txid": msg.txid,
        "op": pb.Op.Name(ch.op).lower(),
        "key": {c.name: value_to_python(c.value) for c in ch.key},
        "old_key": {c.name: value_to_python(c.value) for c in ch.old_key} or None,
        "values": {c.name: value_to_python(c.value) for c in ch.values},
        "reason": ch.reason or None,
    }


def write_mirror(mirrors, path):
    """mirrors: {table name: Mirror}."""
    lines = []
    for name, mirror in mirrors.items():
        for row in mirror.as_dicts():
            lines.append(json.dumps({"table": name, "row": row}, sort_keys=True,
                                    default=_json_default))
    # Written aside and renamed: a reader never sees half a mirror.
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in sorted(lines)))
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tablepub_client")
    ap.add_argument("--connect", action="append", default=[])
    ap.add_argument("--amqp", help="follow the tables from this RabbitMQ broker instead")
    ap.add_argument("--amqp-exchange", default="tablepub")
    ap.add_argument("--amqp-routing-prefix", default="tablepub")
    ap.add_argument("--amqp-queue", help="a durable queue of this name (default: an exclusive one)")
    ap.add_argument("--snapshot-endpoint", action="append", required=True)
    ap.add_argument("--table", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=0, help="stop after N seconds (0: never)")
    ap.add_argument("--until-live", action="store_true", help="stop once every table is live")
    ap.add_argument("--mirror", help="write the mirror here on exit")
    ap.add_argument("--quiet", action="store_true", help="do not print changes")
    ap.add_argument("--tx", action="store_true",
                    help="mirror the tables as one set; print whole transactions")
    ap.add_argument("--curve-server-key", default=os.environ.get("TABLEPUB_CURVE_SERVER_KEY"),
                    help="the relay's CURVE public key file (with --curve-client-key)")
    ap.add_argument("--curve-client-key", default=os.environ.get("TABLEPUB_CURVE_CLIENT_KEY"),
                    help="this client's CURVE secret key file (mode 0600)")
    args = ap.parse_args(argv)
    if bool(args.connect) == bool(args.amqp):
        ap.error("give either --connect or --amqp")
    if args.tx and args.amqp:
        # TableSetSubscriber follows the ZeroMQ topics only.
        ap.error("--tx needs --connect (ZeroMQ)")
    try:
        curve = load_client_curve(args.curve_server_key, args.curve_client_key)
    except KeyFileError as e:
        print(f"tablepub_client: {e}", file=sys.stderr)
        return 2

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    # SIGUSR1: write the mirror now (tests compare it while the client runs).
    dumps = []
    signal.signal(signal.SIGUSR1, lambda *_: dumps.append(1))
    if args.tx:
        return follow_set(args, curve, stopping, dumps)
    on_change = None if args.quiet else (lambda t, m: print(change_json(t, m), flush=True))
    options = dict(on_change=on_change, curve=curve,
                   on_state=lambda t, old, new, why: print(
                       f"{t.name}: {old} -> {new} ({why})", file=sys.stderr, flush=True))
    if args.amqp:
        from .amqp import AmqpSubscriber  # kombu only when asked for
        sub = AmqpSubscriber(args.amqp, args.snapshot_endpoint, args.table,
                             exchange=args.amqp_exchange, routing_prefix=args.amqp_routing_prefix,
                             queue=args.amqp_queue, **options)
    else:
        sub = Subscriber(args.connect, args.snapshot_endpoint, args.table, **options)
    start = time.monotonic()
    try:
        while not stopping:
            sub.poll(0.1)
            if dumps and args.mirror:
                dumps.clear()
                write_mirror({t.name: t.mirror for t in sub.tables.values()}, args.mirror)
            if args.until_live and sub.all_live():
                break
            if args.seconds and time.monotonic() - start > args.seconds:
                break
    except KeyboardInterrupt:
        pass
    for t in sub.tables.values():
        where = f" (moved to {t.moved_to})" if t.moved_to else ""
        print(f"{t.name}: {t.state}{where} seq {t.last_seq} rows {len(t.mirror)} {t.stats}"
              f" {t.why}", file=sys.stderr)
    if args.mirror:
        write_mirror({t.name: t.mirror for t in sub.tables.values()}, args.mirror)
    sub.close()
    return 0


def follow_set(args, curve, stopping, dumps):
    on_tx = None if args.quiet else (lambda s, tx: print(transaction_json(tx), flush=True))
    sub = TableSetSubscriber(args.connect, args.snapshot_endpoint, args.table,
                             on_transaction=on_tx, curve=curve,
                             on_state=lambda s, old, new, why: print(
                                 f"set: {old} -> {new} ({why})", file=sys.stderr, flush=True))
    start = time.monotonic()
    try:
        while not stopping:
            sub.poll(0.1)
            if dumps and args.mirror:
                dumps.clear()
                write_mirror(sub.sync.mirrors, args.mirror)
            if args.until_live and sub.live():
                break
            if args.seconds and time.monotonic() - start > args.seconds:
                break
    except KeyboardInterrupt:
        pass
    s = sub.sync
    print(f"set: {s.state} position {s.position} lag {s.lag_transactions} transactions "
          f"{s.lag_seconds(time.time()):.3f} s {s.stats} {s.why}", file=sys.stderr)
    if args.mirror:
        write_mirror(s.mirrors, args.mirror)
    sub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
