"""Moving and keeping data with the binary's own commands (issue 13).

A server on SQLite is filled over HTTP (one object of each kind from the examples, a vault that
was deleted and so left a tombstone, labelled backups); `csdr-apiserver backup` copies its file
while the server serves and writers keep creating backups; `csdr-apiserver migrate` copies the
backup into a new SQLite file; a server started on the new file serves the same objects: names,
uids, creationTimestamps, labels and content, only resourceVersions new. The tombstone, an
internal key, comes along: a deleted vault's name still cannot be reused (CSDR-BV-004). A second
migrate into the now non-empty file is refused with one line and changes nothing. And the same
objects go from SQLite to etcd (Debian's etcd-server, started on loopback ports) and back.
"""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import unittest
from pathlib import Path

import yaml

import harness
from harness import ServerTestCase

BACKUPS = 100
ETCD = os.environ.get("CSDR_ETCD", shutil.which("etcd") or "/usr/bin/etcd")
RESOURCES = ["clusterprofiles", "backupvaults", "backups", "restores", "backupschedules"]
TOOL_TIMEOUT_S = 120


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def without_rv(o):
    o = dict(o)
    o["metadata"] = {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}
    return o


class Etcd:
    """One etcd member on loopback ports with its data in `workdir` (Debian's etcd-server)."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.proc = None

    def start(self):
        for _ in range(3):
            self.port, peer = harness.free_port(), harness.free_port()
            client_url, peer_url = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{peer}"
            shutil.rmtree(self.workdir / "data", ignore_errors=True)
            self.workdir.mkdir(parents=True, exist_ok=True)
            log = open(self.workdir / "etcd.log", "wb")
            self.proc = subprocess.Popen(
                [ETCD, "--name", "it", "--data-dir", str(self.workdir / "data"),
                 "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", f"it={peer_url}", "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            try:
                harness.wait_for(self.healthy, timeout=20, what="etcd /health")
                return self
            except (AssertionError, RuntimeError):
                self.stop()
        raise RuntimeError("etcd did not start:\n" + (self.workdir / "etcd.log").read_text())

    def healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"etcd exited with {self.proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read()).get("health") == "true"
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MigrateTest(ServerTestCase):

    def tool(self, *args):
        cmd = [str(harness.BINARY)] + [str(a) for a in args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                              cwd=self.workdir)

    def set_status(self, s, resource, name, status):
        r = s.request("PATCH", s.path(resource, name, subresource="status"), {"status": status},
                      content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)

    def objects(self, s):
        """resource -> name -> object, every kind."""
        out = {}
        for resource in RESOURCES:
            ns = None if resource == "clusterprofiles" else harness.NAMESPACE
            r = s.list(resource, namespace=ns)
            self.assertEqual(r.status, 200, r)
            out[resource] = {o["metadata"]["name"]: o for o in r.json()["items"]}
        return out

    def fill(self, s):
        examples = {o["kind"]: o for o in yaml.safe_load_all(harness.EXAMPLES.read_text()) if o}
        s.create("clusterprofiles", examples["ClusterProfile"], namespace=None)
        s.create("backupvaults", examples["BackupVault"])
        self.set_status(s, "backupvaults", "prod-vault", {"phase": "Available"})
        s.create("backups", examples["Backup"])
        s.create("backupschedules", examples["BackupSchedule"])
        self.set_status(s, "backups", "shop-backup", {"phase": "Completed"})
        s.create("restores", examples["Restore"])
        # A deleted vault leaves a tombstone under /registry/csdr.io/_backupvault_tombstones/.
        s.create("backupvaults", harness.vault("old-vault"))
        r = s.request("DELETE", s.path("backupvaults", "old-vault"))
        self.assertEqual(r.status, 200, r)
        for i in range(BACKUPS):
            b = harness.backup(f"b-{i:03d}", labels={"batch": str(i % 3)})
            # About 1 KiB each, so that the file spans a few hundred pages to copy in steps.
            b["spec"]["includedNamespaces"] = [f"ns-{i}-{j:03d}" for j in range(60)]
            s.create("backups", b)
        r = s.request("PATCH", s.path("backups", "b-001"), {"metadata": {"labels": {"edited": "yes"}}},
                      content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)

    def test_backup_while_serving_then_migrate_and_serve_the_copy(self):
        for command in ("migrate", "backup"):
            proc = self.tool(command, "--help")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(f"Usage: csdr-apiserver {command}", proc.stdout)

        s = self.start_server(policy=True)
        self.fill(s)
        before = self.objects(s)

        # Writers keep creating backups while the backup runs; what they saw acknowledged before
        # it started must be in it.
        stop = threading.Event()
        acked = []
        lock = threading.Lock()

        def writer(t):
            i = 0
            while not stop.is_set():
                name = f"w-{t}-{i}"
                i += 1
                r = s.request("POST", s.path("backups"), harness.backup(name), timeout=10)
                if r.status == 201:
                    with lock:
                        acked.append(name)

        writers = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(2)]
        for w in writers:
            w.start()
        try:
            harness.wait_for(lambda: len(acked) >= 10, timeout=30, what="10 concurrent writes")
            with lock:
                acked_before = list(acked)
            backup_file = self.workdir / "backups" / "csdr-backup.db"
            proc = self.tool("backup", "--storage", s.storage, "--to", backup_file,
                             "--pages-per-step", "2", "--pause", "10ms")
            with lock:
                acked_during = len(acked) - len(acked_before)
        finally:
            stop.set()
            for w in writers:
                w.join(15)
        self.assertEqual(proc.returncode, 0, f"backup failed:\n{proc.stdout}{proc.stderr}")
        self.assertIn("integrity_check ok", proc.stdout)
        self.assertTrue(s.alive(), "the server died during the backup")
        print(f"backup: {proc.stdout.strip()} ({acked_during} creates acknowledged during it)")
        self.assertEqual(sorted(p.name for p in backup_file.parent.iterdir()), ["csdr-backup.db"],
                         "temporary files left beside the backup")

        new_dir = self.workdir / "migrated"
        target = f"sqlite://{new_dir / 'csdr.db'}"
        proc = self.tool("migrate", "--from", f"sqlite://{backup_file}", "--to", target)
        self.assertEqual(proc.returncode, 0, f"migrate failed:\n{proc.stdout}{proc.stderr}")
        print(proc.stdout.strip())
        self.assertIn("verified", proc.stdout)
        self.assertRegex(proc.stdout, r"_backupvault_tombstones\.csdr\.io\s+1\n")
        self.assertRegex(proc.stdout, r"clusterprofiles\.csdr\.io\s+1\n")

        # Into a target that is not empty: refused in one line, the file untouched.
        digest = sha256(new_dir / "csdr.db")
        again = self.tool("migrate", "--from", f"sqlite://{backup_file}", "--to", target)
        self.assertNotEqual(again.returncode, 0, again.stdout)
        self.assertEqual(len(again.stderr.strip().splitlines()), 1, again.stderr)
        self.assertIn("not empty", again.stderr)
        self.assertEqual(sha256(new_dir / "csdr.db"), digest, "the refused migrate changed the file")

        t = self.start_server(policy=True, data_dir=new_dir)
        after = self.objects(t)
        original = self.objects(s)
        for resource in RESOURCES:
            for name, o in before[resource].items():
                with self.subTest(resource=resource, name=name):
                    self.assertIn(name, after[resource], "missing after backup and migrate")
                    got = after[resource][name]
                    for field in ("name", "namespace", "uid", "creationTimestamp", "labels",
                                  "generation"):
                        self.assertEqual(got["metadata"].get(field), o["metadata"].get(field), field)
                    self.assertEqual(without_rv(got), without_rv(o))
            extra = set(after[resource]) - set(before[resource])
            for name in extra:  # only creates that raced the backup, as they were acknowledged
                with self.subTest(resource=resource, name=name):
                    self.assertTrue(name.startswith("w-"), f"unexpected {resource} {name}")
                    self.assertEqual(without_rv(after[resource][name]),
                                     without_rv(original[resource][name]))
        for name in acked_before:
            self.assertIn(name, after["backups"], f"{name}, acknowledged before the backup, is lost")

        # resourceVersions are the new store's own, and it goes on writing after them.
        rvs = [int(o["metadata"]["resourceVersion"]) for objs in after.values() for o in objs.values()]
        self.assertEqual(len(set(rvs)), len(rvs), "two objects with one resourceVersion")
        r = t.create("backups", harness.backup("after-migrate"))
        self.assertGreater(int(r.json()["metadata"]["resourceVersion"]), max(rvs))
        # The tombstone came along: the deleted vault's name is still taken.
        r = t.create("backupvaults", harness.vault("old-vault"), expect=None)
        self.assertEqual(r.status, 403, r)
        self.assertIn("CSDR-BV-004", r.text())

    @unittest.skipUnless(Path(ETCD).exists(), f"no etcd binary at {ETCD} (Debian's etcd-server)")
    def test_sqlite_to_etcd_and_back(self):
        s = self.start_server(policy=True)
        self.fill(s)
        before = self.objects(s)
        self.assertEqual(s.stop(), 0)  # a stopped server's file: migrate can take its lock

        etcd = Etcd(self.workdir / "etcd").start()
        self.addCleanup(etcd.stop)
        on_etcd = f"etcd://127.0.0.1:{etcd.port}/csdr-it"
        proc = self.tool("migrate", "--from", s.storage, "--to", on_etcd)
        self.assertEqual(proc.returncode, 0, f"migrate to etcd failed:\n{proc.stdout}{proc.stderr}")
        self.assertIn("verified", proc.stdout)
        again = self.tool("migrate", "--from", s.storage, "--to", on_etcd)
        self.assertNotEqual(again.returncode, 0, again.stdout)
        self.assertIn("not empty", again.stderr)

        back_dir = self.workdir / "back"
        proc = self.tool("migrate", "--from", on_etcd, "--to", f"sqlite://{back_dir / 'csdr.db'}")
        self.assertEqual(proc.returncode, 0, f"migrate from etcd failed:\n{proc.stdout}{proc.stderr}")
        self.assertRegex(proc.stdout, r"_backupvault_tombstones\.csdr\.io\s+1\n")

        t = self.start_server(policy=True, data_dir=back_dir)
        after = self.objects(t)
        for resource in RESOURCES:
            self.assertEqual(sorted(after[resource]), sorted(before[resource]), resource)
            for name, o in before[resource].items():
                with self.subTest(resource=resource, name=name):
                    self.assertEqual(without_rv(after[resource][name]), without_rv(o))
        r = t.create("backupvaults", harness.vault("old-vault"), expect=None)
        self.assertEqual(r.status, 403, r)
        self.assertIn("CSDR-BV-004", r.text())
