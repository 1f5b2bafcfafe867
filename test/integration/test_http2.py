"""HTTP/2 over TLS (ALPN "h2"), against the real binary (apiserver/server/h2_session.h).

- Negotiation: "h2" when offered (before "http/1.1"), "http/1.1" when only that is offered,
  HTTP/1.1 without ALPN, and "http/1.1" only with --disable-http2-serving.
- The API over h2 (Debian's python3-h2 as the client, and curl --http2): discovery, create,
  get, list and list pages, 50 concurrent streams on one connection, 100 requests in as many
  TLS records arriving in one read (all answered, not only the first 16 records), a body over
  the 3 MiB cap answered 413 with the connection still usable.
- Watches as streams of one connection, and per-stream flow control: a watch stream whose
  reader stops granting window never holds back the other stream on the same connection.
- Floods and abuse, each with hand-built frames where python3-h2 refuses to send them: rapid
  reset (CVE-2023-44487), CONTINUATION flood, SETTINGS / PING floods, WINDOW_UPDATE overflow
  and trickle, a client that opens streams with huge windows and never reads, a header block
  over 1 MiB. Each ends that connection (GOAWAY where the server sends one, then EOF) while the
  server stays healthy (/readyz over HTTP/1.1, a fresh h2 connection) and its RSS comes back.
- Metrics: csdr_http_requests_total{protocol="HTTP/2"}, csdr_http2_connections_total and
  csdr_connections_closed_total{reason="h2_flood"|"h2_protocol_error"}.
"""

import concurrent.futures
import json
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

import harness
from harness import ServerTestCase, metric, parse_metrics

# How long the server may take to end an abusive connection once the abuse is sent.
CLOSE_TIMEOUT_S = 10
# The server's write timeout (kStreamWriteTimeout) and a margin for a loaded machine.
WRITE_TIMEOUT_S = 30
STALL_CLOSE_BOUND_S = WRITE_TIMEOUT_S + 10
# How much the server's RSS may grow across one abuse case, once it is over.
RSS_GROWTH_BOUND = 32 << 20
# How csdr_connections_closed_total counts the connection a rapid reset ends: a flood (the
# rapid reset is one, and h2_session.h lists RST_STREAM among the frames the session's budget
# counts), whichever of nghttp2's reset rate limit or that budget sends the GOAWAY.
RAPID_RESET_REASON = "h2_flood"

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

# Error codes (RFC 9113 section 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xb
ERROR_NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR",
               0x3: "FLOW_CONTROL_ERROR", 0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED",
               0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM", 0x8: "CANCEL",
               0x9: "COMPRESSION_ERROR", 0xa: "CONNECT_ERROR", 0xb: "ENHANCE_YOUR_CALM",
               0xc: "INADEQUATE_SECURITY", 0xd: "HTTP_1_1_REQUIRED"}

SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
MAX_WINDOW = 2**31 - 1


def frame(ftype, flags, stream_id, payload=b""):
    """One frame: the 9-byte header (24-bit length, type, flags, 31-bit stream) and payload."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags,
                                                             stream_id & 0x7FFFFFFF) + payload


def error_name(code):
    return f"{ERROR_NAMES.get(code, 'UNKNOWN')} (0x{code:x})" if code is not None else "none"


# --- the server's side, seen from outside ----------------------------------------------------
def rss_bytes(server):
    """The server process's resident set (VmRSS) in bytes."""
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def server_side_socket(server_port, client_port):
    """The server's end of the connection from `client_port` as /proc/net/tcp shows it:
    (tcp state, send queue bytes, inode), or None when there is no such socket. An inode of 0
    is a socket the process has closed (an orphan the kernel still drains)."""
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if (int(local.split(":")[1], 16) == server_port and
                    int(remote.split(":")[1], 16) == client_port):
                tx_queue = int(parts[4].split(":")[0], 16)
                return int(parts[3], 16), tx_queue, int(parts[9])
    return None


class Headers(dict):
    """Response header fields by lower-case name; get() takes any case (as harness.Response's
    http.client headers do)."""

    def get(self, key, default=None):
        return super().get(key.lower(), default)


# --- clients ---------------------------------------------------------------------------------
def tls_socket(server, alpn=("h2",), user="admin", timeout=10, rcvbuf=None):
    ctx = server.ssl_context(user)
    if alpn is not None:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.connect(("127.0.0.1", server.port))
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


class BatchingTlsSocket:
    """TLS over a memory BIO, so that what goes on the wire is under the test's control: while
    `hold` is set, each sendall() is encrypted into TLS records of its own and kept; release()
    writes all of them with one send, so that they reach the server together (one TCP read
    brings them all). Offers what H2Client uses of an ssl.SSLSocket."""

    def __init__(self, server, alpn=("h2",), user="admin", timeout=10):
        ctx = server.ssl_context(user)
        ctx.set_alpn_protocols(list(alpn))
        self.raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        self.hold = False
        self.held = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._push()
                data = self.raw.recv(65536)
                if not data:
                    raise ConnectionResetError("the server closed during the handshake")
                self.incoming.write(data)
        self._push()

    def _push(self):
        data = self.outgoing.read()
        if data:
            self.raw.sendall(data)

    def selected_alpn_protocol(self):
        return self.tls.selected_alpn_protocol()

    def settimeout(self, t):
        self.raw.settimeout(t)

    def getsockname(self):
        return self.raw.getsockname()

    def sendall(self, data):
        self.tls.write(data)
        if self.hold:
            self.held += self.outgoing.read()
        else:
            self._push()

    def release(self):
        """Writes what was held, all at once."""
        self.hold = False
        data, self.held = self.held + self.outgoing.read(), b""
        self.raw.sendall(data)
        return data

    def recv(self, n):
        while True:
            try:
                data = self.tls.read(n)
                self._push()  # TLS 1.3 post-handshake messages may want an answer
                return data
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return b""
            data = self.raw.recv(65536)  # socket.timeout propagates, as with an SSLSocket
            if not data:
                self.incoming.write_eof()
            else:
                self.incoming.write(data)

    def close(self):
        self.raw.close()


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.status = None
        self.headers = Headers()
        self.body = bytearray()
        self.ended = False
        self.reset = None  # the RST_STREAM error code, when the server reset it
        self.unacked = 0   # flow-controlled bytes received and not granted back (stalled)

    @property
    def done(self):
        return self.ended or self.reset is not None

    def response(self):
        return harness.Response(self.status, self.headers, bytes(self.body))

    def events(self):
        """The complete JSON lines of the body (a watch's events)."""
        return [json.loads(line) for line in bytes(self.body).split(b"\n")[:-1] if line.strip()]


