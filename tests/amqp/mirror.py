"""Mirror tables from a stream of tablepub changes, the way docs/protocol.md
section 3 applies them, checking sequence numbers: duplicates (seq <= last)
are dropped and counted, a gap (seq > last + 1) is an error. Shared by the
RabbitMQ consumer (protobuf messages) and the oslo.messaging listener (JSON
payloads); both start at a table's first message (its SCHEMA, seq 1)."""
import json
import os


class Mirror:
    def __init__(self):
        self.tables = {}  # "schema.table" -> {"last", "dups", "gaps", "rows"}
        self.messages = 0

    def table(self, name):
        return self.tables.setdefault(name, {"last": 0, "dups": 0, "gaps": [], "rows": {}})

    def apply(self, name, seq, op, key, old_key, values):
        """key, old_key, values: dicts column -> JSON-comparable value."""
        self.messages += 1
        t = self.table(name)
        if seq <= t["last"]:
            t["dups"] += 1
            return
        if seq != t["last"] + 1:
            t["gaps"].append([t["last"] + 1, seq - 1])
        t["last"] = seq
        rows = t["rows"]
        canon = lambda k: json.dumps(k, sort_keys=True)
        if op == "insert":
            rows[canon(key)] = dict(values)
        elif op == "update":
            src = canon(old_key) if old_key else canon(key)
            row = rows.pop(src, None)
            if row is None:
                t["gaps"].append(["update of a missing row", seq])
                row = {}
            row.update(values)
            row.update(key)
            rows[canon(key)] = row
        elif op == "delete":
            if rows.pop(canon(key), None) is None:
                t["gaps"].append(["delete of a missing row", seq])
        elif op == "truncate":
            rows.clear()
        elif op in ("schema", "unpublish"):
            pass
        else:
            t["gaps"].append(["unexpected op " + op, seq])

    def dump(self, path):
        out = {name: {"last": t["last"], "dups": t["dups"], "gaps": t["gaps"],
                      "rows": sorted(t["rows"].values(), key=lambda r: json.dumps(r, sort_keys=True))}
               for name, t in self.tables.items()}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"messages": self.messages, "tables": out}, f)
        os.replace(tmp, path)
