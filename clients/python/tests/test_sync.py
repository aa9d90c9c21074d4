"""Unit tests of the client's pure logic (docs/protocol.md sections 8-9)."""

import unittest

import tablepub_pb2 as pb

from tablepub_client.subscriber import parse_stream_message
from tablepub_client.sync import (FAILED, LIVE, MAX_BACKOFF_STEPS, MOVED, REPLAYING, RESYNCING,
                                  UNPUBLISHED, Mirror, PgSnapshot, TableSync, encode_key,
                                  value_to_python)


def col(name, value):
    c = pb.Column(name=name)
    if value is None:
        c.value.null = pb.NULL_VALUE
    elif isinstance(value, int):
        c.value.integer = value
    else:
        c.value.text = value
    return c


def insert(i, v):
    return pb.Change(op=pb.INSERT, key=[col("id", i)], values=[col("id", i), col("v", v)])


def update(i, v=None, old=None):
    ch = pb.Change(op=pb.UPDATE, key=[col("id", i)])
    if old is not None:
        ch.old_key.append(col("id", old))
    if v is not None:
        ch.values.append(col("v", v))
    return ch


def delete(i):
    return pb.Change(op=pb.DELETE, key=[col("id", i)])


def msg(seq, txid, change):
    return pb.Message(schema_name="public", table_name="t", seq=seq, txid=txid, tx_last=True,
                      change=change)


def heartbeat(seq):
    m = pb.Message(schema_name="public", table_name="t", seq=seq)
    m.heartbeat.interval_ms = 1000
    return m


def v_of(mirror, i):
    from tablepub_client.sync import encode_key
    row = mirror.rows.get(encode_key([col("id", i)]))
    return None if row is None else row["v"].text


class Harness:
    def __init__(self):
        self.now = 0.0
        self.applied = []
        self.states = []
        self.sync = TableSync("public", "t", on_change=lambda t, m: self.applied.append(m.seq),
                              on_state=lambda t, old, new, why: self.states.append(new))

    def take(self):
        req = self.sync.take_request()
        assert req is not None
        return req

    def snapshot(self, req, xmin, xmax, xip, seq, rows):
        rid = req.request_id
        begin = pb.Reply(request_id=rid)
        begin.snapshot_begin.xmin, begin.snapshot_begin.xmax = xmin, xmax
        begin.snapshot_begin.xip.extend(xip)
        begin.snapshot_begin.seq = seq
        self.sync.on_reply(begin)
        chunk = pb.Reply(request_id=rid)
        chunk.snapshot_rows.rows.extend(rows)
        self.sync.on_reply(chunk)
        end = pb.Reply(request_id=rid)
        end.snapshot_end.row_count = len(rows)
        self.sync.on_reply(end)

    def replay(self, req, msgs):
        rid = req.request_id
        chunk = pb.Reply(request_id=rid)
        chunk.replay_messages.messages.extend(msgs)
        self.sync.on_reply(chunk)
        end = pb.Reply(request_id=rid)
        end.replay_end.message_count = len(msgs)
        self.sync.on_reply(end)

    def live(self, m):
        self.sync.on_message(m)


class VisibilityTest(unittest.TestCase):
    def test_worked_example(self):
        s = PgSnapshot(100, 110, [102, 105])
        self.assertTrue(s.visible(98))
        self.assertTrue(s.visible(101))
        self.assertFalse(s.visible(102))
        self.assertTrue(s.visible(103))
        self.assertFalse(s.visible(105))
        self.assertFalse(s.visible(110))
        self.assertFalse(s.visible(112))


class MirrorTest(unittest.TestCase):
    def test_operations(self):
        m = Mirror()
        self.assertIsNone(m.apply(insert(1, "a")))
        self.assertIsNone(m.apply(insert(2, "b")))
        self.assertIsNone(m.apply(update(1, "a2")))
        self.assertIsNone(m.apply(update(3, old=2)))
        self.assertEqual(v_of(m, 3), "b")
        self.assertIsNone(v_of(m, 2))
        self.assertIsNone(m.apply(delete(1)))
        self.assertEqual(len(m), 1)
        self.assertIsNone(m.apply(pb.Change(op=pb.TRUNCATE)))
        self.assertEqual(len(m), 0)

    def test_anomalies(self):
        m = Mirror()
        self.assertIsNotNone(m.apply(update(1, "x")))
        self.assertIsNotNone(m.apply(delete(7)))
        self.assertIsNotNone(m.apply(insert(1, "y")))

    def test_null_differs_from_empty(self):
        m = Mirror()
        m.apply(pb.Change(op=pb.INSERT, key=[col("id", None)], values=[]))
        m.apply(pb.Change(op=pb.INSERT, key=[col("id", "")], values=[]))
        self.assertEqual(len(m), 2)


