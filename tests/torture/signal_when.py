#!/usr/bin/python3
"""Sends a signal to a process the moment a SQL condition holds.

    signal_when.py PID SIGNAL TIMEOUT_SECONDS SQL

Asks SQL (which must return one boolean) again and again through one
long-lived psql session (PG* from the environment), a round trip of about a
millisecond, so that short moments (a relay inside a batch transaction, a
snapshot cursor open) are caught reliably; then sends SIGNAL (a name such as
KILL or STOP) to PID at once. Exit 1 if the condition did not hold within
TIMEOUT_SECONDS.
"""
import os
import signal
import subprocess
import sys
import time


def main():
    pid, sig, timeout, sql = int(sys.argv[1]), getattr(signal, "SIG" + sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    p = subprocess.Popen(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            p.stdin.write(sql.rstrip().rstrip(";") + ";\n")
            p.stdin.flush()
            line = p.stdout.readline()
            if not line:
                sys.exit("signal_when: psql ended")
            if line.strip() == "t":
                os.kill(pid, sig)
                return
        print("signal_when: the condition did not hold within %g s" % timeout, file=sys.stderr)
        sys.exit(1)
    finally:
        p.stdin.close()
        p.wait()


if __name__ == "__main__":
    main()
