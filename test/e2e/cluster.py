"""A real Kubernetes control plane on loopback for end-to-end tests: etcd + kube-apiserver.

What worked on this machine is in ../shared/reference/kube-e2e.md; this module is that recipe as
code. A ControlPlane makes all its certificates with openssl in a temporary directory, starts
etcd and kube-apiserver on free loopback ports, waits for /readyz, writes an admin kubeconfig and
offers kubectl, an HTTP client and helpers to run csdr-apiserver (or any loopback HTTPS server)
behind an ExternalName Service `csdr-apiserver` in namespace `csdr`, as a validating webhook or an
aggregated API.

    with ControlPlane() as cp:                      # or ControlPlaneTestCase below
        cp.kubectl("get", "ns")
        srv = cp.start_csdr_apiserver("--kubeconfig", str(cp.kubeconfig))
        cp.register_webhook(srv.port)

Binaries (run.sh exports them from build_kube.sh; otherwise build_kube.sh is asked, which builds
on the first run and answers from its cache afterwards):
  CSDR_KUBE_APISERVER, CSDR_E2E_KUBECTL, CSDR_ETCD, and CSDR_APISERVER (default build/csdr-apiserver).
Processes are stopped by the pids recorded here, never by name: on stop(), at interpreter exit,
on SIGTERM/SIGINT, and (PR_SET_PDEATHSIG) when the Python process dies. The work directory is
removed after a clean stop and kept, with log tails printed, after a failure
(CSDR_E2E_KEEP=1 keeps it always). Needs Python 3 stdlib and openssl; api_client() needs Debian's
python3-kubernetes (run with /usr/bin/python3).
"""

import atexit
import base64
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILD_KUBE = HERE / "build_kube.sh"

CSDR_NAMESPACE = "csdr"
CSDR_SERVICE = "csdr-apiserver"
CSDR_SANS_DNS = ("localhost", f"{CSDR_SERVICE}.{CSDR_NAMESPACE}.svc",
                 f"{CSDR_SERVICE}.{CSDR_NAMESPACE}.svc.cluster.local")

# Seconds; generous for a loaded 2-core CI machine (kube-apiserver is ready in ~3.5 s idle).
READY_TIMEOUT_S = float(os.environ.get("CSDR_E2E_READY_TIMEOUT", "90"))
STOP_TIMEOUT_S = 10


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- binaries -------------------------------------------------------------------------------

_tools = None


def tools():
    """{'kube_apiserver', 'kubectl', 'etcd'} paths: from the environment, else from build_kube.sh."""
    global _tools
    if _tools is not None:
        return _tools
    env_names = {"kube_apiserver": "CSDR_KUBE_APISERVER", "kubectl": "CSDR_E2E_KUBECTL",
                 "etcd": "CSDR_ETCD"}
    found = {k: os.environ.get(v) for k, v in env_names.items()}
    if not all(found.values()):
        log(f"asking {BUILD_KUBE} for the binaries (builds them on the first run)")
        out = subprocess.run([str(BUILD_KUBE)], stdout=subprocess.PIPE, text=True, check=True).stdout
        paths = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        for k, v in env_names.items():
            found[k] = found[k] or paths.get(v)
    for k, p in found.items():
        if not p or not os.access(p, os.X_OK):
            raise RuntimeError(f"{k} binary not found or not executable: {p!r} (run {BUILD_KUBE})")
    _tools = found
    return _tools


def csdr_apiserver_binary():
    return Path(os.environ.get("CSDR_APISERVER", REPO / "build" / "csdr-apiserver")).resolve()


# --- small utilities ------------------------------------------------------------------------

