"""TableSetSubscriber's ZeroMQ I/O against a scripted relay in the same
process (inproc PUB and ROUTER): the multi-table snapshot, credit, and
replays of a table and of ".tx" after lost messages."""

import random
import time
import unittest

import zmq

import tablepub_pb2 as pb

from tablepub_client.set_subscriber import TableSetSubscriber
from tablepub_client.sync import LIVE

from test_table_set import A, B, SCHEMA, TX_TOPIC, heartbeat, put, set_v, tmsg, txmsg, v_of


class FakeRelay:
    """Publishes transactions moving money between rows of A and B, loses
    some of them on the way, and answers snapshot and replay requests."""

    def __init__(self, ctx, name):
        self.pub = ctx.socket(zmq.PUB)
        self.pub.bind(f"inproc://{name}-pub")
        self.router = ctx.socket(zmq.ROUTER)
        self.router.bind(f"inproc://{name}-snap")
        self.log = {A: {}, B: {}, TX_TOPIC: {}}
        self.balances = {A: {1: 100, 2: 100}, B: {1: 100, 2: 100}}
        self.position = 0
        self.requests = []

    def transfer(self, rnd, loss):
        """One transaction; each of its messages is lost with probability loss."""
        self.position += 1
        p, txid = self.position, 1000 + self.position
        src, dst = (A, B) if rnd.random() < 0.5 else (B, A)
        i, j, x = rnd.randint(1, 2), rnd.randint(1, 2), rnd.randint(1, 9)
        ranges = []
        for table, k, delta in ((src, i, -x), (dst, j, x)):
            self.balances[table][k] += delta
            seq = len(self.log[table]) + 1
            m = tmsg(table, seq, txid, p, set_v(k, self.balances[table][k]))
            self.log[table][seq] = m
            ranges.append((table, seq, seq))
            self.send(table, m, rnd.random() < loss)
        t = txmsg(p, txid, ranges)
        self.log[TX_TOPIC][p] = t
        self.send(TX_TOPIC, t, rnd.random() < loss)

    def send(self, topic, msg, lose):
        if not lose:
            self.pub.send_multipart([topic.encode(), msg.SerializeToString()])

    def heartbeats(self):
        for topic in (A, B, TX_TOPIC):
            self.send(topic, heartbeat(len(self.log[topic]), "" if topic == TX_TOPIC else topic), False)

    def serve(self):
        while self.router.poll(0):
            peer, frame = self.router.recv_multipart()
            req = pb.Request()
            req.ParseFromString(frame)
            self.requests.append(req.WhichOneof("kind"))
            for reply in self.answer(req):
                self.router.send_multipart([peer, reply.SerializeToString()])

    def answer(self, req):
        rid = req.request_id
        if req.HasField("snapshot"):
            names = [f"{req.snapshot.schema_name}.{req.snapshot.table_name}"] + [
                f"{t.schema_name}.{t.table_name}" for t in req.snapshot.more_tables]
            for i, name in enumerate(names):
                r = pb.Reply(request_id=rid)
                b = r.snapshot_begin
                b.xmin = b.xmax = 1000 + self.position + 1
                b.seq, b.position = len(self.log[name]), self.position
                b.schema.CopyFrom(SCHEMA)
                b.schema_name, _, b.table_name = name.partition(".")
                b.table_index, b.table_count = i, len(names)
                yield r
                r = pb.Reply(request_id=rid)
                r.snapshot_rows.rows.extend(put(k, v) for k, v in self.balances[name].items())
                yield r
                r = pb.Reply(request_id=rid)
                r.snapshot_end.row_count = len(self.balances[name])
                yield r
        elif req.HasField("replay"):
            q = req.replay
            name = TX_TOPIC if q.transactions else f"{q.schema_name}.{q.table_name}"
            r = pb.Reply(request_id=rid)
            r.replay_messages.messages.extend(
                self.log[name][s] for s in range(q.from_seq, q.to_seq + 1) if s in self.log[name])
            yield r
            r = pb.Reply(request_id=rid)
            r.replay_end.message_count = len(r.replay_messages.messages)
            yield r

    def close(self):
        self.pub.close(0)
        self.router.close(0)


class SetSubscriberTest(unittest.TestCase):
    def test_whole_transactions_through_losses(self):
        ctx = zmq.Context()
        relay = FakeRelay(ctx, "set1")
        exposed = []
        sub = TableSetSubscriber(["inproc://set1-pub"], ["inproc://set1-snap"], [A, B],
                                 context=ctx,
                                 on_transaction=lambda s, tx: exposed.append(total(s)))

        def total(s):
            return sum(v_of(s, t, k) or 0 for t in (A, B) for k in (1, 2))

        rnd = random.Random(7)
        try:
            deadline = time.monotonic() + 20
            while sub.sync.state != LIVE and time.monotonic() < deadline:
                sub.poll(0.01)
                relay.serve()
            self.assertEqual(sub.sync.state, LIVE, sub.sync.why)
            for n in range(200):
                relay.transfer(rnd, loss=0.05)
                if n % 10 == 0:
                    relay.heartbeats()
                sub.poll(0.001)
                relay.serve()
                self.assertEqual(total(sub.sync), 400)
            relay.heartbeats()
            while (sub.sync.position < relay.position or sub.sync.state != LIVE) \
                    and time.monotonic() < deadline:
                sub.poll(0.01)
                relay.serve()
            self.assertEqual(sub.sync.position, relay.position, sub.sync.why)
            self.assertEqual(set(exposed), {400})
            for t in (A, B):
                for k, v in relay.balances[t].items():
                    self.assertEqual(v_of(sub.sync, t, k), v)
            self.assertIn("replay", relay.requests)
            self.assertEqual(relay.requests.count("snapshot"), 1)
            self.assertGreater(sub.sync.stats["replays"], 0)
        finally:
            sub.close()
            relay.close()
            ctx.term()


if __name__ == "__main__":
    unittest.main()
