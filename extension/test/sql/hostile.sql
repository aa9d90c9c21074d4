-- Hostile input: every SQL-callable function of the extension, called by
-- roles without special privileges, with inputs chosen to break it. Each
-- call must end in a clean error (or a harmless result); a crashed backend
-- shows as a lost connection. Each row: the call, then "ok: <result>" or
-- "<SQLSTATE>: <message> (<detail>)". XX000 (internal error) would mean an
-- unchecked case. Unaligned output: a new case is a one-line diff.
\set VERBOSITY terse
\pset format unaligned
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE ROLE tp_hostile LOGIN;
CREATE ROLE tp_relay_login LOGIN IN ROLE tablepub_relay;
CREATE ROLE tp_victim;
CREATE SCHEMA hostile AUTHORIZATION tp_hostile;
CREATE SCHEMA victim AUTHORIZATION tp_victim;
SET ROLE tp_victim;
CREATE TABLE victim.secret (id int PRIMARY KEY, pw text);
INSERT INTO victim.secret VALUES (1, 'hunter2');
-- names in the schema can be looked up (the table stays closed), so calls reach the functions
GRANT USAGE ON SCHEMA victim TO PUBLIC;
RESET ROLE;
SELECT tablepub.publish('victim.secret');
CREATE VIEW hostile.v AS SELECT 1 AS id;
CREATE SEQUENCE hostile.s;
CREATE TYPE hostile.ct AS (id int);
CREATE TABLE hostile.nopk (id int);
ALTER VIEW hostile.v OWNER TO tp_hostile;
ALTER SEQUENCE hostile.s OWNER TO tp_hostile;
ALTER TABLE hostile.nopk OWNER TO tp_hostile;
-- so that the relay's calls with hostile.* row types reach the functions
GRANT USAGE ON SCHEMA hostile TO tp_relay_login;

-- Protobuf wire-format builders, so that the corpus says what each input is.
CREATE FUNCTION pb_varint(n numeric) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    out bytea := '';
    v numeric := CASE WHEN n < 0 THEN n + 18446744073709551616 ELSE n END;
BEGIN
    LOOP
        IF v < 128 THEN
            RETURN out || set_byte('\x00', 0, v::int);
        END IF;
        out := out || set_byte('\x00', 0, (mod(v, 128) + 128)::int);
        v := div(v, 128);
    END LOOP;
