"""A RabbitMQ consumer of the relay's protobuf format (docs/protocol.md,
"RabbitMQ"): a durable queue bound to the exchange with a routing pattern,
every message parsed as a tablepub.v1.Message and checked against its
headers, the tables mirrored (mirror.py). Survives broker restarts (the
queue and its persistent messages do too) by reconnecting. Writes its state
to STATUS whenever it is idle for 100 ms.

usage: consumer.py PORT EXCHANGE PATTERN QUEUE STATUS"""
import os
import signal
import socket
import sys
import time

import amqp
import tablepub_pb2 as pb

from mirror import Mirror


def value(v):
    kind = v.WhichOneof("kind")
    if kind == "null":
        return None
    if kind in ("integer", "text", "boolean", "real", "numeric"):
        return getattr(v, kind)
    raise SystemExit("unexpected value kind %s in the test table" % kind)


def columns(cols):
    return {c.name: value(c.value) for c in cols}


OPS = {pb.INSERT: "insert", pb.UPDATE: "update", pb.DELETE: "delete", pb.TRUNCATE: "truncate",
       pb.SCHEMA: "schema", pb.UNPUBLISH: "unpublish", pb.RESYNC: "resync"}


def main():
    port, exchange, pattern, queue, status = sys.argv[1:6]
    mirror = Mirror()
    problems = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def on_message(msg):
        m = pb.Message()
        m.ParseFromString(bytes(msg.body))
        name = m.schema_name + "." + m.table_name
        h = msg.properties.get("application_headers", {})
        if (h.get("table"), h.get("seq"), h.get("txid")) != (name, m.seq, m.txid):
            problems.append("headers %r do not match message %s seq %d" % (h, name, m.seq))
        if msg.delivery_info["routing_key"] != "tablepub." + name:
            problems.append("routing key %s for %s" % (msg.delivery_info["routing_key"], name))
        if m.WhichOneof("body") == "change":
            c = m.change
            mirror.apply(name, m.seq, OPS.get(c.op, "?"), columns(c.key), columns(c.old_key), columns(c.values))
        msg.channel.basic_ack(msg.delivery_tag)

    while not stop:
        try:
            conn = amqp.Connection(host="127.0.0.1:" + port, userid="guest", password="guest", connect_timeout=2)
            conn.connect()
            ch = conn.channel()
            ch.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            ch.queue_declare(queue, durable=True, auto_delete=False)
            ch.queue_bind(queue, exchange, pattern)
            ch.basic_qos(0, 1000, False)
            ch.basic_consume(queue, callback=on_message)
            if not os.path.exists(status):
                mirror.dump(status)  # ready: the queue is bound
            while not stop:
                try:
                    conn.drain_events(timeout=0.1)
                except socket.timeout:
                    mirror.dump(status)
                    if problems:
                        raise SystemExit("; ".join(problems[:5]))
            conn.close()
        except (OSError, amqp.exceptions.AMQPError, amqp.exceptions.RecoverableConnectionError):
            time.sleep(0.2)  # the broker is restarting


if __name__ == "__main__":
    main()
