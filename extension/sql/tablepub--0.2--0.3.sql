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
