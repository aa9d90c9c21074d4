-- Every value kind, and independence from session settings.
\set VERBOSITY terse
SET client_min_messages = warning;
SET DateStyle = 'ISO, MDY';
SET TimeZone = 'UTC';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET IntervalStyle = 'postgres';

CREATE EXTENSION tablepub;
CREATE FUNCTION changes() RETURNS TABLE (tbl text, change jsonb) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT o.relid::regclass::text, d.c
                   FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n)
                  ORDER BY o.txid, o.pos, d.n;
    TRUNCATE tablepub.outbox;
END $$;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN email AS text;
CREATE TYPE pt AS (x int, y text);
CREATE TABLE typed (
    id int8 PRIMARY KEY, i2 int2, i4 int4, o oid, n numeric, n2 numeric(40,20),
    f4 float4, f8 float8, t text, vc varchar(10), c char(3), nm name, b bytea,
    bo bool, tstz timestamptz, ts timestamp, d date, iv interval, u uuid,
    j json, jb jsonb, ia int[], ta text[], m mood, dom posint, em email,
    tm time, ip inet, r int4range, comp pt, fa float8[], tsa timestamptz[]);
SELECT tablepub.publish('typed');
TRUNCATE tablepub.outbox;

INSERT INTO typed VALUES (1, 32767, -2147483648, 4294967295, 12345.678,
    '12345678901234567890.12345678901234567890', 1.5, 0.1, 'it''s "quoted" \ héllo ✓',
    'varchar', 'ab', 'a_name', '\x00ff10', true, '2024-02-29 12:34:56.789012+02',
    '2024-02-29 12:34:56.789012', '2024-02-29', '1 year 2 months 3 days 04:05:06.7',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [1, 2.50]}',
    '{"b": 1, "a": [1, 2.50]}', '{1,NULL,3}', '{"x y","q\"uote"}', 'happy', 42,
    'x@example.com', '12:34:56', '192.168.0.1/24', '[1,10)', '(1,"two")',
    '{0.1,NaN}', '{"2024-01-01 00:00:00+05"}');
INSERT INTO typed (id, n, f4, f8, tstz, ts, d) VALUES
    (2, 'NaN', 'NaN', 'Infinity', 'infinity', '-infinity', 'infinity'),
    (3, '-Infinity', '-Infinity', '-0', '-infinity', 'infinity', '-infinity'),
    (4, 0.000000000000000000000000000001, 3.4e38, 1.7976931348623157e308,
     '1970-01-01 00:00:00+00', '1970-01-01 00:00:00', '1970-01-01'),
    (5, 99999999999999999999999999999999999999999999999999.99999, -1e-45, 5e-324,
     '1969-12-31 23:59:59.999999+00', '4713-11-24 00:00:00 BC', '1969-12-31');
INSERT INTO typed (id) VALUES (6);
SELECT c.change->'key'->>'id' AS id, v.key AS col, v.value
  FROM changes() c, jsonb_each(c.change->'values') v
 ORDER BY (c.change->'key'->>'id')::int, v.key;

-- NULLs everywhere but the key, as typed nulls
SELECT count(*) AS null_columns FROM typed row6, jsonb_each(tablepub.decode_change(tablepub.encode_row('typed', row6))->'values') v
 WHERE row6.id = 6 AND v.value = 'null';
-- domains are encoded as their base type, but the schema names the domain
SELECT tablepub.publish('typed');
SELECT c->>'name' AS name, c->>'type' AS type, c->>'key_position' AS key_position
  FROM changes() x, jsonb_array_elements(x.change->'schema'->'columns') c;

-- The same rows written under very different session settings give identical bytes.
CREATE TABLE settings (id int PRIMARY KEY, tstz timestamptz, ts timestamp, d date,
    iv interval, f4 float4, f8 float8, n numeric, b bytea, fa float8[], tsa timestamptz[],
    iva interval[], ba bytea[], da date[], tr tstzrange, ja jsonb);
SELECT tablepub.publish('settings');
TRUNCATE tablepub.outbox;
CREATE FUNCTION write_settings_row() RETURNS void LANGUAGE sql AS $$
    INSERT INTO settings VALUES (1, '2024-02-29 12:34:56.789+00', '2024-02-29 12:34:56.789',
        '2024-02-29', '1 day 02:03:04.5', 0.1, 0.1, 0.1, '\x00ff',
        '{0.1,1e100,NaN}', '{"2024-02-29 12:34:56+00"}', '{"1 mon -2 days 03:00:00"}',
        '{"\\x00ff"}', '{2024-02-29,infinity}', '[2024-02-29 00:00:00+00,2024-03-01 00:00:00+00)',
        '{"f": 0.1, "t": "2024-02-29"}');
$$;
SELECT write_settings_row();
DELETE FROM settings;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SET IntervalStyle = 'sql_standard';
SELECT write_settings_row();
DELETE FROM settings;
SET DateStyle = 'German';
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = 3;
SET IntervalStyle = 'iso_8601';
SELECT write_settings_row();
DELETE FROM settings;
SET DateStyle = 'Postgres, YMD';
SET TimeZone = 'Pacific/Chatham';
SET extra_float_digits = 0;
SET IntervalStyle = 'postgres_verbose';
SELECT write_settings_row();
DELETE FROM settings;
SELECT count(*) AS inserts, count(DISTINCT change) AS distinct_bytes
  FROM tablepub.outbox WHERE tablepub.decode_change(change)->>'op' = 'insert';
-- the settings in force are back after each capture
SHOW DateStyle;
SHOW TimeZone;
SHOW extra_float_digits;
SHOW IntervalStyle;
-- encode_row (snapshots) gives the captured INSERT's bytes, under yet other settings
SET DateStyle = 'SQL, MDY';
SET TimeZone = 'Asia/Tokyo';
SET extra_float_digits = 2;
SET bytea_output = 'escape';
SELECT write_settings_row();
SELECT tablepub.encode_row('settings', s) = (SELECT change FROM tablepub.outbox LIMIT 1) AS same_bytes
  FROM settings s;
DELETE FROM settings;
RESET ALL;
SET client_min_messages = warning;
SELECT v.key AS col, v.value
  FROM (SELECT tablepub.decode_change(change) AS c FROM tablepub.outbox
         WHERE tablepub.decode_change(change)->>'op' = 'insert' LIMIT 1) x,
       jsonb_each(x.c->'values') v ORDER BY v.key;
TRUNCATE tablepub.outbox;
DROP FUNCTION write_settings_row();

-- encode_row: snapshot rows in the INSERT form
INSERT INTO settings VALUES (7, '2024-02-29 12:34:56.789+00', NULL, NULL, '1 day', 0.25);
SELECT tablepub.decode_change(tablepub.encode_row('settings', s)) FROM settings s;
SELECT tablepub.encode_row('typed', s) FROM settings s;
CREATE TABLE unpublished (id int PRIMARY KEY);
INSERT INTO unpublished VALUES (1);
SELECT tablepub.encode_row('unpublished', u) FROM unpublished u;
SELECT tablepub.decode_change('\xff');

DROP EXTENSION tablepub;
DROP FUNCTION changes();
DROP TABLE typed, settings, unpublished;
DROP TYPE mood, pt;
DROP DOMAIN posint, email;
