"""Exceptions raised by user callbacks (docs/design.md, "Exceptions from
callbacks"): the change counts as applied, the failed callback is not called
again, the step finishes and poll() raises the first exception unchanged.
The engines with synthetic messages; the drivers against a fake relay on
inproc sockets."""

import time
import unittest

import zmq

import tablepub_pb2 as pb

from tablepub_client.set_subscriber import TableSetSubscriber
from tablepub_client.subscriber import Subscriber
from tablepub_client.sync import LIVE, TableSync
from tablepub_client.table_set import TX_TOPIC, TableSetSync

import test_sync as ts
import test_table_set as tts


class Boom(Exception):
    pass


class EngineTest(unittest.TestCase):
    def test_table_sync_drain_goes_on_after_a_failed_callback(self):
        seen = []

        def on_change(_, m):
            seen.append(m.seq)
            if m.seq == 6:
                raise Boom(m.seq)

        sync = TableSync("public", "t", on_change=on_change)
        sync.start()
        req = sync.take_request()
        # Buffered while the snapshot runs: one drain applies all three.
        sync.on_message(ts.msg(6, 200, ts.insert(2, "b")))
        sync.on_message(ts.msg(7, 201, ts.update(1, "a2")))
        sync.on_message(ts.msg(8, 202, ts.insert(3, "c")))
        h = ts.Harness()
        h.sync = sync
        h.snapshot(req, 100, 100, [], 5, [ts.insert(1, "a")])  # raised here before
        self.assertEqual(sync.state, LIVE)
        self.assertEqual(seen, [6, 7, 8])
        self.assertEqual(sync.last_seq, 8)
        self.assertEqual(sync.stats["applied"], 3)
        self.assertEqual((ts.v_of(sync.mirror, 1), ts.v_of(sync.mirror, 2)), ("a2", "b"))
        e = sync.callbacks.take()
        self.assertIsInstance(e, Boom)
        self.assertEqual(e.args, (6,))
        self.assertIsNone(sync.callbacks.take())
        # Not called again for seq 6: the next change is the next call.
        sync.on_message(ts.msg(9, 203, ts.delete(3)))
        self.assertEqual(seen, [6, 7, 8, 9])

    def test_on_state_failure_keeps_the_first_exception(self):
        def on_state(*_):
            raise Boom("state")

        def on_change(*_):
            raise Boom("change")

        sync = TableSync("public", "t", on_state=on_state, on_change=on_change)
        sync.start()
        h = ts.Harness()
        h.sync = sync
        h.snapshot(sync.take_request(), 100, 100, [], 0, [])
        self.assertEqual(sync.state, LIVE)
        sync.on_message(ts.msg(1, 200, ts.insert(1, "a")))
        self.assertEqual(ts.v_of(sync.mirror, 1), "a")
        self.assertEqual(sync.callbacks.take().args, ("state",))

    def test_table_set_transaction_counts_as_applied(self):
        calls = []

        def on_transaction(_, tx):
            calls.append(tx.position)
            if tx.position == 1:
                raise Boom(tx.position)

        h = tts.Harness()
        h.sync.on_transaction = on_transaction
        h.live(a_rows=[tts.put(1, 0)])
        h.feed(tts.A, tts.tmsg(tts.A, 1, 201, 1, tts.set_v(1, 1)))
        h.feed(tts.A, tts.tmsg(tts.A, 2, 202, 2, tts.set_v(1, 2)))
        # One call applies both positions (the first held for the second).
        h.feed(TX_TOPIC, tts.txmsg(2, 202, [(tts.A, 2, 2)]))
        h.feed(TX_TOPIC, tts.txmsg(1, 201, [(tts.A, 1, 1)]))
        self.assertEqual(calls, [1, 2])
        self.assertEqual(tts.v_of(h.sync, tts.A, 1), 2)
        self.assertEqual(h.sync.tx.last, 2)
        self.assertEqual(h.sync.stats["transactions"], 2)
        self.assertEqual(h.sync.callbacks.take().args, (1,))


