#!/usr/bin/python3
"""Concurrent writers whose transactions keep invariants across tables.

    tx_workload.py SEED SECONDS WRITERS

Each writer feeds one psql session (PG* from the environment) with random
transactions that each keep the invariants of tx_schema.sql: money moved
between accounts of `checking` and `savings`, a parent inserted with its
children, a child added or removed together with its parent's count, a
parent deleted with its children (ON DELETE CASCADE); some also write `ledger` (a published
table outside the subscriber's set), some roll back. Failing statements
(deadlocks, a foreign key refusing a delete) abort their transaction, which
the database then keeps consistent on its own.
"""
import psql_writers


def transaction(r):
    x = r.random()
    out = ["BEGIN;"]
    if x < 0.45:
        for _ in range(r.randrange(1, 4)):
            a, b, amount = r.randrange(1, 51), r.randrange(1, 51), r.randrange(1, 200)
            src, dst = r.choice([("checking", "savings"), ("savings", "checking"), ("checking", "checking"),
                                 ("savings", "savings")])
            out.append("UPDATE %s SET balance = balance - %d WHERE id = %d;" % (src, amount, a))
            out.append("UPDATE %s SET balance = balance + %d WHERE id = %d;" % (dst, amount, b))
    elif x < 0.65:
        n = r.randrange(0, 5)
        out.append("WITH p AS (INSERT INTO parent VALUES (nextval('parent_ids'), %d) RETURNING id) "
                   "INSERT INTO child SELECT nextval('child_ids'), p.id, 'c' || g FROM p, generate_series(1, %d) g;"
                   % (n, n))
    elif x < 0.8:
        k = r.randrange(0, 30)
        out.append("WITH p AS (UPDATE parent SET n_children = n_children + 1 WHERE id = "
                   "(SELECT id FROM parent ORDER BY id DESC OFFSET %d LIMIT 1) RETURNING id) "
                   "INSERT INTO child SELECT nextval('child_ids'), id, 'added' FROM p;" % k)
    elif x < 0.9:
        k = r.randrange(0, 30)
        out.append("WITH c AS (DELETE FROM child WHERE id = (SELECT id FROM child ORDER BY id DESC OFFSET %d LIMIT 1) "
                   "RETURNING parent_id) UPDATE parent SET n_children = n_children - 1 "
                   "WHERE id IN (SELECT parent_id FROM c);" % k)
    else:
        # One statement: two statements could pick different parents (the
        # ids shift under concurrent writers) and break the invariant in
        # the database itself.
        k = r.randrange(0, 40)
        out.append("DELETE FROM parent WHERE id = (SELECT id FROM parent ORDER BY id OFFSET %d LIMIT 1);" % k)
    if r.random() < 0.3:
        out.append("INSERT INTO ledger (note) VALUES ('w%d');" % r.randrange(1000))
    out.append("ROLLBACK;" if r.random() < 0.1 else "COMMIT;")
    return out


if __name__ == "__main__":
    psql_writers.main("tx workload", lambda rng: lambda: transaction(rng))
