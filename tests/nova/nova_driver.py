#!/usr/bin/python3
"""Drives a real Nova database (Debian's python3-nova) for the tablepub tests.

    nova_driver.py

Nova is imported once (it takes seconds; "ok ready" on stdout says it is
done) and then obeys commands read from stdin, one a line, answering each
with one line on stdout ("ok ..." or "error ...") once it is done:

    connect URL               Nova's [database] connection, an SQLAlchemy URL
                              (postgresql+psycopg2://...); first
    sync REVISION|head        nova.db.migration.db_sync(): Nova's own migrations
    setup                     services and compute nodes of 3 compute hosts
    start SEED SECONDS WRITERS [RATE]
                              WRITERS threads, each with its own
                              RequestContext, call nova.db.main.api for
                              SECONDS (at most RATE operations per second
                              each when given) and return at once; writer
                              w carries on with the instances it had
    wait                      waits for the writers: "ok OPS ops, E errors ..."
    quit

Every write goes through nova.db.main.api and oslo.db exactly as a running
Nova's does: boots with metadata and system metadata, tags, block device
mappings and console tokens, state changes guarded by expected task states,
resizes (a migration record, then flavor, host and system metadata changed
in one transaction), metadata updates with delete=True, faults, compute node
and service updates from every writer (shared rows), transactions Nova's
code aborts, soft deletes (instance_destroy) and hard deletes.

Each writer runs every kind of operation at least once (first), then
random ones. Each writer owns the instances it boots, so Nova reports no
conflict on them; an operation that raises anyway is counted as an error, and the test
fails on any: tablepub must not break a Nova call. Block device mappings are
written only after `sync head` (Zed's model has columns the initial revision
lacks).

Values that must never leave the database (instances.user_data,
block_device_mapping.connection_info, console_auth_tokens.token_hash and the
network info cache, none of them published) contain the marker "tpsecret".
"""
import base64
import collections
import json
import random
import sys
import threading
import time
import traceback
import uuid

from oslo_utils import timeutils

import nova.conf
from nova import context as nova_context
from nova import exception
from nova.db import migration
from nova.db.main import api as db

CONF = nova.conf.CONF
SECRET = "tpsecret"
HOSTS = ["compute-%d" % i for i in range(3)]
FLAVORS = [  # (instance_type_id, name, memory_mb, vcpus, root_gb)
    (1, "m1.tiny", 512, 1, 1), (2, "m1.small", 2048, 1, 20),
    (3, "m1.medium", 4096, 2, 40), (4, "m1.large", 8192, 4, 80)]