class FakeRelay:
    """An XPUB (publishes once a subscription arrived) and a ROUTER that
    answers a snapshot request with an empty snapshot at seq/position 0."""

    def __init__(self, ctx, name):
        self.pub = ctx.socket(zmq.XPUB)
        self.pub.bind(f"inproc://{name}-pub")
        self.router = ctx.socket(zmq.ROUTER)
        self.router.bind(f"inproc://{name}-snap")
        self.endpoints = [f"inproc://{name}-pub"], [f"inproc://{name}-snap"]
        self.subscribed = set()

    def take_subscriptions(self):
        while self.pub.poll(0):
            m = self.pub.recv()
            if m[:1] == b"\x01":
                self.subscribed.add(m[1:].decode())

    def answer_snapshot(self, client):
        """Polls the client until its snapshot request arrived; answers it."""
        deadline = time.monotonic() + 10
        while not self.router.poll(0):
            client.poll(0.01)
            if time.monotonic() > deadline:
                raise AssertionError("no snapshot request")
        ident, frame = self.router.recv_multipart()
        req = pb.Request()
        req.ParseFromString(frame)
        names = [(req.snapshot.schema_name, req.snapshot.table_name)] + \
            [(t.schema_name, t.table_name) for t in req.snapshot.more_tables]
        for i, (schema, table) in enumerate(names):
            begin = pb.Reply(request_id=req.request_id)
            b = begin.snapshot_begin
            b.xmin, b.xmax, b.seq, b.position = 100, 100, 0, 0
            b.schema.CopyFrom(tts.SCHEMA)
            b.schema_name, b.table_name = schema, table
            b.table_index, b.table_count = i, len(names)
            end = pb.Reply(request_id=req.request_id)
            end.snapshot_end.row_count = 0
            self.router.send_multipart([ident, begin.SerializeToString()])
            self.router.send_multipart([ident, end.SerializeToString()])

    def publish(self, topic, m):
        self.pub.send_multipart([topic.encode(), m.SerializeToString()])

    def close(self):
        self.pub.close(0)
        self.router.close(0)


class DriverTest(unittest.TestCase):
    def setUp(self):
        self.ctx = zmq.Context()
        self.relay = FakeRelay(self.ctx, self.id())

    def tearDown(self):
        self.relay.close()
        self.ctx.term()

    def poll_until(self, client, cond):
        deadline = time.monotonic() + 10
        while not cond():
            client.poll(0.01)
            self.assertLess(time.monotonic(), deadline)

    def test_subscriber_poll_raises_the_first_exception_once(self):
        seen, boom = [], Boom("on_change")

        def on_change(_, m):
            seen.append(m.seq)
            if m.seq == 2:
                raise boom

        sub = Subscriber(*self.relay.endpoints, ["public.t"], context=self.ctx, on_change=on_change)
        try:
            self.relay.answer_snapshot(sub)
            self.poll_until(sub, lambda: sub.tables["public.t"].state == LIVE and (
                self.relay.take_subscriptions() or "public.t" in self.relay.subscribed))
            for seq in (1, 2, 3):
                self.relay.publish("public.t", ts.msg(seq, 200 + seq, ts.insert(seq, "v")))
            with self.assertRaises(Boom) as raised:
                self.poll_until(sub, lambda: False)
            self.assertIs(raised.exception, boom)
            self.assertEqual(seen, [1, 2])  # seq 3 stays queued for the next poll
            table = sub.tables["public.t"]
            self.assertEqual(table.last_seq, 2)
            self.assertEqual(ts.v_of(table.mirror, 2), "v")
            self.poll_until(sub, lambda: table.last_seq == 3)
            self.assertEqual(seen, [1, 2, 3])
            self.assertEqual(table.stats["applied"], 3)
        finally:
            sub.close()

    def test_set_subscriber_poll_raises_the_first_exception_once(self):
        seen, boom = [], Boom("on_transaction")

        def on_transaction(_, tx):
            seen.append(tx.position)
            if tx.position == 1:
                raise boom

        sub = TableSetSubscriber(*self.relay.endpoints, [tts.A], context=self.ctx,
                                 on_transaction=on_transaction)
        try:
            self.relay.answer_snapshot(sub)
            self.poll_until(sub, lambda: sub.sync.state == LIVE and (
                self.relay.take_subscriptions() or {tts.A, TX_TOPIC} <= self.relay.subscribed))
            for p in (1, 2):
                self.relay.publish(tts.A, tts.tmsg(tts.A, p, 200 + p, p, tts.put(p, p)))
                self.relay.publish(TX_TOPIC, tts.txmsg(p, 200 + p, [(tts.A, p, p)]))
            with self.assertRaises(Boom) as raised:
                self.poll_until(sub, lambda: False)
            self.assertIs(raised.exception, boom)
            self.assertEqual(seen, [1])
            self.assertEqual(tts.v_of(sub.sync, tts.A, 1), 1)
            self.poll_until(sub, lambda: sub.sync.tx.last == 2)
            self.assertEqual(seen, [1, 2])
            self.assertEqual(tts.v_of(sub.sync, tts.A, 2), 2)
        finally:
            sub.close()


if __name__ == "__main__":
    unittest.main()
