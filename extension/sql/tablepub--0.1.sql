\echo Use "CREATE EXTENSION tablepub" to load this file. \quit

-- Roles are cluster-wide and outlive the extension: create them only once.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tablepub_admin') THEN
        CREATE ROLE tablepub_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tablepub_relay') THEN
        CREATE ROLE tablepub_relay NOLOGIN;
    END IF;
END
$roles$;

CREATE SCHEMA tablepub;
COMMENT ON SCHEMA tablepub IS 'tablepub: publication catalog, outbox and functions';
REVOKE ALL ON SCHEMA tablepub FROM PUBLIC;
GRANT USAGE ON SCHEMA tablepub TO PUBLIC;

-- Catalog -------------------------------------------------------------------

CREATE TABLE tablepub.publication (
    relid           oid         PRIMARY KEY,
    full_row        boolean     NOT NULL DEFAULT false,
    include_attnums int2[],
    exclude_attnums int2[],
    since           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (include_attnums IS NULL OR exclude_attnums IS NULL)
);
COMMENT ON TABLE tablepub.publication IS
    'Published tables. Published columns: include_attnums plus the primary key when set, every column but exclude_attnums when that is set, else every column (also ones added later).';
COMMENT ON COLUMN tablepub.publication.relid IS 'the published table (a partitioned table publishes its partitions under its own oid)';
COMMENT ON COLUMN tablepub.publication.full_row IS 'UPDATE and DELETE carry every published column';
COMMENT ON COLUMN tablepub.publication.include_attnums IS 'publish only these attribute numbers (and the primary key); NULL: see exclude_attnums';
COMMENT ON COLUMN tablepub.publication.exclude_attnums IS 'publish every attribute but these; NULL: exclude nothing';
COMMENT ON COLUMN tablepub.publication.since IS 'when the table was last published or republished';

-- Outbox: insert-only, three list partitions rotated and cleaned by TRUNCATE.
CREATE TABLE tablepub.outbox (
    gen    int2  NOT NULL,
    txid   xid8  NOT NULL,
    pos    int8  NOT NULL,
    relid  oid   NOT NULL,
    change bytea NOT NULL
) PARTITION BY LIST (gen);
CREATE TABLE tablepub.outbox_0 PARTITION OF tablepub.outbox FOR VALUES IN (0);
CREATE TABLE tablepub.outbox_1 PARTITION OF tablepub.outbox FOR VALUES IN (1);
CREATE TABLE tablepub.outbox_2 PARTITION OF tablepub.outbox FOR VALUES IN (2);
-- A btree on txid finds a batch's transactions (txid between two snapshots'
-- bounds) without reading older rows; deduplication keeps the many rows of a
-- bulk transaction cheap (one posting list per txid).
CREATE INDEX outbox_txid ON tablepub.outbox (txid);
COMMENT ON INDEX tablepub.outbox_txid IS 'finds the rows of the transactions between two snapshots';
ALTER TABLE tablepub.outbox_0 ALTER COLUMN change SET STORAGE EXTERNAL;
ALTER TABLE tablepub.outbox_1 ALTER COLUMN change SET STORAGE EXTERNAL;
ALTER TABLE tablepub.outbox_2 ALTER COLUMN change SET STORAGE EXTERNAL;
COMMENT ON TABLE tablepub.outbox IS 'Captured changes, one serialized tablepub.v1.Change a row; written only by the capture trigger through the heap AM.';
COMMENT ON COLUMN tablepub.outbox.gen IS 'partition key: the generation current when the writing transaction first captured';
COMMENT ON COLUMN tablepub.outbox.txid IS 'top-level transaction id of the change';
COMMENT ON COLUMN tablepub.outbox.pos IS 'WAL insert position when captured, strictly increasing per backend';
COMMENT ON COLUMN tablepub.outbox.relid IS 'published table (the partitioned parent for a partition)';
COMMENT ON COLUMN tablepub.outbox.change IS 'serialized tablepub.v1.Change';
COMMENT ON TABLE tablepub.outbox_0 IS 'outbox generation 0';
COMMENT ON TABLE tablepub.outbox_1 IS 'outbox generation 1';
COMMENT ON TABLE tablepub.outbox_2 IS 'outbox generation 2';

