-- Commit positions (txrelay, issue 11): relay_finish_batch stores the
-- batch's positions and relay_state.last_position; a batch carries the time
-- of its snapshot; positions never go back; only tablepub_relay may call it.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION tablepub;
CREATE TABLE pos_a (id int PRIMARY KEY);
SELECT tablepub.publish('pos_a');
INSERT INTO pos_a VALUES (1);
INSERT INTO pos_a VALUES (2);

SELECT last_position FROM tablepub.relay_state;
SELECT batch_id AS b, snap_time AS t FROM tablepub.relay_next_batch(false, 2) \gset
-- taken with the batch's snapshot, after the recording transaction started
SELECT snap_time >= created AS after_start, snap_time <= clock_timestamp() AS before_now
  FROM tablepub.relay_batch WHERE batch_id = :b;
-- three transactions (publish, two inserts): positions 1..3
SELECT count(*) AS next_batches FROM tablepub.relay_finish_batch(:b, ARRAY['pos_a'::regclass::oid], '{1}', '{3}',
    '{0}', '{1}', '{public}', '{pos_a}', ARRAY[NULL::bytea], '{t}', false, 3, 2);
SELECT first_position, last_position, snap_time = :'t'::timestamptz AS kept_time
  FROM tablepub.relay_batch WHERE batch_id = :b;
SELECT last_position FROM tablepub.relay_state;

-- The next batch starts after the stored position; one without a
-- transaction moves nothing.
INSERT INTO pos_a VALUES (3);
SELECT batch_id AS b FROM tablepub.relay_next_batch(false, 2) \gset
SELECT count(*) FROM tablepub.relay_finish_batch(:b, ARRAY['pos_a'::regclass::oid], '{4}', '{4}',
    '{1}', '{1}', '{public}', '{pos_a}', ARRAY[NULL::bytea], '{t}', false, 4, 2);
SELECT first_position, last_position FROM tablepub.relay_batch WHERE batch_id = :b;
SELECT batch_id AS b FROM tablepub.relay_next_batch(true, 2) \gset
SELECT count(*) FROM tablepub.relay_finish_batch(:b, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, 4, 2);
SELECT last_position FROM tablepub.relay_state;

-- Going back is refused (and changes nothing).
INSERT INTO pos_a VALUES (4);
SELECT batch_id AS b FROM tablepub.relay_next_batch(false, 2) \gset
SELECT count(*) FROM tablepub.relay_finish_batch(:b, ARRAY['pos_a'::regclass::oid], '{5}', '{5}',
    '{1}', '{1}', '{public}', '{pos_a}', ARRAY[NULL::bytea], '{t}', false, 2, 2);
SELECT last_position, last_batch < :b AS batch_still_open FROM tablepub.relay_state;

-- Privileges: the relay role may call it, PUBLIC may not; the old
-- signature is gone.
SELECT has_function_privilege('tablepub_relay',
    'tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean, int8, int4)',
    'EXECUTE') AS relay_may;
SELECT has_function_privilege('public',
    'tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean, int8, int4)',
    'EXECUTE') AS public_may;
SELECT to_regprocedure('tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], bytea[], boolean[], boolean)') AS old_signature;
SELECT has_column_privilege('tablepub_relay', 'tablepub.relay_state', 'last_position', 'UPDATE') AS relay_updates_state;
DROP EXTENSION tablepub;
DROP TABLE pos_a;
