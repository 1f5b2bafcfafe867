#!/usr/bin/env python3
"""The benchmark suite: csdr-apiserver and the systems people would otherwise pick, side by side
in one run on this machine, with the same workload; writes docs/benchmarks.md (report.py).

    test/bench/run.py [--smoke] [--results FILE] [--doc docs/benchmarks.md]

Systems (built by build-peers.sh, cached outside the checkout):
  csdr        build/csdr-apiserver, SQLite (WAL, synchronous=FULL), rules on
  csdr-etcd   build/csdr-apiserver on the control plane's etcd 3.6 (fsync on; --etcd-servers,
              --etcd-prefix /csdr-bench), its watch cache serving lists, rules on
  kube-crd    kube-apiserver v1.36 + etcd 3.6 (fsync on) serving the five kinds as CRDs
              (test/bench/crds.yaml), the controller-runtime webhook registered for their creates
  sample      k8s.io/sample-apiserver on the same etcd (Flunders), delegating to kube-apiserver
  cr-webhook  the controller-runtime webhook with the four product-card rules (peers/webhook)
  nginx       Debian's nginx returning csdr-apiserver's AdmissionReview response (the ceiling)
  sqlite      sqlite_ceiling.c: one writer, B creates per transaction (the store's ceiling)

Servers run on CPU 0 (taskset), load generators on CPU 1. --smoke starts every system and
sends each one request (make test), asserting no timing.
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "test" / "e2e"))
import cluster  # noqa: E402  (the e2e harness: certificates, processes, kube-apiserver)

SERVER_CPU = "0"
LOAD_CPU = "1"
NS = "csdr"
API = "/apis/csdr.io/v1alpha1"
WARDLE = "/apis/wardle.example.com/v1alpha1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
LATE_SEND_MS = 0.1  # a fixed-rate run whose client sent later than this (p99) is repeated
OBJECTS = int(os.environ.get("CSDR_BENCH_OBJECTS", "10000"))  # dev runs may use fewer
WATCHES_MANY = int(os.environ.get("CSDR_BENCH_WATCHES_MANY", "10000"))  # the 10,000-watch step

# How csdr-apiserver could allocate: the first is the binary as built (glibc tuned by
# common/allocator.h: 2 arenas, mmap and trim thresholds 128 KiB); the others change it from
# outside, through glibc's tunables (which the binary then leaves alone) or by preloading
# Debian's jemalloc or mimalloc.
_LIB = "/usr/lib/x86_64-linux-gnu"
ALLOCATOR_VARIANTS = [
    ("as built", {}),
    ("glibc, default tunables", {"CSDR_MALLOC": "default"}),
    ("glibc, MALLOC_ARENA_MAX=2", {"CSDR_MALLOC": "default", "MALLOC_ARENA_MAX": "2"}),
    ("glibc, 1 arena, mmap and trim at 128 KiB",
     {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "131072",
      "MALLOC_TRIM_THRESHOLD_": "131072"}),
    ("jemalloc 5.3 (LD_PRELOAD)", {"LD_PRELOAD": f"{_LIB}/libjemalloc.so.2"}),
    ("jemalloc 5.3, background thread, 1 s decay (LD_PRELOAD)",
     {"LD_PRELOAD": f"{_LIB}/libjemalloc.so.2",
      "MALLOC_CONF": "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"}),
    ("mimalloc 2.0 (LD_PRELOAD)", {"LD_PRELOAD": f"{_LIB}/libmimalloc.so.2"}),
]
ETCD_PREFIX = "/csdr-bench"  # csdr-etcd's keys in the control plane's etcd


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- measurements on processes ---------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_s(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def etcd_sent_bytes(port):
    """Bytes etcd has sent to its gRPC clients so far (all of them), from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(
        r"^etcd_network_client_grpc_sent_bytes_total(?:{[^}]*})? ([\d.e+]+)$", text, re.M))


def cpu_busy():
    """Busy seconds so far of CPU 0 and CPU 1, all processes (from /proc/stat)."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(("cpu0 ", "cpu1 ")):
            v = [int(x) for x in line.split()[1:]]
            out.append((sum(v) - v[3] - v[4]) / CLK_TCK)  # all but idle and iowait
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_load(args, timeout=300, during=None):
    """Runs a load generator on the load CPU; returns (stdout, its CPU seconds, wall seconds).
    during: a function called every 50 ms while it runs (e.g. to sample the server's RSS)."""
    c0, t0 = children_cpu(), time.monotonic()
    cmd = ["taskset", "-c", LOAD_CPU, *map(str, args)]
    if during is None:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    else:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as proc:
            while True:
                try:
                    out, err = proc.communicate(timeout=0.05)  # retrying loses no output
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - t0 > timeout:
                        proc.kill()
                        raise
                    during()
        p = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{Path(str(args[0])).name} {args[1]} failed ({p.returncode}): "
                           f"{p.stderr[-800:]}")
    return p.stdout, children_cpu() - c0, wall


class Tools:
    def __init__(self):
        out = subprocess.run([str(HERE / "build-peers.sh")], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"build-peers.sh failed:\n{out.stderr}")
        paths = dict(l.split("=", 1) for l in out.stdout.splitlines() if "=" in l)
        self.load = paths["BENCH_LOAD"]
        self.webhook = paths["BENCH_WEBHOOK"]
        self.sample = paths["BENCH_SAMPLE_APISERVER"]
        self.ceiling = paths["BENCH_CEILING"]
        self.rate = paths["BENCH_RATE"]
        self.versions = Path(paths["BENCH_VERSIONS"]).read_text().strip().splitlines()
        os.environ["CSDR_KUBE_APISERVER"] = paths["CSDR_KUBE_APISERVER"]
        os.environ["CSDR_E2E_KUBECTL"] = paths["CSDR_E2E_KUBECTL"]
        os.environ["CSDR_ETCD"] = paths["CSDR_ETCD"]
        self.csdr = str(cluster.csdr_apiserver_binary())
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.wrk = shutil.which("wrk")


# --- the control plane: etcd with fsync, everything on the server CPU ---------------------------

class BenchControlPlane(cluster.ControlPlane):
    """cluster.ControlPlane with durable etcd (no --unsafe-no-fsync: a create is acknowledged
    after etcd's fsync, as csdr-apiserver's after SQLite's) and both processes on the server CPU."""

    def _start_etcd(self):
        etcd = self.tools["etcd"]
        self.etcd_port, peer = cluster.free_port(), cluster.free_port()
        client_url, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer}"
        data = self.workdir / "etcd-data"
        args = ["taskset", "-c", SERVER_CPU, etcd, "--name", "bench", "--data-dir", data,
                "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", f"bench={peer_url}", "--log-level", "warn",
                "--quota-backend-bytes", str(8 << 30)]
        self.etcd = cluster.Process("etcd", args, self.workdir / "etcd.log", cwd=self.workdir)
        cluster.wait_for(self._etcd_healthy, timeout=60, what="etcd /health")

    def _apiserver_args(self):
        return ["taskset", "-c", SERVER_CPU] + super()._apiserver_args()


# --- systems -------------------------------------------------------------------------------------

