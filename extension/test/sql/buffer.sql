-- Buffered capture: the rows of a statement are written together (heap
-- multi-insert) at the end of the statement, at the latest before commit;
-- positions follow capture order; rolled-back (sub)transactions leave nothing.
-- Sessions start with \c so that the first statement also loads the library
-- (its rows are written before the next statement starts).
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;
CREATE TABLE buf (id int PRIMARY KEY, v text);
SELECT tablepub.publish('buf');
CREATE TABLE buf2 (id int PRIMARY KEY, v text);
SELECT tablepub.publish('buf2');
-- op and key of every change in the order the relay publishes it
CREATE FUNCTION seen() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(left(d.c->>'op', 1) || coalesce(d.c->'key'->>'id', ''),
                      ' ' ORDER BY o.txid, o.pos, d.n)
      FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n)
     WHERE o.relid IN ('buf'::regclass, 'buf2'::regclass)
$$;
CREATE FUNCTION check_pos() RETURNS TABLE (n bigint, distinct_pos bigint, one_txid_per_pos boolean)
    LANGUAGE sql AS $$
    SELECT count(*), count(DISTINCT pos), count(DISTINCT (txid, pos)) = count(DISTINCT pos)
      FROM tablepub.outbox
$$;
TRUNCATE tablepub.outbox;

-- first statement of a session, read back in the same transaction
\c
BEGIN;
INSERT INTO buf SELECT g, 'a' FROM generate_series(1, 3) g;
SELECT seen();
UPDATE buf SET v = 'b' WHERE id > 1;
DELETE FROM buf WHERE id = 1;
SELECT seen();
COMMIT;
TRUNCATE tablepub.outbox;

-- savepoints: a rolled-back one drops its buffered rows, a released one keeps them
\c
BEGIN;
INSERT INTO buf VALUES (10, 'x'), (11, 'x');
SAVEPOINT a;
INSERT INTO buf VALUES (12, 'rolled back'), (13, 'rolled back');
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO buf VALUES (14, 'released');
RELEASE b;
SAVEPOINT c;
UPDATE buf SET v = 'y' WHERE id IN (10, 14);
ROLLBACK TO c;
INSERT INTO buf2 VALUES (15, 'z');
COMMIT;
SELECT seen();
TRUNCATE tablepub.outbox;

-- PL/pgSQL: a statement buffered before an exception block whose subtransaction
-- captures and rolls back, and one inside it that is kept
\c
DO $$
BEGIN
    INSERT INTO buf SELECT g, 'p' FROM generate_series(20, 22) g;
    BEGIN
        INSERT INTO buf VALUES (23, 'rolled back');
        UPDATE buf SET v = 'q' WHERE id = 20;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    BEGIN
        UPDATE buf SET v = 'kept' WHERE id = 21;
    EXCEPTION WHEN others THEN
        NULL;
    END;
    DELETE FROM buf WHERE id = 22;
END $$;
SELECT seen();
TRUNCATE tablepub.outbox;

-- a trigger that writes a published table from inside a subtransaction while
-- the outer statement's rows are still being captured
CREATE FUNCTION buf_echo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO buf2 VALUES (NEW.id + 1000, 'echo');
        IF NEW.id = 31 THEN
            RAISE EXCEPTION 'skip';
        END IF;
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_echo AFTER INSERT ON buf FOR EACH ROW EXECUTE FUNCTION buf_echo();
\c
INSERT INTO buf SELECT g, 'e' FROM generate_series(30, 32) g;
INSERT INTO buf SELECT g, 'e' FROM generate_series(33, 34) g;
SELECT seen();
DROP TRIGGER zz_echo ON buf;
TRUNCATE tablepub.outbox;

-- more rows than one buffer holds, COPY, TRUNCATE after buffered rows, PREPARE
\c
BEGIN;
INSERT INTO buf SELECT g, repeat('w', 2000) FROM generate_series(1000, 3499) g;
COPY buf2 FROM stdin;
40	c1
41	c2
\.
TRUNCATE buf;
COMMIT;
SELECT (SELECT count(*) FROM tablepub.outbox o, tablepub.decode_changes(o.change) c
         WHERE o.relid = 'buf'::regclass AND c->>'op' = 'insert') AS inserts,
       (SELECT string_agg(s, ' ') FROM (SELECT split_part(seen(), ' ', 2501) s
        UNION ALL SELECT split_part(seen(), ' ', 2502)
        UNION ALL SELECT split_part(seen(), ' ', 2503)) x) AS after_inserts;
SELECT * FROM check_pos();
TRUNCATE tablepub.outbox;
\c
BEGIN;
INSERT INTO buf SELECT g, 'prepared' FROM generate_series(50, 52) g;
PREPARE TRANSACTION 'tp_buffer';
SELECT count(*) AS before_commit FROM tablepub.outbox;
COMMIT PREPARED 'tp_buffer';
SELECT seen();
-- an aborted transaction leaves nothing, and the next one is still captured
BEGIN;
INSERT INTO buf SELECT g, 'aborted' FROM generate_series(60, 70) g;
ROLLBACK;
INSERT INTO buf VALUES (71, 'after');
SELECT seen();
SELECT * FROM check_pos();

DROP EXTENSION tablepub;
DROP FUNCTION seen(), check_pos(), buf_echo();
DROP TABLE buf, buf2;
