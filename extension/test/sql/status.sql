-- tablepub.status and its detail functions (ops12): what an operator sees
-- in psql, and who may see it.
\set VERBOSITY terse
SET client_min_messages = warning;
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
CREATE EXTENSION tablepub;
CREATE TABLE st_a (id int PRIMARY KEY, v text);
CREATE TABLE st_b (id int PRIMARY KEY, v text);
SELECT tablepub.publish('st_a'), tablepub.publish('st_b');

-- No relay yet: nothing published, everything captured waits.
INSERT INTO st_a SELECT g, 'x' FROM generate_series(1, 3) g;
INSERT INTO st_a VALUES (4, 'y');
UPDATE st_b SET v = 'z';  -- no rows: captures nothing
SELECT table_name, published, topic, last_seq, waiting_rows, waiting_transactions,
       oldest_waiting_txid IS NOT NULL AS has_oldest, oldest_waiting_xid_age > 0 AS xid_age_positive,
       oldest_waiting_age IS NULL AS no_commit_ts
  FROM tablepub.status_tables();
SELECT relay_pid, standby_pids, last_batch, open_batch_since, published_tables, waiting_rows,
       oldest_waiting_xid_age > 0 AS behind, retention, current_partition, outbox_bytes > 0 AS has_bytes
  FROM tablepub.status;
SELECT partition, gen, state, since IS NOT NULL AS has_since, retired, truncatable_after FROM tablepub.status_partitions();
SELECT * FROM tablepub.status_relays();

-- A relay session: it holds the lock and drains one batch the way the relay
-- does (record, mark done with the streams' positions).
SELECT pg_advisory_lock(tablepub.relay_lock_key());
SELECT role, pid = pg_backend_pid() AS me, connected_since IS NOT NULL AS has_since FROM tablepub.status_relays();
SELECT batch_id AS b FROM tablepub.relay_next_batch(false, 2) \gset
SELECT open_batch_since IS NOT NULL AS batch_open, waiting_rows FROM tablepub.status;
SELECT count(*) AS next_batches FROM tablepub.relay_finish_batch(:b, ARRAY['st_a'::regclass::oid], '{1}', '{5}',
    '{0}', '{1}', '{public}', '{st_a}', ARRAY[NULL::bytea], '{t}', false, NULL, 2);
SELECT table_name, topic, last_seq, last_published IS NOT NULL AS has_time, waiting_rows, waiting_transactions,
       oldest_waiting_txid FROM tablepub.status_tables();
SELECT relay_pid = pg_backend_pid() AS active_is_me, last_batch = :b AS last_batch_is_b, open_batch_since,
       waiting_rows, oldest_waiting_xid_age FROM tablepub.status;

-- Changes after the batch wait again; a dropped table's rows stay listed.
INSERT INTO st_b VALUES (1, 'a');
CREATE TABLE st_gone (id int PRIMARY KEY);
SELECT tablepub.publish('st_gone');
INSERT INTO st_gone VALUES (1);
SELECT table_name, published, waiting_rows, waiting_transactions FROM tablepub.status_tables();
DROP TABLE st_gone;
SELECT table_name::text ~ '^[0-9]+$' AS dropped_shows_oid, published, waiting_rows
  FROM tablepub.status_tables() WHERE table_name::text NOT LIKE 'st\_%';
SELECT pg_advisory_unlock(tablepub.relay_lock_key());
SELECT count(*) AS relays FROM tablepub.status_relays();

-- Who may read it: tablepub_admin and pg_monitor, nobody else.
CREATE ROLE st_admin IN ROLE tablepub_admin;
CREATE ROLE st_monitor IN ROLE pg_monitor;
CREATE ROLE st_nobody;
SET ROLE st_admin;
SELECT published_tables, waiting_rows FROM tablepub.status;
SELECT count(*) FROM tablepub.status_tables();
SET ROLE st_monitor;
SELECT published_tables, waiting_rows FROM tablepub.status;
SELECT count(*) FROM tablepub.status_partitions();
SET ROLE st_nobody;
SELECT * FROM tablepub.status;
SELECT * FROM tablepub.status_tables();
SELECT * FROM tablepub.status_relays();
SELECT * FROM tablepub.status_partitions();
RESET ROLE;
DROP ROLE st_admin, st_monitor, st_nobody;
DROP EXTENSION tablepub;
DROP TABLE st_a, st_b;
