"""Crash safety under kill -9 (issue 6, docs/hardening.md "The kill test"; on etcd: issue 13).

Writer threads create Backups and update their labels over HTTPS with the admin client
certificate (policy off) while the server is killed with SIGKILL at random moments, ROUNDS
times, and restarted on the same store: the same SQLite file (KillTest), or the same etcd, a
single member on loopback ports (KillOnEtcdTest). After each restart, with the writers paused:

- every acknowledged write is there: the object exists with the label value and the
  resourceVersion of its last acknowledged write, or of a later write that was in flight when
  the server died (in doubt: it may or may not have committed, both are fine);
- no half-written object: every stored Backup decodes, has its spec and a label value some
  writer sent for it, and nobody has an object no writer tried to create;
- resourceVersions never go backwards: the list's resourceVersion after the restart is at
  least the highest acknowledged one, and no object's resourceVersion is below its
  acknowledged one.

CSDR_KILL_ROUNDS (default 50) and CSDR_KILL_SEED apply to both. Writer, Ledger and
check_acknowledged are shared with test_replicas.py.
"""

import json
import os
import random
import threading
import time
import unittest

import harness
from harness import ServerTestCase

ROUNDS = int(os.environ.get("CSDR_KILL_ROUNDS", "50"))
WRITERS = 4
SEED = int(os.environ.get("CSDR_KILL_SEED", str(int(time.time()))))