class H2Client:
    """python3-h2 over a TLS socket with ALPN ["h2"]: requests as streams of one connection.

    Reading is explicit (pump / wait): a test that wants a client that does not read simply
    does not call them. Received DATA is acknowledged (WINDOW_UPDATE) as it is read, except on
    streams in `stalled`, whose window is left to run out."""

    def __init__(self, server, user="admin", timeout=10, settings=None, window=0, rcvbuf=None,
                 batching=False):
        self.server = server
        self.timeout = timeout
        self.sock = (BatchingTlsSocket(server, ("h2",), user, timeout) if batching else
                     tls_socket(server, ("h2",), user, timeout, rcvbuf))
        proto = self.sock.selected_alpn_protocol()
        if proto != "h2":
            raise AssertionError(f"ALPN selected {proto!r}, not h2")
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        if settings:
            # Our SETTINGS as sent in the preface (and used by h2 for new streams at once).
            values = dict(self.conn.local_settings.items())
            values.update(settings)
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=values)
        self.conn.initiate_connection()
        if window:
            self.conn.increment_flow_control_window(window)
        self.streams = {}
        self.stalled = set()
        self.terminated = None  # h2.events.ConnectionTerminated (the server's GOAWAY)
        self.closed = False     # EOF or a reset from the server
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # Requests ------------------------------------------------------------------------------
    def start(self, method, path, body=None, headers=(), content_type="application/json",
              flush=True):
        """Opens a stream (a request); returns its id. A body is sent as the windows allow
        (reading the socket meanwhile), and not beyond the point the server answers. Without
        a body, flush=False leaves the HEADERS frame to go with the next flush (several
        requests in one TLS record); by default each request is written on its own, in its own
        TLS record, as clients that write per request do."""
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"),
                (":authority", f"127.0.0.1:{self.server.port}"), (":path", path),
                ("accept", "application/json")]
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            hdrs += [("content-type", content_type), ("content-length", str(len(body)))]
        hdrs += list(headers)
        self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is None:
            if flush:
                self.flush()
        else:
            self._send_body(sid, body)  # a small body goes in one TLS record with its HEADERS
        return sid

    def _send_body(self, sid, body):
        st = self.streams[sid]
        if not body:
            self.conn.end_stream(sid)
            self.flush()
            return
        off = 0
        deadline = time.monotonic() + self.timeout
        while off < len(body):
            if st.done or st.status is not None or self.closed:
                return  # answered (413) or reset: the rest is not wanted
            try:
                room = min(self.conn.local_flow_control_window(sid),
                           self.conn.max_outbound_frame_size, len(body) - off)
            except h2.exceptions.StreamClosedError:
                return
            if room <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"stream {sid}: no window to send the body "
                                         f"({off} of {len(body)} bytes sent)")
                self.flush()
                self.pump(0.5)
                continue
            last = off + room == len(body)
            try:
                self.conn.send_data(sid, body[off:off + room], end_stream=last)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return
            off += room
            self.flush()
            if not last:
                self.pump(0)  # take what has come (window updates, an early answer)
        self.flush()

    def request(self, method, path, body=None, timeout=None, headers=()):
        sid = self.start(method, path, body, headers)
        self.wait(lambda: self.streams[sid].done, timeout or self.timeout,
                  f"the answer to {method} {path}")
        st = self.streams[sid]
        if st.status is None:
            raise AssertionError(f"{method} {path}: stream reset ({error_name(st.reset)}) "
                                 f"without an answer")
        return st.response()

    # Reading -------------------------------------------------------------------------------
    def pump(self, timeout):
        """Reads what the server sent within `timeout` seconds (one recv) and handles it.
        False when nothing came (timeout) or the connection is gone."""
        if self.closed:
            return False
        self.sock.settimeout(timeout if timeout > 0 else 0.0)
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            self._handle(ev)
        try:
            self.flush()
        except (OSError, ssl.SSLError):
            self.closed = True
        return True

    def _handle(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            st = self.streams[ev.stream_id]
            st.headers = Headers((k.lower(), v) for k, v in ev.headers if not k.startswith(":"))
            st.status = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.DataReceived):
            st = self.streams.get(ev.stream_id)
            if st is not None:
                st.body += ev.data
            if ev.stream_id not in self.stalled:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif st is not None:
                st.unacked += ev.flow_controlled_length
        elif isinstance(ev, h2.events.StreamEnded):
            self.streams[ev.stream_id].ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            if self.closed:
                raise AssertionError(f"the connection closed while waiting for {what} "
                                     f"(GOAWAY: {self.terminated})")
            self.pump(min(left, 0.5))
        return True

    def acknowledge(self, sid):
        """Resumes a stalled stream: grants back everything it received."""
        self.stalled.discard(sid)
        st = self.streams[sid]
        if st.unacked:
            self.conn.acknowledge_received_data(st.unacked, sid)
            st.unacked = 0
            self.flush()


