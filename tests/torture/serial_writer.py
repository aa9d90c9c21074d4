#!/usr/bin/python3
"""A busy writer that knows what it committed.

    serial_writer.py TABLE IDS_FILE SEED

One psql session (PG* from the environment) runs one-statement
transactions on TABLE (id bigserial PRIMARY KEY, v int) as fast as it can:
each updates a random earlier row and inserts a new one, and returns the new
id. The id is appended to IDS_FILE once psql printed it, that is after its
COMMIT returned: IDS_FILE lists transactions the database said were
committed (with synchronous_commit = off, not necessarily flushed). Ends
when the session ends (a database crash) or on SIGTERM.
"""
import random
import signal
import subprocess
import sys


def main():
    table, ids_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    psql = subprocess.Popen(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    last = 1
    with open(ids_path, "a", buffering=1) as ids:
        try:
            while True:
                psql.stdin.write("WITH u AS (UPDATE %s SET v = v + 1 WHERE id = %d) "
                                 "INSERT INTO %s (v) VALUES (%d) RETURNING id;\n"
                                 % (table, rng.randint(1, last), table, rng.randrange(1000)))
                psql.stdin.flush()
                line = psql.stdout.readline()
                if not line:
                    return  # the session is gone
                last = int(line)
                ids.write(line)
        except (BrokenPipeError, ValueError):
            return
        finally:
            psql.kill()
            psql.wait()


if __name__ == "__main__":
    main()
