-- Excluded columns are remembered by number and by name: a column that a
-- migration drops and adds again under an excluded name, a column renamed
-- to an excluded name and an excluded column under its new name all stay
-- excluded (docs/design.md, "Published columns"); only publish() changes that.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
-- Captured changes in order (schema columns only), then empty the outbox.
CREATE FUNCTION changes() RETURNS SETOF jsonb LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RETURN QUERY SELECT CASE WHEN c->>'op' = 'schema'
                             THEN jsonb_build_object('schema', (SELECT jsonb_agg(x->>'name') FROM jsonb_array_elements(c->'schema'->'columns') x))
                             ELSE c END
                   FROM tablepub.outbox o, tablepub.decode_change(o.change) c ORDER BY o.txid, o.pos;
    TRUNCATE tablepub.outbox;
END $$;
CREATE ROLE excl_owner;
CREATE TABLE t (id int PRIMARY KEY, secret text, other text);
ALTER TABLE t OWNER TO excl_owner;
SELECT tablepub.publish('t', exclude_columns => '{secret}');
TRUNCATE tablepub.outbox;
-- the (non-superuser) owner migrates the table
SET ROLE excl_owner;

-- dropped and added again under the same name, in two statements and in one
ALTER TABLE t DROP COLUMN secret;
ALTER TABLE t ADD COLUMN secret text;
INSERT INTO t (id, secret, other) VALUES (1, 'leak 1', 'o');
ALTER TABLE t DROP COLUMN secret, ADD COLUMN secret text;
INSERT INTO t (id, secret, other) VALUES (2, 'leak 2', 'o');
SELECT * FROM changes();

-- the excluded column renamed: excluded under its new name, and its old
-- name stays excluded for a column taking it later
ALTER TABLE t RENAME secret TO hidden;
UPDATE t SET hidden = 'leak 3', other = 'p' WHERE id = 1;
ALTER TABLE t RENAME other TO secret;
UPDATE t SET hidden = 'leak 4', secret = 'leak 5' WHERE id = 1;
ALTER TABLE t RENAME secret TO other;
ALTER TABLE t RENAME hidden TO renamed_twice;
UPDATE t SET renamed_twice = 'leak 6', other = 'leak 7' WHERE id = 2;
-- the excluded column's former name, added again
ALTER TABLE t DROP COLUMN renamed_twice, ADD COLUMN hidden text;
UPDATE t SET hidden = 'leak 8' WHERE id = 2;
SELECT * FROM changes();
RESET ROLE;
SELECT "table", columns FROM tablepub.publications;
SELECT exclude_names FROM tablepub.publication WHERE relid = 't'::regclass;
-- a snapshot reads the same columns
SELECT tablepub.decode_change(tablepub.encode_row('t', t)) FROM t ORDER BY id;

-- a column added under an excluded name cannot become the primary key
ALTER TABLE t ADD COLUMN secret2 int;
SELECT tablepub.publish('t', exclude_columns => '{secret2}');
ALTER TABLE t DROP COLUMN secret2, ADD COLUMN secret2 int NOT NULL DEFAULT 0;
ALTER TABLE t DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (id, secret2);

-- publish() again is the only way back: names given now, nothing else
SELECT tablepub.publish('t', exclude_columns => '{other}');
SELECT "table", columns FROM tablepub.publications;
SELECT exclude_names FROM tablepub.publication WHERE relid = 't'::regclass;
SELECT tablepub.publish('t');
SELECT exclude_attnums, exclude_names FROM tablepub.publication WHERE relid = 't'::regclass;

DROP TABLE t;
TRUNCATE tablepub.outbox;

-- SCHEMA changes only when the published columns change: not for a column
-- a column list leaves out, nor for DDL that changes no published column
CREATE TABLE l (id int PRIMARY KEY, v text);
SELECT tablepub.publish('l', columns => '{v}');
ALTER TABLE l ADD COLUMN w text;
ALTER TABLE l ALTER COLUMN w SET NOT NULL, ADD COLUMN x int;
CREATE INDEX ON l (v);
ALTER TABLE l ALTER COLUMN v SET STATISTICS 200;
ALTER TABLE l ALTER COLUMN v SET NOT NULL;
ALTER TABLE l RENAME COLUMN v TO v2;
SELECT tablepub.publish('l', columns => '{v2}');
ALTER TABLE l DROP COLUMN x;
ALTER TABLE l RENAME TO l2;
ALTER TABLE l2 ADD COLUMN y int;
SELECT tablepub.publish('l2');
ALTER TABLE l2 ADD COLUMN z int;
-- a rolled back SCHEMA change is written again
BEGIN;
ALTER TABLE l2 DROP COLUMN z;
ROLLBACK;
BEGIN;
ALTER TABLE l2 DROP COLUMN z;
COMMIT;
SELECT c->>'op' AS op, c->'schema'->>'table_name' AS tbl, (SELECT jsonb_agg(x->>'name' || CASE WHEN (x->>'not_null')::boolean THEN '!' ELSE '' END)
                           FROM jsonb_array_elements(c->'schema'->'columns') x) AS columns
  FROM tablepub.outbox o, tablepub.decode_change(o.change) c ORDER BY o.txid, o.pos;
TRUNCATE tablepub.outbox;
DROP TABLE l2;
DROP ROLE excl_owner;
DROP EXTENSION tablepub;
