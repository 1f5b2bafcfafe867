"""Many open watches, and one that stops reading (DESIGN.md section 6; the serving-path issue).

An asyncio loop in a background thread opens 10,000 TLS watch connections and keeps reading
them (they are written by the server's event loops: the server holds no thread per watch).
While they are open, gets, lists, creates and discovery must each answer within a generous bound
(this checks that nothing is starved, it is not a benchmark), and every watch must receive the
events of those creates. Then all watches are closed and the server must still answer.

A watcher that stops reading while large objects are written must not hold the others back or
hold the server's memory: the others get every event, and it is ended (the store expires it
once it falls behind the watch history; the connection closes) with the server's RSS growing by
far less than what went through it.
"""

import asyncio
import json
import os
import socket
import ssl
import threading
import time
import unittest

import harness
from harness import ServerTestCase, raise_fd_limit

WATCHES = int(os.environ.get("CSDR_IT_WATCHES", "10000"))
OPEN_CONCURRENCY = 50      # connections being set up at once (TLS handshakes), to be gentle
OPEN_DEADLINE_S = 300      # all 10,000 watches open (headers received) within this
REQUEST_BOUND_S = 5.0      # each get/create while the watches are open
DELIVERY_DEADLINE_S = 60   # every watch has seen the creates' ADDED events
SLOW_OBJECTS = 600         # 96 KiB objects written past a watcher that does not read


class WatchClient:
    """Holds N watch streams in an event loop on its own thread and counts their events."""

    def __init__(self, server, path, n):
        self.server, self.path, self.n = server, path, n
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ctx = server.ssl_context("admin")
        self.opened = 0
        self.failed = []
        self.added = [set() for _ in range(n)]   # names seen in ADDED events, per watch
        self.ended = 0                          # streams the server closed early
        self.writers = []
        self.tasks = []

    def start(self):
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._open_all(), self.loop)

    async def _open_all(self):
        sem = asyncio.Semaphore(OPEN_CONCURRENCY)
        opened_events = [asyncio.Event() for _ in range(self.n)]
        for i in range(self.n):
            self.tasks.append(asyncio.ensure_future(self._watch(i, sem, opened_events[i])))
        await asyncio.gather(*(e.wait() for e in opened_events))

    async def _watch(self, i, sem, opened):
        try:
            async with sem:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.server.port, ssl=self.ctx,
                                            server_hostname="127.0.0.1"), 60)
                self.writers.append(writer)
                writer.write((f"GET {self.path}?watch=1&timeoutSeconds=600 HTTP/1.1\r\n"
                              f"Host: 127.0.0.1:{self.server.port}\r\nAccept: application/json\r\n\r\n")
                             .encode())
                await writer.drain()
                status_line = await asyncio.wait_for(reader.readline(), 60)
                headers = {}
                while True:
                    line = await asyncio.wait_for(reader.readline(), 60)
                    if line in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                if b" 200 " not in status_line:
                    raise RuntimeError(f"watch {i}: {status_line!r}")
                self.opened += 1
            opened.set()
            await self._read_events(i, reader, headers.get("transfer-encoding", "").lower() == "chunked")
        except (asyncio.CancelledError, ConnectionError):
            pass
        except Exception as e:  # recorded, reported by the test
            self.failed.append(f"watch {i}: {e!r}")
        finally:
            opened.set()

    async def _read_events(self, i, reader, chunked):
        buf = b""
        while True:
            if chunked:
                size_line = await reader.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                data = await reader.readexactly(size + 2)
                buf += data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    ev = json.loads(line)
                    if ev["type"] == "ADDED":
                        self.added[i].add(ev["object"]["metadata"]["name"])
        self.ended += 1

    def seen_by_all(self, names):
        return all(names <= seen for seen in self.added)

    def close(self):
        async def _close():
            for t in self.tasks:
                t.cancel()
            for w in self.writers:
                w.close()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


