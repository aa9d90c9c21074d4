-- Tamper-proofing: an application role writes published tables, and nothing else.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE ROLE tp_app;
CREATE SCHEMA app AUTHORIZATION tp_app;
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
SELECT tablepub.publish('orders');
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO tp_app;
TRUNCATE tablepub.outbox;

SET ROLE tp_app;
-- captured although tp_app has no privilege on the outbox
INSERT INTO orders VALUES (1, 10);
UPDATE orders SET total = 11;
-- the outbox and state tables cannot be read or written
SELECT count(*) FROM tablepub.outbox;
INSERT INTO tablepub.outbox VALUES (0, '1', 1, 'orders'::regclass, '\x');
INSERT INTO tablepub.outbox_0 VALUES (0, '1', 1, 'orders'::regclass, '\x');
UPDATE tablepub.outbox SET change = '\x';
DELETE FROM tablepub.outbox;
DELETE FROM tablepub.outbox_1;
TRUNCATE tablepub.outbox;
UPDATE tablepub.outbox_state SET gen = gen;
INSERT INTO tablepub.publication (relid) VALUES ('orders'::regclass);
DELETE FROM tablepub.publication;
-- internal functions cannot be called
SELECT tablepub.record_event('orders', 'schema');
SELECT tablepub.record_event('orders', 'unpublish');
SELECT tablepub.maintain(pg_current_snapshot());
SELECT tablepub.encode_row('orders', o) FROM orders o;
SELECT tablepub.remove_all();
SELECT tablepub.sync_partition_triggers('orders');
-- nor attached as triggers to a table of its own
CREATE TABLE app.mine (id int PRIMARY KEY);
CREATE TRIGGER forge AFTER INSERT ON app.mine FOR EACH ROW EXECUTE FUNCTION tablepub.capture_row('orders');
CREATE TRIGGER forge BEFORE TRUNCATE ON app.mine FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate('orders');
-- publish/unpublish of a table it does not own
SELECT tablepub.publish('orders');
SELECT tablepub.unpublish('orders');
-- the publications view is public, with the columns (published_attnums() runs as the reader)
SELECT "table", columns, full_row FROM tablepub.publications WHERE "table" = 'orders'::regclass;
-- decode_change parses caller-chosen bytes in C: only the relay and tablepub_admin may
SELECT tablepub.decode_change('\x0801');
-- its own table it may publish
SELECT tablepub.publish('app.mine');
INSERT INTO app.mine VALUES (1);
SELECT tablepub.unpublish('app.mine');
RESET ROLE;
SELECT relid::regclass, tablepub.decode_change(change) FROM tablepub.outbox ORDER BY txid, pos;
TRUNCATE tablepub.outbox;

