"""Profiles of csdr-apiserver's hot paths for docs/benchmarks.md, taken by run.py after the
measurements: `perf record` (cpu-clock sampling with DWARF call graphs; hardware counters are not
available on this virtual machine) attached to the server while the load runs on the other CPU.

    webhook     wrk -c16 POSTing the review mix to /validate
    creates     the Go load client creating Backups from 64 clients (durable, rules on)
    list-table  lists of the 4,000 Backups just created, as Table; list-json the same as JSON
    fanout      1,000 HTTP/1.1 watches, creates 20 ms apart fanned out to them

Each profile gives the functions with the most samples (self) and the most samples below them
(inclusive), kernel included, so that time in TLS, syscalls and fsync shows next to our own code.
"""

import os
import re
import shutil
import subprocess
import time

import cluster

import run as bench_run


def perf_available():
    if not shutil.which("perf"):
        return False
    p = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                       capture_output=True, text=True)
    return p.returncode == 0


def record(pid, seconds, out, delay=0):
    """Records `seconds` of the server, starting `delay` seconds from now."""
    return subprocess.Popen(["taskset", "-c", bench_run.LOAD_CPU, "perf", "record", "-e",
                             "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384", "-p",
                             str(pid), "-o", str(out), "-D", str(int(delay * 1000)), "--",
                             "sleep", str(delay + seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


LINE = re.compile(r"^\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$")


def top(data, n=18):
    """[(fn, dso, inclusive %, self %)] by inclusive and by self share of the samples."""
    p = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children", "--sort",
                        "dso,sym", "-g", "none", "--percent-limit", "0.5"],
                       capture_output=True, text=True, timeout=600)
    rows = []
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            rows.append({"incl": float(m.group(1)), "self": float(m.group(2)),
                         "dso": m.group(3), "fn": m.group(4)})
    by_self = sorted(rows, key=lambda r: -r["self"])[:n]
    by_incl = sorted(rows, key=lambda r: -r["incl"])[:n]
    samples = re.search(r"# Samples: (\S+) of event", p.stdout)
    return by_self, by_incl, samples.group(1) if samples else "?"


# The functions each profile is read for (docs/benchmarks.md, Findings): the share of the
# server's samples with the function anywhere on the stack (a prefix of the symbol).
FOCUS = {
    "webhook": ["csdr::apiserver::serving::Loop::Read", "csdr::apiserver::http::RequestParser::",
                "csdr::webhook::ServeValidate", "csdr::webhook::DecodeReview", "csdr::json::Parse",
                "csdr::webhook::Evaluate", "csdr::webhook::StoreFacts::Get",
                "csdr::webhook::EncodeReviewResponse", "csdr::apiserver::serving::Loop::Flush",
                "SSL_write", "SSL_read", "finish_task_switch"],
    "creates": ["csdr::apiserver::VerifyClientCertificate", "X509_verify_cert",
                "csdr::apiserver::Registry::Create", "csdr::webhook::Evaluate",
                "csdr::storage::SqliteStore::", "csdr::json::Parse", "SSL_write", "SSL_read",
                "finish_task_switch"],
    "list-table": ["csdr::apiserver::TableList", "csdr::json::Parse", "csdr::json::Value::Destroy",
                   "csdr::json::SerializeTo", "csdr::storage::SqliteStore::List", "malloc",
                   "free", "SSL_write"],
    "list-json": ["csdr::apiserver::(anonymous namespace)::RespondList", "csdr::json::Parse",
                  "csdr::json::SerializeTo", "csdr::storage::SqliteStore::List", "malloc",
                  "free", "SSL_write"],
    "fanout": ["csdr::apiserver::Registry::Create", "csdr::storage::SqliteStore::",
               "csdr::apiserver::serving::Loop::PumpStream", "csdr::apiserver::serving::Loop::Flush",
               "SSL_write", "tcp_sendmsg", "tcp_v4_rcv", "try_to_wake_up", "epoll_wait",
               "malloc", "free"],
}
ALIASES = {"malloc": ("malloc", "__GI___libc_malloc", "_int_malloc"),
           "free": ("free", "cfree", "__GI___libc_free", "_int_free")}
FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)(\+0x[0-9a-f]+)?$")


def focus(data, names):
    """{name: % of samples with a frame starting with name} from `perf script`."""
    p = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True,
                       text=True, timeout=600)
    samples = [s for s in p.stdout.split("\n\n") if s.strip()]
    counts = dict.fromkeys(names, 0)
    for s in samples:
        frames = set()
        for line in s.splitlines():
            m = FRAME.match(line)
            if m:
                frames.add(m.group(1))
        for n in names:
            if any(f.startswith(a) for a in ALIASES.get(n, (n,)) for f in frames):
                counts[n] += 1
    total = max(len(samples), 1)
    return [{"fn": n, "pct": 100 * c / total} for n, c in counts.items()]


