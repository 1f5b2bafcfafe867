"""Authentication in standalone mode: client certificates verified against --client-ca-file.

No valid identity gets a 401 Status on resources; the health endpoints need none.
"""

import unittest

import harness
from harness import Certs, ServerTestCase

RESOURCES = "/apis/csdr.io/v1alpha1/namespaces/csdr/backups"


class AuthTest(ServerTestCase):

    def setUp(self):
        self.server = self.start_server()
        # A second, unrelated CA with its own "admin" (CN=csdr-admin, O=system:masters) client cert.
        self.other = Certs(self.workdir / "other-ca", self.server.port, users=())

    def test_health_endpoints_need_no_certificate(self):
        for path in ("/healthz", "/livez", "/readyz"):
            with self.subTest(path):
                r = self.server.request("GET", path, user=None)
                self.assertEqual((r.status, r.text().strip()), (200, "ok"), f"{path}: {r!r}")

    def test_no_client_certificate_is_401(self):
        for path in (RESOURCES, "/apis/csdr.io/v1alpha1/backups", "/apis/csdr.io/v1alpha1/clusterprofiles"):
            with self.subTest(path):
                r = self.server.request("GET", path, user=None)
                self.assertStatus(r, 401, "Unauthorized", f"GET {path} without a client certificate")
        r = self.server.request("POST", "/apis/csdr.io/v1alpha1/clusterprofiles", harness.cluster_profile(),
                                user=None)
        self.assertStatus(r, 401, "Unauthorized", "POST without a client certificate")
        self.assertEqual(self.server.list("clusterprofiles", namespace=None).json()["items"], [])

    def test_certificate_from_another_ca_is_401(self):
        r = self.server.request("GET", RESOURCES, client_cert=self.other.client("admin"))
        self.assertStatus(r, 401, "Unauthorized", "GET with a client certificate from another CA")
        r = self.server.request("POST", "/apis/csdr.io/v1alpha1/clusterprofiles", harness.cluster_profile(),
                                client_cert=self.other.client("admin"))
        self.assertStatus(r, 401, "Unauthorized", "POST with a client certificate from another CA")
        self.assertEqual(self.server.list("clusterprofiles", namespace=None).json()["items"], [])
        # /readyz still answers that client.
        r = self.server.request("GET", "/readyz", client_cert=self.other.client("admin"))
        self.assertEqual(r.status, 200, r)

    def test_valid_certificates_authenticate(self):
        r = self.server.request("GET", RESOURCES, user="admin")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["kind"], "BackupList")
        # alice (O=dev) is authenticated; whether she may list is the authorizer's call, but
        # never a 401.
        r = self.server.request("GET", RESOURCES, user="alice")
        self.assertIn(r.status, (200, 403), r)
        if r.status == 403:
            self.assertStatus(r, 403, "Forbidden", "alice")


if __name__ == "__main__":
    unittest.main()
