"""Two replicas on one etcd cluster (issue 13, docs/operations.md "HA on etcd").

A 3-member etcd on loopback ports (harness.EtcdCluster: Debian's 3.4, or CSDR_ETCD_BIN) and two
servers A and B on it with the same --etcd-prefix, policy off.

- Objects created through A are read through B (GET, a consistent LIST, a LIST at the
  resourceVersion A answered with, a LIST paged on A and continued on B) with the same
  resourceVersions and uids, and watched through B with the same resourceVersions; a client
  lists on A and watches from that list's resourceVersion on B and sees the next writes made
  through A, exactly those.
- Under writers through both (test_kill's Writer: creates and label patches over HTTPS), kill -9
  the etcd leader (restarted a few seconds later; A talks to the leader, so its connection and
  watch break, B to a follower that loses its leader), then kill -9 A: writes through both go
  on after the re-election, and through B after A's end; every acknowledged write is there afterwards with its
  resourceVersion (or a later in-doubt one); a watch opened on B at the start saw every
  acknowledged write, every create exactly once, in resourceVersion order, and ends where B's
  list is; A restarted lists what B lists (names, resourceVersions, uids), and a watch on A
  from B's list resourceVersion delivers exactly the next writes made through B. The writes
  refused or failed during the election and after A's kill are printed, by status.
"""

import collections
import json
import threading
import time
import unittest

import harness
from harness import ServerTestCase
from test_kill import Ledger, Writer, check_acknowledged

WRITERS_PER_SERVER = 2
ACKS_BEFORE_KILL = 40       # acknowledged writes before the etcd leader is killed
ACKS_AFTER_KILL = 20        # ... through each live server after each kill
LEADER_DOWN_S = 3.0         # the killed etcd leader is restarted this long after its kill
WAIT_S = 60                 # bound on each wait for progress (a loaded 2-core machine)
# A writer waits this long for an answer: longer than etcd's own request timeout (5 s + 2
# election timeouts) so that what the server answers a write stuck in the election is seen.
WRITE_TIMEOUT_S = 30


def meta(o):
    return o["metadata"]


def rv_of(o):
    return int(o["metadata"]["resourceVersion"])


def event_tuple(e):
    """(type, name, resourceVersion) of a watch event; an ERROR event's Status has neither."""
    m = e["object"].get("metadata") or {}
    return (e["type"], m.get("name"), int(m.get("resourceVersion") or -1))


