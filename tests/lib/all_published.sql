-- "The relay has published every committed change": no outbox row outside
-- the snapshot the relay last consumed. One boolean expression, read by the
-- test scripts through tests/lib/all_published.sh and by
-- tests/consistency/caught_up.py.
NOT EXISTS (SELECT FROM tablepub.outbox
             WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state)))
