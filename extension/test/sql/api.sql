-- SQL API: publish, republish, unpublish, the publications view, and every error.
\set VERBOSITY terse
SET client_min_messages = warning;
SET DateStyle = 'ISO, MDY';
SET TimeZone = 'UTC';

CREATE EXTENSION tablepub;
-- Captured changes in order, then empty the outbox.
CREATE FUNCTION changes() RETURNS TABLE (tbl text, change jsonb) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT CASE WHEN EXISTS (SELECT FROM pg_class WHERE oid = o.relid)
                             THEN o.relid::regclass::text ELSE 'dropped table' END,
                        tablepub.decode_change(o.change)
                   FROM tablepub.outbox o ORDER BY o.txid, o.pos;
    TRUNCATE tablepub.outbox;
END $$;

CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, secret text, qty int);
SELECT tablepub.publish('items');
SELECT "table", columns, full_row, since > now() - interval '1 minute' AS recent FROM tablepub.publications;
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'items'::regclass ORDER BY tgname;
SELECT has_table_privilege('tablepub_relay', 'items', 'SELECT') AS relay_may_read;
-- publishing twice updates the settings
SELECT tablepub.publish('items', exclude_columns => '{secret}');
SELECT "table", columns, full_row FROM tablepub.publications;
SELECT tablepub.publish('items', columns => '{name}', full_row => true);
SELECT "table", columns, full_row FROM tablepub.publications;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'items'::regclass;
SELECT * FROM changes();
SELECT tablepub.unpublish('items');
SELECT count(*) AS published FROM tablepub.publications;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'items'::regclass;
SELECT has_table_privilege('tablepub_relay', 'items', 'SELECT') AS relay_may_read;
SELECT * FROM changes();
INSERT INTO items VALUES (1, 'not published', NULL, 1);
SELECT count(*) FROM tablepub.outbox;

-- errors
SELECT tablepub.unpublish('items');
SELECT tablepub.publish('no_such_table');
CREATE VIEW items_view AS SELECT * FROM items;
SELECT tablepub.publish('items_view');
CREATE MATERIALIZED VIEW items_mv AS SELECT * FROM items;
SELECT tablepub.publish('items_mv');
CREATE SEQUENCE items_seq;
SELECT tablepub.publish('items_seq');
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_server FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE items_foreign (id int) SERVER dummy_server;
SELECT tablepub.publish('items_foreign');
SELECT tablepub.publish('pg_class');
SELECT tablepub.publish('information_schema.sql_features');
SELECT tablepub.publish('tablepub.outbox');
CREATE TEMP TABLE items_temp (id int PRIMARY KEY);
SELECT tablepub.publish('items_temp');
CREATE TABLE no_pk (id int UNIQUE NOT NULL);
SELECT tablepub.publish('no_pk');
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT tablepub.publish('no_pk');
SELECT tablepub.publish('items_view');
\set VERBOSITY terse
SELECT tablepub.publish('items', columns => '{name,nosuch}');
SELECT tablepub.publish('items', exclude_columns => '{"Name"}');
SELECT tablepub.publish('items', exclude_columns => '{id}');
SELECT tablepub.publish('items', columns => '{name}', exclude_columns => '{qty}');
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
SELECT tablepub.publish('parted_1');
SELECT count(*) AS published FROM tablepub.publications;

-- only the owner or a member of tablepub_admin may publish or unpublish
CREATE ROLE tp_owner;
CREATE ROLE tp_stranger;
CREATE TABLE owned (id int PRIMARY KEY);
ALTER TABLE owned OWNER TO tp_owner;
SET ROLE tp_stranger;
SELECT tablepub.publish('owned');
RESET ROLE;
SET ROLE tp_owner;
SELECT tablepub.publish('owned');
RESET ROLE;
SET ROLE tp_stranger;
SELECT tablepub.unpublish('owned');
RESET ROLE;
GRANT tablepub_admin TO tp_stranger;
SET ROLE tp_stranger;
SELECT tablepub.unpublish('owned');
SELECT tablepub.publish('owned', full_row => true);
RESET ROLE;
SELECT "table", columns, full_row FROM tablepub.publications;
SELECT * FROM changes();

-- comments on every object of the extension
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tablepub')
   AND d.classid <> 'pg_event_trigger'::regclass
   AND obj_description(d.objid, d.classid::regclass::name) IS NULL
 ORDER BY 1;

DROP EXTENSION tablepub;
DROP FUNCTION changes();
DROP TABLE items, no_pk, parted, owned CASCADE;
DROP SERVER dummy_server CASCADE;
DROP FOREIGN DATA WRAPPER dummy_fdw;
DROP SEQUENCE items_seq;
DROP ROLE tp_owner;
DROP ROLE tp_stranger;
