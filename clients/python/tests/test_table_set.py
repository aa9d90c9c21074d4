"""Unit tests of the table-set logic (docs/protocol.md section 9, "Several
tables as one unit") with synthetic messages, no relay."""

import random
import unittest

import tablepub_pb2 as pb

from tablepub_client.sync import FAILED, LIVE, MOVED, REPLAYING, RESYNCING, SYNCING, encode_key
from tablepub_client.table_set import TX_TOPIC, TableSetSync

A, B = "public.a", "public.b"


def col(name, value):
    c = pb.Column(name=name)
    c.value.integer = value
    return c


def put(i, v):
    """INSERT of row id=i, v=v."""
    return pb.Change(op=pb.INSERT, key=[col("id", i)], values=[col("v", v)])


def set_v(i, v):
    return pb.Change(op=pb.UPDATE, key=[col("id", i)], values=[col("v", v)])


def tmsg(table, seq, txid, position, change, last=True):
    schema, _, name = table.partition(".")
    return pb.Message(schema_name=schema, table_name=name, seq=seq, txid=txid, tx_last=last,
                      position=position, commit_time=position * 1_000_000, change=change)


def txmsg(position, txid, ranges, group=""):
    """The Transaction of `position`; ranges: [(table, first_seq, last_seq)];
    group: the endpoint group that sent it."""
    m = pb.Message(seq=position, position=position, txid=txid,
                   commit_time=position * 1_000_000)
    m.transaction.group = group
    for table, first, last in ranges:
        schema, _, name = table.partition(".")
        m.transaction.tables.add(schema_name=schema, table_name=name, first_seq=first,
                                 last_seq=last)
    return m


def heartbeat(seq, table=""):
    """A heartbeat of `table` (empty: of ".tx")."""
    schema, _, name = table.partition(".")
    m = pb.Message(schema_name=schema, table_name=name, seq=seq, position=seq)
    m.heartbeat.interval_ms = 1000
    return m


def v_of(sync, table, i):
    row = sync.mirrors[table].rows.get(encode_key([col("id", i)]))
    return None if row is None else row["v"].integer


SCHEMA = pb.TableSchema(columns=[pb.ColumnSchema(name="id", type_oid=23, key_position=1),
                                 pb.ColumnSchema(name="v", type_oid=23)])


class Harness:
    def __init__(self, tables=(A, B)):
        self.now = 0.0
        self.txs = []
        self.sync = TableSetSync(list(tables), on_transaction=lambda s, tx: self.txs.append(tx))
        self.sync.start(self.now)

    def requests(self):
        return self.sync.take_requests()

    def snapshot(self, req, xmin, xmax, xip, position, tables, group=""):
        """tables: [(table, seq, rows)] in the order of the request."""
        for i, (table, seq, rows) in enumerate(tables):
            begin = pb.Reply(request_id=req.request_id)
            b = begin.snapshot_begin
            b.xmin, b.xmax, b.seq, b.position = xmin, xmax, seq, position
            b.group = group
            b.xip.extend(xip)
            b.schema.CopyFrom(SCHEMA)
            b.schema_name, _, b.table_name = table.partition(".")
            b.table_index, b.table_count = i, len(tables)
            self.sync.on_reply(begin, self.now)
            chunk = pb.Reply(request_id=req.request_id)
            chunk.snapshot_rows.rows.extend(rows)
            self.sync.on_reply(chunk, self.now)
            end = pb.Reply(request_id=req.request_id)
            end.snapshot_end.row_count = len(rows)
            self.sync.on_reply(end, self.now)

    def live(self, position=0, a_seq=0, b_seq=0, a_rows=(), b_rows=(), group=""):
        """A set at `position`, xmin = xmax = 100 (nothing running)."""
        [req] = self.requests()
        self.snapshot(req, 100, 100, [], position, [(A, a_seq, list(a_rows)),
                                                   (B, b_seq, list(b_rows))], group)
        assert self.sync.state == LIVE, self.sync.why

    def feed(self, topic, msg):
        self.sync.on_message(topic, msg, self.now)

    def replay(self, req, messages):
        rid = req.request_id
        r = pb.Reply(request_id=rid)
        r.replay_begin.from_seq, r.replay_begin.to_seq = req.replay.from_seq, req.replay.to_seq
        self.sync.on_reply(r, self.now)
        r = pb.Reply(request_id=rid)
        r.replay_messages.messages.extend(messages)
        self.sync.on_reply(r, self.now)
        r = pb.Reply(request_id=rid)
        r.replay_end.message_count = len(messages)
        self.sync.on_reply(r, self.now)

    def error(self, req, code):
        r = pb.Reply(request_id=req.request_id)
        r.error.code, r.error.message = code, "test"
        self.sync.on_reply(r, self.now)


