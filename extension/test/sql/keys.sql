-- Primary key changes of a published table rebuild the capture plan: a new
-- key column is published (column lists publish the key by definition), an
-- excluded one is refused, and no plan is ever built with a key column that
-- is not published.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE FUNCTION changes() RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT tablepub.decode_change(o.change) FROM tablepub.outbox o ORDER BY o.txid, o.pos;
    TRUNCATE tablepub.outbox;
END $$;
-- the (non-superuser) owner changes the key and writes
CREATE ROLE key_owner;
CREATE SCHEMA k AUTHORIZATION key_owner;
SET search_path = k, public;

-- excluded column as the new key: refused, the old key stays
CREATE TABLE k.ex (id int PRIMARY KEY, c int NOT NULL, v text);
ALTER TABLE k.ex OWNER TO key_owner;
SELECT tablepub.publish('k.ex', exclude_columns => '{c}');
SET ROLE key_owner;
ALTER TABLE ex DROP CONSTRAINT ex_pkey, ADD PRIMARY KEY (c);
ALTER TABLE ex DROP CONSTRAINT ex_pkey, ADD PRIMARY KEY (id, c);
ALTER TABLE ex DROP CONSTRAINT ex_pkey;
INSERT INTO ex VALUES (1, 10, 'a');
UPDATE ex SET c = 11, v = 'b' WHERE id = 1;
DELETE FROM ex WHERE id = 1;
RESET ROLE;
SELECT * FROM changes();

-- column list: the new key column is published from now on, and SCHEMA says so
CREATE TABLE k.inc (id int PRIMARY KEY, c int NOT NULL, v text);
ALTER TABLE k.inc OWNER TO key_owner;
SELECT tablepub.publish('k.inc', columns => '{v}');
INSERT INTO inc VALUES (1, 10, 'a');
TRUNCATE tablepub.outbox;
SET ROLE key_owner;
ALTER TABLE inc DROP CONSTRAINT inc_pkey, ADD PRIMARY KEY (c);
INSERT INTO inc VALUES (2, 20, 'b');
UPDATE inc SET v = 'x' WHERE c = 10;
UPDATE inc SET c = 11 WHERE c = 10;
UPDATE inc SET id = 3 WHERE c = 20;
DELETE FROM inc WHERE c = 11;
RESET ROLE;
SELECT * FROM changes();
SELECT "table", columns FROM tablepub.publications WHERE "table" = 'k.inc'::regclass;

-- all columns: a wider key
CREATE TABLE k.allc (id int PRIMARY KEY, c int NOT NULL, v text);
ALTER TABLE k.allc OWNER TO key_owner;
SELECT tablepub.publish('k.allc', full_row => true);
INSERT INTO allc VALUES (1, 10, 'a');
TRUNCATE tablepub.outbox;
SET ROLE key_owner;
ALTER TABLE allc DROP CONSTRAINT allc_pkey, ADD PRIMARY KEY (c, id);
UPDATE allc SET c = 11 WHERE id = 1;
DELETE FROM allc WHERE id = 1;
RESET ROLE;
SELECT * FROM changes();

-- a publication left inconsistent (a key column excluded before the DDL
-- check existed): writes are refused with an error, never encoded
CREATE TABLE k.bad (id int PRIMARY KEY, c int NOT NULL);
SELECT tablepub.publish('k.bad');
UPDATE tablepub.publication SET exclude_attnums = '{1}' WHERE relid = 'k.bad'::regclass;
SELECT tablepub.encode_row('k.bad', row(1, 2)::k.bad);
INSERT INTO bad VALUES (1, 2);
SELECT tablepub.publish('k.bad');
INSERT INTO bad VALUES (1, 2);
SELECT * FROM changes();

RESET search_path;
DROP EXTENSION tablepub;
DROP SCHEMA k CASCADE;
DROP FUNCTION changes();
DROP ROLE key_owner;
