-- Packed outbox rows (extension 0.4, docs/design.md "Packed outbox rows"):
-- the same changes in the same order as with tablepub.pack_bytes = 0, in
-- fewer rows; a pack holds 2 or more changes of one table, within the
-- bound, and never spans a row written directly (another subtransaction's
-- capture, SCHEMA); a rolled-back subtransaction leaves nothing; the 0.3 ->
-- 0.4 update; a non-superuser cannot get a malformed or oversized pack.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE pk (id int PRIMARY KEY, v text);
CREATE TABLE side (id int PRIMARY KEY, v text);
SELECT tablepub.publish('pk');
SELECT tablepub.publish('side');
SHOW tablepub.pack_bytes;

-- While pk's captures of a statement are buffered: every 5th row writes to
-- side in a subtransaction (written directly: the buffer belongs to the
-- outer one), row 7 alters side (SCHEMA, written directly after the
-- buffer), row 999 fails after its captures (its subtransaction's buffer
-- is discarded).
CREATE FUNCTION side_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 999 THEN
        RAISE EXCEPTION 'doomed';
    END IF;
    IF NEW.id % 5 = 0 THEN
        BEGIN
            INSERT INTO side VALUES (NEW.id, 'side ' || NEW.id);
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
    END IF;
    IF NEW.id = 7 THEN
        ALTER TABLE side ADD COLUMN c7 int;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_side AFTER INSERT ON pk FOR EACH ROW EXECUTE FUNCTION side_write();

-- Small, middling and big (over 1000 bytes) rows mixed; multi-row INSERT,
-- UPDATE and DELETE.
CREATE PROCEDURE workload() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pk SELECT g, CASE WHEN g % 17 = 0 THEN repeat('b', 1200)
                                  WHEN g % 13 = 0 THEN repeat('m', 450)
                                  ELSE 'v' || g END
      FROM generate_series(1, 120) g;
    BEGIN
        INSERT INTO pk SELECT g, 'doomed' FROM generate_series(990, 999) g;
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    UPDATE pk SET v = v || '!';
    DELETE FROM pk WHERE id % 3 = 0;
    INSERT INTO side SELECT g, 'x' FROM generate_series(1000, 1003) g;
END $$;
CREATE PROCEDURE reset() LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE side DROP COLUMN IF EXISTS c7;
    TRUNCATE pk, side;
    TRUNCATE tablepub.outbox;
END $$;

-- Every change of the outbox, in the order the relay publishes them.
CREATE TABLE seen (run text, i bigint, tbl text, c jsonb);
CREATE PROCEDURE remember(run text) LANGUAGE sql AS $$
    INSERT INTO seen
    SELECT run, row_number() OVER (ORDER BY o.txid, o.pos, d.n), o.relid::regclass::text, d.c
      FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n);
$$;
-- The rows: how many, how many packed, packs within the bound and of 2 or
-- more changes, plain rows over 1000 bytes, positions unique.
CREATE FUNCTION row_stats(bound int) RETURNS TABLE (rows bigint, packed bigint, within_bound boolean,
                                                    two_or_more boolean, big_plain bigint, unique_pos boolean)
    LANGUAGE sql AS $$
    SELECT count(*), count(*) FILTER (WHERE get_byte(change, 0) = 0),
           coalesce(bool_and(length(change) <= bound) FILTER (WHERE get_byte(change, 0) = 0), true),
           coalesce(bool_and((SELECT count(*) FROM tablepub.decode_changes(change)) >= 2)
                    FILTER (WHERE get_byte(change, 0) = 0), true),
           count(*) FILTER (WHERE length(change) > 1000),
           count(DISTINCT pos) = count(*)
      FROM tablepub.outbox
$$;

CALL reset();
SET tablepub.pack_bytes = 0;
CALL workload();
SELECT * FROM row_stats(1000);
CALL remember('plain');
CALL reset();
RESET tablepub.pack_bytes;
CALL workload();
SELECT * FROM row_stats(1000);
CALL remember('1000');
CALL reset();
SET tablepub.pack_bytes = 200;
CALL workload();
SELECT * FROM row_stats(200);
CALL remember('200');
CALL reset();
SET tablepub.pack_bytes = 40;
CALL workload();
SELECT * FROM row_stats(40);
CALL remember('40');
CALL reset();
RESET tablepub.pack_bytes;

-- the same changes in the same order, nothing of the failed subtransaction
SELECT run, count(*) AS changes,
       array_agg(tbl || ' ' || c::text ORDER BY i) =
           (SELECT array_agg(tbl || ' ' || c::text ORDER BY i) FROM seen WHERE run = 'plain') AS same_as_plain,
       count(*) FILTER (WHERE c->'values'->>'v' = 'doomed') AS doomed
  FROM seen GROUP BY run ORDER BY run;
