"""Pure synchronisation logic (no I/O): docs/protocol.md sections 8 and 9."""

import itertools

import tablepub_pb2 as pb

from .callback_error import CallbackError

# Answers that say "not now" rather than "never": the relay (or its
# database) is down, restarting or busy.
TRANSIENT_ERRORS = (pb.UNAVAILABLE, pb.BUSY, pb.TIMEOUT)
# A replay that keeps getting them is retried every retry_delay times the
# number of such answers in a row, at most this many times retry_delay.
MAX_BACKOFF_STEPS = 10

_request_ids = itertools.count(1)


class PgSnapshot:
    """A transaction snapshot (xmin, xmax, xip) and the visibility rule."""

    def __init__(self, xmin, xmax, xip=()):
        self.xmin, self.xmax, self.xip = xmin, xmax, frozenset(xip)

    @classmethod
    def from_begin(cls, begin):
        return cls(begin.xmin, begin.xmax, begin.xip)

    def visible(self, txid):
        """True when a change of transaction txid is contained in the snapshot."""
        if txid < self.xmin:
            return True
        if txid >= self.xmax:
            return False
        return txid not in self.xip


def encode_key(columns):
    """Canonical, hashable form of a primary key: (name, serialized value) sorted."""
    return tuple(sorted((c.name, c.value.SerializeToString()) for c in columns))


def value_to_python(v):
    """A tablepub.v1.Value as a plain Python value (typed as far as JSON allows)."""
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    if kind == "interval":
        return {"months": v.interval.months, "days": v.interval.days,
                "microseconds": v.interval.microseconds}
    if kind in ("binary", "uuid"):
        return getattr(v, kind).hex()
    # raw_text (SQL_ASCII bytes that are not UTF-8) stays bytes: never
    # guess an encoding; str and bytes keep text and raw text apart.
    return getattr(v, kind)


class Mirror:
    """Rows of one table keyed by primary key; each row maps column -> Value."""

    def __init__(self):
        self.rows = {}

    def __len__(self):
        return len(self.rows)

    def apply(self, change):
        """Applies a data change; returns None, or a string naming an anomaly."""
        op = change.op
        if op == pb.TRUNCATE:
            self.rows.clear()
            return None
        if op not in (pb.INSERT, pb.UPDATE, pb.DELETE):
            return None
        if not change.key:
            return "change without a key"
        key = encode_key(change.key)
        if op == pb.INSERT:
            anomaly = "insert of an existing key" if key in self.rows else None
            row = {c.name: c.value for c in change.values}
            row.update({c.name: c.value for c in change.key})
            self.rows[key] = row
            return anomaly
        if op == pb.DELETE:
            if self.rows.pop(key, None) is None:
                return "delete of a missing key"
            return None
        old = encode_key(change.old_key) if change.old_key else key
        row = self.rows.pop(old, None)
        anomaly = None
        if row is None:
            anomaly, row = "update of a missing key", {}
        row.update({c.name: c.value for c in change.values})
        row.update({c.name: c.value for c in change.key})
        if old != key and key in self.rows:
            anomaly = "key change onto an existing key"
        self.rows[key] = row
        return anomaly

    def drop_columns(self, names):
        for row in self.rows.values():
            for n in names:
                row.pop(n, None)

    def as_dicts(self):
        """Every row as {column: python value}."""
        return [{k: value_to_python(v) for k, v in row.items()} for row in self.rows.values()]


SYNCING, LIVE, REPLAYING, RESYNCING, UNPUBLISHED, MOVED, FAILED = (
    "syncing", "live", "replaying", "resyncing", "unpublished", "moved", "failed")


