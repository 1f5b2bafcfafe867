"""Debian's python3-kubernetes dynamic client against the real server: discovery, CRUD, watch."""

import threading
import time
import unittest

from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

import harness
from harness import NAMESPACE, ServerTestCase


class DynamicClientTest(ServerTestCase):

    def setUp(self):
        self.server = self.start_server()
        config = k8s_client.Configuration()
        config.host = f"https://127.0.0.1:{self.server.port}"
        config.ssl_ca_cert = str(self.server.certs.ca)
        cert, key = self.server.certs.client("admin")
        config.cert_file, config.key_file = str(cert), str(key)
        self.api_client = k8s_client.ApiClient(config)
        self.addCleanup(self.api_client.close)
        self.dyn = DynamicClient(self.api_client, cache_file=str(self.workdir / "discovery.json"))
        self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="ClusterProfile").create(
            body=harness.cluster_profile())

    def test_discovery(self):
        backups = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="Backup")
        self.assertEqual(backups.name, "backups")
        self.assertTrue(backups.namespaced)
        self.assertEqual(backups.group, "csdr.io")
        self.assertIn("cbk", backups.short_names)
        self.assertIn("csdr", backups.categories or [])
        for verb in ("create", "get", "list", "patch", "update", "delete", "deletecollection", "watch"):
            self.assertIn(verb, backups.verbs)
        self.assertIn("status", backups.subresources)
        self.assertEqual(sorted(backups.subresources["status"].verbs), ["get", "patch", "update"])
        profiles = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="ClusterProfile")
        self.assertFalse(profiles.namespaced)
        self.assertEqual(profiles.short_names, ["cprof"])
        schedules = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="BackupSchedule")
        self.assertEqual((schedules.name, schedules.short_names), ("backupschedules", ["cbs"]))

    def test_crud(self):
        vaults = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="BackupVault")
        backups = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="Backup")
        vaults.create(body=harness.vault(), namespace=NAMESPACE)

        created = backups.create(body=harness.backup("py-backup", labels={"app": "shop"}), namespace=NAMESPACE)
        self.assertEqual(created.kind, "Backup")
        self.assertEqual(created.metadata.name, "py-backup")
        self.assertTrue(created.metadata.uid)
        rv1 = created.metadata.resourceVersion

        got = backups.get(name="py-backup", namespace=NAMESPACE)
        self.assertEqual(got.spec.vaultName, "prod-vault")
        self.assertEqual(got.metadata.resourceVersion, rv1)

        generated = backups.create(body=harness.obj("Backup", None, {"vaultName": "prod-vault"},
                                                   generateName="py-gen-"), namespace=NAMESPACE)
        self.assertRegex(generated.metadata.name, r"^py-gen-[a-z0-9]{5}$")

        listed = backups.get(namespace=NAMESPACE)
        self.assertEqual(listed.kind, "BackupList")
        self.assertEqual(sorted(i.metadata.name for i in listed.items),
                         sorted(["py-backup", generated.metadata.name]))
        self.assertTrue(listed.metadata.resourceVersion)
        selected = backups.get(namespace=NAMESPACE, label_selector="app=shop")
        self.assertEqual([i.metadata.name for i in selected.items], ["py-backup"])
        by_field = backups.get(namespace=NAMESPACE, field_selector="metadata.name=py-backup")
        self.assertEqual([i.metadata.name for i in by_field.items], ["py-backup"])

        patched = backups.patch(name="py-backup", namespace=NAMESPACE,
                                body={"metadata": {"labels": {"team": "py"}}},
                                content_type="application/merge-patch+json")
        self.assertEqual(patched.metadata.labels["team"], "py")
        self.assertEqual(patched.metadata.labels["app"], "shop")
        self.assertGreater(int(patched.metadata.resourceVersion), int(rv1))

        stale = got.to_dict()
        stale["metadata"]["labels"] = {"team": "stale"}
        with self.assertRaises(ConflictError):
            backups.replace(body=stale, namespace=NAMESPACE)

        backups.status.patch(name="py-backup", namespace=NAMESPACE, body={"status": {"phase": "Completed"}},
                     content_type="application/merge-patch+json")
        completed = backups.get(namespace=NAMESPACE, field_selector="status.phase=Completed")
        self.assertEqual([i.metadata.name for i in completed.items], ["py-backup"])

        backups.delete(name="py-backup", namespace=NAMESPACE)
        with self.assertRaises(NotFoundError):
            backups.get(name="py-backup", namespace=NAMESPACE)

    def test_watch_added_modified_deleted(self):
        backups = self.dyn.resources.get(api_version="csdr.io/v1alpha1", kind="Backup")
        rv = backups.get(namespace=NAMESPACE).metadata.resourceVersion
        events = []
        started = threading.Event()

        def consume():
            started.set()
            for ev in backups.watch(namespace=NAMESPACE, resource_version=rv, timeout=20):
                events.append((ev["type"], ev["object"].metadata.name))
                if ev["type"] == "DELETED":
                    return

        t = threading.Thread(target=consume, daemon=True)
        t.start()
        started.wait()
        time.sleep(0.5)  # let the watch request reach the server (events after rv are kept anyway)
        backups.create(body=harness.backup("watched"), namespace=NAMESPACE)
        backups.patch(name="watched", namespace=NAMESPACE, body={"metadata": {"labels": {"x": "y"}}},
                      content_type="application/merge-patch+json")
        backups.delete(name="watched", namespace=NAMESPACE)
        t.join(25)
        self.assertFalse(t.is_alive(), f"watch did not deliver DELETED; got {events}")
        self.assertEqual(events, [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")])


if __name__ == "__main__":
    unittest.main()
