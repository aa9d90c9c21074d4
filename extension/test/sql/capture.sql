-- Capture semantics: every operation, transactions, savepoints, key updates,
-- full_row, column lists, TRUNCATE, partitioned tables, ALTER TABLE.
\set VERBOSITY terse
SET client_min_messages = warning;
SET DateStyle = 'ISO, MDY';
SET TimeZone = 'UTC';

CREATE EXTENSION tablepub;
CREATE FUNCTION changes() RETURNS TABLE (tbl text, change jsonb) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT CASE WHEN EXISTS (SELECT FROM pg_class WHERE oid = o.relid)
                             THEN o.relid::regclass::text ELSE 'dropped table' END,
                        d.c
                   FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n)
                  ORDER BY o.txid, o.pos, d.n;
    TRUNCATE tablepub.outbox;
END $$;

CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric, note text);
SELECT tablepub.publish('acct');
SELECT change->>'op' AS op FROM changes();

-- every operation
INSERT INTO acct VALUES (1, 'ann', 10, 'a'), (2, 'bob', 20, NULL);
UPDATE acct SET balance = balance + 1 WHERE id = 1;
UPDATE acct SET balance = balance WHERE id = 1;
UPDATE acct SET owner = 'bob' WHERE id = 2;
UPDATE acct SET note = 'b' WHERE id = 2;
UPDATE acct SET note = NULL WHERE id = 2;
UPDATE acct SET balance = 11.0 WHERE id = 1;
UPDATE acct SET id = 3 WHERE id = 2;
UPDATE acct SET id = 4, owner = 'dan' WHERE id = 3;
DELETE FROM acct WHERE id = 4;
DELETE FROM acct WHERE id = 99;
SELECT * FROM changes();

-- one transaction: one txid (the top-level one, also from a subtransaction), positions increase
BEGIN;
INSERT INTO acct VALUES (10, 'x', 0, NULL);
SAVEPOINT s1;
INSERT INTO acct VALUES (11, 'kept', 0, NULL);
SELECT bool_and(txid = pg_current_xact_id()) AS top_level_txid, count(*) FROM tablepub.outbox;
RELEASE s1;
SAVEPOINT s2;
INSERT INTO acct VALUES (12, 'rolled back', 0, NULL);
UPDATE acct SET owner = 'rolled back' WHERE id = 10;
ROLLBACK TO s2;
UPDATE acct SET balance = 5 WHERE id = 10;
SELECT bool_and(pos > prev) AS increasing
  FROM (SELECT pos, lag(pos) OVER (ORDER BY pos) AS prev FROM tablepub.outbox) p WHERE prev IS NOT NULL;
COMMIT;
BEGIN;
INSERT INTO acct VALUES (13, 'whole transaction rolled back', 0, NULL);
ROLLBACK;
SELECT * FROM changes();

-- full_row: UPDATE and DELETE carry the whole row; an UPDATE changing nothing still records nothing
SELECT tablepub.publish('acct', full_row => true);
SELECT change->'schema'->'full_row' AS full_row FROM changes();
UPDATE acct SET balance = 7 WHERE id = 10;
UPDATE acct SET balance = 7 WHERE id = 10;
UPDATE acct SET id = 14 WHERE id = 11;
DELETE FROM acct WHERE id = 14;
SELECT * FROM changes();

-- exclude_columns: note is never sent; an UPDATE of only note records nothing
SELECT tablepub.publish('acct', exclude_columns => '{note}');
SELECT jsonb_path_query_array(change, '$.schema.columns[*].name') AS columns FROM changes();
INSERT INTO acct VALUES (20, 'eve', 1, 'secret');
UPDATE acct SET note = 'other secret' WHERE id = 20;
UPDATE acct SET note = 'x', balance = 2 WHERE id = 20;
DELETE FROM acct WHERE id = 20;
SELECT * FROM changes();

-- columns: only owner (and the primary key)
SELECT tablepub.publish('acct', columns => '{owner}');
SELECT jsonb_path_query_array(change, '$.schema.columns[*].name') AS columns FROM changes();
INSERT INTO acct VALUES (21, 'fay', 1, 'n');
UPDATE acct SET balance = 3 WHERE id = 21;
UPDATE acct SET owner = 'gus' WHERE id = 21;
SELECT * FROM changes();
SELECT tablepub.publish('acct');
SELECT count(*) FROM changes();

