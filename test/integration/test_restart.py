"""Durability: kill -9 the server and start it again on the same SQLite file.

Every write the server acknowledged must be there afterwards with the same resourceVersion, and a
watch resumed from a resourceVersion taken before the kill must get exactly the events after it
(or a 410 Expired when the server can no longer serve them). And the orderly way out: SIGTERM with
watches open ends them and exits 0, promptly.
"""

import threading
import time
import unittest

import harness
from harness import ServerTestCase

WRITER_THREADS = 4
OPEN_WATCHES_AT_SIGTERM = 200
SIGTERM_BOUND_S = 10  # kube-apiserver closes watches at once on shutdown; allow a loaded machine


class RestartTest(ServerTestCase):

    def rv(self, response):
        return response.json()["metadata"]["resourceVersion"]

    def test_kill9_keeps_acknowledged_writes_and_watch_resumes(self):
        s = self.start_server()
        s.create("clusterprofiles", harness.cluster_profile())
        s.create("backupvaults", harness.vault())
        acked = {}  # backup name -> resourceVersion the server answered with
        for i in range(20):
            acked[f"b-{i}"] = self.rv(s.create("backups", harness.backup(f"b-{i}")))
        r = s.request("PATCH", s.path("backups", "b-0"), {"metadata": {"labels": {"v": "2"}}},
                      content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        acked["b-0"] = self.rv(r)
        r = s.request("DELETE", s.path("backups", "b-1"))
        self.assertEqual(r.status, 200, r)
        del acked["b-1"]
        deleted = {"b-1"}

        # Events after this point are what a resumed watch must get.
        mark = s.list("backups").json()["metadata"]["resourceVersion"]
        expected = []  # (type, name, resourceVersion or None when the response does not carry it)
        for i in range(5):
            acked[f"c-{i}"] = self.rv(s.create("backups", harness.backup(f"c-{i}")))
            expected.append(("ADDED", f"c-{i}", acked[f"c-{i}"]))
        r = s.request("PATCH", s.path("backups", "b-2"), {"metadata": {"labels": {"v": "2"}}},
                      content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        acked["b-2"] = self.rv(r)
        expected.append(("MODIFIED", "b-2", acked["b-2"]))
        r = s.request("DELETE", s.path("backups", "b-3"))
        self.assertEqual(r.status, 200, r)
        del acked["b-3"]
        deleted.add("b-3")
        expected.append(("DELETED", "b-3", None))

        # Writers racing the kill: only what they saw acknowledged must survive.
        stop = threading.Event()
        raced = {}
        lock = threading.Lock()

        def writer(t):
            i = 0
            while not stop.is_set():
                name = f"w-{t}-{i}"
                i += 1
                try:
                    r = s.request("POST", s.path("backups"), harness.backup(name), timeout=5)
                except Exception:
                    continue  # the server went away mid-request: not acknowledged
                if r.status == 201:
                    with lock:
                        raced[name] = r.json()["metadata"]["resourceVersion"]

        writers = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(WRITER_THREADS)]
        for w in writers:
            w.start()
        harness.wait_for(lambda: len(raced) >= 20, timeout=30, what="20 racing writes acknowledged")
        s.kill()
        stop.set()
        for w in writers:
            w.join(10)
        with lock:
            raced = dict(raced)
        acked.update(raced)

        s.start()
        for name, rv in sorted(acked.items()):
            r = s.get("backups", name)
            self.assertEqual(r.status, 200, f"acknowledged backup {name} lost after kill -9: {r!r}")
            self.assertEqual(r.json()["metadata"]["resourceVersion"], rv, f"{name} changed resourceVersion")
        for name in deleted:
            self.assertEqual(s.get("backups", name).status, 404, f"deleted backup {name} came back")
        listed = s.list("backups").json()
        names = {i["metadata"]["name"] for i in listed["items"]}
        self.assertTrue(set(acked) <= names)
        unacked = names - set(acked)
        self.assertTrue(all(n.startswith("w-") for n in unacked), f"unexpected objects: {unacked}")

        self.check_resumed_watch(s, mark, expected, names)

        # The store's resourceVersion keeps growing across the restart.
        newest = max(int(rv) for rv in acked.values())
        after = int(self.rv(s.create("backups", harness.backup("after-restart"))))
        self.assertGreater(after, newest)

    def test_sigterm_with_open_watches_exits_cleanly(self):
        s = self.start_server()
        s.create("clusterprofiles", harness.cluster_profile())
        s.create("backupvaults", harness.vault())
        acked = self.rv(s.create("backups", harness.backup("before-sigterm")))
        watches = [s.watch(s.path("backups"), {"timeoutSeconds": "600"}) for _ in range(OPEN_WATCHES_AT_SIGTERM)]
        try:
            for w in watches:
                self.assertEqual(w.status, 200)
                first = w.next_event(10)
                self.assertEqual(first and first["object"]["metadata"]["name"], "before-sigterm")
            start = time.monotonic()
            code = s.stop(timeout=SIGTERM_BOUND_S + 20)
            took = time.monotonic() - start
            self.assertEqual(code, 0, f"SIGTERM with {len(watches)} watches open: exit code {code} "
                                      f"after {took:.1f}s\n{s.log_tail(20)}")
            self.assertLess(took, SIGTERM_BOUND_S, f"SIGTERM with watches open took {took:.1f}s")
            ended = sum(1 for w in watches if w.next_event(5) is None and w.ended)
            self.assertEqual(ended, len(watches), "watch streams left open after the server exited")
        finally:
            for w in watches:
                w.close()
        s.start()
        got = s.get("backups", "before-sigterm")
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json()["metadata"]["resourceVersion"], acked)

    def check_resumed_watch(self, s, mark, expected, names):
        """A watch from `mark` (taken before the kill) gets `expected`, then the racing creates
        that survived, each once, in resourceVersion order; or a 410 Expired."""
        ws = s.watch(s.path("backups"), {"resourceVersion": mark, "timeoutSeconds": "5"})
        try:
            if ws.status == 410:
                return  # too old for the restarted server: allowed
            self.assertEqual(ws.status, 200)
            events = ws.events(10000, timeout=8)
        finally:
            ws.close()
        self.assertTrue(events, "resumed watch sent nothing")
        if events[0]["type"] == "ERROR":
            self.assertEqual(events[0]["object"].get("code"), 410, events[0])
            self.assertEqual(events[0]["object"].get("reason"), "Expired", events[0])
            return
        got = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
               for e in events if e["type"] != "BOOKMARK"]
        head = got[:len(expected)]
        self.assertEqual([(t, n) for t, n, _ in head], [(t, n) for t, n, _ in expected],
                         f"resumed watch: expected the events after rv {mark} first, got {got[:20]}")
        for (_, _, want_rv), (_, name, got_rv) in zip(expected, head):
            if want_rv is not None:
                self.assertEqual(got_rv, want_rv, f"event for {name}")
        rest = got[len(expected):]
        self.assertTrue(all(t == "ADDED" and n.startswith("w-") for t, n, _ in rest), rest[:20])
        rest_names = [n for _, n, _ in rest]
        self.assertEqual(len(rest_names), len(set(rest_names)), "a resumed watch repeated events")
        self.assertEqual(set(rest_names), {n for n in names if n.startswith("w-")},
                         "the resumed watch missed or invented creates")
        rvs = [int(rv) for _, _, rv in got]
        self.assertEqual(rvs, sorted(rvs), "events out of resourceVersion order")
        self.assertGreater(rvs[0], int(mark))


if __name__ == "__main__":
    unittest.main()