class Ledger:
    """What the clients know, per object name: the last acknowledged (seq, rv) and the seqs
    of writes whose outcome is unknown (the connection broke). Guarded by `lock`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # name -> (seq, rv)
        self.in_doubt = {}   # name -> set of seqs (a create in doubt has seq 0)
        self.attempted = set()
        self.max_acked_rv = 0
        self.acks = 0
        self.created = {}    # name -> (rv, uid) of its acknowledged create
        self.acked_writes = []  # (name, rv) of every acknowledged write
        # (start, end, writer, method, outcome) of every write: end and start are
        # time.monotonic(), outcome the HTTP status or the exception's class name.
        self.outcomes = []


class Writer(threading.Thread):
    """Creates Backups (40%) and merge-patches their `seq` label through `server` while `go` is
    set, until `stop`. Object names are w<index>-<n>: give each writer its own index. A request
    gives up after `timeout` seconds (in doubt); one that fails to connect waits `error_pause`
    seconds before the next."""

    def __init__(self, test, index, ledger, go, stop, server, error_pause=0.0, timeout=5):
        super().__init__(daemon=True, name=f"writer-{index}")
        self.test, self.index, self.ledger, self.go, self.stop = test, index, ledger, go, stop
        self.server = server
        self.error_pause = error_pause
        self.timeout = timeout
        self.rng = random.Random(SEED * 100 + index)
        self.busy = threading.Event()
        self.names = []   # this writer's objects (only this writer touches them)
        self.next_seq = {}
        self.count = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                if not self.go.wait(0.05):
                    continue
                self.busy.set()
                try:
                    self.one_write()
                finally:
                    self.busy.clear()
        except Exception as e:  # a bug in the test itself: report it
            self.error = e

    def one_write(self):
        server = self.server
        ledger = self.ledger
        if not self.names or self.rng.random() < 0.4:
            name = f"w{self.index}-{len(self.names) + 1}"
            self.names.append(name)
            self.next_seq[name] = 1
            seq = 0
            with ledger.lock:
                ledger.attempted.add(name)
            method, path = "POST", server.path("backups")
            body = harness.backup(name, labels={"seq": "0", "writer": str(self.index)})
        else:
            name = self.rng.choice(self.names)
            with ledger.lock:
                if name not in ledger.acked:
                    return  # its create is in doubt: resolved after the next restart
            seq = self.next_seq[name]
            self.next_seq[name] += 1
            method, path = "PATCH", server.path("backups", name)
            body = {"metadata": {"labels": {"seq": str(seq)}}}
        with ledger.lock:
            ledger.in_doubt.setdefault(name, set()).add(seq)
        start = time.monotonic()
        try:
            r = server.request(method, path, body,
                               content_type="application/merge-patch+json" if method == "PATCH"
                               else "application/json", timeout=self.timeout)
        except (OSError, harness.http.client.HTTPException) as e:
            with ledger.lock:
                ledger.outcomes.append((start, time.monotonic(), self.name, method,
                                        type(e).__name__))
            if self.error_pause:
                time.sleep(self.error_pause)
            return  # in doubt
        with ledger.lock:
            ledger.outcomes.append((start, time.monotonic(), self.name, method, r.status))
        if r.status in (200, 201):
            obj = r.json()
            rv = int(obj["metadata"]["resourceVersion"])
            got = int(obj["metadata"]["labels"]["seq"])
            with ledger.lock:
                ledger.in_doubt[name].discard(seq)
                prev = ledger.acked.get(name)
                if prev is None or got > prev[0]:
                    ledger.acked[name] = (got, rv)
                ledger.max_acked_rv = max(ledger.max_acked_rv, rv)
                ledger.acks += 1
                ledger.acked_writes.append((name, rv))
                if method == "POST":
                    ledger.created[name] = (rv, obj["metadata"]["uid"])
            self.count += 1
        elif r.status >= 500 or r.status == 0:
            return  # in doubt (the server may have died while answering)
        else:
            with ledger.lock:
                ledger.in_doubt[name].discard(seq)
            raise AssertionError(f"{method} {name}: unexpected {r!r}")


def check_acknowledged(test, listing, ledger, what):
    """The listing (a Backup list's JSON) holds every acknowledged write of `ledger` with its
    resourceVersion, or a later in-doubt write; nothing half-written or never attempted; no
    resourceVersion above the list's or below an acknowledged one. Then resolves the ledger's
    in-doubt writes to what the listing shows."""
    list_rv = int(listing["metadata"]["resourceVersion"])
    stored = {}
    for item in listing["items"]:
        meta = item.get("metadata", {})
        name = meta.get("name")
        test.assertTrue(name and item.get("spec", {}).get("vaultName") == "prod-vault",
                        f"{what}: half-written object {json.dumps(item)[:300]}")
        labels = meta.get("labels", {})
        test.assertIn("seq", labels, f"{what}: {name} lost its labels: {item}")
        stored[name] = (int(labels["seq"]), int(meta["resourceVersion"]))
    with ledger.lock:
        test.assertGreaterEqual(list_rv, ledger.max_acked_rv,
                                f"{what}: list resourceVersion {list_rv} went below the "
                                f"highest acknowledged {ledger.max_acked_rv}")
        for name in stored:
            test.assertIn(name, ledger.attempted, f"{what}: {name} was never written")
        for name, (seq, rv) in ledger.acked.items():
            test.assertIn(name, stored, f"{what}: acknowledged {name} (rv {rv}) is gone")
            got_seq, got_rv = stored[name]
            doubt = ledger.in_doubt.get(name, set())
            if got_seq == seq:
                test.assertEqual(got_rv, rv, f"{what}: {name} has seq {seq} but rv {got_rv}, "
                                             f"acknowledged rv {rv}")
            else:
                test.assertTrue(got_seq > seq and got_seq in doubt and got_rv > rv,
                                f"{what}: {name} is (seq {got_seq}, rv {got_rv}); acknowledged "
                                f"(seq {seq}, rv {rv}), in doubt {sorted(doubt)}")
        for name, (got_seq, got_rv) in stored.items():
            test.assertLessEqual(got_rv, list_rv, f"{what}: {name} rv above the list rv")
            if name not in ledger.acked:
                # Its create was in doubt and committed.
                test.assertIn(got_seq, ledger.in_doubt.get(name, set()) | {0},
                              f"{what}: {name} has an unexpected seq {got_seq}")
        # What the restart shows becomes what is known: in-doubt writes are resolved.
        for name, (got_seq, got_rv) in stored.items():
            ledger.acked[name] = (got_seq, got_rv)
            ledger.max_acked_rv = max(ledger.max_acked_rv, got_rv)
        ledger.in_doubt.clear()


class KillTest(ServerTestCase):
    """On SQLite; KillOnEtcdTest below runs the same test on etcd."""

    storage = "sqlite"

    def start_storage_server(self):
        return self.start_server()

    def test_kill_9_under_concurrent_writes(self):
        self.server = self.start_storage_server()
        server = self.server
        server.create("backupvaults", harness.vault())
        rng = random.Random(SEED)
        print(f"\nkill test on {self.storage}: {ROUNDS} rounds, {WRITERS} writers, seed {SEED} "
              f"(CSDR_KILL_SEED to repeat)")

        ledger = Ledger()
        go, stop = threading.Event(), threading.Event()
        writers = [Writer(self, i, ledger, go, stop, server) for i in range(WRITERS)]
        for w in writers:
            w.start()
        start = time.monotonic()
        try:
            for round_ in range(1, ROUNDS + 1):
                go.set()
                time.sleep(rng.uniform(0.05, 0.4))
                server.kill()
                go.clear()
                for w in writers:
                    deadline = time.monotonic() + 10
                    while w.busy.is_set() and time.monotonic() < deadline:
                        time.sleep(0.01)
                    self.assertFalse(w.busy.is_set(), f"{w.name} still busy 10 s after the kill")
                    self.assertIsNone(w.error, f"{w.name}: {w.error!r}")
                server.start()
                self.verify(round_, ledger)
        finally:
            stop.set()
            go.set()
            for w in writers:
                w.join(10)
        took = time.monotonic() - start
        print(f"kill test on {self.storage}: {ROUNDS} kills, {ledger.acks} acknowledged writes, "
              f"{len(ledger.acked)} objects, {took:.1f}s")
        self.assertGreater(ledger.acks, ROUNDS, "too few writes were acknowledged to test anything")
        for w in writers:
            self.assertIsNone(w.error, f"{w.name}: {w.error!r}")

    def verify(self, round_, ledger):
        r = self.server.list("backups")
        self.assertEqual(r.status, 200, f"round {round_}: list after restart: {r!r}")
        check_acknowledged(self, r.json(), ledger, f"round {round_}")


class KillOnEtcdTest(KillTest):
    """The same rounds with the server on a one-member etcd (Debian's 3.4, or CSDR_ETCD_BIN),
    restarted on the same etcd and prefix each time."""

    storage = "etcd"

    def start_storage_server(self):
        self.etcd = self.start_etcd(members=1)
        return self.start_server(etcd=self.etcd)


if __name__ == "__main__":
    unittest.main()
