"""Certificate rotation without a restart: the serving certificate and key and the client CA
file are re-read when they change (as k8s.io/apiserver's dynamic certificates do).

The replacement certificates come from a second CA made here with openssl (its own CN, so that
the advertised client CA names tell the two apart). What is checked, through the real binary:
- new connections get the new serving certificate (its SHA-256 fingerprint) within a few
  seconds, with no restart; a keep-alive connection opened before keeps working on its socket;
- a Kubernetes Secret volume's rotation (the `..data` symlink swapped) is picked up too;
- a broken rotation (a key that does not match, a certificate cut short) keeps the old
  certificate in service and is logged; finishing the rotation then takes effect;
- after the client CA file is replaced, a client certificate of the new CA is accepted and one
  of the old CA gets a 401 Status, on new and on already open connections; the CertificateRequest
  advertises the new CA's name.
"""

import hashlib
import http.client
import os
import re
import ssl
import subprocess
import time
from pathlib import Path

import harness
from harness import Certs, ServerTestCase

RELOAD_BOUND_S = 10  # polled every second; margin for a loaded CI machine
RESOURCES = "/apis/csdr.io/v1alpha1/namespaces/csdr/backups"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class Pki:
    """A CA with its own CN and the certificates this suite needs, made with openssl."""

    def __init__(self, directory, cn):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cn = cn
        self.ca = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self._key(self.ca_key)
        openssl("req", "-x509", "-new", "-key", str(self.ca_key), "-subj", f"/CN={cn}",
                "-days", "2", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(self.ca))
        self.serving = self.issue("serving", "/CN=csdr-apiserver.csdr.svc",
                                  "extendedKeyUsage=serverAuth\n"
                                  "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.admin = self.issue("admin", "/O=system:masters/CN=csdr-admin",
                                "extendedKeyUsage=clientAuth")

    @staticmethod
    def _key(path):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", str(path))

    def issue(self, name, subject, extensions):
        key, csr, crt = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.dir / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n" + extensions + "\n")
        self._key(key)
        openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key),
                "-set_serial", "0x" + os.urandom(16).hex(), "-days", "2", "-sha256",
                "-extfile", str(ext), "-out", str(crt))
        return (crt, key)


def fingerprint_of_file(pem_path):
    der = ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())
    return hashlib.sha256(der).hexdigest()


def replace(path, source_bytes):
    """Replaces `path` at once (write a temporary file, rename it over), as tools do."""
    tmp = Path(f"{path}.tmp")
    tmp.write_bytes(source_bytes)
    os.replace(tmp, path)


