"""Two csdr-apiserver replicas on etcd behind the APIService, restarted one after the other while a
client reads and writes through kube-apiserver (issue 13, "An HA e2e test with the real
kube-apiserver").

Layout: both replicas use the control plane's own etcd (the one kube-apiserver uses) under their
own prefix, listen on ONE loopback port with --permit-port-sharing (SO_REUSEPORT: the kernel
spreads new connections over the listening sockets), and sit behind the APIService registered
from manifests/ through test_aggregation's e2e overlay (ExternalName Service -> localhost:PORT,
the delegated-auth flags, RBAC). kube-aggregator therefore proxies every csdr.io request over
its pooled HTTP/1.1 connections to whichever replica accepted each connection.

While writer threads create BackupVaults, get them, list their latest batch and patch a label
through kube-apiserver (plain HTTPS with the admin certificate, one keep-alive connection per
thread, no client-side retries), replica 1 gets SIGTERM (--shutdown-delay-duration: /readyz 503
while it still serves, then it stops accepting and drains), is started again on the same port
and waited for (ITS /readyz: cluster.https_request_to_pid finds a connection the kernel handed
to that process), then the same for replica 2. A poller watches the APIService's Available
condition the whole time.

Asserted: every acknowledged create is there at the end with its last acknowledged label (read
through the cluster and from each replica directly, which must agree); the APIService never
left Available; reads never went back in time (a GET after an acknowledged create, a consistent
list after acknowledged creates); no request failed, except at most STOP_RACE_BOUND per replica
stop of one known kind (STOP_RACE_BOUND, now 0: see there for the cause that was fixed). Every
failure is printed with its phase, status, message and whether it reached the store.
"""

import http.client
import json
import os
import re
import signal
import ssl
import tempfile
import threading
import time
import unittest
import urllib.parse
from collections import Counter
from pathlib import Path

from cluster import (ControlPlaneTestCase, CsdrServer, Response, csdr_apiserver_binary,
                     free_port, https_request_to_pid, log, wait_for)
from test_aggregation import kubectl_kustomize_overlay

REPO = Path(__file__).resolve().parents[2]
API = "/apis/csdr.io/v1alpha1"
VAULTS = f"{API}/namespaces/csdr/backupvaults"
APISERVICE = "v1alpha1.csdr.io"

SHUTDOWN_DELAY_S = 3   # --shutdown-delay-duration of each replica
WARMUP_S = 3           # client traffic before the first SIGTERM
SETTLE_S = 3           # client traffic after a replica is ready again (before the next SIGTERM)
WRITERS = 4            # client threads (so that kube-aggregator pools more than one connection)
BATCH = 20             # objects per label batch; the lists read the writer's current batch


# How many requests may fail at each replica's stop: none. Before the server's fix (TlsServer
# closed every connection between requests at the end of --shutdown-delay-duration), 14 of
# ~5,000-7,500 requests per run failed at that instant over 17 runs: creates and patches that
# kube-aggregator had written on a pooled keep-alive connection the server closed unread (503
# "error trying to reach service: EOF | broken pipe | use of closed network connection"; Go's
# transport retries only idempotent requests). Now a stopping server answers the next request
# on such a connection with "Connection: close" and closes idle ones after a 1 s grace
# (Loop::BeginStop, HandBack in apiserver/server/tls_server.cc). The failures of that kind
# are still told apart in the report, should they come back.
STOP_RACE_BOUND = 0
STOP_RACE_ERRORS = ("EOF", "write: broken pipe", "use of closed network connection",
                    "read: connection reset by peer", "write: connection reset by peer")


def is_stop_race(f):
    what = f["what"]
    prefix = "HTTP 503: error trying to reach service: "
    return (re.fullmatch(r"replica \d stopping", f["phase"]) is not None
            and f["op"] in ("create", "patch") and not f.get("applied")
            and what.startswith(prefix) and what.endswith(STOP_RACE_ERRORS))