class Server:
    """A server under test: started on the server CPU, ready when GET ready_path answers 200."""

    name = "?"
    ready_path = "/readyz"
    on_etcd = False  # keeps its objects in the control plane's etcd (extra_pids[0] is etcd)

    def __init__(self, bench):
        self.b = bench
        self.port = cluster.free_port()
        self.proc = None
        self.extra_pids = []  # processes whose CPU counts with this system's (etcd)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def args(self):
        raise NotImplementedError

    env = None  # extra environment of the process (the allocator variants)

    def start(self):
        """Starts the process and returns seconds from exec to the first 200 of ready_path."""
        log_path = self.b.workdir / f"{self.name}.log"
        t0 = time.time()
        env = {**os.environ, **self.env} if self.env else None
        self.proc = cluster.Process(self.name, ["taskset", "-c", SERVER_CPU, *self.args()],
                                    log_path, cwd=self.b.workdir, env=env)
        try:
            out, _, _ = run_load([self.b.tools.load, "waitready", "-url", self.url, "-path",
                                  self.ready_path, *self.b.client_flags(), "-timeout", "120"])
        except Exception:
            log(f"{self.name} did not become ready:\n{self.proc.log_tail()}")
            raise
        return json.loads(out)["ready_unix"] - t0

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    @property
    def pid(self):
        # The server itself, not taskset (taskset execs it, so the pid is the server's).
        return self.proc.pid

    def cpu(self):
        return cpu_s(self.pid) + sum(cpu_s(p) for p in self.extra_pids)


class Csdr(Server):
    name = "csdr-apiserver"

    def __init__(self, bench, data_dir, cluster_facts=True):
        super().__init__(bench)
        self.cluster_facts = cluster_facts  # --kubeconfig to the bench cluster
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def args(self):
        c = self.b.certs
        return [self.b.tools.csdr, "--bind-address", "127.0.0.1", "--secure-port", self.port,
                "--tls-cert-file", c.csdr_crt, "--tls-private-key-file", c.csdr_key,
                "--client-ca-file", c.ca, "--storage", f"sqlite://{self.data_dir / 'csdr.db'}",
                "--v", "0"] + (["--kubeconfig", self.b.cp.kubeconfig]
                               if self.b.cp and self.cluster_facts else [])


class CsdrEtcd(Csdr):
    """csdr-apiserver on the control plane's etcd (durable, fsync on), under `prefix`; the same
    flags as Csdr otherwise (--kubeconfig to the bench cluster)."""

    name = "csdr-apiserver-etcd"
    on_etcd = True

    def __init__(self, bench, data_dir, prefix=ETCD_PREFIX):
        super().__init__(bench, data_dir)
        self.prefix = prefix
        self.extra_pids = [bench.cp.etcd.pid]

    def args(self):
        a = super().args()
        i = a.index("--storage")
        del a[i:i + 2]
        return a + ["--etcd-servers", f"http://127.0.0.1:{self.b.cp.etcd_port}",
                    "--etcd-prefix", self.prefix]


class CsdrTokens(Csdr):
    """csdr-apiserver on SQLite that also takes the cluster's bearer tokens (TokenReview and
    SubjectAccessReview through the bench cluster, cached, as sample-apiserver's delegated
    authentication): h2load presents no client certificate."""

    name = "csdr-apiserver-h2"

    def args(self):
        kc = self.b.cp.kubeconfig
        return super().args() + ["--authentication-kubeconfig", kc,
                                 "--authorization-kubeconfig", kc]


class CrWebhook(Server):
    name = "controller-runtime-webhook"

    def args(self):
        c = self.b.certs
        return [self.b.tools.webhook, "--host", "127.0.0.1", "--port", self.port,
                "--cert-dir", c.dir, "--cert-name", c.csdr_crt.name, "--key-name", c.csdr_key.name,
                "--cluster-type", "ACKManaged", "--region", "cn-heyuan",
                "--component-version", "v1.8.4"]


class Nginx(Server):
    name = "nginx"
    ready_path = "/readyz"

    def __init__(self, bench, response_body):
        super().__init__(bench)
        self.response_body = response_body

    def args(self):
        d = self.b.workdir / "nginx"
        d.mkdir(exist_ok=True)
        c = self.b.certs
        body = self.response_body.replace("\\", "\\\\").replace("'", "\\'")
        conf = d / "nginx.conf"
        conf.write_text(textwrap.dedent(f"""\
            daemon off;
            master_process off;
            worker_processes 1;
            user root;
            pid {d}/nginx.pid;
            error_log {d}/error.log warn;
            events {{ worker_connections 4096; }}
            http {{
              access_log off;
              client_body_temp_path {d}/body;
              keepalive_requests 100000000;
              keepalive_timeout 300s;
              server {{
                listen 127.0.0.1:{self.port} ssl;
                ssl_protocols TLSv1.3;
                ssl_certificate {c.csdr_crt};
                ssl_certificate_key {c.csdr_key};
                location = /readyz {{ return 200 'ok'; }}
                location / {{
                  default_type application/json;
                  return 200 '{body}';
                }}
              }}
            }}
            """))
        return [self.b.tools.nginx, "-c", conf, "-p", d, "-e", d / "error.log"]


class Sample(Server):
    name = "sample-apiserver"
    on_etcd = True

    def args(self):
        c, cp = self.b.certs, self.b.cp
        return [self.b.tools.sample, "--etcd-servers", f"http://127.0.0.1:{cp.etcd_port}",
                "--etcd-prefix", "/registry/wardle-bench",
                "--bind-address", "127.0.0.1", "--secure-port", self.port,
                "--tls-cert-file", c.csdr_crt, "--tls-private-key-file", c.csdr_key,
                "--authentication-kubeconfig", cp.kubeconfig,
                "--authorization-kubeconfig", cp.kubeconfig, "--kubeconfig", cp.kubeconfig]


class KubeCrd(Server):
    """kube-apiserver of the control plane; start() restarts it (etcd keeps running)."""

    name = "kube-apiserver"
    on_etcd = True

    def __init__(self, bench):
        super().__init__(bench)
        self.port = bench.cp.port
        self.extra_pids = [bench.cp.etcd.pid]

    @property
    def pid(self):
        return self.b.cp.apiserver.pid

    def args(self):
        return self.b.cp._apiserver_args()[3:]  # without the taskset prefix

    def start(self):
        cp = self.b.cp
        if cp.apiserver is not None and cp.apiserver.alive():
            cp.apiserver.stop()
        t0 = time.time()
        cp.apiserver = cluster.Process("kube-apiserver", cp._apiserver_args(),
                                       cp.workdir / "kube-apiserver.log", cwd=cp.workdir)
        out, _, _ = run_load([self.b.tools.load, "waitready", "-url", self.url,
                              *self.b.client_flags(), "-timeout", "180"])
        return json.loads(out)["ready_unix"] - t0

    def stop(self):
        pass  # stopped with the control plane


# --- the workload --------------------------------------------------------------------------------

def backup_object(name="__NAME__"):
    """A Backup that the four product-card rules all judge: a volume backup (BK-004) with Cloud
    Backup (BK-005, BK-006) in cn-heyuan, created (DEP-002) on an ACKManaged cluster."""
    return {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "shop"}},
            "spec": {"vaultName": "v1", "backupType": "AppAndPvBackup",
                     "includedNamespaces": ["shop"], "ttl": "720h",
                     "volumeBackup": {"method": "CloudBackup"}}}


