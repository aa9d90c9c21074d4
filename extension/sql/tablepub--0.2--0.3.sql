-- tablepub 0.2 -> 0.3: exactness under adversity (capture that cannot be
-- bypassed, partition DDL and oversized changes as RESYNC, any server
-- encoding) and least privilege (hardened SQL entry points, a relay that
-- needs nothing but membership in tablepub_relay).
\echo Use "ALTER EXTENSION tablepub UPDATE TO '0.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Capture and DDL guards
-- ---------------------------------------------------------------------------

-- Capture cannot be switched off in silence (docs/design.md section 1):
-- capture triggers fire in every session_replication_role (ENABLE ALWAYS),
-- and so do the event triggers; DDL that would disable, drop or rename a
-- capture trigger is refused; rows that enter, leave or change in a
-- published table without row triggers (ATTACH / DETACH / DROP of a
-- partition, ALTER COLUMN TYPE, ALTER TYPE ... RENAME VALUE) produce a
-- RESYNC change; a new primary key may not use an excluded column; no table
-- of a published partition tree may be unlogged.

CREATE FUNCTION tablepub.record_resync(tbl regclass, reason text) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_record_resync';
COMMENT ON FUNCTION tablepub.record_resync(regclass, text) IS 'internal: writes a RESYNC change for a table to the outbox';

CREATE FUNCTION tablepub.alter_table_events(cmd pg_ddl_command)
    RETURNS TABLE (event text, relid oid, attnum int2)
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_alter_table_events';
COMMENT ON FUNCTION tablepub.alter_table_events(pg_ddl_command) IS 'internal: ATTACH / DETACH PARTITION and ALTER COLUMN TYPE subcommands of a collected ALTER TABLE';

CREATE FUNCTION tablepub.renamed_enum(cmd pg_ddl_command) RETURNS oid
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_renamed_enum';
COMMENT ON FUNCTION tablepub.renamed_enum(pg_ddl_command) IS 'internal: the enum type of a collected ALTER TYPE ... RENAME VALUE';

-- Published tables with a published column whose values are (or contain,
-- through arrays, domains, ranges, multiranges or composites) of type typ.
CREATE FUNCTION tablepub.tables_using_type(typ oid) RETURNS SETOF oid
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE contains(outer_t, inner_t) AS MATERIALIZED (
        SELECT oid, typelem FROM pg_type WHERE typelem <> 0
        UNION ALL SELECT oid, typbasetype FROM pg_type WHERE typbasetype <> 0
        UNION ALL SELECT rngtypid, rngsubtype FROM pg_range
        UNION ALL SELECT rngmultitypid, rngtypid FROM pg_range
        UNION ALL SELECT t.oid, a.atttypid FROM pg_type t
                    JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                   WHERE t.typrelid <> 0
    ), uses(t) AS (
        SELECT typ
        UNION
        SELECT c.outer_t FROM contains c JOIN uses u ON c.inner_t = u.t
    )
    SELECT p.relid FROM tablepub.publication p
     WHERE EXISTS (SELECT FROM pg_attribute a
                    WHERE a.attrelid = p.relid AND a.attnum = ANY (tablepub.published_attnums(p))
                      AND a.atttypid IN (SELECT t FROM uses))
$$;
COMMENT ON FUNCTION tablepub.tables_using_type(oid) IS 'internal: published tables with a published column of (or containing) a type';

CREATE FUNCTION tablepub.dropped_partitions() RETURNS TABLE (partition text, ancestors oid[])
    LANGUAGE c AS 'MODULE_PATHNAME', 'tablepub_dropped_partitions';
COMMENT ON FUNCTION tablepub.dropped_partitions() IS 'internal: the partitions the current DROP removed, with their ancestors (once)';

CREATE FUNCTION tablepub.drop_capture_trigger(tbl regclass, tgname name) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_drop_capture_trigger';
COMMENT ON FUNCTION tablepub.drop_capture_trigger(regclass, name) IS 'internal: drops a capture trigger without DROP TRIGGER (and its guard)';

CREATE FUNCTION tablepub.enable_trigger_always(tbl regclass, tgname name) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_enable_trigger_always';
COMMENT ON FUNCTION tablepub.enable_trigger_always(regclass, name) IS 'internal: makes a capture trigger fire in every session_replication_role';

-- Creates the BEFORE TRUNCATE trigger (ENABLE ALWAYS) on every partition of
-- published table tbl lacking one for tbl; a trigger of that name left by
-- another publication (a partition detached from it) is replaced.
CREATE FUNCTION tablepub.add_partition_triggers(tbl regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT t.relid FROM pg_partition_tree(tbl) t
         WHERE t.relid <> tbl
           AND NOT EXISTS (SELECT FROM pg_trigger g
                            WHERE g.tgrelid = t.relid AND g.tgname = 'tablepub_capture_truncate'
                              AND g.tgfoid = 'tablepub.capture_truncate()'::regprocedure
                              AND g.tgargs = convert_to(tbl::oid::text, 'UTF8') || '\x00'::bytea)
    LOOP
        IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = part AND tgname = 'tablepub_capture_truncate') THEN
            PERFORM tablepub.drop_capture_trigger(part, 'tablepub_capture_truncate');
        END IF;
        EXECUTE format('CREATE TRIGGER tablepub_capture_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate(%L)',
                       part, tbl::oid);
        PERFORM tablepub.enable_trigger_always(part, 'tablepub_capture_truncate');
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.add_partition_triggers(regclass) IS 'internal: puts the TRUNCATE capture trigger on every partition of a published partitioned table';

