"""The backup center's rules through the real binary and the real kubectl (issue 4).

The server runs with its admission plugin on (the REST suites turn it off). Statuses that a
controller would write (a vault's Available, a backup's Completed) are set through the status
subresource, as a controller would. Runs with the kubectl named by $CSDR_KUBECTL.
"""

import json
import os
import subprocess
import unittest

import yaml

from harness import ServerTestCase, obj

KUBECTL = os.environ.get("CSDR_KUBECTL", "/usr/bin/kubectl")


class RulesTest(ServerTestCase):

    def setUp(self):
        self.server = self.start_server(policy=True)
        self.home = self.workdir / "home"
        self.home.mkdir()
        self.env = dict(os.environ, HOME=str(self.home))

    def k(self, *args, ok=True, stdin=None):
        cmd = [KUBECTL, "--kubeconfig", str(self.server.certs.kubeconfig),
               "--cache-dir", str(self.home / "cache")] + [str(a) for a in args]
        proc = subprocess.run(cmd, env=self.env, input=stdin, capture_output=True, text=True, timeout=60)
        shown = "kubectl " + " ".join(str(a) for a in args)
        if ok is True and proc.returncode != 0:
            self.fail(f"`{shown}` exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        if ok is False and proc.returncode == 0:
            self.fail(f"`{shown}` should have failed\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def create(self, o, ok=True):
        return self.k("create", "-f", "-", ok=ok, stdin=yaml.safe_dump(o))

    def profile(self, cluster_type, region="cn-hangzhou", version="v1.8.4"):
        self.create(obj("ClusterProfile", "cluster", {"clusterType": cluster_type, "regionID": region,
                                                       "componentVersion": version}))

    def set_status(self, resource, name, status):
        self.k("patch", resource, name, "-n", "csdr", "--subresource=status", "--type=merge",
               "-p", json.dumps({"status": status}))

    def available_vault(self, name="prod-vault", region="cn-hangzhou"):
        self.create(obj("BackupVault", name, {"bucket": f"cnfs-oss-{name}", "region": region,
                                               "network": "internal"}))
        self.set_status("backupvaults", name, {"phase": "Available"})

    def backup(self, name, backup_type="AppBackup", method=None, ok=True):
        spec = {"vaultName": "prod-vault", "backupType": backup_type, "includedNamespaces": ["shop"],
                "ttl": "720h"}
        if method:
            spec["volumeBackup"] = {"method": method}
        return self.create(obj("Backup", name, spec), ok=ok)

    def test_serverless_basic_refuses_everything(self):
        self.profile("ACKServerlessBasic")
        r = self.create(obj("BackupVault", "prod-vault", {"bucket": "cnfs-oss-prod", "region": "cn-hangzhou"}),
                        ok=False)
        self.assertIn("[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters",
                      r.stderr)
        self.assertIn("Forbidden", r.stderr)
        self.assertEqual(self.k("get", "backupvaults", "-n", "csdr", "-o", "name").stdout.strip(), "")

    def test_edge_refuses_volume_backup(self):
        self.profile("ACKEdge")
        self.available_vault()
        r = self.backup("with-volumes", backup_type="AppAndPvBackup", method="Snapshot", ok=False)
        self.assertIn("[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge "
                      "clusters; use backupType AppBackup", r.stderr)
        self.backup("apps-only")  # the same cluster takes an application-only backup

    def test_cloud_backup_in_heyuan_needs_v184(self):
        # Method Auto may pick Cloud Backup, so it is judged as Cloud Backup (docs/rules.md).
        self.profile("ACKManaged", region="cn-heyuan", version="v1.8.3")
        self.available_vault(region="cn-heyuan")
        r = self.backup("hbr-old", backup_type="AppAndPvBackup", method="Auto", ok=False)
        self.assertIn("[CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) and "
                      "China (Guangzhou) requires migrate-controller v1.8.4 or later", r.stderr)
        self.k("patch", "clusterprofile", "cluster", "--type=merge", "-p",
               '{"spec":{"componentVersion":"v1.8.4"}}')
        r = self.backup("hbr-new", backup_type="AppAndPvBackup", method="Auto")
        self.assertIn("backup.csdr.io/hbr-new created", r.stdout)
        # kubectl prints the admission warning from the Warning header.
        self.assertIn("Warning: [CSDR-BK-006]", r.stderr)

    def test_cross_region_restore_needs_v177(self):
        self.profile("ACKManaged", region="cn-hangzhou", version="v1.7.6")
        self.available_vault()
        self.backup("from-beijing")
        self.set_status("backups", "from-beijing",
                        {"phase": "Completed", "dataType": "none",
                         "sourceCluster": {"regionID": "cn-beijing", "componentVersion": "v1.7.6"}})
        restore = obj("Restore", "cross", {"backupName": "from-beijing", "restoreVolumes": False})
        r = self.create(restore, ok=False)
        self.assertIn("[CSDR-RS-002] cross-region restore requires migrate-controller v1.7.7 or later", r.stderr)
        self.k("patch", "clusterprofile", "cluster", "--type=merge", "-p",
               '{"spec":{"componentVersion":"v1.7.7"}}')
        self.assertIn("restore.csdr.io/cross created", self.create(restore).stdout)

    def test_dedicated_cluster_without_a_cluster_fails_closed(self):
        # Standalone: the AccessKey Secret cannot be checked, so the rule refuses and says why.
        self.profile("ACKDedicated")
        r = self.create(obj("BackupVault", "prod-vault", {"bucket": "cnfs-oss-prod", "region": "cn-hangzhou"}),
                        ok=False)
        self.assertIn("[CSDR-DEP-004]", r.stderr)
        self.assertIn("no cluster configured", r.stderr)

    def test_status_writes_are_not_blocked_by_spec_rules(self):
        self.profile("ACKManaged")
        self.available_vault()
        self.backup("b1")
        # The profile changes to a type on which this backup could not be created any more; the
        # controller still reports progress on it.
        self.set_status("backups", "b1", {"phase": "InProgress"})
        self.assertEqual(json.loads(self.k("get", "backups", "b1", "-n", "csdr", "-o", "json").stdout)
                         ["status"]["phase"], "InProgress")

    def test_dry_run_is_admitted_too(self):
        self.profile("ACKServerlessBasic")
        r = self.k("create", "--dry-run=server", "-f", "-", ok=False,
                   stdin=yaml.safe_dump(obj("BackupVault", "v", {"bucket": "cnfs-oss-v", "region": "cn-hangzhou"})))
        self.assertIn("[CSDR-DEP-002]", r.stderr)


if __name__ == "__main__":
    unittest.main()