def flunder_object(name="__NAME__"):
    return {"apiVersion": "wardle.example.com/v1alpha1", "kind": "Flunder",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "shop"}},
            "spec": {"reference": "shop-backup", "referenceType": "Flunder"}}


CLUSTER_PROFILE = {"apiVersion": "csdr.io/v1alpha1", "kind": "ClusterProfile",
                   "metadata": {"name": "cluster"},
                   "spec": {"clusterType": "ACKManaged", "regionID": "cn-heyuan",
                            "componentVersion": "v1.8.4"}}
VAULT = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
         "metadata": {"name": "v1", "namespace": NS},
         "spec": {"bucket": "cnfs-oss-bench", "region": "cn-heyuan", "network": "internal"}}


def admission_review(uid, kind, resource, name, obj):
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
            "request": {"uid": uid,
                        "kind": {"group": "csdr.io", "version": "v1alpha1", "kind": kind},
                        "resource": {"group": "csdr.io", "version": "v1alpha1",
                                     "resource": resource},
                        "requestKind": {"group": "csdr.io", "version": "v1alpha1", "kind": kind},
                        "requestResource": {"group": "csdr.io", "version": "v1alpha1",
                                            "resource": resource},
                        "name": name, "namespace": NS, "operation": "CREATE",
                        "userInfo": {"username": "admin",
                                     "groups": ["system:masters", "system:authenticated"]},
                        "object": obj, "oldObject": None, "dryRun": False,
                        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                                    "fieldManager": "kubectl-create"}}}


def reviews():
    """The webhook workload: a Backup CREATE (DEP-002, BK-004, BK-005, BK-006) and a Restore
    CREATE with restoreVolumes (DEP-002, RS-005), sent in turn."""
    b = backup_object("b1")
    b["metadata"].update({"uid": "8e59dd9a-0b59-4b1a-b81e-2e5047ce8751", "generation": 1,
                          "creationTimestamp": "2026-11-24T08:46:41Z"})
    r = {"apiVersion": "csdr.io/v1alpha1", "kind": "Restore",
         "metadata": {"name": "r1", "namespace": NS, "uid": "0b0e39a4-7f7c-4a55-9d52-2f4a1c8f0d11",
                      "generation": 1, "creationTimestamp": "2026-11-24T08:46:41Z"},
         "spec": {"backupName": "b1", "includedNamespaces": ["shop"], "restoreVolumes": True}}
    return [admission_review("e14308df-2cbe-40b6-9d76-99027bf8afa9", "Backup", "backups", "b1", b),
            admission_review("5f0c8a52-1d7e-4a0f-8f4b-3e2d7c9a6b10", "Restore", "restores", "r1",
                             r)]


