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
-- the publications view and decode_change are public
SELECT "table" FROM tablepub.publications;
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

-- every SECURITY DEFINER function pins search_path; who may execute what
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'tablepub'::regnamespace AND p.prosecdef ORDER BY 1;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('tp_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('tablepub_relay', p.oid, 'EXECUTE') AS relay
  FROM pg_proc p WHERE p.pronamespace = 'tablepub'::regnamespace ORDER BY 1;
SELECT c.relname, has_table_privilege('tp_app', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE') AS app,
       has_table_privilege('tablepub_relay', c.oid, 'SELECT') AS relay_select,
       has_table_privilege('tablepub_relay', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS relay_write
  FROM pg_class c WHERE c.relnamespace = 'tablepub'::regnamespace AND c.relkind IN ('r', 'p', 'v') ORDER BY 1;

DROP EXTENSION tablepub;
DROP TABLE orders, notpub;
DROP FUNCTION forge(text, text, regclass);
DROP SCHEMA app CASCADE;
DROP ROLE tp_app;
