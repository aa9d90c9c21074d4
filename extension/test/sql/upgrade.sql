-- Upgrade path: install the first version, update to the default one, and
-- check that publications, capture and every object survive.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'tablepub';
CREATE TABLE up (id int PRIMARY KEY, v text);
SELECT tablepub.publish('up', exclude_columns => '{v}');
INSERT INTO up VALUES (1, 'before update');
CREATE TABLE up_p (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE up_p1 PARTITION OF up_p FOR VALUES FROM (0) TO (10);
SELECT tablepub.publish('up_p');
CREATE TABLE up_p2 PARTITION OF up_p FOR VALUES FROM (10) TO (20);
CREATE SCHEMA up_priv;
CREATE TABLE up_priv.t (id int PRIMARY KEY);
SELECT tablepub.publish('up_priv.t');
SELECT has_schema_privilege('tablepub_relay', 'up_priv', 'USAGE') AS relay_usage_before;

ALTER EXTENSION tablepub UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'tablepub') AS at_default_version
  FROM pg_extension WHERE extname = 'tablepub';
-- existing publications capture in every session_replication_role
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger WHERE tgname LIKE 'tablepub%' ORDER BY 1, 2;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY 1;
SET session_replication_role = replica;
INSERT INTO up_p VALUES (11);
RESET session_replication_role;
ALTER TABLE up_p2 DISABLE TRIGGER ALL;
SELECT "table", columns, full_row FROM tablepub.publications ORDER BY 1;
-- 0.3 lets the relay name tables published before it in schemas of their own
SELECT has_schema_privilege('tablepub_relay', 'up_priv', 'USAGE') AS relay_usage_after;
INSERT INTO up VALUES (2, 'after update');
UPDATE up SET id = 3 WHERE id = 2;
-- excluded columns of publications made before 0.3 are remembered by name:
-- v dropped and added again stays excluded
SELECT relid::regclass, exclude_attnums, exclude_names FROM tablepub.publication
 WHERE exclude_attnums IS NOT NULL;
ALTER TABLE up DROP COLUMN v, ADD COLUMN v text;
INSERT INTO up VALUES (4, 'secret after re-add');
SELECT tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
-- the extension's objects after the update
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tablepub')
 ORDER BY 1;

DROP EXTENSION tablepub;
DROP TABLE up, up_p;
DROP SCHEMA up_priv CASCADE;