CREATE TABLE tablepub.outbox_state (
    gen     int2        PRIMARY KEY CHECK (gen BETWEEN 0 AND 2),
    since   timestamptz,
    retired timestamptz
);
INSERT INTO tablepub.outbox_state VALUES
    (0, pg_catalog.now(), NULL),
    (1, NULL, '-infinity'),
    (2, NULL, '-infinity');
COMMENT ON TABLE tablepub.outbox_state IS 'One row per outbox partition; the current one has retired IS NULL.';
COMMENT ON COLUMN tablepub.outbox_state.gen IS 'outbox partition tablepub.outbox_<gen>';
COMMENT ON COLUMN tablepub.outbox_state.since IS 'when the partition last became current';
COMMENT ON COLUMN tablepub.outbox_state.retired IS 'when it stopped being current; NULL for the current partition';

-- C functions -----------------------------------------------------------------

CREATE FUNCTION tablepub.capture_row() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'tablepub_capture_row';
COMMENT ON FUNCTION tablepub.capture_row() IS 'AFTER ROW trigger of published tables: records INSERT, UPDATE and DELETE in the outbox';

CREATE FUNCTION tablepub.capture_truncate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'tablepub_capture_truncate';
COMMENT ON FUNCTION tablepub.capture_truncate() IS 'BEFORE TRUNCATE statement trigger of published tables and their partitions: records one TRUNCATE per statement';

CREATE FUNCTION tablepub.record_event(tbl regclass, op text) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_record_event';
COMMENT ON FUNCTION tablepub.record_event(regclass, text) IS 'internal: writes a SCHEMA or UNPUBLISH change for a table to the outbox';

CREATE FUNCTION tablepub.encode_row(tbl regclass, r record) RETURNS bytea
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'tablepub_encode_row';
COMMENT ON FUNCTION tablepub.encode_row(regclass, record) IS 'serializes row r of published table tbl as an INSERT-form tablepub.v1.Change (snapshots)';

CREATE FUNCTION tablepub.decode_change(change bytea) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'tablepub_decode_change';
COMMENT ON FUNCTION tablepub.decode_change(bytea) IS 'debugging: a serialized tablepub.v1.Change as jsonb';

CREATE FUNCTION tablepub.retention() RETURNS interval
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'tablepub_retention';
COMMENT ON FUNCTION tablepub.retention() IS 'the tablepub.retention setting as an interval';

CREATE FUNCTION tablepub.on_ddl_start() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'tablepub_on_ddl_start';
COMMENT ON FUNCTION tablepub.on_ddl_start() IS 'event trigger: before DROP EXTENSION tablepub, removes the capture triggers and grants from published tables';

-- Publication -----------------------------------------------------------------

-- The published attribute numbers of a table now, in table order.
CREATE FUNCTION tablepub.published_attnums(p tablepub.publication) RETURNS int2[]
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attnum ORDER BY a.attnum), '{}')
      FROM pg_attribute a
     WHERE a.attrelid = p.relid AND a.attnum > 0 AND NOT a.attisdropped
       AND CASE
             WHEN p.include_attnums IS NOT NULL THEN
                  a.attnum = ANY (p.include_attnums)
                  OR a.attnum = ANY (SELECT unnest(i.indkey::int2[]) FROM pg_index i
                                      WHERE i.indrelid = p.relid AND i.indisprimary)
             WHEN p.exclude_attnums IS NOT NULL THEN a.attnum <> ALL (p.exclude_attnums)
             ELSE true
           END
$$;
COMMENT ON FUNCTION tablepub.published_attnums(tablepub.publication) IS 'attribute numbers a publication publishes now, in table order';

