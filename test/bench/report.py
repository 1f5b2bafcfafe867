"""Writes docs/benchmarks.md (and its plots under docs/benchmarks/) from the results of run.py.

    python3 test/bench/report.py RESULTS.json [docs/benchmarks.md]

The figures, tables, ratios and plots are made from the results; the explanations of misses and
the profiles' reading come from test/bench/findings.md, which is written by hand after a run and
copied in verbatim.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = {"csdr": "csdr-apiserver", "csdr-etcd": "csdr-apiserver on etcd",
         "kube-crd": "kube-apiserver + CRDs", "sample": "sample-apiserver",
         "cr-webhook": "controller-runtime webhook", "nginx": "nginx (fixed answer)"}
API_SYSTEMS = ("csdr", "csdr-etcd", "kube-crd", "sample")  # the API section's columns
API_NAMES = dict(NAMES, csdr="csdr-apiserver (SQLite)")


def fmt(v, digits=None, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if digits is None:
            digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
        return f"{v:,.{digits}f}{unit}"
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v}{unit}"


def get(res, system, key):
    v = res.get("systems", {}).get(system, {}).get(key)
    return v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def targets(res):
    """(target, ours, theirs, ratio, goal text, met) rows."""
    rows = []
    ceiling = max((r["writes_per_s"] for r in res.get("sqlite_ceiling", [])), default=None)

    def add(name, ours, theirs, goal, ok, r, unit=""):
        met = None if r is None else ok(r)
        rows.append((name, fmt(ours, unit=unit), fmt(theirs, unit=unit),
                     "n/a" if r is None else f"{r:.2f}", goal, met))

    for c in (16, 64):
        o, t = get(res, "csdr", f"per_cpu_c{c}"), get(res, "cr-webhook", f"per_cpu_c{c}")
        add(f"Webhook reviews per server CPU-second, {c} connections, vs controller-runtime "
            "(normalised for CPU the server got)", o, t, ">= 3", lambda r: r >= 3, ratio(o, t))
        n = get(res, "nginx", f"per_cpu_c{c}")
        add(f"Webhook reviews per server CPU-second, {c} connections, vs nginx", o, n, ">= 0.60",
            lambda r: r >= 0.6, ratio(o, n))
    for c in (16, 64):
        o, t = get(res, "csdr", f"rate_c{c}"), get(res, "cr-webhook", f"rate_c{c}")
        add(f"Webhook reviews/s, {c} connections, vs controller-runtime", o, t, ">= 3",
            lambda r: r >= 3, ratio(o, t))
        n = get(res, "nginx", f"rate_c{c}")
        add(f"Webhook reviews/s, {c} connections, vs nginx ceiling", o, n, ">= 0.60",
            lambda r: r >= 0.6, ratio(o, n))
    o, t = get(res, "csdr", "fixed_1000_p99_ms"), get(res, "cr-webhook", "fixed_1000_p99_ms")
    add("Webhook p99 at 1,000 reviews/s (ms), vs controller-runtime", o, t, "<= 0.33",
        lambda r: r <= 1 / 3, ratio(o, t))
    o = get(res, "csdr", "create_rate")
    for peer in ("kube-crd", "sample"):
        t = get(res, peer, "create_rate")
        add(f"Durable creates/s, 64 clients, vs {NAMES[peer]}", o, t, ">= 3",
            lambda r: r >= 3, ratio(o, t))
    add("Durable creates/s vs SQLite group-commit ceiling (64 per transaction)", o, ceiling,
        ">= 0.60", lambda r: r >= 0.6, ratio(o, ceiling))
    wpt = get(res, "csdr", "writes_per_transaction")
    rows_c = res.get("sqlite_ceiling", [])
    if wpt and rows_c:
        # The ceiling at the batch size csdr-apiserver's group commit reached (nearest measured).
        near = min(rows_c, key=lambda r: abs(r["batch"] - wpt))
        add(f"Durable creates/s vs SQLite at the batch csdr-apiserver reached ({wpt:.1f} "
            f"writes per transaction; ceiling measured at {near['batch']})", o,
            near["writes_per_s"], ">= 0.60", lambda r: r >= 0.6, ratio(o, near["writes_per_s"]))
    o, t = get(res, "csdr", "list_table_ms"), get(res, "kube-crd", "list_table_ms")
    add("List of 10,000 as Table (ms), vs kube-apiserver", o, t, "<= 0.33",
        lambda r: r <= 1 / 3, ratio(o, t))
    o = get(res, "csdr", "rss_loaded_mib")
    for peer in ("kube-crd", "sample"):
        t = get(res, peer, "rss_loaded_mib")
        add(f"RSS with 10,000 objects (MiB), vs {NAMES[peer]}", o, t, "<= 0.25",
            lambda r: r <= 0.25, ratio(o, t))
    for key, label in (("ready_empty_median_s", "empty store"),
                       ("ready_loaded_median_s", "10,000 objects")):
        v = get(res, "csdr", key)
        ms = None if v is None else v * 1000
        rows.append((f"Start to ready, {label} (ms)", fmt(ms), "", "", "<= 100 ms",
                     None if ms is None else ms <= 100))
    o, t = get(res, "csdr", "get8_watch_p99_ms"), get(res, "csdr", "get8_p99_ms")
    add("Get p99 with 1,000 watches open / without (csdr-apiserver)", o, t, "<= 2",
        lambda r: r <= 2, ratio(o, t))
    # Issue 13: csdr-apiserver on etcd, against kube-apiserver on the same etcd and against
    # itself on SQLite.
    o, t = get(res, "csdr-etcd", "create_rate"), get(res, "kube-crd", "create_rate")
    add("On etcd: durable creates/s, 64 clients, vs kube-apiserver + CRDs on the same etcd", o, t,
        ">= 3", lambda r: r >= 3, ratio(o, t))
    for label, what in (("json", "as JSON, consistent (resourceVersion unset)"),
                        ("table", "as Table, consistent (resourceVersion unset)"),
                        ("json_rv0", "as JSON, resourceVersion=0"),
                        ("table_rv0", "as Table, resourceVersion=0")):
        o, t = get(res, "csdr-etcd", f"list_{label}_ms"), get(res, "csdr", f"list_{label}_ms")
        sent = get(res, "csdr-etcd", f"list_{label}_etcd_bytes")  # a few bytes: the cache's
        add(f"On etcd: list of 10,000 {what} from the watch cache (ms), vs SQLite" +
            ("" if sent is None else f" (etcd sent {fmt(sent / 2**10)} KiB per list)"), o, t,
            "<= 1.00", lambda r: r <= 1, ratio(o, t))
    # Issue 14: memory at every point of the sequence against sample-apiserver and its etcd
    # together, the watch fan-out and a Table list against sample-apiserver's cached one.
    for key, etcd_key, label in (("rss_loaded_mib", "etcd_rss_loaded_mib", "after the creates"),
                                 ("rss_after_lists_mib", "etcd_rss_after_lists_mib",
                                  "after the lists"),
                                 ("rss_watches_mib", "etcd_rss_after_lists_mib",
                                  "with 1,000 watches open")):
        o, t, e = get(res, "csdr", key), get(res, "sample", key), get(res, "sample", etcd_key)
        both = None if t is None or e is None else t + e
        add(f"RSS {label} (MiB), vs sample-apiserver + its etcd", o, both, "<= 0.25",
            lambda r: r <= 0.25, ratio(o, both))
    per_watch = {}
    for system in ("csdr", "sample"):
        a, w = get(res, system, "rss_after_lists_mib"), get(res, system, "rss_watches_mib")
        per_watch[system] = None if a is None or w is None else (w - a) * 1024 / 1000
    add("RSS growth per open watch (KiB), vs sample-apiserver", per_watch["csdr"],
        per_watch["sample"], "<= 0.50", lambda r: r <= 0.5,
        ratio(per_watch["csdr"], per_watch["sample"]))
    o, t = get(res, "csdr", "fanout_max_ms"), get(res, "sample", "fanout_max_ms")
    add("One write reaching 1,000 watchers (ms, last delivery, median of 5 writes), vs "
        "sample-apiserver", o, t,
        "<= 0.33", lambda r: r <= 1 / 3, ratio(o, t))
    # 10,000 watches on one server: refusals, gets meanwhile, fan-out, RSS per watch.
    for system in ("csdr", "sample"):
        w = get(res, system, "watch_many")
        if w is None:
            continue
        n = get(res, system, "watch_many_n")
        missed = w.get("open_errors", 0) + n - w.get("delivered", 0)
        rows.append((f"{NAMES[system]}: {n:,} watches, refused at open or missing the write "
                     f"({w.get('open_seconds', 0):.0f} s to open them)", fmt(missed), "", "n/a",
                     "0", missed == 0))
    o, t = get(res, "csdr", "watch_many"), get(res, "csdr", "get8_p99_ms")
    o = None if o is None else o.get("gets", {}).get("p99_ms")
    add("Get p99 with 10,000 watches open / without (csdr-apiserver)", o, t, "<= 2",
        lambda r: r <= 2, ratio(o, t))
    o, t = get(res, "csdr", "watch_many"), get(res, "sample", "watch_many")
    o = None if o is None else o.get("max_ms")
    t = None if t is None else t.get("max_ms")
    add("One write reaching 10,000 watchers (ms, last delivery, median of 5 writes), vs "
        "sample-apiserver", o, t,
        "<= 0.33", lambda r: r <= 1 / 3, ratio(o, t))
    o, t = get(res, "csdr", "rss_per_watch_many_kib"), get(res, "sample", "rss_per_watch_many_kib")
    add("RSS growth per open watch with 10,000 open (KiB), vs sample-apiserver", o, t, "<= 0.50",
        lambda r: r <= 0.5, ratio(o, t))
    o, t = get(res, "csdr", "list_table_ms"), get(res, "sample", "list_table_rv0_ms")
    add("List of 10,000 as Table (ms), vs sample-apiserver's cached list (resourceVersion=0)",
        o, t, "<= 0.33", lambda r: r <= 1 / 3, ratio(o, t))
    # Issue 17: HTTP/2, h2load's gets over 1 and 16 connections, and watch streams.
    h2 = {sys_: (get(res, sys_, "h2") or {}) for sys_ in ("csdr", "sample")}
    for c in (1, 16):
        o, t = (h2[x].get(f"get_c{c}") or {} for x in ("csdr", "sample"))
        m = o.get("streams", t.get("streams"))
        add(f"HTTP/2 gets/s, {c} connection(s) x {m} streams (h2load), vs sample-apiserver",
            o.get("rate"), t.get("rate"), ">= 3", lambda r: r >= 3,
            ratio(o.get("rate"), t.get("rate")))
        add(f"HTTP/2 get p99 (ms), {c} connection(s) x {m} streams, vs sample-apiserver",
            o.get("p99_ms"), t.get("p99_ms"), "<= 0.33", lambda r: r <= 1 / 3,
            ratio(o.get("p99_ms"), t.get("p99_ms")))
    o, t = (h2[x].get("watch_1000") or {} for x in ("csdr", "sample"))
    add(f"One write reaching {fmt(o.get('watchers'))} HTTP/2 watch streams over "
        f"{fmt(o.get('connections'))} connection(s) (ms, last delivery), vs sample-apiserver",
        o.get("max_ms"), t.get("max_ms"), "<= 0.33", lambda r: r <= 1 / 3,
        ratio(o.get("max_ms"), t.get("max_ms")))
    o, t = (h2[x].get("watch") or {} for x in ("csdr", "sample"))
    add(f"One write reaching {fmt(o.get('watchers'))} HTTP/2 watch streams over "
        f"{fmt(o.get('connections'))} connections (ms, last delivery), vs sample-apiserver",
        o.get("max_ms"), t.get("max_ms"), "<= 0.33", lambda r: r <= 1 / 3,
        ratio(o.get("max_ms"), t.get("max_ms")))
    return rows


def plots(res, outdir):
    """PNG plots; returns their paths relative to docs/. Needs Debian's python3-matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    made = []
    fig, ax = plt.subplots(figsize=(7, 4))
    conns = [1, 16, 64]
    for s in ("csdr", "cr-webhook", "nginx"):
        ys = [get(res, s, f"rate_c{c}") for c in conns]
        if any(y is not None for y in ys):
            ax.plot(conns, [y or 0 for y in ys], marker="o", label=NAMES[s])
    ax.set_xscale("log", base=2)
    ax.set_xticks(conns, [str(c) for c in conns])
    ax.set_xlabel("keep-alive TLS connections (wrk, 1 thread on CPU 1)")
    ax.set_ylabel("AdmissionReviews / s (server on CPU 0)")
    ax.set_title("Webhook throughput against connections")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "webhook-throughput.png", dpi=110)
    plt.close(fig)
    made.append("benchmarks/webhook-throughput.png")

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))  # four API systems side by side
    panels = [("Webhook at 1,000 reviews/s", ("csdr", "cr-webhook", "nginx"), "fixed_1000"),
              ("Durable creates, 64 clients", API_SYSTEMS, "create"),
              ("Gets, 16 connections", API_SYSTEMS, "get")]
    for ax, (title, systems, key) in zip(axes, panels):
        labels, p50, p99 = [], [], []
        for s in systems:
            a, b = get(res, s, f"{key}_p50_ms"), get(res, s, f"{key}_p99_ms")
            if a is None:
                continue
            names = API_NAMES if s in API_SYSTEMS else NAMES
            labels.append(names[s].replace(" + ", "\n+ ").replace(" webhook", "\nwebhook")
                          .replace(" (", "\n(").replace(" on ", "\non "))
            p50.append(a)
            p99.append(b)
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p99, 0.4, label="p99")
        ax.set_xticks(list(xs), labels, fontsize=7.5)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "latency.png", dpi=110)
    plt.close(fig)
    made.append("benchmarks/latency.png")
    return made


