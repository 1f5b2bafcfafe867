"""Bad input basics, sent with curl and the admin client certificate.

Each request must get a 4xx metav1.Status with the right code and reason, store nothing, and leave
the server healthy (/readyz 200). Codes and reasons are the ones kube-apiserver gives
(../shared/reference/aggregated-api.md section 5).
"""

import json
import subprocess
import unittest

import harness
from harness import ServerTestCase

BACKUP = {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
          "metadata": {"name": "bad", "namespace": "csdr"},
          "spec": {"vaultName": "prod-vault", "backupType": "AppBackup"}}


def with_(base, **changes):
    out = json.loads(json.dumps(base))
    for dotted, value in changes.items():
        node = out
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return out


class CurlResponse:
    def __init__(self, code, body):
        self.status = code
        self.body = body
        self.headers = {"Content-Type": "application/json"}  # checked separately by curl_status

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        text = self.text()
        return f"HTTP {self.status} {text[:600]}"


class BadInputTest(ServerTestCase):

    def setUp(self):
        self.server = self.start_server()
        self.server.create("clusterprofiles", harness.cluster_profile())
        self.server.create("backupvaults", harness.vault())
        self.server.create("backups", harness.backup("good"))

    def curl(self, method, path, body=None, content_type="application/json"):
        """Sends one request with curl; returns a response with status, headers and body."""
        certs = self.server.certs
        cert, key = certs.client("admin")
        out = self.workdir / "curl.out"
        hdr = self.workdir / "curl.hdr"
        out.unlink(missing_ok=True)
        hdr.unlink(missing_ok=True)
        args = ["curl", "-sS", "--max-time", "30", "-X", method, "--cacert", str(certs.ca),
                "--cert", str(cert), "--key", str(key), "-o", str(out), "-D", str(hdr),
                "-w", "%{http_code}", "-H", "Accept: application/json", "-H", "Expect:"]
        if body is not None:
            data = self.workdir / "curl.body"
            data.write_bytes(body if isinstance(body, bytes) else
                             (body if isinstance(body, str) else json.dumps(body)).encode())
            args += ["-H", f"Content-Type: {content_type}", "--data-binary", f"@{data}"]
        args.append(f"https://127.0.0.1:{self.server.port}{path}")
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        # A server may answer (413) before the whole body is sent and close the connection; curl
        # then reports a send error (55/56) but has the response.
        code = int(proc.stdout or "0")
        self.assertTrue(proc.returncode == 0 or (proc.returncode in (55, 56) and code),
                        f"curl {method} {path} failed ({proc.returncode}): {proc.stderr}")
        self.assertNotEqual(code, 0, f"curl {method} {path}: no response ({proc.stderr})")
        r = CurlResponse(code, out.read_bytes() if out.exists() else b"")
        headers = hdr.read_text(errors="replace") if hdr.exists() else ""
        ctype = [l.split(":", 1)[1].strip() for l in headers.splitlines()
                 if l.lower().startswith("content-type:")]
        r.headers = {"Content-Type": ctype[-1] if ctype else ""}
        return r

    def state(self):
        """Names and resourceVersions of every backup: must not change on a rejected write."""
        items = self.server.list("backups").json()["items"]
        return sorted((i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in items)

    def check_rejected(self, what, response, code, reasons, before):
        status = self.assertStatus(response, code, reasons, what)
        self.assertEqual(self.state(), before, f"{what}: something was stored")
        ready = self.server.request("GET", "/readyz", user=None)
        self.assertEqual((ready.status, ready.text().strip()), (200, "ok"), f"{what}: /readyz after it")
        return status

    def test_bad_bodies(self):
        backups = self.server.path("backups")
        good = self.server.path("backups", "good")
        good_obj = self.server.get("backups", "good").json()
        nested = "[" * 100000 + "]" * 100000
        cases = [
            # (what, method, path, body, content type, code, reasons)
            ("malformed JSON", "POST", backups, '{"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",',
             "application/json", 400, "BadRequest"),
            ("JSON that is not an object", "POST", backups, '["a"]', "application/json", 400, "BadRequest"),
            ("empty body", "POST", backups, "", "application/json", 400, "BadRequest"),
            ("no apiVersion and no kind", "POST", backups, {"metadata": {"name": "bad", "namespace": "csdr"},
                                                             "spec": {"vaultName": "v"}},
             "application/json", 400, "BadRequest"),
            ("malformed YAML", "POST", backups,
             "apiVersion: csdr.io/v1alpha1\nkind: Backup\nmetadata:\n  name: [bad\n  namespace: csdr\n",
             "application/yaml", 400, "BadRequest"),
            ("YAML alias bomb", "POST", backups,
             "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
             "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
             "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
             "application/yaml", 400, ("BadRequest", "RequestEntityTooLarge")),
            ("deeply nested JSON", "POST", backups, nested, "application/json", 400,
             ("BadRequest", "RequestEntityTooLarge")),
            ("wrong apiVersion", "POST", backups, with_(BACKUP, apiVersion="csdr.io/v9"),
             "application/json", 400, "BadRequest"),
            ("apiVersion of another group", "POST", backups, with_(BACKUP, apiVersion="velero.io/v1"),
             "application/json", 400, "BadRequest"),
            # kube-apiserver answers a kind that differs from the URL's with 422 Invalid
            # (kube-captures/10-create-wrong-apiversion-kind.txt).
            ("wrong kind", "POST", backups, with_(BACKUP, kind="Restore"), "application/json", 422,
             "Invalid"),
            ("namespace differs from the URL", "POST", backups, with_(BACKUP, metadata__namespace="other"),
             "application/json", 400, "BadRequest"),
            ("PUT name differs from the URL", "PUT", good, with_(good_obj, metadata__name="not-good"),
             "application/json", 400, "BadRequest"),
            ("unknown field, fieldValidation=Strict", "POST", backups + "?fieldValidation=Strict",
             with_(BACKUP, spec__bogusField=1), "application/json", 400, "BadRequest"),
            ("duplicate field, fieldValidation=Strict", "POST", backups + "?fieldValidation=Strict",
             '{"apiVersion":"csdr.io/v1alpha1","kind":"Backup","metadata":{"name":"bad","namespace":"csdr"},'
             '"spec":{"vaultName":"a","vaultName":"b"}}', "application/json", 400, "BadRequest"),
            ("invalid enum value", "POST", backups, with_(BACKUP, spec__backupType="Everything"),
             "application/json", 422, "Invalid"),
            ("missing required field", "POST", backups, with_(BACKUP, spec={}), "application/json", 422,
             "Invalid"),
            ("unsupported content type", "POST", backups, json.dumps(BACKUP), "text/plain", 415,
             "UnsupportedMediaType"),
            ("body over 3 MiB", "POST", backups,
             with_(BACKUP, metadata__annotations={"big": "x" * (4 * 1024 * 1024)}), "application/json",
             413, "RequestEntityTooLarge"),
        ]
        for what, method, path, body, ctype, code, reasons in cases:
            with self.subTest(what):
                before = self.state()
                r = self.curl(method, path, body, ctype)
                status = self.check_rejected(what, r, code, reasons, before)
                if code == 422 and what == "wrong kind":
                    causes = status.get("details", {}).get("causes", [])
                    self.assertEqual([c.get("field") for c in causes], ["kind"], causes)
                    self.assertEqual(status["details"].get("kind"), "Restore", status)
                elif code == 422:
                    causes = status.get("details", {}).get("causes", [])
                    self.assertTrue(causes, f"{what}: Invalid without details.causes: {r!r}")
                    self.assertTrue(all(c.get("field", "").startswith("spec") for c in causes), causes)
                    self.assertEqual(status["details"].get("kind"), "Backup", status)
                if what.startswith("unknown field"):
                    self.assertIn("bogusField", status["message"])
        self.assertEqual(self.server.get("backups", "good").json(), good_obj)

    def test_paths_past_the_subresource_are_404(self):
        # kube-apiserver routes only registered paths: /status/extra is no subresource.
        good = self.server.path("backups", "good")
        profile = self.server.path("clusterprofiles", "cluster", namespace=None)
        obj = self.server.get("backups", "good").json()
        for method, path, body in (("GET", profile + "/status/extra", None),
                                   ("GET", good + "/status/extra", None),
                                   ("PUT", good + "/status/extra", obj),
                                   ("PATCH", good + "/status/x/y", {"status": {"phase": "Failed"}})):
            with self.subTest(f"{method} {path}"):
                before = self.state()
                r = self.curl(method, path, body,
                              "application/merge-patch+json" if method == "PATCH" else "application/json")
                self.assertEqual(r.status, 404, f"{method} {path}")
                self.assertEqual(self.state(), before)

    def test_bad_selectors_and_parameters(self):
        # Codes, reasons and messages as kube-apiserver answers them
        # (../shared/reference/kube-captures/13, 14, 19, 20 and 21).
        backups = self.server.path("backups")
        cases = [
            # (what, query, code, reason, part of the message)
            ("unclosed set in labelSelector", "labelSelector=app%20in%20%28shop", 400, "BadRequest",
             "unable to parse requirement"),
            ("labelSelector without operator", "labelSelector=a%20b", 400, "BadRequest",
             "unable to parse requirement"),
            ("invalid label value", "labelSelector=app%3D-bad-", 400, "BadRequest", "-bad-"),
            ("invalid label key", "labelSelector=-bad-%3Dx", 400, "BadRequest", "-bad-"),
            ("unknown fieldSelector field", "fieldSelector=spec.bogus%3Dx", 400, "BadRequest",
             "field label not supported: spec.bogus"),
            ("fieldSelector without operator", "fieldSelector=metadata.name", 400, "BadRequest",
             "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
            ("fieldSelector with a set operator", "fieldSelector=metadata.name%20in%20%28a%29", 400,
             "BadRequest", "invalid selector"),
            ("non-numeric limit", "limit=abc", 400, "BadRequest", "abc"),
            ("garbage continue token", "limit=2&continue=bogus", 400, "BadRequest", "continue"),
            ("non-numeric resourceVersion", "resourceVersion=abc", 400, "BadRequest",
             "invalid resource version"),
            ("resourceVersionMatch without resourceVersion", "resourceVersionMatch=Exact", 422, "Invalid",
             "resourceVersionMatch"),
            ("unknown resourceVersionMatch", "resourceVersionMatch=Bogus&resourceVersion=1", 422, "Invalid",
             "Bogus"),
        ]
        for what, query, code, reason, message in cases:
            with self.subTest(what):
                before = self.state()
                r = self.curl("GET", f"{backups}?{query}")
                status = self.check_rejected(what, r, code, reason, before)
                self.assertIn(message, status["message"], f"{what}: {r!r}")
        # Bad write options: dryRun other than All, an unknown fieldValidation (422 from
        # CreateOptions validation, kube-captures/13 and 14).
        for what, query in (("dryRun=Yes", "dryRun=Yes"), ("fieldValidation=Bogus", "fieldValidation=Bogus")):
            with self.subTest(what):
                before = self.state()
                r = self.curl("POST", f"{backups}?{query}", with_(BACKUP, metadata__name="dry"))
                status = self.check_rejected(what, r, 422, "Invalid", before)
                self.assertEqual([c.get("reason") for c in status["details"].get("causes", [])],
                                 ["FieldValueNotSupported"], status)

        # Good requests keep working after the bad ones.
        r = self.curl("POST", self.server.path("backups"), with_(BACKUP, metadata__name="fine"))
        self.assertEqual(r.status, 201, r)
        r = self.curl("GET", self.server.path("backups") + "?labelSelector=" +
                      "csdr.io%2Fvault%20notin%20(x),!absent&fieldSelector=metadata.name%3Dfine")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([i["metadata"]["name"] for i in r.json()["items"]], ["fine"])


if __name__ == "__main__":
    unittest.main()
