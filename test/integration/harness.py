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


def raise_fd_limit():
    """Lets this process and the servers it starts hold thousands of sockets (the 1,000-watch
    test), as a service manager would (systemd's LimitNOFILE): soft limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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
    def __init__(self, workdir, storage="sqlite", data_dir=None, certs=None, extra_args=(),
                 policy=False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.certs = certs or Certs(self.workdir / "certs", self.port)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        if storage == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.storage = f"sqlite://{self.data_dir / 'csdr.db'}"  # sqlite:///abs/path
        else:
            self.storage = storage
        self.extra_args = list(extra_args)
        if not policy:
            self.extra_args.append("--disable-admission-plugins=CSDRPolicy")
        self.proc = None
        self.log_path = None
        self.starts = 0
        self.expected_exit = False

    # --- process control -------------------------------------------------------------
    def args(self):
        return [str(BINARY), "--bind-address", "127.0.0.1", "--secure-port", str(self.port),
                "--tls-cert-file", str(self.certs.serving_cert),
                "--tls-private-key-file", str(self.certs.serving_key),
                "--client-ca-file", str(self.certs.ca),
                "--storage", self.storage, "--v", VERBOSITY] + self.extra_args

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
        before = len(result.failures) + len(result.errors) if result is not None else 0
        try:
            return super().run(result)
        finally:
            for s in self.servers:
                s.stop()
            failed = result is not None and len(result.failures) + len(result.errors) > before
            if failed:
                for i, s in enumerate(self.servers):
                    sys.stderr.write(f"\n----- server {i} log ({s.log_path}), last lines -----\n"
                                     f"{s.log_tail()}\n----- end of server log -----\n")
                sys.stderr.write(f"(test files kept in {self.workdir})\n")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def start_server(self, **kwargs):
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
