"""Concurrent writers feeding psql sessions, shared by workload.py and
tx_workload.py (both take SEED SECONDS WRITERS).

Each writer feeds one long-lived psql session (PG* from the environment,
ON_ERROR_STOP off: a failing statement aborts its transaction, which is part
of the tests) with the transactions of its own generator until SECONDS
have passed. Writer n's generator gets random.Random(SEED * 1000 + n), so
the same SEED gives the same statements (their interleaving depends on
timing).
"""
import random
import subprocess
import sys
import threading
import time


def writer(seed, n, deadline, counts, make_transaction):
    rng = random.Random(seed * 1000 + n)
    transaction = make_transaction(rng)
    p = subprocess.Popen(["psql", "-qX", "-v", "ON_ERROR_STOP=0", "-f", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         text=True)
    sent = 0
    try:
        while time.monotonic() < deadline:
            p.stdin.write("\n".join(transaction()) + "\n")
            p.stdin.flush()
            sent += 1
            # Keep psql's backlog short so the run ends near the deadline.
            time.sleep(rng.uniform(0.002, 0.012))
    finally:
        p.stdin.close()
        p.wait()
    counts[n] = sent


def main(name, make_transaction):
    """Runs the writers of the command line (SEED SECONDS WRITERS).
    make_transaction(rng) returns a function that returns the next
    transaction's statements (a list of SQL strings)."""
    seed, seconds, writers = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + seconds
    counts = {}
    threads = [threading.Thread(target=writer, args=(seed, n, deadline, counts, make_transaction))
               for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%s: %d transactions sent by %d writers" % (name, sum(counts.values()), writers))