class SnapshotTest(unittest.TestCase):
    def test_at_most_32_tables(self):
        TableSetSync([f"public.t{i}" for i in range(32)])
        with self.assertRaises(ValueError):
            TableSetSync([f"public.t{i}" for i in range(33)])

    def test_one_request_names_every_table(self):
        h = Harness((A, B, "public.c"))
        [req] = h.requests()
        self.assertEqual((req.snapshot.schema_name, req.snapshot.table_name), ("public", "a"))
        self.assertEqual([(t.schema_name, t.table_name) for t in req.snapshot.more_tables],
                         [("public", "b"), ("public", "c")])
        self.assertEqual(h.sync.state, SYNCING)

    def test_rows_of_every_table_shown_together(self):
        h = Harness()
        [req] = h.requests()
        begin = pb.Reply(request_id=req.request_id)
        begin.snapshot_begin.table_count = 2
        begin.snapshot_begin.schema_name, begin.snapshot_begin.table_name = "public", "a"
        h.sync.on_reply(begin)
        rows = pb.Reply(request_id=req.request_id)
        rows.snapshot_rows.rows.append(put(1, 10))
        h.sync.on_reply(rows)
        end = pb.Reply(request_id=req.request_id)
        end.snapshot_end.row_count = 1
        h.sync.on_reply(end)
        # The first table is complete, the second not: nothing shows yet.
        self.assertEqual(len(h.sync.mirrors[A]), 0)
        self.assertEqual(h.sync.state, SYNCING)

    def test_different_headers_are_refused_and_asked_again(self):
        h = Harness()
        [req] = h.requests()
        h.snapshot(req, 100, 100, [], 5, [(A, 3, [put(1, 10)])])
        begin = pb.Reply(request_id=req.request_id)
        b = begin.snapshot_begin
        b.xmin, b.xmax, b.position, b.table_index, b.table_count = 100, 101, 5, 1, 2
        b.schema_name, b.table_name = "public", "b"
        h.sync.on_reply(begin)
        self.assertEqual(h.sync.state, SYNCING)
        self.assertEqual(h.requests(), [])
        h.now = 1.0
        h.sync.tick(h.now)
        [again] = h.requests()
        self.assertEqual(len(again.snapshot.more_tables), 1)

    def test_a_relay_without_multi_table_snapshots_fails_clearly(self):
        h = Harness()
        [req] = h.requests()
        begin = pb.Reply(request_id=req.request_id)
        begin.snapshot_begin.schema_name, begin.snapshot_begin.table_name = "public", "a"
        h.sync.on_reply(begin)
        self.assertEqual(h.sync.state, FAILED)
        self.assertIn("multi-table", h.sync.why)

    def test_the_boundary_position_then_visibility(self):
        h = Harness()
        # Arrived before the snapshot: position 1 (contained by position),
        # 2 (txid 101 visible although after the snapshot position), 3
        # (txid 102 running in the snapshot: applied).
        h.feed(A, tmsg(A, 1, 90, 1, put(1, 10)))
        h.feed(TX_TOPIC, txmsg(1, 90, [(A, 1, 1)]))
        h.feed(A, tmsg(A, 2, 101, 2, set_v(1, 11)))
        h.feed(TX_TOPIC, txmsg(2, 101, [(A, 2, 2)]))
        h.feed(B, tmsg(B, 1, 102, 3, put(7, 70)))
        h.feed(A, tmsg(A, 3, 102, 3, set_v(1, 12)))
        h.feed(TX_TOPIC, txmsg(3, 102, [(B, 1, 1), (A, 3, 3)]))
        [req] = h.requests()
        h.snapshot(req, 100, 110, [102], 1, [(A, 1, [put(1, 11)]), (B, 0, [])])
        self.assertEqual(h.sync.state, LIVE, h.sync.why)
        self.assertEqual(h.sync.position, 3)
        self.assertEqual(v_of(h.sync, A, 1), 12)
        self.assertEqual(v_of(h.sync, B, 7), 70)
        self.assertEqual([t.position for t in h.txs], [3])
        self.assertEqual(h.sync.stats["skipped"], 1)
        self.assertEqual([n for n, _ in h.txs[0].changes], [B, A])


