\echo Use "ALTER EXTENSION tablepub UPDATE TO '0.2'" to load this file. \quit

-- Relay state (docs/design.md section 2). The relay derives every sequence
-- number from these rows and the immutable outbox, so a relay restarted (or a
-- standby taking over) republishes the same messages with the same numbers.

CREATE TABLE tablepub.relay_state (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    consumed   pg_snapshot NOT NULL,
    last_batch int8        NOT NULL DEFAULT 0,
    updated    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- '1:1:' sees no transaction: the first batch takes everything in the outbox.
INSERT INTO tablepub.relay_state (consumed) VALUES ('1:1:');
COMMENT ON TABLE tablepub.relay_state IS 'The relay''s durable position: one row.';
COMMENT ON COLUMN tablepub.relay_state.consumed IS 'S_prev: every outbox row of a transaction visible in it is published';
COMMENT ON COLUMN tablepub.relay_state.last_batch IS 'id of the last batch marked done';
COMMENT ON COLUMN tablepub.relay_state.updated IS 'when the last batch was marked done';

CREATE TABLE tablepub.relay_batch (
    batch_id  int8        PRIMARY KEY,
    prev      pg_snapshot NOT NULL,
    snap      pg_snapshot NOT NULL,
    created   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    done      timestamptz,
    relids    oid[],
    first_seq int8[],
    last_seq  int8[],
    prev_schema_seq int8[]
);
-- At most one batch is open (recorded, not yet marked done).
CREATE UNIQUE INDEX relay_batch_open ON tablepub.relay_batch ((true)) WHERE done IS NULL;
CREATE INDEX relay_batch_done ON tablepub.relay_batch (done);
COMMENT ON TABLE tablepub.relay_batch IS 'Batches of the relay: the transactions visible in snap and not in prev, published in (largest pos, txid, pos) order. Done batches that published something are kept for tablepub.retention for replay; empty ones are deleted when finished.';
COMMENT ON COLUMN tablepub.relay_batch.prev IS 'S_prev when the batch was recorded';
COMMENT ON COLUMN tablepub.relay_batch.snap IS 'S: the snapshot the batch drains up to';
COMMENT ON COLUMN tablepub.relay_batch.done IS 'when every message of the batch was published and the stream state stored; NULL while open';
COMMENT ON COLUMN tablepub.relay_batch.relids IS 'tables with messages in the batch';
COMMENT ON COLUMN tablepub.relay_batch.first_seq IS 'per table of relids: the first sequence number of the batch';
COMMENT ON COLUMN tablepub.relay_batch.last_seq IS 'per table of relids: the last sequence number of the batch';
COMMENT ON COLUMN tablepub.relay_batch.prev_schema_seq IS 'per table of relids: the stream''s schema_seq before the batch (the state a replay of the batch starts from)';

CREATE TABLE tablepub.relay_stream (
    relid       oid         PRIMARY KEY,
    schema_name text        NOT NULL,
    table_name  text        NOT NULL,
    last_seq    int8        NOT NULL,
    schema_seq  int8        NOT NULL,
    schema      bytea,
    published   boolean     NOT NULL,
    updated     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tablepub.relay_stream IS 'One message stream per table (by oid) as of the last done batch.';
COMMENT ON COLUMN tablepub.relay_stream.schema_name IS 'schema of the topic "<schema_name>.<table_name>" (from the last SCHEMA message)';
COMMENT ON COLUMN tablepub.relay_stream.table_name IS 'table of the topic';
COMMENT ON COLUMN tablepub.relay_stream.last_seq IS 'sequence number of the stream''s last message';
COMMENT ON COLUMN tablepub.relay_stream.schema_seq IS 'sequence number of the last SCHEMA message (0: none yet)';
COMMENT ON COLUMN tablepub.relay_stream.schema IS 'serialized tablepub.v1.TableSchema of that SCHEMA message';
COMMENT ON COLUMN tablepub.relay_stream.published IS 'false after an UNPUBLISH message (no heartbeats then)';

-- Functions used by the relay ----------------------------------------------------

CREATE FUNCTION tablepub.relay_lock_key() RETURNS int8
    LANGUAGE sql IMMUTABLE AS $$ SELECT 8386092198838433122::int8 $$;
COMMENT ON FUNCTION tablepub.relay_lock_key() IS 'the session advisory lock the active relay holds ("tablepub" in ASCII)';

-- The open batch, or a new one when transactions committed since S_prev.
-- force skips the check for outbox rows (the relay was notified of some):
-- an empty batch only advances S_prev.
CREATE FUNCTION tablepub.relay_next_batch(force boolean DEFAULT false) RETURNS SETOF tablepub.relay_batch
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st  tablepub.relay_state;
    b   tablepub.relay_batch;
    cur pg_snapshot;
BEGIN
    SELECT * INTO b FROM tablepub.relay_batch WHERE done IS NULL;
    IF FOUND THEN
        RETURN NEXT b;
        RETURN;
    END IF;
    SELECT * INTO st FROM tablepub.relay_state FOR UPDATE;
    cur := pg_current_snapshot();
    -- Later statements see at least what cur sees; the filter keeps exactly cur's.
    -- Not visible in S_prev means in its xip list or from its xmax on: two
    -- index lookups, however long an old transaction holds its xmin back.
    -- Two IFs: the row check must not run when forced (it reads the outbox).
    IF NOT force THEN
        IF NOT EXISTS (SELECT FROM tablepub.outbox o
                        WHERE (o.txid >= pg_snapshot_xmax(st.consumed)
                               OR o.txid = ANY (ARRAY(SELECT pg_snapshot_xip(st.consumed))))
                          AND o.txid < pg_snapshot_xmax(cur)
                          AND pg_visible_in_snapshot(o.txid, cur)
                          AND NOT pg_visible_in_snapshot(o.txid, st.consumed)) THEN
            RETURN;
        END IF;
    END IF;
    INSERT INTO tablepub.relay_batch (batch_id, prev, snap)
    VALUES (st.last_batch + 1, st.consumed, cur)
    RETURNING * INTO b;
    RETURN NEXT b;
END
$$;
COMMENT ON FUNCTION tablepub.relay_next_batch(boolean) IS 'relay: returns the open batch, else records and returns a new batch (S_prev, pg_current_snapshot()) when it holds any outbox row (or force), else nothing';

-- Marks a batch done and stores the streams it touched; with p_next, also
-- records and returns the next batch (relay_next_batch(true)): one commit.
CREATE FUNCTION tablepub.relay_finish_batch(p_batch int8, p_relids oid[], p_first_seq int8[],
                                            p_last_seq int8[], p_prev_schema_seq int8[], p_schema_seq int8[],
                                            p_schema_names text[], p_table_names text[],
                                            p_schemas bytea[], p_published boolean[],
                                            p_next boolean DEFAULT false)
    RETURNS SETOF tablepub.relay_batch
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pg_snapshot;
BEGIN
    IF cardinality(p_relids) = 0 THEN
        -- Nothing published (a batch recorded on a NOTIFY already served):
        -- only S_prev moves, the batch need not be kept for replay.
        DELETE FROM tablepub.relay_batch WHERE batch_id = p_batch AND done IS NULL
        RETURNING snap INTO s;
    ELSE
        UPDATE tablepub.relay_batch
           SET done = now(), relids = p_relids, first_seq = p_first_seq, last_seq = p_last_seq,
               prev_schema_seq = p_prev_schema_seq
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
    UPDATE tablepub.relay_state SET consumed = s, last_batch = p_batch, updated = now();
    IF p_next THEN
        RETURN QUERY SELECT * FROM tablepub.relay_next_batch(true);
    END IF;
END
$$;
COMMENT ON FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean) IS
    'relay: marks a batch done, stores the per-table sequence numbers and schemas, advances S_prev, and with p_next records and returns the next batch';

-- Outbox cleaning plus forgetting done batches older than the retention window.
CREATE FUNCTION tablepub.relay_maintain()
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
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION tablepub.relay_maintain() IS 'relay: tablepub.maintain(S_prev) and removal of done batches older than tablepub.retention';

REVOKE ALL ON tablepub.relay_state, tablepub.relay_batch, tablepub.relay_stream FROM PUBLIC;
REVOKE ALL ON FUNCTION tablepub.relay_lock_key(), tablepub.relay_next_batch(boolean),
    tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean),
    tablepub.relay_maintain() FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON tablepub.relay_state, tablepub.relay_batch,
    tablepub.relay_stream TO tablepub_relay;
GRANT EXECUTE ON FUNCTION tablepub.relay_lock_key(), tablepub.relay_next_batch(boolean),
    tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean),
    tablepub.relay_maintain() TO tablepub_relay;
