-- tablepub 0.2 -> 0.3: exactness under adversity (capture that cannot be
-- bypassed, partition DDL and oversized changes as RESYNC, any server
-- encoding) and least privilege (hardened SQL entry points, a relay that
-- needs nothing but membership in tablepub_relay).
\echo Use "ALTER EXTENSION tablepub UPDATE TO '0.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Capture and DDL guards
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- SQL entry points and privileges
-- ---------------------------------------------------------------------------

-- Who may call what (docs/operations.md, "Database roles and privileges"):
-- PUBLIC publishes and unpublishes its own tables and reads which tables are
-- published; tablepub_relay reads the outbox and the published tables and
-- keeps its state; tablepub_admin manages every table's publication. The
-- test privileges.sql lists every grant, so a change here shows there.

-- decode_change() parses bytes chosen by its caller in C. It reads nothing
-- from the database, so it leaks nothing, but it is attack surface that only
-- people debugging the outbox need: those who can read the outbox (the relay)
-- and the administrators.
REVOKE EXECUTE ON FUNCTION tablepub.decode_change(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.decode_change(bytea) TO tablepub_relay, tablepub_admin;

-- The view tablepub.publications calls published_attnums() with the privileges
-- of whoever reads the view (a view checks tables as its owner, functions as
-- the caller), so every reader of the view needs it: PUBLIC (the view is
-- public) and the relay, whose snapshot and replay queries read the view.
-- It returns attribute numbers of the publication row it is given, computed
-- from pg_attribute and pg_index, which every role can read anyway.
GRANT EXECUTE ON FUNCTION tablepub.published_attnums(tablepub.publication) TO PUBLIC;

-- The relay reads a published table by its qualified name (snapshot query,
-- LOCK TABLE), which needs USAGE on the table's schema as well as SELECT on
-- the table; without it a non-superuser relay could not snapshot a table in
-- any schema but public. USAGE on a schema only lets the relay look names up
-- in it; every other table there stays closed to it. The grant stays after
-- unpublish() (another published table may share the schema, and a DBA may
-- have granted it too).
CREATE FUNCTION tablepub.grant_relay_read(tbl regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT SELECT ON %s TO tablepub_relay', tbl);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO tablepub_relay',
                   (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = tbl));
END
$$;
COMMENT ON FUNCTION tablepub.grant_relay_read(regclass) IS 'internal: lets tablepub_relay read a published table (SELECT on it, USAGE on its schema)';
REVOKE ALL ON FUNCTION tablepub.grant_relay_read(regclass) FROM PUBLIC;

-- publish() as in 0.1, granting through grant_relay_read().
CREATE OR REPLACE FUNCTION tablepub.publish(tbl regclass, columns text[] DEFAULT NULL,
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
    PERFORM tablepub.grant_relay_read(tbl);
    PERFORM tablepub.record_event(tbl, 'schema');
END
$$;

-- Tables published before 0.3.
SELECT tablepub.grant_relay_read(relid::regclass) FROM tablepub.publication;

-- ---------------------------------------------------------------------------
-- Relay state, snapshot and replay support
-- ---------------------------------------------------------------------------