def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30, interval=0.1, what="condition"):
    """Polls predicate() until it returns a truthy value (returned); AssertionError on timeout,
    naming the last exception predicate raised, if any."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    return "\n".join(text[-lines:])


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the Python process (the thread that started it)
    dies, so a test runner killed with SIGKILL leaves no etcd or kube-apiserver behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()  # own process group: a ^C in the terminal reaches only the test runner


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        body = self.text()
        return f"HTTP {self.status} {body[:600]}{'...' if len(body) > 600 else ''}"


def https_request(host, port, method, path, ca=None, cert=None, body=None, headers=None,
                  timeout=10):
    """One HTTPS request on a new connection, verifying the server against `ca` (None: no
    verification). cert: (crt, key) or None; body: bytes, str or JSON-able."""
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    h = {"Accept": "application/json"}
    if body is not None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def _socket_inodes(pid):
    """The inodes of the sockets process `pid` holds open (from /proc/PID/fd)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def _accepted_socket_inode(server_port, client_port):
    """The inode of the server side of the loopback TCP connection client_port -> server_port
    (/proc/net/tcp); 0 while it is not accepted yet, None when there is no such connection."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(local) and parts[2].endswith(remote):
                return int(parts[9])
    return None


def https_request_to_pid(pid, port, method, path, ca=None, cert=None, body=None, headers=None,
                         timeout=5, tries=40, host="127.0.0.1"):
    """A request answered by process `pid` among several that listen on one loopback `port`
    (SO_REUSEPORT, --permit-port-sharing): connects until the kernel hands a connection to
    `pid` (after the TLS handshake its accepted socket is one of pid's file descriptors), then
    sends the request on that connection. Returns the Response, or None when no connection of
    `tries` reached `pid`. Linux only (/proc)."""
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    h = {"Accept": "application/json", "Connection": "close"}
    if body is not None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    for _ in range(tries):
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
        try:
            conn.connect()
            inode = _accepted_socket_inode(port, conn.sock.getsockname()[1])
            if not inode or inode not in _socket_inodes(pid):
                continue
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()
    return None


# --- certificates ---------------------------------------------------------------------------

class Certs:
    """Every certificate a control plane and csdr-apiserver need, made with openssl in `directory`.

    Attributes (Paths): ca, ca_key (cluster CA: serving and client CA of kube-apiserver);
    apiserver_crt/key (serving, 127.0.0.1 + localhost + kubernetes.default.svc); admin_crt/key
    (CN=admin, O=system:masters); front_proxy_ca, front_proxy_ca_key, front_proxy_client_crt/key
    (CN=front-proxy-client); sa_key, sa_pub (RSA service-account signing pair); csdr_ca,
    csdr_ca_key, csdr_crt, csdr_key (csdr-apiserver's serving certificate: SANs localhost,
    127.0.0.1, csdr-apiserver.csdr.svc, csdr-apiserver.csdr.svc.cluster.local)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        self.ca, self.ca_key = self.make_ca("ca", "csdr-e2e-cluster-ca")
        self.apiserver_crt, self.apiserver_key = self.make_leaf(
            "apiserver", self.ca, self.ca_key, "kube-apiserver", server=True,
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"),
            ips=("127.0.0.1", "10.96.0.1"))
        self.admin_crt, self.admin_key = self.make_leaf(
            "admin", self.ca, self.ca_key, "admin", orgs=("system:masters",))
        self.front_proxy_ca, self.front_proxy_ca_key = self.make_ca("front-proxy-ca",
                                                                     "csdr-e2e-front-proxy-ca")
        self.front_proxy_client_crt, self.front_proxy_client_key = self.make_leaf(
            "front-proxy-client", self.front_proxy_ca, self.front_proxy_ca_key, "front-proxy-client")
        self.sa_key, self.sa_pub = d / "sa.key", d / "sa.pub"
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", self.sa_key)
        self._openssl("pkey", "-in", self.sa_key, "-pubout", "-out", self.sa_pub)
        self.csdr_ca, self.csdr_ca_key = self.make_ca("csdr-ca", "csdr-e2e-csdr-apiserver-ca")
        self.csdr_crt, self.csdr_key = self.make_leaf(
            "csdr-apiserver", self.csdr_ca, self.csdr_ca_key, f"{CSDR_SERVICE}.{CSDR_NAMESPACE}.svc",
            server=True, dns=CSDR_SANS_DNS, ips=("127.0.0.1",))

    def _openssl(self, *args):
        p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {p.stderr}")

    def _key(self, path):
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", path)
        os.chmod(path, 0o600)

    def make_ca(self, name, cn):
        key, crt = self.dir / f"{name}.key", self.dir / f"{name}.crt"
        self._key(key)
        self._openssl("req", "-x509", "-new", "-key", key, "-subj", f"/CN={cn}", "-days", "7",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                      "-out", crt)
        return crt, key

    def make_leaf(self, name, ca, ca_key, cn, orgs=(), server=False, dns=(), ips=()):
        """A key and certificate signed by (ca, ca_key): serverAuth with SANs, or clientAuth."""
        key, crt, csr, ext = (self.dir / f"{name}.{s}" for s in ("key", "crt", "csr", "ext"))
        self._key(key)
        subj = "".join(f"/O={o}" for o in orgs) + f"/CN={cn}"
        self._openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr)
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}"]
        sans = [f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                      "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
                      "-extfile", ext, "-out", crt)
        csr.unlink()
        ext.unlink()
        return crt, key

    def client(self, name, groups=()):
        """A client certificate (CN=name, O=groups) signed by the cluster CA: (crt, key)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        return self.make_leaf(f"user-{safe}", self.ca, self.ca_key, name, orgs=tuple(groups))

    @staticmethod
    def b64(path):
        return base64.b64encode(Path(path).read_bytes()).decode()


# --- processes ------------------------------------------------------------------------------

_live = set()  # every Process still running, for the exit and signal handlers
_live_lock = threading.Lock()


class Process:
    """One child process with its log file, stopped by its recorded pid."""

    def __init__(self, name, args, log_path, cwd=None, env=None):
        self.name = name
        self.args = [str(a) for a in args]
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as logf:
            logf.write(f"$ {' '.join(self.args)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(self.args, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                                         preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        with _live_lock:
            _live.add(self)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM to the recorded pid, SIGKILL after `timeout` s. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with _live_lock:
            _live.discard(self)
        return self.proc.returncode

    def log_tail(self, lines=40):
        return tail(self.log_path, lines)


def _stop_all_live():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            p.stop(timeout=3)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all_live)


_control_planes = set()  # started and not yet stopped, for the signal handler's report


def _on_signal(signum, frame):
    log(f"signal {signum}: stopping {len(_live)} e2e processes by pid")
    for cp in list(_control_planes):
        try:
            cp.print_logs(lines=20)
        except Exception:  # noqa: BLE001 - best effort while being killed
            pass
    _stop_all_live()
    for cp in list(_control_planes):
        log(f"kept {cp.workdir} (interrupted)")
    os._exit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_signal)


# --- servers behind the cluster -------------------------------------------------------------

class CsdrServer:
    """csdr-apiserver on a free loopback port (or on `port`, e.g. one shared by replicas that run
    with --permit-port-sharing). `port`, `url`, `process`, `log_tail()`, `stop()`; start() again
    after stop() restarts it on the same fixed port (the log file is appended to)."""

    def __init__(self, cp, workdir, extra_args=(), storage=None, client_ca=None, port=None):
        self.cp = cp
        self.workdir = Path(workdir)
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self.binary = csdr_apiserver_binary()
        self.storage = storage or f"sqlite://{self.workdir / 'data' / 'csdr.db'}"
        self.client_ca = client_ca or cp.certs.ca
        self.extra_args = [str(a) for a in extra_args]
        self.fixed_port = port
        self.port = port
        self.process = None

    def args(self):
        c = self.cp.certs
        return [self.binary, "--bind-address", "127.0.0.1", "--secure-port", self.port,
                "--tls-cert-file", c.csdr_crt, "--tls-private-key-file", c.csdr_key,
                "--client-ca-file", self.client_ca, "--storage", self.storage,
                "--v", os.environ.get("CSDR_E2E_VERBOSITY", "2")] + self.extra_args

    def start(self, timeout=30):
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} does not exist: build it (make build) or set CSDR_APISERVER")
        for attempt in range(3):
            self.port = self.fixed_port or free_port()
            self.process = Process("csdr-apiserver", self.args(),
                                   self.workdir / "csdr-apiserver.log", cwd=self.workdir)
            try:
                wait_for(self._ready, timeout=timeout, interval=0.05, what="csdr-apiserver /readyz")
                log(f"csdr-apiserver ready on 127.0.0.1:{self.port} (pid {self.process.pid})")
                return self
            except (AssertionError, RuntimeError):
                tail_text = self.process.log_tail()
                self.process.stop()
                if attempt < 2 and not self.fixed_port and "in use" in tail_text.lower():
                    continue  # someone took the port between free_port() and bind()
                raise RuntimeError(f"csdr-apiserver did not become ready:\n{tail_text}")
        return self

    def _ready(self):
        if not self.process.alive():
            raise RuntimeError(f"csdr-apiserver exited with {self.process.proc.returncode}")
        return self.request("GET", "/readyz", cert=None, timeout=2).status == 200

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def request(self, method, path, cert="admin", **kw):
        """A request straight to csdr-apiserver (not through kube-apiserver); cert "admin" is the
        cluster admin certificate, None none, or a (crt, key) pair."""
        if cert == "admin":
            cert = (self.cp.certs.admin_crt, self.cp.certs.admin_key)
        return https_request("127.0.0.1", self.port, method, path, ca=self.cp.certs.csdr_ca,
                             cert=cert, **kw)

    def log_tail(self, lines=40):
        return self.process.log_tail(lines) if self.process else "(not started)"

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, SIGKILL after `timeout` s (give a --shutdown-delay-duration plus the drain)."""
        return self.process.stop(timeout) if self.process else None


