-- A logical replication apply worker writing into a published table is
-- captured (the capture triggers are ENABLE ALWAYS; the worker runs with
-- session_replication_role = replica). Needs wal_level = logical (run.sh).
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE DATABASE tablepub_lr_source;
\c tablepub_lr_source
SET client_min_messages = warning;
CREATE TABLE lr (id int PRIMARY KEY, v text);
CREATE PUBLICATION lr_pub FOR TABLE lr;
-- a slot made here: CREATE SUBSCRIPTION cannot create one in its own cluster
SELECT slot_name FROM pg_create_logical_replication_slot('tablepub_lr_slot', 'pgoutput');

\c tablepub_regress
SET client_min_messages = warning;
CREATE EXTENSION tablepub;
CREATE TABLE lr (id int PRIMARY KEY, v text);
SELECT tablepub.publish('lr');
TRUNCATE tablepub.outbox;
DO $$
BEGIN
    EXECUTE format('CREATE SUBSCRIPTION lr_sub CONNECTION %L PUBLICATION lr_pub'
                   ' WITH (create_slot = false, slot_name = tablepub_lr_slot, copy_data = false)',
                   format('host=%s port=%s dbname=tablepub_lr_source',
                          split_part(current_setting('unix_socket_directories'), ',', 1),
                          current_setting('port')));
END $$;

\c tablepub_lr_source
INSERT INTO lr VALUES (1, 'a'), (2, 'b');
UPDATE lr SET v = 'c' WHERE id = 1;
DELETE FROM lr WHERE id = 2;
TRUNCATE lr;
INSERT INTO lr VALUES (3, 'last');

\c tablepub_regress
SET client_min_messages = warning;
-- wait until the apply worker has applied the last insert (at most 60 s);
-- each look in its own transaction, whose lock on lr would otherwise keep
-- the worker's TRUNCATE waiting
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN EXISTS (SELECT FROM lr WHERE id = 3);
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT * FROM lr;
SELECT d.c AS decode_change FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n)
 ORDER BY o.txid, o.pos, d.n;

ALTER SUBSCRIPTION lr_sub DISABLE;
ALTER SUBSCRIPTION lr_sub SET (slot_name = NONE);
DROP SUBSCRIPTION lr_sub;
DROP EXTENSION tablepub;
DROP TABLE lr;
-- the walsender lets go of the slot once the worker is gone (at most 60 s)
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM pg_replication_slots
                               WHERE slot_name = 'tablepub_lr_slot' AND active);
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT pg_drop_replication_slot('tablepub_lr_slot');
DROP DATABASE tablepub_lr_source WITH (FORCE);