class ManyWatchesTest(ServerTestCase):

    def timed(self, what, fn):
        start = time.monotonic()
        r = fn()
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, REQUEST_BOUND_S, f"{what} took {elapsed:.2f}s with {WATCHES} watches open")
        return r

    def test_ten_thousand_watches_do_not_starve_requests(self):
        raise_fd_limit()
        s = self.start_server()
        s.create("clusterprofiles", harness.cluster_profile())
        s.create("backupvaults", harness.vault())
        s.create("backups", harness.backup("before-watches"))

        watches = WatchClient(s, s.path("backups"), WATCHES)
        self.addCleanup(watches.close)
        opening = watches.start()
        try:
            opening.result(OPEN_DEADLINE_S)
        except Exception:
            self.fail(f"only {watches.opened} of {WATCHES} watches opened within {OPEN_DEADLINE_S}s; "
                      f"errors: {watches.failed[:5]}")
        self.assertEqual(watches.failed, [], watches.failed[:5])
        self.assertEqual(watches.opened, WATCHES)
        # No resourceVersion given: each watch starts with a synthetic ADDED for existing objects.
        harness.wait_for(lambda: watches.seen_by_all({"before-watches"}), DELIVERY_DEADLINE_S,
                         what="the synthetic ADDED event on every watch")

        created = set()
        for i in range(10):
            r = self.timed("GET /readyz", lambda: s.request("GET", "/readyz", user=None))
            self.assertEqual(r.status, 200, r)
            r = self.timed("GET backup", lambda: s.get("backups", "before-watches"))
            self.assertEqual(r.status, 200, r)
            r = self.timed("LIST backups", lambda: s.list("backups"))
            self.assertEqual(r.status, 200, r)
            r = self.timed("discovery", lambda: s.request("GET", harness.API))
            self.assertEqual(r.status, 200, r)
            name = f"during-{i}"
            r = self.timed("POST backup", lambda: s.create("backups", harness.backup(name), expect=None))
            self.assertEqual(r.status, 201, r)
            created.add(name)

        try:
            harness.wait_for(lambda: watches.seen_by_all(created), DELIVERY_DEADLINE_S,
                             what="every watch to get every ADDED event")
        except AssertionError:
            behind = sum(1 for seen in watches.added if not created <= seen)
            self.fail(f"{behind} of {WATCHES} watches missed ADDED events for {sorted(created)}")
        self.assertEqual(watches.ended, 0, "the server closed watches early")
        # The watches are written by the event loops: an open watch holds no thread (it held a
        # worker thread each before).
        threads = len(os.listdir(f"/proc/{s.proc.pid}/task"))
        self.assertLess(threads, 100, f"{threads} threads with {WATCHES} watches open")
        print(f"[ info ] {WATCHES} watches open: server RSS {rss_mib(s.proc.pid):.0f} MiB, "
              f"{threads} threads", flush=True)

        watches.close()
        # After the clients went away the server is still fine, and answers promptly.
        r = self.timed("GET after closing watches", lambda: s.get("backups", "during-0"))
        self.assertEqual(r.status, 200, r)
        r = self.timed("POST after closing watches", lambda: s.create("backups", harness.backup("after")))
        self.assertEqual(r.status, 201, r)

    def test_a_watcher_that_stops_reading_is_ended_and_holds_no_memory(self):
        s = self.start_server()
        s.create("clusterprofiles", harness.cluster_profile())
        s.create("backupvaults", harness.vault())
        readers = WatchClient(s, s.path("backups"), 3)
        self.addCleanup(readers.close)
        readers.start().result(60)
        self.assertEqual(readers.opened, 3, readers.failed)

        # The slow one: a small receive buffer, the watch's headers read, then nothing.
        ctx = s.ssl_context("admin")
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", s.port))
        slow = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(slow.close)
        slow.sendall((f"GET {s.path('backups')}?watch=1&timeoutSeconds=600 HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nAccept: application/json\r\n\r\n").encode())
        slow.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += slow.recv(1)
        self.assertIn(b" 200 ", head.split(b"\r\n", 1)[0])

        # Large objects, in two rounds of more bytes than the watch history keeps (16 MiB):
        # the first fills the history (and SQLite's cache), the second must not grow the
        # server by what a watcher holding every event would (about 100 MiB a round before
        # the store ended watchers behind the history; 0.3 MiB with it, on the dev VM).
        s.create("backups", harness.backup("warm"))
        harness.wait_for(lambda: readers.seen_by_all({"warm"}), 30, what="the first event")
        pad = "x" * (96 * 1024)
        names = [f"big-{i}" for i in range(2 * SLOW_OBJECTS)]

        def write(part):
            for name in part:
                b = harness.backup(name)
                b["metadata"]["annotations"] = {"example.com/pad": pad}
                r = s.create("backups", b, expect=None)
                if r.status != 201:
                    failures.append(r)

        failures, rss = [], []
        for half in (names[:SLOW_OBJECTS], names[SLOW_OBJECTS:]):
            # In batches of about 2 MiB, each read by the readers before the next is written:
            # a reader may lag the head by up to the history (16 MiB) before the store ends it
            # too, and these readers share one Python process (and its lock) with the writers.
            for b in range(0, len(half), 20):
                batch = half[b:b + 20]
                threads = [threading.Thread(target=write, args=(batch[t::4],)) for t in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(failures, [], failures[:3])
                # The readers are not held back: every event reaches them.
                try:
                    harness.wait_for(lambda: readers.seen_by_all(set(batch)), DELIVERY_DEADLINE_S,
                                     what="every reading watcher to get every event")
                except AssertionError:
                    self.fail(f"the reading watchers missed events of {batch[0]}..; "
                              f"{readers.ended} of them ended, errors {readers.failed[:3]}")
            rss.append(rss_mib(s.proc.pid))
        self.assertEqual(readers.ended, 0)
        round_mib = SLOW_OBJECTS * len(pad) / 2**20
        grown = rss[1] - rss[0]
        # What this catches is a watcher holding what goes past it: a whole round or more.
        # A quarter of a round is the bound for the release build; under a sanitizer its
        # quarantine may still be filling in the second round (19 MiB once in CI), so half.
        self.assertLess(grown, round_mib / (2 if harness.SANITIZED else 4),
                        f"RSS grew {grown:.0f} MiB while another {round_mib:.0f} MiB went past "
                        "a watcher that does not read")
        print(f"[ info ] {round_mib:.0f} MiB written past a watcher that does not read after the "
              f"history was full: RSS {rss[0]:.0f} -> {rss[1]:.0f} MiB", flush=True)

        # The slow watcher was ended: reading now, its stream stops (an ERROR event and the
        # end of the body, or the connection closed) well before it has every event.
        got, data = set(), b""
        ended = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = slow.recv(1 << 20)
            except (ConnectionError, ssl.SSLError):
                ended = True
                break
            except socket.timeout:
                break
            if not chunk:
                ended = True
                break
            data += chunk
            if b"\r\n0\r\n\r\n" in data:
                ended = True
                break
        for name in names:
            if f'"name":"{name}"'.encode() in data:
                got.add(name)
        self.assertTrue(ended, "the watcher that stopped reading was not ended")
        self.assertLess(len(got), len(names), "the slow watcher was kept until it had everything")
        metrics = s.request("GET", "/metrics").text()
        expired = [l for l in metrics.splitlines()
                   if l.startswith("csdr_storage_expired_watchers_total")]
        self.assertTrue(expired and float(expired[0].split()[-1]) >= 1, expired)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    unittest.main()