class RawH2:
    """Hand-built frames over TLS with ALPN ["h2"], and a parser for what comes back."""

    def __init__(self, server, timeout=10, rcvbuf=None):
        self.server = server
        self.timeout = timeout
        self.sock = tls_socket(server, ("h2",), "admin", timeout, rcvbuf)
        if self.sock.selected_alpn_protocol() != "h2":
            raise AssertionError(f"ALPN selected {self.sock.selected_alpn_protocol()!r}")
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 20
        self.buf = b""
        self.frames = []      # (type, flags, stream, payload) received
        self.goaway = None    # (last stream id, error code, debug data)
        self.eof = False
        self.send_failed = None
        self.server_settings = None
        self.responses = {}   # stream -> {"status", "headers", "data", "ended", "reset"}
        self._block = None    # (stream, header block fragments) while CONTINUATIONs come

    def preface(self, settings=b""):
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        """Sends; False (and the error kept) once the server has closed."""
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError) as e:  # BrokenPipe, ConnectionReset, timeout
            self.send_failed = e
            return False

    def send_chunked(self, data, chunk=64 * 1024, read_between=False):
        """Sends `data` in pieces until the server stops taking it; with read_between, also
        takes (without blocking) what the server sent after each piece."""
        for i in range(0, len(data), chunk):
            if not self.send(data[i:i + chunk]):
                return False
            if read_between:
                while self.read_some(0):
                    pass
                if self.eof:
                    return False
        return True

    def headers_block(self, method, path, extra=(), huffman=True):
        return self.encoder.encode(
            [(":method", method), (":scheme", "https"),
             (":authority", f"127.0.0.1:{self.server.port}"), (":path", path),
             ("accept", "application/json")] + list(extra), huffman=huffman)

    def read_some(self, timeout):
        """One recv (at most `timeout` s; 0: only what is there). False when nothing came."""
        if self.eof:
            return False
        self.sock.settimeout(timeout if timeout > 0 else 0.0)
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        self._parse()
        return True

    def _parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags, sid = self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            self.frames.append((ftype, flags, sid, payload))
            self._on_frame(ftype, flags, sid, payload)

    def _on_frame(self, ftype, flags, sid, payload):
        if ftype == GOAWAY and self.goaway is None:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
        elif ftype == SETTINGS and not flags & ACK:
            if self.server_settings is None:
                self.server_settings = {
                    struct.unpack(">H", payload[i:i + 2])[0]: struct.unpack(">I", payload[i + 2:i + 6])[0]
                    for i in range(0, len(payload), 6)}
        elif ftype == HEADERS:
            self._block = (sid, payload, flags)
            if flags & END_HEADERS:
                self._headers_done()
        elif ftype == CONTINUATION and self._block is not None:
            self._block = (sid, self._block[1] + payload, self._block[2] | (flags & END_HEADERS))
            if flags & END_HEADERS:
                self._headers_done()
        elif ftype == DATA:
            r = self.responses.setdefault(sid, {"status": None, "headers": Headers(), "data": b"",
                                                "ended": False, "reset": None})
            r["data"] += payload
            if flags & END_STREAM:
                r["ended"] = True
        elif ftype == RST_STREAM:
            r = self.responses.setdefault(sid, {"status": None, "headers": Headers(), "data": b"",
                                                "ended": False, "reset": None})
            r["reset"] = struct.unpack(">I", payload)[0]

    def _headers_done(self):
        sid, block, flags = self._block
        self._block = None
        fields = self.decoder.decode(block, raw=False)
        r = self.responses.setdefault(sid, {"status": None, "headers": Headers(), "data": b"",
                                            "ended": False, "reset": None})
        for k, v in fields:
            if k == ":status":
                r["status"] = int(v)
            else:
                r["headers"][k.lower()] = v
        if flags & END_STREAM:
            r["ended"] = True

    def read_until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return False
            self.read_some(min(left, 0.5))
        return True

    def read_until_eof(self, timeout):
        """Reads (and parses) until the server closes; True when it did within `timeout`."""
        return self.read_until(lambda: self.eof, timeout)

    def response(self, sid):
        r = self.responses.get(sid)
        if r is None:
            return None
        return harness.Response(r["status"], r["headers"], r["data"])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http11_readyz(server, alpn):
    """GET /readyz as raw HTTP/1.1 over TLS offering `alpn` (None: no ALPN extension);
    returns (selected protocol, status line, body)."""
    s = tls_socket(server, alpn, user=None)
    try:
        proto = s.selected_alpn_protocol()
        s.sendall(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return proto, head.split(b"\r\n")[0].decode("latin-1"), body


# --- the tests -------------------------------------------------------------------------------
class Http2Case(ServerTestCase):
    """Plumbing shared by the tests below."""

    def scrape(self, server=None):
        r = (server or self.server).request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return parse_metrics(r.text())

    def h2(self, **kw):
        c = H2Client(self.server, **kw)
        self.addCleanup(c.close)
        return c

    def raw(self, **kw):
        c = RawH2(self.server, **kw)
        self.addCleanup(c.close)
        return c

    def setup_objects(self, s=None):
        s = s or self.server
        s.create("clusterprofiles", harness.cluster_profile(), namespace=None)
        s.create("backupvaults", harness.vault())

    def assert_healthy(self, what):
        """The server is alive, answers /readyz over HTTP/1.1 and a GET over a fresh h2
        connection."""
        self.assertTrue(self.server.alive(), f"{what}: the server died:\n{self.server.log_tail()}")
        start = time.monotonic()
        r = self.server.request("GET", "/readyz", user=None, timeout=5)
        self.assertEqual(r.status, 200, f"{what}: /readyz afterwards: {r!r}")
        c = H2Client(self.server, timeout=5)
        try:
            r = c.request("GET", self.server.path("backupvaults", "prod-vault"))
            self.assertEqual(r.status, 200, f"{what}: GET over a fresh h2 connection: {r!r}")
        finally:
            c.close()
        return time.monotonic() - start

    def assert_rss_back(self, what, before):
        """The server's RSS comes back within RSS_GROWTH_BOUND of `before` (a few seconds
        allowed for freed memory to be returned)."""
        deadline = time.monotonic() + 5
        after = rss_bytes(self.server)
        while after - before >= RSS_GROWTH_BOUND and time.monotonic() < deadline:
            time.sleep(0.25)
            after = rss_bytes(self.server)
        print(f"\n  [{what}] server RSS before {before / 2**20:.1f} MiB, after "
              f"{after / 2**20:.1f} MiB (growth {(after - before) / 2**20:+.1f} MiB)", flush=True)
        self.assertLess(after - before, RSS_GROWTH_BOUND,
                        f"{what}: RSS grew from {before} to {after} bytes")

    def assert_closed_by_server(self, what, raw, started, codes):
        """`raw`'s connection reaches EOF within CLOSE_TIMEOUT_S; a GOAWAY, if one arrived,
        carries one of `codes`. Returns the GOAWAY code (None when none was read)."""
        eof = raw.read_until_eof(CLOSE_TIMEOUT_S)
        took = time.monotonic() - started
        code = raw.goaway[1] if raw.goaway else None
        print(f"\n  [{what}] EOF {'after' if eof else 'NOT within'} {took:.2f}s; GOAWAY "
              f"{error_name(code) if raw.goaway else 'not read'}"
              f"{' ' + repr(raw.goaway[2][:80]) if raw.goaway and raw.goaway[2] else ''}; "
              f"{len(raw.frames)} frames read; send error: {raw.send_failed!r}", flush=True)
        self.assertTrue(eof, f"{what}: the connection was not closed within {CLOSE_TIMEOUT_S}s "
                             f"(GOAWAY: {raw.goaway})")
        if raw.goaway is not None:
            self.assertIn(code, codes, f"{what}: GOAWAY {error_name(code)}, expected one of "
                                       f"{[error_name(c) for c in codes]}")
        return code


class NegotiationTest(Http2Case):

    def test_alpn(self):
        self.server = self.start_server()
        for alpn, want in ((["h2", "http/1.1"], "h2"), (["http/1.1", "h2"], "h2"),
                           (["http/1.1"], "http/1.1"), (["h2"], "h2")):
            with self.subTest(alpn=alpn):
                s = tls_socket(self.server, alpn)
                try:
                    self.assertEqual(s.selected_alpn_protocol(), want)
                finally:
                    s.close()
        # HTTP/1.1 offered alone, and no ALPN at all: HTTP/1.1 is spoken.
        proto, status, body = http11_readyz(self.server, ["http/1.1"])
        self.assertEqual((proto, status), ("http/1.1", "HTTP/1.1 200 OK"), body)
        proto, status, body = http11_readyz(self.server, None)
        self.assertEqual((proto, status), (None, "HTTP/1.1 200 OK"), body)
        # A protocol the server does not speak: no ALPN answer (or a refused handshake), never h2.
        try:
            s = tls_socket(self.server, ["spdy/3"])
            self.assertIsNone(s.selected_alpn_protocol())
            s.close()
        except ssl.SSLError:
            pass
        # h2 works on this server.
        c = self.h2()
        self.assertEqual(c.request("GET", "/readyz").status, 200)

    def test_disable_http2_serving(self):
        self.server = self.start_server(extra_args=["--disable-http2-serving"])
        s = tls_socket(self.server, ["h2", "http/1.1"])
        try:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        finally:
            s.close()
        # Offering h2 alone: no protocol selected (or the handshake refused); never h2.
        try:
            s = tls_socket(self.server, ["h2"])
            self.assertNotEqual(s.selected_alpn_protocol(), "h2")
            s.close()
        except ssl.SSLError:
            pass
        proto, status, _ = http11_readyz(self.server, ["h2", "http/1.1"])
        self.assertEqual((proto, status), ("http/1.1", "HTTP/1.1 200 OK"))
        out = subprocess.run(self.curl_args(self.server, "/readyz"), capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "200 1.1")

    @staticmethod
    def curl_args(server, path):
        cert, key = server.certs.client("admin")
        return ["curl", "-sS", "--http2", "--max-time", "20", "--cacert", str(server.certs.ca),
                "--cert", str(cert), "--key", str(key), "-o", "/dev/null",
                "-w", "%{http_code} %{http_version}", f"https://127.0.0.1:{server.port}{path}"]


class ApiOverH2Test(Http2Case):

    def setUp(self):
        self.server = self.start_server()

    def test_crud_discovery_and_lists(self):
        s = self.server
        c = self.h2()
        r = c.request("GET", harness.API)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), r.headers)
        doc = r.json()
        self.assertEqual(doc["kind"], "APIResourceList")
        self.assertEqual(doc["groupVersion"], f"{harness.GROUP}/{harness.VERSION}")
        self.assertIn("backups", {res["name"] for res in doc["resources"]})
        self.assertEqual(int(r.headers.get("content-length")), len(r.body))

        r = c.request("POST", s.path("clusterprofiles"), harness.cluster_profile())
        self.assertEqual(r.status, 201, r)
        r = c.request("POST", s.path("backupvaults"), harness.vault())
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["metadata"]["name"], "prod-vault")
        names = ["b1", "b2", "b3"]
        for n in names:
            r = c.request("POST", s.path("backups"), harness.backup(n))
            self.assertEqual(r.status, 201, r)
            self.assertTrue(r.json()["metadata"]["resourceVersion"])
        # The same conflict as over HTTP/1.1.
        self.assertStatus(c.request("POST", s.path("backups"), harness.backup("b1")), 409,
                          "AlreadyExists")
        r = c.request("GET", s.path("backups", "b2"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["kind"], r.json()["metadata"]["name"]), ("Backup", "b2"))
        self.assertEqual(r.json()["spec"]["vaultName"], "prod-vault")
        self.assertStatus(c.request("GET", s.path("backups", "missing")), 404, "NotFound")
        r = c.request("GET", s.path("backups"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["kind"], "BackupList")
        self.assertEqual(sorted(i["metadata"]["name"] for i in r.json()["items"]), names)
        # Pages of one, following the continue token.
        seen, token, pages = [], None, 0
        while True:
            q = {"limit": "1"}
            if token:
                q["continue"] = token
            r = c.request("GET", s.path("backups") + "?" + urllib.parse.urlencode(q))
            self.assertEqual(r.status, 200, r)
            body = r.json()
            self.assertLessEqual(len(body["items"]), 1)
            seen += [i["metadata"]["name"] for i in body["items"]]
            token = body["metadata"].get("continue")
            pages += 1
            self.assertLess(pages, 10, "the continue tokens never end")
            if not token:
                break
        self.assertEqual(sorted(seen), names)
        self.assertEqual(pages, 3)
        # Cluster-scoped objects and a DELETE work too; what h2 wrote, HTTP/1.1 reads.
        r = c.request("GET", s.path("clusterprofiles", "cluster"))
        self.assertEqual(r.status, 200, r)
        r = c.request("DELETE", s.path("backups", "b3"))
        self.assertIn(r.status, (200, 202), r)
        self.assertEqual(sorted(i["metadata"]["name"] for i in s.list("backups").json()["items"]),
                         ["b1", "b2"])

    def test_fifty_concurrent_streams_on_one_connection(self):
        s = self.server
        self.setup_objects()
        c = self.h2()
        paths = [s.path("backupvaults", "prod-vault"), harness.API, s.path("backupvaults"),
                 "/readyz", s.path("backupvaults", "missing")]
        sids = [c.start("GET", paths[i % len(paths)]) for i in range(50)]
        c.wait(lambda: all(c.streams[i].done for i in sids), 30, "50 concurrent answers")
        want = {0: 200, 1: 200, 2: 200, 3: 200, 4: 404}
        for n, sid in enumerate(sids):
            st = c.streams[sid]
            self.assertTrue(st.ended and st.reset is None, f"stream {sid}: reset {st.reset}")
            self.assertEqual(st.status, want[n % len(paths)], f"stream {sid}: {st.response()!r}")
        self.assertEqual(c.streams[sids[0]].response().json()["metadata"]["name"], "prod-vault")
        # And 50 creates at once, each stored once.
        sids = [c.start("POST", s.path("backups"), harness.backup(f"c{i:02d}")) for i in range(50)]
        c.wait(lambda: all(c.streams[i].done for i in sids), 30, "50 concurrent creates")
        self.assertEqual([c.streams[i].status for i in sids], [201] * 50)
        self.assertEqual(len(s.list("backups").json()["items"]), 50)

    def test_many_tls_records_arriving_at_once_are_all_read(self):
        # 100 requests, each in its own TLS record, written to the socket with one send: one
        # socket read brings them all (the server's OpenSSL reads ahead), and every one of them
        # must be answered, not only the first few records the server decrypts.
        s = self.server
        self.setup_objects()
        c = self.h2(batching=True)
        c.wait(lambda: c.conn.remote_settings.max_concurrent_streams == 1000, 5,
               "the server's SETTINGS")
        c.pump(0.2)
        c.sock.hold = True
        sids = [c.start("GET", s.path("backupvaults", "prod-vault")) for _ in range(100)]
        sent = c.sock.release()
        self.assertGreater(len(sent), 100 * 22)  # 100 records: each has a 22-byte TLS overhead
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(c.streams[i].done for i in sids):
            c.pump(0.2)
        answered = [i for i in sids if c.streams[i].done]
        self.assertEqual(len(answered), len(sids),
                         f"only {len(answered)} of {len(sids)} requests that came in one burst of "
                         f"TLS records were answered within 10s (first unanswered: stream "
                         f"{min(set(sids) - set(answered), default=None)})")
        self.assertEqual({c.streams[i].status for i in sids}, {200})

    def test_body_over_the_cap_is_a_413_and_the_connection_lives(self):
        s = self.server
        self.setup_objects()
        c = self.h2(timeout=20)
        big = json.dumps(harness.obj("Backup", "huge", {"vaultName": "prod-vault"},
                                     annotations={"a": "x" * (3 * 1024 * 1024 + 4096)})).encode()
        self.assertGreater(len(big), 3 << 20)
        sid = c.start("POST", s.path("backups"), big)
        c.wait(lambda: c.streams[sid].status is not None, 20, "the answer to a 3 MiB body")
        c.wait(lambda: c.streams[sid].done, 10, "the end of the 413 stream")
        st = c.streams[sid]
        self.assertStatus(st.response(), 413, "RequestEntityTooLarge", "3 MiB body over h2")
        self.assertIsNone(c.terminated, "the connection was ended for a refused body")
        # The same connection serves the next request.
        r = c.request("GET", s.path("backupvaults", "prod-vault"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.get("backups", "huge").status, 404)
        # Just under the cap is read (and refused by validation or stored, not by size).
        ok = json.dumps(harness.obj("Backup", "big-ok", {"vaultName": "prod-vault"},
                                    annotations={"a": "x" * (200 * 1024)})).encode()
        r = c.request("POST", s.path("backups"), ok)
        self.assertNotEqual(r.status, 413, r)

    def test_curl_http2(self):
        s = self.server
        self.setup_objects()
        for path in (harness.API, s.path("backupvaults")):
            out = subprocess.run(NegotiationTest.curl_args(s, path), capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout, "200 2", f"curl --http2 {path}")
        # curl's body is the same document.
        cert, key = s.certs.client("admin")
        out = subprocess.run(["curl", "-sS", "--http2", "--max-time", "20",
                              "--cacert", str(s.certs.ca), "--cert", str(cert), "--key", str(key),
                              f"https://127.0.0.1:{s.port}{s.path('backupvaults', 'prod-vault')}"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["metadata"]["name"], "prod-vault")

    def test_every_endpoint_answers_over_h2_as_over_http11(self):
        """The webhook's /validate (served on the loop), health, metrics, discovery and OpenAPI:
        the same status and document over h2 as over HTTP/1.1."""
        s = self.server
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": "h2-review", "operation": "DELETE", "name": "csdr",
                              "kind": {"group": "", "version": "v1", "kind": "Namespace"},
                              "resource": {"group": "", "version": "v1",
                                           "resource": "namespaces"},
                              "userInfo": {"username": "someone"},
                              "oldObject": {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "csdr"}}}}
        c = self.h2()
        r2 = c.request("POST", "/validate", review)
        r1 = s.request("POST", "/validate", review)
        self.assertEqual((r2.status, r1.status), (200, 200), (r2, r1))
        self.assertEqual(r2.json(), r1.json())
        self.assertEqual(r2.json()["response"]["uid"], "h2-review")
        self.assertFalse(r2.json()["response"]["allowed"], r2.json())
        self.assertIn("CSDR-NS-001", r2.json()["response"]["status"]["message"])
        for path in ("/readyz", "/livez", "/healthz", "/version", "/apis", harness.API,
                     "/openapi/v2", f"/openapi/v3/apis/{harness.GROUP}/{harness.VERSION}"):
            r2, r1 = c.request("GET", path), s.request("GET", path)
            self.assertEqual(r2.status, 200, (path, r2))
            self.assertEqual(r2.status, r1.status, path)
            self.assertEqual(r2.body, r1.body, path)
        r = c.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b'csdr_http_requests_total{protocol="HTTP/2"}', r.body)


