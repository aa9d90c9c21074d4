-- Any server encoding: text, names, JSON and other text output leave the
-- database as UTF-8 (protobuf string fields); in SQL_ASCII, text that is
-- not valid UTF-8 goes out as raw_text bytes and such names are refused.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE DATABASE tablepub_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE tablepub_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;

\c tablepub_latin1
\set VERBOSITY terse
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();
CREATE EXTENSION tablepub;
-- does the change hold s as UTF-8 bytes, and not as LATIN1 bytes?
CREATE FUNCTION has_utf8(change bytea, s text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN position(convert_to(s, 'UTF8') IN change) > 0
                 AND position(convert_to(s, 'LATIN1') IN change) = 0
                THEN 'utf-8' ELSE 'NOT utf-8' END $$;
CREATE SCHEMA "schéma";
CREATE TABLE "schéma"."tëst" (id int PRIMARY KEY, "ñame" text, "straße" varchar(20), j json, jb jsonb, arr text[], ch char(3));
SELECT tablepub.publish('"schéma"."tëst"');
SELECT has_utf8(change, 'schéma') AS schema_name, has_utf8(change, 'tëst') AS table_name,
       has_utf8(change, 'ñame') AS column_name, has_utf8(change, 'straße') AS column_name_2
  FROM tablepub.outbox;
TRUNCATE tablepub.outbox;
INSERT INTO "schéma"."tëst" VALUES (1, 'é', 'ß', '{"ñ": "é"}', '{"ñ": "ß"}', '{é,ñ}', 'ñ');
SELECT has_utf8(change, 'é') AS text, has_utf8(change, 'ß') AS varchar,
       has_utf8(change, '{"ñ": "é"}') AS json, has_utf8(change, '{"ñ": "ß"}') AS jsonb,
       has_utf8(change, '{é,ñ}') AS other, has_utf8(change, 'ñ  ') AS bpchar,
       has_utf8(change, 'ñame') AS column_name
  FROM tablepub.outbox;
-- snapshot rows (encode_row) are the same bytes as the captured INSERT
SELECT tablepub.encode_row('"schéma"."tëst"', t) = o.change AS same_bytes
  FROM "schéma"."tëst" t, tablepub.outbox o;
TRUNCATE tablepub.outbox;
ALTER TABLE "schéma"."tëst" RENAME COLUMN "ñame" TO "nüme";
SELECT has_utf8(change, 'nüme') AS renamed_column FROM tablepub.outbox;
TRUNCATE tablepub.outbox;
SELECT tablepub.resync('"schéma"."tëst"', 'réimporté');
SELECT has_utf8(change, 'réimporté') AS resync_reason FROM tablepub.outbox;

\c tablepub_sql_ascii
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();
CREATE EXTENSION tablepub;
CREATE TABLE asc_t (id int PRIMARY KEY, v text, j json, o text[]);
SELECT tablepub.publish('asc_t');
TRUNCATE tablepub.outbox;
-- valid UTF-8 stays text; a LATIN1 byte (0xe9) is not UTF-8: raw_text (field 15) holds it
INSERT INTO asc_t VALUES (1, convert_from('\xc3a9'::bytea, 'SQL_ASCII'), NULL, NULL);
INSERT INTO asc_t VALUES (2, convert_from('\x636166e9'::bytea, 'SQL_ASCII'),
                          convert_from('\x22e922'::bytea, 'SQL_ASCII')::json,
                          convert_from('\x7be97d'::bytea, 'SQL_ASCII')::text[]);
SELECT tablepub.decode_change(change)->'key'->>'id' AS id,
       position('\x2a02c3a9'::bytea IN change) > 0 AS utf8_as_text,
       position('\x7a04636166e9'::bytea IN change) > 0 AS latin1_as_raw_text,
       position('\x7a0322e922'::bytea IN change) > 0 AS json_as_raw_text,
       position('\x7a037be97d'::bytea IN change) > 0 AS other_as_raw_text
  FROM tablepub.outbox ORDER BY pos;
-- a name that is not UTF-8 cannot be sent: publish and rename are refused
DO $$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY)', convert_from('\x74e9'::bytea, 'SQL_ASCII'));
    PERFORM tablepub.publish(format('%I', convert_from('\x74e9'::bytea, 'SQL_ASCII')));
EXCEPTION WHEN character_not_in_repertoire THEN
    RAISE WARNING 'publish refused: %', SQLSTATE;
END $$;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE asc_t RENAME COLUMN v TO %I', convert_from('\x76e9'::bytea, 'SQL_ASCII'));
EXCEPTION WHEN character_not_in_repertoire THEN
    RAISE WARNING 'rename refused: %', SQLSTATE;
END $$;
-- an excluded column's name never leaves the database
DO $$
BEGIN
    EXECUTE format('CREATE TABLE asc_x (id int PRIMARY KEY, %I int)', convert_from('\x78e9'::bytea, 'SQL_ASCII'));
    PERFORM tablepub.publish('asc_x', exclude_columns => ARRAY[convert_from('\x78e9'::bytea, 'SQL_ASCII')]);
    RAISE WARNING 'published without the column';
END $$;

\c tablepub_regress
DROP DATABASE tablepub_latin1;
DROP DATABASE tablepub_sql_ascii;
