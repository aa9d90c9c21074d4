#!/usr/bin/python3
"""Report for bench/peers.sh: medians, min-max and ratios as markdown, a plot.

Reads the raw results (one measurement per line, tab-separated:
  tps  SYNC MODE ROUND TPS [lag=Ns]
  rss  SYNC MODE ROUND RSS_MB HWM_MB
  cpu  SYNC MODE ROUND RELAY_S BACKEND_S SUBSCRIBER_S  (CPU per 100k transactions)
  bulk off  MODE ROUND INSERT_S UPDATE_S [DRAIN_PER_S]
  lat  on   RATE ROUND P50_MS P99_MS ACHIEVED_TPS)
prints the report, and with --docs replaces the part of that file between
its peers markers (appended when missing) and draws --plot.
"""
import argparse
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- peers:begin: bench/peers.sh writes everything up to peers:end -->"
END = "<!-- peers:end -->"

LABELS = {
    "none": "no capture",
    "capture": "tablepub, capture only (no relay)",
    "e2e": "tablepub end to end (relay + C++ subscriber)",
    "e2e_tx": "tablepub end to end (relay + C++ subscriber of the tables and `.tx`)",
    "e2e_tail": "tablepub end to end (relay + `tablepub-tail` to a JSON file)",
    "wal2json": "wal2json end to end (`pg_recvlogical` to a file)",
    "pgq": "PgQ (`pgq.logutriga` + `pgqd`, no consumer)",
}
BULK_LABELS = {
    "none": "unpublished",
    "tablepub": "tablepub (drained by relay + C++ subscriber)",
    "tablepub_tail": "tablepub (drained by relay + `tablepub-tail` to a file)",
    "wal2json": "wal2json (slot present; drained by `pg_recvlogical`)",
    "pgq": "PgQ (`pgq.logutriga`)",
}
SHORT = {"none": "none", "capture": "capture", "e2e": "e2e C++", "e2e_tx": "e2e C++ .tx", "e2e_tail": "e2e tail",
         "wal2json": "wal2json", "pgq": "PgQ"}


def label(mode, table=LABELS):
    base, _, variant = mode.partition("@")
    text = table.get(base, base)
    return f"{text} [{variant}]" if variant else text


def med(xs):
    return statistics.median(xs)


def span(xs, fmt="{:.0f}"):
    return f"{fmt.format(min(xs))}-{fmt.format(max(xs))}"