class WatchStreamsTest(Http2Case):

    def test_watches_are_streams_and_one_stalled_stream_holds_no_other(self):
        s = self.server = self.start_server()
        self.setup_objects()
        window = 8192
        # Small stream windows (so that a stream that is not acknowledged fills fast), a large
        # connection window (so that the stalled stream's share never starves the other).
        w = self.h2(settings={SETTINGS_INITIAL_WINDOW_SIZE: window}, window=16 << 20, timeout=30)
        path = s.path("backups") + "?watch=1&timeoutSeconds=120"
        a, b = w.start("GET", path), w.start("GET", path)
        w.wait(lambda: w.streams[a].status and w.streams[b].status, 10, "both watches' headers")
        self.assertEqual((w.streams[a].status, w.streams[b].status), (200, 200))

        def added(sid):
            return [e["object"]["metadata"]["name"] for e in w.streams[sid].events()
                    if e["type"] == "ADDED"]

        # Objects made over another connection reach both streams of this one.
        first = [f"w{i}" for i in range(3)]
        for n in first:
            s.create("backups", harness.backup(n))
        w.wait(lambda: added(a) == first and added(b) == first, 10,
               f"ADDED {first} on both streams")
        event = w.streams[b].events()[0]
        self.assertEqual((event["type"], event["object"]["kind"]), ("ADDED", "Backup"))

        # Stream a's reader stops: its window is never granted back.
        w.stalled.add(a)
        a_bytes = len(w.streams[a].body)
        more = [f"x{i:03d}" for i in range(60)]
        failures = []

        def writer():
            try:
                for n in more:
                    r = s.create("backups", harness.backup(n), expect=None)
                    if r.status != 201:
                        failures.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(e)
        t = threading.Thread(target=writer, daemon=True)
        started = time.monotonic()
        t.start()
        try:
            w.wait(lambda: added(b) == first + more, 60,
                   f"stream b's {len(more)} ADDED events while stream a is stalled")
        finally:
            t.join(60)
        self.assertEqual(failures, [])
        took = time.monotonic() - started
        got_a = len(w.streams[a].body) - a_bytes
        print(f"\n  [stalled watch] stream b got all {len(more)} events in {took:.2f}s; stalled "
              f"stream a got {got_a} bytes ({len(added(a)) - len(first)} events) within its "
              f"{window}-byte window; b's body {len(w.streams[b].body)} bytes", flush=True)
        # The server kept to a's window: no more than the window (less what a already held
        # unacknowledged) came on it, and it is behind b.
        self.assertLessEqual(got_a, window)
        self.assertLess(len(added(a)), len(first) + len(more), "the stalled stream was not stalled")
        self.assertIsNone(w.streams[b].reset)
        self.assertFalse(w.streams[b].ended)
        self.assertIsNone(w.terminated)
        # What a did get is the start of b's sequence: nothing skipped.
        self.assertEqual(added(a), added(b)[:len(added(a))])

        # A resumes: it gets the rest in order, or (a watcher that fell too far behind) its
        # stream ends; it never skips an event.
        w.acknowledge(a)
        w.wait(lambda: added(a) == first + more or w.streams[a].done, 30,
               "the resumed stream to catch up or end")
        self.assertEqual(added(a), (first + more)[:len(added(a))])
        print(f"  [stalled watch] resumed stream a: {len(added(a))} ADDED events, "
              f"ended={w.streams[a].ended} reset={w.streams[a].reset}", flush=True)
        # The connection serves other requests too.
        self.assertEqual(w.request("GET", s.path("backups", "x000")).status, 200)


