#!/usr/bin/python3
"""Concurrent random writers for the consistency test.

    workload.py SEED SECONDS WRITERS

Each writer feeds one long-lived psql session (PG* from the environment)
with random transactions for SECONDS: multi-statement transactions across
tables, rollbacks, savepoints rolled back or released, primary-key updates,
upserts, deletes, multi-row updates, NULLs, now and then a TRUNCATE with a
refill, and writes to the unpublished table. Statements that fail (key
collisions, deadlocks) abort their transaction, which is part of the test:
only what commits may reach the subscriber. The same SEED gives the same
statements (their interleaving depends on timing).
"""
import psql_writers


def lit(v):
    if v is None:
        return "NULL"
    return "'" + str(v).replace("'", "''") + "'"


class Gen:
    def __init__(self, rng):
        self.r = rng

    def maybe_null(self, v, p=0.15):
        return None if self.r.random() < p else v

    def acct_values(self):
        r = self.r
        return {
            "name": lit(self.maybe_null("n%d'%s" % (r.randrange(1000), r.choice(["", "é", "\"q\"", "a b"])))),
            "balance": lit(self.maybe_null("%d.%02d" % (r.randrange(-5000, 5000), r.randrange(100)))),
            "active": r.choice(["true", "false", "NULL"]),
            "score": r.choice(["NULL", repr(r.uniform(-1e6, 1e6)), "0.1", "3", "-0", "1e-300",
                               "'Infinity'", "'-Infinity'"]),
            "born": r.choice(["NULL", "DATE '1999-12-31' + %d" % r.randrange(20000)]),
            "seen": r.choice(["NULL", "TIMESTAMPTZ '2024-02-29 23:59:59.999999+05' + %d * INTERVAL '1.000001 s'"
                              % r.randrange(-10**6, 10**6)]),
            "data": r.choice(["NULL", "'{\"k\": %d, \"z\": [1, null, \"x\"]}'" % r.randrange(100),
                              "'[]'", "'\"s\"'"]),
            "blob": r.choice(["NULL", "'\\x'", "decode(md5('%d'), 'hex')" % r.randrange(1000),
                              "'\\x00ff0a'"]),
            "tags": r.choice(["NULL", "'{}'", "ARRAY['a,b', NULL, 'c\"d']", "ARRAY['x%d']" % r.randrange(9)]),
        }

    def acct_stmt(self):
        r = self.r
        k = r.randrange(1, 300)
        x = r.random()
        if x < 0.25:
            v = self.acct_values()
            cols = ", ".join(v)
            vals = ", ".join(v.values())
            if r.random() < 0.5:
                sets = ", ".join("%s = EXCLUDED.%s" % (c, c) for c in r.sample(list(v), 3))
                return "INSERT INTO acct (id, %s) VALUES (%d, %s) ON CONFLICT (id) DO UPDATE SET %s;" % (
                    cols, k, vals, sets)
            return "INSERT INTO acct (id, %s) VALUES (%d, %s);" % (cols, k, vals)
        if x < 0.55:
            v = self.acct_values()
            sets = ", ".join("%s = %s" % (c, v[c]) for c in r.sample(list(v), r.randrange(1, 4)))
            return "UPDATE acct SET %s WHERE id = %d;" % (sets, k)
        if x < 0.65:
            return "UPDATE acct SET id = %d WHERE id = %d;" % (r.randrange(1, 300), k)
        if x < 0.72:
            return "UPDATE acct SET balance = balance + 1, score = NULL WHERE id %% 17 = %d;" % r.randrange(17)
        if x < 0.74:
            return "UPDATE acct SET name = name WHERE id = %d;" % k  # changes nothing: publishes nothing
        return "DELETE FROM acct WHERE id = %d;" % k

    def item_stmt(self):
        r = self.r
        a, b = r.randrange(60), "b%d" % r.randrange(4)
        x = r.random()
        if x < 0.3:
            return "INSERT INTO item VALUES (%d, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING;" % (
                a, lit(b), r.choice(["NULL", str(r.randrange(-2**62, 2**62))]),
                lit(self.maybe_null("note%d" % r.randrange(99))),
                r.choice(["NULL", "md5('%d')::uuid" % r.randrange(999)]),
                r.choice(["NULL", "TIMESTAMP '1970-01-01' - %d * INTERVAL '1 s'" % r.randrange(10**6),
                          "TIMESTAMP '2030-01-01 12:00:00.5'"]))
        if x < 0.6:
            return "UPDATE item SET qty = %s, note = %s WHERE a = %d AND b = %s;" % (
                r.choice(["qty + 1", "NULL", "0"]), lit(self.maybe_null("u")), a, lit(b))
        if x < 0.75:
            return "UPDATE item SET b = %s WHERE a = %d AND b = %s;" % (lit("b%d" % r.randrange(4)), a, lit(b))
        return "DELETE FROM item WHERE a = %d AND b = %s;" % (a, lit(b))

    def evt_stmt(self):
        r = self.r
        k = r.randrange(1, 400)
        x = r.random()
        if x < 0.4:
            return "INSERT INTO evt VALUES (%d, %s, 'secret') ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload;" % (
                k, lit(self.maybe_null("p%d" % r.randrange(999))))
        if x < 0.55:
            return "UPDATE evt SET secret = 'only the secret' WHERE id = %d;" % k  # nothing published
        if x < 0.7:
            return "UPDATE evt SET id = id + 400 WHERE id = %d;" % k
        if x < 0.8:
            return "DELETE FROM evt WHERE id BETWEEN %d AND %d;" % (k, k + 3)
        return "UPDATE evt SET payload = %s WHERE id = %d;" % (lit(self.maybe_null("q")), k)

    def stmt(self):
        r = self.r
        x = r.random()
        if x < 0.45:
            return self.acct_stmt()
        if x < 0.75:
            return self.item_stmt()
        if x < 0.95:
            return self.evt_stmt()
        return "INSERT INTO audit (note) VALUES ('unpublished');"

    def transaction(self):
        r = self.r
        if r.random() < 0.003:
            # A bulk transaction (thousands of messages): a relay killed while
            # it publishes one republishes it on restart.
            lo = 10000 + r.randrange(10) * 5000
            return ["BEGIN;", "DELETE FROM evt WHERE id >= %d AND id < %d;" % (lo, lo + 5000),
                    "INSERT INTO evt SELECT g, 'bulk', 's' FROM generate_series(%d, %d) g ON CONFLICT DO NOTHING;"
                    % (lo, lo + r.randrange(500, 3000)), "COMMIT;"]
        if r.random() < 0.004:
            # TRUNCATE (evt or item) and refill, sometimes rolled back.
            t = r.choice(["evt", "item"])
            refill = ("INSERT INTO evt SELECT g, 'r' || g, 's' FROM generate_series(1, 50) g;" if t == "evt" else
                      "INSERT INTO item SELECT g, 'b0', g, NULL, NULL, NULL FROM generate_series(1, 30) g;")
            end = "ROLLBACK;" if r.random() < 0.3 else "COMMIT;"
            return ["BEGIN;", "TRUNCATE %s;" % t, refill, self.stmt(), end]
        if r.random() < 0.3:
            return [self.stmt()]  # autocommit
        out = ["BEGIN;"]
        for i in range(r.randrange(1, 7)):
            if r.random() < 0.15:
                out.append("SAVEPOINT s%d;" % i)
                out.extend(self.stmt() for _ in range(r.randrange(1, 4)))
                out.append(("ROLLBACK TO SAVEPOINT s%d;" if r.random() < 0.6 else "RELEASE SAVEPOINT s%d;") % i)
            else:
                out.append(self.stmt())
        out.append("ROLLBACK;" if r.random() < 0.2 else "COMMIT;")
        return out


if __name__ == "__main__":
    psql_writers.main("workload", lambda rng: Gen(rng).transaction)
