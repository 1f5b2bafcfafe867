"""Shared pieces of the integration tests: start the real csdr-apiserver, talk to it.

Every test gets its own temporary directory holding fresh certificates (made by
certs/make-dev-certs.sh), a SQLite data directory and the server's log. ServerTestCase starts
servers on free loopback ports, stops them after the test, fails the test if a server died on
its own, and prints the server log of a failed test.

Only the Python standard library (and the server binary) is needed here; run with
/usr/bin/python3, which is where Debian's python3-kubernetes and python3-yaml live.
"""

import http.client
import json
import re
import os
import queue
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("CSDR_APISERVER", REPO / "build" / "csdr-apiserver")).resolve()
CERT_SCRIPT = REPO / "certs" / "make-dev-certs.sh"
EXAMPLES = REPO / "manifests" / "examples" / "backup-center.yaml"
GROUP = "csdr.io"
VERSION = "v1alpha1"
API = f"/apis/{GROUP}/{VERSION}"
NAMESPACE = "csdr"
# How long a server may take to answer /readyz after exec. DESIGN.md asks for well under a
# second; the margin is for a loaded 2-core CI machine and sanitizer builds.
READY_TIMEOUT_S = float(os.environ.get("CSDR_IT_READY_TIMEOUT", "20"))
VERBOSITY = os.environ.get("CSDR_IT_VERBOSITY", "2")
# Set by `make test-asan`: the server under test is an ASan+UBSan build, whose resident memory
# includes the sanitizer's quarantine (freed blocks held back from reuse, up to 256 MiB) and
# redzones; memory bounds that judge our allocations allow for it.
SANITIZED = os.environ.get("CSDR_IT_SANITIZED") == "1"
# The etcd that EtcdCluster starts: $CSDR_ETCD_BIN (run.sh may set it to etcd 3.6), else
# Debian's etcd-server 3.4.
ETCD_BIN = Path(os.environ.get("CSDR_ETCD_BIN") or "/usr/bin/etcd")


def raise_fd_limit():
    """Lets this process and the servers it starts hold thousands of sockets (the 1,000-watch
    test), as a service manager would (systemd's LimitNOFILE): soft limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def metric(samples, family, **labels):
    """Sum of the samples of `family` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == family and want <= set(ls))