class AbuseTest(Http2Case):
    """Each case on a server of its own, with a few objects to list."""

    def setUp(self):
        self.server = self.start_server()
        self.setup_objects()
        for i in range(5):
            self.server.create("backups", harness.backup(f"seed-{i}"))
        self.list_path = self.server.path("backups")
        # Warm up: the first h2 connection and a few requests allocate what later ones reuse.
        c = H2Client(self.server)
        for _ in range(3):
            c.request("GET", self.list_path)
        c.close()

    def closed_counts(self):
        m = self.scrape()
        return (metric(m, "csdr_connections_closed_total", reason="h2_flood"),
                metric(m, "csdr_connections_closed_total", reason="h2_protocol_error"))

    def run_case(self, what, attack, codes, reason, need_goaway=False):
        """The common frame of a flood case: RSS and metrics before, `attack(raw)` (which sends
        and returns), then: the connection is closed (GOAWAY with one of `codes` if one came),
        csdr_connections_closed_total{reason} grew by one, the server is healthy and its RSS
        back."""
        flood0, proto0 = self.closed_counts()
        rss0 = rss_bytes(self.server)
        raw = self.raw()
        started = time.monotonic()
        attack(raw)
        self.assert_closed_by_server(what, raw, started, codes)
        if need_goaway:
            self.assertIsNotNone(raw.goaway, f"{what}: no GOAWAY before the close")
        healthy = self.assert_healthy(what)
        self.assertLess(healthy, 5, f"{what}: the server took {healthy:.1f}s to answer after")
        self.assert_rss_back(what, rss0)
        flood1, proto1 = self.closed_counts()
        print(f"  [{what}] csdr_connections_closed_total h2_flood {flood0:g}->{flood1:g}, "
              f"h2_protocol_error {proto0:g}->{proto1:g}", flush=True)
        want = {"h2_flood": (flood0 + 1, proto0), "h2_protocol_error": (flood0, proto0 + 1)}[reason]
        self.assertEqual((flood1, proto1), want,
                         f"{what}: expected the close counted as {reason} (h2_flood, "
                         f"h2_protocol_error): before {(flood0, proto0)}, after {(flood1, proto1)}")
        return raw

    # a. CVE-2023-44487
    def test_rapid_reset(self):
        def attack(raw):
            raw.preface()
            burst = bytearray()
            for i in range(5000):
                sid = 2 * i + 1
                burst += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                               raw.headers_block("GET", self.list_path))
                burst += frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
            raw.send_chunked(bytes(burst), read_between=True)
        # The connection ends after about 1,000 resets: nghttp2's reset rate limit (1000 burst,
        # 33/s) sends GOAWAY INTERNAL_ERROR, or the session's control-frame budget (h2_session.h
        # counts RST_STREAM in it) sends ENHANCE_YOUR_CALM. Either way it is a flood, and
        # csdr_connections_closed_total says so: reason="h2_flood".
        raw = self.run_case("rapid reset", attack, (INTERNAL_ERROR, ENHANCE_YOUR_CALM),
                            reason=RAPID_RESET_REASON)
        answered = sum(1 for r in raw.responses.values() if r["status"] is not None)
        print(f"  [rapid reset] {answered} streams answered before the close", flush=True)

    # b. CONTINUATION flood
    def test_continuation_flood(self):
        def attack(raw):
            raw.preface()
            burst = frame(HEADERS, END_STREAM, 1, raw.headers_block("GET", self.list_path))
            field = b"\x00\x03x-c\x05value"  # literal without indexing: x-c: value
            burst += frame(CONTINUATION, 0, 1, field) * 20000
            raw.send_chunked(burst, read_between=True)
        # nghttp2 allows 8 CONTINUATIONs; the 9th is a connection error (PROTOCOL_ERROR).
        self.run_case("CONTINUATION flood", attack, (PROTOCOL_ERROR, ENHANCE_YOUR_CALM),
                      reason="h2_protocol_error")

    # c. SETTINGS flood
    def test_settings_flood(self):
        def attack(raw):
            raw.preface()
            one = frame(SETTINGS, 0, 0, struct.pack(">HI", SETTINGS_ENABLE_PUSH, 0))
            raw.send_chunked(one * 30000)  # nothing is read back
        self.run_case("SETTINGS flood", attack, (ENHANCE_YOUR_CALM,), reason="h2_flood")

    # d. PING flood
    def test_ping_flood(self):
        def attack(raw):
            raw.preface()
            raw.send_chunked(b"".join(frame(PING, 0, 0, struct.pack(">Q", i))
                                      for i in range(30000)))  # nothing is read back
        self.run_case("PING flood", attack, (ENHANCE_YOUR_CALM,), reason="h2_flood")

    # e(i). A WINDOW_UPDATE past 2^31-1
    def test_window_update_overflow(self):
        def attack(raw):
            raw.preface()
            raw.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW)))
        raw = self.run_case("WINDOW_UPDATE overflow", attack, (FLOW_CONTROL_ERROR,),
                            reason="h2_protocol_error", need_goaway=True)
        self.assertEqual(raw.goaway[1], FLOW_CONTROL_ERROR)

    # e(ii). A trickle of 1-byte WINDOW_UPDATEs
    def test_tiny_window_update_flood(self):
        def attack(raw):
            raw.preface()
            raw.send_chunked(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 5000,
                             read_between=True)
        self.run_case("1-byte WINDOW_UPDATE flood", attack, (ENHANCE_YOUR_CALM,),
                      reason="h2_flood")

    # A stream's WINDOW_UPDATE past 2^31-1 is a stream error: that stream is reset, the
    # connection lives.
    def test_stream_window_overflow_resets_the_stream_only(self):
        raw = self.raw()
        raw.preface()
        watch = self.list_path + "?watch=1&timeoutSeconds=30"
        raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, raw.headers_block("GET", watch)))
        self.assertTrue(raw.read_until(lambda: 1 in raw.responses and
                                       raw.responses[1]["status"] == 200, 10), raw.frames[-5:])
        raw.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", MAX_WINDOW)))
        self.assertTrue(raw.read_until(lambda: raw.responses[1]["reset"] is not None, 10),
                        f"stream 1 not reset: {raw.frames[-5:]}")
        self.assertEqual(raw.responses[1]["reset"], FLOW_CONTROL_ERROR)
        raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, raw.headers_block("GET", "/readyz")))
        self.assertTrue(raw.read_until(lambda: 3 in raw.responses and raw.responses[3]["ended"], 10))
        self.assertEqual(raw.responses[3]["status"], 200)
        self.assertIsNone(raw.goaway)

    # f. A client that opens streams with huge windows and never reads.
    def test_client_that_never_reads_is_closed_after_the_write_timeout(self):
        s = self.server
        names = [f"big-{i:04d}" for i in range(400)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: s.create("backups", harness.backup(n)), names))
        one_list = len(s.list("backups").body)
        streams = 100
        rss_cold = rss_bytes(s)
        # The same 100 lists at once to a client that reads them: the baseline then holds what
        # serving that load leaves in the allocator (glibc keeps freed heap for reuse), and the
        # comparison below is of what the stalled connection itself leaves behind.
        reader = self.h2(settings={SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}, window=64 << 20,
                         timeout=60)
        sids = [reader.start("GET", self.list_path, flush=False) for _ in range(streams)]
        reader.flush()
        reader.wait(lambda: all(reader.streams[i].done for i in sids), 60, "100 lists read")
        self.assertEqual({(reader.streams[i].status, len(reader.streams[i].body)) for i in sids},
                         {(200, one_list)})
        reader.close()
        rss0 = rss_bytes(s)
        print(f"\n  [never reads] RSS {rss_cold / 2**20:.1f} MiB before, {rss0 / 2**20:.1f} MiB after "
              f"serving {streams} lists to a client that reads", flush=True)
        # The huge windows: every stream and the connection may take 2^31-1 bytes. A small
        # receive buffer, so that the server's writes stall soon. The requests go in one TLS
        # record.
        stall = self.h2(settings={SETTINGS_INITIAL_WINDOW_SIZE: MAX_WINDOW},
                        window=MAX_WINDOW - 65535, rcvbuf=32 * 1024)
        client_port = stall.sock.getsockname()[1]
        for _ in range(streams):
            stall.start("GET", self.list_path, flush=False)
        stall.flush()
        started = time.monotonic()
        print(f"  [never reads] {streams} GETs of a {one_list}-byte list "
              f"({streams * one_list / 2**20:.1f} MiB) on one connection", flush=True)

        # The server's writes stall: its socket holds unsent bytes.
        def backed_up():
            st = server_side_socket(s.port, client_port)
            return st is not None and st[2] != 0 and st[1] > 0
        harness.wait_for(backed_up, timeout=15, what="the server's send queue to back up")
        # Meanwhile others are served promptly, over both protocols.
        for _ in range(3):
            t0 = time.monotonic()
            r = s.request("GET", s.path("backupvaults", "prod-vault"), timeout=5)
            self.assertEqual(r.status, 200, r)
            other = H2Client(s, timeout=5)
            try:
                r = other.request("GET", self.list_path)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(len(r.json()["items"]), len(names) + 5)
            finally:
                other.close()
            took = time.monotonic() - t0
            print(f"  [never reads] a GET and a list from other connections during the stall: "
                  f"{took:.2f}s", flush=True)
            self.assertLess(took, 3, "requests from other clients were held up by the stall")
            time.sleep(1)

        # The server closes its end (the process no longer holds the socket) within the write
        # timeout and a margin.
        def server_closed():
            st = server_side_socket(s.port, client_port)
            return st is None or st[2] == 0
        harness.wait_for(server_closed, timeout=STALL_CLOSE_BOUND_S - (time.monotonic() - started),
                         interval=0.25, what="the server to close the connection that never reads")
        closed_after = time.monotonic() - started
        print(f"  [never reads] the server closed the connection {closed_after:.1f}s after the "
              f"requests", flush=True)
        self.assertGreater(closed_after, WRITE_TIMEOUT_S - 5,
                           "closed long before the write timeout: was the client really stalled?")
        stall.close()
        self.assert_healthy("never reads")
        self.assert_rss_back("never reads", rss0)

    # g. A header block that decodes past 1 MiB.
    def big_header_case(self, what, build, expect):
        """Sends `build(raw)` (the frames of stream 1) and checks the outcome: "431" (that
        stream answered 431 with a Status, the connection usable) or "close" (GOAWAY and EOF)."""
        flood0, proto0 = self.closed_counts()
        rss0 = rss_bytes(self.server)
        raw = self.raw()
        raw.preface()
        self.assertTrue(raw.read_until(lambda: raw.server_settings is not None, 10))
        self.assertEqual(raw.server_settings.get(0x6), 1 << 20, "SETTINGS_MAX_HEADER_LIST_SIZE")
        self.assertEqual(raw.server_settings.get(0x5), 256 * 1024, "SETTINGS_MAX_FRAME_SIZE")
        raw.send(frame(SETTINGS, ACK, 0))
        frames = build(raw)
        started = time.monotonic()
        raw.send_chunked(frames, read_between=True)
        raw.read_until(lambda: raw.eof or (1 in raw.responses and raw.responses[1]["ended"]), 10)
        r = raw.response(1)
        outcome = ("431" if r is not None and r.status == 431 else
                   "close" if raw.eof else f"other: {r!r}")
        print(f"\n  [{what}] outcome {outcome}; GOAWAY "
              f"{error_name(raw.goaway[1]) if raw.goaway else 'none'}", flush=True)
        self.assertEqual(outcome, expect, f"{what}: response {r!r}, GOAWAY {raw.goaway}, "
                                          f"eof {raw.eof}")
        if expect == "431":
            self.assertStatus(r, 431, "RequestHeaderFieldsTooLarge", what)
            # The connection goes on.
            raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                           raw.headers_block("GET", "/readyz")))
            self.assertTrue(raw.read_until(lambda: 3 in raw.responses and raw.responses[3]["ended"], 10),
                            f"{what}: no answer on the connection after the 431")
            self.assertEqual(raw.responses[3]["status"], 200)
            self.assertIsNone(raw.goaway)
        else:
            self.assert_closed_by_server(what, raw, started, (PROTOCOL_ERROR,))
            self.assertIsNotNone(raw.goaway, f"{what}: closed without a GOAWAY")
            flood1, proto1 = self.closed_counts()
            self.assertEqual((flood1, proto1), (flood0, proto0 + 1))
        self.assertEqual(self.server.get("backups", "seed-0").status, 200)
        self.assert_healthy(what)
        self.assert_rss_back(what, rss0)

    def test_header_block_over_1mib_by_hpack_repetition(self):
        # One small HEADERS frame: a 3,000-byte field put in the HPACK table once, then
        # referenced 400 times (one byte each): 1.2 MB decoded.
        def build(raw):
            block = raw.headers_block("GET", self.list_path, [("x-big", "a" * 3000)] * 400)
            self.assertLess(len(block), 8192)
            return frame(HEADERS, END_HEADERS | END_STREAM, 1, block)
        self.big_header_case("1.2 MB of headers from a 5 KB block", build, "431")

    def test_header_block_over_1mib_in_large_frames(self):
        # 20 fields of 60,000 bytes (each under nghttp2's 64 KiB field limit) in frames of
        # 256 KiB (the server's SETTINGS_MAX_FRAME_SIZE): HEADERS and under 8 CONTINUATIONs.
        def build(raw):
            fields = [(f"x-h{i}", chr(ord("a") + i % 26) * 60000) for i in range(20)]
            block = raw.headers_block("GET", self.list_path, fields, huffman=False)
            self.assertGreater(len(block), 1 << 20)
            return split_block(block, 256 * 1024)
        self.big_header_case("1.2 MB of headers in 256 KiB frames", build, "431")

    def test_header_block_over_1mib_in_16k_frames(self):
        # The same block in 16 KiB frames: over 8 CONTINUATIONs, which nghttp2 refuses
        # (CVE-2024-27316 class) before the 1 MiB is reached.
        def build(raw):
            fields = [(f"x-h{i}", chr(ord("a") + i % 26) * 60000) for i in range(20)]
            block = raw.headers_block("GET", self.list_path, fields, huffman=False)
            return split_block(block, 16 * 1024)
        self.big_header_case("1.2 MB of headers in 16 KiB frames", build, "close")