class TableSyncTest(unittest.TestCase):
    def test_buffered_deltas_filtered_by_visibility(self):
        h = Harness()
        h.sync.start()
        req = h.take()
        h.live(msg(5, 90, insert(1, "a")))
        h.live(msg(6, 102, insert(2, "b")))
        h.live(msg(7, 110, update(1, "a2")))
        h.snapshot(req, 100, 110, [102], 4, [insert(1, "a")])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.applied, [6, 7])
        self.assertEqual(v_of(h.sync.mirror, 1), "a2")
        self.assertEqual(h.sync.last_seq, 7)

    def test_relay_lag(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 104, 106, [104], 3, [insert(1, "a"), insert(2, "b")])
        h.live(msg(4, 101, insert(2, "b")))
        h.live(msg(5, 103, delete(1)))
        h.live(msg(6, 104, insert(3, "c")))
        self.assertEqual(h.applied, [6])
        self.assertEqual(h.sync.stats["anomalies"], 0)
        self.assertEqual(len(h.sync.mirror), 3)

    def test_duplicates_and_gap_replay(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.live(msg(1, 200, insert(1, "a")))
        h.live(msg(1, 200, insert(1, "a")))
        h.live(msg(4, 203, insert(4, "d")))
        self.assertEqual(h.sync.state, REPLAYING)
        req = h.take()
        self.assertEqual((req.replay.from_seq, req.replay.to_seq), (2, 3))
        h.live(msg(5, 204, insert(5, "e")))
        h.replay(req, [msg(2, 201, insert(2, "b")), msg(3, 202, update(2, "b2"))])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.applied, [1, 2, 3, 4, 5])
        self.assertEqual(h.sync.stats["duplicates"], 1)

    def test_another_table_on_the_same_topic_is_ignored(self):
        # s."t.u" and "s.t".u share the topic "s.t.u": a table's stream is
        # only what names it (here a change and a rename notice of others).
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        other = msg(1, 200, insert(9, "other"))
        other.schema_name, other.table_name = "public.t", ""
        h.live(other)
        gone = special_heartbeat(1, moved_to=("s", "v"))
        gone.table_name = "t2"
        h.live(gone)
        h.live(msg(1, 201, insert(1, "mine")))
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.applied, [1])
        self.assertEqual(len(h.sync.mirror), 1)
        self.assertEqual(h.sync.stats["duplicates"], 0)

    def test_heartbeat_reveals_lost_last_message(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.live(heartbeat(0))
        self.assertIsNone(h.sync.take_request())
        h.live(heartbeat(1))
        req = h.take()
        self.assertEqual(req.replay.from_seq, 1)
        h.replay(req, [msg(1, 201, insert(1, "a"))])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(len(h.sync.mirror), 1)

    def test_gone_resyncs(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.live(msg(5, 300, insert(5, "e")))
        req = h.take()
        err = pb.Reply(request_id=req.request_id)
        err.error.code = pb.GONE
        h.sync.on_reply(err)
        self.assertEqual(h.sync.state, RESYNCING)
        snap = h.take()
        self.assertTrue(snap.HasField("snapshot"))
        h.snapshot(snap, 301, 301, [], 5, [insert(5, "e")])
        self.assertEqual(h.sync.state, LIVE)

    def test_stale_reply_ignored(self):
        h = Harness()
        h.sync.start()
        first = h.take()
        h.sync.on_request_failed(first.request_id, "timeout", 0.0)
        h.sync.tick(1.0)
        second = h.take()
        h.snapshot(first, 1, 1, [], 0, [insert(1, "old")])
        self.assertEqual(len(h.sync.mirror), 0)
        h.snapshot(second, 1, 1, [], 0, [insert(1, "new")])
        self.assertEqual(v_of(h.sync.mirror, 1), "new")

    def test_unpublish_then_republish(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [insert(1, "a")])
        h.live(msg(1, 200, pb.Change(op=pb.UNPUBLISH)))
        self.assertEqual(h.sync.state, UNPUBLISHED)
        self.assertEqual(len(h.sync.mirror), 0)
        schema = pb.Change(op=pb.SCHEMA)
        schema.schema.table_name = "t"
        h.live(msg(2, 300, schema))
        self.assertEqual(h.sync.state, RESYNCING)

    def test_anomaly_resyncs(self):
        h = Harness()
        h.sync.start()
        h.snapshot(h.take(), 100, 100, [], 0, [])
        h.live(msg(1, 200, delete(9)))
        self.assertEqual(h.sync.state, RESYNCING)


def resync_msg(seq, txid, reason):
    return msg(seq, txid, pb.Change(op=pb.RESYNC, reason=reason))


def special_heartbeat(seq, unpublished=False, moved_to=None):
    m = heartbeat(seq)
    m.heartbeat.unpublished = unpublished
    if moved_to:
        m.heartbeat.moved_to_schema, m.heartbeat.moved_to_table = moved_to
    return m


def error(h, req, code, moved_to=None):
    r = pb.Reply(request_id=req.request_id)
    r.error.code = code
    r.error.message = "test"
    if moved_to:
        r.error.moved_to_schema, r.error.moved_to_table = moved_to
    h.sync.on_reply(r, h.now)


class NewProtocolElementsTest(unittest.TestCase):
    """RESYNC, raw_text, Heartbeat.unpublished/moved_to, MOVED/FORBIDDEN/TOO_LARGE."""

    def live_harness(self, rows=()):
        h = Harness()
        h.now = 0.0
        h.sync.start(h.now)
        h.snapshot(h.take(), 100, 100, [], 0, list(rows))
        self.assertEqual(h.sync.state, LIVE)
        return h

    def test_resync_marker(self):
        h = self.live_harness([insert(1, "a"), insert(2, "b")])
        h.live(msg(1, 200, insert(3, "c")))
        h.live(resync_msg(2, 201, "partition detached"))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(len(h.sync.mirror), 0)
        self.assertEqual(h.sync.stats["resyncs"], 1)
        self.assertEqual(h.sync.stats["resync_markers"], 1)
        self.assertEqual(h.sync.stats["anomalies"], 0)
        self.assertEqual(h.applied, [1, 2])
        self.assertIn("partition detached", h.sync.why)
        self.assertEqual(h.states[-1], RESYNCING)
        req = h.take()
        self.assertTrue(req.HasField("snapshot"))
        h.live(msg(3, 205, insert(4, "d")))
        h.snapshot(req, 203, 203, [], 2, [insert(1, "a"), insert(3, "c")])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(len(h.sync.mirror), 3)

    def test_resync_marker_contained_in_snapshot(self):
        h = Harness()
        h.sync.start()
        req = h.take()
        h.live(resync_msg(5, 150, "operator"))
        h.snapshot(req, 200, 200, [], 4, [insert(1, "a")])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.sync.last_seq, 5)
        self.assertEqual(h.sync.stats["resyncs"], 0)
        self.assertIsNone(h.sync.take_request())

    def test_unpublished_heartbeat(self):
        h = self.live_harness([insert(1, "a")])
        h.live(special_heartbeat(1, unpublished=True))
        self.assertEqual(h.sync.state, UNPUBLISHED)
        self.assertEqual(len(h.sync.mirror), 0)
        self.assertIsNone(h.sync.take_request())
        self.assertFalse(h.sync.stale(3600.0))
        h.sync.tick(3600.0)
        h.live(heartbeat(1))
        self.assertIsNone(h.sync.take_request())
        h.live(heartbeat(2))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertTrue(h.take().HasField("snapshot"))

    def test_stale_without_heartbeats(self):
        h = self.live_harness()
        h.sync.on_message(heartbeat(0), 10.0)
        self.assertFalse(h.sync.stale(12.0))
        self.assertTrue(h.sync.stale(14.0))

    def test_moved_heartbeat(self):
        h = self.live_harness([insert(1, "a")])
        h.live(special_heartbeat(1, moved_to=("public", "t_new")))
        self.assertEqual(h.sync.state, MOVED)
        self.assertEqual(h.sync.moved_to, "public.t_new")
        self.assertEqual(len(h.sync.mirror), 1)
        self.assertEqual(h.sync.lag, 0)
        for i in range(10):
            h.live(special_heartbeat(1, moved_to=("public", "t_new")))
            h.sync.tick(5.0 * i)
            self.assertIsNone(h.sync.take_request())
        self.assertFalse(h.sync.stale(3600.0))
        self.assertEqual(h.sync.stats["resyncs"], 0)
        schema = pb.Change(op=pb.SCHEMA)
        schema.schema.table_name = "t"
        h.live(msg(2, 300, schema))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(h.sync.moved_to, "")

    def test_moved_error(self):
        h = self.live_harness()
        h.live(heartbeat(4))
        rep = h.take()
        self.assertTrue(rep.HasField("replay"))
        error(h, rep, pb.MOVED, ("archive", "t"))
        self.assertEqual(h.sync.state, MOVED)
        self.assertEqual(h.sync.moved_to, "archive.t")
        self.assertTrue(h.sync.why.startswith("MOVED"))
        h.sync.tick(3600.0)
        h.live(heartbeat(4))
        self.assertIsNone(h.sync.take_request())

    def test_forbidden_and_too_large_retry_slowly(self):
        for code in (pb.FORBIDDEN, pb.TOO_LARGE):
            h = Harness()
            h.sync.start(0.0)
            error(h, h.take(), code)
            self.assertEqual(h.sync.state, FAILED)
            self.assertTrue(h.sync.why.startswith(pb.ErrorCode.Name(code)))
            h.sync.tick(4.0)
            h.live(msg(1, 1, insert(1, "a")))
            self.assertIsNone(h.sync.take_request())
            h.sync.tick(6.0)
            self.assertTrue(h.take().HasField("snapshot"))

    def test_replay_waits_out_a_relay_that_does_not_answer(self):
        # A relay restarting under load: no reply and UNAVAILABLE for longer
        # than max_replay_attempts tries must not throw the mirror away.
        h = self.live_harness([insert(1, "a")])
        h.live(msg(3, 300, insert(3, "c")))
        for i in range(3 * h.sync.max_replay_attempts):
            req = h.take()
            self.assertTrue(req.HasField("replay"))
            if i % 2:
                error(h, req, pb.UNAVAILABLE)
            else:
                h.sync.on_request_failed(req.request_id, "no reply from the snapshot endpoint", h.now)
            self.assertEqual(h.sync.state, REPLAYING)
            self.assertIsNone(h.sync.take_request())
            h.now += h.sync.retry_delay * MAX_BACKOFF_STEPS
            h.sync.tick(h.now)
        h.replay(h.take(), [msg(1, 90, insert(1, "a")), msg(2, 200, insert(2, "b")),
                            msg(3, 300, insert(3, "c"))])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.sync.stats["resyncs"], 0)

    def test_replay_refused_for_real_resyncs_after_max_attempts(self):
        h = self.live_harness([insert(1, "a")])
        h.live(msg(3, 300, insert(3, "c")))
        for _ in range(h.sync.max_replay_attempts):
            error(h, h.take(), pb.INTERNAL)
            h.now += h.sync.retry_delay
            h.sync.tick(h.now)
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertTrue(h.take().HasField("snapshot"))

    def test_too_large_replay_resyncs(self):
        h = self.live_harness()
        h.live(heartbeat(2))
        error(h, h.take(), pb.TOO_LARGE)
        self.assertEqual(h.sync.state, RESYNCING)

    def test_raw_text_kept_as_bytes(self):
        m = Mirror()
        key = pb.Column(name="id")
        key.value.raw_text = b"caf\xe9"
        val = pb.Column(name="v")
        val.value.raw_text = b"\xff\x00"
        self.assertIsNone(m.apply(pb.Change(op=pb.INSERT, key=[key], values=[val])))
        row = m.rows[encode_key([key])]
        self.assertEqual(value_to_python(row["v"]), b"\xff\x00")
        self.assertEqual(m.as_dicts(), [{"id": b"caf\xe9", "v": b"\xff\x00"}])
        self.assertNotIn(encode_key([col("id", "caf\u00e9")]), m.rows)

    def test_garbled_stream_frames_dropped(self):
        tables = {"public.t": Harness().sync}
        good = heartbeat(3).SerializeToString()
        self.assertIsNotNone(parse_stream_message([b"public.t", good], tables))
        self.assertIsNone(parse_stream_message([b"public.t2", good], tables))
        self.assertIsNone(parse_stream_message([b"public.t"], tables))
        # Invalid UTF-8 in a string field, and truncated input: dropped.
        bad_utf8 = pb.Message(schema_name="x").SerializeToString().replace(b"x", b"\xff")
        self.assertIsNone(parse_stream_message([b"public.t", bad_utf8], tables))
        self.assertIsNone(parse_stream_message([b"public.t", b"\x0a\x05ab"], tables))
        self.assertIsNone(parse_stream_message([b"\xff", good], tables))


if __name__ == "__main__":
    unittest.main()
