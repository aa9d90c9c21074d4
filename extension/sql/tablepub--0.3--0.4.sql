-- tablepub 0.3 -> 0.4: packed outbox rows (issue 10; docs/design.md,
-- "Packed outbox rows"). The capture may put several consecutive row
-- changes of one table into one outbox row; a relay must be able to split
-- them, so the relay's entry points change signature and refuse a relay
-- that cannot.
\echo Use "ALTER EXTENSION tablepub UPDATE TO '0.4'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The version gate
-- ---------------------------------------------------------------------------

-- The capture (outbox.c) reads the current partition's outbox_format with
-- the current generation, once per transaction: it packs only when it is 2,
-- so a 0.3 catalog, and the ALTER EXTENSION transaction before this line,
-- get plain rows only. Every row starts at 2.
ALTER TABLE tablepub.outbox_state
    ADD COLUMN outbox_format int2 NOT NULL DEFAULT 2 CHECK (outbox_format IN (1, 2));
COMMENT ON COLUMN tablepub.outbox_state.outbox_format IS
    'rows the capture writes into the partition while it is current: 1 plain rows only, 2 plain and packed rows (docs/design.md, "Packed outbox rows")';

-- A relay that cannot split packed rows must never read a batch: the 0.3
-- entry points are dropped (an old relay's calls no longer resolve and its
-- extension check fails), and the new ones take the outbox format the relay
-- reads, without a default, and refuse one below 2. The bodies are 0.3's.
DROP FUNCTION tablepub.relay_next_batch(boolean);
DROP FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[],
                                          boolean[], boolean, int8);

-- Raises unless the relay reads outbox format 2 (plain and packed rows).
CREATE FUNCTION tablepub.check_outbox_format(p_outbox_format int4) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_outbox_format IS NULL OR p_outbox_format < 2 THEN
        RAISE EXCEPTION 'relay reads outbox format %, but extension tablepub 0.4 writes format 2 (packed rows)',
                        coalesce(p_outbox_format::text, 'NULL')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Upgrade the tablepub relay to the version of the extension (docs/operations.md, "Upgrading").';
    END IF;
END
$$;
COMMENT ON FUNCTION tablepub.check_outbox_format(int4) IS 'internal: refuses a relay that reads an outbox format below 2 (plain rows only)';

-- The open batch, or a new one when transactions committed since S_prev.
-- p_force skips the check for outbox rows (the relay was notified of some):
-- an empty batch only advances S_prev.
CREATE FUNCTION tablepub.relay_next_batch(p_force boolean, p_outbox_format int4) RETURNS SETOF tablepub.relay_batch
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st  tablepub.relay_state;
    b   tablepub.relay_batch;
    cur pg_snapshot;
BEGIN
    PERFORM tablepub.check_outbox_format(p_outbox_format);
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
    IF NOT p_force THEN
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
COMMENT ON FUNCTION tablepub.relay_next_batch(boolean, int4) IS 'relay: returns the open batch, else records and returns a new batch (S_prev, pg_current_snapshot()) when it holds any outbox row (or p_force), else nothing; refuses a relay that reads an outbox format below 2';

-- Marks a batch done and stores the streams it touched; with p_next, also
-- records and returns the next batch (relay_next_batch(true, ...)): one
-- commit. The relay passes the position of the batch's last transaction;
-- the batch gets first_position = the state's last_position + 1 (NULL when
-- the batch had no transaction).
CREATE FUNCTION tablepub.relay_finish_batch(p_batch int8, p_relids oid[], p_first_seq int8[],
                                            p_last_seq int8[], p_prev_schema_seq int8[], p_schema_seq int8[],
                                            p_schema_names text[], p_table_names text[],
                                            p_schemas bytea[], p_published boolean[],
                                            p_next boolean, p_last_position int8, p_outbox_format int4)
    RETURNS SETOF tablepub.relay_batch
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s   pg_snapshot;
    pos int8;
BEGIN
    PERFORM tablepub.check_outbox_format(p_outbox_format);
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
        RETURN QUERY SELECT * FROM tablepub.relay_next_batch(true, p_outbox_format);
    END IF;
END
$$;
COMMENT ON FUNCTION tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean, int8, int4) IS
    'relay: marks a batch done, stores the per-table sequence numbers and schemas and the batch''s commit positions, advances S_prev, and with p_next records and returns the next batch; refuses a relay that reads an outbox format below 2';

REVOKE ALL ON FUNCTION tablepub.check_outbox_format(int4), tablepub.relay_next_batch(boolean, int4),
    tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[],
                                boolean, int8, int4) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.check_outbox_format(int4), tablepub.relay_next_batch(boolean, int4),
    tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[],
                                boolean, int8, int4) TO tablepub_relay;

-- ---------------------------------------------------------------------------
-- Reading packed rows in SQL
-- ---------------------------------------------------------------------------

-- decode_change() renders one Change and refuses a packed row (naming this
-- function); decode_changes() renders every change of a row, plain or
-- packed, one jsonb each in capture order, so `SELECT
-- tablepub.decode_changes(change) FROM tablepub.outbox ORDER BY txid, pos`
-- lists every change captured. Same callers as decode_change().
CREATE FUNCTION tablepub.decode_changes(change bytea) RETURNS SETOF jsonb
    LANGUAGE c IMMUTABLE STRICT ROWS 2 AS 'MODULE_PATHNAME', 'tablepub_decode_changes';
COMMENT ON FUNCTION tablepub.decode_changes(bytea) IS 'debugging: the changes of an outbox row (one serialized tablepub.v1.Change, or a packed row of several) as jsonb, in capture order';
REVOKE ALL ON FUNCTION tablepub.decode_changes(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tablepub.decode_changes(bytea) TO tablepub_relay, tablepub_admin;

-- ---------------------------------------------------------------------------
-- Dead code
-- ---------------------------------------------------------------------------

-- Nothing called it (record_schema builds the change itself). Its C symbol
-- stays in the library: tablepub--0.2--0.3.sql creates the function, and
-- PostgreSQL looks a C function's symbol up when it is created.
DROP FUNCTION tablepub.schema_change(regclass);
