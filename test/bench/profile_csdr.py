"""Profiles of csdr-apiserver's hot paths for docs/benchmarks.md, taken by run.py after the
measurements: `perf record` (cpu-clock sampling with DWARF call graphs; hardware counters are not
available on this virtual machine) attached to the server while the load runs on the other CPU.

    webhook   wrk -c16 POSTing the review mix to /validate
    creates   the Go load client creating Backups from 64 clients (durable, rules on)

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


def record(pid, seconds, out):
    return subprocess.Popen(["taskset", "-c", bench_run.LOAD_CPU, "perf", "record", "-e",
                             "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384", "-p",
                             str(pid), "-o", str(out), "--", "sleep", str(seconds)],
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
            out["runs"]["webhook"] = {
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
        out["runs"]["creates"] = {
            "what": f"durable creates of Backups from 64 clients ({r['rate']:.0f}/s during the "
                    "recording)", "samples": samples, "by_self": by_self, "by_incl": by_incl}
    finally:
        srv.stop()
    cluster.log("profiles taken")
    return out
