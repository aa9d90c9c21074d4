-- Outbox rotation and cleanup by tablepub.maintain(consumed).
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE m (id int PRIMARY KEY);
SELECT tablepub.publish('m');
SHOW tablepub.retention;
SELECT tablepub.retention();
SELECT gen, since IS NOT NULL AS has_since, retired FROM tablepub.outbox_state ORDER BY gen;

-- nothing to do while generation 0 is young
SELECT * FROM tablepub.maintain(pg_current_snapshot());
INSERT INTO m SELECT generate_series(1, 10);
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;

-- generation 0 gets old: rotate to 1; new transactions write there
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 0;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT gen, since IS NOT NULL AS has_since, retired IS NOT NULL AS is_retired FROM tablepub.outbox_state ORDER BY gen;
INSERT INTO m SELECT generate_series(11, 15);
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;

-- generation 0 retired long ago, but the relay has not consumed it yet: kept
UPDATE tablepub.outbox_state SET retired = retired - interval '2 hours' WHERE gen = 0;
SELECT * FROM tablepub.maintain('1:1:'::pg_snapshot);
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
-- consumed: truncated
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
-- and again: nothing left to do
SELECT * FROM tablepub.maintain(pg_current_snapshot());

-- rotation goes round: 1 -> 2 -> 0
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 1;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
INSERT INTO m VALUES (16);
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 2;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT gen, retired IS NULL AS current FROM tablepub.outbox_state ORDER BY gen;
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
-- generation 1 still holds rows: no rotation into it
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 0;
SELECT * FROM tablepub.maintain('1:1:'::pg_snapshot);
SELECT gen, retired IS NULL AS current FROM tablepub.outbox_state ORDER BY gen;

-- a shorter retention setting applies at once
SET tablepub.retention = '90s';
SHOW tablepub.retention;
SELECT tablepub.retention();
RESET tablepub.retention;

-- maintain() needs read committed: it checks each partition after locking it
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
ROLLBACK;
-- the relay role may call it
SET ROLE tablepub_relay;
SELECT rotated FROM tablepub.maintain(pg_current_snapshot());
RESET ROLE;

-- amqp13: relay_maintain() cleans only up to the oldest position, the
-- relay's or a RabbitMQ sink's (tablepub.relay_amqp_position): a sink that
-- has not forwarded a retired partition's rows or a batch keeps them.
INSERT INTO m VALUES (100);
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE retired IS NULL;
SELECT rotated FROM tablepub.maintain('1:1:'::pg_snapshot);
UPDATE tablepub.outbox_state SET retired = retired - interval '2 hours' WHERE retired IS NOT NULL;
INSERT INTO tablepub.relay_batch (batch_id, prev, snap, created, done, outbox_format)
SELECT i, '1:1:', '1:1:', now() - interval '3 hours', now() - interval '3 hours', 2 FROM generate_series(3, 5) i;
UPDATE tablepub.relay_state SET consumed = pg_current_snapshot(), last_batch = 5;
INSERT INTO tablepub.relay_amqp_position (sink, last_batch, consumed) VALUES ('protobuf:test', 3, '1:1:');
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
SELECT truncated, batches_deleted FROM tablepub.relay_maintain();
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
SELECT array_agg(batch_id ORDER BY batch_id) AS batches FROM tablepub.relay_batch;
-- the sink caught up: everything the relay consumed goes
UPDATE tablepub.relay_amqp_position SET last_batch = 5, consumed = pg_current_snapshot();
SELECT array_length(truncated, 1) > 0 AS truncated_some, batches_deleted FROM tablepub.relay_maintain();
SELECT o.gen, count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) GROUP BY o.gen ORDER BY o.gen;
SELECT array_agg(batch_id ORDER BY batch_id) AS batches FROM tablepub.relay_batch;
DELETE FROM tablepub.relay_amqp_position;
DELETE FROM tablepub.relay_batch;

DROP EXTENSION tablepub;
DROP TABLE m;