-- a capture trigger on a table that is not published refuses to record (even a superuser's)
CREATE TABLE notpub (id int PRIMARY KEY);
CREATE FUNCTION forge(tg text, fn text, arg regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER forge %s ON notpub %s EXECUTE FUNCTION tablepub.%s(%L)',
                   tg, CASE WHEN tg LIKE '%TRUNCATE' THEN 'FOR EACH STATEMENT' ELSE 'FOR EACH ROW' END,
                   fn, arg::oid);
END $$;
SELECT forge('AFTER INSERT', 'capture_row', 'notpub');
INSERT INTO notpub VALUES (1);
DROP TRIGGER forge ON notpub;
SELECT forge('AFTER INSERT', 'capture_row', 'orders');
INSERT INTO notpub VALUES (1);
DROP TRIGGER forge ON notpub;
CREATE TRIGGER forge AFTER INSERT ON notpub FOR EACH ROW EXECUTE FUNCTION tablepub.capture_row();
INSERT INTO notpub VALUES (1);
DROP TRIGGER forge ON notpub;
SELECT forge('BEFORE INSERT', 'capture_row', 'notpub');
INSERT INTO notpub VALUES (1);
DROP TRIGGER forge ON notpub;
SELECT forge('BEFORE TRUNCATE', 'capture_truncate', 'notpub');
TRUNCATE notpub;
DROP TRIGGER forge ON notpub;
SELECT count(*) FROM tablepub.outbox;

-- the relay role reads the outbox and published tables, and writes nothing
SET ROLE tablepub_relay;
SELECT count(*) FROM tablepub.outbox;
SELECT count(*) FROM orders;
SELECT tablepub.decode_change(tablepub.encode_row('orders', o)) FROM orders o;
INSERT INTO tablepub.outbox VALUES (0, '1', 1, 'orders'::regclass, '\x');
INSERT INTO orders VALUES (2, 2);
SELECT count(*) FROM notpub;
RESET ROLE;

-- A login that is only a member of tablepub_relay runs what the relay runs:
-- the snapshot (lock, publications, encode_row), replay and drain queries,
-- also for a table in a schema of its own (publish() grants USAGE on it).
CREATE ROLE tp_relay_login LOGIN IN ROLE tablepub_relay;
CREATE SCHEMA "Priv ate";
CREATE TABLE "Priv ate"."Ta ble" (id int PRIMARY KEY, t text);
INSERT INTO "Priv ate"."Ta ble" VALUES (1, 'one');
SELECT tablepub.publish('"Priv ate"."Ta ble"');
SET SESSION AUTHORIZATION tp_relay_login;
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
LOCK TABLE "Priv ate"."Ta ble" IN ACCESS SHARE MODE;
SELECT p."table", p.columns, tablepub.published_attnums(q) AS attnums
  FROM tablepub.publications p JOIN tablepub.publication q ON q.relid = p."table"
 WHERE p."table" = to_regclass('"Priv ate"."Ta ble"');
SELECT tablepub.decode_change(tablepub.encode_row('"Priv ate"."Ta ble"', r)) FROM "Priv ate"."Ta ble" r;
COMMIT;
SELECT count(*) > 0 AS has_rows FROM tablepub.outbox WHERE relid = '"Priv ate"."Ta ble"'::regclass;
SELECT count(*) AS open_batches FROM tablepub.relay_next_batch(true, 2);
SELECT * FROM tablepub.relay_maintain();
SELECT pg_try_advisory_lock(tablepub.relay_lock_key());
RESET SESSION AUTHORIZATION;
SELECT tablepub.unpublish('"Priv ate"."Ta ble"');
DROP SCHEMA "Priv ate" CASCADE;
DELETE FROM tablepub.relay_batch;

-- every SECURITY DEFINER function pins search_path
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'tablepub'::regnamespace AND p.prosecdef ORDER BY 1;
-- Every privilege on every object of the extension, from its ACL: a change of
-- privileges (or a new function or table that keeps PUBLIC's default EXECUTE)
-- shows up here. The owner's own privileges are left out.
SELECT d.classid::regclass AS catalog,
       CASE WHEN d.classid = 'pg_proc'::regclass THEN d.objid::regprocedure::text
            ELSE d.objid::regclass::text END AS object,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges,
       bool_or(a.is_grantable) AS grantable
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tablepub'
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
  CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, c.relacl,
                                        acldefault(CASE WHEN p.oid IS NOT NULL THEN 'f' ELSE 'r' END::"char",
                                                   coalesce(p.proowner, c.relowner)))) a
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
   AND a.grantee <> coalesce(p.proowner, c.relowner)
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3;
-- objects of the extension other than functions and tables: none to grant on
SELECT d.classid::regclass AS catalog, count(*)
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tablepub'
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
 GROUP BY 1 ORDER BY 1;
SELECT nspacl FROM pg_namespace WHERE nspname = 'tablepub';

DROP EXTENSION tablepub;
DROP TABLE orders, notpub;
DROP FUNCTION forge(text, text, regclass);
DROP SCHEMA app CASCADE;
DROP ROLE tp_app, tp_relay_login;
