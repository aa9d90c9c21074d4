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

-- ---------------------------------------------------------------------------
-- Relay state, snapshot and replay support
-- ---------------------------------------------------------------------------
