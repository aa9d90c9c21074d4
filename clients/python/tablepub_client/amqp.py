"""RabbitMQ in place of the relay's PUB socket (docs/protocol.md section 12).

The relay started with --amqp publishes the same protobuf messages to a
topic exchange; AmqpSubscriber follows tables from there with the algorithm
of the ZeroMQ Subscriber (sync.TableSync), and takes snapshots and replays
from the relay's snapshot endpoint over ZeroMQ exactly as Subscriber does:
only the stream differs.

Through kombu (Debian's python3-kombu), the library oslo.messaging's rabbit
driver uses: an OpenStack host has it already, with the same URL syntax
("amqp://user:password@host:5672/vhost").

The queue: by default a server-named, exclusive one, deleted with the
connection. A broker restart or a lost connection loses it and whatever was
routed to it: after every reconnect each live table replays from its last
seq (TableSync.recheck), since no heartbeat on RabbitMQ would reveal lost
messages at the end of a stream. queue="name" declares a durable named
queue instead, which keeps messages across broker restarts and while this
client is away; it must have one consumer only (two would split the
stream).

Limits: RabbitMQ carries no heartbeats, so a table is never reported stale,
and a renamed table just falls silent under its former name (the MOVED
notice is a heartbeat); a replay under the former name answers MOVED.
"""

import socket
import time

import kombu
import zmq

import tablepub_pb2 as pb

from .subscriber import Subscriber
from .sync import FAILED, LIVE, MOVED, UNPUBLISHED

# The content type the relay sets (docs/protocol.md section 12).
CONTENT_TYPE = "application/x-protobuf; proto=tablepub.v1.Message"

# Reconnecting to the broker waits RECONNECT_BACKOFF_MIN seconds after the
# first failure, twice as long after each next one, at most
# RECONNECT_BACKOFF_MAX (as the relay's own reconnects).
RECONNECT_BACKOFF_MIN, RECONNECT_BACKOFF_MAX = 0.1, 5.0


def parse_amqp_message(body, tables):
    """(TableSync, Message) for a message body from the queue, or None when it
    is not a tablepub.v1.Message of one of `tables` (dropped, never raised)."""
    msg = pb.Message()
    try:
        msg.ParseFromString(body)
    except Exception:  # noqa: BLE001 - DecodeError, or RuntimeWarning subclasses
        return None
    # The message's own names, not the routing key: "s.a.b" is ambiguous.
    table = tables.get(f"{msg.schema_name}.{msg.table_name}")
    if table is None:
        return None
    return table, msg


