-- Capture cannot be bypassed: capture triggers fire ALWAYS (replica sessions,
-- logical replication apply), DDL that disables, drops or renames one is
-- refused, partition DDL and column retyping write RESYNC, tablepub.resync().
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
-- changes since the last call (SCHEMA by its op only, RESYNC with its reason), then forgotten
CREATE FUNCTION changes() RETURNS TABLE (tbl text, change text) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT CASE WHEN EXISTS (SELECT FROM pg_class WHERE oid = o.relid)
                THEN o.relid::regclass::text ELSE 'dropped table' END,
           CASE WHEN substring(o.change for 3) = '\x080732'::bytea
                THEN 'resync: ' || convert_from(substring(o.change from 5 for get_byte(o.change, 3)), 'UTF8')
                WHEN tablepub.decode_change(o.change)->>'op' = 'schema' THEN 'schema'
                ELSE tablepub.decode_change(o.change)::text END
      FROM tablepub.outbox o ORDER BY o.txid, o.pos;
    TRUNCATE tablepub.outbox;
END $$;
CREATE FUNCTION capture_triggers() RETURNS TABLE (rel regclass, tgname name, tgenabled "char") LANGUAGE sql AS $$
    SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
     WHERE tgfoid IN ('tablepub.capture_row()'::regprocedure, 'tablepub.capture_truncate()'::regprocedure)
     ORDER BY 1, 2 $$;
CREATE ROLE guard_owner;
CREATE ROLE guard_other;

CREATE TABLE g (id int PRIMARY KEY, v text);
ALTER TABLE g OWNER TO guard_owner;
SELECT tablepub.publish('g');
SELECT * FROM capture_triggers();
SELECT * FROM changes();

-- captured in a replica session (pg_restore, bulk loaders, logical replication apply)
SET session_replication_role = replica;
INSERT INTO g VALUES (1, 'replica');
UPDATE g SET v = 'replica 2' WHERE id = 1;
DELETE FROM g WHERE id = 1;
TRUNCATE g;
RESET session_replication_role;
SELECT * FROM changes();

-- the table's owner cannot switch capture off
SET ROLE guard_owner;
ALTER TABLE g DISABLE TRIGGER ALL;
ALTER TABLE g DISABLE TRIGGER USER;
ALTER TABLE g DISABLE TRIGGER tablepub_capture;
ALTER TABLE g DISABLE TRIGGER tablepub_capture_truncate;
ALTER TABLE g ENABLE TRIGGER tablepub_capture;
ALTER TABLE g ENABLE REPLICA TRIGGER tablepub_capture;
ALTER TABLE g ENABLE TRIGGER ALL;
ALTER TABLE g ENABLE TRIGGER USER;
ALTER TABLE g ENABLE REPLICA TRIGGER tablepub_capture_truncate;
DROP TRIGGER tablepub_capture ON g;
DROP TRIGGER tablepub_capture_truncate ON g;
ALTER TRIGGER tablepub_capture ON g RENAME TO other_name;
RESET ROLE;
SET session_replication_role = replica;
SET ROLE guard_owner;
ALTER TABLE g DISABLE TRIGGER ALL;
RESET ROLE;
RESET session_replication_role;
-- in a transaction: refused at once, nothing disabled
BEGIN;
ALTER TABLE g DISABLE TRIGGER ALL;
ROLLBACK;
SELECT * FROM capture_triggers();
-- ENABLE ALWAYS is what it is; other triggers can still be disabled by name
ALTER TABLE g ENABLE ALWAYS TRIGGER tablepub_capture;
CREATE FUNCTION g_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER g_other BEFORE INSERT ON g FOR EACH ROW EXECUTE FUNCTION g_noop();
ALTER TABLE g DISABLE TRIGGER g_other;
DROP TRIGGER g_other ON g;
SELECT * FROM changes();
-- unpublish is the way to stop capture
SELECT tablepub.unpublish('g');
ALTER TABLE g DISABLE TRIGGER ALL;
SELECT * FROM capture_triggers();
SELECT * FROM changes();