def run(bench):
    if not perf_available():
        return {"method": "perf is not available on this machine; no profile taken.", "runs": {}}
    out = {"method": "`perf record -e cpu-clock -F 499 --call-graph dwarf` attached to "
                     "csdr-apiserver (CPU 0) for the seconds given, load on CPU 1. Percentages "
                     "are shares of the server's samples; inclusive counts a function's callees.",
           "runs": {}}
    d = bench.workdir / "perf"
    d.mkdir(exist_ok=True)
    srv = bench_run.Csdr(bench, bench.workdir / "profile-data")
    srv.start()
    try:
        bench.csdr_setup(srv)
        files = sorted(bench.workdir.glob("review-*.json"))
        lua = bench.workdir / "review.lua"
        if files and lua.exists():
            env = dict(os.environ, BENCH_BODIES=",".join(map(str, files)))
            rec = record(srv.pid, 5, d / "webhook.data")
            time.sleep(0.3)
            w = subprocess.run(["taskset", "-c", bench_run.LOAD_CPU, bench.tools.wrk, "-t1",
                                "-c16", "-d5s", "-s", lua, srv.url], capture_output=True,
                               text=True, env=env)
            rec.wait(timeout=120)
            by_self, by_incl, samples = top(d / "webhook.data")
            out["runs"]["webhook"] = {"focus": focus(d / "webhook.data", FOCUS["webhook"]),
                "what": "POST /validate, wrk -t1 -c16 for 5 s ("
                        + (bench_run.parse_wrk(w.stdout)["rate"].__format__(".0f")
                           if "Requests/sec" in w.stdout else "?") + " reviews/s during the "
                        "recording)", "samples": samples, "by_self": by_self, "by_incl": by_incl}
        tmpl = bench.workdir / "profile-template.json"
        tmpl.write_text(bench_run.json.dumps(bench_run.backup_object(), separators=(",", ":")))
        rec = record(srv.pid, 6, d / "creates.data")
        time.sleep(0.3)
        r = bench.load("create", "-url", srv.url, "-path",
                       f"{bench_run.API}/namespaces/{bench_run.NS}/backups", "-template", tmpl,
                       "-n", 4000, "-c", 64, "-prefix", "prof-")
        rec.wait(timeout=120)
        by_self, by_incl, samples = top(d / "creates.data")
        out["runs"]["creates"] = {"focus": focus(d / "creates.data", FOCUS["creates"]),
            "what": f"durable creates of Backups from 64 clients ({r['rate']:.0f}/s during the "
                    "recording)", "samples": samples, "by_self": by_self, "by_incl": by_incl}
        coll = f"{bench_run.API}/namespaces/{bench_run.NS}/backups"
        for label, accept in (("list-table", bench_run.TABLE), ("list-json", "application/json")):
            rec = record(srv.pid, 4, d / f"{label}.data")
            time.sleep(0.3)
            r = bench.load("list", "-url", srv.url, "-path", coll, "-accept", accept, "-n", 8)
            rec.wait(timeout=120)
            by_self, by_incl, samples = top(d / f"{label}.data")
            out["runs"][label] = {"focus": focus(d / f"{label}.data", FOCUS[label]),
                "what": f"lists of {r['items']} Backups as {label[5:]} (median "
                        f"{sorted(r['ms'])[len(r['ms']) // 2]:.0f} ms each during the recording)",
                "samples": samples, "by_self": by_self, "by_incl": by_incl}
        # The watch fan-out over HTTP/1.1: 1,000 watch connections open, then creates 20 ms
        # apart, each delivered to all of them; 4 s recorded once they are flowing.
        rec = record(srv.pid, 4, d / "fanout.data", delay=6)
        w = bench.load("watch", "-url", srv.url, "-path", coll, "-watchers", 1000, "-template",
                       tmpl, "-writes", 5, "-extra-writes", 600, timeout=300)
        rec.wait(timeout=120)
        by_self, by_incl, samples = top(d / "fanout.data")
        out["runs"]["fanout"] = {"focus": focus(d / "fanout.data", FOCUS["fanout"]),
            "what": f"1,000 HTTP/1.1 watches, creates 20 ms apart, each delivered to all of them "
                    f"(the 5 timed before the recording: last delivery p50 {w['max_ms']} ms; "
                    f"opened in {w['open_seconds']:.1f} s)",
            "samples": samples, "by_self": by_self, "by_incl": by_incl}
    finally:
        srv.stop()
    cluster.log("profiles taken")
    return out
