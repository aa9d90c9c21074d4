-- Packed outbox rows under attack (issue 10, docs/design.md "Packed outbox
-- rows"): statements whose captures do not follow the plain path of one
-- executor run, and writers that change tablepub.pack_bytes while their own
-- changes are buffered. One workload, run with pack_bytes 0 and packed,
-- must leave the same changes in the same order (each of its table), every
-- pack well-formed and within its bound:
--   a user AFTER ROW trigger writing another published table and its own
--   table without a subtransaction (nested statements flush the buffer);
--   a BEFORE ROW trigger that skips and changes rows; an AFTER STATEMENT
--   trigger; a trigger that moves tablepub.pack_bytes (SET LOCAL) row by
--   row; a writable CTE over two published tables; INSERT ... ON CONFLICT
--   DO UPDATE; MERGE; UPDATE moving rows between partitions; foreign key
--   cascades (DELETE and UPDATE) into another published table;
--   COPY (a utility: its captures stay buffered after it) followed by
--   exception blocks that write directly and one that fails; TRUNCATE and
--   a table rewrite (ALTER TYPE) in the middle of a transaction with
--   buffered changes; a deferred constraint trigger writing at commit;
--   session_replication_role = replica for a part of a transaction;
--   a 1 MB value and a TOASTed unchanged value next to small ones; bytea
--   values starting with 0x00.
-- Then the bound itself: two changes pack exactly when the pack, marker
-- and length prefixes included, fits pack_bytes.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE EXTENSION tablepub;

CREATE PROCEDURE setup() LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE a (id int PRIMARY KEY, v text);
    CREATE TABLE b (id int PRIMARY KEY, v text);
    CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
    CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
    CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (1000000);
    CREATE TABLE z (id int PRIMARY KEY, b bytea, big text);
    CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a ON DELETE CASCADE ON UPDATE CASCADE);
    PERFORM tablepub.publish('a');
    PERFORM tablepub.publish('b');
    PERFORM tablepub.publish('p');
    PERFORM tablepub.publish('z');
    PERFORM tablepub.publish('c');
    CREATE TRIGGER a_before BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION a_before();
    CREATE TRIGGER a_after AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION a_after();
    CREATE TRIGGER a_stmt AFTER INSERT OR UPDATE ON a FOR EACH STATEMENT EXECUTE FUNCTION a_stmt();
    CREATE CONSTRAINT TRIGGER b_deferred AFTER INSERT ON b DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.id = 5000) EXECUTE FUNCTION b_deferred();
END $$;

-- Skips every 11th row, changes every 5th.
CREATE FUNCTION a_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id % 11 = 0 THEN
        RETURN NULL;
    END IF;
    IF NEW.id % 5 = 0 THEN
        NEW.v := coalesce(NEW.v, '') || ' changed before';
    END IF;
    RETURN NEW;
END $$;

-- Runs among a's captures (its name sorts first): writes b and a itself in
-- nested statements, and moves pack_bytes while a's changes are buffered
-- (only in a packed run, so that the plain run stays plain).
CREATE FUNCTION a_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT setting::int FROM pg_settings WHERE name = 'tablepub.pack_bytes') > 0 THEN
        PERFORM set_config('tablepub.pack_bytes', (1 + (NEW.id % 4) * 333)::text, true);
    END IF;
    IF NEW.id % 4 = 0 THEN
        INSERT INTO b VALUES (NEW.id, 'from a ' || NEW.id) ON CONFLICT (id) DO UPDATE SET v = b.v || '+';
    END IF;
    IF NEW.id % 7 = 0 THEN
        UPDATE a SET v = v || ' touched by ' || NEW.id WHERE id = NEW.id - 1;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION a_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO b VALUES (-1, 'statement') ON CONFLICT (id) DO UPDATE SET v = b.v || '.';
    RETURN NULL;
END $$;

-- At commit, after every statement of the transaction.
CREATE FUNCTION b_deferred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO p SELECT g, 'deferred' FROM generate_series(900, 905) g;
    RETURN NULL;
