"""A damaged SQLite file: the server refuses to start, says which file and what is wrong, and
leaves the file as it was.

One database is filled through the real binary (a ClusterProfile, a BackupVault and 300
Backups of about 1 KiB, so that the tables span many b-tree pages) and stopped cleanly. Each
test damages a copy of it in one way, starts the binary on the copy and expects: a non-zero exit
within a few seconds, one "csdr-apiserver: ..." line naming the file and the problem, and the
file's bytes unchanged (nothing "repaired" or deleted, the WAL included). An intact file left
behind by kill -9 (its last writes only in the WAL) must open with every acknowledged write.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import harness
from harness import ServerTestCase

BACKUPS = 300
REFUSAL_BOUND_S = 5  # the checks take milliseconds on a file this size; margin for a loaded CI


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).exists() else None


def big_backup(i):
    b = harness.backup(f"b-{i:04d}", labels={"batch": str(i % 7)})
    # About 1 KiB per object: the kv and log tables then span a few hundred pages.
    b["spec"]["includedNamespaces"] = [f"ns-{i}-{j:03d}" for j in range(60)]
    return b


class SqliteFile:
    """The page layout of a SQLite file, enough to damage a b-tree page on purpose."""

    def __init__(self, path):
        self.data = bytearray(Path(path).read_bytes())
        size = struct.unpack(">H", self.data[16:18])[0]
        self.page_size = 65536 if size == 1 else size
        self.pages = len(self.data) // self.page_size

    def page_type(self, n):
        """The b-tree page type byte of page n (1-based; page 1 has the 100-byte file header)."""
        offset = (n - 1) * self.page_size + (100 if n == 1 else 0)
        return self.data[offset]

    def table_leaves(self):
        return [n for n in range(2, self.pages + 1) if self.page_type(n) == 0x0D]


class DamagedDbTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.base = Path(tempfile.mkdtemp(prefix="csdr-it-damaged-db-"))
        server = harness.Server(cls.base / "filler")
        server.start()
        try:
            server.create("clusterprofiles", harness.cluster_profile())
            server.create("backupvaults", harness.vault())
            for i in range(BACKUPS):
                server.create("backups", big_backup(i))
            cls.count = len(server.list("backups").json()["items"])
        finally:
            code = server.stop()
        if code != 0:
            raise RuntimeError(f"the filling server exited with {code}:\n{server.log_tail()}")
        cls.pristine = server.data_dir / "csdr.db"
        cls.certs = server.certs
        # A clean stop checkpoints the WAL into the main file and truncates it.
        wal = Path(str(cls.pristine) + "-wal")
        if wal.exists() and wal.stat().st_size != 0:
            raise RuntimeError(f"{wal} is not empty after a clean stop")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    # --- helpers --------------------------------------------------------------------------
    def copy(self, name):
        """A copy of the filled database in its own data directory; returns its path."""
        data = self.workdir / name
        data.mkdir(parents=True)
        db = data / "csdr.db"
        shutil.copyfile(self.pristine, db)
        return db

    def server_on(self, db):
        return harness.Server(self.workdir / f"server-{db.parent.name}", data_dir=db.parent,
                              certs=self.certs)

    def assertRefused(self, db, problem, names=None):
        """Starting on `db` fails fast with one line naming `names` (default: the file) and
        `problem` (a lower-case fragment, or a tuple of alternatives); the files are unchanged."""
        names = str(names or db)
        problems = (problem,) if isinstance(problem, str) else problem
        files = [db, Path(f"{db}-wal")]
        before = {f: sha256(f) for f in files}
        server = self.server_on(db)
        started = time.monotonic()
        proc = subprocess.Popen(server.args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        try:
            out, err = proc.communicate(timeout=REFUSAL_BOUND_S + 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail(f"the server kept running on a damaged database ({db}):\n{err[-3000:]}")
        elapsed = time.monotonic() - started
        self.assertNotEqual(proc.returncode, 0, f"exit 0 on a damaged database:\n{err[-3000:]}")
        self.assertLess(elapsed, REFUSAL_BOUND_S, f"refusal took {elapsed:.1f}s")
        lines = [l for l in err.splitlines() if l.startswith("csdr-apiserver: ")]
        self.assertEqual(len(lines), 1, f"expected one csdr-apiserver: line, got:\n{err[-3000:]}")
        line = lines[0]
        self.assertIn(names, line)
        self.assertTrue(any(p in line.lower() for p in problems),
                        f"the message does not say {problems}: {line}")
        self.assertIn("refusing", line)
        print(f"\n  {elapsed:.2f}s: {line}")
        for f, digest in before.items():
            self.assertEqual(sha256(f), digest, f"{f} was changed by the refused start")
        return line

    # --- damage ---------------------------------------------------------------------------
    def test_truncated_mid_page(self):
        db = self.copy("truncated")
        info = SqliteFile(db)
        self.assertGreater(info.pages, 50, "the filled database is too small to damage it well")
        with open(db, "r+b") as f:
            f.truncate((info.pages // 2) * info.page_size + info.page_size // 3)
        self.assertRefused(db, ("damaged", "malformed"))

    def test_overwritten_btree_page(self):
        db = self.copy("btree")
        info = SqliteFile(db)
        leaves = info.table_leaves()
        self.assertGreater(len(leaves), 10, "expected many table leaf pages")
        page = leaves[len(leaves) // 2]
        offset = (page - 1) * info.page_size
        with open(db, "r+b") as f:
            # The cell count and cell pointer array: every cell now points outside the page.
            f.seek(offset + 3)
            f.write(b"\xff" * 64)
        line = self.assertRefused(db, ("damaged", "malformed"))
        self.assertIn("quick_check", line)

    def test_zeroed_header(self):
        db = self.copy("zeroed-header")
        with open(db, "r+b") as f:
            f.write(b"\0" * 100)
        self.assertRefused(db, ("not a database", "damaged"))

    def test_not_a_sqlite_file(self):
        for name, content in (("text", b"this is not a database\n" * 2000),
                              ("random", os.urandom(256 * 1024))):
            with self.subTest(name):
                data = self.workdir / f"not-sqlite-{name}"
                data.mkdir()
                db = data / "csdr.db"
                db.write_bytes(content)
                self.assertRefused(db, ("not a database", "damaged"))

    def test_wal_with_garbage(self):
        db = self.copy("wal-garbage")
        wal = Path(f"{db}-wal")
        wal.write_bytes(os.urandom(64 * 1024))
        # SQLite itself would take a WAL without a valid header for an empty one and delete it
        # at close: whatever committed writes it held would be gone without a word.
        self.assertRefused(db, ("wal", "write-ahead log"), names=wal)

    def test_intact_file_after_kill9_opens(self):
        db = self.copy("kill9")
        server = self.start_server(data_dir=db.parent, certs=self.certs)
        acked = {}
        for i in range(20):
            r = server.create("backups", harness.backup(f"k-{i}"))
            acked[f"k-{i}"] = r.json()["metadata"]["resourceVersion"]
        server.kill()
        wal = Path(f"{db}-wal")
        self.assertTrue(wal.exists() and wal.stat().st_size > 0,
                        "after kill -9 the last writes should be in the WAL only")
        server.start()
        items = server.list("backups").json()["items"]
        self.assertEqual(len(items), self.count + 20)
        got = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}
        for name, rv in acked.items():
            self.assertEqual(got.get(name), rv, name)


if __name__ == "__main__":
    import unittest
    unittest.main()