-- Raises unless the calling role (as set by SET ROLE, not by SECURITY DEFINER)
-- owns tbl or is a member of tablepub_admin.
CREATE FUNCTION tablepub.check_may_manage(tbl regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_check_may_manage';
COMMENT ON FUNCTION tablepub.check_may_manage(regclass) IS 'internal: raises unless the calling role owns the table or is a member of tablepub_admin';

-- Creates the BEFORE TRUNCATE trigger on every partition of published table tbl lacking it.
CREATE FUNCTION tablepub.sync_partition_triggers(tbl regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT t.relid FROM pg_partition_tree(tbl) t
         WHERE t.relid <> tbl
           AND NOT EXISTS (SELECT FROM pg_trigger g
                            WHERE g.tgrelid = t.relid AND g.tgname = 'tablepub_capture_truncate')
    LOOP
        EXECUTE format('CREATE TRIGGER tablepub_capture_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate(%L)',
                       part, tbl::oid);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.sync_partition_triggers(regclass) IS 'internal: puts the TRUNCATE capture trigger on every partition of a published partitioned table';

CREATE FUNCTION tablepub.publish(tbl regclass, columns text[] DEFAULT NULL,
                                 exclude_columns text[] DEFAULT NULL,
                                 full_row boolean DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c       pg_class;
    pk      int2[];
    inc     int2[];
    exc     int2[];
    name    text;
    num     int2;
BEGIN
    SELECT * INTO c FROM pg_class WHERE oid = tbl;
    PERFORM tablepub.check_may_manage(tbl);
    IF c.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('"%s" is %s.', tbl, CASE c.relkind
                      WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                      WHEN 'S' THEN 'a sequence' WHEN 'f' THEN 'a foreign table'
                      WHEN 'i' THEN 'an index' WHEN 'I' THEN 'a partitioned index'
                      WHEN 'c' THEN 'a composite type' WHEN 't' THEN 'a TOAST table'
                      ELSE 'not a table' END),
                  HINT = 'Only plain and partitioned tables can be published.';
    END IF;
    IF c.relnamespace IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'tablepub'::regnamespace)
       OR c.oid < 16384 THEN
        RAISE EXCEPTION 'cannot publish system table "%"', tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only user tables can be published.';
    END IF;
    IF c.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot publish temporary table "%"', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Only permanent tables can be published; their changes outlive the session.';
    END IF;
    IF c.relispartition THEN
        RAISE EXCEPTION 'cannot publish partition "%"', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('Publish the partitioned table %s instead.', pg_partition_root(tbl));
    END IF;
    SELECT i.indkey::int2[] INTO pk FROM pg_index i WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'table "%" has no primary key', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add a primary key; changes are published by key.';
    END IF;
    IF columns IS NOT NULL AND exclude_columns IS NOT NULL THEN
        RAISE EXCEPTION 'columns and exclude_columns cannot both be given'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'List the columns to publish, or the columns to leave out, not both.';
    END IF;
    FOREACH name IN ARRAY coalesce(columns, exclude_columns, '{}') LOOP
        SELECT a.attnum INTO num FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = name AND a.attnum > 0 AND NOT a.attisdropped;
        IF num IS NULL THEN
            RAISE EXCEPTION 'column "%" of table "%" does not exist', name, tbl
                USING ERRCODE = 'undefined_column',
                      HINT = 'Column names are case sensitive and not quoted in the array.';
        END IF;
        IF columns IS NOT NULL THEN
            inc := array_append(inc, num);
        ELSE
            IF num = ANY (pk) THEN
                RAISE EXCEPTION 'cannot exclude primary key column "%" of table "%"', name, tbl
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Every change carries the primary key; leave it published.';
            END IF;
            exc := array_append(exc, num);
        END IF;
    END LOOP;
    IF columns IS NOT NULL THEN
        inc := coalesce(inc, '{}');
    END IF;

    INSERT INTO tablepub.publication AS p (relid, full_row, include_attnums, exclude_attnums)
    VALUES (tbl, full_row, inc, exc)
    ON CONFLICT (relid) DO UPDATE
       SET full_row = EXCLUDED.full_row, include_attnums = EXCLUDED.include_attnums,
           exclude_attnums = EXCLUDED.exclude_attnums, since = now();

    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tablepub_capture') THEN
        EXECUTE format('CREATE TRIGGER tablepub_capture AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tablepub.capture_row(%L)', tbl, tbl::oid);
        EXECUTE format('CREATE TRIGGER tablepub_capture_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate(%L)', tbl, tbl::oid);
    END IF;
    PERFORM tablepub.sync_partition_triggers(tbl);
    EXECUTE format('GRANT SELECT ON %s TO tablepub_relay', tbl);
    PERFORM tablepub.record_event(tbl, 'schema');
END
$$;
COMMENT ON FUNCTION tablepub.publish(regclass, text[], text[], boolean) IS
    'publishes the changes of a table (or updates its settings): all columns, only columns (plus the primary key), or all but exclude_columns; full_row sends whole rows on UPDATE and DELETE';

CREATE FUNCTION tablepub.unpublish(tbl regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
BEGIN
    PERFORM tablepub.check_may_manage(tbl);
    DELETE FROM tablepub.publication WHERE relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not published', tbl
            USING ERRCODE = 'undefined_object',
                  HINT = 'See the view tablepub.publications.';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS tablepub_capture ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS tablepub_capture_truncate ON %s', tbl);
    FOR part IN SELECT relid FROM pg_partition_tree(tbl) WHERE relid <> tbl LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS tablepub_capture_truncate ON %s', part);
    END LOOP;
    EXECUTE format('REVOKE SELECT ON %s FROM tablepub_relay', tbl);
    PERFORM tablepub.record_event(tbl, 'unpublish');
END
$$;
COMMENT ON FUNCTION tablepub.unpublish(regclass) IS 'stops publishing a table: removes its capture triggers and writes an UNPUBLISH change';

CREATE VIEW tablepub.publications AS
    SELECT p.relid::regclass AS "table",
           ARRAY(SELECT a.attname::text FROM unnest(tablepub.published_attnums(p)) AS n(attnum)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = p.relid AND a.attnum = n.attnum
                  ORDER BY n.attnum) AS columns,
           p.full_row,
           p.since
      FROM tablepub.publication p;
COMMENT ON VIEW tablepub.publications IS 'published tables, their published columns now, full_row and since when';

-- Event triggers --------------------------------------------------------------

-- After ALTER TABLE of a published table: keep its primary key, write a SCHEMA
-- change; after CREATE/ALTER of a partition tree: TRUNCATE triggers on new partitions.
CREATE FUNCTION tablepub.on_ddl_end() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel oid;
    pub oid;
BEGIN
    FOR rel IN
        SELECT DISTINCT objid FROM pg_event_trigger_ddl_commands()
         WHERE classid = 'pg_class'::regclass AND object_type IN ('table', 'table column')
    LOOP
        IF EXISTS (SELECT FROM tablepub.publication WHERE relid = rel) THEN
            IF NOT EXISTS (SELECT FROM pg_index WHERE indrelid = rel AND indisprimary) THEN
                RAISE EXCEPTION 'cannot remove the primary key of published table "%"', rel::regclass
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Unpublish the table first, or add the new primary key in the same ALTER TABLE.';
            END IF;
            PERFORM tablepub.record_event(rel, 'schema');
        END IF;
        FOR pub IN
            SELECT p.relid FROM tablepub.publication p
             WHERE p.relid = rel OR p.relid IN (SELECT pg_partition_ancestors(rel))
        LOOP
            PERFORM tablepub.sync_partition_triggers(pub);
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.on_ddl_end() IS 'event trigger: SCHEMA change after ALTER TABLE of a published table; TRUNCATE triggers on new partitions';

-- After DROP TABLE of a published table: forget it and write an UNPUBLISH change.
CREATE FUNCTION tablepub.on_sql_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel oid;
BEGIN
    FOR rel IN
        SELECT d.objid FROM pg_event_trigger_dropped_objects() d
         WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'table'
    LOOP
        DELETE FROM tablepub.publication WHERE relid = rel;
        IF FOUND THEN
            PERFORM tablepub.record_event(rel, 'unpublish');
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.on_sql_drop() IS 'event trigger: a dropped published table is unpublished';

-- Before DROP EXTENSION tablepub: drops every capture trigger and relay grant.
CREATE FUNCTION tablepub.remove_all() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tg record;
BEGIN
    FOR tg IN
        SELECT g.tgrelid::regclass AS rel, g.tgname FROM pg_trigger g
         WHERE g.tgfoid IN ('tablepub.capture_row()'::regprocedure, 'tablepub.capture_truncate()'::regprocedure)
           AND NOT g.tgisinternal AND g.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', tg.tgname, tg.rel);
    END LOOP;
    FOR tg IN SELECT relid::regclass AS rel FROM tablepub.publication LOOP
        EXECUTE format('REVOKE SELECT ON %s FROM tablepub_relay', tg.rel);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.remove_all() IS 'internal: removes capture triggers and relay grants from every published table';

CREATE EVENT TRIGGER tablepub_ddl_start ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION') EXECUTE FUNCTION tablepub.on_ddl_start();
CREATE EVENT TRIGGER tablepub_ddl_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE') EXECUTE FUNCTION tablepub.on_ddl_end();
CREATE EVENT TRIGGER tablepub_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED') EXECUTE FUNCTION tablepub.on_sql_drop();

-- Maintenance -----------------------------------------------------------------

CREATE FUNCTION tablepub.maintain(consumed pg_snapshot)
    RETURNS TABLE (rotated boolean, truncated int2[])
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp SET lock_timeout = '100ms' AS $$
DECLARE
    keep  interval := tablepub.retention();
    cur   tablepub.outbox_state;
    st    tablepub.outbox_state;
    empty boolean;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'tablepub.maintain() must run at isolation level read committed'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'It checks each partition with a snapshot taken after locking it.';
    END IF;
    rotated := false;
    truncated := '{}';
    SELECT * INTO cur FROM tablepub.outbox_state WHERE retired IS NULL FOR UPDATE;
    -- Rotate into the next partition once the current one is old, if the next is empty.
    IF cur.since < now() - keep THEN
        SELECT * INTO st FROM tablepub.outbox_state WHERE gen = (cur.gen + 1) % 3 FOR UPDATE;
        EXECUTE format('SELECT NOT EXISTS (SELECT FROM tablepub.outbox_%s)', st.gen) INTO empty;
        IF empty THEN
            UPDATE tablepub.outbox_state SET retired = now() WHERE gen = cur.gen;
            UPDATE tablepub.outbox_state SET since = now(), retired = NULL WHERE gen = st.gen;
            rotated := true;
        END IF;
    END IF;
    -- Truncate retired partitions whose rows are all published.
    FOR st IN
        SELECT * FROM tablepub.outbox_state WHERE retired < now() - keep ORDER BY gen FOR UPDATE
    LOOP
        BEGIN
            EXECUTE format('LOCK TABLE tablepub.outbox_%s IN ACCESS EXCLUSIVE MODE', st.gen);
        EXCEPTION WHEN lock_not_available THEN
            CONTINUE;
        END;
        -- The lock excludes writers; this statement's snapshot sees all they committed.
        EXECUTE format('SELECT NOT EXISTS (SELECT FROM tablepub.outbox_%s o'
                       ' WHERE NOT pg_visible_in_snapshot(o.txid, $1))', st.gen)
            INTO empty USING consumed;
        IF empty THEN
            EXECUTE format('SELECT NOT EXISTS (SELECT FROM tablepub.outbox_%s)', st.gen) INTO empty;
            IF NOT empty THEN
                EXECUTE format('TRUNCATE tablepub.outbox_%s', st.gen);
                truncated := truncated || st.gen;
            END IF;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION tablepub.maintain(pg_snapshot) IS
    'rotates the outbox to the next (empty) partition once the current one is older than tablepub.retention, and truncates retired partitions whose rows are all visible in consumed; returns what it did';

-- Privileges --------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA tablepub FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tablepub FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.publish(regclass, text[], text[], boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.unpublish(regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.decode_change(bytea) TO PUBLIC;
GRANT SELECT ON tablepub.publications TO PUBLIC;
GRANT SELECT ON tablepub.outbox, tablepub.outbox_0, tablepub.outbox_1, tablepub.outbox_2,
                tablepub.outbox_state, tablepub.publication TO tablepub_relay;
GRANT EXECUTE ON FUNCTION tablepub.encode_row(regclass, record) TO tablepub_relay, tablepub_admin;
GRANT EXECUTE ON FUNCTION tablepub.maintain(pg_snapshot) TO tablepub_relay;
GRANT EXECUTE ON FUNCTION tablepub.retention() TO tablepub_relay;
