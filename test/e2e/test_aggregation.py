"""csdr-apiserver as an aggregated API server of a real kube-apiserver (issue 5).

csdr-apiserver runs on loopback with the delegated flags (front-proxy CA and allowed names from
the harness, TokenReview and SubjectAccessReview through the admin kubeconfig, --kubeconfig for
the rules' cluster reads). manifests/ is applied through an e2e overlay built here: the
project's kustomization with the Deployment and its PVC removed, the Service turned into an
ExternalName to localhost, and the APIService and webhooks pointed at our loopback port with
the harness's csdr CA as caBundle. Then everything goes through the cluster with kubectl.

RBAC note: the control plane runs no kube-controller-manager, so ClusterRole aggregation (our
csdr.io-view/edit roles into the built-in view/edit/admin) does not happen here; the users are
bound to csdr.io-view / csdr.io-edit directly.
"""

import json
import os
import re
import subprocess
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

import yaml

from cluster import ControlPlaneTestCase, Certs, CsdrServer, wait_for

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
API = "/apis/csdr.io/v1alpha1"
KINDS = {"backups", "restores", "backupschedules", "backupvaults", "clusterprofiles"}


def kubectl_kustomize_overlay(directory, port, ca_file):
    """Writes the e2e overlay of manifests/ into `directory`."""
    bundle = Certs.b64(ca_file)
    base = os.path.relpath(MANIFESTS, directory)
    (Path(directory) / "kustomization.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - {base}
        patches:
          - patch: |-
              $patch: delete
              apiVersion: apps/v1
              kind: Deployment
              metadata: {{name: csdr-apiserver, namespace: csdr}}
          - patch: |-
              $patch: delete
              apiVersion: v1
              kind: PersistentVolumeClaim
              metadata: {{name: csdr-apiserver-data, namespace: csdr}}
          - patch: |-
              apiVersion: v1
              kind: Service
              metadata: {{name: csdr-apiserver, namespace: csdr}}
              spec: {{type: ExternalName, externalName: localhost, selector: null}}
          - target: {{group: apiregistration.k8s.io, kind: APIService, name: v1alpha1.csdr.io}}
            patch: |-
              - {{op: replace, path: /spec/service/port, value: {port}}}
              - {{op: add, path: /spec/caBundle, value: {bundle}}}
          - target: {{group: admissionregistration.k8s.io, kind: ValidatingWebhookConfiguration}}
            patch: |-
              - {{op: replace, path: /webhooks/0/clientConfig/service/port, value: {port}}}
              - {{op: add, path: /webhooks/0/clientConfig/caBundle, value: {bundle}}}
              - {{op: replace, path: /webhooks/1/clientConfig/service/port, value: {port}}}
              - {{op: add, path: /webhooks/1/clientConfig/caBundle, value: {bundle}}}
        """))


class WithoutClientCaFlag(CsdrServer):
    """The harness's server without --client-ca-file: client certificates are then trusted only
    through the ConfigMap's client-ca-file."""

    def args(self):
        a = super().args()
        i = a.index("--client-ca-file")
        return a[:i] + a[i + 2:]


class AggregationTest(ControlPlaneTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cp = cls.cp
        c = cp.certs
        cls.srv = cp.start_csdr_apiserver(
            "--kubeconfig", cp.kubeconfig,
            "--authentication-kubeconfig", cp.kubeconfig,
            "--authorization-kubeconfig", cp.kubeconfig,
            "--requestheader-client-ca-file", c.front_proxy_ca,
            "--requestheader-allowed-names", "front-proxy-client",
            "--requestheader-username-headers", "X-Remote-User",
            "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-")
        cls.overlay = Path(tempfile.mkdtemp(prefix="csdr-e2e-overlay-", dir=cp.workdir))
        kubectl_kustomize_overlay(cls.overlay, cls.srv.port, c.csdr_ca)
        cp.kubectl("apply", "-k", cls.overlay)
        cp.wait_apiservice_available("v1alpha1.csdr.io", timeout=60)
        # Discovery through the aggregator is refreshed asynchronously after Available.
        wait_for(lambda: cp.kubectl("api-resources", "--api-group=csdr.io", "-o", "name",
                                    check=False).stdout.count(".csdr.io") >= 5,
                 timeout=60, interval=0.5, what="csdr.io in the cluster's discovery")

    def k(self, *args, **kw):
        return self.cp.kubectl(*args, **kw)

    # -- helpers for requests straight to csdr-apiserver --
    def direct(self, method, path, cert=None, headers=None, body=None):
        return self.srv.request(method, path, cert=cert, headers=headers, body=body)

    def front_proxy(self):
        c = self.cp.certs
        return (c.front_proxy_client_crt, c.front_proxy_client_key)

    def test_01_overlay_renders_from_manifests(self):
        base = self.k("kustomize", MANIFESTS).stdout
        for kind in ("Namespace", "ServiceAccount", "ClusterRoleBinding", "RoleBinding", "Deployment",
                     "Service", "APIService", "ValidatingWebhookConfiguration", "PersistentVolumeClaim"):
            self.assertIn(f"kind: {kind}\n", base)
        self.assertNotIn("objects.csdr.io", base)  # enforced in-process, not by the webhook
        # The base applies as it is (server-side dry run: every object passes kube-apiserver's
        # validation, the Deployment and PVC included).
        out = self.k("apply", "-k", MANIFESTS, "--dry-run=server").stdout
        self.assertIn("deployment.apps/csdr-apiserver", out)
        self.assertIn("apiservice.apiregistration.k8s.io/v1alpha1.csdr.io", out)
        rendered = self.k("kustomize", self.overlay).stdout
        self.assertNotIn("kind: Deployment", rendered)
        self.assertIn("type: ExternalName", rendered)

    def test_01_ha_overlay_renders_and_validates(self):
        # manifests/ha: three replicas on etcd over the same base, checked by reading it, by
        # our own flag parser and by kube-apiserver's validation (server-side dry run).
        ha = MANIFESTS / "ha"
        docs = [d for d in yaml.safe_load_all(self.k("kustomize", ha).stdout) if d]
        kinds = {d["kind"] for d in docs}
        base_kinds = {d["kind"] for d in yaml.safe_load_all(self.k("kustomize", MANIFESTS).stdout) if d}
        self.assertEqual(kinds, (base_kinds - {"PersistentVolumeClaim"}) | {"PodDisruptionBudget"})
        dep = next(d for d in docs if d["kind"] == "Deployment")["spec"]
        self.assertEqual(dep["replicas"], 3)
        self.assertEqual(dep["strategy"], {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
        pod = dep["template"]["spec"]
        labels = dep["template"]["metadata"]["labels"]
        args = pod["containers"][0]["args"]
        flags = dict(a[2:].split("=", 1) for a in args)
        self.assertNotIn("storage", flags)
        self.assertTrue(flags["etcd-servers"].startswith("https://"), flags)
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertNotIn("/var/lib/csdr", mounts)
        self.assertNotIn("data", volumes)
        for flag in ("etcd-cafile", "etcd-certfile", "etcd-keyfile"):
            directory = str(Path(flags[flag]).parent)
            self.assertEqual(volumes[mounts[directory]]["secret"]["secretName"], "csdr-etcd-client")
        # Readiness turns false before the pod stops accepting, and the grace period covers the
        # delay and the drain after it.
        delay = int(flags["shutdown-delay-duration"].rstrip("s"))
        probe = pod["containers"][0]["readinessProbe"]
        self.assertEqual(probe["httpGet"]["path"], "/readyz")
        self.assertGreaterEqual(delay, probe["periodSeconds"] * probe.get("failureThreshold", 3))
        self.assertGreater(pod["terminationGracePeriodSeconds"], delay + 10)
        spread = [c for c in pod["topologySpreadConstraints"]
                  if c["topologyKey"] == "kubernetes.io/hostname"]
        self.assertEqual(spread[0]["labelSelector"]["matchLabels"].items() - labels.items(), set())
        pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")["spec"]
        self.assertEqual(pdb["minAvailable"], 2)
        self.assertEqual(pdb["selector"]["matchLabels"].items() - labels.items(), set())
        # Our binary accepts the Deployment's flags (--help exits 0 only after they parsed).
        p = subprocess.run([str(self.srv.binary)] + args + ["--help"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = self.k("apply", "-k", ha, "--dry-run=server").stdout
        self.assertIn("deployment.apps/csdr-apiserver", out)
        self.assertIn("poddisruptionbudget.policy/csdr-apiserver", out)

    def test_02_discovery_and_explain_through_the_cluster(self):
        names = set(self.k("api-resources", "--api-group=csdr.io", "-o", "name").stdout.split())
        self.assertEqual({n.split(".")[0] for n in names}, KINDS)
        # kube-aggregator merges our OpenAPI asynchronously (v2 first, then the v3 index).
        explain = lambda: self.k("explain", "backups.spec", check=False)
        wait_for(lambda: explain().returncode == 0, timeout=60, interval=0.5,
                 what="kubectl explain backups.spec through the cluster")
        self.assertIn("vaultName", explain().stdout)

    def test_03_objects_through_the_cluster(self):
        k = self.k
        k("apply", "-f", MANIFESTS / "examples" / "clusterprofiles" / "ackmanaged.yaml")
        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "e2e-vault", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e", "region": "cn-hangzhou", "network": "internal"}}
        k("create", "-f", "-", input=json.dumps(vault))
        k("-n", "csdr", "patch", "backupvault", "e2e-vault", "--subresource=status", "--type=merge",
          "-p", '{"status":{"phase":"Available"}}')
        backup = {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
                  "metadata": {"name": "e2e-backup", "namespace": "csdr"},
                  "spec": {"vaultName": "e2e-vault", "backupType": "AppBackup",
                           "includedNamespaces": ["shop"], "ttl": "720h"}}
        k("create", "-f", "-", input=json.dumps(backup))
        got = json.loads(k("-n", "csdr", "get", "backup", "e2e-backup", "-o", "json").stdout)
        self.assertEqual(got["spec"]["vaultName"], "e2e-vault")
        wide = k("-n", "csdr", "get", "backups", "-o", "wide").stdout
        self.assertIn("e2e-backup", wide)
        self.assertIn("NAME", wide.splitlines()[0])
        k("-n", "csdr", "label", "backup", "e2e-backup", "team=e2e")
        self.assertIn("e2e-backup", k("-n", "csdr", "get", "backups", "-l", "team=e2e").stdout)
        k("-n", "csdr", "delete", "backup", "e2e-backup")
        p = k("-n", "csdr", "get", "backup", "e2e-backup", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NotFound", p.stderr)

    def test_04_rbac_through_the_cluster_and_subject_access_reviews(self):
        k = self.k
        nobody = self.cp.user_kubeconfig("nobody")
        p = k("-n", "csdr", "get", "backups", kubeconfig=nobody, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('User "nobody" cannot list resource "backups" in API group "csdr.io" '
                      'in the namespace "csdr"', p.stderr)

        viewer = self.cp.user_kubeconfig("viewer")
        editor = self.cp.user_kubeconfig("editor")
        k("-n", "csdr", "create", "rolebinding", "e2e-view", "--clusterrole=csdr.io-view", "--user=viewer")
        k("-n", "csdr", "create", "rolebinding", "e2e-edit", "--clusterrole=csdr.io-edit", "--user=editor")
        wait_for(lambda: k("-n", "csdr", "get", "backups", kubeconfig=viewer, check=False).returncode == 0,
                 timeout=15, interval=0.3, what="the view binding to take effect")
        k("-n", "csdr", "get", "backupvaults", "-o", "name", kubeconfig=viewer)
        b = {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
             "metadata": {"name": "by-editor", "namespace": "csdr"},
             "spec": {"vaultName": "e2e-vault", "backupType": "AppBackup", "includedNamespaces": ["shop"],
                      "ttl": "720h"}}
        p = k("create", "-f", "-", input=json.dumps(b), kubeconfig=viewer, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('User "viewer" cannot create resource "backups"', p.stderr)

        # The same questions asked of csdr-apiserver directly, as kube-aggregator would ask them
        # (front-proxy certificate + identity headers): our SubjectAccessReview answers.
        as_viewer = {"X-Remote-User": "viewer", "X-Remote-Group": "system:authenticated"}
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=self.front_proxy(), headers=as_viewer)
        self.assertEqual(r.status, 200, r)
        r = self.direct("POST", f"{API}/namespaces/csdr/backups", cert=self.front_proxy(), headers=as_viewer,
                        body=b)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["message"],
                         'backups.csdr.io is forbidden: User "viewer" cannot create resource "backups" '
                         'in API group "csdr.io" in the namespace "csdr"')
        self.assertEqual(r.json()["reason"], "Forbidden")

        # The editor may create (the vault may or may not exist yet: any answer past
        # authorization is not a 403 from RBAC).
        wait_for(lambda: k("-n", "csdr", "auth", "can-i", "create", "backups.csdr.io",
                           kubeconfig=editor, check=False).stdout.strip() == "yes",
                 timeout=15, interval=0.3, what="the edit binding to take effect")
        k("apply", "-f", MANIFESTS / "examples" / "clusterprofiles" / "ackmanaged.yaml")
        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "editor-vault", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e-editor", "region": "cn-hangzhou", "network": "internal"}}
        k("create", "-f", "-", input=json.dumps(vault), kubeconfig=editor)
        k("-n", "csdr", "get", "backupvault", "editor-vault", kubeconfig=editor)
        k("-n", "csdr", "delete", "backupvault", "editor-vault", kubeconfig=editor)

    def test_05_identity_headers_need_the_front_proxy_certificate(self):
        spoof = {"X-Remote-User": "system:admin", "X-Remote-Group": "system:masters"}
        # No certificate: the headers are ignored, nobody is authenticated.
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=None, headers=spoof)
        self.assertEqual(r.status, 401, r)
        # A wrong-CN certificate from the front-proxy CA: not trusted.
        c = self.cp.certs
        wrong_cn = c.make_leaf("wrong-cn-proxy", c.front_proxy_ca, c.front_proxy_ca_key, "not-the-proxy")
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=wrong_cn, headers=spoof)
        self.assertEqual(r.status, 401, r)
        # A certificate from another CA with the allowed CN: not trusted.
        other_ca = c.make_ca("other-proxy-ca", "other-proxy-ca")
        other = c.make_leaf("other-proxy", other_ca[0], other_ca[1], "front-proxy-client")
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=other, headers=spoof)
        self.assertEqual(r.status, 401, r)
        # A valid user certificate of the cluster CA: the user is the certificate's, the headers
        # are ignored, and RBAC (through SubjectAccessReview) says no.
        user = c.client("plain-user")
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=user, headers=spoof)
        self.assertEqual(r.status, 403, r)
        self.assertIn('User "plain-user" cannot list resource "backups"', r.json()["message"])
        # The real front proxy with system:masters: allowed without a review.
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", cert=self.front_proxy(), headers=spoof)
        self.assertEqual(r.status, 200, r)
        # Health needs nobody; discovery needs an authenticated user only.
        self.assertEqual(self.direct("GET", "/readyz").status, 200)
        r = self.direct("GET", API, cert=self.front_proxy(), headers={"X-Remote-User": "system:kube-aggregator"})
        self.assertEqual(r.status, 200, r)

    def test_06_bearer_tokens_through_token_review(self):
        k = self.k
        k("-n", "csdr", "create", "serviceaccount", "e2e-bot", check=False)
        token = k("-n", "csdr", "create", "token", "e2e-bot").stdout.strip()
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 403, r)
        self.assertIn('User "system:serviceaccount:csdr:e2e-bot" cannot list resource "backups"',
                      r.json()["message"])
        r = self.direct("GET", f"{API}/namespaces/csdr/backups", headers={"Authorization": "Bearer not-a-token"})
        self.assertEqual(r.status, 401, r)

    def test_07_settings_from_the_configmap(self):
        # A second server with no requestheader flags and no --client-ca-file: the front-proxy
        # CA, allowed names and the client CA come from kube-system/extension-apiserver-authentication.
        cp = self.cp
        srv = cp.adopt(WithoutClientCaFlag(cp, cp.workdir / "csdr-apiserver-configmap",
                                           ("--authentication-kubeconfig", cp.kubeconfig,
                                            "--authorization-kubeconfig", cp.kubeconfig),
                                           storage="memory://")).start()
        c = cp.certs
        r = srv.request("GET", f"{API}/namespaces/csdr/backups", cert=self.front_proxy(),
                        headers={"X-Remote-User": "cm-user", "X-Remote-Group": "system:masters"})
        self.assertEqual(r.status, 200, r)
        wrong_cn = c.make_leaf("wrong-cn-proxy-2", c.front_proxy_ca, c.front_proxy_ca_key, "nope")
        r = srv.request("GET", f"{API}/namespaces/csdr/backups", cert=wrong_cn,
                        headers={"X-Remote-User": "cm-user", "X-Remote-Group": "system:masters"})
        self.assertEqual(r.status, 401, r)
        r = srv.request("GET", f"{API}/namespaces/csdr/backups", cert="admin")
        self.assertEqual(r.status, 200, r)  # admin (system:masters) via the ConfigMap's client CA
        srv.stop()

    def test_09_schedule_runs_and_its_events_in_describe(self):
        """The schedule controller makes a schedule's first Backup at once, through the same
        rules, and records an Event in the cluster that `kubectl describe` shows."""
        k = self.k
        k("apply", "-f", MANIFESTS / "examples" / "clusterprofiles" / "ackmanaged.yaml")
        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "sched-vault", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e-sched", "region": "cn-hangzhou",
                          "network": "internal"}}
        k("apply", "-f", "-", input=json.dumps(vault))
        k("-n", "csdr", "patch", "backupvault", "sched-vault", "--subresource=status",
          "--type=merge", "-p", '{"status":{"phase":"Available"}}')
        schedule = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupSchedule",
                    "metadata": {"name": "e2e-nightly", "namespace": "csdr"},
                    "spec": {"schedule": "0 4 * * *",
                             "template": {"vaultName": "sched-vault", "backupType": "AppBackup",
                                          "includedNamespaces": ["shop"]}}}
        k("create", "-f", "-", input=json.dumps(schedule))

        def last_backup():
            got = json.loads(k("-n", "csdr", "get", "backupschedule", "e2e-nightly", "-o",
                               "json").stdout)
            return got.get("status", {}).get("lastBackup", {}).get("name")
        name = wait_for(last_backup, timeout=30, what="the schedule's first run")
        self.assertIn(name, k("-n", "csdr", "get", "backups", "-l",
                              "csdr.io/schedule=e2e-nightly").stdout)
        described = wait_for(
            lambda: (lambda out: out if "SuccessfulCreate" in out else None)(
                k("-n", "csdr", "describe", "backupschedule", "e2e-nightly").stdout),
            timeout=30, what="the SuccessfulCreate event in kubectl describe")
        self.assertIn(f"Created backup {name}", described)
        self.assertIn("csdr-controllers", described)

    def lease(self, name):
        p = self.k("-n", "csdr", "get", "lease", name, "-o", "json", check=False)
        return json.loads(p.stdout)["spec"] if p.returncode == 0 else None

    def test_10_controllers_lease_in_the_cluster(self):
        """With a cluster, the controllers' lease is a coordination.k8s.io/v1 Lease in csdr
        (kubectl get lease shows the holder), renewed every 2 s, readable and writable by the
        manifests' service account; two servers on one Lease: one leads, SIGTERM of the leader
        hands over to the other through its watch of the Lease within a second or so."""
        k = self.k
        held = wait_for(lambda: (lambda s: s if s and s.get("holderIdentity") else None)(
            self.lease("csdr-controllers")), timeout=30, what="the Lease csdr/csdr-controllers")
        self.assertEqual(held["leaseDurationSeconds"], 15)
        self.assertRegex(held["holderIdentity"], r"^.+_[0-9a-f]{16}$")
        wait_for(lambda: self.lease("csdr-controllers")["renewTime"] != held["renewTime"],
                 timeout=10, interval=0.5, what="a renewal of the Lease")
        self.assertIn("csdr-controllers", k("-n", "csdr", "get", "leases").stdout)
        # The manifests' Role (base/rbac-controllers.yaml) lets the service account do what
        # the lock does, and no more: create, then get/list/watch/update that one Lease.
        sa = "--as=system:serviceaccount:csdr:csdr-apiserver"
        for verb, what, allowed in (("create", "leases", True),
                                    ("get", "leases/csdr-controllers", True),
                                    ("update", "leases/csdr-controllers", True),
                                    ("watch", "leases/csdr-controllers", True),
                                    ("update", "leases/someone-else", False),
                                    ("delete", "leases/csdr-controllers", False),
                                    ("create", "events", True)):
            p = k("auth", "can-i", verb, what, "-n", "csdr", sa, check=False)
            self.assertEqual(p.stdout.strip(), "yes" if allowed else "no", (verb, what, p.stderr))
        # The lock's list and watch carry fieldSelector metadata.name: authorized as that name.
        p = k("-n", "csdr", "get", "leases", "--field-selector", "metadata.name=csdr-controllers",
              sa, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("csdr-controllers", p.stdout)

        # Two more servers on a Lease of their own: A leads, B follows; SIGTERM of A releases
        # it and B takes it at once. B retries every 20 s: only its watch of the Lease can
        # make the handover quicker than that.
        cp = self.cp
        args = ("--kubeconfig", cp.kubeconfig, "--leader-elect-resource-name", "e2e-handover",
                "--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=40s",
                "--leader-elect-retry-period=20s")
        a = cp.start_csdr_apiserver(*args)
        first = wait_for(lambda: (lambda s: s if s and s.get("holderIdentity") else None)(
            self.lease("e2e-handover")), timeout=30, what="A holding the Lease e2e-handover")
        b = cp.start_csdr_apiserver(*args)
        master = 'csdr_leader_election_master_status{name="e2e-handover"} 1'
        wait_for(lambda: master in a.request("GET", "/metrics").text(), timeout=10,
                 what="A's metrics saying it leads")
        time.sleep(3)  # B has read the Lease and waits on its watch
        self.assertNotIn(master, b.request("GET", "/metrics").text())
        self.assertEqual(self.lease("e2e-handover")["holderIdentity"], first["holderIdentity"])
        start = time.monotonic()
        a.stop()
        wait_for(lambda: master in b.request("GET", "/metrics").text(), timeout=15, interval=0.1,
                 what="B leading after A's SIGTERM")
        took = time.monotonic() - start
        after = self.lease("e2e-handover")
        self.assertNotEqual(after["holderIdentity"], first["holderIdentity"])
        self.assertEqual(after.get("leaseTransitions", 0), first.get("leaseTransitions", 0) + 1)
        # A's stop includes its drain; B's take-over is the watch, well within a retry period.
        self.assertLess(took, 10, f"handover took {took:.1f} s")
        self.assertEqual(after["leaseDurationSeconds"], 60)
        b.stop()
        self.assertEqual(self.lease("e2e-handover")["holderIdentity"], "")

    def test_11_discovery_fills_the_profile_from_the_cluster(self):
        """The discovery controller reads Nodes, migrate-controller, csi-plugin and
        ack-cluster-profile from the real kube-apiserver (no kubelet needed: the objects are
        enough) and writes them into ClusterProfile "cluster"'s status: region, versions,
        capabilities, conditions and the -o wide columns. The rules then judge by them: a
        Cloud Backup in cn-heyuan is denied with CSDR-BK-005 while migrate-controller is
        v1.8.3, whatever the spec declares (with the CSDR-CP-005 warning), and allowed once
        the Deployment runs v1.8.4; a non-ECS node makes allNodesECS false. A stored schedule
        that Cloud Backup makes unsupported when migrate-controller goes back to v1.8.3 is
        named in the profile's StoredObjectsSupported and in its own ClusterSupported."""
        k = self.k

        def apply(obj):
            k("apply", "-f", "-", input=json.dumps(obj))

        def node(name, provider_id, region="cn-heyuan"):
            return {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name,
                                 "labels": {"topology.kubernetes.io/region": region}},
                    "spec": {"providerID": provider_id}}

        def workload(kind, name, container, image):
            labels = {"app": name}
            return {"apiVersion": "apps/v1", "kind": kind,
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "spec": {"selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"containers": [{"name": container,
                                                                   "image": image}]}}}}
        apply(node("e2e-node-a", "cn-heyuan.i-f8z1a"))
        apply(node("e2e-node-b", "cn-heyuan.i-f8z1b"))
        apply(workload("Deployment", "migrate-controller", "migrate-controller",
                       "registry-cn-heyuan.ack.aliyuncs.com/acs/migrate-controller:v1.8.3-1a2b3c4-aliyun"))
        apply(workload("DaemonSet", "csi-plugin", "csi-plugin",
                       "registry-cn-heyuan.ack.aliyuncs.com/acs/csi-plugin:v1.30.4-9f8e7d6-aliyun"))
        apply({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "ack-cluster-profile", "namespace": "kube-system"},
               "data": {"clusterid": "c0e2e", "uid": "1234567890", "vpcid": "vpc-e2e",
                        "vsw-zone": "vsw-a:cn-heyuan-a,vsw-b:cn-heyuan-b"}})
        # The example declares cn-hangzhou and v1.8.4: observed beats declared.
        k("apply", "-f", MANIFESTS / "examples" / "clusterprofiles" / "ackmanaged.yaml")

        def status():
            return json.loads(k("get", "clusterprofile", "cluster", "-o", "json").stdout).get(
                "status", {})
        # Each source is a watch of its own: wait until the profile holds what every one saw
        # (the ConfigMap's may come a sync after the Deployment's).
        got = wait_for(lambda: (lambda st: st if st.get("componentVersion") == "v1.8.3" and
                                st.get("regionID") == "cn-heyuan" and "clusterID" in st and
                                "csiVersion" in st and "zones" in st else None)(status()),
                       timeout=30, interval=0.5, what="the observed facts in the profile")
        self.assertEqual(got["csiVersion"], "v1.30.4")
        self.assertTrue(got["allNodesECS"])
        self.assertFalse(got["flexVolumeDetected"])
        self.assertEqual(got["clusterID"], "c0e2e")
        self.assertEqual(got["zones"], ["cn-heyuan-a", "cn-heyuan-b"])
        self.assertRegex(got["kubernetesVersion"], r"^v1\.\d+\.\d+")
        self.assertFalse(got["capabilities"]["cloudBackup"])
        self.assertTrue(got["capabilities"]["ecsSnapshot"])
        conditions = {c["type"]: c for c in got["conditions"]}
        self.assertEqual(conditions["ProfileDiscovered"]["reason"], "DeclaredDiffers")
        self.assertIn('spec.regionID "cn-hangzhou" disagrees with the observed "cn-heyuan"',
                      conditions["ProfileDiscovered"]["message"])
        self.assertEqual(conditions["Supported"]["status"], "True")
        wide = k("get", "cprof", "cluster", "-o", "wide").stdout
        header, row = wide.splitlines()[0].split(), wide.splitlines()[1].split()
        for column in ("REGION", "COMPONENT", "K8S", "SUPPORTED", "VOLUME", "CLOUD", "CROSS-REGION"):
            self.assertIn(column, header)
        self.assertIn("cn-heyuan", row)
        self.assertIn("v1.8.3", row)

        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "discovery-vault", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e-discovery", "region": "cn-heyuan",
                          "network": "internal"}}
        apply(vault)
        k("-n", "csdr", "patch", "backupvault", "discovery-vault", "--subresource=status",
          "--type=merge", "-p", '{"status":{"phase":"Available"}}')
        backup = {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
                  "metadata": {"name": "discovery-cloud", "namespace": "csdr"},
                  "spec": {"vaultName": "discovery-vault", "backupType": "AppAndPvBackup",
                           "includedNamespaces": ["shop"],
                           "volumeBackup": {"method": "CloudBackup"}}}
        p = k("create", "--dry-run=server", "-f", "-", input=json.dumps(backup), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("[CSDR-BK-005]", p.stderr)

        # migrate-controller upgraded, a node that is no ECS instance joins.
        apply(workload("Deployment", "migrate-controller", "migrate-controller",
                       "registry-cn-heyuan.ack.aliyuncs.com/acs/migrate-controller:v1.8.4-8bea6b9-aliyun"))
        apply(node("e2e-node-c", "kind://docker/e2e/node-c"))
        got = wait_for(lambda: (lambda st: st if st.get("componentVersion") == "v1.8.4" and
                                st.get("allNodesECS") is False else None)(status()),
                       timeout=30, interval=0.5, what="the upgrade and the new node observed")
        self.assertTrue(got["capabilities"]["cloudBackup"])
        p = k("create", "--dry-run=server", "-f", "-", input=json.dumps(backup), check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The declared region still disagrees: kubectl prints the warning.
        self.assertIn('[CSDR-CP-005] ClusterProfile "cluster" declares spec.regionID '
                      '"cn-hangzhou" but the cluster shows "cn-heyuan"', p.stderr)

        # Cluster changes re-judge what is stored: a schedule that backs up with Cloud Backup,
        # admitted under v1.8.4; migrate-controller goes back to v1.8.3: the profile names
        # the schedule with the rule's ID, and the schedule's own condition says it.
        schedule = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupSchedule",
                    "metadata": {"name": "discovery-cloud", "namespace": "csdr"},
                    "spec": {"schedule": "0 4 * * *", "paused": True,
                             "template": backup["spec"]}}
        k("create", "-f", "-", input=json.dumps(schedule))

        def condition(obj, kind, wanted=None):
            for c in obj.get("status", {}).get("conditions", []):
                if c["type"] == kind and wanted in (None, c["status"]):
                    return c
            return None

        def stored():  # the profile's StoredObjectsSupported
            return condition({"status": status()}, "StoredObjectsSupported") or {}

        def schedule_condition(wanted):
            return condition(json.loads(k("-n", "csdr", "get", "backupschedule", "discovery-cloud",
                                          "-o", "json").stdout), "ClusterSupported", wanted)
        # Other tests' objects share this cluster and may fail rules of their own: what is
        # asserted is what the profile says of this schedule.
        name = "BackupSchedule csdr/discovery-cloud: "
        first = wait_for(lambda: (lambda c: c if c.get("status") else None)(stored()),
                         timeout=30, interval=0.5, what="StoredObjectsSupported")
        self.assertNotIn(name, first.get("message", ""))
        self.assertIsNone(schedule_condition("False"))
        apply(workload("Deployment", "migrate-controller", "migrate-controller",
                       "registry-cn-heyuan.ack.aliyuncs.com/acs/migrate-controller:v1.8.3-1a2b3c4-aliyun"))
        broken = wait_for(lambda: (lambda c: c if name in c.get("message", "") else None)(stored()),
                          timeout=30, interval=0.5, what="StoredObjectsSupported naming the schedule")
        self.assertEqual((broken["status"], broken["reason"]), ("False", "Broken"), broken)
        self.assertIn(name + "[CSDR-BK-005] ", broken["message"])
        own = wait_for(lambda: schedule_condition("False"), timeout=30, interval=0.5,
                       what="the schedule's ClusterSupported False")
        self.assertEqual(own["reason"], "RuleFailed")
        self.assertIn("[CSDR-BK-005]", own["message"])
        # Mended: upgraded again, the schedule's condition says True and the profile's no
        # longer names it.
        apply(workload("Deployment", "migrate-controller", "migrate-controller",
                       "registry-cn-heyuan.ack.aliyuncs.com/acs/migrate-controller:v1.8.4-8bea6b9-aliyun"))
        wait_for(lambda: schedule_condition("True"), timeout=30, interval=0.5,
                 what="the schedule's ClusterSupported back to True")
        wait_for(lambda: name not in stored().get("message", ""), timeout=30, interval=0.5,
                 what="StoredObjectsSupported no longer naming the schedule")
        print(f"\n  [info] StoredObjectsSupported with the other tests' objects: "
              f"{stored().get('status')} {stored().get('message', '')[:300]}", flush=True)
        k("-n", "csdr", "delete", "backupschedule", "discovery-cloud")

        # The manifests let the service account read exactly these, by name.
        sa = "--as=system:serviceaccount:csdr:csdr-apiserver"
        for verb, what, ns, allowed in (("list", "nodes", None, True),
                                        ("watch", "deployments/migrate-controller", "kube-system", True),
                                        ("get", "daemonsets/csi-plugin", "kube-system", True),
                                        ("get", "configmaps/ack-cluster-profile", "kube-system", True),
                                        ("get", "configmaps/coredns", "kube-system", False),
                                        ("list", "deployments", "kube-system", False)):
            args = ["auth", "can-i", verb, what, sa] + (["-n", ns] if ns else [])
            p = k(*args, check=False)
            self.assertEqual(p.stdout.strip(), "yes" if allowed else "no", (verb, what, p.stderr))
        # The objects go: the profile's facts from them go too, the Nodes' stay as observed.
        for kind, name, ns in (("deployment", "migrate-controller", "kube-system"),
                               ("daemonset", "csi-plugin", "kube-system"),
                               ("node", "e2e-node-a", None), ("node", "e2e-node-b", None),
                               ("node", "e2e-node-c", None)):
            k("delete", kind, name, *(["-n", ns] if ns else []))
        wait_for(lambda: "componentVersion" not in status(), timeout=30, interval=0.5,
                 what="componentVersion gone with its Deployment")

    def test_12_the_aggregator_speaks_h2_and_the_webhook_client_http11(self):
        """kube-aggregator proxies to us over HTTP/2 (one pooled connection, watches as
        streams); kube-apiserver's admission webhook client calls /validate over HTTP/1.1, on
        purpose. Read from our access log (--v 2 names each request's protocol)."""
        log_file = self.srv.workdir / "csdr-apiserver.log"
        start = log_file.stat().st_size
        self.k("get", "backupvaults", "-A")
        p = self.k("-n", "kube-system", "get", "backups", "-w", "--request-timeout=2s",
                   check=False, timeout=30)
        self.assertEqual(p.stderr.count("error"), 0, p.stderr)
        p = self.k("delete", "ns", "csdr", "--dry-run=server", check=False)  # the webhook denies
        self.assertIn("namespaces.csdr.io", p.stderr)

        def lines():
            with open(log_file, "rb") as f:
                f.seek(start)
                return f.read().decode(errors="replace").splitlines()

        def requests(pattern):
            return [ln for ln in lines() if re.search(pattern, ln)]

        wait_for(lambda: requests(r"\] POST /validate 200 .*protocol="), timeout=10,
                 what="the webhook call in the access log")
        for ln in requests(r"\] POST /validate "):
            self.assertIn("protocol=HTTP/1.1", ln)
        proxied = requests(r"\] GET /apis/csdr\.io/v1alpha1/(namespaces/kube-system/)?"
                           r"(backupvaults|backups)\b")
        self.assertGreaterEqual(len(proxied), 2, "\n".join(lines()[-20:]))
        for ln in proxied:
            self.assertIn("protocol=HTTP/2.0", ln)
        # Our metrics say the same.
        m = self.srv.request("GET", "/metrics").text()
        h2 = re.search(r'^csdr_http_requests_total\{protocol="HTTP/2"\} (\d+)', m, re.M)
        conns = re.search(r"^csdr_http2_connections_total (\d+)", m, re.M)
        self.assertGreaterEqual(int(h2.group(1)), len(proxied))
        self.assertGreater(int(conns.group(1)), 0)

    def test_08_kubectl_suite_rules_and_webhook_through_the_cluster(self):
        k = self.k
        k("apply", "-f", MANIFESTS / "examples" / "clusterprofiles" / "ackmanaged.yaml")
        vault = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "suite-vault", "namespace": "csdr"},
                 "spec": {"bucket": "cnfs-oss-e2e-suite", "region": "cn-hangzhou", "network": "internal"}}
        # Client-side apply, then server-side apply of a change, then a merge patch.
        k("apply", "-f", "-", input=json.dumps(vault))
        vault["metadata"]["labels"] = {"applied": "server-side"}
        k("apply", "--server-side", "--field-manager=e2e", "--force-conflicts", "-f", "-", input=json.dumps(vault))
        k("-n", "csdr", "patch", "backupvault", "suite-vault", "--type=merge", "-p",
          '{"metadata":{"annotations":{"e2e":"patched"}}}')
        got = json.loads(k("-n", "csdr", "get", "backupvault", "suite-vault", "-o", "json").stdout)
        self.assertEqual(got["metadata"]["labels"]["applied"], "server-side")
        self.assertEqual(got["metadata"]["annotations"]["e2e"], "patched")
        self.assertIn("suite-vault", k("-n", "csdr", "describe", "backupvault", "suite-vault").stdout)
        # kubectl edit through the aggregator (GET, then a merge patch of the diff).
        editor = self.cp.workdir / "edit-network.sh"
        editor.write_text("#!/bin/sh\nsed -i 's/network: internal/network: public/' \"$1\"\n")
        editor.chmod(0o755)
        os.environ["KUBE_EDITOR"] = str(editor)
        try:
            k("-n", "csdr", "edit", "backupvault", "suite-vault")
        finally:
            del os.environ["KUBE_EDITOR"]
        got = json.loads(k("-n", "csdr", "get", "backupvault", "suite-vault", "-o", "json").stdout)
        self.assertEqual(got["spec"]["network"], "public")
        # A watch streams through the aggregator (the request timeout ends it).
        p = k("-n", "csdr", "get", "backupvaults", "-w", "--request-timeout=3s", check=False, timeout=30)
        self.assertIn("suite-vault", p.stdout)

        # The rules' denials as kubectl prints them: in-process admission behind the aggregator...
        b = {"apiVersion": "csdr.io/v1alpha1", "kind": "Backup",
             "metadata": {"name": "to-nowhere", "namespace": "csdr"},
             "spec": {"vaultName": "missing", "backupType": "AppBackup", "includedNamespaces": ["shop"],
                      "ttl": "720h"}}
        p = k("create", "-f", "-", input=json.dumps(b), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('[CSDR-BK-001] backup vault "missing" is not Available (phase=NotFound)', p.stderr)
        # A rule's warning reaches kubectl through the aggregator as a Warning header.
        plain = {"apiVersion": "csdr.io/v1alpha1", "kind": "BackupVault",
                 "metadata": {"name": "plain-bucket", "namespace": "csdr"},
                 "spec": {"bucket": "my-own-bucket", "region": "cn-hangzhou", "network": "internal"}}
        p = k("create", "-f", "-", input=json.dumps(plain))
        self.assertIn("Warning: [CSDR-BV-002]", p.stderr)
        k("-n", "csdr", "delete", "backupvault", "plain-bucket")
        # ...and the webhook registered by manifests/, called by kube-apiserver.
        p = k("delete", "ns", "csdr", "--dry-run=server", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('admission webhook "namespaces.csdr.io" denied the request: [CSDR-NS-001]', p.stderr)
        k("-n", "csdr", "delete", "backupvault", "suite-vault", "--wait=true")


if __name__ == "__main__":
    unittest.main()