class AmqpSubscriber(Subscriber):
    """Mirrors tables ("schema.table") published by a relay to RabbitMQ.
    Call poll() in a loop, as with Subscriber.

    url: the broker ("amqp://guest:guest@127.0.0.1:5672/"); exchange and
    routing_prefix as the relay's --amqp-exchange and --amqp-routing-prefix;
    exchange_durable as its --amqp-durable (declared here too, so that
    binding works before the relay has started). The broker must be
    reachable when the subscriber is created (the queue is bound before the
    first snapshot); later outages are ridden out by reconnecting.
    """

    def __init__(self, url, snapshot_endpoints, tables, exchange="tablepub",
                 routing_prefix="tablepub", exchange_durable=True, queue=None,
                 prefetch=1000, heartbeat=10, **options):
        self.amqp_url, self.exchange_name = url, exchange
        self.routing_prefix, self.exchange_durable = routing_prefix, exchange_durable
        self.queue_name, self.prefetch, self.heartbeat = queue, prefetch, heartbeat
        probe = kombu.Connection(url)  # not connected: only for its error classes
        self.errors = (OSError,) + tuple(probe.connection_errors) + tuple(probe.channel_errors)
        self.conn = None
        self.why_disconnected = ""
        self.reconnect_at, self.backoff = 0.0, RECONNECT_BACKOFF_MIN
        self.to_recheck = set()
        self.amqp_stats = dict(connects=0, disconnects=0, messages=0, foreign=0)
        super().__init__([], snapshot_endpoints, tables, **options)

    # -- the stream (Subscriber's hooks) ----------------------------------
    def _open_stream(self, publish_endpoints):
        del publish_endpoints  # the broker takes the PUB socket's place
        self._connect()

    def _connect(self):
        conn = kombu.Connection(self.amqp_url, heartbeat=self.heartbeat, connect_timeout=5)
        try:
            conn.connect()
            channel = conn.channel()
            ex = kombu.Exchange(self.exchange_name, type="topic", durable=self.exchange_durable)
            bindings = [kombu.binding(ex, routing_key=f"{self.routing_prefix}.{name}")
                        for name in self.tables]
            if self.queue_name:
                q = kombu.Queue(self.queue_name, bindings=bindings, durable=True,
                                auto_delete=False)
            else:
                q = kombu.Queue("", bindings=bindings, exclusive=True, auto_delete=True,
                                durable=False)
            self.consumer = kombu.Consumer(channel, queues=[q], on_message=self._on_amqp,
                                           no_ack=False, prefetch_count=self.prefetch)
            self.consumer.consume()
        except BaseException:
            conn.release()
            raise
        self.conn, self.channel = conn, channel
        self.fd = conn.connection.sock.fileno()
        self.amqp_stats["connects"] += 1
        self.last_tag = None
        self.backoff = RECONNECT_BACKOFF_MIN
        if self.amqp_stats["connects"] > 1:
            self.to_recheck = set(self.tables.values())

    def _disconnect(self, now):
        self.amqp_stats["disconnects"] += 1
        try:
            self.conn.release()
        except Exception:  # noqa: BLE001 - the connection is gone already
            pass
        self.conn = None
        self.reconnect_at = now + self.backoff
        self.backoff = min(self.backoff * 2, RECONNECT_BACKOFF_MAX)

    def _poller(self):
        p = zmq.Poller()
        p.register(self.requests.socket, zmq.POLLIN)
        if self.conn is not None:
            p.register(self.fd, zmq.POLLIN)
        return p

    def _on_stream(self, events, now):
        if self.conn is None:
            if now < self.reconnect_at:
                return
            try:
                self._connect()
            except self.errors as e:
                self.reconnect_at = now + self.backoff
                self.backoff = min(self.backoff * 2, RECONNECT_BACKOFF_MAX)
                self.why_disconnected = str(e)
                return
        try:
            if self.fd in events:
                self._drain()
            self.conn.heartbeat_check()
        except self.errors as e:
            self.why_disconnected = str(e)
            self._disconnect(now)
        self._recheck()

    def _drain(self):
        # At most a few thousand frames at a time: replies on the DEALER
        # socket must not wait behind a long queue.
        for _ in range(3000):
            try:
                self.conn.drain_events(timeout=0.001)
            except socket.timeout:
                break
            if self._callback_failed():
                break  # poll() raises it; the rest waits in the queue
        if self.last_tag is not None:
            self.channel.basic_ack(self.last_tag, multiple=True)
            self.last_tag = None

    def _on_amqp(self, message):
        self.amqp_stats["messages"] += 1
        self.last_tag = message.delivery_tag
        parsed = parse_amqp_message(message.body, self.tables)
        if parsed is None:
            self.amqp_stats["foreign"] += 1
            return
        parsed[0].on_message(parsed[1], time.monotonic())

    def _recheck(self):
        for table in list(self.to_recheck):
            if table.state in (UNPUBLISHED, MOVED, FAILED):
                self.to_recheck.discard(table)
            elif table.state == LIVE and table.pending is None:
                table.recheck("the RabbitMQ connection was restored")
                self.to_recheck.discard(table)

    def _close_stream(self):
        if self.conn is not None:
            self.conn.release()
            self.conn = None