END $$;

CREATE PROCEDURE workload() LANGUAGE plpgsql AS $$
BEGIN
    -- Triggers interleave a's, b's and a's own nested changes.
    INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, 60) g;
    COMMIT;
    -- A writable CTE over two published tables; ON CONFLICT; MERGE.
    WITH x AS (UPDATE a SET v = v || ' cte' WHERE id % 3 = 0 RETURNING id)
    INSERT INTO b SELECT id + 1000, 'cte' FROM x;
    INSERT INTO a SELECT g, 'upsert' FROM generate_series(50, 70) g
        ON CONFLICT (id) DO UPDATE SET v = excluded.v || ' over ' || a.v;
    MERGE INTO b USING generate_series(1000, 1040) g ON b.id = g
        WHEN MATCHED AND g % 2 = 0 THEN DELETE
        WHEN MATCHED THEN UPDATE SET v = 'merged'
        WHEN NOT MATCHED THEN INSERT VALUES (g, 'merge new');
    -- Partitions: one published table, rows moving between partitions.
    INSERT INTO p SELECT g, 'p' || g FROM generate_series(1, 150, 3) g;
    UPDATE p SET id = id + 100 WHERE id < 40;
    -- Foreign key cascades: c's changes in the RI triggers' nested queries.
    INSERT INTO c SELECT g, g % 60 + 1 FROM generate_series(1, 120) g WHERE (g % 60 + 1) % 11 <> 0;
    DELETE FROM a WHERE id % 6 = 0;
    UPDATE a SET id = id + 10000 WHERE id BETWEEN 40 AND 49;
    COMMIT;
    -- COPY is a utility: its captures are still buffered after it, when
    -- the exception blocks' subtransactions write directly.
    COPY b (id) FROM PROGRAM 'seq 2000 2150';
    BEGIN
        INSERT INTO a SELECT g, 'in block' FROM generate_series(3000, 3010) g;
        UPDATE b SET v = 'block' WHERE id BETWEEN 2000 AND 2005;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    BEGIN
        INSERT INTO b SELECT g, 'doomed' FROM generate_series(4000, 4010) g;
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    COPY b (id) FROM PROGRAM 'seq 2151 2190';
    -- TRUNCATE and a rewrite while b's COPY captures are buffered.
    TRUNCATE p;
    INSERT INTO p SELECT g, 'after truncate' FROM generate_series(1, 30) g;
    COPY p (id) FROM PROGRAM 'seq 500 520';
    ALTER TABLE p ALTER COLUMN v TYPE varchar(40) USING left(v, 40);
    INSERT INTO p SELECT g, 'after rewrite' FROM generate_series(600, 630) g;
    -- Not captured while replica, in the middle of a transaction.
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO b SELECT g, 'replica' FROM generate_series(4500, 4510) g;
    PERFORM set_config('session_replication_role', 'origin', true);
    -- The deferred trigger writes p at commit.
    INSERT INTO b VALUES (5000, 'deferred trigger');
    INSERT INTO b SELECT g, 'last' FROM generate_series(5001, 5030) g;
    COMMIT;
    -- A 1 MB value and a TOASTed one (unchanged by the update) between
    -- small rows; bytea starting with 0x00.
    INSERT INTO z SELECT g, decode(repeat('00', g), 'hex'),
                         CASE WHEN g = 10 THEN repeat('x', 1024 * 1024)
                              WHEN g = 20 THEN (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)
                         END
      FROM generate_series(1, 40) g;
    UPDATE z SET b = '\x00'::bytea || b;
    DELETE FROM z WHERE id % 2 = 0;
    COMMIT;
END $$;

CREATE PROCEDURE teardown() LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE c, a, b, p, z;
    TRUNCATE tablepub.outbox;
END $$;

