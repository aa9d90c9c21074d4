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
import random
import subprocess
import sys
import threading
import time


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


def writer(seed, n, deadline, counts):
    rng = random.Random(seed * 1000 + n)
    p = subprocess.Popen(["psql", "-qX", "-v", "ON_ERROR_STOP=0", "-f", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         text=True)
    sent = 0
    try:
        while time.monotonic() < deadline:
            p.stdin.write("\n".join(transaction(rng)) + "\n")
            p.stdin.flush()
            sent += 1
            time.sleep(rng.uniform(0.002, 0.012))
    finally:
        p.stdin.close()
        p.wait()
    counts[n] = sent


def main():
    seed, seconds, writers = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + seconds
    counts = {}
    threads = [threading.Thread(target=writer, args=(seed, n, deadline, counts)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("tx workload: %d transactions sent by %d writers" % (sum(counts.values()), writers))


if __name__ == "__main__":
    main()
