"""The built-in controllers in the real binary (issue 16): schedules, retention, expiry, and
the columns kubectl shows for them; and one active controller among two replicas on etcd.

One server on SQLite, policy off (the rules have their own suite; a denied run is covered by
the unit tests with an admission seam):
- a new schedule ("* * * * *") makes its first Backup at once, labelled and owned, then one at
  the next minute boundary, named by that due time;
- a paused schedule makes nothing and says Paused;
- retention prunes Backups labelled with the schedule down to keepLast (in-progress kept);
- a Backup whose status.expiration is set into the past is gone within seconds; one with a
  finalizer is marked for deletion and stays until the finalizer goes;
- `kubectl get backupschedules` prints LAST BACKUP, LAST STATUS and NEXT RUN filled in;
- --controllers=-schedule,-expiry turns them off.
Two servers on one etcd: exactly one holds the lease; SIGTERM of that one hands over within a
second; kill -9 of the holder is taken over after the lease (15 s) by the other, and a
schedule's runs meanwhile are made once each.
"""

import datetime
import json
import os
import signal
import subprocess
import time
import unittest

import harness
from harness import ServerTestCase

KUBECTL = os.environ.get("CSDR_KUBECTL", "/usr/bin/kubectl")


def schedule(name, spec):
    s = {"template": {"vaultName": "prod-vault", "includedNamespaces": ["shop"]}}
    s.update(spec)
    return harness.obj("BackupSchedule", name, s)


def names(server, selector=None):
    q = {"labelSelector": selector} if selector else None
    return sorted(b["metadata"]["name"] for b in server.list("backups", query=q).json()["items"])


def set_status(server, resource, name, status):
    obj = server.get(resource, name).json()
    obj.setdefault("status", {}).update(status)
    r = server.request("PUT", server.path(resource, name, subresource="status"),
                       body=json.dumps(obj))
    assert r.status == 200, r