END $$;
-- field number f, wire type 0 (varint) / 2 (length-delimited) / any raw
CREATE FUNCTION pb_int(f int, n numeric) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT pb_varint(f::numeric * 8) || pb_varint(n) $$;
CREATE FUNCTION pb_len(f int, payload bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT pb_varint(f::numeric * 8 + 2) || pb_varint(length(payload)) || payload $$;
CREATE FUNCTION pb_str(f int, s text) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT pb_len(f, convert_to(s, 'UTF8')) $$;
-- Change: op 1, key 2, old_key 3, values 4, schema 5, reason 6.
-- Column: name 1, value 2. Value: null 1, boolean 2, integer 3 (zigzag),
-- real 4 (fixed64), text 5, binary 6, numeric 7, ..., interval 11, uuid 12,
-- json 13, other 14, raw_text 15.
CREATE FUNCTION pb_col(name bytea, value bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT pb_len(1, name) || pb_len(2, value) $$;

-- Runs a call and reports how it ended. Not SECURITY DEFINER: runs as the caller.
CREATE FUNCTION try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
    detail text;
BEGIN
    EXECUTE 'SELECT (' || call || ')::text' INTO r;
    RETURN 'ok: ' || coalesce(left(r, 300), 'NULL');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || left(SQLERRM, 120) || coalesce(' (' || nullif(detail, '') || ')', '');
END $$;

CREATE TABLE corpus (id serial PRIMARY KEY, caller name NOT NULL, call text NOT NULL);
GRANT SELECT ON corpus TO PUBLIC;

-- Calls open to PUBLIC, made by tp_hostile.
ALTER TABLE corpus ALTER caller SET DEFAULT 'tp_hostile';
INSERT INTO corpus (call) VALUES
    ($$tablepub.publish(NULL)$$),
    ($$tablepub.publish(0)$$),
    ($$tablepub.publish(4294967295::oid::regclass)$$),
    ($$tablepub.publish('pg_catalog.pg_authid')$$),
    ($$tablepub.publish('pg_catalog.pg_class')$$),
    ($$tablepub.publish('information_schema.sql_features')$$),
    ($$tablepub.publish('tablepub.outbox')$$),
    ($$tablepub.publish('tablepub.publications')$$),
    ($$tablepub.publish('victim.secret')$$),
    ($$tablepub.publish('hostile.v')$$),
    ($$tablepub.publish('hostile.s')$$),
    ($$tablepub.publish('hostile.ct')$$),
    ($$tablepub.publish('hostile.nopk')$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"')$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', columns => '{NULL}')$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', columns => ARRAY[repeat('x', 100000)])$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', exclude_columns => (SELECT array_agg(g::text) FROM generate_series(1, 10000) g))$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', exclude_columns => '{id}')$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', columns => '{}', exclude_columns => '{}')$$),
    ($$tablepub.publish('hostile."we""ird ; DROP TABLE x"', columns => '{"x""y"}', full_row => NULL)$$),
    ($$tablepub.unpublish(NULL)$$),
    ($$tablepub.unpublish('victim.secret')$$),
    ($$tablepub.unpublish('pg_catalog.pg_class')$$),
    ($$tablepub.unpublish('hostile.v')$$),
    ($$tablepub.unpublish('hostile."we""ird ; DROP TABLE x"')$$),
    ($$tablepub.unpublish('hostile."we""ird ; DROP TABLE x"')$$),
    ($$tablepub.published_attnums(NULL)$$),
    ($$tablepub.published_attnums(ROW('pg_authid'::regclass, false, NULL, NULL, now(), NULL, NULL)::tablepub.publication)$$),
    ($$tablepub.published_attnums(ROW(0, true, '{-1,0,32767}', NULL, NULL, NULL, NULL)::tablepub.publication)$$),
    ($$tablepub.published_attnums(ROW('victim.secret'::regclass, NULL, NULL, '{1,2}', NULL, NULL, NULL)::tablepub.publication)$$),
    ($$tablepub.published_attnums(ROW('victim.secret'::regclass, NULL, NULL, '{}', NULL, '{pw,NULL,""}', NULL)::tablepub.publication)$$),
    ($$(SELECT array_agg(p."table"::text || ':' || p.columns::text) FROM tablepub.publications p)$$),
    -- internal functions: denied before they read their arguments
    ($$tablepub.record_event('victim.secret', 'unpublish')$$),
    ($$tablepub.record_event(NULL, NULL)$$),
    ($$tablepub.encode_row('victim.secret', ROW(1, 'forged')::victim.secret)$$),
    ($$tablepub.decode_change('\x1200')$$),
    ($$(SELECT count(*) FROM tablepub.decode_changes('\x1200'))$$),
    ($$tablepub.retention()$$),
    -- status (ops12): for tablepub_admin and pg_monitor only
    ($$(SELECT count(*) FROM tablepub.status_tables())$$),
    ($$(SELECT count(*) FROM tablepub.status_relays())$$),
    ($$(SELECT count(*) FROM tablepub.status_partitions())$$),
    ($$(SELECT count(*) FROM tablepub.status)$$),
    ($$tablepub.check_may_manage('victim.secret')$$),
    ($$tablepub.sync_partition_triggers('victim.secret')$$),
    ($$tablepub.remove_all()$$),
    ($$tablepub.resync('victim.secret', 'forged resync')$$),
    ($$tablepub.resync(NULL, NULL)$$),
    ($$tablepub.resync('hostile.nopk', repeat('x', 1000000))$$),
    ($$tablepub.record_resync('hostile.nopk', 'forged')$$),
    ($$tablepub.record_schema('victim.secret', true)$$),
    ($$tablepub.alter_table_events(NULL)$$),
    ($$tablepub.dropped_partitions()$$),
    ($$tablepub.enable_trigger_always('hostile.nopk', 'tablepub_capture')$$),
    ($$tablepub.drop_capture_trigger('hostile.nopk', 'tablepub_capture')$$),
    ($$tablepub.renamed_enum((SELECT NULL::pg_ddl_command))$$),
    ($$tablepub.tables_using_type('int4'::regtype)$$),
    ($$tablepub.add_partition_triggers('hostile.nopk')$$),
    ($$tablepub.check_capture_triggers('hostile.nopk')$$),
    ($$tablepub.grant_relay_read('hostile.nopk')$$),
    ($$tablepub.maintain('1:1:')$$),
    ($$tablepub.relay_lock_key()$$),
    ($$tablepub.relay_next_batch(true, 2)$$),
    ($$tablepub.relay_finish_batch(1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, NULL, 2)$$),
    ($$tablepub.relay_maintain()$$),
    ($$tablepub.check_outbox_format(2)$$),
    ($$tablepub.capture_row()$$),
    ($$tablepub.capture_truncate()$$),
    ($$tablepub.on_ddl_start()$$),
    ($$tablepub.on_ddl_end()$$),
    ($$tablepub.on_ddl_columns()$$),
    ($$tablepub.on_sql_drop()$$),
    ($$tablepub.relay_stream_renamed()$$);

SET SESSION AUTHORIZATION tp_hostile;
CREATE TABLE hostile."we""ird ; DROP TABLE x" (id int PRIMARY KEY, "x""y" text);
SELECT call, try(call) AS outcome FROM corpus WHERE caller = current_user ORDER BY id;
RESET SESSION AUTHORIZATION;
-- nothing of the victim's was published or unpublished by the hostile role
SELECT "table", columns FROM tablepub.publications ORDER BY 1::text;

-- a packed row (0.4) for the corpus below
INSERT INTO victim.secret SELECT g, 'pw ' || g FROM generate_series(10, 20) g;

-- decode_change and encode_row, by a login that is only a member of
-- tablepub_relay (the least privilege that may call them).
ALTER TABLE corpus ALTER caller SET DEFAULT 'tp_relay_login';
INSERT INTO corpus (call) VALUES
    ($$tablepub.decode_change(NULL)$$),
    ($$tablepub.decode_change('\x')$$),
    ($$tablepub.decode_change('\x00')$$),
    ($$tablepub.decode_change('\xff')$$),
    ($$tablepub.decode_change('\xffffffffffffffffffff01')$$),
    -- the crashes of issue 8: a Column without value in key, old_key, values
    ($$tablepub.decode_change('\x1200')$$),
    ($$tablepub.decode_change('\x1a00')$$),
    ($$tablepub.decode_change('\x2200')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, ''))$$),
    ($$tablepub.decode_change(pb_int(1, 2) || pb_len(3, ''))$$),
    ($$tablepub.decode_change(pb_int(1, 3) || pb_len(4, ''))$$),
    -- a named key column without a value
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_str(1, 'id')))$$),
    -- a value whose oneof is unset, or set to a kind this build does not know
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', '')))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_int(16, 1))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_int(99, 1) || pb_len(100, '\x0102'))))$$),
    -- unknown and unspecified ops, a negative op (a 10-byte varint)
    ($$tablepub.decode_change(pb_int(1, 0))$$),
    ($$tablepub.decode_change(pb_int(1, 8))$$),
    ($$tablepub.decode_change(pb_int(1, 2147483647))$$),
    ($$tablepub.decode_change(pb_int(1, -1))$$),
    -- truncated input; a length prefix past the end; a huge length prefix
    ($$tablepub.decode_change(substr(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_int(1, 0))), 1, 6))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x12ff01' || '\x0a')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x12ffffffff0f0a')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x12ffffffffffffffffff01')$$),
    -- wrong wire types: op length-delimited, key a varint, text a varint,
    -- interval a fixed64, real a varint, a group, wire types 6 and 7
    ($$tablepub.decode_change(pb_len(1, '\x01'))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_int(2, 5))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_int(5, 1))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', '\x590000000000000000')))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_int(4, 1))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x130814')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x0e00')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || '\x0f00')$$),
    -- a field number 0, the largest field number
    ($$tablepub.decode_change('\x0001')$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_int(536870911, 1))$$),
    -- a 5-byte tag (protobuf-c shifts a byte into an int's sign bit: found by the fuzzer)
    ($$tablepub.decode_change('\x0801f8ffffff7f01')$$),
    -- deep nesting inside an unknown field, and inside the interval
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(15, (WITH RECURSIVE n(d, b) AS (SELECT 0, ''::bytea UNION ALL SELECT d + 1, pb_len(1, b) FROM n WHERE d < 2000) SELECT b FROM n ORDER BY d DESC LIMIT 1)))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_len(11, (WITH RECURSIVE n(d, b) AS (SELECT 0, ''::bytea UNION ALL SELECT d + 1, pb_len(4, b) FROM n WHERE d < 2000) SELECT b FROM n ORDER BY d DESC LIMIT 1)))))$$),
    -- an empty interval, uuid and binary; several members of one oneof (the last wins)
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x69', pb_len(11, ''))) || pb_len(4, pb_col('\x75', pb_len(12, ''))) || pb_len(4, pb_col('\x62', pb_len(6, ''))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_str(5, 'text') || pb_len(11, pb_int(1, 2)) || pb_int(3, 84))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x6964', pb_len(11, pb_int(1, 2)) || pb_str(13, '{}'))))$$),
    -- strings that must be escaped, and json that tries to add keys
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(4, pb_col(convert_to(E'"}, "op": "x', 'UTF8'), pb_str(5, E'\\"\n\t\u0001'))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(4, pb_col('\x6a', pb_str(13, '1}, "op": "delete", "x": {"y": 2'))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(4, pb_col('\x6a', pb_str(13, 'not json at all'))))$$),
    ($$tablepub.decode_change(pb_int(1, 7) || pb_str(6, 'partition "p" detached') || pb_len(4, pb_col('\x6f', pb_str(14, '{1,2}'))) || pb_len(4, pb_col('\x72', pb_len(15, '\xe9ff'))))$$),
    -- invalid UTF-8 in a name and in a value; an embedded NUL (protobuf-c's C string ends there)
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\xff', pb_int(1, 0))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x61', pb_len(5, '\xc3'))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x61', pb_len(7, '\xeda080'))))$$),
    ($$tablepub.decode_change(pb_int(1, 1) || pb_len(2, pb_col('\x610062', pb_len(5, '\x6100'))))$$),
    -- a schema with empty and nameless parts
    ($$tablepub.decode_change(pb_int(1, 5) || pb_len(5, pb_len(3, '') || pb_len(3, pb_int(5, 4294967295) || pb_int(3, 1)) || pb_len(3, pb_str(1, 'c') || pb_len(2, '\xff'))))$$),
    -- huge repeated fields: many valid columns (all named "" so jsonb keeps one), many invalid ones
    ($$length(tablepub.decode_change(pb_int(1, 1) || (SELECT string_agg(pb_len(4, pb_col('', pb_int(1, 0))), '') FROM generate_series(1, 200000)))::text)$$),
    ($$tablepub.decode_change(pb_int(1, 1) || (SELECT string_agg('\x2200'::bytea, '') FROM generate_series(1, 300000)))$$),
    ($$length(tablepub.decode_change(pb_int(1, 5) || pb_len(5, (SELECT string_agg(pb_len(3, ''), '') FROM generate_series(1, 200000))))::text)$$),
    -- a huge string value
    ($$length(tablepub.decode_change(pb_int(1, 1) || pb_len(4, pb_col('\x74', pb_str(5, repeat(E'\u0001"\\', 3000000)))))::text)$$),
    -- real changes, and real changes cut short
    ($$tablepub.decode_change((SELECT change FROM tablepub.outbox ORDER BY txid, pos LIMIT 1))$$),
    ($$(SELECT count(*) FROM generate_series(0, 40) n WHERE try(format('tablepub.decode_change(%L::bytea)', substr((SELECT change FROM tablepub.outbox ORDER BY txid, pos LIMIT 1), 1, n))) NOT LIKE '22P03: %')$$),
    -- packed rows (0.4): decode_change refuses one, decode_changes checks it whole
    ($$tablepub.decode_change('\x00020801020802')$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801020802') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes(pb_int(1, 3)) c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes(NULL) c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x000208010002080201') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x0002080180') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x000208010308') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801ffffffffffffffffff7f08') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801ffffffffffffffffff0108') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x000208010400020801') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801021200') c)$$),
    ($$(SELECT jsonb_agg(c) FROM tablepub.decode_changes('\x00020801020802' || '\x01'::bytea) c)$$),
    ($$(SELECT count(*) FROM tablepub.decode_changes('\x00' || (SELECT string_agg('\x020801'::bytea, '') FROM generate_series(1, 100000))))$$),
    -- real rows, and a real packed row cut short (refused, or at an entry boundary a shorter pack)
    ($$(SELECT count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change))$$),
    ($$(SELECT count(*) FROM generate_series(0, 60) n WHERE try(format('(SELECT count(*) FROM tablepub.decode_changes(%L::bytea))', substr((SELECT change FROM tablepub.outbox WHERE get_byte(change, 0) = 0 ORDER BY txid, pos LIMIT 1), 1, n))) !~ '^(22P03|ok): ')$$),
    -- encode_row: catalogs, views, sequences, indexes, types, unpublished and foreign rows
    ($$tablepub.encode_row(NULL, NULL::victim.secret)$$),
    ($$tablepub.encode_row('victim.secret', NULL::victim.secret)$$),
    ($$tablepub.encode_row('victim.secret', ROW(NULL, NULL)::victim.secret)$$),
    ($$tablepub.encode_row('victim.secret', ROW(1, 'x')::hostile.nopk)$$),
    ($$tablepub.encode_row('victim.secret', ROW(1)::hostile.ct)$$),
    ($$tablepub.encode_row('victim.secret', (SELECT r FROM pg_class r LIMIT 1))$$),
    ($$tablepub.encode_row('pg_class', (SELECT r FROM pg_class r LIMIT 1))$$),
    ($$tablepub.encode_row('hostile.v', (SELECT r FROM hostile.v r))$$),
    ($$tablepub.encode_row('hostile.s', ROW(1)::hostile.ct)$$),
    ($$tablepub.encode_row('hostile.ct', ROW(1)::hostile.ct)$$),
    ($$tablepub.encode_row('victim.secret_pkey', ROW(1)::hostile.ct)$$),
    ($$tablepub.encode_row('hostile.nopk', ROW(1)::hostile.nopk)$$),
    ($$tablepub.encode_row(0, ROW(1)::hostile.ct)$$),
    ($$tablepub.decode_change(tablepub.encode_row('victim.secret', ROW(2, repeat('x', 10))::victim.secret))$$),
    -- the relay's state functions with inputs that do not fit
    ($$tablepub.relay_finish_batch(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2)$$),
    ($$tablepub.relay_finish_batch(-1, '{1}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, NULL, 2)$$),
    ($$tablepub.maintain(NULL)$$),
    ($$tablepub.record_event('victim.secret', 'schema')$$);

SET SESSION AUTHORIZATION tp_relay_login;
SELECT call, try(call) AS outcome FROM corpus WHERE caller = current_user ORDER BY id;
RESET SESSION AUTHORIZATION;

-- Every function of the extension is called in the corpus.
SELECT p.oid::regprocedure AS not_called
  FROM pg_proc p
 WHERE p.pronamespace = 'tablepub'::regnamespace
   AND NOT EXISTS (SELECT FROM corpus c WHERE c.call LIKE '%tablepub.' || p.proname || '(%')
 ORDER BY 1;

DROP EXTENSION tablepub;
DROP TABLE corpus;
DROP FUNCTION try(text), pb_col(bytea, bytea), pb_str(int, text), pb_len(int, bytea),
    pb_int(int, numeric), pb_varint(numeric);
DROP SCHEMA hostile, victim CASCADE;
DROP ROLE tp_hostile, tp_relay_login, tp_victim;