class Replica(CsdrServer):
    """A replica on the shared port: ready means THIS process's /readyz says 200."""

    def readyz(self, timeout=2):
        return https_request_to_pid(self.process.pid, self.port, "GET", "/readyz",
                                    ca=self.cp.certs.csdr_ca, timeout=timeout)

    def direct(self, method, path, body=None, timeout=10):
        """A request this process answers, as the cluster admin (client certificate)."""
        c = self.cp.certs
        return https_request_to_pid(self.process.pid, self.port, method, path, ca=c.csdr_ca,
                                    cert=(c.admin_crt, c.admin_key), body=body, timeout=timeout)

    def _ready(self):
        if not self.process.alive():
            raise RuntimeError(f"csdr-apiserver exited with {self.process.proc.returncode}")
        r = self.readyz()
        return r is not None and r.status == 200


class Clock:
    """Seconds since the test's start, and the phase the main thread is in (for the records)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.phase = "setup"

    def now(self):
        return time.monotonic() - self.t0


class KubeClient:
    """One keep-alive HTTPS connection to kube-apiserver as the admin; no retries: whatever
    goes wrong is returned (status) or raised (transport) to the caller, which records it."""

    def __init__(self, cp):
        self.cp = cp
        self.ctx = ssl.create_default_context(cafile=str(cp.certs.ca))
        self.ctx.load_cert_chain(str(cp.certs.admin_crt), str(cp.certs.admin_key))
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json"):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.cp.port, timeout=30,
                                                    context=self.ctx)
        headers = {"Accept": "application/json"}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        if (r.getheader("Connection") or "").lower() == "close":
            self.close()
        return Response(r.status, r.headers, data)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def message_of(resp):
    try:
        return resp.json().get("message") or resp.text()
    except ValueError:
        return resp.text()


def gen_of(obj):
    return int(obj["metadata"].get("labels", {}).get("gen", "-1"))


class Writer(threading.Thread):
    """Loops: create vault ha-W-I (label gen=0), GET it, merge-patch gen+1 on one of its
    acknowledged vaults, and every third round list its current batch (consistent list)."""

    def __init__(self, index, cp, clock, stop, failures, anomalies):
        super().__init__(name=f"writer-{index}", daemon=True)
        self.index = index
        self.client = KubeClient(cp)
        self.clock = clock
        self.stop = stop
        self.failures = failures        # shared with the other writers (list.append is atomic)
        self.anomalies = anomalies
        self.acked = {}                 # name -> last acknowledged gen
        self.attempted = {}             # name -> highest gen ever sent
        self.unacked_creates = set()    # creates that failed: the object may or may not exist
        self.requests = []              # (t, phase, op, ok) of every request

    def call(self, op, method, path, body=None, content_type="application/json", expect=(200,),
             name=None, gen=None):
        t = self.clock.now()
        phase = self.clock.phase
        try:
            r = self.client.request(method, path, body, content_type)
        except Exception as e:  # noqa: BLE001 - a transport failure is a failed request
            self.record(t, phase, op, f"{type(e).__name__}: {e}", name, gen)
            return None
        if r.status not in expect:
            self.record(t, phase, op, f"HTTP {r.status}: {message_of(r)[:300]}", name, gen)
            return None
        self.requests.append((t, phase, op, True))
        return r

    def record(self, t, phase, op, what, name, gen):
        self.requests.append((t, phase, op, False))
        self.failures.append({"t": round(t, 2), "phase": phase, "writer": self.index, "op": op,
                              "what": what.strip(), "name": name, "gen": gen})

    def anomaly(self, what):
        self.anomalies.append(f"t={self.clock.now():.2f} [{self.clock.phase}] "
                              f"writer {self.index}: {what}")

    def run(self):
        i = 0
        w = self.index
        while not self.stop.is_set():
            name = f"ha-{w}-{i}"
            batch = f"{w}-{i // BATCH}"
            vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                     "metadata": {"name": name, "namespace": "csdr",
                                  "labels": {"writer": str(w), "batch": batch, "gen": "0"}},
                     "spec": {"bucket": f"cnfs-oss-ha-{w}-{i}", "region": "cn-hangzhou"}}
            self.attempted[name] = 0
            if self.call("create", "POST", VAULTS, vault, expect=(201,), name=name, gen=0) is not None:
                self.acked[name] = 0
                r = self.call("get", "GET", f"{VAULTS}/{name}", name=name)
                if r is not None and gen_of(r.json()) != 0:
                    self.anomaly(f"GET {name} after its create: gen {gen_of(r.json())}")
            else:
                self.unacked_creates.add(name)
            if self.acked:
                # Patch the newest acknowledged vault most of the time, an older one sometimes.
                names = list(self.acked)
                target = names[-1] if i % 4 else names[(i * 7) % len(names)]
                g = self.attempted[target] + 1
                self.attempted[target] = g
                patch = {"metadata": {"labels": {"gen": str(g)}}}
                r = self.call("patch", "PATCH", f"{VAULTS}/{target}", patch,
                              content_type="application/merge-patch+json", name=target, gen=g)
                if r is not None:
                    if gen_of(r.json()) != g:
                        self.anomaly(f"PATCH {target} gen={g} answered gen {gen_of(r.json())}")
                    self.acked[target] = g
            if i % 3 == 2:
                before = {n: g for n, g in self.acked.items()
                          if n.startswith(f"ha-{w}-") and int(n.split("-")[2]) // BATCH == i // BATCH}
                sel = urllib.parse.quote(f"writer={w},batch={batch}")
                r = self.call("list", "GET", f"{VAULTS}?labelSelector={sel}", name=f"batch {batch}")
                if r is not None:
                    got = {o["metadata"]["name"]: gen_of(o) for o in r.json()["items"]}
                    for n, g in before.items():
                        if n not in got:
                            self.anomaly(f"list of batch {batch} misses acknowledged {n}")
                        elif got[n] < g:
                            self.anomaly(f"list of batch {batch}: {n} gen {got[n]} < acked {g}")
            i += 1
        self.client.close()


class ApiServicePoller(threading.Thread):
    """Reads the APIService every 0.2 s; records every reading that is not Available=True."""

    def __init__(self, cp, clock, stop):
        super().__init__(name="apiservice-poller", daemon=True)
        self.client = KubeClient(cp)
        self.clock = clock
        self.stop = stop
        self.polls = 0
        self.not_available = []  # (t, phase, status, reason, message) or (t, phase, error)

    def run(self):
        while not self.stop.is_set():
            t, phase = self.clock.now(), self.clock.phase
            self.polls += 1
            try:
                r = self.client.request("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
                if r.status != 200:
                    self.not_available.append((round(t, 2), phase, f"HTTP {r.status}"))
                else:
                    conds = [c for c in r.json().get("status", {}).get("conditions", [])
                             if c.get("type") == "Available"]
                    c = conds[0] if conds else {}
                    if c.get("status") != "True":
                        self.not_available.append((round(t, 2), phase, c.get("status"),
                                                   c.get("reason"), c.get("message")))
            except Exception as e:  # noqa: BLE001
                self.not_available.append((round(t, 2), phase, f"{type(e).__name__}: {e}"))
            self.stop.wait(0.2)
        self.client.close()


def vault_requests(replica):
    """How many backupvaults requests this replica answered (apiserver_request_total, from its
    own /metrics); None when it cannot be read."""
    r = replica.direct("GET", "/metrics")
    if r is None or r.status != 200:
        return None
    total = 0.0
    for line in r.text().splitlines():
        m = re.match(r"apiserver_request_total\{([^}]*)\} ([0-9.eE+]+)$", line)
        if m and 'resource="backupvaults"' in m.group(1):
            total += float(m.group(2))
    return int(total)


def established_connections(pid, port):
    """TCP connections to local `port` that process `pid` holds (accepted, ESTABLISHED)."""
    fds = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            fds.add(int(link[8:-1]))
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(f":{port:04X}") and parts[3] == "01" and int(parts[9]) in fds:
                n += 1
    return n


@unittest.skipUnless(csdr_apiserver_binary().exists() or os.environ.get("CSDR_E2E_REQUIRE_BINARY"),
                     f"{csdr_apiserver_binary()} is not built")
class HaRollingRestartTest(ControlPlaneTestCase):

    def replica_args(self):
        cp = self.cp
        c = cp.certs
        return ("--kubeconfig", cp.kubeconfig,
                "--authentication-kubeconfig", cp.kubeconfig,
                "--authorization-kubeconfig", cp.kubeconfig,
                "--requestheader-client-ca-file", c.front_proxy_ca,
                "--requestheader-allowed-names", "front-proxy-client",
                "--requestheader-username-headers", "X-Remote-User",
                "--requestheader-group-headers", "X-Remote-Group",
                "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
                # The control plane's etcd, under a prefix of our own.
                "--etcd-servers", f"http://127.0.0.1:{cp.etcd_port}",
                "--etcd-prefix", "/csdr-ha",
                "--permit-port-sharing",
                "--shutdown-delay-duration", f"{SHUTDOWN_DELAY_S}s")

    def test_rolling_restart_of_two_replicas_on_one_port(self):
        cp = self.cp
        t_start = time.monotonic()
        port = free_port()
        replicas = [cp.start_csdr_apiserver(*self.replica_args(), port=port, server_class=Replica,
                                            timeout=60) for _ in range(2)]
        self.assertNotEqual(replicas[0].process.pid, replicas[1].process.pid)

        overlay = Path(tempfile.mkdtemp(prefix="csdr-e2e-overlay-", dir=cp.workdir))
        kubectl_kustomize_overlay(overlay, port, cp.certs.csdr_ca)
        cp.kubectl("apply", "-k", overlay)
        cp.wait_apiservice_available(APISERVICE, timeout=60)
        wait_for(lambda: cp.kubectl("api-resources", "--api-group=csdr.io", "-o", "name",
                                    check=False).stdout.count(".csdr.io") >= 5,
                 timeout=60, interval=0.5, what="csdr.io in the cluster's discovery")
        cp.kubectl("apply", "-f", REPO / "manifests" / "examples" / "clusterprofiles" / "ackmanaged.yaml")
        # Both replicas' rule caches hold the ClusterProfile (CSDR-DEP-003 passes on each).
        probe = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "ha-probe", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-ha-probe", "region": "cn-hangzhou"}}
        for n, rep in enumerate(replicas, 1):
            wait_for(lambda: getattr(rep.direct("POST", f"{VAULTS}?dryRun=All", probe), "status", 0) == 201,
                     timeout=30, interval=0.2, what=f"replica {n} to admit a vault (dry run)")
        log(f"HA setup done in {time.monotonic() - t_start:.1f}s; replicas on 127.0.0.1:{port} "
            f"pids {[r.process.pid for r in replicas]}")

        clock = Clock()
        stop = threading.Event()
        failures, anomalies = [], []
        writers = [Writer(w, cp, clock, stop, failures, anomalies) for w in range(WRITERS)]
        poller = ApiServicePoller(cp, clock, stop)
        timeline = []  # (t, event)

        def event(what):
            timeline.append((round(clock.now(), 2), what))
            log(f"HA t={clock.now():.1f}s {what}")

        try:
            clock.phase = "warmup"
            poller.start()
            for w in writers:
                w.start()
            time.sleep(WARMUP_S)
            for n, rep in enumerate(replicas, 1):
                served = vault_requests(rep)
                event(f"replica {n} (pid {rep.process.pid}) answered {served} backupvaults "
                      f"requests so far; {established_connections(rep.process.pid, port)} "
                      f"connections open")
                # SIGTERM: /readyz of this process turns 503 while it still serves requests.
                clock.phase = f"replica {n} shutdown delay"
                t_term = time.monotonic()
                rep.process.proc.send_signal(signal.SIGTERM)
                event(f"SIGTERM replica {n} (pid {rep.process.pid})")
                wait_for(lambda: (x := rep.readyz()) is not None and x.status == 503,
                         timeout=SHUTDOWN_DELAY_S, interval=0.1,
                         what=f"replica {n}'s /readyz to answer 503 in its shutdown delay")
                r = rep.direct("GET", f"{VAULTS}?limit=1")
                self.assertTrue(r is not None and r.status == 200,
                                f"replica {n} during its shutdown delay: {r!r}")
                event(f"replica {n} in its delay: its /readyz 503, a list through it 200")
                time.sleep(max(0.0, t_term + SHUTDOWN_DELAY_S - 0.4 - time.monotonic()))
                in_delay = vault_requests(rep)
                if served is not None and in_delay is not None:
                    in_delay -= served + 1
                event(f"replica {n} answered {in_delay} client requests in its delay; "
                      f"{established_connections(rep.process.pid, port)} connections open")
                clock.phase = f"replica {n} stopping"
                code = rep.process.proc.wait(timeout=SHUTDOWN_DELAY_S + 20)
                rep.stop()
                event(f"replica {n} exited {code} after {time.monotonic() - t_term:.1f}s")
                self.assertEqual(code, 0, rep.log_tail())
                clock.phase = f"replica {n} starting"
                t_up = time.monotonic()
                rep.start(timeout=60)
                event(f"replica {n} ready again (pid {rep.process.pid}) in "
                      f"{time.monotonic() - t_up:.1f}s")
                clock.phase = f"after replica {n}"
                time.sleep(SETTLE_S)
        finally:
            stop.set()
            for th in writers + [poller]:
                th.join(timeout=60)
        event("clients stopped")

        # -- what the client saw --
        total = sum(len(w.requests) for w in writers)
        by_phase = Counter(p for w in writers for (_, p, _, _) in w.requests)
        ops = Counter(op for w in writers for (_, _, op, _) in w.requests)
        log(f"HA: {total} requests through kube-apiserver {dict(ops)}; by phase {dict(by_phase)}")
        log(f"HA: {len(failures)} failed requests, {len(anomalies)} anomalies, APIService polled "
            f"{poller.polls} times, not Available {len(poller.not_available)} times")
        for f in failures:
            log(f"HA failed request: {f}")
        for a in anomalies:
            log(f"HA anomaly: {a}")
        for na in poller.not_available:
            log(f"HA APIService not Available: {na}")
        for t, what in timeline:
            log(f"HA timeline t={t}: {what}")

        # -- nothing acknowledged is lost: through the cluster and from each replica directly --
        acked, attempted, unacked = {}, {}, set()
        for w in writers:
            acked.update(w.acked)
            attempted.update(w.attempted)
            unacked |= w.unacked_creates

        def stored(get):
            items, cont = {}, ""
            while True:
                q = "?limit=500" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
                r = get(f"{VAULTS}{q}")
                self.assertEqual(r.status, 200, r)
                body = r.json()
                items.update({o["metadata"]["name"]: gen_of(o) for o in body["items"]})
                cont = body["metadata"].get("continue")
                if not cont:
                    return items

        views = {"through kube-apiserver": stored(lambda p: cp.request("GET", p, timeout=30))}
        for n, rep in enumerate(replicas, 1):
            views[f"replica {n} directly"] = stored(lambda p, rep=rep: rep.direct("GET", p, timeout=30))
        for where, items in views.items():
            lost = sorted(n for n in acked if n not in items)
            wrong = sorted(f"{n}: gen {items[n]} not in [{acked[n]}, {attempted[n]}]"
                           for n in acked if n in items and not acked[n] <= items[n] <= attempted[n])
            self.assertEqual(lost, [], f"acknowledged creates missing {where}")
            self.assertEqual(wrong, [], f"acknowledged labels lost {where}")
        self.assertEqual(views["replica 1 directly"], views["replica 2 directly"])
        log(f"HA: {len(acked)} acknowledged vaults all present with their labels; "
            f"{len(unacked & set(views['through kube-apiserver']))} of {len(unacked)} "
            f"unacknowledged creates were stored anyway")
        final = views["through kube-apiserver"]
        for f in failures:
            # Did the failed write reach the store? Unknown (None) for a patch when a later
            # acknowledged patch of the same vault overwrote it.
            if f["op"] == "create":
                f["applied"] = f["name"] in final
            elif f["op"] == "patch":
                f["applied"] = (None if acked.get(f["name"], -1) > f["gen"]
                                else final.get(f["name"], -1) >= f["gen"])
            else:
                continue
            log(f"HA failed {f['op']} of {f['name']} gen {f['gen']}: "
                f"{ {True: 'applied', False: 'not applied', None: 'unknown'}[f['applied']]} "
                f"in the store")

        # The client really ran through both restarts.
        for n in (1, 2):
            self.assertGreater(by_phase[f"replica {n} shutdown delay"], 0, f"replica {n}'s delay")
            self.assertGreater(by_phase[f"replica {n} stopping"] + by_phase[f"replica {n} starting"],
                               0, f"no request while replica {n} was down")

        self.assertEqual(anomalies, [], "reads went back in time")
        self.assertEqual(poller.not_available, [], "the APIService was not Available at times")
        # Failed requests. The only kind tolerated (STOP_RACE_BOUND, see there) is the known
        # one: a create or patch that kube-aggregator wrote on a pooled keep-alive connection
        # at the instant the stopping replica closed it (503 "error trying to reach service:
        # EOF / broken pipe / use of closed network connection"), that never reached the store.
        known = [f for f in failures if is_stop_race(f)]
        other = [f for f in failures if not is_stop_race(f)]
        summary = Counter((f["op"], re.sub(r"(read|write|dial) tcp [0-9.:]+->[0-9.:]+: ", "", f["what"]))
                          for f in failures)
        log(f"HA: {len(failures)} of {total} requests failed ({len(known)} at a replica's stop, "
            f"of the known kind): {dict(summary)}")
        self.assertEqual(other, [], f"{len(other)} of {total} requests failed otherwise")
        bound = STOP_RACE_BOUND
        for phase, n in Counter(f["phase"] for f in known).items():
            self.assertLessEqual(n, bound, f"{n} requests failed in {phase!r}: {known}")
        # The traffic was kube-aggregator's pooled HTTP/2: each stop ended its connections with
        # GOAWAY (NO_ERROR, the last stream served), and the aggregator moved to the other
        # replica without a failed request (asserted above). Both replicas' access logs, across
        # both of their lives, name the protocol of every request; the few HTTP/1.1 ones are
        # this test's own direct reads (http.client).
        for r in replicas:
            text = (r.workdir / "csdr-apiserver.log").read_text(errors="replace")
            proxied = re.findall(r"\] (GET|POST|PATCH) /apis/csdr\.io/v1alpha1/namespaces/csdr/"
                                 r"backupvaults\S* \d+ .*protocol=(\S+)", text)
            protos = Counter(proto for _, proto in proxied)
            log(f"HA: {r.workdir.name} served csdr.io requests as {dict(protos)}")
            # Only kube-aggregator patches (the direct POSTs are dry-run probes).
            self.assertEqual({p for v, p in proxied if v == "PATCH"}, {"HTTP/2.0"},
                             f"PATCHes not all over HTTP/2: {dict(protos)}")
        log(f"HA test body took {time.monotonic() - t_start:.1f}s")


if __name__ == "__main__":
    unittest.main()