class ControllersTest(ServerTestCase):
    def test_schedules_retention_expiry_and_columns(self):
        s = self.start_server(controllers=True)
        s.create("backupvaults", harness.vault())
        created = s.create("backupschedules", schedule("minutely", {"schedule": "* * * * *"})).json()
        first = harness.wait_for(lambda: names(s, "csdr.io/schedule=minutely"), timeout=10,
                                 what="the schedule's first backup")
        self.assertEqual(len(first), 1)
        backup = s.get("backups", first[0]).json()
        self.assertEqual(backup["metadata"]["ownerReferences"][0]["uid"],
                         created["metadata"]["uid"])
        self.assertEqual(backup["spec"]["includedNamespaces"], ["shop"])
        status = harness.wait_for(
            lambda: s.get("backupschedules", "minutely").json().get("status", {}).get("nextRunTime"),
            timeout=10, what="status.nextRunTime")
        next_run = datetime.datetime.strptime(status, "%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(next_run.second, 0)

        # Paused: nothing, phase Paused.
        s.create("backupschedules", schedule("paused", {"schedule": "* * * * *", "paused": True}))
        harness.wait_for(lambda: s.get("backupschedules", "paused").json().get("status", {})
                         .get("phase") == "Paused", timeout=10, what="phase Paused")
        self.assertEqual(names(s, "csdr.io/schedule=paused"), [])

        # Retention: five labelled Backups (one in progress), keepLast 2.
        for i in range(5):
            s.create("backups", harness.backup(f"kept-{i}", labels={"csdr.io/schedule": "pruned"}))
            time.sleep(1.05)  # distinct creation times (whole seconds)
        set_status(s, "backups", "kept-0", {"phase": "InProgress"})
        s.create("backupschedules", schedule("pruned", {"schedule": "0 0 1 1 *", "skipImmediately": True,
                                                        "retention": {"keepLast": 2}}))
        harness.wait_for(lambda: names(s, "csdr.io/schedule=pruned") == ["kept-0", "kept-3", "kept-4"],
                         timeout=10, what="retention down to keepLast (+ the one in progress)")

        # Expiry: into the past, gone within seconds; a finalizer holds it.
        s.create("backups", harness.backup("expiring"))
        self.assertIn("expiration", s.get("backups", "expiring").json()["status"])
        set_status(s, "backups", "expiring", {"expiration": "2020-01-01T00:00:00Z"})
        harness.wait_for(lambda: s.request("GET", s.path("backups", "expiring")).status == 404,
                         timeout=5, what="the expired backup deleted")
        held = harness.backup("held")
        held["metadata"]["finalizers"] = ["example.com/keep"]
        s.create("backups", held)
        set_status(s, "backups", "held", {"expiration": "2020-01-01T00:00:00Z"})
        harness.wait_for(lambda: "deletionTimestamp" in s.get("backups", "held").json()["metadata"],
                         timeout=5, what="the held backup marked for deletion")
        obj = s.get("backups", "held").json()
        obj["metadata"]["finalizers"] = []
        self.assertEqual(s.request("PUT", s.path("backups", "held"), body=json.dumps(obj)).status, 200)
        harness.wait_for(lambda: s.request("GET", s.path("backups", "held")).status == 404,
                         timeout=5, what="the held backup gone with its finalizer")

        # The next minute boundary: exactly one more Backup, named by its due time.
        wait = (next_run - datetime.datetime.utcnow()).total_seconds()
        self.assertLess(wait, 61)
        due_name = "minutely-" + next_run.strftime("%Y%m%d%H%M%S")
        harness.wait_for(lambda: due_name in names(s, "csdr.io/schedule=minutely"),
                         timeout=max(wait, 0) + 10, what=f"the run {due_name}")
        self.assertEqual(len(names(s, "csdr.io/schedule=minutely")), 2)

        # kubectl prints the columns filled in.
        if os.path.exists(KUBECTL):
            out = subprocess.run([KUBECTL, "--kubeconfig", str(s.certs.kubeconfig), "get",
                                  "backupschedules", "-n", "csdr"], capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            header, *rows = out.stdout.splitlines()
            for column in ("LAST BACKUP", "LAST STATUS", "NEXT RUN"):
                self.assertIn(column, header)
            row = next(r for r in rows if r.startswith("minutely "))
            self.assertIn(due_name, row)
            cells = row.split()
            self.assertNotIn("<none>", cells[-2])  # NEXT RUN ("59s", "due")

    def test_controllers_can_be_turned_off(self):
        s = self.start_server(controllers=False)  # --controllers=-schedule,-expiry
        s.create("backupvaults", harness.vault())
        s.create("backupschedules", schedule("idle", {"schedule": "* * * * *"}))
        s.create("backups", harness.backup("old"))
        set_status(s, "backups", "old", {"expiration": "2020-01-01T00:00:00Z"})
        time.sleep(2)
        self.assertEqual(names(s), ["old"])
        self.assertNotIn("status", s.get("backupschedules", "idle").json())
        # NEXT RUN is still alive: when the cron next fires, computed as the table is read.
        table = s.request("GET", s.path("backupschedules", "idle"), headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
        columns = [c["name"] for c in table["columnDefinitions"]]
        next_run = table["rows"][0]["cells"][columns.index("Next Run")]
        self.assertRegex(next_run, r"^([0-9]|[1-5][0-9]|60)s$", "'* * * * *' fires within a minute")
        metrics = s.request("GET", "/metrics").text()
        self.assertNotIn('csdr_leader_election_master_status{name="csdr-controllers"} 1', metrics,
                         "no controller is enabled: nothing should hold the lease")


class ControllersOnReplicasTest(ServerTestCase):
    def leaders(self, servers):
        out = []
        for s in servers:
            if not s.alive():
                continue
            m = s.request("GET", "/metrics").text()
            if 'csdr_leader_election_master_status{name="csdr-controllers"} 1' in m:
                out.append(s)
        return out

    def test_one_active_and_a_handover(self):
        etcd = self.start_etcd(members=1)
        a = self.start_server(etcd=etcd, controllers=True)
        b = self.start_server(etcd=etcd, controllers=True)
        a.create("backupvaults", harness.vault())
        leader = harness.wait_for(lambda: self.leaders([a, b]), timeout=10, what="a leader")
        self.assertEqual(len(leader), 1)
        for _ in range(10):
            self.assertEqual(len(self.leaders([a, b])), 1)
            time.sleep(0.05)
        active, other = (a, b) if leader[0] is a else (b, a)
        # A schedule with an interval: one Backup per due time, whoever runs it.
        active.create("backupschedules", schedule("every2s", {"schedule": "2s"}))
        harness.wait_for(lambda: len(names(other, "csdr.io/schedule=every2s")) >= 2, timeout=15,
                         what="runs")
        # SIGTERM hands over within a second (the lease is released): from the signal to the
        # other's metric saying it leads, while the stopping one may still be draining.
        t0 = time.monotonic()
        active.expected_exit = True
        active.proc.send_signal(signal.SIGTERM)
        harness.wait_for(lambda: self.leaders([other]), timeout=5, interval=0.02,
                         what="the other leads")
        self.assertLess(time.monotonic() - t0, 1.0)
        active.stop()
        before = len(names(other, "csdr.io/schedule=every2s"))
        harness.wait_for(lambda: len(names(other, "csdr.io/schedule=every2s")) >= before + 2,
                         timeout=15, what="runs go on under the new leader")
        # No due time was run twice: every name is distinct by construction; the times are
        # 2 s apart from one another.
        runs = names(other, "csdr.io/schedule=every2s")
        stamps = [datetime.datetime.strptime(n.rsplit("-", 1)[1], "%Y%m%d%H%M%S") for n in runs]
        for x, y in zip(stamps, stamps[1:]):
            self.assertGreaterEqual((y - x).total_seconds(), 2, runs)

    def test_kill_of_the_holder_is_taken_over_after_the_lease(self):
        etcd = self.start_etcd(members=1)
        a = self.start_server(etcd=etcd, controllers=True)
        b = self.start_server(etcd=etcd, controllers=True)
        a.create("backupvaults", harness.vault())
        leader = harness.wait_for(lambda: self.leaders([a, b]), timeout=10, what="a leader")
        active, other = (a, b) if leader[0] is a else (b, a)
        active.create("backupschedules", schedule("every2s", {"schedule": "2s"}))
        harness.wait_for(lambda: len(names(other, "csdr.io/schedule=every2s")) >= 2, timeout=15,
                         what="runs")
        active.kill()
        t0 = time.monotonic()
        harness.wait_for(lambda: self.leaders([other]), timeout=30, what="the other leads")
        took = time.monotonic() - t0
        # Not before the lease (15 s) has run out on the other's clock; not much after.
        self.assertGreater(took, 12.0)
        self.assertLess(took, 25.0)
        before = len(names(other, "csdr.io/schedule=every2s"))
        harness.wait_for(lambda: len(names(other, "csdr.io/schedule=every2s")) >= before + 2,
                         timeout=15, what="runs go on under the new leader")
        runs = names(other, "csdr.io/schedule=every2s")
        stamps = [datetime.datetime.strptime(n.rsplit("-", 1)[1], "%Y%m%d%H%M%S") for n in runs]
        gaps = [(y - x).total_seconds() for x, y in zip(stamps, stamps[1:])]
        # No due time twice (2 s apart at least); one gap for the takeover: the lease, then
        # one catch-up run for the most recent missed due time.
        self.assertTrue(all(g >= 2 for g in gaps), runs)
        self.assertLessEqual(max(gaps), 20, runs)
        self.assertEqual(len([g for g in gaps if g > 3]), 1, runs)


if __name__ == "__main__":
    unittest.main()
