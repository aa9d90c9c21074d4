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