class Driver:
    def __init__(self):
        self.lock = threading.Lock()
        self.head = False      # Nova's schema is at head (bdm writes allowed)
        self.writers = []
        self.ops = collections.Counter()
        self.errors = []
        self.mine = collections.defaultdict(dict)  # writer -> its instances that exist: uuid -> vm_state
        self.done = collections.defaultdict(set)   # writer -> the operations it ran
        self.calls = collections.Counter()         # writer -> operations started
        self.compute_nodes = {}  # host -> compute node id
        self.services = {}       # host -> service id

    @staticmethod
    def secret(kind, rng):
        return "%s-%s-%032x" % (SECRET, kind, rng.getrandbits(128))

    def count(self, what):
        with self.lock:
            self.ops[what] += 1

    # --- commands ---------------------------------------------------------

    def sync(self, revision):
        migration.db_sync(version=None if revision == "head" else revision)
        if revision == "head":
            self.head = True
        return "at %s" % migration.db_version()

    def setup(self):
        ctx = nova_context.get_admin_context()
        for i, host in enumerate(HOSTS):
            svc = db.service_create(ctx, {"host": host, "binary": "nova-compute", "topic": "compute",
                                          "report_count": 0, "version": 61,
                                          "uuid": str(uuid.UUID(int=0x5e000 + i))})
            self.services[host] = svc.id
            node = db.compute_node_create(ctx, {
                "service_id": svc.id, "host": host, "hypervisor_hostname": host + ".example.org",
                "uuid": str(uuid.UUID(int=0xc0000 + i)), "vcpus": 32, "memory_mb": 131072,
                "local_gb": 2000, "vcpus_used": 0, "memory_mb_used": 0, "local_gb_used": 0,
                "hypervisor_type": "QEMU", "hypervisor_version": 7002000,
                "cpu_info": json.dumps({"arch": "x86_64", "model": "Cascadelake-Server", "topology":
                                        {"cores": 16, "sockets": 2, "threads": 1}}),
                "free_ram_mb": 131072, "free_disk_gb": 2000, "current_workload": 0, "running_vms": 0,
                "disk_available_least": 1900, "host_ip": "192.0.2.%d" % (10 + i),
                "supported_instances": json.dumps([["x86_64", "qemu", "hvm"]]),
                "pci_stats": None, "stats": json.dumps({"num_instances": "0"}),
                "cpu_allocation_ratio": 16.0, "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 1.0})
            self.compute_nodes[host] = node.id
        for binary in ("nova-scheduler", "nova-conductor"):
            db.service_create(ctx, {"host": "controller", "binary": binary, "topic": binary[5:],
                                    "report_count": 0, "version": 61})
        return "%d compute hosts" % len(HOSTS)

    def start(self, seed, seconds, writers, rate):
        deadline = time.monotonic() + seconds
        self.ops.clear()
        self.writers = [threading.Thread(target=self.writer, args=(seed * 1000 + w, w, deadline, rate),
                                         name="writer-%d" % w, daemon=True)
                        for w in range(writers)]
        for t in self.writers:
            t.start()
        return "%d writers for %g s" % (writers, seconds)

    def wait(self):
        for t in self.writers:
            t.join()
        self.writers = []
        summary = ", ".join("%s %d" % kv for kv in sorted(self.ops.items()))
        if self.errors:
            return "error %d errors; first: %s" % (len(self.errors), self.errors[0])
        return "ok %d ops, 0 errors (%s)" % (sum(self.ops.values()), summary)

    # --- the workload -----------------------------------------------------

    def writer(self, seed, w, deadline, rate):
        rng = random.Random(seed)
        ctx = nova_context.RequestContext(user_id="user-%d" % w, project_id="project-%d" % (w % 2),
                                          is_admin=True)
        mine, done = self.mine[w], self.done[w]  # kept from one start to the next
        while time.monotonic() < deadline:
            self.calls[w] += 1
            n = self.calls[w]
            op = self.pick(rng, mine, done)
            done.add(op)
            try:
                getattr(self, "op_" + op)(ctx, rng, mine, w, n)
                self.count(op)
            except Exception as e:  # noqa: BLE001 - any failure of a Nova call fails the test
                with self.lock:
                    self.errors.append("writer %d %s: %s: %s" % (w, op, type(e).__name__, e))
                traceback.print_exc(file=sys.stderr)
            if rate:
                time.sleep(rng.uniform(0.5, 1.5) / rate)

    def pick(self, rng, mine, done):
        if len(mine) < 3:
            return "boot"
        ops = [("boot", 14), ("activate", 10), ("power", 10), ("resize", 8), ("metadata", 10),
               ("fault", 4), ("tag", 6), ("node", 8), ("heartbeat", 6), ("aborted", 4),
               ("soft_delete", 6), ("hard_delete", 3)]
        if self.head:
            ops += [("volume", 10)]
        first = [o for o, _ in ops if o not in done]
        if first:
            return first[0]
        if len(mine) > 40:
            ops = [(o, wt * (4 if o.endswith("delete") else 1)) for o, wt in ops]
        return rng.choices([o for o, _ in ops], [wt for _, wt in ops])[0]

    def op_boot(self, ctx, rng, mine, w, n):
        flavor = rng.choice(FLAVORS)
        inst_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = "vm-%d-%d" % (w, n)
        cloud_config = base64.b64encode(b"#cloud-config\nchpasswd: {list: 'root:%s'}\n"
                                        % self.secret("pw", rng).encode()).decode()
        inst = db.instance_create(ctx, {
            "uuid": inst_uuid, "user_id": ctx.user_id, "project_id": ctx.project_id,
            "display_name": name, "hostname": name, "display_description": rng.choice([None, "", "web tier"]),
            "image_ref": str(uuid.UUID(int=rng.randrange(4))), "vm_state": "building",
            "task_state": "scheduling", "power_state": 0, "instance_type_id": flavor[0],
            "memory_mb": flavor[2], "vcpus": flavor[3], "root_gb": flavor[4], "ephemeral_gb": 0,
            "availability_zone": rng.choice(["nova", "az-east"]), "launch_index": 0,
            "key_name": "ops", "key_data": "ssh-ed25519 AAAAC3Nza%d ops@example" % w,
            "user_data": "%s-userdata-%s" % (SECRET, cloud_config),
            "reservation_id": "r-%08x" % rng.getrandbits(32), "config_drive": rng.choice(["", "True"]),
            "os_type": "linux", "architecture": "x86_64", "locked": False,
            "metadata": {"role": rng.choice(["web", "db", "cache"]), "owner": "team-%d" % w,
                         "note": "línea\u00e9 \"quoted\" %d" % n},
            "system_metadata": {"image_base_image_ref": str(uuid.UUID(int=rng.randrange(4))),
                                "image_os_distro": "debian", "image_min_disk": str(flavor[4]),
                                "owner_user_name": "user-%d" % w, "boot_roles": "member,reader"},
            "info_cache": {"network_info": json.dumps([{"id": str(uuid.uuid4()),
                                                        "meta": {"secret": self.secret("net", rng)}}])},
            "security_groups": ["default"]})
        db.action_start(ctx, {"action": "create", "instance_uuid": inst.uuid, "request_id": "req-%d-%d" % (w, n),
                              "user_id": ctx.user_id, "project_id": ctx.project_id,
                              "start_time": None})
        db.instance_tag_add(ctx, inst.uuid, rng.choice(["prod", "staging"]))
        if self.head:
            db.block_device_mapping_create(ctx, {
                "instance_uuid": inst.uuid, "source_type": "image", "destination_type": "local",
                "boot_index": 0, "device_name": "/dev/vda", "image_id": inst.image_ref,
                "delete_on_termination": True, "volume_size": flavor[4]}, legacy=False)
        mine[inst.uuid] = "building"

    def op_activate(self, ctx, rng, mine, w, n):
        building = [u for u, st in mine.items() if st == "building"]
        if not building:
            self.op_boot(ctx, rng, mine, w, n)
            building = [u for u, st in mine.items() if st == "building"]
        self.activate(ctx, rng, mine, rng.choice(building), n)

    def activate(self, ctx, rng, mine, inst_uuid, n):
        """The compute host took the instance: building -> active."""
        host = rng.choice(HOSTS)
        db.instance_update(ctx, inst_uuid, {
            "vm_state": "active", "power_state": 1, "task_state": None, "host": host,
            "node": host + ".example.org", "launched_on": host, "launched_at": timeutils.utcnow(),
            "access_ip_v4": "198.51.100.%d" % rng.randrange(1, 255),
            "access_ip_v6": "2001:db8::%x" % rng.randrange(1, 65535),
            "expected_task_state": "scheduling"})
        mine[inst_uuid] = "active"
        if rng.random() < 0.5:
            db.console_auth_token_create(ctx, {
                "token_hash": self.secret("token", rng), "console_type": "novnc", "host": host,
                "port": 5900 + n % 100, "instance_uuid": inst_uuid, "expires": int(time.time()) + 600})

    def running(self, ctx, rng, mine, n):
        """One of this writer's instances that is active or stopped."""
        ready = [u for u, st in mine.items() if st != "building"]
        if ready:
            return rng.choice(ready)
        inst_uuid = rng.choice(list(mine))
        self.activate(ctx, rng, mine, inst_uuid, n)
        return inst_uuid

    def op_power(self, ctx, rng, mine, w, n):
        inst_uuid = self.running(ctx, rng, mine, n)
        # Two steps, each guarded like Nova's compute manager guards them.
        task, vm_state, power = rng.choice([
            ("powering-off", "stopped", 4), ("powering-on", "active", 1), ("rebooting", "active", 1)])
        db.instance_update(ctx, inst_uuid, {"task_state": task, "expected_task_state": [None]})
        db.instance_update(ctx, inst_uuid, {"vm_state": vm_state, "power_state": power, "task_state": None,
                                            "expected_task_state": task})
        mine[inst_uuid] = vm_state

    def op_resize(self, ctx, rng, mine, w, n):
        inst_uuid = self.running(ctx, rng, mine, n)
        inst = db.instance_get_by_uuid(ctx, inst_uuid)
        flavor = rng.choice(FLAVORS)
        dest = rng.choice([h for h in HOSTS if h != inst.host])
        mig = db.migration_create(ctx, {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "instance_uuid": inst_uuid,
            "source_compute": inst.host, "dest_compute": dest, "source_node": inst.node,
            "dest_node": dest + ".example.org", "dest_host": "192.0.2.1", "status": "pre-migrating",
            "old_instance_type_id": inst.instance_type_id, "new_instance_type_id": flavor[0],
            "migration_type": "resize", "user_id": ctx.user_id, "project_id": ctx.project_id})
        db.instance_update(ctx, inst_uuid, {"task_state": "resize_migrating", "expected_task_state": [None]})
        db.migration_update(ctx, mig.id, {"status": "migrating", "memory_total": 4096 * 2**20,
                                          "memory_processed": rng.randrange(2**31)})
        # Finishing the resize: instance, its system metadata (Nova passes
        # the whole dict: keys left out are deleted) and the migration
        # record change in one transaction, as Nova's objects do.
        sysmeta = db.instance_system_metadata_get(ctx, inst_uuid)
        sysmeta["old_vm_state"] = mine[inst_uuid]
        with db.context_manager.writer.using(ctx):
            db.instance_update(ctx, inst_uuid, {
                "instance_type_id": flavor[0], "memory_mb": flavor[2], "vcpus": flavor[3],
                "root_gb": flavor[4], "host": dest, "node": dest + ".example.org",
                "task_state": None, "vm_state": "resized", "expected_task_state": "resize_migrating",
                "system_metadata": sysmeta})
            db.migration_update(ctx, mig.id, {"status": "finished"})
        del sysmeta["old_vm_state"]
        sysmeta["image_min_disk"] = str(int(sysmeta["image_min_disk"]) + 1)  # always an update
        with db.context_manager.writer.using(ctx):
            db.instance_update(ctx, inst_uuid, {"vm_state": mine[inst_uuid], "expected_vm_state": "resized",
                                                "system_metadata": sysmeta})
            db.migration_update(ctx, mig.id, {"status": "confirmed"})

    def op_metadata(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        meta = dict(db.instance_metadata_get(ctx, inst_uuid))
        for k in list(meta):
            if k != "owner" and rng.random() < 0.4:
                del meta[k]  # soft deleted by delete=True
        meta["owner"] = "team-%d-%d" % (w, n)
        meta["rev"] = str(n)
        if rng.random() < 0.5:
            meta["k%d" % rng.randrange(5)] = rng.choice(["v", "", "ünïcode", "x" * 255])
        db.instance_metadata_update(ctx, inst_uuid, meta, True)

    def op_fault(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        db.instance_fault_create(ctx, {
            "instance_uuid": inst_uuid, "code": rng.choice([400, 500]),
            "message": "Build of instance aborted: %d" % n, "host": rng.choice(HOSTS),
            "details": "Traceback (most recent call last):\n  File \"manager.py\", line %d\n" % n})

    def op_tag(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        if rng.random() < 0.5:
            db.instance_tag_set(ctx, inst_uuid, rng.sample(["prod", "staging", "pci", "gpu", "x/y z"], 2))
        else:
            tags = [t.tag for t in db.instance_tag_get_by_instance_uuid(ctx, inst_uuid)]
            if tags:
                db.instance_tag_delete(ctx, inst_uuid, rng.choice(tags))

    def op_node(self, ctx, rng, mine, w, n):
        # Shared rows: every writer updates the same three compute nodes.
        host = rng.choice(HOSTS)
        used = rng.randrange(0, 32)
        db.compute_node_update(ctx, self.compute_nodes[host], {
            "vcpus_used": used, "memory_mb_used": used * 2048, "running_vms": used,
            "free_ram_mb": 131072 - used * 2048, "current_workload": rng.randrange(4),
            "stats": json.dumps({"num_instances": str(used), "num_vm_active": str(used // 2),
                                 "io_workload": str(rng.randrange(4))}),
            "cpu_allocation_ratio": rng.choice([16.0, 4.0, 0.1])})

    def op_heartbeat(self, ctx, rng, mine, w, n):
        host = rng.choice(HOSTS)
        svc = db.service_get(ctx, self.services[host])
        values = {"report_count": svc.report_count + 1, "last_seen_up": timeutils.utcnow()}
        if rng.random() < 0.1:
            values.update({"disabled": not svc.disabled,
                           "disabled_reason": None if svc.disabled else "maintenance by writer %d" % w})
        db.service_update(ctx, svc.id, values)

    def op_aborted(self, ctx, rng, mine, w, n):
        # Nova code that fails half-way: nothing of it may be published.
        inst_uuid = rng.choice(list(mine))
        try:
            with db.context_manager.writer.using(ctx):
                db.instance_update(ctx, inst_uuid, {"display_name": "never-%d" % n, "task_state": "deleting"})
                db.instance_metadata_update(ctx, inst_uuid, {"aborted": str(n)}, False)
                db.instance_fault_create(ctx, {"instance_uuid": inst_uuid, "code": 500,
                                               "message": "never published %d" % n})
                raise exception.NovaException("aborted on purpose")
        except exception.NovaException as e:
            if str(e) != "aborted on purpose":
                raise
        # And one refused by Nova's own guard: expected task state mismatch.
        try:
            db.instance_update(ctx, inst_uuid, {"vm_state": "error", "expected_task_state": "spawning"})
        except exception.UnexpectedTaskStateError:
            pass
        else:
            raise AssertionError("instance_update ignored expected_task_state")

    def op_volume(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        vols = [b for b in db.block_device_mapping_get_all_by_instance(ctx, inst_uuid)
                if b.destination_type == "volume"]
        if vols and rng.random() < 0.5:
            bdm = rng.choice(vols)
            if rng.random() < 0.5:
                # Only the excluded column changes: nothing is published.
                db.block_device_mapping_update(ctx, bdm.id, {"connection_info": self.connection_info(rng)},
                                               legacy=False)
            else:
                db.block_device_mapping_destroy(ctx, bdm.id)
            return
        vol = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        bdm = db.block_device_mapping_create(ctx, {
            "instance_uuid": inst_uuid, "source_type": "volume", "destination_type": "volume",
            "volume_id": vol, "device_name": "/dev/vd%s" % rng.choice("bcdef"), "boot_index": None,
            "delete_on_termination": False, "attachment_id": str(uuid.uuid4()), "volume_type": "ceph",
            "connection_info": self.connection_info(rng), "encrypted": rng.random() < 0.3}, legacy=False)
        db.block_device_mapping_update(ctx, bdm.id, {"volume_size": rng.randrange(1, 100), "tag": "data"},
                                       legacy=False)

    def connection_info(self, rng):
        return json.dumps({"driver_volume_type": "iscsi", "data": {
            "target_iqn": "iqn.2010-10.org.openstack:volume-%d" % rng.randrange(1000),
            "auth_method": "CHAP", "auth_username": "chap", "auth_password": self.secret("chap", rng)}})

    def op_soft_delete(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        del mine[inst_uuid]
        db.instance_update(ctx, inst_uuid, {"task_state": "deleting"})
        db.instance_destroy(ctx, inst_uuid)

    def op_hard_delete(self, ctx, rng, mine, w, n):
        inst_uuid = rng.choice(list(mine))
        del mine[inst_uuid]
        db.instance_destroy(ctx, inst_uuid, hard_delete=True)


def connect(url):
    """Configures Nova's database access as nova.conf's [database] would."""
    CONF([], project="nova", default_config_files=[])
    CONF.set_override("connection", url, group="database")
    db.configure(CONF)
    return "connected"


def main():
    driver = Driver()
    print("ok ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "connect":
                out = "ok " + connect(words[1])
            elif words[0] == "sync":
                out = "ok " + driver.sync(words[1])
            elif words[0] == "setup":
                out = "ok " + driver.setup()
            elif words[0] == "start":
                out = "ok " + driver.start(int(words[1]), float(words[2]), int(words[3]),
                                           float(words[4]) if len(words) > 4 else 0)
            elif words[0] == "wait":
                out = driver.wait()
            elif words[0] == "quit":
                print("ok bye", flush=True)
                return
            else:
                out = "error unknown command %s" % words[0]
        except Exception as e:  # noqa: BLE001 - reported to the script, which fails
            traceback.print_exc(file=sys.stderr)
            out = "error %s: %s" % (type(e).__name__, e)
        print(out.replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
