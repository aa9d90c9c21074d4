"""ZeroMQ I/O around TableSync: SUB for the stream, DEALER for snapshots."""

import time

import zmq

import tablepub_pb2 as pb

from .curve import apply_curve
from .request_channel import RequestChannel
from .sync import LIVE, TableSync


def parse_stream_message(frames, tables):
    """(TableSync, Message) for a frame pair from the PUB socket, or None when
    it is not for one of `tables` or not a tablepub.v1.Message (a garbled or
    hostile frame is dropped, never raised)."""
    if len(frames) != 2:
        return None
    table = tables.get(frames[0].decode("utf-8", "replace"))
    if table is None:
        return None  # "public.t2" matched the prefix "public.t"
    msg = pb.Message()
    try:
        msg.ParseFromString(frames[1])
    except Exception:  # noqa: BLE001 - DecodeError, or RuntimeWarning subclasses
        return None
    return table, msg


class Subscriber:
    """Mirrors tables ("schema.table") from a relay. Call poll() in a loop.

    curve: None (plain), or (relay public key, our public key, our secret
    key) as Z85 bytes, e.g. from curve.load_client_curve(); both sockets use it.
    """

    def __init__(self, publish_endpoints, snapshot_endpoints, tables, credit=16,
                 request_timeout=10.0, context=None, curve=None, **sync_options):
        self.ctx = context or zmq.Context.instance()
        self.curve = curve
        self.tables = {}
        for t in tables:
            schema, _, table = t.partition(".")
            if not schema or not table:
                raise ValueError(f'table "{t}" is not of the form schema.table')
            self.tables[t] = TableSync(schema, table, **sync_options)
        self._open_stream(publish_endpoints)
        # Owners: the TableSync each request is for.
        self.requests = RequestChannel(self.ctx, snapshot_endpoints, curve, credit, request_timeout)
        self.started = False

    # The stream: _open_stream, _poller, _on_stream and _close_stream are
    # all a transport touches (amqp.AmqpSubscriber replaces them).
    def _open_stream(self, publish_endpoints):
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        apply_curve(self.sub, self.curve)
        for t in self.tables:
            # A prefix filter: frame 1 is checked for an exact match below.
            self.sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        for ep in publish_endpoints:
            self.sub.connect(ep)

    def poll(self, timeout=0.1):
        """Handles what arrives within timeout seconds.

        An exception a callback (on_change, on_state) raised leaves poll(),
        unchanged, once the step it happened in is done: the change counts
        as applied and its callback is not called again; what arrived after
        it stays queued for the next poll() (docs/design.md, "Exceptions
        from callbacks")."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.started:
                self.started = True
                for t in self.tables.values():
                    t.start(time.monotonic())
            left = max(0.0, min(deadline - time.monotonic(), 0.1))
            events = dict(zmq.Poller.poll(self._poller(), int(left * 1000)))
            now = time.monotonic()
            self._on_stream(events, now)
            if self.requests.socket in events:
                self._on_reply(now)
            self._cancel_abandoned()
            self._expire(now)
            self._send_requests(now)
            self._raise_callback_error()
            if time.monotonic() >= deadline:
                return

    def _callback_failed(self):
        return any(t.callbacks.failed() for t in self.tables.values())

    def _raise_callback_error(self):
        # After a complete step: the tables and the request bookkeeping are
        # consistent. The first table's exception; the others are dropped.
        first = None
        for t in self.tables.values():
            e = t.callbacks.take()
            if first is None:
                first = e
        if first is not None:
            raise first

    def _poller(self):
        p = zmq.Poller()
        p.register(self.sub, zmq.POLLIN)
        p.register(self.requests.socket, zmq.POLLIN)
        return p

    def _on_stream(self, events, now):
        if self.sub not in events:
            return
        while True:
            try:
                frames = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            parsed = parse_stream_message(frames, self.tables)
            if parsed is not None:
                parsed[0].on_message(parsed[1], now)
                if parsed[0].callbacks.failed():
                    return  # the rest stays queued until the caller saw the error

    def _on_reply(self, now):
        for reply, table in self.requests.replies(now):
            table.on_reply(reply, now)
            kind = reply.WhichOneof("kind")
            if kind in ("snapshot_rows", "replay_messages") and table.pending_id == reply.request_id:
                self.requests.grant(reply.request_id)
            elif kind in ("snapshot_end", "replay_end", "error"):
                self.requests.finish(reply.request_id)
            if table.callbacks.failed():
                return

    def _cancel_abandoned(self):
        # A table that stopped following (moved, unpublished) no longer waits
        # for its stream: tell the relay, and let nothing time out later.
        for rid, (table, _) in list(self.requests.outstanding.items()):
            if table.pending_id != rid:
                self.requests.cancel(rid)

    def _expire(self, now):
        for rid, table in self.requests.expire(now):
            table.on_request_failed(rid, "no reply from the snapshot endpoint", now)

    def _send_requests(self, now):
        for table in self.tables.values():
            table.tick(now)
            req = table.take_request()
            if req is None:
                continue
            for rid in [r for r, (t, _) in self.requests.outstanding.items() if t is table]:
                self.requests.cancel(rid)
            self.requests.start(req, now, table)

    def all_live(self):
        return all(t.state == LIVE and t.lag == 0 for t in self.tables.values())

    def _close_stream(self):
        self.sub.close(0)

    def close(self):
        self._close_stream()
        self.requests.close()