class StreamTest(unittest.TestCase):
    def test_held_until_every_range_arrived(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 200, 1, set_v(1, 60), last=True))
        h.feed(TX_TOPIC, txmsg(1, 200, [(A, 1, 1), (B, 1, 2)]))
        h.feed(B, tmsg(B, 1, 200, 1, set_v(1, 40), last=False))
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (100, 0))
        self.assertEqual(h.txs, [])
        h.feed(B, tmsg(B, 2, 200, 1, put(2, 0)))
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (60, 40))
        [tx] = h.txs
        self.assertEqual((tx.position, tx.txid, tx.commit_time), (1, 200, 1_000_000))
        self.assertEqual([(n, m.seq) for n, m in tx.changes], [(A, 1), (B, 1), (B, 2)])
        self.assertEqual(h.sync.lag_transactions, 0)

    def test_transactions_in_position_order(self):
        h = Harness()
        h.live(a_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 1)))
        h.feed(A, tmsg(A, 2, 202, 2, set_v(1, 2)))
        # The Transaction of position 2 first (a replay of .tx, say).
        h.feed(TX_TOPIC, txmsg(2, 202, [(A, 2, 2)]))
        self.assertEqual(v_of(h.sync, A, 1), 0)
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        self.assertEqual(v_of(h.sync, A, 1), 2)
        self.assertEqual([t.position for t in h.txs], [1, 2])

    def test_duplicates_are_dropped(self):
        h = Harness()
        h.live(a_rows=[put(1, 0)])
        for _ in range(2):
            h.feed(A, tmsg(A, 1, 201, 1, put(2, 5)))
            h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        h.feed(A, tmsg(A, 1, 201, 1, put(2, 5)))
        self.assertEqual(len(h.txs), 1)
        self.assertEqual(h.sync.stats["duplicates"], 3)
        self.assertEqual(h.sync.stats["anomalies"], 0)
        self.assertEqual(h.sync.state, LIVE)

    def test_a_table_outside_the_set_is_ignored(self):
        h = Harness()
        h.live()
        h.feed("public.other", tmsg("public.other", 1, 201, 1, put(1, 1)))
        h.feed(A, tmsg(A, 1, 201, 1, put(1, 1)))
        h.feed(TX_TOPIC, txmsg(1, 201, [("public.other", 1, 1), (A, 1, 1)]))
        h.feed(TX_TOPIC, txmsg(2, 202, [("public.other", 2, 2)]))
        self.assertEqual([n for n, _ in h.txs[0].changes], [A])
        self.assertEqual(len(h.txs), 1)     # position 2 changed nothing of the set
        self.assertEqual(h.sync.position, 2)
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.requests(), [])

    def test_a_table_of_another_schema_on_the_same_topic_is_ignored(self):
        # s."t.u" (in the set) and "s.t".u (not) both publish on "s.t.u":
        # only the names tell their messages, ranges and heartbeats apart.
        st = "s.t.u"
        h = Harness(tables=(st, B))
        [req] = h.requests()
        h.snapshot(req, 100, 100, [], 0, [(st, 0, []), (B, 0, [])])
        self.assertEqual(h.sync.state, LIVE, h.sync.why)
        other = pb.Message(schema_name="s.t", table_name="u", seq=1, txid=201, tx_last=True,
                           position=1, commit_time=1_000_000, change=put(1001, 7))
        h.feed(st, other)
        tx = pb.Message(seq=1, position=1, txid=201, commit_time=1_000_000)
        tx.transaction.tables.add(schema_name="s.t", table_name="u", first_seq=1, last_seq=1)
        h.feed(TX_TOPIC, tx)
        gone = heartbeat(1, "s.t.u")
        gone.schema_name, gone.table_name = "s.t", "u"
        gone.heartbeat.moved_to_schema, gone.heartbeat.moved_to_table = "s", "v"
        h.feed(st, gone)
        h.feed(st, tmsg(st, 1, 202, 2, put(1, 1)))
        h.feed(TX_TOPIC, txmsg(2, 202, [(st, 1, 1)]))
        self.assertEqual(h.sync.state, LIVE, h.sync.why)
        self.assertEqual(v_of(h.sync, st, 1), 1)
        self.assertIsNone(v_of(h.sync, st, 1001))
        self.assertEqual(len(h.txs), 1)
        self.assertEqual(h.sync.position, 2)
        self.assertEqual(h.sync.stats["anomalies"], 0)

    def test_a_range_starting_beyond_the_last_seq_resyncs_instead_of_skipping(self):
        # Position 1's Transaction (from an endpoint group without b) lists
        # only a: b's seq 1 belongs to no transaction applied; position 2
        # starts b at seq 2. Skipping seq 1 would lose it for good.
        h = Harness()
        h.live()
        h.feed(A, tmsg(A, 1, 201, 1, put(1, 1)))
        h.feed(B, tmsg(B, 1, 201, 1, put(1, 1)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        h.feed(B, tmsg(B, 2, 202, 2, put(2, 2)))
        h.feed(TX_TOPIC, txmsg(2, 202, [(B, 2, 2)]))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(h.sync.stats["anomalies"], 1)
        self.assertIsNone(v_of(h.sync, B, 2))

    def test_a_missing_range_is_replayed(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 90)))
        # B seq 1 is lost; the Transaction says it exists.
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)]))
        [req] = h.requests()
        self.assertEqual((req.replay.schema_name, req.replay.table_name), ("public", "b"))
        self.assertEqual((req.replay.from_seq, req.replay.to_seq), (1, 1))
        self.assertEqual(h.sync.state, REPLAYING)
        self.assertEqual(v_of(h.sync, A, 1), 100)
        h.replay(req, [tmsg(B, 1, 201, 1, set_v(1, 10))])
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (90, 10))
        self.assertEqual(h.sync.state, LIVE)

    def test_moved_answers_stop_the_set_with_the_new_name(self):
        # A rename stops the set in state moved, naming the table now,
        # keeping the view and asking nothing more (the C++ library alike).
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 90)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)]))
        [req] = h.requests()
        r = pb.Reply(request_id=req.request_id)
        r.error.code, r.error.message = pb.MOVED, "renamed"
        r.error.moved_to_schema, r.error.moved_to_table = "public", "b2"
        h.sync.on_reply(r, h.now)
        self.assertEqual(h.sync.state, MOVED)
        self.assertEqual(h.sync.moved_to, "public.b2")
        self.assertEqual(v_of(h.sync, A, 1), 100)
        h.now = 60.0
        h.sync.tick(h.now)
        self.assertEqual(h.requests(), [])

        snap = Harness()
        [req] = snap.requests()
        r = pb.Reply(request_id=req.request_id)
        r.error.code, r.error.moved_to_schema, r.error.moved_to_table = pb.MOVED, "s2", "a2"
        snap.sync.on_reply(r, snap.now)
        self.assertEqual((snap.sync.state, snap.sync.moved_to), (MOVED, "s2.a2"))

    def test_a_transaction_gap_replays_the_tx_topic(self):
        h = Harness()
        h.live(a_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 1)))
        h.feed(A, tmsg(A, 2, 202, 2, set_v(1, 2)))
        h.feed(TX_TOPIC, txmsg(2, 202, [(A, 2, 2)]))
        [req] = h.requests()
        self.assertTrue(req.replay.transactions)
        self.assertEqual((req.replay.schema_name, req.replay.from_seq, req.replay.to_seq),
                         ("", 1, 1))
        h.replay(req, [txmsg(1, 201, [(A, 1, 1)])])
        self.assertEqual(v_of(h.sync, A, 1), 2)
        self.assertEqual(h.sync.state, LIVE)

    def test_a_heartbeat_beyond_the_last_position_replays(self):
        h = Harness()
        h.live()
        h.feed(TX_TOPIC, heartbeat(3))
        [req] = h.requests()
        self.assertEqual((req.replay.transactions, req.replay.from_seq, req.replay.to_seq),
                         (True, 1, 3))
        self.assertEqual(h.sync.lag_transactions, 3)

    def test_replays_ask_for_at_most_max_buffered_at_a_time(self):
        # A far-behind set must not ask for (and then hold) its whole lag.
        h = Harness()
        h.sync.max_buffered = 5
        h.live()
        h.feed(TX_TOPIC, heartbeat(1000))
        [req] = h.requests()
        self.assertEqual((req.replay.transactions, req.replay.from_seq, req.replay.to_seq),
                         (True, 1, 5))
        h.replay(req, [txmsg(1, 201, [(A, 1, 5)])])
        [req] = [r for r in h.requests() if r.replay.table_name == "a"]
        self.assertEqual((req.replay.from_seq, req.replay.to_seq), (1, 5))

    def test_a_replay_answer_outside_the_asked_range_is_not_held(self):
        # A hostile or broken relay answers with more than was asked.
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 90)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)]))
        [req] = h.requests()
        self.assertEqual((req.replay.from_seq, req.replay.to_seq), (1, 1))
        flood = [tmsg(B, q, 500 + q, 10 + q, put(q, q)) for q in range(2, 1002)]
        h.replay(req, flood + [tmsg(B, 1, 201, 1, set_v(1, 10))])
        self.assertEqual(h.sync.stats["unasked"], 1000)
        self.assertEqual(sum(len(s.buffer) for s in h.sync.streams.values()), 0)
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (90, 10))
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual(h.requests(), [])

    def test_a_transaction_larger_than_the_buffer_resyncs(self):
        # Never held whole (a relay's claim of 2^60 seqs would also hang a
        # loop over the range): the new snapshot contains it.
        h = Harness()
        h.sync.max_buffered = 3
        h.live(a_rows=[put(1, 5)])
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1 << 60)]))
        [snap] = h.requests()
        self.assertTrue(snap.HasField("snapshot"))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(v_of(h.sync, A, 1), 5)
        h.snapshot(snap, 300, 300, [], 1, [(A, 1 << 60, [put(1, 6)]), (B, 0, [])])
        self.assertEqual(h.sync.state, LIVE)
        self.assertEqual((h.sync.position, v_of(h.sync, A, 1)), (1, 6))

    def test_a_transaction_listing_a_table_twice_resyncs(self):
        # Its messages would be taken twice (it raised KeyError).
        h = Harness()
        h.live(a_rows=[put(1, 5)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 6)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (A, 1, 1)]))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(v_of(h.sync, A, 1), 5)
        self.assertEqual(h.txs, [])

    def test_an_empty_range_resyncs(self):
        h = Harness()
        h.live(a_rows=[put(1, 5)])
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 3, 2)]))
        self.assertEqual(h.sync.state, RESYNCING)

    def test_gone_resyncs_the_whole_set(self):
        h = Harness()
        h.live(a_rows=[put(1, 5)], b_rows=[put(1, 5)])
        h.feed(B, heartbeat(4, B))
        [req] = h.requests()
        h.error(req, pb.GONE)
        self.assertEqual(h.sync.state, RESYNCING)
        [snap] = h.requests()
        self.assertEqual(len(snap.snapshot.more_tables), 1)
        # The view keeps the last consistent state meanwhile.
        self.assertEqual(v_of(h.sync, A, 1), 5)
        h.snapshot(snap, 300, 300, [], 9, [(A, 2, [put(1, 6)]), (B, 4, [put(1, 4)])])
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (6, 4))
        self.assertEqual(h.sync.position, 9)
        self.assertEqual(h.sync.stats["resyncs"], 1)

    def test_replay_that_never_fills_resyncs(self):
        h = Harness()
        h.live()
        h.feed(A, heartbeat(2, A))
        for attempt in range(5):
            [req] = h.requests()
            self.assertTrue(req.HasField("replay"), attempt)
            h.replay(req, [])
            h.now += 1.0
            h.sync.tick(h.now)
        [req] = h.requests()
        self.assertTrue(req.HasField("snapshot"))
        self.assertEqual(h.sync.state, RESYNCING)

    def test_a_relay_that_is_down_is_asked_again_never_resynced(self):
        h = Harness()
        h.live()
        h.feed(TX_TOPIC, heartbeat(2))
        delays = []
        for _ in range(12):
            [req] = h.requests()
            self.assertTrue(req.replay.transactions)
            h.error(req, pb.UNAVAILABLE)
            self.assertEqual(h.sync.state, REPLAYING)
            start = h.now
            while not h.sync.outbox:
                h.now += 0.25
                h.sync.tick(h.now)
            delays.append(h.now - start)
        self.assertEqual(delays[:3], [0.5, 1.0, 1.5])
        self.assertEqual(max(delays), 5.0)
        self.assertEqual(h.sync.stats["resyncs"], 0)

    def test_a_snapshot_of_a_relay_that_is_down_backs_off(self):
        h = Harness()
        delays = []
        for _ in range(12):
            [req] = h.requests()
            self.assertTrue(req.HasField("snapshot"))
            h.sync.on_request_failed(req.request_id, "no reply", h.now)
            delays.append(h.sync.snap_retry_at - h.now)
            h.now = h.sync.snap_retry_at
            h.sync.tick(h.now)
        self.assertEqual(delays[:3], [0.5, 1.0, 1.5])
        self.assertEqual(delays[-1], 5.0)

    def test_resync_marker_rolls_the_transaction_back_and_resyncs(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 50)))
        h.feed(B, tmsg(B, 1, 201, 1, pb.Change(op=pb.RESYNC, reason="test")))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)]))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(v_of(h.sync, A, 1), 100)   # not half of position 1
        self.assertEqual(h.txs, [])
        self.assertEqual(h.sync.stats["resync_markers"], 1)

    def test_an_anomaly_rolls_the_transaction_back(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 50)))
        h.feed(A, tmsg(A, 2, 201, 1, put(3, 1), last=False))
        h.feed(B, tmsg(B, 1, 201, 1, put(1, 50)))       # exists: does not fit
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 2), (B, 1, 1)]))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, A, 3), v_of(h.sync, B, 1)),
                         (100, None, 0))
        self.assertEqual(h.sync.stats["anomalies"], 1)

    def test_unpublish_resyncs_the_set_and_keeps_the_view(self):
        h = Harness()
        h.live(a_rows=[put(1, 5)])
        h.feed(A, tmsg(A, 1, 201, 1, pb.Change(op=pb.UNPUBLISH)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        self.assertEqual(h.sync.state, RESYNCING)
        [snap] = h.requests()
        h.error(snap, pb.NOT_PUBLISHED)
        self.assertEqual(h.sync.state, FAILED)
        self.assertEqual(v_of(h.sync, A, 1), 5)
        h.now += 1.0
        h.sync.tick(h.now)
        self.assertEqual(h.requests(), [])       # asked again slowly, not at once
        h.now += 5.0
        h.sync.tick(h.now)
        [again] = h.requests()
        self.assertTrue(again.HasField("snapshot"))

    def test_an_unpublished_heartbeat_resyncs_the_set(self):
        h = Harness()
        h.live(a_rows=[put(1, 5)])
        hb = heartbeat(3, B)
        hb.heartbeat.unpublished = True
        h.feed(B, hb)
        self.assertEqual(h.sync.state, RESYNCING)
        [snap] = h.requests()
        self.assertTrue(snap.HasField("snapshot"))
        self.assertEqual(v_of(h.sync, A, 1), 5)

    def test_a_message_of_another_transaction_resyncs(self):
        h = Harness()
        h.live(a_rows=[put(1, 5)])
        h.feed(A, tmsg(A, 1, 999, 1, set_v(1, 6)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        self.assertEqual(h.sync.state, RESYNCING)
        self.assertEqual(v_of(h.sync, A, 1), 5)

    def test_contained_by_position_needs_no_messages(self):
        h = Harness()
        h.feed(TX_TOPIC, txmsg(4, 90, [(A, 3, 5)]))
        [req] = h.requests()
        h.snapshot(req, 100, 100, [], 4, [(A, 5, [put(1, 5)]), (B, 0, [])])
        # Seqs 3..5 of A came before the subscription; position 4 is in the rows.
        self.assertEqual(h.sync.position, 4)
        self.assertEqual(h.sync.state, LIVE, h.sync.why)
        self.assertEqual(h.requests(), [])

    def test_a_reset_stream_resyncs_after_three_heartbeats(self):
        h = Harness()
        h.live(position=50, a_rows=[put(1, 5)])
        h.feed(TX_TOPIC, heartbeat(10))
        h.feed(TX_TOPIC, heartbeat(10))
        self.assertEqual(h.sync.state, LIVE)     # a restarted relay catching up
        h.feed(TX_TOPIC, heartbeat(10))
        self.assertEqual(h.sync.state, RESYNCING)

    def test_lag_in_transactions_and_seconds(self):
        h = Harness()
        h.live(a_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 1)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        self.assertEqual(h.sync.lag_seconds(100.0), 0.0)     # nothing waits
        h.feed(TX_TOPIC, txmsg(3, 203, [(A, 3, 3)]))
        self.assertEqual(h.sync.lag_transactions, 2)
        self.assertEqual(h.sync.lag_seconds(100.0), 99.0)    # position 1 committed at 1 s


class EndpointGroupTest(unittest.TestCase):
    """A set connected to the publish endpoints of two endpoint groups
    hears a Transaction of each per position, each listing only its group's
    tables; only the snapshot's group's is taken (docs/protocol.md
    section 9)."""

    def test_another_groups_transaction_never_splits_a_transaction(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)], b_rows=[put(1, 0)], group="default")
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 60)))
        # Group x carries only a; its Transaction arrives first.
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)], group="x"))
        self.assertEqual(h.txs, [])
        self.assertEqual(v_of(h.sync, A, 1), 100)
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)], group="default"))
        self.assertEqual(h.txs, [])
        h.feed(B, tmsg(B, 1, 201, 1, set_v(1, 40)))
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (60, 40))
        [tx] = h.txs
        self.assertEqual([(n, m.seq) for n, m in tx.changes], [(A, 1), (B, 1)])
        # x's Transaction of position 2, after the set's own: nothing new.
        h.feed(A, tmsg(A, 2, 202, 2, set_v(1, 61)))
        h.feed(TX_TOPIC, txmsg(2, 202, [(A, 2, 2), (B, 2, 2)], group="default"))
        h.feed(TX_TOPIC, txmsg(2, 202, [(A, 2, 2)], group="x"))
        h.feed(B, tmsg(B, 2, 202, 2, set_v(1, 41)))
        self.assertEqual((v_of(h.sync, A, 1), v_of(h.sync, B, 1)), (61, 41))
        self.assertEqual(len(h.txs), 2)
        self.assertEqual(h.sync.stats["duplicates"], 2)
        self.assertEqual(h.sync.stats["anomalies"], 0)
        self.assertEqual(h.sync.stats["resyncs"], 0)
        self.assertIn(h.sync.state, (LIVE, REPLAYING))  # b's seq 1 was asked for while it waited

    def test_held_transactions_of_another_group_go_when_the_snapshot_names_its_group(self):
        h = Harness()
        [req] = h.requests()
        # Before the snapshot says its group, x's Transaction is held.
        h.feed(A, tmsg(A, 1, 201, 1, put(2, 1)))
        h.feed(B, tmsg(B, 1, 201, 1, put(2, 2)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)], group="x"))
        h.snapshot(req, 100, 100, [], 0, [(A, 0, []), (B, 0, [])], group="default")
        self.assertEqual(h.sync.state, REPLAYING)
        self.assertEqual(h.txs, [])
        [replay] = h.requests()
        self.assertTrue(replay.replay.transactions)
        self.assertEqual((replay.replay.from_seq, replay.replay.to_seq), (1, 1))
        h.replay(replay, [txmsg(1, 201, [(A, 1, 1), (B, 1, 1)], group="default")])
        self.assertEqual((v_of(h.sync, A, 2), v_of(h.sync, B, 2)), (1, 2))
        self.assertEqual(h.sync.state, LIVE)

    def test_a_relay_without_groups_is_followed_as_before(self):
        h = Harness()
        h.live(a_rows=[put(1, 100)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 60)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1)]))
        self.assertEqual(v_of(h.sync, A, 1), 60)
        self.assertEqual(h.sync.stats["duplicates"], 0)