-- Every change of the outbox in the order the relay publishes them, and the
-- layout: rows, packed rows, and whether every pack is within the bound,
-- well-formed (decoded entries of 2 or more) and its changes of its table.
CREATE TABLE seen (run text, i bigint, tbl text, c jsonb);
CREATE TABLE layout (run text, rows bigint, packed bigint, within_1000 boolean, two_or_more boolean,
                     unique_pos boolean, pos_of_last boolean);
CREATE PROCEDURE remember(run text) LANGUAGE sql AS $$
    INSERT INTO seen
    SELECT run, row_number() OVER (ORDER BY o.txid, o.pos, d.n), o.relid::regclass::text, d.c
      FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n);
    INSERT INTO layout
    SELECT run, count(*), count(*) FILTER (WHERE get_byte(change, 0) = 0),
           coalesce(bool_and(length(change) <= 1000) FILTER (WHERE get_byte(change, 0) = 0), true),
           coalesce(bool_and((SELECT count(*) FROM tablepub.decode_changes(change)) >= 2)
                    FILTER (WHERE get_byte(change, 0) = 0), true),
           count(DISTINCT (txid, pos)) = count(*),
           -- positions strictly increase change by change, so a row's pos
           -- (its last change's) is at least its number of changes past the
           -- previous row's: a pack holding its first change's pos (which
           -- would order its transaction too early in a batch) fails here
           (SELECT coalesce(bool_and(pos - prev >= n), true)
              FROM (SELECT pos, lag(pos) OVER (PARTITION BY txid ORDER BY pos) AS prev,
                           (SELECT count(*) FROM tablepub.decode_changes(change)) AS n
                      FROM tablepub.outbox) r
             WHERE prev IS NOT NULL)
      FROM tablepub.outbox;
$$;

-- Scans in key order: the runs capture rows in the same order whatever the
-- heap layout (which page pruning, depending on other sessions' snapshots,
-- may change from run to run).
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET tablepub.pack_bytes = 0;
CALL setup();
CALL workload();
CALL remember('plain');
CALL teardown();
RESET tablepub.pack_bytes;
CALL setup();
CALL workload();
CALL remember('packed');
CALL teardown();
SET tablepub.pack_bytes = 60;
CALL setup();
CALL workload();
CALL remember('60');
CALL teardown();
RESET tablepub.pack_bytes;

SELECT run, packed > 0 AS some_packed, within_1000, two_or_more, unique_pos, pos_of_last
  FROM layout ORDER BY run;
SELECT run, count(*) AS changes,
       array_agg(tbl || ' ' || c::text ORDER BY i) =
           (SELECT array_agg(tbl || ' ' || c::text ORDER BY i) FROM seen WHERE run = 'plain') AS same_as_plain,
       count(*) FILTER (WHERE c->'values'->>'v' IN ('doomed', 'replica')) AS not_committed_or_replica,
       count(*) FILTER (WHERE c->'values'->>'v' = 'deferred') AS deferred,
       count(*) FILTER (WHERE tbl = 'c' AND c->>'op' <> 'insert') AS cascaded,
       count(*) FILTER (WHERE tbl = 'b' AND c->>'op' = 'insert' AND (c->'key'->>'id')::int BETWEEN 2000 AND 2190)
           AS copied
  FROM seen GROUP BY run ORDER BY run;

-- The bound: two changes of 2 known sizes pack when 1 + their prefixed
-- sizes fit pack_bytes, and not one byte below.
CREATE TABLE two (id int PRIMARY KEY, v text);
SELECT tablepub.publish('two');
SET tablepub.pack_bytes = 0;
INSERT INTO two VALUES (1, repeat('a', 300)), (2, repeat('b', 500));
CREATE TABLE sizes AS SELECT length(change) AS len FROM tablepub.outbox
 WHERE tablepub.decode_change(change)->>'op' = 'insert';
-- 1 + (varint(len) + len) for each: every length here takes a 2-byte varint
SELECT count(*) AS changes, bool_and(len BETWEEN 128 AND 16383) AS two_byte_varints FROM sizes;
SELECT (1 + sum(2 + len))::int AS exact FROM sizes \gset
DELETE FROM two;
TRUNCATE tablepub.outbox;
SET tablepub.pack_bytes = :exact;
INSERT INTO two VALUES (1, repeat('a', 300)), (2, repeat('b', 500));
SELECT count(*) AS rows, bool_and(length(change) = :exact) AS exactly_the_bound,
       bool_and(get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;
DELETE FROM two;
TRUNCATE tablepub.outbox;
SELECT :exact - 1 AS below \gset
SET tablepub.pack_bytes = :below;
INSERT INTO two VALUES (1, repeat('a', 300)), (2, repeat('b', 500));
SELECT count(*) AS rows, count(*) FILTER (WHERE get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;
DELETE FROM two;
TRUNCATE tablepub.outbox;
-- a pack of exactly 1000 bytes at the default: the second value grown to fit
RESET tablepub.pack_bytes;
SELECT 500 + 1000 - :exact AS fill \gset
INSERT INTO two VALUES (1, repeat('a', 300)), (2, repeat('b', :fill));
SELECT count(*) AS rows, bool_and(length(change) = 1000) AS exactly_1000,
       bool_and(get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;
DELETE FROM two;
TRUNCATE tablepub.outbox;
INSERT INTO two VALUES (1, repeat('a', 300)), (2, repeat('b', :fill + 1));
SELECT count(*) AS rows, count(*) FILTER (WHERE get_byte(change, 0) = 0) AS packed FROM tablepub.outbox;

-- Two-phase commit at the top level: COPY's captures still buffered when
-- a savepoint's statements write directly (one released, one rolled back),
-- more COPY captures after them (packs must not span the direct rows), an
-- UPDATE that writes them, and PREPARE the rest. Packed, the same changes
-- in the same order as plain.
CREATE TABLE tp (id int PRIMARY KEY, v text);
SELECT tablepub.publish('tp');
CREATE TABLE tp_seen (run text, i bigint, c jsonb);
TRUNCATE tablepub.outbox;
SET tablepub.pack_bytes = 0;
BEGIN;
COPY tp (id) FROM PROGRAM 'seq 1 50';
SAVEPOINT s1;
INSERT INTO tp SELECT g, 'released' FROM generate_series(51, 60) g;
RELEASE s1;
SAVEPOINT s2;
INSERT INTO tp SELECT g, 'rolled back' FROM generate_series(61, 70) g;
ROLLBACK TO s2;
RELEASE s2;
COPY tp (id) FROM PROGRAM 'seq 71 90';
UPDATE tp SET v = 'updated' WHERE id % 3 = 0;
COPY tp (id) FROM PROGRAM 'seq 91 120';
PREPARE TRANSACTION 'packattack';
COMMIT PREPARED 'packattack';
INSERT INTO tp_seen
SELECT 'plain', row_number() OVER (ORDER BY o.txid, o.pos, d.n), d.c
  FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n) WHERE o.relid = 'tp'::regclass;
-- a new table: the UPDATE meets its rows in the same heap order
DROP TABLE tp;
CREATE TABLE tp (id int PRIMARY KEY, v text);
SELECT tablepub.publish('tp');
TRUNCATE tablepub.outbox;
RESET tablepub.pack_bytes;
BEGIN;
COPY tp (id) FROM PROGRAM 'seq 1 50';
SAVEPOINT s1;
INSERT INTO tp SELECT g, 'released' FROM generate_series(51, 60) g;
RELEASE s1;
SAVEPOINT s2;
INSERT INTO tp SELECT g, 'rolled back' FROM generate_series(61, 70) g;
ROLLBACK TO s2;
RELEASE s2;
COPY tp (id) FROM PROGRAM 'seq 71 90';
UPDATE tp SET v = 'updated' WHERE id % 3 = 0;
COPY tp (id) FROM PROGRAM 'seq 91 120';
PREPARE TRANSACTION 'packattack';
COMMIT PREPARED 'packattack';
SELECT count(*) AS rows, count(*) FILTER (WHERE get_byte(change, 0) = 0) > 0 AS some_packed FROM tablepub.outbox;
INSERT INTO tp_seen
SELECT 'packed', row_number() OVER (ORDER BY o.txid, o.pos, d.n), d.c
  FROM tablepub.outbox o, tablepub.decode_changes(o.change) WITH ORDINALITY d(c, n) WHERE o.relid = 'tp'::regclass;
SELECT run, count(*) AS changes,
       array_agg(c::text ORDER BY i) = (SELECT array_agg(c::text ORDER BY i) FROM tp_seen WHERE run = 'plain')
           AS same_as_plain,
       count(*) FILTER (WHERE c->'values'->>'v' = 'rolled back') AS rolled_back
  FROM tp_seen GROUP BY run ORDER BY run;
DROP TABLE tp, tp_seen;
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP EXTENSION tablepub;
DROP TABLE two, sizes, seen, layout;
DROP PROCEDURE setup(), workload(), teardown(), remember(text);
DROP FUNCTION a_before(), a_after(), a_stmt(), b_deferred();

-- A 0.3 relay still running across ALTER EXTENSION UPDATE (docs/
-- operations.md, "0.3 -> 0.4: packed outbox rows"): its relay_next_batch
-- (boolean), which its relay_finish_batch(..., p_next) calls too, may have
-- started before the update committed and take its snapshot after it, since
-- PostgreSQL goes on running a function it has looked up when another
-- transaction drops it (while the call waits for the row lock of
-- relay_state, for instance). That snapshot sees transactions that packed
-- after the update, and the 0.3 relay would publish each pack as one
-- change. After its snapshot, the 0.3 body records the batch with the
-- INSERT below, as the relay's role: it must fail, so that such a relay
-- never gets the batch. A batch a 0.3 relay recorded before the update is
-- finished by the new relay.
CREATE EXTENSION tablepub VERSION '0.3';
CREATE TABLE old (id int PRIMARY KEY, v text);
SELECT tablepub.publish('old');
CREATE ROLE tp_old_relay LOGIN IN ROLE tablepub_relay;
INSERT INTO old SELECT g, 'before the update' FROM generate_series(1, 10) g;
SET SESSION AUTHORIZATION tp_old_relay;
SELECT batch_id AS open_batch FROM tablepub.relay_next_batch(false) \gset
RESET SESSION AUTHORIZATION;
ALTER EXTENSION tablepub UPDATE;
INSERT INTO old SELECT g, 'after the update' FROM generate_series(11, 20) g;
SELECT count(*) FILTER (WHERE get_byte(change, 0) = 0) > 0 AS packed_rows FROM tablepub.outbox;
SET SESSION AUTHORIZATION tp_old_relay;
-- the new relay finishes the batch the 0.3 relay left open
SELECT batch_id = :open_batch AS same_batch FROM tablepub.relay_next_batch(false, 2);
SELECT count(*) AS next_batches
  FROM tablepub.relay_finish_batch(:open_batch, ARRAY['old'::regclass::oid], '{2}', '{11}', '{1}', '{1}',
                                   '{public}', '{old}', '{"\\x0a"}', '{t}', false, 1, 2);
-- what the 0.3 relay_next_batch(boolean) does after its snapshot
INSERT INTO tablepub.relay_batch (batch_id, prev, snap)
SELECT st.last_batch + 1, st.consumed, pg_current_snapshot() FROM tablepub.relay_state st;
-- what the new one does
SELECT batch_id - :open_batch AS next_batch FROM tablepub.relay_next_batch(false, 2);
RESET SESSION AUTHORIZATION;
SELECT batch_id - :open_batch AS batch, done IS NOT NULL AS done, outbox_format
  FROM tablepub.relay_batch ORDER BY batch_id;
DROP EXTENSION tablepub;
DROP TABLE old;
DROP ROLE tp_old_relay;