-- publish() calls this after creating the table's triggers: partitions get
-- their TRUNCATE trigger, and every capture trigger of the tree fires ALWAYS.
CREATE OR REPLACE FUNCTION tablepub.sync_partition_triggers(tbl regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tg record;
BEGIN
    PERFORM tablepub.add_partition_triggers(tbl);
    FOR tg IN
        SELECT g.tgrelid::regclass AS rel, g.tgname
          FROM (SELECT tbl::oid AS relid, 0 AS level
                UNION SELECT relid, level FROM pg_partition_tree(tbl)) t
          JOIN pg_trigger g ON g.tgrelid = t.relid
         WHERE g.tgfoid IN ('tablepub.capture_row()'::regprocedure, 'tablepub.capture_truncate()'::regprocedure)
           AND g.tgenabled <> 'A'
         ORDER BY t.level
    LOOP
        PERFORM tablepub.enable_trigger_always(tg.rel, tg.tgname);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.sync_partition_triggers(regclass) IS 'internal: TRUNCATE capture triggers on every partition of a published table, and every capture trigger of it ENABLE ALWAYS';

-- Raises unless every table of published table pub's partition tree has
-- both capture triggers, enabled ALWAYS.
CREATE FUNCTION tablepub.check_capture_triggers(pub regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT t.relid::regclass AS rel, n.tgname, g.tgenabled INTO bad
      FROM (SELECT pub::oid AS relid, 0 AS level
            UNION SELECT relid, level FROM pg_partition_tree(pub)) t
     CROSS JOIN (VALUES ('tablepub_capture', 'tablepub.capture_row()'::regprocedure),
                        ('tablepub_capture_truncate', 'tablepub.capture_truncate()'::regprocedure)) AS n(tgname, fn)
      LEFT JOIN pg_trigger g ON g.tgrelid = t.relid AND g.tgname = n.tgname AND g.tgfoid = n.fn
     WHERE g.tgenabled IS DISTINCT FROM 'A'
     ORDER BY t.level, t.relid, n.tgname
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    ELSIF bad.tgenabled IS NULL THEN
        RAISE EXCEPTION 'cannot drop or rename trigger "%" on table "%"', bad.tgname, bad.rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The trigger captures the changes of published table "%s".', pub),
                  HINT = format('To stop publishing the table, use tablepub.unpublish(%L).', pub::text);
    ELSIF bad.tgenabled = 'D' THEN
        RAISE EXCEPTION 'cannot disable trigger "%" on table "%"', bad.tgname, bad.rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The trigger captures the changes of published table "%s"; changes made while it is disabled would never reach subscribers.', pub),
                  HINT = format('To stop publishing the table, use tablepub.unpublish(%L); disable other triggers by name.', pub::text);
    ELSE
        RAISE EXCEPTION 'trigger "%" on table "%" must stay ENABLE ALWAYS', bad.tgname, bad.rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The trigger captures the changes of published table "%s"; enabled for one session_replication_role only, it would miss changes made in the other (logical replication, pg_restore).', pub),
                  HINT = format('To stop publishing the table, use tablepub.unpublish(%L).', pub::text);
    END IF;
END
$$;
COMMENT ON FUNCTION tablepub.check_capture_triggers(regclass) IS 'internal: raises unless every capture trigger of a published table and its partitions exists and is ENABLE ALWAYS';

CREATE FUNCTION tablepub.resync(tbl regclass, reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM tablepub.check_may_manage(tbl);
    IF NOT EXISTS (SELECT FROM tablepub.publication WHERE relid = tbl) THEN
        RAISE EXCEPTION 'table "%" is not published', tbl
            USING ERRCODE = 'undefined_object',
                  HINT = 'See the view tablepub.publications.';
    END IF;
    IF reason IS NULL OR reason = '' THEN
        RAISE EXCEPTION 'a reason is required'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say in a few words why subscribers must take a new snapshot; they log it.';
    END IF;
    IF octet_length(reason) > 1000 THEN
        RAISE EXCEPTION 'reason is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It has %s bytes; at most 1000 are allowed.', octet_length(reason));
    END IF;
    PERFORM tablepub.record_resync(tbl, reason);
END
$$;
COMMENT ON FUNCTION tablepub.resync(regclass, text) IS
    'tells every subscriber of a published table to drop its copy and take a new snapshot (after changing its rows in a way capture does not see); reason is shown to them';

-- on_ddl_end(), the event trigger after ALTER TABLE / CREATE TABLE / ALTER
-- TRIGGER / ALTER TYPE, is defined further down, after record_schema(),
-- which it calls.

-- After any DROP: a dropped published table is unpublished, dropped
-- partitions of a published table make it RESYNC, a dropped capture trigger
-- is refused.
CREATE OR REPLACE FUNCTION tablepub.on_sql_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel oid;
    r   record;
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
    FOR r IN
        SELECT p.relid, array_agg(d.partition ORDER BY d.partition) AS parts
          FROM tablepub.dropped_partitions() d
          JOIN tablepub.publication p ON p.relid = ANY (d.ancestors)
         GROUP BY p.relid
    LOOP
        PERFORM tablepub.record_resync(r.relid,
            CASE WHEN cardinality(r.parts) = 1 THEN format('partition %s dropped', r.parts[1])
                 WHEN cardinality(r.parts) <= 5 THEN format('partitions %s dropped', array_to_string(r.parts, ', '))
                 ELSE format('partitions %s and %s more dropped', array_to_string(r.parts[1:5], ', '),
                             cardinality(r.parts) - 5)
            END);
    END LOOP;
    -- a capture trigger dropped from a table that is still there: the
    -- publications that table belongs to must still be whole
    FOR rel IN
        SELECT DISTINCT p.relid
          FROM pg_event_trigger_dropped_objects() d
          CROSS JOIN LATERAL to_regclass(format('%I.%I', d.address_names[1], d.address_names[2])) AS t(rel)
          JOIN tablepub.publication p
            ON p.relid = t.rel OR p.relid IN (SELECT pg_partition_ancestors(t.rel))
         WHERE d.object_type = 'trigger'
           AND d.address_names[3] IN ('tablepub_capture', 'tablepub_capture_truncate')
    LOOP
        PERFORM tablepub.check_capture_triggers(rel);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.on_sql_drop() IS 'event trigger: unpublishes dropped published tables, RESYNC for dropped partitions of published tables, refuses dropping a capture trigger';

-- Before DROP EXTENSION tablepub: forgets every publication (so that the
-- trigger guards let the triggers go), drops every capture trigger and relay grant.
CREATE OR REPLACE FUNCTION tablepub.remove_all() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tg record;
BEGIN
    FOR tg IN DELETE FROM tablepub.publication RETURNING relid::regclass AS rel LOOP
        EXECUTE format('REVOKE SELECT ON %s FROM tablepub_relay', tg.rel);
    END LOOP;
    FOR tg IN
        SELECT g.tgrelid::regclass AS rel, g.tgname FROM pg_trigger g
         WHERE g.tgfoid IN ('tablepub.capture_row()'::regprocedure, 'tablepub.capture_truncate()'::regprocedure)
           AND NOT g.tgisinternal AND g.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', tg.tgname, tg.rel);
    END LOOP;
END
$$;

-- Event triggers: every DDL command loads the library at its start (the
-- hook that sees dropped partitions); sql_drop for every DROP; ALTER
-- TRIGGER joins ddl_command_end. All fire ALWAYS, also when
-- session_replication_role = replica.
DROP EVENT TRIGGER tablepub_ddl_start;
DROP EVENT TRIGGER tablepub_ddl_end;
DROP EVENT TRIGGER tablepub_sql_drop;
CREATE EVENT TRIGGER tablepub_ddl_start ON ddl_command_start
    EXECUTE FUNCTION tablepub.on_ddl_start();
CREATE EVENT TRIGGER tablepub_ddl_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'ALTER TRIGGER', 'ALTER TYPE')
    EXECUTE FUNCTION tablepub.on_ddl_end();
CREATE EVENT TRIGGER tablepub_sql_drop ON sql_drop
    EXECUTE FUNCTION tablepub.on_sql_drop();
ALTER EVENT TRIGGER tablepub_ddl_start ENABLE ALWAYS;
ALTER EVENT TRIGGER tablepub_ddl_end ENABLE ALWAYS;
ALTER EVENT TRIGGER tablepub_sql_drop ENABLE ALWAYS;
COMMENT ON FUNCTION tablepub.on_ddl_start() IS 'event trigger at the start of every DDL command: loads the library (dropped partitions are seen by its hook); before DROP EXTENSION tablepub, removes the capture triggers and grants from published tables';

-- Existing publications: TRUNCATE triggers everywhere, every capture trigger ALWAYS.
DO $upgrade$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT relid FROM tablepub.publication ORDER BY relid LOOP
        PERFORM tablepub.sync_partition_triggers(rel);
    END LOOP;
END
$upgrade$;

REVOKE ALL ON FUNCTION tablepub.record_resync(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.alter_table_events(pg_ddl_command) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.dropped_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.renamed_enum(pg_ddl_command) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.tables_using_type(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.enable_trigger_always(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.drop_capture_trigger(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.add_partition_triggers(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.check_capture_triggers(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.resync(regclass, text) TO PUBLIC;


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

-- publish(), which calls it, is defined further down (section exclname),
-- after the column exclude_names it fills.

-- Tables published before 0.3.
SELECT tablepub.grant_relay_read(relid::regclass) FROM tablepub.publication;

-- ---------------------------------------------------------------------------
-- Relay state, snapshot and replay support
-- ---------------------------------------------------------------------------

-- The snapshot reads the published column names (tablepub.published_attnums)
-- to check a projection; the relay role needs nothing else for it.
GRANT EXECUTE ON FUNCTION tablepub.published_attnums(tablepub.publication) TO tablepub_relay;

-- The names a stream had before a batch renamed it. Replay uses them to
-- reproduce the names of messages from before a rename; the sync server
-- answers a snapshot or replay request under an old name with MOVED.
CREATE TABLE tablepub.relay_topic_history (
    relid       oid         NOT NULL,
    from_seq    int8        NOT NULL,
    schema_name text        NOT NULL,
    table_name  text        NOT NULL,
    renamed     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    seq         int8,
    PRIMARY KEY (relid, from_seq)
);
CREATE INDEX relay_topic_history_name ON tablepub.relay_topic_history (schema_name, table_name);
COMMENT ON TABLE tablepub.relay_topic_history IS
    'Names of a relay stream before a batch renamed it (its topic moved); kept while a retained batch may need them.';
COMMENT ON COLUMN tablepub.relay_topic_history.from_seq IS 'first sequence number of the batch that renamed the stream';
COMMENT ON COLUMN tablepub.relay_topic_history.schema_name IS 'schema of the topic before that batch';
COMMENT ON COLUMN tablepub.relay_topic_history.table_name IS 'table of the topic before that batch';
COMMENT ON COLUMN tablepub.relay_topic_history.renamed IS 'when the batch was marked done';
COMMENT ON COLUMN tablepub.relay_topic_history.seq IS 'the SCHEMA message that moved the stream off this topic (the relay stores it after the batch; NULL until then)';

-- relay_finish_batch upserts relay_stream; a stream whose names change
-- leaves its former names here, in the same commit.
CREATE FUNCTION tablepub.relay_stream_renamed() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO tablepub.relay_topic_history (relid, from_seq, schema_name, table_name)
    VALUES (OLD.relid, OLD.last_seq + 1, OLD.schema_name, OLD.table_name)
    ON CONFLICT (relid, from_seq) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION tablepub.relay_stream_renamed() IS 'trigger: records the former names of a renamed relay stream';
CREATE TRIGGER relay_stream_renamed AFTER UPDATE ON tablepub.relay_stream FOR EACH ROW
    WHEN (OLD.schema_name IS DISTINCT FROM NEW.schema_name OR OLD.table_name IS DISTINCT FROM NEW.table_name)
    EXECUTE FUNCTION tablepub.relay_stream_renamed();

-- As in 0.2, plus: forget former names no retained batch can need (a
-- replay of batch B needs the names of renames from B on, recorded when
-- B or a later batch was marked done).
CREATE OR REPLACE FUNCTION tablepub.relay_maintain()
    RETURNS TABLE (rotated boolean, truncated int2[], batches_deleted int8)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st tablepub.relay_state;
BEGIN
    SELECT * INTO st FROM tablepub.relay_state;
    SELECT m.rotated, m.truncated INTO rotated, truncated FROM tablepub.maintain(st.consumed) m;
    DELETE FROM tablepub.relay_batch
     WHERE done < now() - tablepub.retention() AND batch_id < st.last_batch;
    GET DIAGNOSTICS batches_deleted = ROW_COUNT;
    DELETE FROM tablepub.relay_topic_history
     WHERE renamed < now() - tablepub.retention()
       AND renamed < (SELECT coalesce(min(b.done), 'infinity') FROM tablepub.relay_batch b);
    RETURN NEXT;
END
$$;

REVOKE ALL ON tablepub.relay_topic_history FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.relay_stream_renamed() FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON tablepub.relay_topic_history TO tablepub_relay;
GRANT UPDATE (seq) ON tablepub.relay_topic_history TO tablepub_relay;
COMMENT ON COLUMN tablepub.relay_stream.published IS 'false after an UNPUBLISH message (its heartbeats then say unpublished)';

-- ops12: status for operators (docs/operations.md, "Status in SQL") --------
-- SECURITY DEFINER functions, so that tablepub_admin and pg_monitor see the
-- relay's state and the outbox without reading either; the view
-- tablepub.status sums them up in one row. They read catalogs, the relay's
-- tables and the unpublished part of the outbox (through its txid index,
-- as the relay does): cheap while the relay keeps up, proportional to the
-- backlog when it does not. They never take an xid.

CREATE FUNCTION tablepub.status_tables()
    RETURNS TABLE (table_name regclass, published boolean, topic text, last_seq int8, last_published timestamptz,
                   waiting_rows int8, waiting_transactions int8, oldest_waiting_txid xid8,
                   oldest_waiting_xid_age int8, oldest_waiting_age interval)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH st AS (SELECT consumed FROM tablepub.relay_state),
    waiting AS (
        SELECT o.relid, count(*) AS n, count(DISTINCT o.txid) AS ntx, min(o.txid) AS oldest
          FROM tablepub.outbox o, st
         WHERE (o.txid >= pg_snapshot_xmax(st.consumed)
                OR o.txid = ANY (ARRAY(SELECT pg_snapshot_xip(st.consumed))))
           AND NOT pg_visible_in_snapshot(o.txid, st.consumed)
         GROUP BY o.relid)
    SELECT coalesce(p.relid, s.relid, w.relid)::regclass,
           p.relid IS NOT NULL,
           s.schema_name || '.' || s.table_name,
           coalesce(s.last_seq, 0),
           s.updated,
           coalesce(w.n, 0),
           coalesce(w.ntx, 0),
           w.oldest,
           pg_snapshot_xmax(pg_current_snapshot())::text::int8 - w.oldest::text::int8,
           CASE WHEN w.oldest IS NOT NULL AND current_setting('track_commit_timestamp')::boolean
                THEN now() - pg_xact_commit_timestamp(xid(w.oldest)) END
      FROM tablepub.publication p
      FULL JOIN tablepub.relay_stream s ON s.relid = p.relid
      FULL JOIN waiting w ON w.relid = coalesce(p.relid, s.relid)
     WHERE p.relid IS NOT NULL OR w.relid IS NOT NULL
     ORDER BY coalesce(p.relid, s.relid, w.relid)::regclass::text
$$;
COMMENT ON FUNCTION tablepub.status_tables() IS 'per published table (and any other table with unpublished outbox rows): its topic, last published seq and when its stream last moved, the committed outbox rows and transactions the relay has not published yet, the oldest of them and its age in transaction ids and (with track_commit_timestamp) in time';

CREATE FUNCTION tablepub.status_relays()
    RETURNS TABLE (role text, pid int, connected_since timestamptz, application_name text, client_addr inet,
                   usename name)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- The active relay holds the advisory lock tablepub.relay_lock_key() in
    -- this database; a standby waits for it (an ungranted lock).
    SELECT CASE WHEN l.granted THEN 'active' ELSE 'standby' END, l.pid, a.backend_start, a.application_name,
           a.client_addr, a.usename
      FROM pg_locks l
      LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory'
       AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND l.classid = (tablepub.relay_lock_key() >> 32)::oid
       AND l.objid = (tablepub.relay_lock_key() & 4294967295)::oid
       AND l.objsubid = 1
     ORDER BY l.granted DESC, a.backend_start, l.pid
$$;
COMMENT ON FUNCTION tablepub.status_relays() IS 'the relays connected to this database: the active one (holding the relay lock) and the standbys waiting for it, with their sessions';

CREATE FUNCTION tablepub.status_partitions()
    RETURNS TABLE (partition regclass, gen int2, state text, since timestamptz, retired timestamptz,
                   truncatable_after timestamptz, live_rows int8, bytes int8)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid::regclass, s.gen,
           CASE WHEN s.retired IS NULL THEN 'current'
                WHEN NOT EXISTS (SELECT FROM tablepub.outbox o WHERE o.gen = s.gen) THEN 'empty'
                ELSE 'retired' END,
           s.since, s.retired,
           CASE WHEN s.retired IS NOT NULL THEN s.retired + tablepub.retention() END,
           pg_stat_get_live_tuples(c.oid), pg_total_relation_size(c.oid)
      FROM tablepub.outbox_state s
      JOIN pg_class c ON c.relname = 'outbox_' || s.gen
                     AND c.relnamespace = 'tablepub'::regnamespace
     ORDER BY s.gen
$$;
COMMENT ON FUNCTION tablepub.status_partitions() IS 'the outbox partitions: current (written), retired (cleaned by TRUNCATE once published and older than tablepub.retention) or empty; live_rows is the statistics collector''s estimate';

CREATE VIEW tablepub.status AS
WITH relays AS (SELECT * FROM tablepub.status_relays()),
     tables AS (SELECT coalesce(sum(t.waiting_rows), 0)::int8 AS waiting_rows,
                       max(t.oldest_waiting_xid_age) AS oldest_waiting_xid_age,
                       max(t.oldest_waiting_age) AS oldest_waiting_age
                  FROM tablepub.status_tables() t),
     parts AS (SELECT max(p.partition::text) FILTER (WHERE p.state = 'current') AS current_partition,
                      sum(p.bytes)::int8 AS outbox_bytes
                 FROM tablepub.status_partitions() p)
SELECT (SELECT r.pid FROM relays r WHERE r.role = 'active') AS relay_pid,
       (SELECT r.connected_since FROM relays r WHERE r.role = 'active') AS relay_since,
       (SELECT array_agg(r.pid ORDER BY r.pid) FROM relays r WHERE r.role = 'standby') AS standby_pids,
       st.last_batch,
       st.updated AS last_batch_done,
       (SELECT b.created FROM tablepub.relay_batch b WHERE b.done IS NULL) AS open_batch_since,
       (SELECT count(*) FROM tablepub.publication) AS published_tables,
       tables.waiting_rows,
       tables.oldest_waiting_xid_age,
       tables.oldest_waiting_age,
       tablepub.retention() AS retention,
       parts.current_partition::regclass AS current_partition,
       parts.outbox_bytes
  FROM tablepub.relay_state st, tables, parts;
COMMENT ON VIEW tablepub.status IS 'one row: the active relay and its standbys, the last batch done, what waits in the outbox and how old it is, the retention and the current outbox partition (details: status_tables(), status_relays(), status_partitions())';

REVOKE ALL ON FUNCTION tablepub.status_tables(), tablepub.status_relays(), tablepub.status_partitions() FROM PUBLIC;
REVOKE ALL ON tablepub.status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.status_tables(), tablepub.status_relays(), tablepub.status_partitions(),
                          tablepub.retention() TO tablepub_admin, pg_monitor;
GRANT SELECT ON tablepub.status TO tablepub_admin, pg_monitor;

-- ---------------------------------------------------------------------------
-- amqp13: the relay's RabbitMQ sink (docs/design.md, "RabbitMQ sink")
-- ---------------------------------------------------------------------------

-- Where each RabbitMQ sink of the relay is: it forwards done batches after
-- last_batch and stores a batch here only once the broker confirmed every
-- message of it. relay_maintain() keeps the outbox rows and the batches a
-- sink has not forwarded yet.
CREATE TABLE tablepub.relay_amqp_position (
    sink       text        PRIMARY KEY,
    last_batch int8        NOT NULL,
    consumed   pg_snapshot NOT NULL,
    updated    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tablepub.relay_amqp_position IS
    'Position of each RabbitMQ sink of the relay ("<format>:<exchange>"); delete a sink''s row when it is retired, or the outbox is kept for it forever.';
COMMENT ON COLUMN tablepub.relay_amqp_position.last_batch IS 'the last batch whose every message the broker confirmed';
COMMENT ON COLUMN tablepub.relay_amqp_position.consumed IS 'snap of that batch: outbox rows of transactions visible in it were forwarded';
COMMENT ON COLUMN tablepub.relay_amqp_position.updated IS 'when the position last moved';

-- As before, plus: the outbox is cleaned only up to the oldest position of
-- the relay and its RabbitMQ sinks, and batches a sink still has to forward
-- are kept.
CREATE OR REPLACE FUNCTION tablepub.relay_maintain()
    RETURNS TABLE (rotated boolean, truncated int2[], batches_deleted int8)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st tablepub.relay_state;
    keep_from int8;
    consumed pg_snapshot;
BEGIN
    SELECT * INTO st FROM tablepub.relay_state;
    consumed := st.consumed;
    keep_from := st.last_batch;
    -- Positions only move forward along the batches, so the sink with the
    -- oldest batch has the oldest snapshot.
    SELECT p.last_batch, p.consumed INTO keep_from, consumed
      FROM (SELECT a.last_batch, a.consumed FROM tablepub.relay_amqp_position a
            UNION ALL SELECT st.last_batch, st.consumed) p
     ORDER BY p.last_batch LIMIT 1;
    SELECT m.rotated, m.truncated INTO rotated, truncated FROM tablepub.maintain(consumed) m;
    DELETE FROM tablepub.relay_batch
     WHERE done < now() - tablepub.retention() AND batch_id < st.last_batch AND batch_id <= keep_from;
    GET DIAGNOSTICS batches_deleted = ROW_COUNT;
    DELETE FROM tablepub.relay_topic_history
     WHERE renamed < now() - tablepub.retention()
       AND renamed < (SELECT coalesce(min(b.done), 'infinity') FROM tablepub.relay_batch b);
    RETURN NEXT;
END
$$;

REVOKE ALL ON tablepub.relay_amqp_position FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON tablepub.relay_amqp_position TO tablepub_relay;


-- ---------------------------------------------------------------------------
-- exclname: excluded columns are remembered by name as well as by number
-- ---------------------------------------------------------------------------

-- An excluded column is usually a secret. Remembered by attribute number
-- only, a column that a migration drops and adds again under the same name
-- (or that a tool re-creates) would be published. The rule (docs/design.md,
-- "Published columns"): exclusion sticks to the column and to every name it
-- has had; a column is excluded when its number or its name is excluded,
-- and each ALTER TABLE of the table makes the closure permanent (a column
-- excluded by name is remembered by number, so it stays excluded when
-- renamed; an excluded column's new name is remembered, so a column later
-- added under it is excluded too). Never-leak direction only: nothing an
-- ALTER does ever publishes an excluded column; only publish() does.
ALTER TABLE tablepub.publication ADD COLUMN exclude_names text[];
ALTER TABLE tablepub.publication ADD CHECK (exclude_names IS NULL OR exclude_attnums IS NOT NULL);
COMMENT ON COLUMN tablepub.publication.exclude_attnums IS 'publish every attribute but these and those named in exclude_names; NULL: exclude nothing';
COMMENT ON COLUMN tablepub.publication.exclude_names IS 'names excluded from publication: every name given to publish() and every name an excluded column had since; a column with such a name is never published';
COMMENT ON TABLE tablepub.publication IS
    'Published tables. Published columns: include_attnums plus the primary key when set, every column but exclude_attnums and those named in exclude_names when these are set, else every column (also ones added later).';

-- Publications made before: their excluded columns' current names.
UPDATE tablepub.publication p
   SET exclude_names = ARRAY(SELECT a.attname::text FROM pg_attribute a
                              WHERE a.attrelid = p.relid AND a.attnum = ANY (p.exclude_attnums)
                                AND NOT a.attisdropped ORDER BY a.attnum)
 WHERE p.exclude_attnums IS NOT NULL;

-- As in 0.1, also leaving out the columns named in exclude_names (the C
-- capture plan, publication.c GetPubInfo, applies the same rule).
CREATE OR REPLACE FUNCTION tablepub.published_attnums(p tablepub.publication) RETURNS int2[]
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attnum ORDER BY a.attnum), '{}')
      FROM pg_attribute a
     WHERE a.attrelid = p.relid AND a.attnum > 0 AND NOT a.attisdropped
       AND CASE
             WHEN p.include_attnums IS NOT NULL THEN
                  a.attnum = ANY (p.include_attnums)
                  OR a.attnum = ANY (SELECT unnest(i.indkey::int2[]) FROM pg_index i
                                      WHERE i.indrelid = p.relid AND i.indisprimary)
             WHEN p.exclude_attnums IS NOT NULL THEN
                  a.attnum <> ALL (p.exclude_attnums)
                  AND a.attname::text <> ALL (coalesce(p.exclude_names, '{}'))
             ELSE true
           END
$$;

-- After an ALTER TABLE of a table published with exclude_columns: every
-- live column excluded by number or name is remembered by both. Named so
-- that it fires before tablepub_ddl_end (event triggers fire in name
-- order), whose key check and SCHEMA change then see the closure.
CREATE FUNCTION tablepub.on_ddl_columns() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE tablepub.publication p
       SET exclude_attnums = x.attnums,
           exclude_names = ARRAY(SELECT DISTINCT n FROM unnest(p.exclude_names || x.names) AS n ORDER BY n)
      FROM (SELECT DISTINCT cmd.objid FROM pg_event_trigger_ddl_commands() cmd
             WHERE cmd.classid = 'pg_class'::regclass) AS c(relid),
           LATERAL (SELECT coalesce(array_agg(a.attnum ORDER BY a.attnum), '{}') AS attnums,
                           coalesce(array_agg(a.attname::text), '{}') AS names
                      FROM pg_attribute a JOIN tablepub.publication q ON q.relid = a.attrelid
                     WHERE a.attrelid = c.relid AND a.attnum > 0 AND NOT a.attisdropped
                       AND (a.attnum = ANY (q.exclude_attnums)
                            OR a.attname::text = ANY (q.exclude_names))) AS x
     WHERE p.relid = c.relid AND p.exclude_attnums IS NOT NULL
       AND (p.exclude_attnums IS DISTINCT FROM x.attnums
            OR NOT (x.names <@ p.exclude_names));
END
$$;
COMMENT ON FUNCTION tablepub.on_ddl_columns() IS 'event trigger: after ALTER TABLE of a table published with exclude_columns, remembers every excluded column by number and by every name it has had';
REVOKE ALL ON FUNCTION tablepub.on_ddl_columns() FROM PUBLIC;
CREATE EVENT TRIGGER tablepub_ddl_columns ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION tablepub.on_ddl_columns();
ALTER EVENT TRIGGER tablepub_ddl_columns ENABLE ALWAYS;

-- publish() as in 0.1, granting through grant_relay_read() and remembering
-- exclude_columns by name too.
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

    INSERT INTO tablepub.publication AS p (relid, full_row, include_attnums, exclude_attnums, exclude_names)
    VALUES (tbl, full_row, inc, exc, exclude_columns)
    ON CONFLICT (relid) DO UPDATE
       SET full_row = EXCLUDED.full_row, include_attnums = EXCLUDED.include_attnums,
           exclude_attnums = EXCLUDED.exclude_attnums, exclude_names = EXCLUDED.exclude_names,
           since = now();

    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tablepub_capture') THEN
        EXECUTE format('CREATE TRIGGER tablepub_capture AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tablepub.capture_row(%L)', tbl, tbl::oid);
        EXECUTE format('CREATE TRIGGER tablepub_capture_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tablepub.capture_truncate(%L)', tbl, tbl::oid);
    END IF;
    PERFORM tablepub.sync_partition_triggers(tbl);
    PERFORM tablepub.grant_relay_read(tbl);
    PERFORM tablepub.record_schema(tbl, true);
END
$$;

COMMENT ON FUNCTION tablepub.publish(regclass, text[], text[], boolean) IS
    'publishes the changes of a table (or updates its settings): all columns, only columns (plus the primary key), or all but exclude_columns (by name: a column renamed or added later under an excluded name is excluded too); full_row sends whole rows on UPDATE and DELETE';

-- SCHEMA changes only when the published columns change (docs/protocol.md):
-- the SCHEMA change last written for a table is kept with its publication,
-- and after DDL a new one is written only when it differs (an ADD COLUMN
-- that a column list leaves unpublished writes none).
ALTER TABLE tablepub.publication ADD COLUMN last_schema bytea;
COMMENT ON COLUMN tablepub.publication.last_schema IS 'the SCHEMA change last written to the outbox for the table (NULL: none since 0.3)';

CREATE FUNCTION tablepub.schema_change(tbl regclass) RETURNS bytea
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'tablepub_schema_change';
COMMENT ON FUNCTION tablepub.schema_change(regclass) IS 'internal: the SCHEMA change that record_event(tbl, ''schema'') would write now';

-- Writes a SCHEMA change for published table tbl when always is true or
-- it differs from the last one written (publication.c: the change is built
-- once, for the comparison and the outbox).
CREATE FUNCTION tablepub.record_schema(tbl regclass, always boolean) RETURNS void
    LANGUAGE c STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'tablepub_record_schema';
COMMENT ON FUNCTION tablepub.record_schema(regclass, boolean) IS 'internal: writes a SCHEMA change for a published table unless it would repeat the last one (always: even then)';
REVOKE ALL ON FUNCTION tablepub.schema_change(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.record_schema(regclass, boolean) FROM PUBLIC;

-- After ALTER TABLE / CREATE TABLE / ALTER TRIGGER / ALTER TYPE (docs/design.md
-- section 1): the capture and DDL guards of the first section, writing SCHEMA
-- through record_schema().
CREATE OR REPLACE FUNCTION tablepub.on_ddl_end() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cmd       record;
    ev        record;
    pub       tablepub.publication;
    checks    oid[] := '{}';
    resyncs   text[];
    reason    text;
    nonempty  boolean;
    col       text;
    rel       oid;
    typ       oid;
BEGIN
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        IF cmd.command_tag = 'ALTER TYPE' THEN
            -- RENAME VALUE changes the text of every stored value of the enum
            typ := tablepub.renamed_enum(cmd.command);
            IF typ IS NOT NULL THEN
                reason := format('a value of type %s was renamed', typ::regtype);
                FOR rel IN SELECT tablepub.tables_using_type(typ) LOOP
                    PERFORM tablepub.record_resync(rel, reason);
                END LOOP;
            END IF;
            CONTINUE;
        END IF;
        IF cmd.classid = 'pg_trigger'::regclass THEN
            -- ALTER TRIGGER ... RENAME: the publications of the trigger's table
            checks := checks || ARRAY(
                SELECT p.relid FROM pg_trigger g JOIN tablepub.publication p
                    ON p.relid = g.tgrelid OR p.relid IN (SELECT pg_partition_ancestors(g.tgrelid))
                 WHERE g.oid = cmd.objid);
            CONTINUE;
        END IF;
        CONTINUE WHEN cmd.classid <> 'pg_class'::regclass
                   OR cmd.object_type NOT IN ('table', 'table column');
        -- the publication this table is, or is a partition of
        pub := NULL;
        SELECT p.* INTO pub FROM tablepub.publication p
         WHERE p.relid = cmd.objid OR p.relid IN (SELECT pg_partition_ancestors(cmd.objid))
         LIMIT 1;
        CONTINUE WHEN pub.relid IS NULL;
        resyncs := '{}';

        FOR ev IN SELECT * FROM tablepub.alter_table_events(cmd.command) LOOP
            IF ev.event = 'alter column type' THEN
                -- the rewrite may change values (USING, a smaller typmod) with no row change
                IF ev.relid = pub.relid AND ev.attnum = ANY (tablepub.published_attnums(pub)) THEN
                    SELECT format('column %I changed type', attname) INTO reason
                      FROM pg_attribute WHERE attrelid = ev.relid AND attnum = ev.attnum;
                    resyncs := resyncs || reason;
                END IF;
                CONTINUE;
            END IF;
            -- ATTACH / DETACH: the partition's rows entered or left the table. Under
            -- READ COMMITTED this statement sees every row the partition has (the
            -- ALTER holds its lock), so an empty partition needs no resync.
            nonempty := true;
            IF ev.relid IS NULL THEN
                resyncs := resyncs || format('a partition of %s attached or detached', pub.relid::regclass);
                CONTINUE;
            END IF;
            IF ev.event IN ('attach', 'detach')
               AND current_setting('transaction_isolation') = 'read committed' THEN
                EXECUTE format('SELECT EXISTS (SELECT FROM %s)', ev.relid::regclass) INTO nonempty;
            END IF;
            IF nonempty THEN
                SELECT format('partition %I.%I %s', n.nspname, c.relname,
                              CASE WHEN ev.event = 'attach' THEN 'attached' ELSE 'detached' END)
                  INTO reason
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = ev.relid;
                resyncs := resyncs || reason;
            END IF;
            IF ev.event = 'attach' THEN
                -- a TRUNCATE trigger the attached tables brought along (from an older
                -- version or another publication) is replaced by add_partition_triggers
                FOR col IN
                    SELECT g.tgrelid::regclass::text
                      FROM (SELECT ev.relid AS relid UNION SELECT relid FROM pg_partition_tree(ev.relid)) t
                      JOIN pg_trigger g ON g.tgrelid = t.relid
                     WHERE g.tgname = 'tablepub_capture_truncate'
                       AND g.tgfoid = 'tablepub.capture_truncate()'::regprocedure
                LOOP
                    PERFORM tablepub.drop_capture_trigger(col::regclass, 'tablepub_capture_truncate');
                END LOOP;
            ELSE
                -- the detached tables keep no TRUNCATE trigger of the publication
                FOR col IN
                    SELECT g.tgrelid::regclass::text
                      FROM (SELECT ev.relid AS relid UNION SELECT relid FROM pg_partition_tree(ev.relid)) t
                      JOIN pg_trigger g ON g.tgrelid = t.relid
                     WHERE g.tgname = 'tablepub_capture_truncate'
                       AND g.tgfoid = 'tablepub.capture_truncate()'::regprocedure
                       AND NOT EXISTS (SELECT FROM pg_partition_ancestors(t.relid) a WHERE a.relid = pub.relid)
                LOOP
                    EXECUTE format('DROP TRIGGER tablepub_capture_truncate ON %s', col);
                END LOOP;
            END IF;
        END LOOP;

        IF pub.relid = cmd.objid THEN
            IF NOT EXISTS (SELECT FROM pg_index WHERE indrelid = pub.relid AND indisprimary) THEN
                RAISE EXCEPTION 'cannot remove the primary key of published table "%"', pub.relid::regclass
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Unpublish the table first, or add the new primary key in the same ALTER TABLE.';
            END IF;
            SELECT a.attname INTO col
              FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
             WHERE i.indrelid = pub.relid AND i.indisprimary AND a.attnum = ANY (pub.exclude_attnums)
             ORDER BY a.attnum LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'cannot make excluded column "%" part of the primary key of published table "%"',
                                col, pub.relid::regclass
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Every change carries the primary key, and the column was excluded from publication.',
                          HINT = 'Publish the table again without excluding the column first, or unpublish it.';
            END IF;
            PERFORM tablepub.record_schema(pub.relid, false);
        END IF;
        -- crash recovery empties an unlogged table behind capture's back
        SELECT c.relname INTO col
          FROM pg_class c
         WHERE c.relpersistence = 'u'
           AND (c.oid = pub.relid OR c.oid IN (SELECT relid FROM pg_partition_tree(pub.relid)))
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'cannot publish unlogged table "%"', col
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Crash recovery empties an unlogged table, and no change is captured for that.',
                      HINT = 'Use ALTER TABLE ... SET LOGGED, or unpublish the table.';
        END IF;
        PERFORM tablepub.add_partition_triggers(pub.relid);
        FOREACH reason IN ARRAY resyncs LOOP
            PERFORM tablepub.record_resync(pub.relid, reason);
        END LOOP;
        checks := checks || pub.relid;
    END LOOP;
    FOR rel IN SELECT DISTINCT unnest(checks) LOOP
        PERFORM tablepub.check_capture_triggers(rel);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tablepub.on_ddl_end() IS 'event trigger: keeps capture of published tables whole after ALTER TABLE, CREATE TABLE ... PARTITION OF, ALTER TRIGGER and ALTER TYPE: SCHEMA and RESYNC changes, TRUNCATE triggers on new partitions, refuses disabled or missing capture triggers and keys that are not published';

-- ---------------------------------------------------------------------------
-- txrelay: commit positions (issue 11; docs/design.md section 2, "Commit
-- positions")
-- ---------------------------------------------------------------------------

-- Every transaction the relay publishes takes the next position, in batch
-- order. Like seq, a position is derived from durable state only: the
-- relay numbers a batch's transactions from relay_state.last_position + 1,
-- so a redone batch, a restart or a standby takes the same numbers.
ALTER TABLE tablepub.relay_state ADD COLUMN last_position int8 NOT NULL DEFAULT 0;
COMMENT ON COLUMN tablepub.relay_state.last_position IS 'commit position of the last transaction of the last done batch (0: none yet)';

-- snap_time is the commit time every message of the batch carries: taken
-- when the batch is recorded, right after pg_current_snapshot() in
-- relay_next_batch (the column default), so every transaction of the batch
-- committed before it; stored, so a redo or replay gives the same bytes.
-- Batches recorded before this version keep NULL: their messages carried no
-- position and no commit time, and a replay gives them none either.
ALTER TABLE tablepub.relay_batch ADD COLUMN snap_time timestamptz,
    ADD COLUMN first_position int8, ADD COLUMN last_position int8;
ALTER TABLE tablepub.relay_batch ALTER COLUMN snap_time SET DEFAULT pg_catalog.clock_timestamp();
COMMENT ON COLUMN tablepub.relay_batch.snap_time IS 'when the batch''s snapshot was taken: the commit time its messages carry';
COMMENT ON COLUMN tablepub.relay_batch.first_position IS 'commit position of the batch''s first transaction (NULL: none, or recorded before 0.3)';
COMMENT ON COLUMN tablepub.relay_batch.last_position IS 'commit position of the batch''s last transaction';

-- The relay passes the position of the batch's last transaction; the batch
-- gets first_position = the state's last_position + 1 (NULL when the batch
-- had no transaction).
DROP FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[],
                                          boolean[], boolean);
CREATE FUNCTION tablepub.relay_finish_batch(p_batch int8, p_relids oid[], p_first_seq int8[],
                                            p_last_seq int8[], p_prev_schema_seq int8[], p_schema_seq int8[],
                                            p_schema_names text[], p_table_names text[],
                                            p_schemas bytea[], p_published boolean[],
                                            p_next boolean DEFAULT false, p_last_position int8 DEFAULT NULL)
    RETURNS SETOF tablepub.relay_batch
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s   pg_snapshot;
    pos int8;
BEGIN
    SELECT last_position INTO pos FROM tablepub.relay_state FOR UPDATE;
    IF p_last_position < pos THEN
        RAISE EXCEPTION 'relay batch % ends at commit position %, before the last one stored (%)',
                        p_batch, p_last_position, pos
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Positions never go back; the relay must number from tablepub.relay_state.last_position.';
    END IF;
    IF cardinality(p_relids) = 0 THEN
        -- Nothing published (a batch recorded on a NOTIFY already served):
        -- only S_prev moves, the batch need not be kept for replay.
        DELETE FROM tablepub.relay_batch WHERE batch_id = p_batch AND done IS NULL
        RETURNING snap INTO s;
    ELSE
        UPDATE tablepub.relay_batch
           SET done = now(), relids = p_relids, first_seq = p_first_seq, last_seq = p_last_seq,
               prev_schema_seq = p_prev_schema_seq,
               first_position = CASE WHEN p_last_position > pos THEN pos + 1 END,
               last_position = CASE WHEN p_last_position > pos THEN p_last_position END
         WHERE batch_id = p_batch AND done IS NULL
        RETURNING snap INTO s;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relay batch % is not open', p_batch
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Another relay may have finished it; only the holder of the relay lock may.';
    END IF;
    INSERT INTO tablepub.relay_stream AS r
           (relid, schema_name, table_name, last_seq, schema_seq, schema, published)
    SELECT * FROM unnest(p_relids, p_schema_names, p_table_names, p_last_seq, p_schema_seq,
                         p_schemas, p_published)
    ON CONFLICT (relid) DO UPDATE
       SET schema_name = EXCLUDED.schema_name, table_name = EXCLUDED.table_name,
           last_seq = EXCLUDED.last_seq, schema_seq = EXCLUDED.schema_seq,
           schema = EXCLUDED.schema, published = EXCLUDED.published, updated = now();
    UPDATE tablepub.relay_state
       SET consumed = s, last_batch = p_batch, updated = now(),
           last_position = coalesce(greatest(p_last_position, pos), pos);
    IF p_next THEN
        RETURN QUERY SELECT * FROM tablepub.relay_next_batch(true);
    END IF;
END
$$;
COMMENT ON FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean, int8) IS
    'relay: marks a batch done, stores the per-table sequence numbers and schemas and the batch''s commit positions, advances S_prev, and with p_next records and returns the next batch';
REVOKE ALL ON FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[],
                                                   bytea[], boolean[], boolean, int8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[],
                                                      bytea[], boolean[], boolean, int8) TO tablepub_relay;
