"""The backup center's rules against a real kube-apiserver (issue 4).

csdr-apiserver runs on loopback with --kubeconfig to the control plane, so that its cluster
cache (Secrets, Namespaces, ...) watches the real cluster, and it is registered as the
validating webhook through the ExternalName Service csdr/csdr-apiserver with the project's own
manifest (manifests/webhook/validatingwebhookconfiguration.yaml, caBundle filled by
certs/fill-cabundle.sh, the Service port set to our loopback port).
"""

import base64
import json
import subprocess
import unittest
from pathlib import Path

from cluster import ControlPlaneTestCase, wait_for
import test_control_plane  # not `from ... import`: discovery would run its classes twice

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifests" / "webhook" / "validatingwebhookconfiguration.yaml"
FILL = REPO / "certs" / "fill-cabundle.sh"
NS_DENIAL = "[CSDR-NS-001]"


class CsdrWebhookRoutingTest(test_control_plane.WebhookRoutingTest):
    """The harness's routing test, with our binary behind the Service instead of the stub."""

    WEBHOOK = "validate.csdr.io"
    DENIAL = NS_DENIAL

    def start_backend(self):
        return self.cp.start_csdr_apiserver("--kubeconfig", self.cp.kubeconfig)

    # These two belong to the stub's class; they do not involve the webhook backend.
    test_control_plane_is_up = None
    test_watch_list_ends_initial_events_with_a_bookmark = None


class WebhookRulesTest(ControlPlaneTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cp = cls.cp
        cls.srv = cp.start_csdr_apiserver("--kubeconfig", cp.kubeconfig)
        cp.expose_on_loopback()
        manifest = subprocess.run([str(FILL), str(cp.certs.csdr_ca), str(MANIFEST)], check=True,
                                  capture_output=True, text=True).stdout
        manifest = manifest.replace("port: 443}", f"port: {cls.srv.port}}}")
        cp.apply(manifest)

        def webhook_answers():
            p = cp.kubectl("delete", "ns", "csdr", "--dry-run=server", check=False)
            return p.returncode != 0 and NS_DENIAL in p.stderr
        wait_for(webhook_answers, timeout=30, interval=0.5, what="the webhook to deny a dry run")

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        return self.srv.request(method, path, body=data,
                                headers={"Content-Type": "application/json"} if data else None)

    def test_namespace_csdr_cannot_be_deleted(self):
        p = self.cp.kubectl("delete", "ns", "csdr", "--wait=false", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('admission webhook "namespaces.csdr.io" denied the request: [CSDR-NS-001]', p.stderr)
        ns = json.loads(self.cp.kubectl("get", "ns", "csdr", "-o", "json").stdout)
        self.assertNotIn("deletionTimestamp", ns["metadata"])
        # Other namespaces never reach the webhook (objectSelector) and delete normally.
        self.cp.kubectl("create", "ns", "elsewhere")
        self.cp.kubectl("delete", "ns", "elsewhere", "--wait=false")

    def test_dedicated_cluster_needs_the_access_key_secret(self):
        # The profile lives in csdr-apiserver's own store; the Secret in the real cluster.
        r = self.api("POST", "/apis/csdr.io/v1alpha1/clusterprofiles",
                     {"apiVersion": "csdr.io/v1alpha1", "kind": "ClusterProfile", "metadata": {"name": "cluster"},
                      "spec": {"clusterType": "ACKDedicated", "regionID": "cn-hangzhou", "componentVersion": "v1.8.4"}})
        self.assertIn(r.status, (201, 409), r)
        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "v1", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e", "region": "cn-hangzhou", "network": "internal"}}
        r = self.api("POST", "/apis/csdr.io/v1alpha1/namespaces/csdr/backupvaults", vault)
        self.assertEqual(r.status, 403, r)
        self.assertIn("[CSDR-DEP-004]", r.json()["message"])

        # An empty key is refused by the webhook itself (CSDR-SEC-002)...
        p = self.cp.kubectl("-n", "csdr", "create", "secret", "generic", "alibaba-addon-secret",
                            "--from-literal=access-key-id=AKIDEXAMPLE", "--from-literal=access-key-secret=",
                            check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("[CSDR-SEC-002]", p.stderr)
        # ...a complete one is admitted, with the restart warning (CSDR-SEC-003).
        p = self.cp.kubectl("-n", "csdr", "create", "secret", "generic", "alibaba-addon-secret",
                            "--from-literal=access-key-id=AKIDEXAMPLE",
                            "--from-literal=access-key-secret=SECRETEXAMPLE")
        self.assertIn("[CSDR-SEC-003]", p.stderr)

        # csdr-apiserver's cache sees the Secret through its watch: the vault is admitted.
        def vault_admitted():
            r = self.api("POST", "/apis/csdr.io/v1alpha1/namespaces/csdr/backupvaults", vault)
            return r.status == 201
        wait_for(vault_admitted, timeout=15, interval=0.2, what="the vault to be admitted once the Secret exists")

        # While the cluster is dedicated, the Secret cannot be deleted (CSDR-SEC-001).
        p = self.cp.kubectl("-n", "csdr", "delete", "secret", "alibaba-addon-secret", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('admission webhook "secrets.csdr.io" denied the request: [CSDR-SEC-001]', p.stderr)
        self.cp.kubectl("-n", "csdr", "get", "secret", "alibaba-addon-secret")
        # The secret's value never shows up in our server's log.
        log = (self.srv.workdir / "csdr-apiserver.log").read_text(errors="replace")
        self.assertNotIn("SECRETEXAMPLE", log)
        self.assertNotIn(base64.b64encode(b"SECRETEXAMPLE").decode(), log)


if __name__ == "__main__":
    unittest.main()
