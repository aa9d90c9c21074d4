-- Dropping a published table unpublishes it; DROP EXTENSION leaves nothing behind.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE d1 (id int PRIMARY KEY);
CREATE TABLE d2 (id int PRIMARY KEY, v text);
CREATE SCHEMA gone;
CREATE TABLE gone.d3 (id int PRIMARY KEY);
CREATE TABLE dp (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE dp_1 PARTITION OF dp FOR VALUES FROM (0) TO (100);
SELECT tablepub.publish('d1');
SELECT tablepub.publish('d2');
SELECT tablepub.publish('gone.d3');
SELECT tablepub.publish('dp');
TRUNCATE tablepub.outbox;

DROP TABLE d1;
SELECT "table" FROM tablepub.publications ORDER BY 1;
SELECT tablepub.decode_change(change) FROM tablepub.outbox;
DROP SCHEMA gone CASCADE;
SELECT "table" FROM tablepub.publications ORDER BY 1;
SELECT count(*) FROM tablepub.outbox;
-- dropping a partition keeps the parent published
DROP TABLE dp_1;
SELECT "table" FROM tablepub.publications ORDER BY 1;
CREATE TABLE dp_2 PARTITION OF dp FOR VALUES FROM (100) TO (200);
TRUNCATE tablepub.outbox;

-- DROP EXTENSION rolled back keeps everything
BEGIN;
DROP EXTENSION tablepub;
ROLLBACK;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE 'tablepub%' ORDER BY 1, 2;
-- dropping another extension leaves tablepub alone
CREATE EXTENSION IF NOT EXISTS plpgsql;
DROP EXTENSION IF EXISTS no_such_extension;
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'tablepub%';

-- DROP EXTENSION needs no CASCADE and leaves nothing
DROP EXTENSION tablepub;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname LIKE 'tablepub%';
SELECT count(*) AS event_triggers FROM pg_event_trigger;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'tablepub';
SELECT count(*) AS functions FROM pg_proc WHERE probin LIKE '%tablepub%';
SELECT count(*) AS opclasses FROM pg_opclass WHERE opcname = 'xid8_minmax_ops';
SELECT has_table_privilege('tablepub_relay', 'd2', 'SELECT') AS relay_may_read;
-- the tables keep working
INSERT INTO d2 VALUES (1, 'after drop');
INSERT INTO dp VALUES (150);
TRUNCATE dp;
-- roles are cluster-wide and stay for the next CREATE EXTENSION
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'tablepub%' ORDER BY 1;
CREATE EXTENSION tablepub;
SELECT count(*) FROM tablepub.publications;
DROP EXTENSION tablepub;
DROP TABLE d2, dp;
