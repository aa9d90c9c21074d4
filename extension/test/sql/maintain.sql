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
SELECT gen, count(*) FROM tablepub.outbox GROUP BY gen ORDER BY gen;

-- generation 0 gets old: rotate to 1; new transactions write there
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 0;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT gen, since IS NOT NULL AS has_since, retired IS NOT NULL AS is_retired FROM tablepub.outbox_state ORDER BY gen;
INSERT INTO m SELECT generate_series(11, 15);
SELECT gen, count(*) FROM tablepub.outbox GROUP BY gen ORDER BY gen;

-- generation 0 retired long ago, but the relay has not consumed it yet: kept
UPDATE tablepub.outbox_state SET retired = retired - interval '2 hours' WHERE gen = 0;
SELECT * FROM tablepub.maintain('1:1:'::pg_snapshot);
SELECT gen, count(*) FROM tablepub.outbox GROUP BY gen ORDER BY gen;
-- consumed: truncated
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT gen, count(*) FROM tablepub.outbox GROUP BY gen ORDER BY gen;
-- and again: nothing left to do
SELECT * FROM tablepub.maintain(pg_current_snapshot());

-- rotation goes round: 1 -> 2 -> 0
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 1;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
INSERT INTO m VALUES (16);
UPDATE tablepub.outbox_state SET since = since - interval '2 hours' WHERE gen = 2;
SELECT * FROM tablepub.maintain(pg_current_snapshot());
SELECT gen, retired IS NULL AS current FROM tablepub.outbox_state ORDER BY gen;
SELECT gen, count(*) FROM tablepub.outbox GROUP BY gen ORDER BY gen;
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

DROP EXTENSION tablepub;
DROP TABLE m;