def split_block(block, size):
    """A header block as HEADERS (END_STREAM) and CONTINUATIONs of at most `size` bytes, the
    last with END_HEADERS."""
    parts = [block[i:i + size] for i in range(0, len(block), size)]
    out = b""
    for n, part in enumerate(parts):
        flags = (END_HEADERS if n == len(parts) - 1 else 0) | (END_STREAM if n == 0 else 0)
        out += frame(HEADERS if n == 0 else CONTINUATION, flags, 1, part)
    return out


class MetricsTest(Http2Case):

    def test_protocol_and_flood_metrics(self):
        s = self.server = self.start_server()
        self.setup_objects()
        before = self.scrape()
        c = self.h2()
        for _ in range(10):
            self.assertEqual(c.request("GET", s.path("backupvaults", "prod-vault")).status, 200)
        sids = [c.start("GET", harness.API) for _ in range(5)]
        c.wait(lambda: all(c.streams[i].done for i in sids), 10, "5 concurrent answers")
        after = self.scrape()

        def delta(name, **labels):
            return metric(after, name, **labels) - metric(before, name, **labels)
        self.assertEqual(delta("csdr_http_requests_total", protocol="HTTP/2"), 15)
        # The scrape itself is an HTTP/1.1 request; nothing else came in over HTTP/1.1.
        self.assertEqual(delta("csdr_http_requests_total", protocol="HTTP/1.1"), 1)
        self.assertEqual(delta("csdr_http2_connections_total"), 1)
        self.assertEqual(delta("apiserver_request_total", verb="GET", code="200",
                               resource="backupvaults"), 10)
        c.close()

        # A flood: counted as h2_flood, and nothing else is.
        raw = self.raw()
        raw.preface()
        raw.send_chunked(frame(PING, 0, 0, b"\0" * 8) * 5000)
        self.assertTrue(raw.read_until_eof(CLOSE_TIMEOUT_S), "the PING flood was not cut off")
        flooded = self.scrape()
        self.assertEqual(metric(flooded, "csdr_connections_closed_total", reason="h2_flood") -
                         metric(after, "csdr_connections_closed_total", reason="h2_flood"), 1)
        self.assertEqual(metric(flooded, "csdr_connections_closed_total", reason="h2_protocol_error") -
                         metric(after, "csdr_connections_closed_total", reason="h2_protocol_error"), 0)
        self.assertEqual(metric(flooded, "csdr_http2_connections_total") -
                         metric(after, "csdr_http2_connections_total"), 1)
        # A protocol error: h2_protocol_error.
        raw = self.raw()
        raw.preface()
        raw.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW)))
        self.assertTrue(raw.read_until_eof(CLOSE_TIMEOUT_S))
        last = self.scrape()
        self.assertEqual(metric(last, "csdr_connections_closed_total", reason="h2_protocol_error") -
                         metric(flooded, "csdr_connections_closed_total", reason="h2_protocol_error"), 1)
        for fam in ("csdr_http_requests_total", "csdr_http2_connections_total",
                    "csdr_connections_closed_total"):
            self.assertIn(f"# TYPE {fam} counter", s.request("GET", "/metrics").text())


if __name__ == "__main__":
    unittest.main()
