-- Upgrade path: install the first version, update to the default one, and
-- check that publications, capture and every object survive.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'tablepub';
CREATE TABLE up (id int PRIMARY KEY, v text);
SELECT tablepub.publish('up', exclude_columns => '{v}');
INSERT INTO up VALUES (1, 'before update');
CREATE SCHEMA up_priv;
CREATE TABLE up_priv.t (id int PRIMARY KEY);
SELECT tablepub.publish('up_priv.t');
SELECT has_schema_privilege('tablepub_relay', 'up_priv', 'USAGE') AS relay_usage_before;

ALTER EXTENSION tablepub UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'tablepub') AS at_default_version
  FROM pg_extension WHERE extname = 'tablepub';
SELECT "table", columns, full_row FROM tablepub.publications;
-- 0.3 lets the relay name tables published before it in schemas of their own
SELECT has_schema_privilege('tablepub_relay', 'up_priv', 'USAGE') AS relay_usage_after;
INSERT INTO up VALUES (2, 'after update');
UPDATE up SET id = 3 WHERE id = 2;
SELECT tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
-- the extension's objects after the update
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tablepub')
 ORDER BY 1;

DROP EXTENSION tablepub;
DROP TABLE up;
DROP SCHEMA up_priv CASCADE;