# --- the control plane ----------------------------------------------------------------------

class ControlPlane:
    """etcd + kube-apiserver on loopback, with certificates, an admin kubeconfig and helpers.

    Attributes after start(): workdir, certs (Certs), port, url, etcd_port, kubeconfig (admin),
    etcd and apiserver (Process)."""

    def __init__(self, workdir=None, apiserver_args=(), name="cp"):
        self.name = name
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"csdr-e2e-{name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.apiserver_args = [str(a) for a in apiserver_args]
        self.tools = tools()
        self.certs = None
        self.port = self.etcd_port = None
        self.etcd = self.apiserver = None
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.servers = []  # CsdrServer and other helpers with stop()/log_tail(), stopped first
        self.failed = False
        self.started_s = None

    # -- lifecycle --
    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(keep=exc_type is not None)
        return False

    def start(self):
        t0 = time.monotonic()
        _control_planes.add(self)
        try:
            self.certs = Certs(self.workdir / "pki")
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig(self.kubeconfig, self.certs.admin_crt, self.certs.admin_key)
        except BaseException:
            self.failed = True
            log(f"control plane {self.name} did not start")
            self.stop(keep=True)
            raise
        self.started_s = time.monotonic() - t0
        log(f"control plane {self.name} ready in {self.started_s:.1f}s: {self.url}, "
            f"KUBECONFIG={self.kubeconfig}")
        return self

    def _start_etcd(self):
        etcd = self.tools["etcd"]
        version = subprocess.run([etcd, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"etcd Version: (\d+)\.(\d+)", version)
        modern = bool(m) and (int(m.group(1)), int(m.group(2))) >= (3, 5)
        for attempt in range(3):
            self.etcd_port, peer = free_port(), free_port()
            client_url, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer}"
            data = self.workdir / "etcd-data"
            shutil.rmtree(data, ignore_errors=True)
            args = [etcd, "--name", "e2e", "--data-dir", data,
                    "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                    "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                    "--initial-cluster", f"e2e={peer_url}", "--log-level", "warn"]
            if modern:
                args.append("--unsafe-no-fsync")  # test data: no fsync (etcd 3.5+)
            self.etcd = Process("etcd", args, self.workdir / "etcd.log", cwd=self.workdir)
            try:
                wait_for(self._etcd_healthy, timeout=READY_TIMEOUT_S, what="etcd /health")
                return
            except (AssertionError, RuntimeError):
                text = self.etcd.log_tail()
                self.etcd.stop()
                if attempt < 2 and "in use" in text:
                    continue
                raise RuntimeError(f"etcd did not become healthy:\n{text}")

    def _etcd_healthy(self):
        if not self.etcd.alive():
            raise RuntimeError(f"etcd exited with {self.etcd.proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", self.etcd_port, timeout=2)
        try:
            conn.request("GET", "/health")
            body = conn.getresponse().read()
        finally:
            conn.close()
        return json.loads(body).get("health") == "true"

    def _apiserver_args(self):
        c = self.certs
        return [self.tools["kube_apiserver"],
                "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
                "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                "--secure-port", self.port,
                "--tls-cert-file", c.apiserver_crt, "--tls-private-key-file", c.apiserver_key,
                "--client-ca-file", c.ca,
                "--authorization-mode", "Node,RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", c.sa_pub,
                "--service-account-signing-key-file", c.sa_key,
                "--service-cluster-ip-range", "10.96.0.0/24",
                "--requestheader-client-ca-file", c.front_proxy_ca,
                "--requestheader-allowed-names", "front-proxy-client",
                "--requestheader-username-headers", "X-Remote-User",
                "--requestheader-group-headers", "X-Remote-Group",
                "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
                "--proxy-client-cert-file", c.front_proxy_client_crt,
                "--proxy-client-key-file", c.front_proxy_client_key,
                "--disable-admission-plugins", "ServiceAccount",
                ] + self.apiserver_args

    def _start_apiserver(self):
        for attempt in range(3):
            self.port = free_port()
            self.apiserver = Process("kube-apiserver", self._apiserver_args(),
                                     self.workdir / "kube-apiserver.log", cwd=self.workdir)
            try:
                wait_for(self._apiserver_ready, timeout=READY_TIMEOUT_S, interval=0.2,
                         what="kube-apiserver /readyz")
                return
            except (AssertionError, RuntimeError) as e:
                text = self.apiserver.log_tail()
                self.apiserver.stop()
                if attempt < 2 and "address already in use" in text:
                    continue
                raise RuntimeError(f"kube-apiserver did not become ready ({e}):\n{text}")

    def _apiserver_ready(self):
        if not self.apiserver.alive():
            raise RuntimeError(f"kube-apiserver exited with {self.apiserver.proc.returncode}")
        r = self.request("GET", "/readyz", timeout=3)
        return r.status == 200 and r.body.strip() == b"ok"

    def stop(self, keep=None):
        """Stops every process started here (csdr servers first) by pid. The work directory is
        removed unless keep (default: keep after a failure, or with CSDR_E2E_KEEP=1); a kept one
        gets its log tails printed."""
        if keep is None:
            keep = self.failed
        keep = keep or os.environ.get("CSDR_E2E_KEEP") == "1"
        if keep and self.failed:
            self.print_logs()  # as they were at the failure, before the shutdown noise
        for s in reversed(self.servers):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001
                log(f"stopping {s!r}: {e!r}")
        for p in (self.apiserver, self.etcd):
            if p is not None:
                p.stop()
        _control_planes.discard(self)
        if keep:
            log(f"kept {self.workdir}")
        elif self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def print_logs(self, lines=40):
        parts = [(p.name, p.log_path) for p in (self.etcd, self.apiserver) if p]
        for s in self.servers:
            proc = getattr(s, "process", None)
            if proc is not None:
                parts.append((proc.name, proc.log_path))
        for name, path in parts:
            print(f"----- {name}: last {lines} lines of {path}", file=sys.stderr)
            print(tail(path, lines), file=sys.stderr)
        sys.stderr.flush()

    # -- clients --
    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def _write_kubeconfig(self, path, crt, key, namespace="default"):
        user = Path(crt).stem
        path.write_text(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Config
            clusters:
            - name: e2e
              cluster:
                server: {self.url}
                certificate-authority: {self.certs.ca}
            users:
            - name: {user}
              user:
                client-certificate: {crt}
                client-key: {key}
            contexts:
            - name: {user}@e2e
              context: {{cluster: e2e, user: {user}, namespace: {namespace}}}
            current-context: {user}@e2e
            """))
        os.chmod(path, 0o600)
        return path

    def user_kubeconfig(self, name, groups=()):
        """A kubeconfig for a client-certificate user CN=name, O=groups (for RBAC tests)."""
        crt, key = self.certs.client(name, groups)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        return self._write_kubeconfig(self.workdir / f"{safe}.kubeconfig", crt, key)

    def kubectl(self, *args, check=True, input=None, timeout=60, kubeconfig=None, kubectl=None):
        """Runs kubectl (the built 1.36 one, or `kubectl`) against this cluster; returns the
        CompletedProcess (text). check=True raises AssertionError with the output on non-zero."""
        cmd = [str(kubectl or self.tools["kubectl"]), "--kubeconfig", str(kubeconfig or self.kubeconfig),
               *map(str, args)]
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])} exited {p.returncode}:\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def apply(self, yaml_text, *args, **kw):
        """kubectl apply -f - with yaml_text (a str, or a dict / list of dicts as JSON)."""
        if not isinstance(yaml_text, str):
            items = yaml_text if isinstance(yaml_text, list) else [yaml_text]
            yaml_text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        return self.kubectl("apply", "-f", "-", *args, input=yaml_text, **kw)

    def request(self, method, path, body=None, headers=None, cert="admin", timeout=10):
        """A request to kube-apiserver; cert "admin" (default), None, or a (crt, key) pair."""
        if cert == "admin":
            cert = (self.certs.admin_crt, self.certs.admin_key)
        return https_request("127.0.0.1", self.port, method, path, ca=self.certs.ca, cert=cert,
                             body=body, headers=headers, timeout=timeout)

    def api_client(self, kubeconfig=None):
        """A python3-kubernetes ApiClient for this cluster (Debian's python3-kubernetes)."""
        try:
            from kubernetes import config
        except ImportError as e:
            raise unittest.SkipTest(f"python3-kubernetes is not importable by {sys.executable}: {e}")
        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    # -- our server and the routes to it --
    def start_csdr_apiserver(self, *extra_args, storage=None, client_ca=None, timeout=30,
                             port=None, server_class=None):
        """Starts csdr-apiserver (CSDR_APISERVER or build/csdr-apiserver) on a free loopback port
        (or `port`) with the csdr serving certificate, --client-ca-file the cluster CA (or
        client_ca), SQLite in its own directory, and extra_args (e.g. "--kubeconfig",
        cp.kubeconfig). Waits for /readyz; stopped with the control plane. server_class: a
        CsdrServer subclass."""
        n = sum(1 for s in self.servers if isinstance(s, CsdrServer)) + 1
        srv = (server_class or CsdrServer)(self, self.workdir / f"csdr-apiserver-{n}", extra_args,
                                           storage, client_ca, port=port)
        self.servers.append(srv)
        return srv.start(timeout)

    def adopt(self, server):
        """Stops `server` (anything with stop(); log_tail()/process optional) with the control plane."""
        self.servers.append(server)
        return server

    def expose_on_loopback(self, name=CSDR_SERVICE, namespace=CSDR_NAMESPACE):
        """Namespace `namespace` and an ExternalName Service `name` -> localhost, through which
        kube-apiserver reaches a server on 127.0.0.1:<the port named by the webhook/APIService>."""
        self.apply(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Namespace
            metadata: {{name: {namespace}}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {{name: {name}, namespace: {namespace}}}
            spec: {{type: ExternalName, externalName: localhost}}
            """))

    def register_webhook(self, port, name="validate.csdr.io", path="/validate", rules=None,
                         namespace_selector=None, object_selector=None, failure_policy="Fail",
                         timeout_seconds=10, config_name="csdr-apiserver", ca_bundle_file=None,
                         service=CSDR_SERVICE, namespace=CSDR_NAMESPACE):
        """Applies a ValidatingWebhookConfiguration `config_name` with one webhook `name` that
        calls https://<service>.<namespace>.svc:<port><path> (the ExternalName Service made by
        expose_on_loopback, called here first) with the csdr CA as caBundle. Default rules:
        CREATE, UPDATE and DELETE of Namespaces and Secrets. kube-apiserver picks the
        configuration up asynchronously: wait with wait_for on a dry-run request."""
        self.expose_on_loopback(service, namespace)
        if rules is None:
            rules = [{"apiGroups": [""], "apiVersions": ["v1"],
                      "operations": ["CREATE", "UPDATE", "DELETE"],
                      "resources": ["namespaces", "secrets"], "scope": "*"}]
        hook = {
            "name": name,
            "clientConfig": {"service": {"name": service, "namespace": namespace, "port": port,
                                         "path": path},
                             "caBundle": Certs.b64(ca_bundle_file or self.certs.csdr_ca)},
            "rules": rules,
            "failurePolicy": failure_policy,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "timeoutSeconds": timeout_seconds,
        }
        if namespace_selector is not None:
            hook["namespaceSelector"] = namespace_selector
        if object_selector is not None:
            hook["objectSelector"] = object_selector
        self.apply({"apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingWebhookConfiguration",
                    "metadata": {"name": config_name}, "webhooks": [hook]})

    def register_apiservice(self, port, group="csdr.io", version="v1alpha1",
                            service=CSDR_SERVICE, namespace=CSDR_NAMESPACE, ca_bundle_file=None,
                            wait=True, timeout=60):
        """Applies APIService <version>.<group> -> the ExternalName Service on `port`, with the
        csdr CA as caBundle; with wait, waits for Available=True. Returns the APIService name."""
        self.expose_on_loopback(service, namespace)
        name = f"{version}.{group}"
        self.apply({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                    "metadata": {"name": name},
                    "spec": {"group": group, "version": version,
                             "service": {"name": service, "namespace": namespace, "port": port},
                             "caBundle": Certs.b64(ca_bundle_file or self.certs.csdr_ca),
                             "groupPriorityMinimum": 1000, "versionPriority": 15}})
        if wait:
            self.wait_apiservice_available(name, timeout)
        return name

    def wait_apiservice_available(self, name, timeout=60):
        def available():
            r = self.request("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
            conds = r.json().get("status", {}).get("conditions", []) if r.status == 200 else []
            return any(c.get("type") == "Available" and c.get("status") == "True" for c in conds)
        try:
            wait_for(available, timeout=timeout, interval=0.2, what=f"APIService {name} Available")
        except AssertionError:
            r = self.request("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
            raise AssertionError(f"APIService {name} not Available after {timeout}s: {r!r}")


# --- unittest glue --------------------------------------------------------------------------

class ControlPlaneTestCase(unittest.TestCase):
    """One ControlPlane per test class (self.cp / cls.cp), started in setUpClass and stopped in
    tearDownClass; its files are kept and its log tails printed when any test of the class failed.
    Subclasses may set APISERVER_ARGS."""

    APISERVER_ARGS = ()
    cp = None
    _class_failed = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._class_failed = False
        cls.cp = ControlPlane(apiserver_args=cls.APISERVER_ARGS, name=cls.__name__).start()

    @classmethod
    def tearDownClass(cls):
        if cls.cp is not None:
            cls.cp.stop(keep=cls._class_failed)
            cls.cp = None
        super().tearDownClass()

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            type(self)._class_failed = True
            if self.cp is not None:
                self.cp.failed = True
        return out
