"""Unit tests of the RabbitMQ transport's pure parts (no broker): message
parsing and the replay after a reconnect (TableSync.recheck)."""

import unittest

import tablepub_pb2 as pb

from tablepub_client.amqp import parse_amqp_message
from tablepub_client.sync import LIVE, REPLAYING, SYNCING, TableSync
from test_sync import Harness, insert, msg


class ParseTest(unittest.TestCase):
    def test_names_from_the_message(self):
        tables = {"public.t": TableSync("public", "t")}
        m = msg(3, 200, insert(1, "a"))
        table, parsed = parse_amqp_message(m.SerializeToString(), tables)
        self.assertIs(table, tables["public.t"])
        self.assertEqual(parsed.seq, 3)
        # Routing key "tablepub.public.t" could also be schema "public.t";
        # the message's own names decide.
        other = pb.Message(schema_name="public.t", table_name="x", seq=1)
        self.assertIsNone(parse_amqp_message(other.SerializeToString(), tables))

    def test_garbage_is_dropped(self):
        tables = {"public.t": TableSync("public", "t")}
        self.assertIsNone(parse_amqp_message(b"\xff\xff\xff", tables))


class RecheckTest(unittest.TestCase):
    def test_lost_tail_found_by_replay(self):
        # A reconnect lost seq 2, the last message: nothing later reveals it.
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.live(msg(1, 201, insert(1, "a")))
        self.assertIsNone(h.sync.take_request())
        h.sync.recheck("reconnected")
        self.assertEqual(h.sync.state, REPLAYING)
        req = h.take()
        self.assertEqual((req.replay.from_seq, req.replay.to_seq), (2, 0))
        h.replay(req, [msg(2, 202, insert(2, "b"))])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(len(h.sync.mirror), 2)

    def test_nothing_lost(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.sync.recheck("reconnected")
        h.replay(h.take(), [])
        self.assertEqual(h.sync.state, LIVE)

    def test_only_when_live_and_idle(self):
        h = Harness()
        h.sync.start()
        req = h.take()
        h.sync.recheck("reconnected")  # the snapshot is still running
        self.assertEqual(h.sync.state, SYNCING)
        self.assertIsNone(h.sync.take_request())
        h.snapshot(req, 100, 100, [], 0, [])
        self.assertEqual(h.sync.state, LIVE)


if __name__ == "__main__":
    unittest.main()