WRK_LUA = """\
-- POSTs the AdmissionReviews named in BENCH_BODIES (comma-separated files), in turn.
local bodies = {}
for path in string.gmatch(os.getenv("BENCH_BODIES"), "[^,]+") do
  local f = assert(io.open(path, "rb"))
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local reqs = {}
init = function(args)
  -- After wrk.init has set the Host header: requests formatted earlier would lack it.
  for i, b in ipairs(bodies) do reqs[i] = wrk.format("POST", "/validate", nil, b) end
end
local n = 0
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text):
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        lat[f"p{pct}_ms"] = float(val) * UNITS[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rate": rate, **lat, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


# --- the suite -----------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.tools = Tools()
        self.workdir = Path(tempfile.mkdtemp(prefix="csdr-bench-",
                                             dir=os.environ.get("CSDR_BENCH_TMP")))
        self.certs = None
        self.cp = None
        self.results = {"objects": OBJECTS, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "smoke": self.smoke, "systems": {}, "errors": []}
        self.reps = 1 if self.smoke else 3

    def client_flags(self):
        c = self.certs
        return ["-cert", c.admin_crt, "-key", c.admin_key]

    @staticmethod
    def measure(args, timeout, during=None):
        """Runs a load tool that prints one JSON object; adds its share of the load CPU."""
        out, cpu, wall = run_load(args, timeout, during)
        r = json.loads(out)
        r["client_cpu_share"] = cpu / wall if wall else None  # of the one load CPU
        return r

    def load(self, *args, timeout=300, during=None):
        return self.measure([self.tools.load, *args, *self.client_flags()], timeout, during)

    def rate(self, server, bodies, rps, seconds, conns):
        """Open-loop POSTs to /validate at a fixed rate from rate.c (not the Go client: its
        timers come up to 1 ms late on an idle process, and that lateness would count in every
        latency measured from a due time)."""
        host, port = server.url.removeprefix("https://").rsplit(":", 1)
        return self.measure([self.tools.rate, host, port, "/validate", rps, seconds, conns,
                             bodies], timeout=seconds * 10 + 60)

    def sysres(self, name):
        return self.results["systems"].setdefault(name, {})

    def attempt(self, what, fn, *a, **kw):
        """Runs one measurement; a failure is recorded (and reported) instead of ending the run."""
        self.results.setdefault("loadavg_phases", []).append(
            [what, time.strftime("%H:%M:%S", time.gmtime()), os.getloadavg()])
        try:
            return fn(*a, **kw)
        except Exception as e:  # noqa: BLE001 - recorded in the report
            msg = f"{what}: {type(e).__name__}: {str(e)[:600]}"
            log("FAILED " + msg)
            self.results["errors"].append(msg)
            if self.smoke:
                raise
            return None

    # -- machine --
    def machine(self):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
        mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        ver = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.strip() or \
            subprocess.run(cmd, capture_output=True, text=True).stderr.strip()
        self.results["machine"] = {
            "cpu": model.group(1) if model else "?", "nproc": os.cpu_count(),
            "nproc_cmd": ver(["nproc"]), "mem_gib": int(mem.group(1)) / 2**20 if mem else None,
            "kernel": os.uname().release, "loadavg_start": os.getloadavg(),
            "os": next((l.split("=", 1)[1].strip('"') for l in
                        Path("/etc/os-release").read_text().splitlines()
                        if l.startswith("PRETTY_NAME=")), "?"),
        }
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "apiserver", "webhook", "storage", "common"],
                               capture_output=True, text=True).stdout.splitlines()
        built = time.strftime("%H:%M:%S UTC", time.gmtime(os.path.getmtime(self.tools.csdr)))
        self.results["versions"] = {
            "csdr-apiserver": f"{head}" + (f" with {len(dirty)} server files changed in the work "
                                           "tree" if dirty else "") + f", binary built {built}",
            "kube-apiserver": ver([os.environ["CSDR_KUBE_APISERVER"], "--version"]),
            "etcd": ver([os.environ["CSDR_ETCD"], "--version"]).splitlines()[0],
            "go modules": self.tools.versions,
            "go": ver(["go", "version"]),
            "nginx": ver([self.tools.nginx, "-v"]),
            "wrk": ver([self.tools.wrk, "-v"]).splitlines()[0] if self.tools.wrk else None,
            "sqlite": ver(["sqlite3", "--version"]).split(" ")[0],
            "openssl": ver(["openssl", "version"]),
        }

    def store_counters(self, srv):
        """csdr-apiserver's storage counters from /metrics: writes and transactions (group
        commits) so far."""
        r = cluster.https_request("127.0.0.1", srv.port, "GET", "/metrics",
                                  cert=(self.certs.admin_crt, self.certs.admin_key))
        out = {}
        for key, metric in (("writes", "csdr_storage_writes_total"),
                            ("transactions", "csdr_storage_transactions_total")):
            vals = re.findall(rf"^{metric}(?:{{[^}}]*}})? ([\d.e+]+)$", r.text(), re.M)
            out[key] = sum(float(v) for v in vals)
        return out

    def csdr_setup(self, srv):
        """The facts the rules read: ClusterProfile `cluster` and an Available vault."""
        admin = (self.certs.admin_crt, self.certs.admin_key)
        for obj, path in ((CLUSTER_PROFILE, f"{API}/clusterprofiles"),
                          (VAULT, f"{API}/namespaces/{NS}/backupvaults")):
            r = cluster.https_request("127.0.0.1", srv.port, "POST", path, cert=admin, body=obj)
            assert r.status == 201, r
        r = cluster.https_request("127.0.0.1", srv.port, "PATCH",
                                  f"{API}/namespaces/{NS}/backupvaults/v1/status", cert=admin,
                                  body={"status": {"phase": "Available"}},
                                  headers={"Content-Type": "application/merge-patch+json"})
        assert r.status == 200, r

    # -- webhook --
    def webhook_suite(self):
        files = []
        for i, r in enumerate(reviews()):
            f = self.workdir / f"review-{i}.json"
            f.write_text(json.dumps(r, separators=(",", ":")))
            files.append(f)
        self.results["review_bytes"] = [f.stat().st_size for f in files]
        lua = self.workdir / "review.lua"
        lua.write_text(WRK_LUA)

        csdr = Csdr(self, self.workdir / "webhook-data")
        csdr.start()
        try:
            self.csdr_setup(csdr)
            answers = []
            for f in files:
                r = cluster.https_request("127.0.0.1", csdr.port, "POST", "/validate",
                                          body=f.read_bytes())
                assert r.status == 200, r
                answers.append(r.json())
            self.results["review_answers"] = {"csdr": answers}
            nginx_body = json.dumps(answers[0], separators=(",", ":"))
            self.webhook_measure("csdr", csdr, files, lua)
        finally:
            csdr.stop()

        peer = CrWebhook(self)
        peer.start()
        try:
            self.results["review_answers"]["cr-webhook"] = [
                cluster.https_request("127.0.0.1", peer.port, "POST", "/validate",
                                      body=f.read_bytes()).json() for f in files]
            self.webhook_measure("cr-webhook", peer, files, lua)
        finally:
            peer.stop()

        ngx = Nginx(self, nginx_body)
        ngx.start()
        try:
            r = cluster.https_request("127.0.0.1", ngx.port, "POST", "/validate",
                                      body=files[0].read_bytes())
            assert r.status == 200 and r.json()["response"]["uid"], r
            # At a fixed 1,000/s too: a fixed answer's latency is the floor that loopback and
            # the two CPUs waking from idle set for every server (findings F1).
            self.webhook_measure("nginx", ngx, files, lua)
        finally:
            ngx.stop()

    def webhook_measure(self, name, server, files, lua):
        res = self.sysres(name)
        res["rss_idle_mib"] = rss_mib(server.pid)
        bodies = ",".join(map(str, files))
        if self.smoke:  # the fixed-rate client too, briefly: every request answered 200
            r = self.rate(server, bodies, rps=100, seconds=0.2, conns=2)
            if r["codes"] != {"200": r["requests"]}:
                raise RuntimeError(f"{name} at a fixed rate: {r['codes']} {r['first_error']}")
            res["fixed_rate_smoke"] = r
            return
        for conns in (1, 16, 64):
            runs = []
            for _ in range(self.reps + 2):  # 5 runs: the rates swing most on a shared machine
                env = dict(os.environ, BENCH_BODIES=bodies)
                c0, cpu0, t0, busy0 = children_cpu(), server.cpu(), time.monotonic(), cpu_busy()
                p = subprocess.run(["taskset", "-c", LOAD_CPU, self.tools.wrk, "-t1",
                                    f"-c{conns}", "-d4s", "--latency", "-s", lua, server.url],
                                   capture_output=True, text=True, env=env, timeout=60)
                wall = time.monotonic() - t0
                run = parse_wrk(p.stdout)
                run["client_cpu_share"] = (children_cpu() - c0) / wall
                run["server_cpu_share"] = (server.cpu() - cpu0) / wall
                busy = [(b - a) / wall for a, b in zip(busy0, cpu_busy())]
                # What else ran on the server's CPU: its busy share less the server's own.
                run["others_on_server_cpu"] = max(0.0, busy[0] - run["server_cpu_share"])
                run["per_server_cpu_s"] = run["rate"] / run["server_cpu_share"] \
                    if run["server_cpu_share"] > 0 else None
                runs.append(run)
            res[f"wrk_c{conns}"] = runs
            res[f"rate_c{conns}"] = median(r["rate"] for r in runs)
            res[f"per_cpu_c{conns}"] = median(r["per_server_cpu_s"] for r in runs)
            res[f"others_cpu0_c{conns}"] = median(r["others_on_server_cpu"] for r in runs)
            log(f"{name} webhook c={conns}: {res[f'rate_c{conns}']:.0f}/s "
                f"(p99 {median(r.get('p99_ms') for r in runs)} ms)")
        res["rss_loaded_mib"] = rss_mib(server.pid)
        # Three runs in which the client sent on time: a run whose 99th percentile send went
        # out more than LATE_SEND_MS after it was due measured something else that held the
        # load CPU, and is repeated (at most three times; all runs are kept in the results).
        runs = []
        for _ in range(6):
            runs.append(self.rate(server, bodies, rps=1000, seconds=12, conns=16))
            if sum(r["send_late_p99_ms"] <= LATE_SEND_MS for r in runs) == 3:
                break
        valid = [r for r in runs if r["send_late_p99_ms"] <= LATE_SEND_MS] or runs
        res["fixed_1000"] = runs
        res["fixed_1000_late_runs"] = sum(r["send_late_p99_ms"] > LATE_SEND_MS for r in runs)
        res["fixed_1000_p50_ms"] = median(r["p50_ms"] for r in valid)
        res["fixed_1000_p99_ms"] = median(r["p99_ms"] for r in valid)
        res["fixed_1000_late_p99_ms"] = median(r["send_late_p99_ms"] for r in valid)
        log(f"{name} webhook at 1000/s: p50 {res['fixed_1000_p50_ms']} ms, "
            f"p99 {res['fixed_1000_p99_ms']} ms ({res['fixed_1000_late_runs']} late runs "
            "repeated)")

    # -- API --
    def api_measure(self, name, server, coll_path, obj_path_fmt, template, restart,
                    list_paths=None):
        """The API workload against one started server holding no objects of the kind."""
        res = self.sysres(name)
        n = 20 if self.smoke else OBJECTS
        tmpl = self.workdir / f"{name}-template.json"
        tmpl.write_text(json.dumps(template, separators=(",", ":")))
        res["object_bytes"] = len(json.dumps(template, separators=(",", ":")))
        # /readyz can answer before admission is ready (sample-apiserver's plugins answer 403
        # "not yet ready to handle request" until their informers sync): wait for a dry run.
        admin = (self.certs.admin_crt, self.certs.admin_key)
        probe = json.loads(json.dumps(template).replace("__NAME__", "ready-probe"))
        cluster.wait_for(lambda: cluster.https_request(
            "127.0.0.1", server.port, "POST", f"{coll_path}?dryRun=All", cert=admin,
            body=probe).status == 201, timeout=60, interval=0.2, what=f"{name} accepts creates")
        time.sleep(0 if self.smoke else 2)
        res["rss_idle_mib"] = rss_mib(server.pid)
        if server.extra_pids:
            res["etcd_rss_idle_mib"] = rss_mib(server.extra_pids[0])

        # Creates: n objects in `reps` runs of 64 clients; CPU over all of them.
        store0 = self.store_counters(server) if name == "csdr" else None
        cpu0, own0, busy0, t0 = server.cpu(), cpu_s(server.pid), cpu_busy(), time.monotonic()
        runs, start = [], 0
        for i in range(self.reps):
            count = n // self.reps + (1 if i < n % self.reps else 0)
            runs.append(self.load("create", "-url", server.url, "-path", coll_path, "-template",
                                  tmpl, "-n", count, "-start", start, "-c", 64,
                                  "-prefix", "bk-", timeout=600))
            start += count
        res["cpu_s_per_10k_creates"] = (server.cpu() - cpu0) * OBJECTS / n
        if store0:
            store1 = self.store_counters(server)
            txns = store1["transactions"] - store0["transactions"]
            res["writes_per_transaction"] = (store1["writes"] - store0["writes"]) / txns \
                if txns else None
        res["process_cpu_s_per_10k_creates"] = (cpu_s(server.pid) - own0) * OBJECTS / n
        wall = time.monotonic() - t0
        res["create_others_on_server_cpu"] = max(
            0.0, (cpu_busy()[0] - busy0[0] - (server.cpu() - cpu0)) / wall)
        res["creates"] = runs
        res["create_rate"] = median(r["rate"] for r in runs)
        res["create_p50_ms"] = median(r["p50_ms"] for r in runs)
        res["create_p99_ms"] = median(r["p99_ms"] for r in runs)
        bad = {k: v for r in runs for k, v in r["codes"].items() if k != "201"}
        if bad:
            self.results["errors"].append(f"{name}: create answers other than 201: {bad}; first: "
                                          f"{next((r['first_error'] for r in runs if r.get('first_error')), '')}")
        log(f"{name} creates: {res['create_rate']:.0f}/s, p99 {res['create_p99_ms']} ms, "
            f"{res['cpu_s_per_10k_creates']:.1f} CPU s per 10k")

        obj = obj_path_fmt.format("bk-000007")
        gets = [self.load("get", "-url", server.url, "-path", obj, "-c", 16,
                          "-d", 1 if self.smoke else 4) for _ in range(self.reps)]
        res["gets"] = gets
        res["get_rate"] = median(r["rate"] for r in gets)
        res["get_p50_ms"] = median(r["p50_ms"] for r in gets)
        res["get_p99_ms"] = median(r["p99_ms"] for r in gets)
        log(f"{name} gets: {res['get_rate']:.0f}/s, p99 {res['get_p99_ms']} ms "
            f"(client CPU {median(r['client_cpu_share'] for r in gets):.2f})")
        time.sleep(0 if self.smoke else 3)
        res["rss_loaded_mib"] = rss_mib(server.pid)
        if server.extra_pids:
            res["etcd_rss_loaded_mib"] = rss_mib(server.extra_pids[0])

        # Lists at the latest state (resourceVersion unset: consistent), then at
        # resourceVersion=0 (any state the server holds: its cache where it has one).
        # On etcd, what etcd sent its clients meanwhile shows whether the lists came from the
        # server's cache (a count-only Range or a progress request each) or from etcd.
        nlists = 1 if self.smoke else 15  # medians of 15: one list is 25-90 ms on a shared core
        for label, accept, query in (("json", "application/json", ""), ("table", TABLE, ""),
                                     ("json_rv0", "application/json", "?resourceVersion=0"),
                                     ("table_rv0", TABLE, "?resourceVersion=0")):
            sent0 = etcd_sent_bytes(self.cp.etcd_port) if server.on_etcd else None
            r = self.load("list", "-url", server.url, "-path", coll_path + query,
                          "-accept", accept, "-n", nlists, timeout=600)
            res[f"list_{label}"] = r
            res[f"list_{label}_ms"] = median(r["ms"])
            if sent0 is not None:
                res[f"list_{label}_etcd_bytes"] = \
                    (etcd_sent_bytes(self.cp.etcd_port) - sent0) / nlists
            log(f"{name} list {label}: {res[f'list_{label}_ms']:.0f} ms, {r['items']} items, "
                f"{r['bytes'] / 2**20:.1f} MiB" + (
                    f"; etcd sent {res[f'list_{label}_etcd_bytes'] / 2**10:.0f} KiB per list"
                    if sent0 is not None else ""))
        res["rss_after_lists_mib"] = rss_mib(server.pid)
        if server.extra_pids:
            res["etcd_rss_after_lists_mib"] = rss_mib(server.extra_pids[0])

        # Get latency with no watches (8 connections), then with 1,000 open, then the fan-out.
        watchers = 10 if self.smoke else 1000
        base = self.load("get", "-url", server.url, "-path", obj, "-c", 8,
                         "-d", 1 if self.smoke else 4)
        res["get8_p99_ms"], res["get8_p50_ms"] = base["p99_ms"], base["p50_ms"]
        peak = {"rss": None}

        def sample_rss():  # the server's RSS while the watch client runs: the peak is with
            v = rss_mib(server.pid)  # its watches open (they end with the client)
            if v is not None and (peak["rss"] is None or v > peak["rss"]):
                peak["rss"] = v
        # Five writes one after another (each once every watcher had the one before): the
        # fan-out figures are their medians, as in the HTTP/2 part (the first is the slowest).
        writes = 1 if self.smoke else 5
        w = self.load("watch", "-url", server.url, "-path", coll_path, "-watchers", watchers,
                      "-template", tmpl, "-writes", writes, "-get-path", obj, "-get-c", 8,
                      "-get-d", 1 if self.smoke else 4, timeout=300, during=sample_rss)
        res["watch"] = w
        res["rss_watches_mib"] = peak["rss"]
        res["get8_watch_p99_ms"] = w["gets"]["p99_ms"]
        res["get8_watch_p50_ms"] = w["gets"]["p50_ms"]
        res["fanout_max_ms"], res["fanout_p50_ms"] = w["max_ms"], w["p50_ms"]
        log(f"{name} watches: {w['delivered']}/{watchers} delivered, fan-out max "
            f"{w['max_ms']} ms; get p99 {base['p99_ms']} -> {w['gets']['p99_ms']} ms; RSS "
            f"{round(res['rss_after_lists_mib'] or 0, 1)} MiB after the lists, "
            f"{round(peak['rss'] or 0, 1)} MiB with the watches open")
        time.sleep(0 if self.smoke else 2)  # watches end with the client

        # 10,000 watches (csdr-apiserver on SQLite and sample-apiserver, the pair):
        # opened without refusals, gets meanwhile, one write fanned out to all of them.
        if name in ("csdr", "sample"):
            many = 50 if self.smoke else WATCHES_MANY
            peak = {"rss": None}
            rss_before = rss_mib(server.pid)
            w = self.load("watch", "-url", server.url, "-path", coll_path, "-watchers", many,
                          "-template", tmpl, "-writes", writes, "-get-path", obj, "-get-c", 8,
                          "-get-d", 1 if self.smoke else 4, timeout=900, during=sample_rss)
            res["watch_many"] = w
            res["watch_many_n"] = many
            res["rss_before_many_mib"] = rss_before
            res["rss_watches_many_mib"] = peak["rss"]
            if peak["rss"] is not None and rss_before is not None:
                res["rss_per_watch_many_kib"] = (peak["rss"] - rss_before) * 1024 / many
            log(f"{name} {many} watches: {w['open_errors']} refused, opened in "
                f"{w['open_seconds']:.1f} s, {w['delivered']}/{many} delivered, fan-out p50 "
                f"{w['p50_ms']} max {w['max_ms']} ms; get p99 {base['p99_ms']} -> "
                f"{w['gets']['p99_ms']} ms; RSS {round(rss_before or 0)} -> "
                f"{round(peak['rss'] or 0)} MiB")
            time.sleep(0 if self.smoke else 3)

        # Start to ready with the objects.
        if restart:
            times = []
            for _ in range(1 if self.smoke else 3):
                server.stop()
                times.append(server.start())
            res["ready_loaded_s"] = times
            res["ready_loaded_median_s"] = median(times)
            res["rss_after_restart_mib"] = rss_mib(server.pid)
            log(f"{name} ready with {n} objects: {median(times) * 1000:.0f} ms")

    def csdr_suite(self):
        data = self.workdir / "csdr-data"
        times = []
        for i in range(1 if self.smoke else 3):
            shutil.rmtree(data, ignore_errors=True)
            srv = Csdr(self, data)
            times.append(srv.start())
            if i < (0 if self.smoke else 2):
                srv.stop()
        self.sysres("csdr")["ready_empty_s"] = times
        self.sysres("csdr")["ready_empty_median_s"] = median(times)
        log(f"csdr ready empty: {median(times) * 1000:.1f} ms")
        try:
            self.csdr_setup(srv)
            r = cluster.https_request("127.0.0.1", srv.port, "POST",
                                      f"{API}/namespaces/{NS}/backups",
                                      cert=(self.certs.admin_crt, self.certs.admin_key),
                                      body=backup_object("probe"))
            assert r.status == 201, r
            self.sysres("csdr")["create_warning"] = r.headers.get("Warning")
            self.csdr_server = srv
            self.api_measure("csdr", srv, f"{API}/namespaces/{NS}/backups",
                             f"{API}/namespaces/{NS}/backups/{{}}", backup_object(), True)
            # Start to ready without a cluster (no --kubeconfig): what the store itself costs.
            srv.stop()
            for key, d in (("ready_loaded_standalone_s", data),
                           ("ready_empty_standalone_s", self.workdir / "csdr-empty")):
                times = []
                for _ in range(1 if self.smoke else 3):
                    srv = Csdr(self, d, cluster_facts=False)
                    times.append(srv.start())
                    srv.stop()
                self.sysres("csdr")[key] = times
                log(f"csdr {key}: {median(times) * 1000:.1f} ms")
        finally:
            srv.stop()
            self.csdr_server = None

    def allocator_suite(self):
        """csdr-apiserver (SQLite) under each allocator option, one fresh server each, the
        sequence of the memory figures: 10,000 creates by 64 clients, 20 lists as JSON and 20 as
        Table, 1,000 watches and a write fanned out to them. RSS after each step, and the create
        rate and list times (an allocator that saves memory by costing time shows here)."""
        variants = [(name, env) for name, env in ALLOCATOR_VARIANTS
                    if "LD_PRELOAD" not in env or Path(env["LD_PRELOAD"]).exists()]
        out = self.results.setdefault("allocators", [])
        n = 20 if self.smoke else OBJECTS
        tmpl = self.workdir / "alloc-template.json"
        tmpl.write_text(json.dumps(backup_object(), separators=(",", ":")))
        coll = f"{API}/namespaces/{NS}/backups"
        obj = f"{coll}/bk-000007"
        for name, env in variants[:1] if self.smoke else variants:
            data = self.workdir / "alloc-data"
            shutil.rmtree(data, ignore_errors=True)
            srv = Csdr(self, data)
            srv.env = env
            try:
                srv.start()
                self.csdr_setup(srv)
                time.sleep(0 if self.smoke else 2)
                r = {"name": name, "env": env, "rss_idle_mib": rss_mib(srv.pid)}
                c = self.load("create", "-url", srv.url, "-path", coll, "-template", tmpl,
                              "-n", n, "-start", 0, "-c", 64, "-prefix", "bk-", timeout=600)
                r["create_rate"] = c["rate"]
                time.sleep(0 if self.smoke else 2)
                r["rss_creates_mib"] = rss_mib(srv.pid)
                nl = 1 if self.smoke else 20
                lj = self.load("list", "-url", srv.url, "-path", coll, "-accept",
                               "application/json", "-n", nl, timeout=600)
                lt = self.load("list", "-url", srv.url, "-path", coll, "-accept", TABLE,
                               "-n", nl, timeout=600)
                r["list_json_ms"], r["list_table_ms"] = median(lj["ms"]), median(lt["ms"])
                time.sleep(0 if self.smoke else 2)
                r["rss_lists_mib"] = rss_mib(srv.pid)
                peak = {"rss": None}

                def sample_rss():
                    v = rss_mib(srv.pid)
                    if v is not None and (peak["rss"] is None or v > peak["rss"]):
                        peak["rss"] = v
                w = self.load("watch", "-url", srv.url, "-path", coll, "-watchers",
                              10 if self.smoke else 1000, "-template", tmpl, "-get-path", obj,
                              "-get-c", 8, "-get-d", 1 if self.smoke else 2, timeout=300,
                              during=sample_rss)
                r["rss_watches_mib"] = peak["rss"]
                r["fanout_max_ms"] = w["max_ms"]
                time.sleep(0 if self.smoke else 2)
                r["rss_end_mib"] = rss_mib(srv.pid)
                out.append(r)
                log(f"allocator {name}: RSS idle {r['rss_idle_mib']:.0f}, creates "
                    f"{r['rss_creates_mib']:.0f}, lists {r['rss_lists_mib']:.0f}, watches "
                    f"{r['rss_watches_mib'] or 0:.0f}, end {r['rss_end_mib']:.0f} MiB; "
                    f"{r['create_rate']:.0f} creates/s, lists {r['list_json_ms']:.0f} / "
                    f"{r['list_table_ms']:.0f} ms, fan-out {w['max_ms']} ms")
            finally:
                srv.stop()

    def csdr_etcd_suite(self):
        """csdr-apiserver on the control plane's etcd (the one kube-apiserver + CRDs use), the
        csdr workload: start to ready empty (each start on a prefix of its own, the last on
        ETCD_PREFIX), then the API workload, restarts with the objects included."""
        data = self.workdir / "csdr-etcd-data"
        times, rounds = [], 1 if self.smoke else 3
        for i in range(rounds):
            last = i == rounds - 1
            srv = CsdrEtcd(self, data, ETCD_PREFIX if last else f"{ETCD_PREFIX}-empty-{i}")
            times.append(srv.start())
            if not last:
                srv.stop()
        res = self.sysres("csdr-etcd")
        res["ready_empty_s"] = times
        res["ready_empty_median_s"] = median(times)
        res["etcd_prefix"] = ETCD_PREFIX
        log(f"csdr-etcd ready empty: {median(times) * 1000:.1f} ms")
        try:
            self.csdr_setup(srv)
            r = cluster.https_request("127.0.0.1", srv.port, "POST",
                                      f"{API}/namespaces/{NS}/backups",
                                      cert=(self.certs.admin_crt, self.certs.admin_key),
                                      body=backup_object("probe"))
            assert r.status == 201, r
            res["create_warning"] = r.headers.get("Warning")
            self.api_measure("csdr-etcd", srv, f"{API}/namespaces/{NS}/backups",
                             f"{API}/namespaces/{NS}/backups/{{}}", backup_object(), True)
        finally:
            srv.stop()

    def control_plane(self):
        self.cp = BenchControlPlane(workdir=self.workdir / "cp", name="bench")
        real = cluster.Certs
        cluster.Certs = lambda directory: self.certs  # one set of certificates for all
        t0 = time.monotonic()
        try:
            self.cp.start()
        finally:
            cluster.Certs = real
        self.results["control_plane_start_s"] = time.monotonic() - t0

    def kube_suite(self):
        cp = self.cp
        kube = KubeCrd(self)
        cp.kubectl("create", "namespace", NS)
        cp.kubectl("apply", "-f", HERE / "crds.yaml")
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd",
                   "backups.csdr.io", "backupvaults.csdr.io", "restores.csdr.io",
                   "backupschedules.csdr.io", "clusterprofiles.csdr.io", check=False)
        # The backup center today: CRDs plus the controller-runtime webhook on their creates.
        peer = CrWebhook(self)
        peer.start()
        cp.adopt(peer)
        cp.register_webhook(peer.port, name="validate.csdr.io", path="/validate",
                            rules=[{"apiGroups": ["csdr.io"], "apiVersions": ["v1alpha1"],
                                    "operations": ["CREATE"], "resources": ["*"],
                                    "scope": "*"}], failure_policy="Fail")
        kube.extra_pids.append(peer.pid)

        def webhook_active():
            probe = backup_object("webhook-probe")
            r = cp.request("POST", f"{API}/namespaces/{NS}/backups?dryRun=All", body=probe)
            return r.status == 201 and "CSDR-BK-006" in (r.headers.get("Warning") or "")
        cluster.wait_for(webhook_active, timeout=60, interval=0.5, what="webhook registered")
        times = []
        for _ in range(1 if self.smoke else 2):
            times.append(kube.start())
        self.sysres("kube-crd")["ready_empty_s"] = times
        self.sysres("kube-crd")["ready_empty_median_s"] = median(times)
        log(f"kube-apiserver ready with CRDs, no objects: {median(times) * 1000:.0f} ms")
        cluster.wait_for(webhook_active, timeout=60, interval=0.5, what="webhook after restart")
        self.api_measure("kube-crd", kube, f"{API}/namespaces/{NS}/backups",
                         f"{API}/namespaces/{NS}/backups/{{}}", backup_object(), True)
        self.sysres("kube-crd")["webhook_cpu_s"] = cpu_s(peer.pid)

    def sample_suite(self):
        srv = Sample(self)
        srv.extra_pids = [self.cp.etcd.pid]
        times = []
        for _ in range(1 if self.smoke else 3):
            srv.stop()
            times.append(srv.start())
        self.sysres("sample")["ready_empty_s"] = times
        self.sysres("sample")["ready_empty_median_s"] = median(times)
        log(f"sample-apiserver ready empty: {median(times) * 1000:.0f} ms")
        try:
            self.api_measure("sample", srv, f"{WARDLE}/namespaces/{NS}/flunders",
                             f"{WARDLE}/namespaces/{NS}/flunders/{{}}", flunder_object(), True)
        finally:
            srv.stop()

    # -- HTTP/2 (issue 17) --
    def h2load(self, server, path, token, n, conns, streams, accept="application/json"):
        """h2load (Debian's nghttp2-client) on the load CPU: `n` GETs of `path` over `conns`
        connections with `streams` each in flight. Rate from h2load's own summary; latency
        percentiles from its per-request log (h2load prints none)."""
        log_file = self.workdir / f"h2load-{time.monotonic_ns()}.tsv"
        out, cpu, wall = run_load(["h2load", "-n", n, "-c", conns, "-m", streams, "-t", 1,
                                   "--log-file", log_file, "-H", f"authorization: Bearer {token}",
                                   "-H", f"accept: {accept}", server.url + path], timeout=600)
        m = re.search(r"finished in ([0-9.]+)(m?s), ([0-9.]+) req/s", out)
        req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                        r"(\d+) failed", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if not (m and req and codes):
            raise RuntimeError(f"h2load output not understood: {out[-800:]}")
        if int(codes.group(1)) != int(req.group(1)):
            raise RuntimeError(f"h2load: not every request answered 2xx: {out[-800:]}")
        lat = sorted(int(line.split("\t")[2]) / 1000 for line in
                     log_file.read_text().splitlines() if line.count("\t") >= 2)
        log_file.unlink()
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
        return {"n": n, "connections": conns, "streams": streams, "rate": float(m.group(3)),
                "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": lat[-1] if lat else None,
                "client_cpu_share": cpu / wall if wall else None}

    def h2_suite(self):
        """HTTP/2 as kubectl, client-go and kube-aggregator speak it: gets and lists from h2load
        over 1 and 16 connections with many streams each, and watches as streams (10,000 over
        the connections Go's transport opens, 1,000 streams each), against csdr-apiserver on
        SQLite and sample-apiserver on etcd, one after the other with the same clients."""
        cp = self.cp
        cp.kubectl("create", "namespace", NS, check=False)
        cp.kubectl("-n", NS, "create", "serviceaccount", "bench-h2", check=False)
        cp.kubectl("create", "clusterrolebinding", "bench-h2", "--clusterrole=cluster-admin",
                   f"--serviceaccount={NS}:bench-h2", check=False)
        token = cp.kubectl("-n", NS, "create", "token", "bench-h2",
                           "--duration=3h").stdout.strip()
        csdr = CsdrTokens(self, self.workdir / "csdr-h2")
        sample = Sample(self)
        sample.extra_pids = [cp.etcd.pid]
        for name, srv, coll, template in (
                ("csdr", csdr, f"{API}/namespaces/{NS}/backups", backup_object()),
                ("sample", sample, f"{WARDLE}/namespaces/{NS}/flunders", flunder_object())):
            srv.start()
            try:
                if name == "csdr":
                    self.csdr_setup(srv)
                self.attempt(f"{name} over HTTP/2", self.h2_measure, name, srv, coll, template,
                             token)
            finally:
                srv.stop()

    def h2_measure(self, name, server, coll, template, token):
        res = self.sysres(name).setdefault("h2", {})
        tmpl = self.workdir / f"{name}-h2-template.json"
        tmpl.write_text(json.dumps(template, separators=(",", ":")))
        admin = (self.certs.admin_crt, self.certs.admin_key)
        probe = json.loads(json.dumps(template).replace("__NAME__", "h2-probe"))
        cluster.wait_for(lambda: cluster.https_request(
            "127.0.0.1", server.port, "POST", f"{coll}?dryRun=All", cert=admin,
            body=probe).status == 201, timeout=60, interval=0.2, what=f"{name} accepts creates")
        nobj = 10 if self.smoke else 100
        self.load("create", "-url", server.url, "-path", coll, "-template", tmpl, "-n", nobj,
                  "-start", 0, "-c", 8, "-prefix", "bk-", timeout=300)
        obj = f"{coll}/bk-000007"
        # Warm the token's review and authorization caches, and the connections' code paths.
        self.h2load(server, obj, token, 100, 1, 10)
        # 100 streams on one connection; 16 connections of 20 each: 320 in flight, under
        # sample-apiserver's --max-requests-inflight (400), which answers 429 past it.
        for conns, streams in ((1, 100), (16, 20)):
            n = 200 if self.smoke else 40000
            runs = [self.h2load(server, obj, token, n, conns, streams) for _ in range(self.reps)]
            best = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]  # the median run
            res[f"get_c{conns}"] = {**best, "runs": runs}
            log(f"{name} h2 gets, {conns} connection(s) x {streams} streams: {best['rate']:.0f}/s, "
                f"p50 {best['p50_ms']:.2f} ms, p99 {best['p99_ms']:.2f} ms "
                f"(client CPU {best['client_cpu_share']:.2f})")
        n = 20 if self.smoke else 4000
        runs = [self.h2load(server, coll, token, n, 16, 10) for _ in range(self.reps)]
        best = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
        res["list_c16"] = {**best, "items": nobj + 0, "runs": runs}
        log(f"{name} h2 lists of {nobj}, 16 connections x 10 streams: {best['rate']:.0f}/s, "
            f"p99 {best['p99_ms']:.2f} ms")
        res["rss_before_watches_mib"] = rss_mib(server.pid)
        peak = {"rss": None}

        def sample_rss():
            v = rss_mib(server.pid)
            if v is not None and (peak["rss"] is None or v > peak["rss"]):
                peak["rss"] = v
        # 1,000 streams (one connection), then 10,000 (ten): 5 writes fanned out to each set,
        # one after another; the figures are the medians (the first write is the slowest).
        writes = 1 if self.smoke else 5
        w1 = self.load("watch", "-h2", "-url", server.url, "-path", coll, "-watchers",
                       10 if self.smoke else 1000, "-template", tmpl, "-writes", writes,
                       timeout=600)
        res["watch_1000"] = w1
        log(f"{name} h2 watches: one write reached {w1['delivered']} of {w1['watchers']} over "
            f"{w1['connections']} connection(s) in p50 {w1['p50_ms']} ms, max {w1['max_ms']} ms")
        watchers = 10 if self.smoke else WATCHES_MANY
        w = self.load("watch", "-h2", "-url", server.url, "-path", coll, "-watchers", watchers,
                      "-template", tmpl, "-writes", writes, "-get-path", obj, "-get-c", 8,
                      "-get-d", 1 if self.smoke else 4, timeout=600, during=sample_rss)
        w["rss_peak_mib"] = peak["rss"]
        res["watch"] = w
        log(f"{name} h2 watches: {w['watchers'] - w['open_errors']} of {w['watchers']} open over "
            f"{w['connections']} connections in {w['open_seconds']:.1f} s; one write reached "
            f"{w['delivered']} in p50 {w['p50_ms']} ms, max {w['max_ms']} ms; "
            f"RSS peak {peak['rss']} MiB")

    def sqlite_suite(self):
        d = self.workdir / "ceiling"
        d.mkdir()
        out, _, _ = run_load([self.tools.ceiling, d, 0.3 if self.smoke else 2,
                              len(json.dumps(backup_object("bk-000000"))) + 250])
        rows = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.results["sqlite_ceiling"] = rows
        log("sqlite ceiling: " + ", ".join(f"{r['batch']}/txn {r['writes_per_s']:.0f}/s"
                                           for r in rows))

    def profiles(self):
        """Where csdr-apiserver spends its time: callgrind (instruction counts, repeatable on a
        shared machine) over a fixed number of webhook reviews and of creates."""
        if self.smoke or not shutil.which("valgrind") or self.args.no_profile:
            return
        import profile_csdr  # noqa: E402  (test/bench/profile_csdr.py)
        self.results["profiles"] = self.attempt("profiles", profile_csdr.run, self)

    def run(self):
        os.environ.setdefault("CSDR_E2E_READY_TIMEOUT", "180")
        t_start = time.monotonic()
        self.machine()
        cdir = self.workdir / "pki"
        self.certs = cluster.Certs(cdir)
        try:
            log(f"work directory {self.workdir}")
            want = lambda part: not self.args.only or part in self.args.only.split(",")
            if want("sqlite"):
                self.attempt("sqlite ceiling", self.sqlite_suite)
            # First: csdr-apiserver reads the cluster's Secrets and PVCs from it (--kubeconfig).
            self.attempt("control plane", self.control_plane)
            if want("webhook"):
                self.attempt("webhook", self.webhook_suite)
            if want("csdr"):
                self.attempt("csdr API", self.csdr_suite)
            if want("allocators"):
                self.attempt("allocators", self.allocator_suite)
            if self.cp is not None and want("kube"):
                self.attempt("kube-apiserver + CRDs", self.kube_suite)
            # After kube-apiserver's: its figures stay those of an etcd holding its own objects
            # only; this one's etcd also holds kube-apiserver's 10,000 CRs, as sample's does.
            if self.cp is not None and want("csdr-etcd"):
                self.attempt("csdr-apiserver on etcd", self.csdr_etcd_suite)
            if self.cp is not None and want("sample"):
                self.attempt("sample-apiserver", self.sample_suite)
            if self.cp is not None and want("h2"):
                self.attempt("HTTP/2", self.h2_suite)
            if want("profile"):
                self.profiles()
        finally:
            if self.cp is not None:
                self.cp.stop(keep=False)
            self.results["seconds"] = time.monotonic() - t_start
            self.results["loadavg_end"] = os.getloadavg()
            self.results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if not os.environ.get("CSDR_BENCH_KEEP"):
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="start everything, one request each")
    ap.add_argument("--results", default=None, help="where to write the results JSON")
    ap.add_argument("--doc", default=str(REPO / "docs" / "benchmarks.md"))
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated parts, for development: "
                    "sqlite,webhook,csdr,allocators,csdr-etcd,kube,sample,h2,profile")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 watches and more
    res = Bench(args).run()
    cache = Path(os.environ.get("CSDR_BENCH_CACHE",
                                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                / "csdr-bench"))
    out = Path(args.results) if args.results else cache / (
        "smoke.json" if args.smoke else f"results-{time.strftime('%Y%m%dT%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    log(f"results: {out} ({res['seconds']:.0f} s)")
    if res["errors"]:
        log("errors:\n  " + "\n  ".join(res["errors"]))
    if args.smoke:
        if res["errors"]:
            sys.exit(1)
        print("bench smoke: every system started and answered")
        return
    sys.path.insert(0, str(HERE))
    import report  # noqa: E402  (test/bench/report.py)
    report.write(res, Path(args.doc))
    log(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