-- composite primary key, key order kept
CREATE TABLE pair (a int, b text, v int, PRIMARY KEY (b, a));
SELECT tablepub.publish('pair');
SELECT jsonb_path_query_array(change, '$.schema.columns[*] ? (@.key_position > 0)') AS key FROM changes();
INSERT INTO pair VALUES (1, 'one', 1);
UPDATE pair SET b = 'uno' WHERE a = 1;
DELETE FROM pair;
SELECT * FROM changes();

-- TRUNCATE: one event per published table per statement
TRUNCATE acct;
TRUNCATE acct, pair;
BEGIN;
TRUNCATE pair;
TRUNCATE pair;
COMMIT;
SELECT * FROM changes();

-- unpublished tables leave nothing
CREATE TABLE other (id int PRIMARY KEY);
INSERT INTO other VALUES (1);
UPDATE other SET id = 2;
TRUNCATE other;
SELECT count(*) FROM tablepub.outbox;

-- a large (toasted) value is captured whole; an UPDATE leaving it alone does not send it
INSERT INTO acct VALUES (30, 'big', 0, repeat('x', 100000));
UPDATE acct SET balance = 1 WHERE id = 30;
SELECT change->>'op' AS op, length(change->'values'->>'note') AS note_length,
       change->'values' ? 'note' AS has_note FROM changes();

-- partitioned table: published and captured under the parent
CREATE TABLE meas (id int, day date, v int, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE meas_2020 PARTITION OF meas FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
SELECT tablepub.publish('meas');
CREATE TABLE meas_2021 PARTITION OF meas FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE 'tablepub%' AND tgrelid::regclass::text LIKE 'meas%' ORDER BY 1, 2;
SELECT change->>'op' AS op FROM changes();
INSERT INTO meas VALUES (1, '2020-05-01', 1), (2, '2021-05-01', 2);
INSERT INTO meas_2021 VALUES (3, '2021-06-01', 3);
UPDATE meas SET v = 10 WHERE id = 1;
UPDATE meas SET day = '2021-05-02' WHERE id = 1;
DELETE FROM meas_2021 WHERE id = 3;
SELECT * FROM changes();
TRUNCATE meas_2020;
TRUNCATE meas;
SELECT * FROM changes();
-- a partition with its own column order, attached later
CREATE TABLE meas_2022 (v int, extra text, day date NOT NULL, id int NOT NULL);
ALTER TABLE meas_2022 DROP COLUMN extra;
ALTER TABLE meas ATTACH PARTITION meas_2022 FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
INSERT INTO meas VALUES (4, '2022-02-02', 4);
SELECT * FROM changes();
-- a detached partition is no longer captured
ALTER TABLE meas DETACH PARTITION meas_2022;
INSERT INTO meas_2022 VALUES (5, '2022-03-03', 5);
TRUNCATE meas_2022;
SELECT change->>'op' AS op FROM changes();

-- ALTER TABLE: a SCHEMA change, then DML in the new shape
ALTER TABLE acct ADD COLUMN extra int DEFAULT 0;
INSERT INTO acct VALUES (40, 'hal', 1, NULL, 5);
ALTER TABLE acct RENAME COLUMN owner TO holder;
UPDATE acct SET holder = 'ian' WHERE id = 40;
ALTER TABLE acct DROP COLUMN extra;
INSERT INTO acct VALUES (41, 'joe', 1, NULL);
ALTER TABLE acct RENAME TO account;
DELETE FROM account WHERE id = 41;
SELECT * FROM changes();
ALTER TABLE account DROP CONSTRAINT acct_pkey;
ALTER TABLE account DROP COLUMN id;
-- a column added to a table published with a column list is not published
SELECT tablepub.publish('account', columns => '{holder}');
ALTER TABLE account ADD COLUMN hidden int;
SELECT "table", columns FROM tablepub.publications WHERE "table" = 'account'::regclass;
INSERT INTO account VALUES (42, 'kim', 1, NULL, 7);
SELECT change FROM changes() WHERE change->>'op' = 'insert';

DROP EXTENSION tablepub;
DROP FUNCTION changes();
DROP TABLE account, pair, other, meas, meas_2022;
