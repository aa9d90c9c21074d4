"""ZeroMQ I/O around TableSetSync: SUB for the tables' topics and ".tx",
DEALER for the set's snapshot and replays."""

import time

import zmq

import tablepub_pb2 as pb

from .curve import apply_curve
from .request_channel import RequestChannel
from .sync import LIVE
from .table_set import TX_TOPIC, TableSetSync


class TableSetSubscriber:
    """Mirrors tables ("schema.table") as one unit. Call poll() in a loop;
    between calls `sync.mirrors` show whole transactions only.

    curve: as for Subscriber. Further keyword arguments go to TableSetSync
    (on_transaction, on_state, ...).
    """

    def __init__(self, publish_endpoints, snapshot_endpoints, tables, credit=16,
                 request_timeout=10.0, context=None, curve=None, **sync_options):
        self.ctx = context or zmq.Context.instance()
        self.curve = curve
        self.sync = TableSetSync(tables, **sync_options)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        apply_curve(self.sub, curve)
        for topic in self.sync.streams:
            # A prefix filter: on_message checks the exact topic.
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        for ep in publish_endpoints:
            self.sub.connect(ep)
        # No owners: every request is the set's.
        self.requests = RequestChannel(self.ctx, snapshot_endpoints, curve, credit, request_timeout)
        self.started = False

    def poll(self, timeout=0.1):
        """Handles what arrives within timeout seconds.

        An exception a callback (on_transaction, on_state) raised leaves
        poll(), unchanged, once the step it happened in is done: the
        transaction counts as applied and its callback is not called again
        (docs/design.md, "Exceptions from callbacks")."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.started:
                self.started = True
                self.sync.start(time.monotonic())
            left = max(0.0, min(deadline - time.monotonic(), 0.1))
            p = zmq.Poller()
            p.register(self.sub, zmq.POLLIN)
            p.register(self.requests.socket, zmq.POLLIN)
            events = dict(p.poll(int(left * 1000)))
            now = time.monotonic()
            if self.sub in events:
                self._on_stream(now)
            if self.requests.socket in events:
                self._on_reply(now)
            self._expire(now)
            self.sync.tick(now)
            self._send_requests(now)
            error = self.sync.callbacks.take()
            if error is not None:
                raise error
            if time.monotonic() >= deadline:
                return

    def _on_stream(self, now):
        while True:
            try:
                frames = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                continue
            topic = frames[0].decode("utf-8", "replace")
            if topic not in self.sync.streams:
                continue  # "public.t2" matched the prefix "public.t"
            msg = pb.Message()
            try:
                msg.ParseFromString(frames[1])
            except Exception:  # noqa: BLE001 - a garbled or hostile frame is dropped
                continue
            self.sync.on_message(topic, msg, now)
            if self.sync.callbacks.failed():
                return  # the rest stays queued until the caller saw the error

    def _on_reply(self, now):
        for reply, _ in self.requests.replies(now):
            rid = reply.request_id
            self.sync.on_reply(reply, now)
            kind = reply.WhichOneof("kind")
            if kind in ("snapshot_rows", "replay_messages") and rid in self.sync.active_requests():
                self.requests.grant(rid)
            elif kind == "replay_end" or kind == "error" or (
                    kind == "snapshot_end" and rid not in self.sync.active_requests()):
                self.requests.finish(rid)
            if self.sync.callbacks.failed():
                return

    def _expire(self, now):
        for rid, _ in self.requests.expire(now):
            self.sync.on_request_failed(rid, "no reply from the snapshot endpoint", now)

    def _send_requests(self, now):
        # Streams the set gave up (a resync replaced them) are cancelled.
        active = self.sync.active_requests()
        for rid in [r for r in self.requests.outstanding if r not in active]:
            self.requests.cancel(rid)
        for req in self.sync.take_requests():
            self.requests.start(req, now)

    def live(self):
        """The set is live and nothing known is missing."""
        return self.sync.state == LIVE and self.sync.lag_transactions == 0

    def close(self):
        self.sub.close(0)
        self.requests.close()


__all__ = ["TableSetSubscriber", "TX_TOPIC"]