-- what the changes are: side's inserts and SCHEMA between pk's inserts
SELECT string_agg(CASE WHEN tbl = 'side' THEN upper(left(c->>'op', 1)) ELSE left(c->>'op', 1) END
                  || coalesce(c->'key'->>'id', ''), ' ' ORDER BY i) AS plain_order
  FROM seen WHERE run = 'plain' AND i <= 16;

-- Upper bounds of the setting (any session may choose within them).
SET tablepub.pack_bytes = 1001;
SET tablepub.pack_bytes = '1kB';
SET tablepub.pack_bytes = -1;
RESET tablepub.pack_bytes;

-- A non-superuser: its own published table, every value it may set; what
-- it cannot reach is refused.
CREATE ROLE tp_packer LOGIN;
CREATE SCHEMA packer AUTHORIZATION tp_packer;
SET SESSION AUTHORIZATION tp_packer;
CREATE TABLE packer.t (id int PRIMARY KEY, b bytea);
SELECT tablepub.publish('packer.t');
SET tablepub.pack_bytes = 5;
INSERT INTO packer.t SELECT g, '\x00' FROM generate_series(1, 30) g;
SET tablepub.pack_bytes = 1000;
INSERT INTO packer.t SELECT g, decode(repeat('00', g * 7), 'hex') FROM generate_series(31, 200) g;
SET tablepub.pack_bytes = 999;
UPDATE packer.t SET b = b || '\x00';
SET tablepub.pack_bytes = 2000;
UPDATE tablepub.outbox_state SET outbox_format = 1;
ALTER ROLE tp_packer SET tablepub.pack_bytes = 5000;
RESET SESSION AUTHORIZATION;
SELECT * FROM row_stats(1000);
SELECT count(*) AS changes FROM tablepub.outbox o, tablepub.decode_changes(o.change);
DROP TABLE packer.t;
DROP SCHEMA packer;
DROP ROLE tp_packer;

DROP EXTENSION tablepub;
DROP TABLE pk, side, seen;
DROP FUNCTION side_write(), row_stats(int);
DROP PROCEDURE workload(), reset(), remember(text);

-- The update from 0.3: rows written before it stay plain and readable, the
-- ALTER EXTENSION transaction writes plain rows, later ones are packed; the
-- 0.3 relay functions are gone and the new ones refuse format 1.
CREATE EXTENSION tablepub VERSION '0.3';
CREATE TABLE up4 (id int PRIMARY KEY, v text);
SELECT tablepub.publish('up4');
INSERT INTO up4 SELECT g, 'before' FROM generate_series(1, 20) g;
BEGIN;
INSERT INTO up4 SELECT g, 'during' FROM generate_series(21, 30) g;
ALTER EXTENSION tablepub UPDATE TO '0.4';
INSERT INTO up4 SELECT g, 'during' FROM generate_series(31, 40) g;
COMMIT;
SELECT count(*) AS rows, count(*) FILTER (WHERE get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;
SELECT count(*) AS plain_rows_decoded FROM tablepub.outbox WHERE tablepub.decode_change(change) IS NOT NULL;
INSERT INTO up4 SELECT g, 'after' FROM generate_series(41, 60) g;
SELECT count(*) AS rows, count(*) FILTER (WHERE get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;
SELECT d.c->'values'->>'v' AS v, count(*), min((d.c->'key'->>'id')::int), max((d.c->'key'->>'id')::int)
  FROM tablepub.outbox o, tablepub.decode_changes(o.change) d(c)
 WHERE d.c->>'op' = 'insert' GROUP BY 1 ORDER BY 2 DESC, 1;
SELECT to_regprocedure('tablepub.relay_next_batch(boolean)') AS old_next,
       to_regprocedure('tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean, int8)') AS old_finish;
-- what a 0.3 relay calls
SELECT * FROM tablepub.relay_next_batch(true);
SELECT * FROM tablepub.relay_finish_batch(1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, 1);
-- a relay that passes format 1 (plain rows only)
CREATE FUNCTION outcome(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE 'SELECT count(*) FROM ' || call;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || SQLERRM || ' HINT: ' || hint;
END $$;
SELECT outcome('tablepub.relay_next_batch(false, 1)');
SELECT outcome($$tablepub.relay_finish_batch(1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, NULL, 1)$$);
SELECT outcome('tablepub.relay_next_batch(false, NULL)');
SELECT count(*) AS batches FROM tablepub.relay_batch;
DROP FUNCTION outcome(text);
DROP EXTENSION tablepub;
DROP TABLE up4;
