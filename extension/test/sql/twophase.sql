-- Two-phase commit: with tablepub.notify off a transaction can PREPARE, and its
-- changes appear when it is committed.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE tp2 (id int PRIMARY KEY, v text);
SELECT tablepub.publish('tp2');
TRUNCATE tablepub.outbox;

SHOW tablepub.notify;
-- NOTIFY was queued: PostgreSQL refuses to PREPARE
BEGIN;
INSERT INTO tp2 VALUES (1, 'notify on');
PREPARE TRANSACTION 'tp_notify';
SELECT count(*) FROM pg_prepared_xacts;
SELECT count(*) FROM tablepub.outbox;

SET tablepub.notify = off;
BEGIN;
INSERT INTO tp2 VALUES (2, 'prepared');
UPDATE tp2 SET v = 'prepared, updated' WHERE id = 2;
PREPARE TRANSACTION 'tp_quiet';
SELECT transaction::text AS prepared_xid FROM pg_prepared_xacts WHERE gid = 'tp_quiet' \gset
SELECT count(*) AS visible_before_commit FROM tablepub.outbox;
COMMIT PREPARED 'tp_quiet';
SELECT (txid::text::bigint % 4294967296)::text = :'prepared_xid' AS same_txid,
       tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
TRUNCATE tablepub.outbox;
BEGIN;
INSERT INTO tp2 VALUES (3, 'rolled back');
PREPARE TRANSACTION 'tp_rollback';
ROLLBACK PREPARED 'tp_rollback';
SELECT count(*) FROM tablepub.outbox;
RESET tablepub.notify;

-- NOTIFY once per transaction: also after a rolled-back savepoint held the first one
BEGIN;
SAVEPOINT a;
INSERT INTO tp2 VALUES (4, 'rolled back');
ROLLBACK TO a;
INSERT INTO tp2 VALUES (5, 'kept');
PREPARE TRANSACTION 'tp_notify_again';
SELECT count(*) FROM pg_prepared_xacts;

-- the settings
SET tablepub.notify = 'maybe';
SET tablepub.no_such_setting = 1;
SHOW tablepub.retention;

DROP EXTENSION tablepub;
DROP TABLE tp2;
