#!/usr/bin/python3
"""A Nova-like workload for the demo: boots, state changes, resizes,
deletes, password changes (an excluded column: nothing is published) and
quota updates (an unpublished table), through one psql session.

    nova_workload.py SECONDS [TX_PER_SECOND]

Prints the number of transactions sent when done.
"""
import random
import subprocess
import sys
import time


def main():
    seconds = float(sys.argv[1])
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 40
    rng = random.Random(42)
    p = subprocess.Popen(["psql", "-qX", "-v", "ON_ERROR_STOP=0", "-f", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + seconds
    n = 0
    booted = 200
    while time.monotonic() < deadline:
        user = "md5('user%d')::uuid" % rng.randrange(1, 21)
        vm = "md5('vm%d')::uuid" % rng.randrange(1, booted + 1)
        x = rng.random()
        if x < 0.3:
            booted += 1
            flavor = rng.randrange(1, 6)
            sql = ("BEGIN;"
                   "INSERT INTO instances (uuid, hostname, user_id, flavor_id, vm_state, task_state, memory_mb)"
                   " SELECT md5('vm%d')::uuid, 'vm-%d', %s, %d, 'building', 'scheduling', memory_mb"
                   " FROM flavors WHERE id = %d;"
                   "INSERT INTO instance_metadata VALUES (md5('vm%d')::uuid, 'role', '%s');"
                   "UPDATE quota_usages SET in_use = in_use + 1 WHERE user_id = %s AND resource = 'instances';"
                   "COMMIT;" % (booted, booted, user, flavor, flavor, booted, rng.choice(["web", "db"]), user))
        elif x < 0.55:
            sql = ("UPDATE instances SET vm_state = 'active', power_state = 1, task_state = NULL,"
                   " host = 'compute-%d', launched_at = now() WHERE uuid = %s AND vm_state = 'building';"
                   % (rng.randrange(3), vm))
        elif x < 0.7:
            state = rng.choice([("stopped", 4, "NULL"), ("active", 1, "NULL"), ("active", 1, "'rebooting'")])
            sql = ("UPDATE instances SET vm_state = '%s', power_state = %d, task_state = %s WHERE uuid = %s;"
                   % (state[0], state[1], state[2], vm))
        elif x < 0.8:
            flavor = rng.randrange(1, 6)
            sql = ("BEGIN; UPDATE instances SET task_state = 'resize_migrating' WHERE uuid = %s;"
                   "UPDATE instances SET flavor_id = %d, task_state = NULL,"
                   " memory_mb = (SELECT memory_mb FROM flavors WHERE id = %d),"
                   " metadata = metadata || '{\"resized\": true}' WHERE uuid = %s; %s;"
                   % (vm, flavor, flavor, vm, "ROLLBACK" if rng.random() < 0.2 else "COMMIT"))
        elif x < 0.9:
            sql = "DELETE FROM instances WHERE uuid = %s;" % vm
        elif x < 0.95:
            sql = "UPDATE users SET password_hash = md5(random()::text) WHERE id = %s;" % user
        else:
            sql = "UPDATE users SET enabled = NOT enabled, email = NULLIF(email, '') WHERE id = %s;" % user
        p.stdin.write(sql + "\n")
        p.stdin.flush()
        n += 1
        time.sleep(rng.uniform(0.5, 1.5) / rate)
    p.stdin.close()
    p.wait()
    print(n)


if __name__ == "__main__":
    main()
