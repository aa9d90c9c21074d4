-- tablepub 0.4 -> 0.5: a relay of 0.3 or earlier still running across the
-- update to 0.4 never records a batch (docs/design.md, "Packed outbox
-- rows"; docs/operations.md, "0.3 -> 0.4: packed outbox rows").
\echo Use "ALTER EXTENSION tablepub UPDATE TO '0.5'" to load this file. \quit

-- Dropping the 0.3 relay functions does not stop a call of them that began
-- before the update committed: PostgreSQL goes on running a function it
-- has looked up. Such a call of relay_next_batch(boolean) (which the 0.3
-- relay_finish_batch(..., p_next) makes too) may take its snapshot after
-- the update, while it waits for the row lock of relay_state for instance;
-- transactions that committed meanwhile may hold packed rows, and the 0.3
-- relay would publish each pack as one change. Every batch now records the
-- outbox format of the relay that recorded it, with no default: the INSERT
-- of an older body, which names no format, fails instead. Batches recorded
-- before read 1 (their relay did not say).
ALTER TABLE tablepub.relay_batch
    ADD COLUMN outbox_format int2 NOT NULL DEFAULT 1 CHECK (outbox_format >= 1);
ALTER TABLE tablepub.relay_batch ALTER COLUMN outbox_format DROP DEFAULT;
COMMENT ON COLUMN tablepub.relay_batch.outbox_format IS
    'outbox format the relay that recorded the batch reads (relay_next_batch''s p_outbox_format); 1 for batches recorded before extension 0.5';

-- 0.4's body, recording p_outbox_format with the batch.
CREATE OR REPLACE FUNCTION tablepub.relay_next_batch(p_force boolean, p_outbox_format int4)
    RETURNS SETOF tablepub.relay_batch
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
    INSERT INTO tablepub.relay_batch (batch_id, prev, snap, outbox_format)
    VALUES (st.last_batch + 1, st.consumed, cur, p_outbox_format)
    RETURNING * INTO b;
    RETURN NEXT b;
END
$$;
