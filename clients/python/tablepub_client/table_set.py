"""A set of tables mirrored as one unit (no I/O): docs/protocol.md section 9,
"Several tables as one unit".

One multi-table snapshot, then every transaction applied whole across the
set's tables in commit-position order: its messages are held until its
Transaction message on ".tx" arrived and every listed range of the set's
tables is complete. Between two calls the mirrors always show the state
after some whole transaction (or the snapshot), never half of one.
"""

import collections

import tablepub_pb2 as pb

from .callback_error import CallbackError
from .sync import _request_ids, MAX_BACKOFF_STEPS, TRANSIENT_ERRORS, LIVE, MOVED, FAILED, Mirror, PgSnapshot, REPLAYING, \
    RESYNCING, SYNCING, encode_key

TX_TOPIC = ".tx"
# The most tables one snapshot request may name (docs/protocol.md section 5).
MAX_SET_TABLES = 32

# One committed transaction of the set, as handed to on_transaction:
# changes is a list of (table name, Message) in the order the relay listed
# the tables, each table's messages in seq order.
Transaction = collections.namedtuple("Transaction", "position txid commit_time changes")


class _Stream:
    """A table topic or ".tx": the last number processed (seq, or position
    for ".tx"), the highest announced, and the messages held, by number."""

    def __init__(self, name):
        self.name = name
        self.last = 0
        self.latest = 0
        self.buffer = {}
        self.top = 0       # the highest number ever held since the last reset
        self.hwm = 0       # last+1..hwm are all held (cached by contiguous())
        self.pending_id = 0
        self.retry_at = None
        self.attempts = 0
        self.transient = 0  # UNAVAILABLE/BUSY/TIMEOUT/no reply in a row
        self.replay_start = 0
        self.replay_end = 0  # the replay in flight asked for replay_start+1..replay_end
        self.behind = 0
        self.heartbeat_interval = 0.0
        self.last_heard = 0.0

    def contiguous(self):
        """The highest number h such that last+1..h are all held. Held
        numbers leave the buffer only when `last` passes them, so the
        cached mark stays true (amortized O(1) however large the buffer)."""
        h = max(self.hwm, self.last)
        while h + 1 in self.buffer:
            h += 1
        self.hwm = h
        return h

    def wanted(self):
        """The highest number known to exist."""
        return max(self.latest, self.top)

    def hold(self, msg):
        self.buffer[msg.seq] = msg
        self.top = max(self.top, msg.seq)

    def reset(self, last, clear=False):
        """`last` set by a snapshot (or the buffer cleared): recompute the marks."""
        if clear:
            self.buffer.clear()
        self.last = last
        for q in [q for q in self.buffer if q <= last]:
            del self.buffer[q]
        self.top, self.hwm = max(self.buffer, default=0), 0

    def held(self, first, last):
        """The numbers first..last held, ascending; walks the buffer rather
        than the range when that is shorter (a relay may list 2^60 seqs)."""
        if last - first + 1 <= len(self.buffer):
            return [q for q in range(first, last + 1) if q in self.buffer]
        return sorted(q for q in self.buffer if first <= q <= last)

    def pass_to(self, last):
        """Everything up to `last` is processed."""
        for q in self.held(self.last + 1, last):
            del self.buffer[q]
        self.last = max(self.last, last)


class _Undo:
    """What one transaction changed in the mirrors, to put it back when a
    later message of the transaction does not fit (the view keeps the state
    before the transaction while the set resyncs)."""

    def __init__(self):
        self.entries = []

    def save_rows(self, mirror, keys):
        for k in keys:
            row = mirror.rows.get(k)
            self.entries.append((mirror, k, None if row is None else dict(row)))

    def save_all(self, mirror):
        self.entries.append((mirror, None, {k: dict(r) for k, r in mirror.rows.items()}))

    def roll_back(self):
        for mirror, key, saved in reversed(self.entries):
            if key is None:
                mirror.rows = saved
            elif saved is None:
                mirror.rows.pop(key, None)
            else:
                mirror.rows[key] = saved


