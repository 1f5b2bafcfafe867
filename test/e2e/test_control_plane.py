"""Smoke test of the e2e harness: a real kube-apiserver comes up, kubectl talks to it, and a
validating webhook on loopback, reached through the ExternalName Service csdr/csdr-apiserver,
is called by kube-apiserver and its denial reaches kubectl.

The webhook here is a tiny Python stub with the csdr serving certificate. To run the same checks
against csdr-apiserver, subclass WebhookRoutingTest and override start_backend() (one line:
`return self.cp.start_csdr_apiserver("--kubeconfig", self.cp.kubeconfig)`) and DENIAL.
"""

import http.client
import json
import os
import re
import ssl
import subprocess
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cluster import ControlPlaneTestCase, csdr_apiserver_binary, tools, wait_for

STUB_DENIAL = "stub webhook: the csdr namespace is protected"


class StubWebhook:
    """An HTTPS AdmissionReview (v1) server on 127.0.0.1 that denies DELETE of Namespace csdr and
    allows everything else. Records every review in `reviews`."""

    def __init__(self, certs):
        self.reviews = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                review = json.loads(body)
                req = review["request"]
                stub.reviews.append((self.path, req))
                deny = (req["operation"] == "DELETE" and req["kind"]["kind"] == "Namespace"
                        and req["name"] == "csdr")
                resp = {"uid": req["uid"], "allowed": not deny}
                if deny:
                    resp["status"] = {"code": 403, "reason": "Forbidden", "message": STUB_DENIAL}
                out = json.dumps({"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                                  "kind": "AdmissionReview", "response": resp}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, fmt, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs.csdr_crt), str(certs.csdr_key))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def log_tail(self, lines=40):
        return "\n".join(f"{p} {r['operation']} {r['kind']['kind']} {r.get('name')}"
                         for p, r in self.reviews[-lines:])


class WebhookRoutingTest(ControlPlaneTestCase):
    DENIAL = STUB_DENIAL
    WEBHOOK = "validate.csdr.io"

    def start_backend(self):
        """The server behind csdr/csdr-apiserver: anything with .port that answers /validate."""
        return self.cp.adopt(StubWebhook(self.cp.certs).start())

    def test_control_plane_is_up(self):
        out = self.cp.kubectl("get", "ns", "-o", "name").stdout.split()
        self.assertIn("namespace/default", out)
        self.assertIn("namespace/kube-system", out)
        version = json.loads(self.cp.kubectl("version", "-o", "json").stdout)
        self.assertEqual(version["serverVersion"]["gitVersion"], "v1.36.3")
        self.assertEqual(version["clientVersion"]["gitVersion"], "v1.36.3")
        # kube-apiserver made the ConfigMap an aggregated server reads for front-proxy trust.
        r = self.cp.request("GET", "/api/v1/namespaces/kube-system/configmaps/"
                                   "extension-apiserver-authentication")
        self.assertEqual(r.status, 200, r)
        self.assertIn("requestheader-client-ca-file", r.json()["data"])
        # Debian's python3-kubernetes through the admin kubeconfig.
        from kubernetes import client
        with self.cp.api_client() as api:
            names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        self.assertIn("kube-system", names)

    def test_watch_list_ends_initial_events_with_a_bookmark(self):
        """Why build_kube.sh builds etcd 3.6 instead of using Debian's 3.4: kube-apiserver 1.36
        serves WatchList (sendInitialEvents=true, client-go 1.35+ informers' default) only with
        etcd's watch progress requests; on 3.4 it answers an ERROR event instead."""
        version = subprocess.run([tools()["etcd"], "--version"], capture_output=True,
                                 text=True).stdout
        m = re.search(r"etcd Version: (\d+)\.(\d+)", version)
        if not m or (int(m.group(1)), int(m.group(2))) < (3, 5):
            self.skipTest(f"{version.splitlines()[0] if version else 'etcd ?'} has no watch "
                          "progress requests (CSDR_E2E_ETCD=debian?)")
        c = self.cp.certs
        ctx = ssl.create_default_context(cafile=str(c.ca))
        ctx.load_cert_chain(str(c.admin_crt), str(c.admin_key))
        conn = http.client.HTTPSConnection("127.0.0.1", self.cp.port, context=ctx, timeout=10)
        try:
            conn.request("GET", "/api/v1/namespaces?watch=1&sendInitialEvents=true"
                                "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            names = []
            while True:
                line = r.readline()
                self.assertTrue(line, f"watch ended before the initial-events-end bookmark: {names}")
                ev = json.loads(line)
                self.assertNotEqual(ev["type"], "ERROR", ev)
                meta = ev["object"].get("metadata", {})
                if ev["type"] == "BOOKMARK":
                    self.assertEqual(meta.get("annotations", {}).get("k8s.io/initial-events-end"),
                                     "true", ev)
                    break
                names.append(meta.get("name"))
            self.assertIn("kube-system", names)
        finally:
            conn.close()

    def test_webhook_through_external_name_service_denies_namespace_delete(self):
        backend = self.start_backend()
        self.cp.register_webhook(backend.port, name=self.WEBHOOK)

        # kube-apiserver loads webhook configurations asynchronously: wait on a dry run (the
        # webhook is sideEffects None, so it is called) before the real delete.
        def dry_run_denied():
            p = self.cp.kubectl("delete", "ns", "csdr", "--dry-run=server", check=False)
            return p.returncode != 0 and self.DENIAL in p.stderr
        wait_for(dry_run_denied, timeout=30, interval=0.5, what="the webhook to deny a dry run")

        p = self.cp.kubectl("delete", "ns", "csdr", "--wait=false", check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn(f'admission webhook "{self.WEBHOOK}" denied the request: {self.DENIAL}',
                      p.stderr)
        ns = json.loads(self.cp.kubectl("get", "ns", "csdr", "-o", "json").stdout)
        self.assertEqual(ns["status"]["phase"], "Active")
        self.assertNotIn("deletionTimestamp", ns["metadata"])

        # Other namespaces pass the same webhook (no namespace controller here: it only goes
        # Terminating, so do not wait for it to disappear).
        self.cp.kubectl("create", "ns", "scratch")
        self.cp.kubectl("delete", "ns", "scratch", "--wait=false")

        if isinstance(backend, StubWebhook):
            seen = [(path, r["operation"], r["name"]) for path, r in backend.reviews]
            self.assertIn(("/validate?timeout=10s", "DELETE", "csdr"), seen)
            self.assertIn(("/validate?timeout=10s", "DELETE", "scratch"), seen)


@unittest.skipUnless(csdr_apiserver_binary().exists() or os.environ.get("CSDR_E2E_REQUIRE_BINARY"),
                     f"{csdr_apiserver_binary()} is not built")
class CsdrApiserverHelperTest(ControlPlaneTestCase):
    """start_csdr_apiserver() runs our binary on loopback with the csdr serving certificate."""

    def test_starts_and_serves_with_csdr_certificate(self):
        srv = self.cp.start_csdr_apiserver()
        r = srv.request("GET", "/apis/csdr.io/v1alpha1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["groupVersion"], "csdr.io/v1alpha1")

    def test_apiservice_through_external_name_service(self):
        # Until csdr-apiserver trusts the front-proxy CA through --requestheader-client-ca-file
        # (issue 5), the kube-aggregator's front-proxy-client certificate is accepted as a plain
        # client certificate: a client CA bundle of the cluster CA and the front-proxy CA.
        bundle = self.cp.workdir / "cluster-and-front-proxy-ca.crt"
        bundle.write_bytes(self.cp.certs.ca.read_bytes() + self.cp.certs.front_proxy_ca.read_bytes())
        srv = self.cp.start_csdr_apiserver(client_ca=bundle)
        self.cp.register_apiservice(srv.port)  # waits for Available=True
        out = self.cp.kubectl("api-resources", "--api-group", "csdr.io", "-o", "name").stdout.split()
        self.assertIn("backups.csdr.io", out)
        self.cp.kubectl("get", "backups", "-n", "csdr")


if __name__ == "__main__":
    unittest.main()