class ReplicasTest(ServerTestCase):

    def start_replicas(self):
        """A and B on a new 3-member etcd (A talks to member 0 first, B to member 1)."""
        self.etcd = self.start_etcd(members=3)
        a = self.start_server(etcd=self.etcd)
        b = self.start_server(etcd=self.etcd, etcd_first=1, certs=a.certs)
        return a, b

    def ok(self, r, status=200, what=""):
        self.assertEqual(r.status, status, f"{what}: {r!r}")
        return r.json()

    def listing(self, server, query=None, what=""):
        """name -> (resourceVersion, uid) and the list's resourceVersion."""
        body = self.ok(server.list("backups", query=query), 200, what)
        return ({meta(i)["name"]: (meta(i)["resourceVersion"], meta(i)["uid"])
                 for i in body["items"]}, int(meta(body)["resourceVersion"]))

    def patch_label(self, server, name, value):
        return self.ok(server.request("PATCH", server.path("backups", name),
                                      {"metadata": {"labels": {"v": value}}},
                                      content_type="application/merge-patch+json"),
                       200, f"PATCH {name}")

    def watch_events(self, ws, count, what):
        """Exactly the next `count` events (no bookmarks are asked for), each as
        (type, name, resourceVersion)."""
        events = ws.events(count, timeout=WAIT_S)
        got = [event_tuple(e) for e in events]
        self.assertEqual(len(got), count, f"{what}: expected {count} events, got {got}")
        errors = [e for e in events if e["type"] == "ERROR"]
        self.assertFalse(errors, f"{what}: {errors}")
        return got

    # --- (a) -------------------------------------------------------------------------
    def test_written_on_a_read_and_watched_on_b(self):
        a, b = self.start_replicas()
        self.ok(a.create("backupvaults", harness.vault()), 201, "vault")
        _, start_rv = self.listing(a, what="list on A")
        from_start = b.watch(b.path("backups"), {"resourceVersion": str(start_rv)})
        self.addCleanup(from_start.close)
        self.assertEqual(from_start.status, 200, getattr(from_start, "body", b""))

        written = {}   # name -> (rv, uid) as A answered
        expected = []  # (type, name, rv) in the order A acknowledged them
        for i in range(10):
            o = self.ok(a.create("backups", harness.backup(f"b-{i}")), 201, f"create b-{i}")
            written[f"b-{i}"] = (meta(o)["resourceVersion"], meta(o)["uid"])
            expected.append(("ADDED", f"b-{i}", rv_of(o)))
            # At once, a list on B at the resourceVersion A answered with: B serves it (from
            # its cache, waiting for the revision if its watch has not brought it yet).
            at_rv, list_rv = self.listing(b, {"resourceVersion": meta(o)["resourceVersion"]},
                                          f"list on B at A's rv {rv_of(o)}")
            self.assertGreaterEqual(list_rv, rv_of(o))
            self.assertEqual(at_rv, written, f"list on B at rv {rv_of(o)}")
        o = self.patch_label(a, "b-0", "2")
        written["b-0"] = (meta(o)["resourceVersion"], meta(o)["uid"])
        expected.append(("MODIFIED", "b-0", rv_of(o)))
        self.ok(a.request("DELETE", a.path("backups", "b-1")), 200, "DELETE b-1")
        del written["b-1"]
        expected.append(("DELETED", "b-1", None))

        for name, (rv, uid) in written.items():
            got = self.ok(b.get("backups", name), 200, f"GET {name} on B")
            self.assertEqual((meta(got)["resourceVersion"], meta(got)["uid"]), (rv, uid), name)
        self.assertEqual(b.get("backups", "b-1").status, 404, "b-1 was deleted through A")
        on_a, a_rv = self.listing(a, what="list on A")
        on_b, b_rv = self.listing(b, what="list on B")
        self.assertEqual(on_a, written)
        self.assertEqual(on_b, written)
        self.assertEqual(a_rv, b_rv, "consistent lists on A and B at different revisions")

        # A list paged on A and continued on B: one snapshot across replicas.
        page = self.ok(a.list("backups", query={"limit": "4"}), 200, "first page on A")
        paged = {meta(i)["name"]: (meta(i)["resourceVersion"], meta(i)["uid"]) for i in page["items"]}
        token, page_rv = meta(page).get("continue"), meta(page)["resourceVersion"]
        self.assertTrue(token, f"a first page of 4 of {len(written)} has no continue token")
        pages = 1
        while token:
            page = self.ok(b.list("backups", query={"limit": "4", "continue": token}), 200,
                           f"page {pages + 1} on B")
            self.assertEqual(meta(page)["resourceVersion"], page_rv, "a page at another revision")
            paged.update({meta(i)["name"]: (meta(i)["resourceVersion"], meta(i)["uid"])
                          for i in page["items"]})
            token = meta(page).get("continue")
            pages += 1
        self.assertEqual(paged, written, "list paged on A and continued on B")

        got = self.watch_events(from_start, len(expected), "watch on B from before the writes")
        self.assertEqual([(t, n) for t, n, _ in got], [(t, n) for t, n, _ in expected])
        for (_, name, want), (_, _, have) in zip(expected, got):
            if want is not None:
                self.assertEqual(have, want, f"{name}: resourceVersion on B's watch")
        rvs = [r for _, _, r in got]
        self.assertEqual(rvs, sorted(set(rvs)), "B's events not in resourceVersion order")

        # List on A, watch on B from that list's resourceVersion: exactly the next writes.
        _, mark = self.listing(a, what="list on A")
        ws = b.watch(b.path("backups"), {"resourceVersion": str(mark)})
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 200, getattr(ws, "body", b""))
        nxt = []
        o = self.ok(a.create("backups", harness.backup("c-0")), 201, "create c-0")
        nxt.append(("ADDED", "c-0", rv_of(o)))
        nxt.append(("MODIFIED", "b-2", rv_of(self.patch_label(a, "b-2", "3"))))
        self.ok(a.request("DELETE", a.path("backups", "b-3")), 200, "DELETE b-3")
        got = self.watch_events(ws, 3, f"watch on B from A's list rv {mark}")
        self.assertEqual(got[:2], nxt, f"watch on B from A's list rv {mark}")
        self.assertEqual(got[2][:2], ("DELETED", "b-3"))
        self.assertGreater(got[2][2], nxt[1][2])
        # The watch from the start saw the same three.
        self.assertEqual(self.watch_events(from_start, 3, "watch on B from the start"), got)

    # --- (b) -------------------------------------------------------------------------
    def test_etcd_leader_and_replica_killed_under_writers(self):
        # A talks to the etcd leader, B to a follower: the leader's kill breaks A's connection
        # (and its watch) and leaves B's member without a leader until the election ends.
        self.etcd = self.start_etcd(members=3)
        first_leader = self.etcd.leader()
        a = self.start_server(etcd=self.etcd, etcd_first=first_leader)
        b = self.start_server(etcd=self.etcd, etcd_first=(first_leader + 1) % 3, certs=a.certs)
        self.ok(a.create("backupvaults", harness.vault()), 201, "vault")
        _, start_rv = self.listing(b, what="list on B")
        watch_b = b.watch(b.path("backups"), {"resourceVersion": str(start_rv)})
        self.addCleanup(watch_b.close)
        self.assertEqual(watch_b.status, 200, getattr(watch_b, "body", b""))

        ledger = Ledger()
        go, stop = threading.Event(), threading.Event()
        go.set()
        writers = [Writer(self, i, ledger, go, stop, a if i < WRITERS_PER_SERVER else b,
                          error_pause=0.05, timeout=WRITE_TIMEOUT_S)
                   for i in range(2 * WRITERS_PER_SERVER)]
        on = {w.name: ("A" if w.server is a else "B") for w in writers}

        def acks_since(server_name, since):
            with ledger.lock:
                return sum(1 for start, _, w, _, outcome in ledger.outcomes
                           if on[w] == server_name and start >= since and outcome in (200, 201))

        for w in writers:
            w.start()
        try:
            t0 = time.monotonic()
            harness.wait_for(lambda: acks_since("A", t0) >= ACKS_BEFORE_KILL // 2 and
                             acks_since("B", t0) >= ACKS_BEFORE_KILL // 2, timeout=WAIT_S,
                             what=f"{ACKS_BEFORE_KILL} acknowledged writes before the kills")

            leader = self.etcd.leader()  # m{first_leader}, unless an election happened since
            t_leader = time.monotonic()
            self.etcd.kill(leader)
            print(f"\nreplicas: killed the etcd leader m{leader}; A talks to m{first_leader} "
                  f"first, B to m{(first_leader + 1) % 3}")
            # Writes through both replicas continue once the two others elected a leader.
            harness.wait_for(lambda: acks_since("A", t_leader) >= ACKS_AFTER_KILL and
                             acks_since("B", t_leader) >= ACKS_AFTER_KILL, timeout=WAIT_S,
                             what=f"{ACKS_AFTER_KILL} writes through each replica acknowledged "
                                  f"after etcd member {leader} (the leader) was killed")
            new_leader = self.etcd.leader()
            time.sleep(max(0.0, t_leader + LEADER_DOWN_S - time.monotonic()))
            self.etcd.restart(leader)
            t_restarted = time.monotonic()
            harness.wait_for(lambda: acks_since("A", t_restarted) >= ACKS_AFTER_KILL // 2 and
                             acks_since("B", t_restarted) >= ACKS_AFTER_KILL // 2, timeout=WAIT_S,
                             what=f"writes through each replica after m{leader} restarted")

            t_a = time.monotonic()
            a.kill()
            harness.wait_for(lambda: acks_since("B", t_a) >= ACKS_AFTER_KILL, timeout=WAIT_S,
                             what=f"{ACKS_AFTER_KILL} writes through B acknowledged after A's kill")
        finally:
            stop.set()
            go.set()
            for w in writers:
                w.join(15)
        t_end = time.monotonic()
        for w in writers:
            self.assertFalse(w.is_alive(), f"{w.name} still running")
            self.assertIsNone(w.error, f"{w.name} ({on[w.name]}): {w.error!r}")
        self.report(ledger, on, t0, t_leader, t_restarted, t_a, t_end, leader, new_leader)

        # Every acknowledged write is on B.
        listing = self.ok(b.list("backups"), 200, "list on B after the kills")
        items = {meta(i)["name"]: i for i in listing["items"]}
        for name, (rv, uid) in ledger.created.items():
            self.assertIn(name, items, f"acknowledged create {name} (rv {rv}) is gone")
            self.assertEqual(meta(items[name])["uid"], uid, f"{name}'s uid")
        check_acknowledged(self, listing, ledger, "B after the kills")
        b_rv = int(meta(listing)["resourceVersion"])

        self.check_watch(watch_b, ledger, items)

        # A restarted agrees with B.
        a.start()
        on_a, a_rv = self.listing(a, what="list on restarted A")
        on_b, b_rv2 = self.listing(b, what="list on B")
        self.assertEqual(b_rv2, b_rv, "etcd's revision moved with no writer running")
        self.assertEqual(len(on_a), len(items))
        self.assertEqual(on_a, on_b, "restarted A and B list different objects")
        self.assertEqual(a_rv, b_rv, "restarted A lists at another revision than B")

        # A watch on restarted A from B's last resourceVersion: exactly the next writes on B.
        ws = a.watch(a.path("backups"), {"resourceVersion": str(b_rv)})
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 200, getattr(ws, "body", b""))
        o = self.ok(b.create("backups", harness.backup("after-restart")), 201, "create on B")
        nxt = [("ADDED", "after-restart", rv_of(o)),
               ("MODIFIED", "after-restart", rv_of(self.patch_label(b, "after-restart", "1")))]
        self.assertEqual(self.watch_events(ws, 2, f"watch on A from B's rv {b_rv}"), nxt)
        self.assertGreater(nxt[0][2], b_rv)
        # B's own watch, still open, saw them too.
        self.assertEqual(self.watch_events(watch_b, 2, "B's watch from the start"), nxt)

    def check_watch(self, ws, ledger, items):
        """B's watch from the start: every acknowledged write with its resourceVersion, every
        create once, resourceVersions increasing, and each object's last event is its state in
        B's list (no event missing at the end)."""
        last_rv = max(rv_of(i) for i in items.values())
        events = []
        deadline = time.monotonic() + WAIT_S
        while not events or rv_of(events[-1]["object"]) < last_rv:
            ev = ws.next_event(max(0.0, deadline - time.monotonic()))
            self.assertIsNotNone(ev, f"B's watch ended or stalled after {len(events)} events "
                                     f"(last rv {rv_of(events[-1]['object']) if events else None}, "
                                     f"want {last_rv})")
            self.assertNotEqual(ev["type"], "ERROR", f"B's watch: {ev}")
            events.append(ev)
        got = [event_tuple(e) for e in events]
        rvs = [r for _, _, r in got]
        bad = [(p, q) for p, q in zip(got, got[1:]) if q[2] <= p[2]]
        self.assertFalse(bad, f"B's watch out of resourceVersion order: {bad[:5]}")
        self.assertEqual(rvs[-1], last_rv)
        added = collections.Counter(n for t, n, _ in got if t == "ADDED")
        twice = [n for n, c in added.items() if c > 1]
        self.assertFalse(twice, f"B's watch delivered these creates more than once: {twice[:10]}")
        self.assertEqual({t for t, _, _ in got} - {"ADDED", "MODIFIED"}, set(), "unexpected events")
        seen = {(n, r) for _, n, r in got}
        with ledger.lock:
            for name, (rv, _) in ledger.created.items():
                self.assertIn(("ADDED", name, int(rv)), got,
                              f"B's watch missed the acknowledged create of {name} at rv {rv}")
            missed = [w for w in ledger.acked_writes if w not in seen]
            self.assertFalse(missed, f"B's watch missed {len(missed)} acknowledged writes: {missed[:10]}")
        final = {}
        for _, name, r in got:
            final[name] = r
        self.assertEqual(set(added), set(items), "B's watch created other objects than B lists")
        self.assertEqual(final, {n: rv_of(i) for n, i in items.items()},
                         "the last event of each object is not its state in B's list")
        print(f"replicas: B's watch delivered {len(got)} events ({len(added)} creates)")

    def report(self, ledger, on, t0, t_leader, t_restarted, t_a, t_end, leader, new_leader):
        """Prints the writes by phase, server and outcome (the failed ones are what the issue asks
        to report), and the failed ones around the kills one by one."""
        phases = [("before the leader's kill", t0, t_leader),
                  (f"etcd leader m{leader} down (m{new_leader} took over)", t_leader, t_restarted),
                  (f"m{leader} restarted, until A's kill", t_restarted, t_a),
                  ("after A's kill", t_a, t_end)]
        with ledger.lock:
            outcomes = list(ledger.outcomes)
        # Every write's timing, for reading with the logs when the test fails (the directory
        # is kept then).
        (self.workdir / "writes.json").write_text(json.dumps(
            {"t_leader": t_leader, "t_restarted": t_restarted, "t_a": t_a,
             "writes": [(on[w], m, s, e, o) for s, e, w, m, o in outcomes]}))
        print(f"replicas: {ledger.acks} acknowledged writes, {len(ledger.created)} acknowledged "
              f"creates, {len(outcomes)} attempts")
        # A write belongs to the phase in which it ended (was answered or failed).
        for label, start, end in phases:
            for server in ("A", "B"):
                counts = collections.Counter(o for _, e, w, _, o in outcomes
                                             if on[w] == server and start <= e < end)
                failed = {k: v for k, v in counts.items() if k not in (200, 201)}
                print(f"replicas: {label} ({end - start:.1f}s), through {server}: "
                      f"{counts[200] + counts[201]} acknowledged, failed {failed or 'none'}")
        # The failures around the leader's kill, in time: sent when (s after the kill), answered
        # or failed how long after, how.
        around = [(on[w], m, round(s - t_leader, 2), round(e - s, 2), o)
                  for s, e, w, m, o in outcomes
                  if o not in (200, 201) and e >= t_leader and s < t_a]
        for server, method, sent, took, outcome in sorted(around, key=lambda x: x[2])[:20]:
            print(f"replicas: failed through {server}: {method} sent {sent:+.2f}s from the leader's "
                  f"kill (A's kill: {t_a - t_leader:+.2f}s), {outcome} after {took:.2f}s")
        for server in ("A", "B"):
            slow = sorted(round(e - s, 2) for s, e, w, _, o in outcomes
                          if on[w] == server and o in (200, 201) and e >= t_leader and s < t_a
                          and e - s > 1)
            if slow:
                print(f"replicas: through {server}, acknowledged after more than 1 s around the "
                      f"election: {len(slow)}, in {slow[:10]} s")


if __name__ == "__main__":
    unittest.main()