class _NeedsResync(Exception):
    pass


class TableSetSync:
    """Tables ("schema.table") mirrored as one unit from one snapshot.

    Feed it stream messages (on_message(topic, msg, now)), replies
    (on_reply) and time (tick); send what take_requests() returns. Times are
    float seconds. `mirrors[name]` are the read view; `position` the commit
    position of the state they show. on_transaction(set, Transaction) is
    called after each transaction that changed the set was applied, with the
    mirrors already showing its result. `state` and `why` say where the set
    stands (on_state(set, old, new, why) on every change).
    """

    def __init__(self, tables, on_transaction=None, on_state=None, max_buffered=1_000_000,
                 retry_delay=0.5, slow_retry=5.0, max_replay_attempts=5, stale_heartbeats=3):
        self.names = list(dict.fromkeys(tables))
        if not self.names:
            raise ValueError("a table set needs at least one table")
        if len(self.names) > MAX_SET_TABLES:
            # One snapshot request names the whole set; the relay refuses more.
            raise ValueError(f"a table set has at most {MAX_SET_TABLES} tables, not {len(self.names)}")
        self.refs = []
        for t in self.names:
            schema, _, table = t.partition(".")
            if not schema or not table:
                raise ValueError(f'table "{t}" is not of the form schema.table')
            self.refs.append((schema, table))
        self.on_transaction, self.on_state = on_transaction, on_state
        self.callbacks = CallbackError()
        self.max_buffered, self.retry_delay, self.slow_retry = max_buffered, retry_delay, slow_retry
        self.max_replay_attempts, self.stale_heartbeats = max_replay_attempts, stale_heartbeats
        self.streams = {n: _Stream(n) for n in self.names + [TX_TOPIC]}
        self.tx = self.streams[TX_TOPIC]
        # Two tables can share a topic (s."t.u" and "s.t".u are both
        # "s.t.u"): messages and ranges name their table by both names, and
        # only both tell them apart.
        self.by_ref = {ref: self.streams[n] for n, ref in zip(self.names, self.refs)}
        self.mirrors = {n: Mirror() for n in self.names}
        self.schemas = {n: pb.TableSchema() for n in self.names}
        self.snapshot = None
        self.snap_position = 0
        # The endpoint group of the snapshot endpoint (SnapshotBegin.group;
        # "" from older relays), None before any: a set connected to the
        # publish endpoints of several groups hears a Transaction of each per
        # position, each listing only its group's tables (docs/protocol.md
        # section 9); only this group's are taken.
        self.group = None
        self.last_commit_time = 0     # microseconds since 1970, last applied transaction
        self.state, self.why = SYNCING, ""
        self.moved_to = ""
        self.outbox = []
        self.snap_id = 0
        self.snap_retry_at = None
        self.snap_transient = 0  # snapshot requests in a row answered "not now" (or not at all)
        self._staged = None
        self.stats = dict(transactions=0, skipped=0, changes=0, duplicates=0, gaps=0,
                          replays=0, resyncs=0, anomalies=0, dropped=0, resync_markers=0,
                          unasked=0)

    # -- the view -----------------------------------------------------------
    @property
    def position(self):
        return self.tx.last

    def rows(self, name):
        """The rows of one table of the set as {column: python value}."""
        return self.mirrors[name].as_dicts()

    @property
    def lag_transactions(self):
        """Transactions known to be committed and not yet applied."""
        return max(0, self.tx.wanted() - self.tx.last)

    def lag_seconds(self, now_wall):
        """now_wall (time.time()) minus the commit time of the last applied
        transaction while transactions wait; 0 when none does."""
        if self.lag_transactions == 0 or not self.last_commit_time:
            return 0.0
        return max(0.0, now_wall - self.last_commit_time / 1e6)

    def stale(self, now):
        """Names of the streams silent for stale_heartbeats intervals."""
        return [s.name for s in self.streams.values() if s.heartbeat_interval
                and now - s.last_heard > s.heartbeat_interval * self.stale_heartbeats]

    # -- requests -----------------------------------------------------------
    def start(self, now=0.0):
        for s in self.streams.values():
            s.last_heard = now
        self._request_snapshot()

    def take_requests(self):
        out, self.outbox = self.outbox, []
        return out

    def active_requests(self):
        """Request ids whose replies are still wanted."""
        ids = {s.pending_id for s in self.streams.values() if s.pending_id}
        if self.snap_id:
            ids.add(self.snap_id)
        return ids

    def _set_state(self, state, why=""):
        old, self.state, self.why = self.state, state, why
        if old != state:
            self.callbacks.call(self.on_state, self, old, state, why)

    def _synced(self):
        return self.state in (LIVE, REPLAYING)

    def _request_snapshot(self):
        self.snap_id, self.snap_retry_at = next(_request_ids), None
        self._staged = None
        req = pb.Request(request_id=self.snap_id)
        (schema, table), rest = self.refs[0], self.refs[1:]
        req.snapshot.schema_name, req.snapshot.table_name = schema, table
        for schema, table in rest:
            req.snapshot.more_tables.add(schema_name=schema, table_name=table)
        self.outbox.append(req)

    def _request_replay(self, s):
        frm = s.contiguous() + 1
        later = [k for k in s.buffer if k > frm]
        to = self._replay_bound(s, frm, min(later) - 1 if later else s.latest)
        s.pending_id, s.retry_at, s.replay_start, s.replay_end = next(_request_ids), None, frm - 1, to
        self.stats["replays"] += 1
        req = pb.Request(request_id=s.pending_id)
        if s is self.tx:
            req.replay.transactions = True
        else:
            req.replay.schema_name, _, req.replay.table_name = s.name.partition(".")
        req.replay.from_seq, req.replay.to_seq = frm, to
        self.outbox.append(req)

    def _replay_bound(self, s, frm, to):
        """Replayed messages are never dropped, so one replay asks for at
        most max_buffered numbers (an unbounded one would hold the whole lag
        in memory; the next chunk is asked once these are applied), but
        always for the waiting transaction's own range on this stream, or
        that transaction could never complete (as the C++ TableSetSync)."""
        bound = frm - 1 + self.max_buffered
        if s is not self.tx:
            waiting = self.tx.buffer.get(self.tx.last + 1)
            if waiting is not None:
                for r in waiting.transaction.tables:
                    if self.by_ref.get((r.schema_name, r.table_name)) is s:
                        bound = max(bound, r.last_seq)
        return min(to, bound)

    def _resync(self, why):
        """Drops every request in progress and takes a new snapshot of the
        whole set; the buffers keep what is newer than it will be."""
        self.stats["resyncs"] += 1
        for s in self.streams.values():
            s.pending_id, s.retry_at, s.latest, s.attempts = 0, None, 0, 0
        self._set_state(RESYNCING, why)
        self._request_snapshot()

    def _stop(self, state, why):
        for s in self.streams.values():
            s.pending_id, s.retry_at = 0, None
        self.snap_id, self.snap_retry_at, self._staged = 0, None, None
        self._set_state(state, why)

    def tick(self, now):
        if self.snap_retry_at is not None and now >= self.snap_retry_at:
            self._request_snapshot()
        for s in self.streams.values():
            if s.retry_at is not None and now >= s.retry_at:
                s.retry_at = None
                if self._synced() and s.wanted() > s.contiguous():
                    self._request_replay(s)
        self._after(now)

    # -- the streams --------------------------------------------------------
    def on_message(self, topic, msg, now=0.0):
        s = self.streams.get(topic)
        if s is None or self.state == MOVED:
            return
        if s is not self.tx and self.by_ref.get((msg.schema_name, msg.table_name)) is not s:
            return  # another table on the same topic
        s.last_heard = now
        if msg.HasField("heartbeat"):
            hb = msg.heartbeat
            s.heartbeat_interval = hb.interval_ms / 1000.0
            if hb.moved_to_table:
                # Following a renamed table is the application's choice: the
                # set as named cannot continue.
                self.moved_to = f"{hb.moved_to_schema}.{hb.moved_to_table}"
                self._stop(MOVED, f"table {topic} was renamed to {self.moved_to}")
                return
            if hb.unpublished:
                # The UNPUBLISH itself may have been missed: its effect is the
                # same (the set's snapshot then fails visibly, NOT_PUBLISHED).
                if self._synced():
                    self._resync(f"the relay reports {topic} unpublished")
                return
            s.latest = max(s.latest, msg.seq)
            if s is self.tx and self._synced():
                # Positions below ours for 3 heartbeats: not a restarted relay
                # republishing, but a stream that was reset (a restored
                # database): the set resyncs.
                s.behind = s.behind + 1 if msg.seq < s.last else 0
                if s.behind >= self.stale_heartbeats:
                    s.behind = 0
                    for x in self.streams.values():
                        x.reset(x.last, clear=True)  # numbers from before the reset
                    self._resync(f"the relay's last position {msg.seq} stays below "
                                 f"{s.last}")
        else:
            self._hold(s, msg)
        self._after(now)

    def _hold(self, s, msg):
        s.latest = max(s.latest, msg.seq)
        if s is self.tx:
            if not msg.HasField("transaction"):
                return
            if self.group is not None and msg.transaction.group != self.group:
                # Another group's Transaction of this position: taken, it
                # could apply the transaction without the part of a table
                # that group does not carry.
                self.stats["duplicates"] += 1
                return
            # The Transaction says which seqs exist on the set's tables.
            for r in msg.transaction.tables:
                t = self.by_ref.get((r.schema_name, r.table_name))
                if t is not None:
                    t.latest = max(t.latest, r.last_seq)
        if (self._synced() and msg.seq <= s.last) or msg.seq in s.buffer:
            self.stats["duplicates"] += 1
        elif sum(len(x.buffer) for x in self.streams.values()) >= self.max_buffered:
            self.stats["dropped"] += 1
        else:
            s.hold(msg)

    def _after(self, now):
        """Applies what is complete, then asks for what is missing."""
        if not self._synced():
            return
        self._advance()
        if not self._synced():
            return
        for s in self.streams.values():
            if s.pending_id == 0 and s.retry_at is None and s.wanted() > s.contiguous():
                self.stats["gaps"] += 1
                s.attempts = s.transient = 0
                self._request_replay(s)
        busy = any(s.pending_id or s.retry_at is not None for s in self.streams.values())
        if busy:
            self._set_state(REPLAYING, "missing messages are being replayed")
        else:
            self._set_state(LIVE, f"at position {self.tx.last}")

    def _advance(self):
        while self._synced():
            txm = self.tx.buffer.get(self.tx.last + 1)
            if txm is None:
                return
            parts = []
            # At or below the snapshot's position the rows hold it: its
            # messages may predate the subscription, nothing is awaited.
            before = txm.seq <= self.snap_position
            if self._malformed(txm) or (not before and self._too_large(txm)):
                return
            for r in txm.transaction.tables:
                t = self.by_ref.get((r.schema_name, r.table_name))
                if t is None:
                    continue  # a table outside the set
                if not before and r.first_seq > t.last + 1:
                    # Every seq belongs to a transaction, applied in order:
                    # an earlier one was applied without its part here (a
                    # Transaction of an endpoint group without the table).
                    # Skipping the seqs in between would lose them for good.
                    self.stats["anomalies"] += 1
                    self._resync(f"the transaction at position {txm.seq} starts {t.name} at seq "
                                 f"{r.first_seq}, but no transaction applied holds seqs "
                                 f"{t.last + 1}..{r.first_seq - 1} (publish endpoints of "
                                 f"different groups?)")
                    return
                seqs = range(max(r.first_seq, t.last + 1), r.last_seq + 1)
                if before:
                    seqs = t.held(seqs.start, r.last_seq)
                elif t.contiguous() < r.last_seq:
                    return  # not complete yet
                parts.append((t, r.last_seq, seqs))
            del self.tx.buffer[txm.seq]
            changes = []
            for t, last_seq, seqs in parts:
                changes.extend((t.name, t.buffer.pop(q)) for q in seqs)
                t.pass_to(last_seq)
            self._commit(txm, changes)

    def _malformed(self, txm):
        """A table listed twice (its messages would be taken twice) or an
        empty range (never filled): the relay never sends them; the set
        resyncs rather than guess (as the C++ TableSetSync)."""
        names = [(r.schema_name, r.table_name) for r in txm.transaction.tables]
        bad = len(set(names)) != len(names) or any(
            r.first_seq == 0 or r.first_seq > r.last_seq for r in txm.transaction.tables)
        if bad:
            self.stats["anomalies"] += 1
            self._resync(f"the transaction at position {txm.seq} lists a table twice or an empty range")
        return bad

    def _too_large(self, txm):
        """A transaction with more seqs on the set's tables than max_buffered
        can never be held whole (nor can a relay's claim of 2^60): the set
        resyncs, and the new snapshot contains it (as the C++ TableSetSync)."""
        size = 0
        for r in txm.transaction.tables:
            t = self.by_ref.get((r.schema_name, r.table_name))
            if t is not None:
                size += max(0, r.last_seq - max(r.first_seq, t.last + 1) + 1)
        if size <= self.max_buffered:
            return False
        self._resync(f"the transaction at position {txm.seq} has more than "
                     f"{self.max_buffered} messages on the set's tables (max_buffered)")
        return True

    def _commit(self, txm, changes):
        position = txm.seq
        contained = position <= self.snap_position or self.snapshot.visible(txm.txid)
        if contained:
            # Already in the snapshot's rows; only a schema is taken over.
            self.stats["skipped"] += 1
            for name, m in changes:
                if m.HasField("change") and m.change.op == pb.SCHEMA:
                    self.schemas[name].CopyFrom(m.change.schema)
            self.tx.last = position
            self.last_commit_time = max(self.last_commit_time, txm.commit_time)
            return
        undo = _Undo()
        try:
            for name, m in changes:
                if m.position != position or m.txid != txm.txid:
                    raise _NeedsResync(f"{name} seq {m.seq} has position {m.position} txid "
                                       f"{m.txid}, its transaction {position} txid {txm.txid}")
                if m.HasField("change"):
                    self._apply(name, m, undo)
        except _NeedsResync as e:
            undo.roll_back()
            # The transaction is taken again from the new snapshot.
            self._resync(str(e))
            return
        self.tx.last = position
        self.last_commit_time = max(self.last_commit_time, txm.commit_time)
        if changes:
            self.stats["transactions"] += 1
            self.stats["changes"] += len(changes)
            if self.on_transaction:
                self.callbacks.call(self.on_transaction, self,
                                    Transaction(position, txm.txid, txm.commit_time, changes))

    def _apply(self, name, m, undo):
        ch, mirror = m.change, self.mirrors[name]
        if ch.op == pb.RESYNC:
            self.stats["resync_markers"] += 1
            raise _NeedsResync(f"the relay asks for a resync of {name} at seq {m.seq}: "
                               f"{ch.reason}")
        if ch.op == pb.SCHEMA:
            old = {c.name: c for c in self.schemas[name].columns}
            subset = bool(old) and all(
                c.name in old and old[c.name].type_oid == c.type_oid
                and old[c.name].key_position == c.key_position for c in ch.schema.columns)
            if not subset:
                raise _NeedsResync(f"schema of {name} seq {m.seq} adds or changes columns")
            undo.save_all(mirror)
            mirror.drop_columns(set(old) - {c.name for c in ch.schema.columns})
            self.schemas[name].CopyFrom(ch.schema)
            return
        if ch.op == pb.UNPUBLISH:
            # The set's snapshot then fails (NOT_PUBLISHED) and is retried
            # slowly; the view keeps the last state the set had.
            raise _NeedsResync(f"{name} was unpublished at seq {m.seq}")
        if ch.op == pb.TRUNCATE:
            undo.save_all(mirror)
            mirror.rows.clear()
            return
        keys = [encode_key(ch.key)] if ch.key else []
        if ch.old_key:
            keys.append(encode_key(ch.old_key))
        undo.save_rows(mirror, keys)
        anomaly = mirror.apply(ch)
        if anomaly:
            self.stats["anomalies"] += 1
            raise _NeedsResync(f"{name} seq {m.seq}: {anomaly}")

    # -- replies ------------------------------------------------------------
    def on_reply(self, reply, now=0.0):
        rid = reply.request_id
        if rid == 0:
            return
        if rid == self.snap_id:
            self._on_snapshot_reply(reply, now)
        else:
            s = next((x for x in self.streams.values() if x.pending_id == rid), None)
            if s is not None:
                self._on_replay_reply(s, reply, now)
        self._after(now)

    def _on_snapshot_reply(self, reply, now):
        kind = reply.WhichOneof("kind")
        st = self._staged
        if kind == "snapshot_begin":
            self.snap_transient = 0
            b = reply.snapshot_begin
            index = 0 if st is None else st["index"]
            if st is not None and st["open"]:
                return self._snapshot_failed("a SnapshotBegin inside a table", now)
            if b.table_count != len(self.names):
                # A relay before extension 0.3 ignores more_tables.
                if len(self.names) > 1 and b.table_count == 0:
                    self._stop(FAILED, "the relay does not support multi-table snapshots")
                    return None
                return self._snapshot_failed(f"table_count {b.table_count}, asked for "
                                             f"{len(self.names)}", now)
            if b.table_index != index or (b.schema_name, b.table_name) != self.refs[index]:
                return self._snapshot_failed(f"table {b.table_index} {b.schema_name}."
                                             f"{b.table_name} where {index} was expected", now)
            head = (b.xmin, b.xmax, tuple(b.xip), b.position, b.group)
            if st is None:
                st = self._staged = dict(index=0, head=head, mirrors=[], schemas=[], seqs=[])
                self._pin_group(b.group)
            elif st["head"] != head:
                return self._snapshot_failed("tables of one snapshot with different "
                                             "snapshot headers", now)
            schema = pb.TableSchema()
            schema.CopyFrom(b.schema)
            st.update(open=True, rows=0)
            st["mirrors"].append(Mirror())
            st["schemas"].append(schema)
            st["seqs"].append(b.seq)
        elif kind == "snapshot_rows" and st is not None and st["open"]:
            mirror = st["mirrors"][-1]
            for row in reply.snapshot_rows.rows:
                st["rows"] += 1
                if mirror.apply(row):
                    self.stats["anomalies"] += 1
        elif kind == "snapshot_end" and st is not None and st["open"]:
            if reply.snapshot_end.row_count != st["rows"]:
                return self._snapshot_failed("row count differs", now)
            st["open"] = False
            st["index"] += 1
            if st["index"] == len(self.names):
                self._snapshot_done(st)
        elif kind == "error":
            self._on_snapshot_error(reply.error, now)
        return None

    def _pin_group(self, group):
        """From now on only Transactions of this group are taken; those held
        of another one go (this group's come live or by a replay of ".tx",
        served from the same snapshot endpoint)."""
        if self.group == group:
            return
        self.group = group
        buf = self.tx.buffer
        for q in [q for q, m in buf.items() if m.transaction.group != group]:
            del buf[q]
        self.tx.hwm = 0  # its cache assumes held numbers leave only as `last` passes them

    def _snapshot_failed(self, why, now):
        self.snap_id, self._staged = 0, None
        self.snap_retry_at = now + self.retry_delay
        self.why = why

    def _snapshot_done(self, st):
        xmin, xmax, xip, position, _ = st["head"]
        self.snap_id, self._staged = 0, None
        self.snapshot, self.snap_position = PgSnapshot(xmin, xmax, xip), position
        for i, name in enumerate(self.names):
            self.mirrors[name] = st["mirrors"][i]
            self.schemas[name] = st["schemas"][i]
            self.streams[name].reset(st["seqs"][i])
        self.tx.reset(position)
        for s in self.streams.values():
            s.attempts = 0
        rows = sum(len(m) for m in self.mirrors.values())
        self._set_state(LIVE, f"snapshot of {rows} rows at position {position}")

    def _on_snapshot_error(self, err, now):
        name = _code_name(err.code)
        why = f"{name}: {err.message}"
        if err.code == pb.MOVED:
            self.moved_to = f"{err.moved_to_schema}.{err.moved_to_table}"
            self._stop(MOVED, why)
            return
        self.snap_id, self._staged = 0, None
        if err.code in (pb.UNKNOWN_TABLE, pb.NOT_PUBLISHED, pb.FORBIDDEN, pb.TOO_LARGE,
                        pb.MALFORMED_REQUEST, pb.COLUMN_NOT_PUBLISHED):
            # Asking again soon cannot help; the view stays as it was.
            self._set_state(FAILED, why)
            self.snap_retry_at = now + self.slow_retry
        else:
            # Down, restarting or busy: ask again, less often each time.
            self.why = why
            self.snap_transient = min(self.snap_transient + 1, MAX_BACKOFF_STEPS)
            self.snap_retry_at = now + self.retry_delay * self.snap_transient

    def _on_replay_reply(self, s, reply, now):
        kind = reply.WhichOneof("kind")
        if kind == "replay_begin":
            s.transient = 0
        elif kind == "replay_messages":
            s.transient = 0
            for m in reply.replay_messages.messages:
                # Only what was asked: a relay must not fill the buffers
                # (nor announce seqs) by answering with other numbers.
                if s.replay_start < m.seq <= s.replay_end:
                    self._hold(s, m)
                else:
                    self.stats["unasked"] += 1
            self._advance()
        elif kind == "replay_end":
            s.pending_id = 0
            self._advance()
            if not self._synced() or s.wanted() <= s.contiguous():
                return
            if s.contiguous() > s.replay_start:
                s.attempts = 0
            s.attempts += 1
            if s.attempts >= self.max_replay_attempts:
                self._resync(f"replay does not fill the gap of {s.name}")
            else:
                s.retry_at = now + self.retry_delay
        elif kind == "error":
            s.pending_id = 0
            err = reply.error
            why = f"replay of {s.name} refused: {_code_name(err.code)}: {err.message}"
            if err.code == pb.MOVED:
                self.moved_to = f"{err.moved_to_schema}.{err.moved_to_table}"
                self._stop(MOVED, why)
                return
            if err.code in (pb.GONE, pb.UNKNOWN_TABLE, pb.NOT_PUBLISHED, pb.TOO_LARGE):
                self._resync(why)
            elif err.code in TRANSIENT_ERRORS:
                # The relay is down, restarting or busy and would not serve a
                # snapshot either: ask again, less often each time, never
                # resync for it (docs/protocol.md section 9, step 5).
                s.transient = min(s.transient + 1, MAX_BACKOFF_STEPS)
                s.retry_at = now + self.retry_delay * s.transient
            else:
                s.attempts += 1
                if s.attempts >= self.max_replay_attempts:
                    self._resync(why)
                else:
                    s.retry_at = now + self.retry_delay

    def on_request_failed(self, request_id, why, now):
        """The I/O gave up waiting for the replies of request_id."""
        err = pb.Reply(request_id=request_id)
        err.error.code, err.error.message = pb.UNAVAILABLE, why
        self.on_reply(err, now)


def _code_name(code):
    try:
        return pb.ErrorCode.Name(code)
    except ValueError:  # a code newer than this client
        return f"error {code}"
