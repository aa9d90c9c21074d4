"""Records a relay's real traffic and writes the fuzz seed corpora.

  capture_corpus.py PUB_ENDPOINT SNAPSHOT_ENDPOINT CORPUS_DIR WORKLOAD_SHELL

Subscribes to everything, takes snapshots and replays of public.t and
public.t2 with small chunks, runs the workload (a shell snippet) meanwhile,
sends a few malformed requests, and writes CORPUS_DIR/client/* (inputs of
fuzz_client) and CORPUS_DIR/request/* (inputs of fuzz_request), in the
record format of fuzz_input.hpp. A few seeds for protocol elements this
relay may not produce yet (RESYNC, unpublished and moved heartbeats, MOVED,
FORBIDDEN, TOO_LARGE) are built from the schema.
"""

import hashlib
import os
import struct
import subprocess
import sys
import time

import zmq

import tablepub_pb2 as pb


def frame(op, body=None):
    if body is None:
        return bytes([op])
    body = body[:0xFFFF]
    return bytes([op]) + struct.pack("<H", len(body)) + body


class Capture:
    def __init__(self, pub, snap):
        ctx = zmq.Context.instance()
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(pub)
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.RCVTIMEO, 10000)
        self.dealer.connect(snap)
        self.messages = []   # (topic, body)
        self.requests = []   # bodies sent on the snapshot endpoint
        self.next_id = 1

    def drain_stream(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.sub.poll(50):
                self.messages.append(tuple(self.sub.recv_multipart()))

    def send(self, req):
        body = req.SerializeToString()
        self.requests.append(body)
        self.dealer.send(body)

    def ask(self, make, credit=2, chunk=3):
        req = pb.Request(request_id=self.next_id, credit=credit, max_chunk_rows=chunk)
        self.next_id += 1
        make(req)
        self.send(req)
        replies = []
        while True:
            body = self.dealer.recv()
            r = pb.Reply()
            r.ParseFromString(body)
            if r.request_id != req.request_id:
                continue
            replies.append(body)
            kind = r.WhichOneof("kind")
            if kind in ("snapshot_rows", "replay_messages"):
                c = pb.Request(request_id=r.request_id)
                c.credit_grant.chunks = 1
                self.send(c)
            if kind in ("snapshot_end", "replay_end", "error"):
                return replies


def snapshot(schema, table, columns=()):
    def make(req):
        req.snapshot.schema_name, req.snapshot.table_name = schema, table
        req.snapshot.columns.extend(columns)
    return make


def replay(schema, table, frm, to=0):
    def make(req):
        req.replay.schema_name, req.replay.table_name = schema, table
        req.replay.from_seq, req.replay.to_seq = frm, to
    return make


def synthetic():
    """Messages and replies for the protocol elements of issue 7."""
    out = []
    m = pb.Message(schema_name="public", table_name="t", seq=9, txid=900, tx_last=True)
    m.change.op = pb.RESYNC
    m.change.reason = 'partition "public"."t_1" detached'
    out.append(frame(0, m.SerializeToString()))
    for hb in ({"unpublished": True}, {"moved_to_schema": "public", "moved_to_table": "t_new"}):
        m = pb.Message(schema_name="public", table_name="t", seq=9)
        m.heartbeat.interval_ms = 1000
        for k, v in hb.items():
            setattr(m.heartbeat, k, v)
        out.append(frame(0, m.SerializeToString()))
    m = pb.Message(schema_name="public", table_name="t", seq=10, txid=901, tx_last=True)
    m.change.op = pb.INSERT
    c = m.change.key.add(name="id")
    c.value.raw_text = b"caf\xe9"
    c = m.change.values.add(name="v")
    c.value.raw_text = b"\xff\xfe"
    out.append(frame(0, m.SerializeToString()))
    for code in (pb.MOVED, pb.FORBIDDEN, pb.TOO_LARGE, pb.GONE, pb.BUSY, pb.NOT_PUBLISHED):
        r = pb.Reply(request_id=1)
        r.error.code = code
        r.error.message = f"{pb.ErrorCode.Name(code)} test"
        if code == pb.MOVED:
            r.error.moved_to_schema, r.error.moved_to_table = "archive", "t"
        out.append(frame(1, r.SerializeToString()))
    return out


def write(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        os.unlink(os.path.join(directory, old))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(directory, name), "wb") as f:
            f.write(s)


def main(pub, snap, corpus, workload):
    cap = Capture(pub, snap)
    cap.drain_stream(1.0)  # the subscription reaches the relay; first heartbeats
    snap_t = cap.ask(snapshot("public", "t"))
    snap_t2 = cap.ask(snapshot("public", "t2", ["v"]))
    subprocess.run(["bash", "-c", workload], check=True)
    cap.drain_stream(2.0)
    replay_t = cap.ask(replay("public", "t", 1))
    replay_t2 = cap.ask(replay("public", "t2", 2, 4))
    errors = [cap.ask(snapshot("public", "nope")), cap.ask(snapshot("public", "t2")),
              cap.ask(snapshot("public", "t", ["nope"])), cap.ask(replay("public", "t", 100000))]
    for raw in (b"\x08\x00", b"garbage", pb.Request(request_id=99).SerializeToString()):
        cap.requests.append(raw)
        cap.dealer.send(raw)
        errors.append([cap.dealer.recv()])
    cancel = pb.Request(request_id=cap.next_id)
    cancel.cancel.SetInParent()
    cap.requests.append(cancel.SerializeToString())

    msgs = {}
    for topic, body in cap.messages:
        msgs.setdefault(topic, []).append(frame(0, body))
    t_msgs = msgs.get(b"public.t", [])
    t2_msgs = msgs.get(b"public.t2", [])
    client = []
    for flags, snap_replies, stream, rep in ((0, snap_t, t_msgs, replay_t),
                                             (0, snap_t2, t2_msgs, replay_t2),
                                             (4, snap_t, t_msgs, replay_t)):
        snap_records = [frame(1, r) for r in snap_replies]
        rep_records = [frame(1, r) for r in rep]
        # Stream first (buffered while joining), then the snapshot.
        client.append(bytes([flags]) + b"".join(stream[:5] + snap_records + stream[5:]))
        # Snapshot first, a gap, the replay that fills it, time passing.
        client.append(bytes([flags]) + b"".join(snap_records + stream[3:] + [frame(4)] +
                                                rep_records + [bytes([3, 255]), frame(6)]))
    for e in errors:
        client.append(b"\x00" + b"".join(frame(1, r) for r in e) + bytes([3, 255, 4]))
    client.append(b"\x00" + b"".join(frame(1, r) for r in snap_t) + b"".join(synthetic()))
    for i, s in enumerate(synthetic()):
        client.append(bytes([i & 0x3F]) + b"".join(frame(1, r) for r in snap_t) + s + b"\x06")
    write(os.path.join(corpus, "client"), client)

    requests = [frame(1, body) for body in cap.requests]
    requests.append(b"".join(requests))
    requests.append(frame(2, cap.requests[0]))
    write(os.path.join(corpus, "request"), requests)
    print(f"captured {len(cap.messages)} stream messages, {len(cap.requests)} requests; "
          f"wrote {len(client)} client and {len(requests)} request seeds")


if __name__ == "__main__":
    main(*sys.argv[1:5])