def write(res, doc_path):
    doc_path = Path(doc_path)
    images = plots(res, doc_path.parent / "benchmarks")
    m, v = res.get("machine", {}), res.get("versions", {})
    S = res.get("systems", {})
    out = []
    w = out.append
    w("# Benchmarks: csdr-apiserver against the Go implementations, side by side\n")
    w(f"Generated by `make bench` (`test/bench/run.py`, then `test/bench/report.py`) from the run of "
      f"**{res.get('started')}** to {res.get('finished')} ({res.get('seconds', 0) / 60:.1f} min). "
      f"Every figure below comes from that one run on one machine; the targets are issue 7's, "
      f"and issue 13's for csdr-apiserver on etcd (the rows that begin \"On etcd\").\n")
    w("## Machine\n")
    w(f"- CPU: {m.get('cpu')}; `nproc`: {m.get('nproc_cmd')}; memory {fmt(m.get('mem_gib'), 1)} GiB; "
      f"{m.get('os')}, kernel {m.get('kernel')}; disk: ext4 on virtio (`/dev/vda`), the same for "
      "SQLite's and etcd's files.")
    la0, la1 = m.get("loadavg_start"), res.get("loadavg_end")
    w(f"- Load average (1, 5, 15 min) at the start: {la0}; at the end: {la1}. The machine is "
      "shared with another engineer's builds and tests; a load average above ~1 means the other "
      "core was busy too during parts of the run, and the figures are lower and noisier than on a "
      "quiet machine (see Findings).")
    phases = res.get("loadavg_phases") or []
    if phases:
        w("- Load average (1 min) when each part began: " + "; ".join(
            f"{what} {at} UTC: {la[0]:.1f}" for what, at, la in phases) + ".")
    w("- Versions: " + "; ".join(f"{k}: {', '.join(x) if isinstance(x, list) else x}"
                                 for k, x in v.items()) + "\n")

    w("## Method\n")
    w(textwrap_method(res))

    w("## Targets\n")
    w("| target | csdr-apiserver | peer | ratio | goal | met |")
    w("| --- | --- | --- | --- | --- | --- |")
    for name, o, t, r, goal, met in targets(res):
        w(f"| {name} | {o} | {t} | {r} | {goal} | "
          f"{'n/a' if met is None else ('yes' if met else '**no**')} |")
    w("")

    w("## Webhook\n")
    w("AdmissionReviews over TLS 1.3 with keep-alive; server pinned to CPU 0, load to CPU 1. "
      "Throughput: `wrk -t1 -cN -d4s` with `test/bench` Lua (p50/p99 from wrk's "
      "own latency histogram, closed loop; median of 5 runs). Fixed rate: `test/bench/rate.c` "
      "sends 1,000 reviews/s open-loop for 12 s over 16 connections, a thread each, and counts "
      "latency from when each review was due (median of 3 runs). *Late p99* is how late the "
      "client itself sent (99th percentile); a run in which it sent more than 0.1 ms late "
      "measured something else holding the load CPU and is repeated, at most three times. (The "
      "Go load client, whose timers wake through its runtime's poller, added 0.5 ms at p50 and "
      "0.9 ms at p99 to every system.) *Server CPU* is the share of its core the server used "
      "during a "
      "run; *others on CPU 0* is what the rest of the machine took of that core meanwhile "
      "(from `/proc/stat`): when it is high, the server was starved and its rate is low for "
      "reasons of its own no more. *Reviews per server CPU-second* (rate divided by the "
      "server's CPU share) is the figure least moved by that.\n")
    w("| system | 1 conn /s | 16 conns /s | 64 conns /s | p50 / p99 ms at 16 | p50 / p99 ms at 64 "
      "| p50 / p99 ms at 1,000/s | late p99 ms | RSS idle / after MiB | server CPU at 16 | wrk CPU at 16 "
      "| reviews per server CPU-s at 16 / 64 | others on CPU 0 at 16 / 64 |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in ("csdr", "cr-webhook", "nginx"):
        r = S.get(s, {})
        if not r:
            continue

        def lat(c):
            runs = r.get(f"wrk_c{c}") or []
            if not runs:
                return "n/a"
            mid = sorted(runs, key=lambda x: x["rate"])[len(runs) // 2]
            return f"{fmt(mid.get('p50_ms'))} / {fmt(mid.get('p99_ms'))}"

        def share(c, key):
            runs = r.get(f"wrk_c{c}") or []
            return fmt(sorted(x[key] for x in runs)[len(runs) // 2], 2) if runs else "n/a"
        fixed = (f"{fmt(r.get('fixed_1000_p50_ms'))} / {fmt(r.get('fixed_1000_p99_ms'))}"
                 if r.get("fixed_1000_p99_ms") is not None else "not measured")
        w(f"| {NAMES[s]} | {fmt(r.get('rate_c1'))} | {fmt(r.get('rate_c16'))} | "
          f"{fmt(r.get('rate_c64'))} | {lat(16)} | {lat(64)} | {fixed} | "
          f"{fmt(r.get('fixed_1000_late_p99_ms'))} | "
          f"{fmt(r.get('rss_idle_mib'))} / {fmt(r.get('rss_loaded_mib'))} | "
          f"{share(16, 'server_cpu_share')} | {share(16, 'client_cpu_share')} | "
          f"{fmt(r.get('per_cpu_c16'))} / {fmt(r.get('per_cpu_c64'))} | "
          f"{fmt(r.get('others_cpu0_c16'), 2)} / {fmt(r.get('others_cpu0_c64'), 2)} |")
    w("")
    w(f"Review bodies: {res.get('review_bytes')} bytes (compact JSON). The answers each system "
      "gave (checked before the load):\n")
    for s, answers in (res.get("review_answers") or {}).items():
        for a in answers:
            resp = a.get("response", {})
            w(f"- {NAMES.get(s, s)}: uid {resp.get('uid', '')[:8]}..., allowed "
              f"{resp.get('allowed')}, {resp.get('status', {}).get('message') or ''} "
              f"warnings {resp.get('warnings') or []}")
    w("")

    w("## API\n")
    w("Same workload on each API server (see Method). Ratios are the first system's figure "
      "divided by the second's: *SQLite* is csdr-apiserver on SQLite, *etcd* csdr-apiserver on "
      "the etcd kube-apiserver and sample-apiserver use, *kube* kube-apiserver + CRDs, *sample* "
      "sample-apiserver.\n")
    api_rows = [
        ("Durable creates/s, 64 clients (median of 3 runs)", "create_rate", True),
        ("Create p50 ms", "create_p50_ms", False), ("Create p99 ms", "create_p99_ms", False),
        ("Gets/s, 16 connections", "get_rate", True),
        ("Get p50 ms", "get_p50_ms", False), ("Get p99 ms", "get_p99_ms", False),
        ("List 10,000 as JSON, ms (median of 5)", "list_json_ms", False),
        ("List 10,000 as Table, ms (median of 5)", "list_table_ms", False),
        ("List 10,000 as JSON at resourceVersion=0, ms (median of 5)", "list_json_rv0_ms", False),
        ("List 10,000 as Table at resourceVersion=0, ms (median of 5)", "list_table_rv0_ms",
         False),
        ("etcd's bytes to its clients per consistent JSON list, KiB", "list_json_etcd_kib",
         False),
        ("etcd's bytes to its clients per JSON list at resourceVersion=0, KiB",
         "list_json_rv0_etcd_kib", False),
        ("Watch fan-out: a create to 1,000 watchers, last delivery ms (median of 5 writes)",
         "fanout_max_ms", False),
        ("Watch fan-out, median delivery ms (median of 5 writes)", "fanout_p50_ms", False),
        ("Get p99 ms, 8 connections, no watches", "get8_p99_ms", False),
        ("Get p99 ms, 8 connections, 1,000 watches open", "get8_watch_p99_ms", False),
        ("RSS idle, MiB (server process)", "rss_idle_mib", False),
        ("RSS with 10,000 objects, MiB (server process)", "rss_loaded_mib", False),
        ("RSS after the lists, MiB (server process)", "rss_after_lists_mib", False),
        ("RSS with 1,000 watches open (peak), MiB (server process)", "rss_watches_mib", False),
        ("etcd RSS with 10,000 objects, MiB", "etcd_rss_loaded_mib", False),
        ("CPU s per 10,000 creates (server + etcd + webhook)", "cpu_s_per_10k_creates", False),
        ("CPU s per 10,000 creates, the API server process alone", "process_cpu_s_per_10k_creates",
         False),
        ("Creates per SQLite transaction (group commit)", "writes_per_transaction", False),
        ("Others' share of CPU 0 during the creates", "create_others_on_server_cpu", False),
        ("Start to ready, empty, ms (median)", "ready_empty_median_s", False),
        ("Start to ready, 10,000 objects, ms (median)", "ready_loaded_median_s", False),
    ]
    for key, label in (("ready_empty_standalone_s", "empty"),
                       ("ready_loaded_standalone_s", "10,000 objects")):
        if get(res, "csdr", key):
            S["csdr"][key + "_median"] = sorted(S["csdr"][key])[len(S["csdr"][key]) // 2]
            api_rows.append((f"Start to ready without a cluster (no `--kubeconfig`), {label}, ms",
                             key + "_median", False))
    for s in API_SYSTEMS:  # etcd's bytes per list in KiB
        for label in ("json", "table", "json_rv0", "table_rv0"):
            b = get(res, s, f"list_{label}_etcd_bytes")
            if b is not None:
                S[s][f"list_{label}_etcd_kib"] = b / 2**10
    w("| metric | " + " | ".join(API_NAMES[s] for s in API_SYSTEMS) +
      " | SQLite / kube | etcd / kube | etcd / SQLite | SQLite / sample |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, key, _ in api_rows:
        vals = [get(res, s, key) for s in API_SYSTEMS]
        if key.startswith("ready"):
            vals = [None if x is None else x * 1000 for x in vals]
            if "standalone" in key:
                vals[1:] = [None, None, None]
        if key == "writes_per_transaction":
            vals[1:] = [None, None, None]  # SQLite's group commit only
        no_etcd = key.startswith("etcd") or "etcd_kib" in key
        if no_etcd:
            vals[0] = None
        sq, et, ku, sa = vals
        rs = [ratio(sq, ku), ratio(et, ku), ratio(et, sq), ratio(sq, sa)]
        if key.endswith("others_on_server_cpu") or no_etcd:
            rs = [None] * 4  # a condition of the run, or the one etcd they share
        cells = ["n/a (no etcd)" if no_etcd and i == 0 else fmt(x) for i, x in enumerate(vals)]
        w(f"| {label} | {' | '.join(cells)} | " +
          " | ".join(fmt(x, 2) if x else "n/a" for x in rs) + " |")
    w("")
    for s in API_SYSTEMS:
        r = S.get(s, {})
        if not r:
            continue
        wt = r.get("watch", {})
        lj, lt = r.get("list_json", {}), r.get("list_table", {})
        sent = [r.get(f"list_{x}_etcd_kib") for x in ("json", "table", "json_rv0", "table_rv0")]
        etcd_note = (f"; etcd sent its clients {' / '.join(fmt(x) for x in sent)} KiB per list "
                     "(JSON / Table consistent, JSON / Table at resourceVersion=0)"
                     if any(x is not None for x in sent) else "")
        w(f"- {API_NAMES[s]}: object {r.get('object_bytes')} bytes as sent; list JSON "
          f"{fmt((lj.get('bytes') or 0) / 2**20, 1)} MiB ({lj.get('items')} items), Table "
          f"{fmt((lt.get('bytes') or 0) / 2**20, 1)} MiB ({lt.get('items')} rows); watches: "
          f"{wt.get('delivered')}/{wt.get('watchers')} delivered, {wt.get('open_errors')} failed "
          f"to open, opened in {fmt(wt.get('open_seconds'), 1)} s; load client CPU during creates "
          f"{fmt(median_of(r.get('creates'), 'client_cpu_share'), 2)}, during gets "
          f"{fmt(median_of(r.get('gets'), 'client_cpu_share'), 2)} of its core; start to ready "
          f"(ms) empty {[round(x * 1000) for x in r.get('ready_empty_s') or []]}, loaded "
          f"{[round(x * 1000) for x in r.get('ready_loaded_s') or []]}{etcd_note}.")
    warning = S.get("csdr", {}).get("create_warning") or S.get("csdr-etcd", {}).get(
        "create_warning")
    if warning:
        w(f"- Each csdr-apiserver create (on SQLite and on etcd) ran the rules in-process; its "
          f"answer carried `Warning: {warning}`.")
    w("")

    h2 = {x: (get(res, x, "h2") or {}) for x in ("csdr", "sample")}
    if any(h2.values()):
        w("## HTTP/2\n")
        w("`run.py`, part `h2`: csdr-apiserver on SQLite and sample-apiserver on etcd, each "
          "fresh with 100 objects, as kubectl, client-go and kube-aggregator reach them: "
          "HTTP/2 over TLS (ALPN h2). Gets of one object and lists of the 100 from h2load "
          "(Debian's nghttp2-client, one thread on the load CPU, a service account's bearer "
          "token: h2load presents no client certificate, so both servers authenticate by "
          "TokenReview and authorize by SubjectAccessReview, each cached), the median of 3 "
          "runs; percentiles from h2load's per-request log. Gets over 16 connections carry 20 "
          "streams each: 320 in flight, under sample-apiserver's --max-requests-inflight (400), "
          "past which it answers 429 (with 100 each it refused 86% of them). Then watches as "
          "streams: Go's "
          "transport (`load watch -h2`) opens them, 1,000 streams a connection (both servers "
          "advertise SETTINGS_MAX_CONCURRENT_STREAMS 1000), gets on 8 more streams meanwhile, "
          "then 5 creates one after another (each once every stream had the one before), "
          "each timed to its last delivery: the figures are the medians of the 5, as in the "
          "HTTP/1.1 watch steps.\n")
        run = res.get("h2_run")
        if run:
            w(f"These figures come from a run of this part alone ({run['started']} to "
              f"{run['finished']}, the same machine and binary), right after the full run, "
              "whose HTTP/2 part carried 100 streams on each of the 16 connections and saw "
              "sample-apiserver refuse most of them with 429.\n")
        w("| | csdr-apiserver | sample-apiserver |")
        w("| --- | --- | --- |")
        def cell(x, key, field, digits=None):
            return fmt((h2[x].get(key) or {}).get(field), digits)
        for key, label in (("get_c1", "gets, 1 connection x 100 streams"),
                           ("get_c16", "gets, 16 connections x 20 streams"),
                           ("list_c16", "lists of 100, 16 connections x 10 streams")):
            w(f"| {label}: per second | {cell('csdr', key, 'rate')} | "
              f"{cell('sample', key, 'rate')} |")
            w(f"| {label}: p50 / p99 ms | {cell('csdr', key, 'p50_ms', 2)} / "
              f"{cell('csdr', key, 'p99_ms', 2)} | {cell('sample', key, 'p50_ms', 2)} / "
              f"{cell('sample', key, 'p99_ms', 2)} |")
            w(f"| {label}: load client CPU share | {cell('csdr', key, 'client_cpu_share', 2)} | "
              f"{cell('sample', key, 'client_cpu_share', 2)} |")
        for field, label in (("max_ms", "1,000 streams on one connection: a write's last "
                                        "delivery ms (median of 5)"),):
            w(f"| {label} | {cell('csdr', 'watch_1000', field)} | "
              f"{cell('sample', 'watch_1000', field)} |")
        for field, label in (("watchers", "watch streams opened"),
                             ("open_errors", "refused at open"),
                             ("connections", "over connections"),
                             ("open_seconds", "seconds to open them"),
                             ("delivered", "got the write"),
                             ("p50_ms", "a write: p50 delivery ms (median of 5)"),
                             ("max_ms", "a write: last delivery ms (median of 5)"),
                             ("rss_peak_mib", "RSS with them open (MiB)")):
            w(f"| {label} | {cell('csdr', 'watch', field)} | {cell('sample', 'watch', field)} |")
        gets = {x: (h2[x].get("watch") or {}).get("gets") or {} for x in ("csdr", "sample")}
        w(f"| gets meanwhile: p99 ms | {fmt(gets['csdr'].get('p99_ms'))} | "
          f"{fmt(gets['sample'].get('p99_ms'))} |")
        w("")

    allocs = res.get("allocators") or []
    if allocs:
        w("## Allocators\n")
        w("csdr-apiserver on SQLite, a fresh server per option (`run.py`, part `allocators`): "
          "10,000 creates by 64 clients, 20 lists of 10,000 as JSON and 20 as Table, 1,000 "
          "watches and one write fanned out to them; RSS (MiB) 2 s after each step (with the "
          "watches: the peak while they are open). The first row is the binary as built "
          "(`common/allocator.h`); the others set glibc's tunables or preload Debian's "
          "jemalloc or mimalloc. One run each: create rates and list times move by 20-40% "
          "between runs on this machine, the RSS figures by a few MiB.\n")
        w("| allocator | idle | after creates | after lists | with 1,000 watches | after | "
          "creates/s | list JSON / Table ms | fan-out ms |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for a in allocs:
            w(f"| {a['name']} | {fmt(a.get('rss_idle_mib'))} | {fmt(a.get('rss_creates_mib'))} | "
              f"{fmt(a.get('rss_lists_mib'))} | {fmt(a.get('rss_watches_mib'))} | "
              f"{fmt(a.get('rss_end_mib'))} | {fmt(a.get('create_rate'))} | "
              f"{fmt(a.get('list_json_ms'))} / {fmt(a.get('list_table_ms'))} | "
              f"{fmt(a.get('fanout_max_ms'))} |")
        w("")

    w("## SQLite's group-commit ceiling\n")
    w("`test/bench/sqlite_ceiling.c`: one writer, csdr-apiserver's schema, statements and "
      "pragmas (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`; per create a key read, a `kv` insert "
      "and a `log` append; per transaction the revision and COMMIT), no HTTP, JSON or threads.\n")
    w("| creates per transaction | creates/s | commits (fsyncs)/s |")
    w("| --- | --- | --- |")
    for r in res.get("sqlite_ceiling", []):
        w(f"| {r['batch']} | {fmt(r['writes_per_s'])} | {fmt(r['commits_per_s'])} |")
    w("")

    if images:
        w("## Plots\n")
        for i in images:
            w(f"![{Path(i).stem}]({i})\n")

    prof = res.get("profiles")
    if prof:
        w("## Profiles (perf, csdr-apiserver)\n")
        w(prof.get("method", "") + "\n")
        for name, p in prof.get("runs", {}).items():
            n = p.get("samples")
            w(f"### {name}: {p.get('what')}" + (f"; {n} samples" if n and n != "?" else "") + "\n")
            if p.get("focus"):
                w("The functions this profile is read for (share of samples with the function "
                  "on the stack):\n")
                w("| function | % of samples |")
                w("| --- | --- |")
                for f in p["focus"]:
                    w(f"| `{f['fn']}` | {f['pct']:.1f} |")
                w("")
            w("Most samples in the function itself (self), with its inclusive share:\n")
            w("| self % | inclusive % | where | function |")
            w("| --- | --- | --- | --- |")
            for f in p.get("by_self", []):
                w(f"| {f['self']:.1f} | {f['incl']:.1f} | {f['dso']} | `{f['fn'][:100]}` |")
            w("\nMost samples below the function (inclusive):\n")
            w("| inclusive % | self % | where | function |")
            w("| --- | --- | --- | --- |")
            for f in p.get("by_incl", []):
                w(f"| {f['incl']:.1f} | {f['self']:.1f} | {f['dso']} | `{f['fn'][:100]}` |")
            w("")

    findings = HERE / "findings.md"
    if findings.exists():
        w(findings.read_text())
    if res.get("errors"):
        w("## What failed in this run\n")
        for e in res["errors"]:
            w(f"- {e}")
        w("")
    doc_path.write_text("\n".join(out) + "\n")


def median_of(runs, key):
    xs = sorted(r[key] for r in runs or [] if r.get(key) is not None)
    return xs[len(xs) // 2] if xs else None


def textwrap_method(res):
    n = res.get("objects", 10000)
    return f"""\
- **Pinning.** Every server under test (and its etcd, and the webhook kube-apiserver calls) runs on
  CPU 0 (`taskset -c 0`); every load generator on CPU 1. Go programs see one CPU (GOMAXPROCS=1
  follows the affinity mask); csdr-apiserver's threads share the one core.
- **Systems.** *csdr-apiserver*: `build/csdr-apiserver`, SQLite (`sqlite://`, WAL,
  `synchronous=FULL`), the backup center's rules in-process, `--kubeconfig` to the bench cluster
  (its Secrets/PVCs cache, as deployed), its built-in controllers on (docs/controllers.md: an
  informer on Backups, so each create also wakes the expiry controller). *kube-apiserver + CRDs*: kube-apiserver v1.36.3 with the
  five kinds as CRDs (`test/bench/crds.yaml`, same printer columns) and the controller-runtime
  webhook registered for `csdr.io` creates: the backup center as it runs today. *sample-apiserver*:
  `k8s.io/sample-apiserver` (Flunders) on the same etcd, delegating authn/authz to kube-apiserver.
  *csdr-apiserver on etcd*: the same binary and flags as the SQLite one but
  `--etcd-servers` to the control plane's etcd, the one kube-apiserver + CRDs use
  (`--etcd-prefix /csdr-bench`): one gRPC connection, a watch cache in the process; lists at
  resourceVersion=0 come from that cache, and consistent lists too once etcd's progress
  notification shows it current (etcd 3.6). It runs after kube-apiserver's part, so its etcd
  also holds those 10,000 CRs (as sample-apiserver's holds both); its CPU includes etcd's.
  etcd 3.6.16 runs with fsync (no `--unsafe-no-fsync`): every create on every system is
  acknowledged only after an fsync. *controller-runtime webhook*: `test/bench/peers/webhook`,
  controller-runtime's `webhook.Server` + `admission.Webhook` with the four product-card rules.
  *nginx*: Debian's nginx, one worker, TLS 1.3, answering every POST with csdr-apiserver's own
  response to the Backup review (the ceiling of any HTTP server on this core).
- **Rules evaluated.** ClusterProfile `cluster` is ACKManaged in `cn-heyuan` with
  componentVersion v1.8.4 (the webhook peer gets the same facts by flags). The webhook workload
  alternates a Backup CREATE (AppAndPvBackup, method CloudBackup: CSDR-DEP-002, BK-004, BK-005
  evaluated, BK-006 warns) and a Restore CREATE with `restoreVolumes: true` (DEP-002, RS-005
  evaluated). csdr-apiserver also runs every other rule of those kinds (vault lookup, PVC
  volume modes, the restore's backup), so it does more work per review than the peer; its
  Restore answer is a denial (CSDR-RS-001, no such backup). API creates are the same Backup, so
  each create on csdr-apiserver and on kube-apiserver + CRDs is judged by the same rules.
- **Load.** wrk 4 (one thread, Lua) for webhook throughput; `test/bench/rate.c` (C, a thread and
  TLS connection each of 16, open loop) for the webhook at a fixed 1,000 reviews/s;
  `test/bench/peers/load` (Go, HTTP/1.1 keep-alive over TLS, admin client certificate) for
  everything else. Creates: {n:,} objects in 3
  runs of 64 concurrent clients, each waiting for its 201. Gets: 16 connections for 4 s, 3 runs.
  Lists: the whole collection ({n:,}), 15 times each as JSON and as Table
  (`Accept: {'application/json;as=Table;v=v1;g=meta.k8s.io'}`), no gzip, first consistent
  (resourceVersion unset), then at resourceVersion=0; on etcd the bytes etcd sent to all its
  clients meanwhile (its `etcd_network_client_grpc_sent_bytes_total`) show whether a list came
  from the server's cache (tens of bytes: a count-only Range or a progress
  notification) or from etcd (the whole collection). Watches: 1,000 HTTP/1.1
  watch connections from the list's resourceVersion; then 4 s of gets on 8 connections (the p99
  with watches open, against the same without); then five creates one after another (each
  once every watcher had the one before), each timed until the last watcher has its ADDED
  event: the fan-out figures are the medians of the five (the first is the slowest). On
  csdr-apiserver (SQLite) and sample-apiserver the same again with 10,000 watches. The load client's own CPU share is recorded so that a saturated client
  shows (a share near 1.0 means the client, not the server, may be the limit).
- **Resources.** RSS: `VmRSS` of the server process (etcd's separately; kube-apiserver,
  csdr-apiserver on etcd and sample-apiserver share one etcd, run in that order, so its RSS in
  the later columns also holds the earlier systems' objects), idle, with the objects after the
  gets, after the lists, and with the watches open (the peak of samples every 50 ms while the
  watch client runs). CPU: utime+stime from
  `/proc` over the {n:,} creates, scaled to 10,000, including etcd and (kube) the webhook.
  Start to ready: from exec until `/readyz` answers 200 (polled every 2 ms), empty and after the
  objects were written (for kube-apiserver: a restart against the running etcd; "empty" means CRDs
  but no objects).
"""


if __name__ == "__main__":
    results = json.loads(Path(sys.argv[1]).read_text())
    write(results, Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[1] / "docs" /
          "benchmarks.md")