class TableSync:
    """One table: snapshot + deltas, duplicates, gaps, replay, resync.

    Feed it stream messages (on_message), replies (on_reply) and time (tick);
    send the requests take_request() returns. Times are float seconds.
    `state` and `why` say where the table stands (on_state(table, old, new,
    why) is called on every change); in state MOVED, `moved_to` names the
    table's topic now.
    """

    def __init__(self, schema_name, table_name, on_change=None, max_buffered=1_000_000,
                 retry_delay=0.5, unpublished_retry=5.0, max_replay_attempts=5,
                 on_state=None, stale_heartbeats=3):
        self.schema_name, self.table_name = schema_name, table_name
        self.name = f"{schema_name}.{table_name}"
        self.on_change, self.on_state = on_change, on_state
        self.callbacks = CallbackError()
        self.stale_heartbeats = stale_heartbeats
        self.moved_to = ""
        self.heartbeat_interval = 0.0
        self.last_heard = 0.0
        self.max_buffered = max_buffered
        self.retry_delay, self.unpublished_retry = retry_delay, unpublished_retry
        self.max_replay_attempts = max_replay_attempts
        self.state = SYNCING
        self.why = ""
        self.mirror = Mirror()
        self.schema = pb.TableSchema()
        self.schema_seq = 0
        self.snapshot = None
        self.last_seq = 0
        self.latest_seq = 0
        self.buffer = {}
        self.pending = None          # "snapshot" | "replay" | None
        self.pending_id = 0
        self.outbox = None
        self.retry_at = None
        self.retry_what = None
        self.replay_attempts = 0
        self.transient_failures = 0
        self.replay_start = 0
        self.snap_begun = False
        self.snap_seq = 0
        self.snap_rows = 0
        self.stats = dict(applied=0, skipped_visible=0, duplicates=0, gaps=0, replays=0,
                          resyncs=0, anomalies=0, dropped=0, resync_markers=0)

    # -- requests ---------------------------------------------------------
    def start(self, now=0.0):
        self.last_heard = now
        self._request_snapshot()

    def take_request(self):
        req, self.outbox = self.outbox, None
        return req

    def _set_state(self, state, why=""):
        old, self.state, self.why = self.state, state, why
        if old != state:
            self.callbacks.call(self.on_state, self, old, state, why)

    def _stop_following(self, state, why):
        """Abandons any request in progress or scheduled and waits in `state`."""
        self.pending, self.pending_id, self.outbox = None, 0, None
        self.retry_at = self.retry_what = None
        self._set_state(state, why)

    def _move(self, to, why):
        # Snapshot and replay under the old name would only answer MOVED: ask
        # nothing; the rows stay as they were at the rename.
        self.moved_to = to
        self._stop_following(MOVED, why)

    def stale(self, now):
        """No message or heartbeat for stale_heartbeats intervals (never while
        unpublished or moved: then silence is expected)."""
        if not self.heartbeat_interval or self.state in (UNPUBLISHED, MOVED):
            return False
        return now - self.last_heard > self.heartbeat_interval * self.stale_heartbeats

    def _request_snapshot(self):
        self.pending, self.pending_id = "snapshot", next(_request_ids)
        self.retry_at, self.snap_begun = None, False
        req = pb.Request(request_id=self.pending_id)
        req.snapshot.schema_name = self.schema_name
        req.snapshot.table_name = self.table_name
        self.outbox = req

    def _request_replay(self):
        frm = self.last_seq + 1
        to = min(self.buffer) - 1 if self.buffer else self.latest_seq
        self.pending, self.pending_id = "replay", next(_request_ids)
        self.retry_at, self.replay_start = None, self.last_seq
        self.stats["replays"] += 1
        req = pb.Request(request_id=self.pending_id)
        req.replay.schema_name = self.schema_name
        req.replay.table_name = self.table_name
        req.replay.from_seq = frm
        req.replay.to_seq = to if to >= frm else 0
        self.outbox = req

    def _resync(self, why):
        self.stats["resyncs"] += 1
        self.latest_seq = 0
        self.moved_to = ""
        self._set_state(RESYNCING, why)
        self._request_snapshot()

    def _retry_later(self, what, delay, now):
        self.pending, self.pending_id = None, 0
        self.retry_what, self.retry_at = what, now + delay

    def tick(self, now):
        if self.retry_at is None or now < self.retry_at:
            return
        self.retry_at = None
        if self.retry_what == "snapshot":
            self._request_snapshot()
        elif self.retry_what == "replay" and self.state == REPLAYING:
            if not self.buffer and self.latest_seq <= self.last_seq:
                self._set_state(LIVE, "nothing missing any more")
            else:
                self._request_replay()

    # -- the stream -------------------------------------------------------
    def _in_order(self):
        return self.state in (LIVE, REPLAYING)

    def _buffer(self, msg):
        if self._in_order() and msg.seq <= self.last_seq:
            self.stats["duplicates"] += 1
        elif len(self.buffer) >= self.max_buffered and msg.seq not in self.buffer:
            self.stats["dropped"] += 1
        else:
            self.buffer.setdefault(msg.seq, msg)

    def on_message(self, msg, now=0.0):
        if (msg.schema_name, msg.table_name) != (self.schema_name, self.table_name):
            # Another table on the same topic: s."t.u" and "s.t".u are both
            # "s.t.u" (docs/protocol.md section 2).
            return
        self.last_heard = now
        if msg.HasField("heartbeat"):
            self._on_heartbeat(msg)
            return
        self.latest_seq = max(self.latest_seq, msg.seq)
        if self.state == LIVE:
            self._deliver(msg)
        elif self.state == UNPUBLISHED:
            if self.pending is None:
                self._resync("the table is published again")
        elif self.state == MOVED:
            # Renamed back, or another table took the name.
            if self.pending is None:
                self._resync("a table publishes under this name again")
        elif self.state != FAILED:
            self._buffer(msg)

    def _on_heartbeat(self, msg):
        hb, seq = msg.heartbeat, msg.seq
        self.heartbeat_interval = hb.interval_ms / 1000.0
        if hb.moved_to_table:
            # seq is the SCHEMA message on the new topic: not lag here.
            to = f"{hb.moved_to_schema}.{hb.moved_to_table}"
            if self.state != MOVED or self.moved_to != to:
                self._move(to, f"the table was renamed to {to}")
            return
        if self.state in (UNPUBLISHED, MOVED) and not hb.unpublished:
            # Only published tables have plain heartbeats; one beyond anything
            # announced means the SCHEMA that started it again was missed.
            if seq > max(self.last_seq, self.latest_seq) and self.pending is None \
                    and self.retry_at is None:
                self._resync("the relay publishes the table again")
            return
        self.latest_seq = max(self.latest_seq, seq)
        if hb.unpublished:
            if self.state != UNPUBLISHED:
                # The UNPUBLISH itself was missed (or we are joining): same effect.
                self.mirror.rows.clear()
                self.schema = pb.TableSchema()
                self.last_seq = max(self.last_seq, seq)
                self._stop_following(UNPUBLISHED, "the relay reports the table unpublished")
            return
        if self.state == LIVE and seq > self.last_seq and not self.buffer \
                and self.pending is None:
            self.stats["gaps"] += 1
            self._set_state(REPLAYING, f"heartbeat announces seq {seq}")
            self.replay_attempts = 0
            self.transient_failures = 0
            self._request_replay()

    def _deliver(self, msg):
        if msg.seq <= self.last_seq:
            self.stats["duplicates"] += 1
        elif msg.seq == self.last_seq + 1:
            self._apply(msg)
            self._drain()
        else:
            self._buffer(msg)
            self.stats["gaps"] += 1
            self._set_state(REPLAYING, f"gap: expected {self.last_seq + 1}, got {msg.seq}")
            self.replay_attempts = 0
            self.transient_failures = 0
            self._request_replay()

    def _drain(self):
        while self._in_order() and self.buffer:
            first = min(self.buffer)
            if first <= self.last_seq:
                del self.buffer[first]
            elif first == self.last_seq + 1:
                self._apply(self.buffer.pop(first))
            else:
                break

    def _apply(self, msg):
        self.last_seq = msg.seq
        if not msg.HasField("change"):
            return
        ch = msg.change
        if self.snapshot is not None and self.snapshot.visible(msg.txid):
            # Already in the snapshot's rows (the relay may lag the database).
            self.stats["skipped_visible"] += 1
            if ch.op == pb.SCHEMA:
                self.schema.CopyFrom(ch.schema)
                self.schema_seq = msg.seq
            return
        self.stats["applied"] += 1
        self.callbacks.call(self.on_change, self, msg)
        if ch.op == pb.SCHEMA:
            self._apply_schema(ch.schema, msg.seq)
        elif ch.op == pb.UNPUBLISH:
            self.mirror.rows.clear()
            self.schema = pb.TableSchema()
            self._set_state(UNPUBLISHED, "the table was unpublished")
        elif ch.op == pb.RESYNC:
            # The rows changed in a way no row change says; not an anomaly.
            self.stats["resync_markers"] += 1
            self.mirror.rows.clear()
            self._resync(f"the relay asks for a resync at seq {msg.seq}: {ch.reason}")
        else:
            anomaly = self.mirror.apply(ch)
            if anomaly:
                self.stats["anomalies"] += 1
                self._resync(f"seq {msg.seq}: {anomaly}")

    def _apply_schema(self, new, seq):
        old = {c.name: c for c in self.schema.columns}
        subset = bool(old) and all(
            c.name in old and old[c.name].type_oid == c.type_oid
            and old[c.name].key_position == c.key_position for c in new.columns)
        if not subset:
            self._resync(f"schema of seq {seq} adds or changes columns")
            return
        self.mirror.drop_columns(set(old) - {c.name for c in new.columns})
        self.schema.CopyFrom(new)
        self.schema_seq = seq

    # -- replies ----------------------------------------------------------
    def on_reply(self, reply, now=0.0):
        if reply.request_id == 0 or reply.request_id != self.pending_id:
            return
        kind = reply.WhichOneof("kind")
        if kind == "snapshot_begin" and self.pending == "snapshot" and not self.snap_begun:
            b = reply.snapshot_begin
            self.snap_begun = True
            self.snapshot = PgSnapshot.from_begin(b)
            self.schema.CopyFrom(b.schema)
            self.schema_seq, self.snap_seq, self.snap_rows = b.schema_seq, b.seq, 0
            self.mirror.rows.clear()
        elif kind == "snapshot_rows" and self.pending == "snapshot" and self.snap_begun:
            for row in reply.snapshot_rows.rows:
                self.snap_rows += 1
                if self.mirror.apply(row):
                    self.stats["anomalies"] += 1
        elif kind == "snapshot_end" and self.pending == "snapshot" and self.snap_begun:
            self.pending, self.pending_id = None, 0
            if reply.snapshot_end.row_count != self.snap_rows:
                self._retry_later("snapshot", self.retry_delay, now)
                return
            self.last_seq = self.snap_seq
            self._set_state(LIVE, f"snapshot of {self.snap_rows} rows at seq {self.snap_seq}")
            self._drain()
            self._check_complete()
        elif kind == "replay_begin" and self.pending == "replay":
            self.transient_failures = 0
        elif kind == "replay_messages" and self.pending == "replay":
            for m in reply.replay_messages.messages:
                self.latest_seq = max(self.latest_seq, m.seq)
                if not self._in_order():
                    self._buffer(m)
                elif m.seq <= self.last_seq:
                    self.stats["duplicates"] += 1
                elif m.seq == self.last_seq + 1:
                    self._apply(m)
                    self._drain()
                else:
                    self._buffer(m)
        elif kind == "replay_end" and self.pending == "replay":
            self.pending, self.pending_id = None, 0
            self._drain()
            if self.state != REPLAYING:
                return
            if not self.buffer and self.latest_seq <= self.last_seq:
                self._set_state(LIVE, f"gap filled up to seq {self.last_seq}")
                return
            if self.last_seq > self.replay_start:
                self.replay_attempts = 0
                self.transient_failures = 0
            self.replay_attempts += 1
            if self.replay_attempts >= self.max_replay_attempts:
                self._resync("replay does not fill the gap")
            else:
                self._retry_later("replay", self.retry_delay, now)
        elif kind == "error":
            self._on_error(reply.error, now)

    def _check_complete(self):
        if self.state == LIVE and self.pending is None and (
                self.buffer or self.latest_seq > self.last_seq):
            self.stats["gaps"] += 1
            self._set_state(REPLAYING, f"missing seq {self.last_seq + 1} onwards")
            self.replay_attempts = 0
            self.transient_failures = 0
            self._request_replay()

    def _on_error(self, err, now):
        what = self.pending
        try:
            name = pb.ErrorCode.Name(err.code)
        except ValueError:  # a code newer than this client
            name = f"error {err.code}"
        why = f"{name}: {err.message}"
        if what is None:
            return
        if err.code == pb.MOVED:
            to = f"{err.moved_to_schema}.{err.moved_to_table}" if err.moved_to_table else ""
            self._move(to, why)
            return
        if err.code == pb.FORBIDDEN or (err.code == pb.TOO_LARGE and what == "snapshot"):
            # Asking again soon cannot help: the key's rights or the row must change.
            self._set_state(FAILED, why)
            self._retry_later("snapshot", self.unpublished_retry, now)
            return
        if what == "snapshot":
            if err.code in (pb.UNKNOWN_TABLE, pb.NOT_PUBLISHED):
                self.mirror.rows.clear()
                self._set_state(UNPUBLISHED, why)
                self._retry_later("snapshot", self.unpublished_retry, now)
            elif err.code in (pb.MALFORMED_REQUEST, pb.COLUMN_NOT_PUBLISHED):
                self._set_state(FAILED, why)
                self._retry_later("snapshot", self.unpublished_retry, now)
            else:
                self._retry_later("snapshot", self.retry_delay, now)
        elif what == "replay":
            # TOO_LARGE: the snapshot has the row as it is now, which may fit.
            if err.code in (pb.GONE, pb.UNKNOWN_TABLE, pb.NOT_PUBLISHED, pb.TOO_LARGE):
                self._resync("replay refused: " + why)
            elif err.code in TRANSIENT_ERRORS:
                # The relay is down, restarting or busy and would not serve a
                # snapshot either: keep asking, less often each time, without
                # counting it (giving up turned slow relay restarts into
                # resyncs).
                self.transient_failures = min(self.transient_failures + 1, MAX_BACKOFF_STEPS)
                self._retry_later("replay", self.retry_delay * self.transient_failures, now)
            else:
                self.replay_attempts += 1
                if self.replay_attempts >= self.max_replay_attempts:
                    self._resync("replay refused: " + why)
                else:
                    self._retry_later("replay", self.retry_delay, now)

    def on_request_failed(self, request_id, why, now):
        if request_id and request_id == self.pending_id:
            self._on_error(pb.Error(code=pb.UNAVAILABLE, message=why), now)

    def recheck(self, why):
        """The stream may have lost its latest messages with nothing later to
        show it (a RabbitMQ queue declared again after a reconnect; RabbitMQ
        carries no heartbeats): replay from last + 1 to whatever the relay has."""
        if self.state == LIVE and self.pending is None:
            self._set_state(REPLAYING, why)
            self.replay_attempts = 0
            self.transient_failures = 0
            self._request_replay()

    @property
    def lag(self):
        return max(0, self.latest_seq - self.last_seq)