class CertReloadTest(ServerTestCase):

    def setUp(self):
        self.new = Pki(self.workdir / "new-pki", "csdr-rotated-ca")

    def serving_fingerprint(self, server):
        """SHA-256 of the certificate a new connection is served (no verification)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ssl.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()

    def wait_for_serving(self, server, fingerprint, what):
        started = time.monotonic()
        harness.wait_for(lambda: self.serving_fingerprint(server) == fingerprint,
                         timeout=RELOAD_BOUND_S, interval=0.1, what=what)
        return time.monotonic() - started

    def get(self, server, conn=None, cafile=None, client=None):
        """GET the Backup list on `conn` (kept open) or a new connection with `client`."""
        if conn is None:
            ctx = ssl.create_default_context(cafile=str(cafile))
            ctx.load_cert_chain(str(client[0]), str(client[1]))
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=ctx)
        conn.request("GET", RESOURCES, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        return harness.Response(resp.status, resp.headers, resp.read())

    def advertised_cas(self, server):
        """The CA names of the server's CertificateRequest, as openssl s_client prints them."""
        proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
                               "-tls1_2"], input="", capture_output=True, text=True, timeout=20)
        m = re.search(r"Acceptable client certificate CA names\n(.*?)\n(?:[A-Z]|---)",
                      proc.stdout, re.S)
        return m.group(1).split("\n") if m else []

    # --- serving certificate --------------------------------------------------------------
    def test_new_serving_certificate_for_new_connections_open_ones_keep_working(self):
        s = self.start_server()
        old_ca = self.workdir / "old-ca.crt"
        old_ca.write_bytes(s.certs.ca.read_bytes())
        old_fp = fingerprint_of_file(s.certs.serving_cert)
        self.assertEqual(self.serving_fingerprint(s), old_fp)

        # A keep-alive connection, verified against the old CA, made before the rotation.
        kept = s.connection()
        self.assertEqual(self.get(s, kept).status, 200)
        kept_socket = kept.sock
        kept_fp = hashlib.sha256(kept.sock.getpeercert(binary_form=True)).hexdigest()

        replace(s.certs.serving_key, self.new.serving[1].read_bytes())
        replace(s.certs.serving_cert, self.new.serving[0].read_bytes())
        took = self.wait_for_serving(s, fingerprint_of_file(self.new.serving[0]),
                                     "the new serving certificate")
        print(f"\n  new serving certificate served {took:.2f}s after the files changed")

        # New connections verify against the new CA (the old one no longer does).
        r = self.get(s, cafile=self.new.ca, client=s.certs.client("admin"))
        self.assertEqual(r.status, 200, r)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.get(s, cafile=old_ca, client=s.certs.client("admin"))
        # The connection made before goes on, on the same socket with its old certificate.
        for _ in range(3):
            self.assertEqual(self.get(s, kept).status, 200)
        self.assertIs(kept.sock, kept_socket, "the keep-alive connection was re-established")
        self.assertEqual(kept_fp, old_fp)
        kept.close()
        self.assertIn("loaded serving certificate", s.log_path.read_text())

    def test_secret_volume_symlink_swap(self):
        # The layout kubelet gives a Secret volume: tls.crt -> ..data/tls.crt, and ..data a
        # symlink to a timestamped directory that is swapped atomically on update.
        certs = Certs(self.workdir / "certs", 0)
        volume = self.workdir / "volume"
        first = volume / "..2026_01_01_00_00_00.1"
        first.mkdir(parents=True)
        for name, src in (("tls.crt", certs.serving_cert), ("tls.key", certs.serving_key)):
            (first / name).write_bytes(src.read_bytes())
            (volume / name).symlink_to(f"..data/{name}")
        (volume / "..data").symlink_to(first.name)
        certs.serving_cert, certs.serving_key = volume / "tls.crt", volume / "tls.key"
        s = self.start_server(certs=certs)
        self.assertEqual(self.serving_fingerprint(s), fingerprint_of_file(first / "tls.crt"))

        second = volume / "..2026_01_02_00_00_00.2"
        second.mkdir()
        (second / "tls.crt").write_bytes(self.new.serving[0].read_bytes())
        (second / "tls.key").write_bytes(self.new.serving[1].read_bytes())
        (volume / "..data_tmp").symlink_to(second.name)
        os.replace(volume / "..data_tmp", volume / "..data")
        self.wait_for_serving(s, fingerprint_of_file(self.new.serving[0]),
                              "the certificate of the swapped Secret volume")

    def test_broken_rotation_keeps_the_old_certificate(self):
        s = self.start_server()
        old_fp = fingerprint_of_file(s.certs.serving_cert)
        new_cert, new_key = (p.read_bytes() for p in self.new.serving)
        old_cert = s.certs.serving_cert.read_bytes()
        for what, cert, key in (("a key that does not match", new_cert, None),
                                ("a certificate cut short", new_cert[:len(new_cert) // 2],
                                 new_key)):
            with self.subTest(what):
                if key is not None:
                    replace(s.certs.serving_key, key)
                replace(s.certs.serving_cert, cert)
                time.sleep(2.5)  # more than two polls
                self.assertEqual(self.serving_fingerprint(s), old_fp)
                self.assertEqual(s.request("GET", RESOURCES).status, 200)
                replace(s.certs.serving_cert, old_cert)
        log = s.log_path.read_text()
        self.assertIn("does not match", log)
        self.assertIn("still serving the previous one", log)
        # Finishing the rotation takes effect.
        replace(s.certs.serving_key, new_key)
        replace(s.certs.serving_cert, new_cert)
        self.wait_for_serving(s, fingerprint_of_file(self.new.serving[0]),
                              "the completed rotation")
        self.assertTrue(s.alive())

    # --- client CA ------------------------------------------------------------------------
    def test_client_ca_replaced(self):
        s = self.start_server()
        serving_ca = self.workdir / "serving-ca.crt"  # the serving certificate stays
        serving_ca.write_bytes(s.certs.ca.read_bytes())
        old_admin = s.certs.client("admin")
        self.assertEqual(self.get(s, cafile=serving_ca, client=old_admin).status, 200)
        self.assertStatus(self.get(s, cafile=serving_ca, client=self.new.admin), 401,
                          "Unauthorized", "a client of the new CA before the change")
        self.assertEqual(self.advertised_cas(s), ["CN = csdr-dev-ca"])

        ctx = ssl.create_default_context(cafile=str(serving_ca))
        ctx.load_cert_chain(*(str(p) for p in old_admin))
        kept = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=ctx)
        self.assertEqual(self.get(s, kept).status, 200)

        replace(s.certs.ca, self.new.ca.read_bytes())
        harness.wait_for(
            lambda: self.get(s, cafile=serving_ca, client=self.new.admin).status == 200,
            timeout=RELOAD_BOUND_S, interval=0.1, what="a client of the new CA accepted")
        self.assertStatus(self.get(s, cafile=serving_ca, client=old_admin), 401, "Unauthorized",
                          "a client of the old CA after the change")
        # Client certificates are verified per request, so an open connection follows too.
        self.assertStatus(self.get(s, kept), 401, "Unauthorized", "the connection made before")
        kept.close()
        self.assertEqual(self.advertised_cas(s), [f"CN = {self.new.cn}"])

        # A client CA file cut short is refused; the new CA stays in force.
        replace(s.certs.ca, self.new.ca.read_bytes()[:200])
        time.sleep(2.5)
        self.assertEqual(self.get(s, cafile=serving_ca, client=self.new.admin).status, 200)
        self.assertIn("cannot reload --client-ca-file", s.log_path.read_text())


if __name__ == "__main__":
    import unittest
    unittest.main()
