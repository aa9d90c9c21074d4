-- Two-phase commit and the NOTIFY throttle: PREPARE never notifies (so it
-- works with tablepub.notify on), the changes appear at COMMIT PREPARED; a
-- session sends at most one NOTIFY per tablepub.notify_interval.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE tp2 (id int PRIMARY KEY, v text);
SELECT tablepub.publish('tp2');
TRUNCATE tablepub.outbox;

SHOW tablepub.notify;
SHOW tablepub.notify_interval;
-- notify on: PREPARE succeeds, nothing is visible until COMMIT PREPARED
BEGIN;
INSERT INTO tp2 VALUES (1, 'notify on');
UPDATE tp2 SET v = 'notify on, updated' WHERE id = 1;
PREPARE TRANSACTION 'tp_notify';
SELECT transaction::text AS prepared_xid FROM pg_prepared_xacts WHERE gid = 'tp_notify' \gset
SELECT count(*) AS visible_before_commit FROM tablepub.outbox;
COMMIT PREPARED 'tp_notify';
SELECT (txid::text::bigint % 4294967296)::text = :'prepared_xid' AS same_txid,
       tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
TRUNCATE tablepub.outbox;

-- notify off: the same
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

-- a rolled-back savepoint, then PREPARE with notify on
BEGIN;
SAVEPOINT a;
INSERT INTO tp2 VALUES (4, 'rolled back');
ROLLBACK TO a;
INSERT INTO tp2 VALUES (5, 'kept');
PREPARE TRANSACTION 'tp_savepoint';
COMMIT PREPARED 'tp_savepoint';
SELECT tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
TRUNCATE tablepub.outbox;

-- The throttle. psql prints one "Asynchronous notification" line per
-- notification this session receives; \o pipes them into grep -c. A new
-- session has sent none yet, so its first capturing commit notifies.
\c
SET client_min_messages = warning;
LISTEN tablepub;
SET tablepub.notify_interval = '100s';
\o | grep -c 'Asynchronous notification "tablepub"'
INSERT INTO tp2 VALUES (10, 'a');
INSERT INTO tp2 VALUES (11, 'b');
BEGIN;
UPDATE tp2 SET v = 'c' WHERE id = 10;
COMMIT;
DELETE FROM tp2 WHERE id = 11;
INSERT INTO tp2 VALUES (12, 'd');
\o
-- every transaction notifies with 0; a transaction that captured nothing never does
SET tablepub.notify_interval = 0;
\o | grep -c 'Asynchronous notification "tablepub"'
INSERT INTO tp2 VALUES (13, 'e');
INSERT INTO tp2 VALUES (14, 'f');
UPDATE tp2 SET v = v WHERE id = 14;
SELECT count(*) FROM tp2;
BEGIN;
DELETE FROM tp2 WHERE id = 13;
COMMIT;
\o
-- off: none
SET tablepub.notify = off;
\o | grep -c 'Asynchronous notification "tablepub"'
INSERT INTO tp2 VALUES (15, 'g');
INSERT INTO tp2 VALUES (16, 'h');
\o
RESET tablepub.notify;
UNLISTEN tablepub;

-- the settings
SET tablepub.notify = 'maybe';
SET tablepub.notify_interval = -1;
SET tablepub.notify_interval = '20ms';
SHOW tablepub.notify_interval;
SET tablepub.no_such_setting = 1;
SHOW tablepub.retention;

DROP EXTENSION tablepub;
DROP TABLE tp2;