def free_port():
    """A loopback port that was free a moment ago (the server does not support port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Certs:
    """The files certs/make-dev-certs.sh writes into one directory."""

    def __init__(self, directory, port, users=("alice:dev",)):
        self.dir = Path(directory)
        args = [str(CERT_SCRIPT)]
        for u in users:
            args += ["--user", u]
        args.append(str(self.dir))
        env = dict(os.environ, PORT=str(port))
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"make-dev-certs.sh failed ({proc.returncode}): {proc.stderr}")
        self.ca = self.dir / "ca.crt"
        self.serving_cert = self.dir / "serving.crt"
        self.serving_key = self.dir / "serving.key"
        self.kubeconfig = self.dir / "kubeconfig"

    def client(self, user="admin"):
        """(cert, key) paths for a client user made by the script ("admin", "alice")."""
        return (self.dir / f"{user}.crt", self.dir / f"{user}.key")

    def rewrite_kubeconfigs(self, port):
        """Points the kubeconfigs at another port (keeps keys and certificates)."""
        Certs(self.dir, port)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get / get_all)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        body = self.text()
        if len(body) > 600:
            body = body[:600] + "..."
        return f"HTTP {self.status} {body}"


class Server:
    """One csdr-apiserver process on a free loopback port."""

    # policy=False: the REST suites test the API machinery alone, so they turn the backup
    # center's rules off (--disable-admission-plugins=CSDRPolicy); the rules have their own
    # suite (test_rules.py) that runs with them on.
    # etcd=EtcdCluster: the store is that etcd (--etcd-servers with every member's client URL,
    # --etcd-prefix etcd_prefix) and `storage` is not used. etcd_first: the index of the member
    # listed first, the one the server talks to while it answers (default: member 0).
    # controllers=False: the same for the built-in controllers (schedules, expiry:
    # --controllers=-schedule,-expiry), which would otherwise add Backups and status writes
    # to what the REST suites assert; test_controllers.py runs them.
    def __init__(self, workdir, storage="sqlite", data_dir=None, certs=None, extra_args=(),
                 policy=False, etcd=None, etcd_prefix="/csdr", etcd_first=0, controllers=False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.certs = certs or Certs(self.workdir / "certs", self.port)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.etcd = etcd
        self.etcd_prefix = etcd_prefix
        self.etcd_first = etcd_first
        if etcd is not None:
            self.storage = None
        elif storage == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.storage = f"sqlite://{self.data_dir / 'csdr.db'}"  # sqlite:///abs/path
        else:
            self.storage = storage
        self.extra_args = list(extra_args)
        if not policy:
            self.extra_args.append("--disable-admission-plugins=CSDRPolicy")
        if not controllers:
            self.extra_args.append("--controllers=-schedule,-expiry")
        self.proc = None
        self.log_path = None
        self.starts = 0
        self.expected_exit = False

    # --- process control -------------------------------------------------------------
    def args(self):
        if self.etcd is not None:
            urls = self.etcd.client_urls()
            first = self.etcd_first % len(urls)
            store = ["--etcd-servers", ",".join(urls[first:] + urls[:first]),
                     "--etcd-prefix", self.etcd_prefix]
        else:
            store = ["--storage", self.storage]
        return [str(BINARY), "--bind-address", "127.0.0.1", "--secure-port", str(self.port),
                "--tls-cert-file", str(self.certs.serving_cert),
                "--tls-private-key-file", str(self.certs.serving_key),
                "--client-ca-file", str(self.certs.ca)] + store + ["--v", VERBOSITY] + self.extra_args

    def start(self):
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} does not exist: run `make build` first")
        for attempt in range(3):
            self.starts += 1
            self.log_path = self.workdir / f"server-{self.starts}.log"
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir,
                                         preexec_fn=raise_fd_limit)
            log.close()
            self.expected_exit = False
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                log = self.log_tail().lower()
                in_use = "in use" in log or "bind" in log
                self.kill()
                if not in_use or attempt == 2:
                    raise
                # Someone took the port between free_port() and bind(): try another one.
                self.port = free_port()
                self.certs.rewrite_kubeconfigs(self.port)
        return self

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before it was "
                                   f"ready: {' '.join(self.args())}\n{self.log_tail()}")
            try:
                r = self.request("GET", "/readyz", user=None, timeout=2)
                if r.status == 200:
                    return
                last = r
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"server not ready within {READY_TIMEOUT_S}s (last: {last!r}):\n"
                           f"{self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit code."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """kill -9: no chance to flush or close anything."""
        if self.proc is None:
            return
        self.expected_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def log_tail(self, lines=60):
        if not self.log_path or not self.log_path.exists():
            return "(no server log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    # --- HTTP ------------------------------------------------------------------------
    def ssl_context(self, user="admin", client_cert=None):
        """TLS context trusting the test CA; `user` picks a client certificate made by the cert
        script (None: no client certificate); `client_cert` is an explicit (cert, key) pair."""
        ctx = ssl.create_default_context(cafile=str(self.certs.ca))
        if client_cert:
            ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        elif user:
            cert, key = self.certs.client(user)
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def connection(self, user="admin", timeout=10, client_cert=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context(user, client_cert))

    def request(self, method, path, body=None, content_type="application/json", headers=None,
                user="admin", timeout=10, client_cert=None, query=None):
        """One request on a new connection. `body` may be bytes, str or a JSON-able object."""
        if query:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        h = {"Accept": "application/json"}
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = self.connection(user, timeout, client_cert)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def watch(self, path, query=None, user="admin", timeout=10):
        """Opens a watch (GET ...?watch=1&...) and returns a WatchStream."""
        q = {"watch": "1"}
        q.update(query or {})
        full = path + "?" + urllib.parse.urlencode(q)
        conn = self.connection(user, timeout)
        conn.request("GET", full, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        return WatchStream(conn, resp)

    # Typed helpers ---------------------------------------------------------------------
    def path(self, resource, name=None, namespace=NAMESPACE, subresource=None):
        p = API
        if namespace and resource != "clusterprofiles":
            p += f"/namespaces/{namespace}"
        p += f"/{resource}"
        if name:
            p += f"/{name}"
        if subresource:
            p += f"/{subresource}"
        return p

    def create(self, resource, obj, namespace=NAMESPACE, expect=201):
        r = self.request("POST", self.path(resource, namespace=namespace), obj)
        if expect is not None and r.status != expect:
            raise AssertionError(f"POST {resource} {obj.get('metadata', {}).get('name')}: "
                                 f"expected {expect}, got {r!r}")
        return r

    def get(self, resource, name, namespace=NAMESPACE):
        return self.request("GET", self.path(resource, name, namespace))

    def list(self, resource, namespace=NAMESPACE, query=None):
        return self.request("GET", self.path(resource, namespace=namespace), query=query)


class WatchStream:
    """Newline-delimited watch events from one streaming response.

    A reader thread blocks on the socket and queues events, so that waiting for an event with a
    timeout never leaves http.client's reader in a timed-out state."""

    _END = object()

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.queue = queue.Queue()
        self.ended = False
        self.closing = False
        self.thread = None
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = resp.read()

    def _read(self):
        try:
            self.conn.sock.settimeout(None)
            while True:
                line = self.resp.readline()
                if not line:
                    break
                if line.strip():
                    self.queue.put(json.loads(line))
        except Exception as e:  # noqa: BLE001 - reported to the reader of the queue
            if not self.closing:
                self.queue.put(e)
        finally:
            self.queue.put(self._END)

    def next_event(self, timeout=5):
        """The next event as a dict, or None at the end of the stream or after `timeout` s."""
        if self.ended:
            return None
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._END:
            self.ended = True
            return None
        if isinstance(item, Exception):
            raise AssertionError(f"watch stream broke: {item!r}")
        return item

    def events(self, count, timeout=10):
        """Up to `count` events, waiting at most `timeout` seconds in all."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ev = self.next_event(left)
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self):
        """Ends the stream: shuts the socket down so the reader thread sees EOF, then closes."""
        self.closing = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        if self.thread is not None:
            self.thread.join(5)
        self.conn.close()


class EtcdMember:
    """One member of an EtcdCluster: its ports, data directory and process."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = f"m{index}"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.data_dir = cluster.workdir / self.name
        self.proc = None
        self.log_path = None
        self.starts = 0

    @property
    def client_url(self):
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"

    def spawn(self, state):
        self.starts += 1
        self.log_path = self.cluster.workdir / f"{self.name}-{self.starts}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.cluster.binary), "--name", self.name, "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", self.cluster.initial_cluster(),
             "--initial-cluster-state", state, "--initial-cluster-token", self.cluster.token,
             "--heartbeat-interval=50", "--election-timeout=500", "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.cluster.workdir)
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _post_json(self, path, body, timeout):
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=timeout)
        try:
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise OSError(f"{self.name} {path}: HTTP {resp.status} {data[:200]!r}")
            return json.loads(data)
        finally:
            conn.close()

    def healthy(self):
        """GET /health says true (the member has a leader and serves reads). Raises if the
        process has exited."""
        if not self.alive():
            raise RuntimeError(f"etcd member {self.name} exited with {self.proc.returncode}:\n"
                               f"{self.log_tail()}")
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=2)
        try:
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read()).get("health") == "true"
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def status(self, timeout=2):
        """etcd's Maintenance.Status through the JSON gateway: ids are decimal strings."""
        return self._post_json("/v3/maintenance/status", {}, timeout)

    def member_id(self):
        return self.status()["header"]["member_id"]

    def kill(self):
        """kill -9."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def log_tail(self, lines=30):
        if not self.log_path or not self.log_path.exists():
            return "(no etcd log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class EtcdCluster:
    """A 1- or 3-member etcd cluster on free loopback ports, data under `workdir`.

    Quick elections (50 ms heartbeats, 500 ms election timeout). kill(i) is kill -9 of member i;
    restart(i) starts it again on its data directory; leader() is the index of the member that
    leads. client_urls() is what --etcd-servers takes."""

    def __init__(self, workdir, members=1, binary=None):
        if members not in (1, 3):
            raise ValueError("an EtcdCluster has 1 or 3 members")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = Path(binary or ETCD_BIN)
        self.size = members
        self.token = f"csdr-it-{os.getpid()}-{time.monotonic_ns()}"
        self.members = []

    def initial_cluster(self):
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def client_urls(self):
        return [m.client_url for m in self.members]

    def start(self, timeout=30):
        if not self.binary.exists():
            raise RuntimeError(f"no etcd binary at {self.binary} (Debian's etcd-server, or "
                               f"CSDR_ETCD_BIN)")
        for attempt in range(3):
            for m in self.members:
                m.kill()
                shutil.rmtree(m.data_dir, ignore_errors=True)
            self.members = [EtcdMember(self, i) for i in range(self.size)]
            # All members at once: a new cluster elects its first leader once a quorum is up.
            for m in self.members:
                m.spawn("new")
            try:
                for m in self.members:
                    wait_for(m.healthy, timeout=timeout, what=f"etcd member {m.name} /health")
                return self
            except (AssertionError, RuntimeError):
                logs = "\n".join(m.log_tail() for m in self.members).lower()
                if attempt == 2 or "address already in use" not in logs:
                    self.stop()
                    raise RuntimeError("etcd did not start:\n" + "\n".join(
                        f"--- {m.name} ---\n{m.log_tail()}" for m in self.members))
                # A port was taken between free_port() and etcd's bind: new ports.
        return self

    def kill(self, index):
        """kill -9 of member `index`."""
        self.members[index].kill()

    def restart(self, index, timeout=30):
        """Starts member `index` again on its data directory and ports; waits for /health."""
        m = self.members[index]
        if m.alive():
            raise RuntimeError(f"etcd member {m.name} is running")
        m.spawn("existing")
        wait_for(m.healthy, timeout=timeout, what=f"restarted etcd member {m.name} /health")

    def leader(self, timeout=15):
        """The index of the leader that every running member agrees on (waits for an election
        in progress to end)."""
        def agreed():
            ids, leaders = {}, set()
            for m in self.members:
                if not m.alive():
                    continue
                try:
                    st = m.status()
                except (OSError, ValueError, http.client.HTTPException):
                    return None
                ids[st["header"]["member_id"]] = m.index
                leaders.add(st.get("leader"))
            if len(leaders) != 1:
                return None
            lead = leaders.pop()
            return (ids[lead],) if lead in ids else None
        return wait_for(agreed, timeout=timeout, what="an etcd leader all members agree on")[0]

    def stop(self):
        for m in self.members:
            m.kill()

    def logs(self):
        return "\n".join(f"----- etcd {m.name} ({m.log_path}), last lines -----\n{m.log_tail()}"
                          for m in self.members)


def obj(kind, name, spec, namespace=NAMESPACE, labels=None, **metadata):
    """A csdr.io/v1alpha1 object as a dict."""
    meta = {"name": name} if name else {}
    if kind != "ClusterProfile":
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    meta.update(metadata)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": meta, "spec": spec}


def cluster_profile():
    return obj("ClusterProfile", "cluster", {"clusterType": "ACKManaged", "regionID": "cn-hangzhou",
                                             "componentVersion": "v1.8.4"})


def vault(name="prod-vault", bucket=None):
    return obj("BackupVault", name, {"bucket": bucket or f"cnfs-oss-{name}", "region": "cn-hangzhou",
                                     "network": "internal"})


def backup(name, vault_name="prod-vault", labels=None):
    return obj("Backup", name, {"vaultName": vault_name, "backupType": "AppBackup",
                                "includedNamespaces": ["shop"], "ttl": "720h"}, labels=labels)


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class ServerTestCase(unittest.TestCase):
    """A test with its own temporary directory; start_server() servers are stopped after it."""

    maxDiff = 4000

    def run(self, result=None):
        self.workdir = Path(tempfile.mkdtemp(prefix=f"csdr-it-{self._testMethodName[:40]}-"))
        self.servers = []
        self.etcds = []
        # Every server of this test on etcd shares this prefix unless told otherwise.
        self.etcd_prefix = f"/csdr-it/{self.workdir.name}"
        before = len(result.failures) + len(result.errors) if result is not None else 0
        try:
            return super().run(result)
        finally:
            for s in self.servers:
                s.stop()
            for e in self.etcds:
                e.stop()
            failed = result is not None and len(result.failures) + len(result.errors) > before
            if failed:
                for i, s in enumerate(self.servers):
                    sys.stderr.write(f"\n----- server {i} log ({s.log_path}), last lines -----\n"
                                     f"{s.log_tail()}\n----- end of server log -----\n")
                for e in self.etcds:
                    sys.stderr.write(f"\n{e.logs()}\n----- end of etcd logs -----\n")
                sys.stderr.write(f"(test files kept in {self.workdir})\n")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def start_etcd(self, members=1):
        """An EtcdCluster in this test's directory, killed after the test (after its servers)."""
        cluster = EtcdCluster(self.workdir / f"etcd{len(self.etcds)}", members)
        self.etcds.append(cluster)
        self.addCleanup(cluster.stop)
        return cluster.start()

    def start_server(self, **kwargs):
        """A Server (kwargs as Server's) started and stopped after the test. With etcd=cluster
        its store is that cluster under this test's etcd prefix."""
        if kwargs.get("etcd") is not None:
            kwargs.setdefault("etcd_prefix", self.etcd_prefix)
        s = Server(self.workdir / f"server{len(self.servers)}", **kwargs)
        self.servers.append(s)
        s.start()
        self.addCleanup(self._stop_and_check, s)
        return s

    def _stop_and_check(self, server):
        """After the test: the server must not have died on its own, and must exit 0 on SIGTERM
        (under a sanitizer build a leak or error report makes that exit code non-zero)."""
        if server.proc is None:
            return
        if not server.expected_exit and server.proc.poll() is not None:
            self.fail(f"csdr-apiserver exited on its own during the test with code "
                      f"{server.proc.returncode}:\n{server.log_tail()}")
        if server.proc.poll() is None:
            code = server.stop()
            if code != 0:
                self.fail(f"csdr-apiserver exited with {code} on SIGTERM:\n{server.log_tail()}")

    # Assertions on metav1.Status errors -----------------------------------------------
    def assertStatus(self, response, code, reasons, what=""):
        """The response is a metav1.Status failure with this code and one of these reasons."""
        if isinstance(reasons, str):
            reasons = (reasons,)
        ctx = f"{what}: " if what else ""
        self.assertEqual(response.status, code, f"{ctx}expected HTTP {code} {reasons}, got {response!r}")
        ctype = response.headers.get("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"),
                        f"{ctx}expected a JSON Status, got Content-Type {ctype!r}: {response!r}")
        try:
            status = response.json()
        except ValueError:
            self.fail(f"{ctx}body is not JSON: {response!r}")
        self.assertEqual(status.get("kind"), "Status", f"{ctx}{response!r}")
        self.assertEqual(status.get("apiVersion"), "v1", f"{ctx}{response!r}")
        self.assertEqual(status.get("status"), "Failure", f"{ctx}{response!r}")
        self.assertEqual(status.get("code"), code, f"{ctx}{response!r}")
        self.assertIn(status.get("reason"), reasons, f"{ctx}{response!r}")
        self.assertTrue(status.get("message"), f"{ctx}Status without a message: {response!r}")
        return status