class JsonTest(unittest.TestCase):
    def test_one_object_per_transaction(self):
        import json
        from tablepub_client.__main__ import transaction_json
        h = Harness()
        h.live(a_rows=[put(1, 0)])
        h.feed(A, tmsg(A, 1, 201, 1, set_v(1, 5)))
        h.feed(B, tmsg(B, 1, 201, 1, put(2, 7)))
        h.feed(TX_TOPIC, txmsg(1, 201, [(A, 1, 1), (B, 1, 1)]))
        out = json.loads(transaction_json(h.txs[0]))
        self.assertEqual((out["position"], out["txid"], out["commit_time"]), (1, 201, 1_000_000))
        self.assertEqual([(c["table"], c["op"], c["values"]) for c in out["changes"]],
                         [(A, "update", {"v": 5}), (B, "insert", {"v": 7})])


class InterleavingTest(unittest.TestCase):
    """Money moves between accounts in two tables; the messages reach the
    set in random order across topics, with duplicates and losses (filled
    by replay). The total must hold after every call."""

    def run_seed(self, seed):
        rnd = random.Random(seed)
        accounts = {A: {i: 100 for i in range(1, 4)}, B: {i: 100 for i in range(1, 4)}}
        total = 600
        seqs = {A: 0, B: 0}
        published = {A: {}, B: {}, TX_TOPIC: {}}
        arrivals = []
        for position in range(1, 61):
            txid = 1000 + position
            src, dst = rnd.choice([A, B]), rnd.choice([A, B])
            i, j = rnd.randint(1, 3), rnd.randint(1, 3)
            if (src, i) == (dst, j):
                j = j % 3 + 1
            amount = rnd.randint(1, 20)
            ops = [(src, i, -amount), (dst, j, amount)]
            ranges = {}
            for table, k, delta in ops:
                accounts[table][k] += delta
                seqs[table] += 1
                m = tmsg(table, seqs[table], txid, position,
                         set_v(k, accounts[table][k]), last=False)
                published[table][m.seq] = m
                arrivals.append((table, m))
                first, _ = ranges.get(table, (m.seq, m.seq))
                ranges[table] = (first, m.seq)
            t = txmsg(position, txid, [(tb, f, la) for tb, (f, la) in ranges.items()])
            published[TX_TOPIC][position] = t
            arrivals.append((TX_TOPIC, t))
        # Shuffle locally (a window of 8), lose 5%, duplicate 5%.
        shuffled = []
        for start in range(0, len(arrivals), 8):
            part = arrivals[start:start + 8]
            rnd.shuffle(part)
            shuffled.extend(part)
        h = Harness()
        h.live(a_rows=[put(i, 100) for i in range(1, 4)], b_rows=[put(i, 100) for i in range(1, 4)])

        def check():
            s = sum(v_of(h.sync, A, i) + v_of(h.sync, B, i) for i in range(1, 4))
            self.assertEqual(s, total, f"seed {seed}: half a transaction shown at "
                                       f"position {h.sync.position}")

        def serve():
            for req in h.requests():
                r = req.replay
                topic = TX_TOPIC if r.transactions else f"{r.schema_name}.{r.table_name}"
                h.replay(req, [published[topic][q] for q in range(r.from_seq, r.to_seq + 1)
                               if q in published[topic]])
                check()

        for topic, m in shuffled:
            if rnd.random() < 0.05:
                continue
            h.feed(topic, m)
            check()
            if rnd.random() < 0.05:
                h.feed(topic, m)
                check()
            serve()
        for topic in (A, B, TX_TOPIC):
            h.feed(topic, heartbeat(max(published[topic]), "" if topic == TX_TOPIC else topic))
            serve()
        for _ in range(10):
            h.now += 1.0
            h.sync.tick(h.now)
            serve()
        self.assertEqual(h.sync.position, 60, f"seed {seed}: {h.sync.state} {h.sync.why}")
        self.assertEqual(h.sync.state, LIVE)
        for table in (A, B):
            for k, v in accounts[table].items():
                self.assertEqual(v_of(h.sync, table, k), v)

    def test_seeds(self):
        for seed in range(20):
            self.run_seed(seed)


if __name__ == "__main__":
    unittest.main()