-- partitions: every capture trigger of the tree fires ALWAYS
CREATE TABLE pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (10);
SELECT tablepub.publish('pt');
CREATE TABLE pt_2 PARTITION OF pt FOR VALUES FROM (10) TO (20) PARTITION BY RANGE (id);
CREATE TABLE pt_2a PARTITION OF pt_2 FOR VALUES FROM (10) TO (15);
SELECT * FROM capture_triggers();
ALTER TABLE pt DISABLE TRIGGER ALL;
ALTER TABLE pt_1 DISABLE TRIGGER ALL;
ALTER TABLE pt_2a DISABLE TRIGGER tablepub_capture_truncate;
ALTER TABLE pt_2 ENABLE REPLICA TRIGGER tablepub_capture;
DROP TRIGGER tablepub_capture_truncate ON pt_2a;
SELECT * FROM changes();
-- ATTACH: an empty partition needs no resync, one with rows does
CREATE TABLE pt_3 (id int PRIMARY KEY, v text);
ALTER TABLE pt ATTACH PARTITION pt_3 FOR VALUES FROM (20) TO (30);
CREATE TABLE pt_4 (id int PRIMARY KEY, v text);
INSERT INTO pt_4 VALUES (30, 'came with pt_4');
ALTER TABLE pt ATTACH PARTITION pt_4 FOR VALUES FROM (30) TO (40);
SELECT * FROM capture_triggers() WHERE rel::text LIKE 'pt\__' ESCAPE '\';
SELECT * FROM changes();
-- a TRUNCATE trigger left on a table by an older version is replaced on ATTACH
CREATE TABLE pt_old (id int PRIMARY KEY, v text);
DO $$
BEGIN
    EXECUTE format('CREATE TRIGGER tablepub_capture_truncate BEFORE TRUNCATE ON pt_old'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate(%L)', 'pt'::regclass::oid);
END $$;
ALTER TABLE pt ATTACH PARTITION pt_old FOR VALUES FROM (90) TO (100);
SELECT * FROM capture_triggers() WHERE rel = 'pt_old'::regclass;
ALTER TABLE pt DETACH PARTITION pt_old;
DROP TABLE pt_old;
TRUNCATE tablepub.outbox;
-- partition names resolve with the caller's search_path
CREATE SCHEMA other;
CREATE TABLE other.pt_5 (id int PRIMARY KEY, v text);
INSERT INTO other.pt_5 VALUES (40, 'came with other.pt_5');
CREATE TABLE pt_5 (id int PRIMARY KEY, v text);
SET search_path = other, public;
ALTER TABLE pt ATTACH PARTITION pt_5 FOR VALUES FROM (40) TO (50);
RESET search_path;
SELECT * FROM changes();
ALTER TABLE pt DETACH PARTITION other.pt_5;
SELECT * FROM changes();
-- DETACH: rows leave; the detached table keeps no capture trigger
ALTER TABLE pt DETACH PARTITION pt_3;
ALTER TABLE pt DETACH PARTITION pt_4;
SELECT * FROM capture_triggers() WHERE rel::text IN ('pt_3', 'pt_4');
SELECT * FROM changes();
ALTER TABLE pt ATTACH PARTITION pt_4 FOR VALUES FROM (30) TO (40);
ALTER TABLE pt DETACH PARTITION pt_4 CONCURRENTLY;
SELECT * FROM changes();
-- outside READ COMMITTED the emptiness check cannot be trusted: always resync
BEGIN ISOLATION LEVEL REPEATABLE READ;
ALTER TABLE pt ATTACH PARTITION pt_3 FOR VALUES FROM (20) TO (30);
COMMIT;
SELECT * FROM changes();
-- DROP of a partition, by name or by cascade
INSERT INTO pt VALUES (1, 'a'), (11, 'b');
TRUNCATE tablepub.outbox;
DROP TABLE pt_3;
DROP TABLE pt_2;
SELECT * FROM changes();
CREATE TABLE other.pt_6 PARTITION OF pt FOR VALUES FROM (60) TO (70);
DROP SCHEMA other CASCADE;
SELECT * FROM changes();
-- a detached table is a table like any other
DROP TABLE pt_4;
SELECT * FROM changes();
-- retyping a published column may change every value: resync; an excluded one: nothing
CREATE TABLE num (id int PRIMARY KEY, amount numeric(10,2), secret numeric(10,2));
SELECT tablepub.publish('num', exclude_columns => '{secret}');
TRUNCATE tablepub.outbox;
ALTER TABLE num ALTER COLUMN amount TYPE numeric(10,1);
ALTER TABLE num ALTER COLUMN secret TYPE numeric(10,1);
SELECT * FROM changes();
-- renaming an enum value changes every stored value of it (also in arrays,
-- domains, ranges of it, composites): resync the tables that publish it
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN mood_d AS mood;
CREATE TYPE mood_pair AS (a mood, b int);
CREATE TABLE e1 (id int PRIMARY KEY, m mood);
CREATE TABLE e2 (id int PRIMARY KEY, ms mood_d[]);
CREATE TABLE e3 (id int PRIMARY KEY, p mood_pair);
CREATE TABLE e4 (id int PRIMARY KEY, m mood);
SELECT tablepub.publish('e1'), tablepub.publish('e2'), tablepub.publish('e3'),
       tablepub.publish('e4', exclude_columns => '{m}');
TRUNCATE tablepub.outbox;
ALTER TYPE mood ADD VALUE 'glad';
ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';
SELECT * FROM changes();
DROP TABLE e1, e2, e3, e4;
DROP TYPE mood_pair, mood_d, mood;
TRUNCATE tablepub.outbox;
-- crash recovery empties unlogged tables without a trace: refused
CREATE UNLOGGED TABLE unl (id int PRIMARY KEY);
SELECT tablepub.publish('unl');
ALTER TABLE num SET UNLOGGED;
CREATE UNLOGGED TABLE pt_u PARTITION OF pt FOR VALUES FROM (70) TO (80);
CREATE UNLOGGED TABLE pt_u (id int PRIMARY KEY, v text);
ALTER TABLE pt ATTACH PARTITION pt_u FOR VALUES FROM (70) TO (80);
DROP TABLE unl, pt_u;
SELECT * FROM changes();
-- dropping the published table: only UNPUBLISH
DROP TABLE pt;
SELECT * FROM changes();

-- tablepub.resync(): the operator's way to make subscribers take a new snapshot
ALTER TABLE num OWNER TO guard_owner;
SET ROLE guard_owner;
SELECT tablepub.resync('num', 'restored from backup');
SET ROLE guard_other;
SELECT tablepub.resync('num', 'not mine');
RESET ROLE;
SELECT tablepub.resync('g', 'not published');
SELECT tablepub.resync('num', NULL);
SELECT tablepub.resync('num', '');
SELECT tablepub.resync('num', repeat('x', 1001));
SELECT * FROM changes();

DROP EXTENSION tablepub;
DROP FUNCTION changes(), capture_triggers(), g_noop() CASCADE;
DROP TABLE g, num, pt_5;
DROP ROLE guard_owner, guard_other;