def load(path):
    rows = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts and parts[0]:
                rows[parts[0]].append(parts[1:])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--docs")
    ap.add_argument("--plot")
    ap.add_argument("--note", default="", help="a sentence printed under the header (what variants are)")
    args = ap.parse_args()

    meta = dict(line.rstrip("\n").split("\t", 1) for line in open(args.meta) if "\t" in line)
    rows = load(args.results)
    out = []
    w = out.append

    # --- pgbench ---
    tps = defaultdict(lambda: defaultdict(dict))  # sync -> mode -> round -> tps
    lag = defaultdict(list)
    order = []
    for sync, mode, rnd, value, *extra in rows["tps"]:
        tps[sync][mode][rnd] = float(value)
        if mode not in order:
            order.append(mode)
        for e in extra:
            if e.startswith("lag="):
                lag[(sync, mode)].append(float(e[4:].rstrip("s")))
    ratios = {}  # (sync, mode) -> (median ratio, per-round ratios)
    for sync in tps:
        base = tps[sync].get("none")
        for mode, per_round in tps[sync].items():
            if not base:
                continue
            rr = [per_round[r] / base[r] for r in per_round if r in base]
            ratios[(sync, mode)] = (med(per_round.values()) / med(base.values()), rr)

    w(f"Command: `{meta.get('command', 'bench/peers.sh')}`; {meta.get('settings', '')}.")
    w(f"Date {meta.get('date', '?')}, commit {meta.get('commit', '?')}; machine: {meta.get('machine', '?')}; "
      f"{meta.get('postgres', '')}. Every measurement on a fresh cluster; modes alternate within each round.")
    if args.note:
        w("")
        w(args.note)
    w("")
    if args.plot and tps:
        w("![pgbench TPS relative to no capture, by mode and synchronous_commit](img/peers.png)")
        w("")
    for sync in sorted(tps, key=lambda s: s != "off"):
        n = max(len(v) for v in tps[sync].values())
        w(f"| pgbench tpcb-like, `synchronous_commit = {sync}` ({n} rounds) | TPS median | min-max "
          f"| vs no capture (median; per round) | consumer lag at the end, s |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for mode in order:
            if mode not in tps[sync]:
                continue
            v = list(tps[sync][mode].values())
            r = ratios.get((sync, mode))
            rtext = f"**{r[0]:.2f}x** ({span(r[1], '{:.2f}')})" if r else ""
            lags = lag.get((sync, mode))
            w(f"| {label(mode)} | {med(v):.0f} | {span(v)} | {rtext} | {f'{max(lags):.1f}' if lags else ''} |")
        w("")

    # --- bulk ---
    bulk = defaultdict(dict)
    drain = defaultdict(dict)
    border = []
    for _sync, mode, rnd, ins, upd, *rest in rows["bulk"]:
        bulk[mode][rnd] = float(ins) + float(upd)
        if rest and rest[0]:
            drain[mode][rnd] = float(rest[0])
        if mode not in border:
            border.append(mode)
    if bulk:
        n = max(len(v) for v in bulk.values())
        base = bulk.get("none")
        w2j = drain.get("wal2json")
        w(f"| {meta.get('settings', '').split('rows=')[-1].split()[0]}-row INSERT, then UPDATE of every row "
          f"({n} rounds) | produce s, median | min-max | vs unpublished | delivered to the consumer, changes/s "
          f"(median; min-max) | vs wal2json decode |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        for mode in border:
            v = list(bulk[mode].values())
            ratio = f"**{med(v) / med(base.values()):.2f}x**" if base else ""
            d = list(drain[mode].values())
            dtext = f"{med(d):,.0f} ({span(d, '{:,.0f}')})" if d else ""
            vs = f"**{med(d) / med(w2j.values()):.2f}x**" if d and w2j else ""
            w(f"| {label(mode, BULK_LABELS)} | {med(v):.2f} | {span(v, '{:.2f}')} | {ratio} | {dtext} | {vs} |")
        w("")
        w("Drain rate: changes / (time from the consumer's start to its last change); for tablepub the relay's "
          "300 ms `--start-delay` is not counted, its connecting, batch query and sort are.")
        w("")

    # --- latency ---
    lat = defaultdict(list)
    for _sync, rate, _rnd, p50, p99, achieved in rows["lat"]:
        lat[int(rate)].append((float(p50), float(p99), float(achieved or 0)))
    if lat:
        w("| commit-to-subscriber latency (`bench/latency.sh`, `synchronous_commit = on`, Python subscriber) "
          "| rounds | achieved tx/s | p50 ms, median | p99 ms, median | p99 min-max |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        for rate in sorted(lat):
            xs = lat[rate]
            w(f"| {rate} tx/s | {len(xs)} | {med([x[2] for x in xs]):.0f} | {med([x[0] for x in xs]):.2f} "
              f"| **{med([x[1] for x in xs]):.2f}** | {span([x[1] for x in xs], '{:.2f}')} |")
        w("")

    cpu = defaultdict(list)
    for sync, mode, _rnd, relay, backend, sub in rows["cpu"]:
        cpu[(sync, mode)].append((float(relay), float(backend), float(sub)))
    if cpu:
        w("| CPU seconds per 100k pgbench transactions (user + system; median, min-max) | rounds | relay "
          "| the relay's database backend | C++ subscriber | sum |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        for (sync, mode), xs in sorted(cpu.items()):
            cols = [[x[i] for x in xs] for i in range(3)] + [[sum(x) for x in xs]]
            cells = " | ".join(f"{med(c):.2f} ({span(c, '{:.2f}')})" for c in cols)
            w(f"| {label(mode)}, `synchronous_commit = {sync}` | {len(xs)} | {cells} |")
        w("")

    rss = [(float(r[3]), float(r[4])) for r in rows["rss"]]
    if rss:
        w(f"Relay memory at the end of the end-to-end pgbench runs ({len(rss)} runs): RSS median "
          f"**{med([x[0] for x in rss]):.0f} MB** (max {max(x[0] for x in rss):.0f} MB), "
          f"peak (VmHWM) max {max(x[1] for x in rss):.0f} MB.")
        w("")

    # --- targets ---
    t = []

    def ratio(sync, mode):
        return ratios.get((sync, mode), (None,))[0]

    def check(what, target, value, ok):
        if value is not None:
            t.append(f"| {what} | {target} | {value} | {'met' if ok else '**missed**'} |")

    r = ratio("off", "capture")
    check("capture alone, sync off", ">= 0.90x", r and f"{r:.2f}x", r is not None and r >= 0.90)
    r, rw = ratio("off", "e2e"), ratio("off", "wal2json")
    check("end to end (C++), sync off", ">= 0.85x and >= wal2json", r and rw and f"{r:.2f}x (wal2json {rw:.2f}x)",
          r is not None and rw is not None and r >= 0.85 and r >= rw)
    r = ratio("on", "e2e")
    check("end to end (C++), sync on", ">= 0.95x", r and f"{r:.2f}x", r is not None and r >= 0.95)
    if bulk.get("tablepub") and bulk.get("none"):
        b = med(bulk["tablepub"].values()) / med(bulk["none"].values())
        check("bulk DML produce time", "<= 1.5x", f"{b:.2f}x", b <= 1.5)
    if drain.get("tablepub") and drain.get("wal2json"):
        d = med(drain["tablepub"].values()) / med(drain["wal2json"].values())
        check("backlog drain, C++ library", ">= 4x wal2json", f"{d:.2f}x", d >= 4)
    if drain.get("tablepub_tail") and drain.get("wal2json"):
        d = med(drain["tablepub_tail"].values()) / med(drain["wal2json"].values())
        check("backlog drain, tablepub-tail JSON", ">= 2x wal2json", f"{d:.2f}x", d >= 2)
    for rate in sorted(lat):
        p = med([x[1] for x in lat[rate]])
        check(f"latency p99 at {rate} tx/s", "< 5 ms", f"{p:.2f} ms", p < 5)
    if rss:
        m = med([x[0] for x in rss])
        check("relay RSS, steady state", "< 64 MB", f"{m:.0f} MB", m < 64)
    if t:
        w("| target (issue 10) | wanted | measured here | |")
        w("| --- | --- | --- | --- |")
        out.extend(t)
        w("")

    report = "\n".join(out)
    print(report)

    if args.plot and tps:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        syncs = sorted(tps, key=lambda s: s != "off")
        modes = [m for m in order if m != "none"]
        fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
        width = 0.8 / max(len(syncs), 1)
        for i, sync in enumerate(syncs):
            xs, ys, lo, hi = [], [], [], []
            for j, mode in enumerate(modes):
                r = ratios.get((sync, mode))
                if not r:
                    continue
                xs.append(j + (i - (len(syncs) - 1) / 2) * width)
                ys.append(r[0])
                lo.append(r[0] - min(r[1]))
                hi.append(max(r[1]) - r[0])
            ax.bar(xs, ys, width * 0.95, yerr=[lo, hi], capsize=3,
                   label=f"synchronous_commit = {sync}", color=["#4477aa", "#ddaa33"][i % 2])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(0.85, color="grey", linewidth=0.6, linestyle="--")
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels([SHORT.get(m.partition("@")[0], m) + (f" [{m.partition('@')[2]}]" if "@" in m else "")
                            for m in modes])
        ax.set_ylabel("TPS / no capture")
        ax.set_ylim(0, max([1.1] + [r[0] + 0.1 for r in ratios.values()]))
        ax.set_title(f"pgbench tpcb-like, scale/clients per the table below ({meta.get('date', '')[:10]})",
                     fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        fig.savefig(args.plot)

    if args.docs:
        try:
            text = open(args.docs).read()
        except FileNotFoundError:
            text = ""
        block = f"{BEGIN}\n\n{report}\n\n{END}"
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + block + rest.split(END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        with open(args.docs, "w") as f:
            f.write(text)
        print(f"(written into {args.docs})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
