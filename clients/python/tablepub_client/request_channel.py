"""The DEALER channel to a relay's snapshot endpoints (docs/protocol.md),
shared by Subscriber, AmqpSubscriber and TableSetSubscriber: requests sent
without blocking, the requests outstanding with their last activity, and a
fresh socket when one of them gets no reply in time."""

import zmq

import tablepub_pb2 as pb

from .curve import apply_curve


class RequestChannel:
    """Requests to the snapshot endpoints and their replies.

    outstanding maps request_id -> [owner, last activity (monotonic
    seconds)]; owner is what the caller tracks the request for (a TableSync,
    or None). credit is the chunks granted with each new request; timeout
    the seconds without a reply after which every request is given up.
    """

    def __init__(self, context, endpoints, curve, credit, timeout):
        self.ctx, self.endpoints, self.curve = context, list(endpoints), curve
        self.credit, self.timeout = credit, timeout
        self.socket = None
        self.outstanding = {}
        self._connect()

    def _connect(self):
        # A new socket, not a reconnect: what the old one had queued for a
        # dead relay must not reach the next one.
        if self.socket is not None:
            self.socket.close(0)
        self.socket = self.ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        apply_curve(self.socket, self.curve)
        for ep in self.endpoints:
            self.socket.connect(ep)

    def send(self, req):
        """Sends req if the socket takes it now; else drops it."""
        try:
            self.socket.send(req.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            pass  # retried when the request times out

    def start(self, req, now, owner=None):
        """Sends a new request with our credit and tracks it from now."""
        req.credit = self.credit
        self.outstanding[req.request_id] = [owner, now]
        self.send(req)

    def grant(self, request_id):
        """One more chunk of credit for a streaming request."""
        credit = pb.Request(request_id=request_id)
        credit.credit_grant.chunks = 1
        self.send(credit)

    def cancel(self, request_id):
        """Tells the relay to stop request_id and forgets it."""
        cancel = pb.Request(request_id=request_id)
        cancel.cancel.SetInParent()
        self.send(cancel)
        del self.outstanding[request_id]

    def finish(self, request_id):
        """Forgets request_id (its last reply came)."""
        self.outstanding.pop(request_id, None)

    def replies(self, now):
        """Yields (reply, owner) for every reply waiting on the socket that
        answers an outstanding request, whose activity becomes now. Garbled
        frames and replies to requests no longer outstanding are dropped."""
        while True:
            try:
                frame = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            reply = pb.Reply()
            try:
                reply.ParseFromString(frame)
            except Exception:  # noqa: BLE001 - a garbled frame is dropped
                continue
            entry = self.outstanding.get(reply.request_id)
            if entry is None:
                continue
            entry[1] = now
            yield reply, entry[0]

    def expire(self, now):
        """When a request had no reply for timeout seconds: gives up every
        outstanding request (the relay may be gone), opens a fresh socket and
        returns [(request_id, owner)] of those given up; else []."""
        if not any(now - t > self.timeout for _, t in self.outstanding.values()):
            return []
        failed = [(rid, owner) for rid, (owner, _) in self.outstanding.items()]
        self.outstanding.clear()
        self._connect()
        return failed

    def close(self):
        self.socket.close(0)
