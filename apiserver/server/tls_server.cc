#include "apiserver/server/tls_server.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "apiserver/server/h2_session.h"
#include "apiserver/server/http_parser.h"

namespace csdr::apiserver {

using Clock = std::chrono::steady_clock;
// After Stop(): how long a connection between requests may still bring its next request
// (answered with "Connection: close") before the server closes it.
constexpr auto kStopIdleGrace = std::chrono::seconds(1);
// After Stop(): how long an HTTP/2 peer has between the shutdown notice and the final GOAWAY to
// get the requests it had already sent to us (a round trip, with room to spare).
constexpr auto kGoawayNoticeGrace = std::chrono::seconds(1);

namespace {

bool Readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

int AcceptAnyPeer(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  // Verification happens per request in X509Authenticator so that a bad or missing
  // certificate gets a 401 Status instead of a failed handshake.
  return 1;
}

using CaNames = std::shared_ptr<STACK_OF(X509_NAME)>;

// The subject names of the certificates in `pem`, without duplicates, for the
// CertificateRequest.
CaNames SubjectNames(const std::string& pem) {
  CaNames names(sk_X509_NAME_new_null(),
                [](STACK_OF(X509_NAME) * n) { sk_X509_NAME_pop_free(n, X509_NAME_free); });
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!names || !bio) return nullptr;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert));
    X509_free(cert);
    if (name == nullptr) continue;
    bool seen = false;
    for (int i = 0; i < sk_X509_NAME_num(names.get()); ++i) {
      seen = seen || X509_NAME_cmp(sk_X509_NAME_value(names.get(), i), name) == 0;
    }
    if (seen || sk_X509_NAME_push(names.get(), name) == 0) X509_NAME_free(name);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error at EOF
  return names;
}

// ALPN (RFC 7301): "h2" when offered and enabled, else "http/1.1" when offered; a client that
// offers neither goes on without ALPN (and speaks HTTP/1.1), as with Go's server.
bool kWithH2 = true;
bool kWithoutH2 = false;
int SelectProtocol(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                   unsigned int inlen, void* arg) {
  const bool h2 = *static_cast<const bool*>(arg);
  const unsigned char* http11 = nullptr;
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    const std::string_view name(reinterpret_cast<const char*>(in + i + 1), len);
    if (h2 && name == "h2") {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    if (name == "http/1.1" && http11 == nullptr) http11 = in + i + 1;
    i += 1 + len;
  }
  if (http11 == nullptr) return SSL_TLSEXT_ERR_NOACK;
  *out = http11;
  *outlen = 8;
  return SSL_TLSEXT_ERR_OK;
}

int DefaultLoopCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::clamp(n, 1, 8);
}

// RFC 9110's IMF-fixdate of the current second, formatted once a second per thread.
const std::string& HttpDate() {
  thread_local time_t last = 0;
  thread_local std::string text;
  const time_t now = time(nullptr);
  if (now != last) {
    last = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    char buf[64];
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buf;
  }
  return text;
}

void AppendDecimal(std::string* out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  out->append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

void AppendHex(std::string* out, uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  char buf[20];
  char* p = buf + sizeof(buf);
  do {
    *--p = kDigits[v & 15];
    v >>= 4;
  } while (v > 0);
  out->append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

// One chunk of a chunked body: its size in hex, CRLF, the bytes, CRLF.
void AppendChunk(std::string* out, std::string_view data) {
  AppendHex(out, data.size());
  out->append("\r\n").append(data).append("\r\n");
}

// The last chunk, which ends a chunked body (no trailers).
constexpr std::string_view kLastChunk = "0\r\n\r\n";

bool IsHeader(const std::string& name, std::string_view want) {
  return name.size() == want.size() &&
         std::equal(name.begin(), name.end(), want.begin(),
                    [](char a, char b) { return (a | 0x20) == (b | 0x20); });
}

// The status line and header section of `res`. Content-Length for a whole body, chunked
// framing for a streamed one; "Connection: close" when the connection ends after it.
void SerializeHead(const httplib::Request& req, const httplib::Response& res, bool keep_alive,
                   bool streamed, std::string* out) {
  out->append("HTTP/1.1 ");
  AppendDecimal(out, static_cast<uint64_t>(res.status));
  out->push_back(' ');
  out->append(http::ReasonPhrase(res.status));
  out->append("\r\n");
  for (const auto& [name, value] : res.headers) {
    if (IsHeader(name, "Content-Length") || IsHeader(name, "Connection") ||
        IsHeader(name, "Transfer-Encoding")) {
      continue;
    }
    out->append(name).append(": ").append(value).append("\r\n");
  }
  out->append("Date: ").append(HttpDate()).append("\r\n");
  if (!keep_alive) {
    out->append("Connection: close\r\n");
  } else if (req.version == "HTTP/1.0") {
    out->append("Connection: keep-alive\r\n");
  }
  if (streamed) {
    out->append("Transfer-Encoding: chunked\r\n");
  } else if (res.status >= 200 && res.status != 204 && res.status != 304) {
    out->append("Content-Length: ");
    AppendDecimal(out, res.body.size());
    out->append("\r\n");
  }
  out->append("\r\n");
}

bool WantsClose(const httplib::Response& res) {
  for (const auto& [name, value] : res.headers) {
    if (IsHeader(name, "Connection") && IsHeader(value, "close")) return true;
  }
  return false;
}

}  // namespace

// What the handshake callback gives each connection. Loop threads read it; the reloader
// thread replaces the serving pair (inside DynamicServingCert) and the CA names.
struct HandshakeCertificates {
  std::unique_ptr<DynamicServingCert> serving;
  std::unique_ptr<DynamicCaFile> client_ca;  // null without --client-ca-file
  std::string extra_ca_pem;                  // CAs advertised besides the file's (fixed)
  CertificateReloader reloader;

  explicit HandshakeCertificates(std::chrono::milliseconds interval) : reloader(interval) {}

  void SetClientCa(const std::shared_ptr<const CaBundle>& ca) {
    CaNames names = SubjectNames((ca ? ca->pem() + "\n" : "") + extra_ca_pem);
    std::lock_guard<std::mutex> lock(mu);
    ca_names = std::move(names);
  }

  CaNames Names() const {
    std::lock_guard<std::mutex> lock(mu);
    return ca_names;
  }

  // SSL_CTX_set_cert_cb: runs during the handshake after the ClientHello, before the cipher
  // is chosen. Sets this connection's certificate, key, chain and advertised CA names from
  // the current ones; the SSL_CTX stays untouched.
  static int Select(SSL* ssl, void* arg) {
    const auto* self = static_cast<const HandshakeCertificates*>(arg);
    std::shared_ptr<const ServingKeyPair> pair = self->serving->Current();
    if (SSL_use_cert_and_key(ssl, pair->leaf(), pair->key(), pair->chain(), 1) != 1) {
      ERR_clear_error();
      return 0;  // fails this handshake only
    }
    if (CaNames names = self->Names(); names && sk_X509_NAME_num(names.get()) > 0) {
      if (STACK_OF(X509_NAME)* copy = SSL_dup_CA_list(names.get())) {
        SSL_set_client_CA_list(ssl, copy);  // takes ownership
      }
    }
    return 1;
  }

 private:
  mutable std::mutex mu;  // guards ca_names (the stack itself is not modified once built)
  CaNames ca_names;
};

namespace serving {

struct Loop;
struct H2Conn;

// One client connection. The loop that accepted it owns it, except while a worker serves a
// request on it (state kWorker): then only that worker touches it, and it is not in epoll.
struct Conn {
  // kStreaming: the loop writes a LoopStream's body (a watch) between the client's requests.
  // kH2: the connection speaks HTTP/2 (ALPN "h2"); the loop owns it for good, its requests go
  // to workers as exchanges (H2Conn).
  enum class State { kHandshake, kReading, kWriting, kDraining, kWorker, kStreaming, kH2 };
  // kWrite: a stream's write has waited for the socket (the client does not read).
  enum class Deadline { kHeader, kIdle, kNone, kWrite };

  int fd = -1;
  SSL* ssl = nullptr;
  Loop* loop = nullptr;
  std::atomic<State> state{State::kHandshake};
  http::RequestParser parser;
  std::string in;   // decrypted bytes not yet parsed
  std::string out;  // a response the loop is still writing
  size_t out_off = 0;
  bool close_after_write = false;
  bool drain_after_write = false;
  uint32_t armed = 0;  // events registered in epoll; 0: not registered
  Deadline deadline_kind = Deadline::kHeader;
  Clock::time_point deadline;
  uint64_t request_bytes = 0;  // read for the request in progress
  std::string remote_addr;
  int remote_port = -1;
  // The request a worker serves.
  httplib::Request request;
  bool keep_alive = true;
  // While kStreaming: the body's source, its key in Loop::streams, whether its last bytes
  // are in `out`, and whether the connection stays open after it.
  std::shared_ptr<LoopStream> stream;
  uint64_t stream_id = 0;
  bool stream_ended = false;
  bool stream_keep_alive = false;
  // While kH2: the session and its exchanges.
  std::unique_ptr<H2Conn> h2;

  explicit Conn(http::ParserLimits limits) : parser(limits) {}
  ~Conn();
};

// One HTTP/2 request handed to a worker, shared by the worker and the connection's loop. The
// worker fills the response and posts the exchange back (Loop::PostAnswer); a streamed body
// comes through `chunks`, at most kExchangeChunkBytes ahead of what the peer has taken.
struct H2Exchange {
  Loop* loop = nullptr;
  uint64_t conn = 0;  // the connection's serial (Loop::h2_conns)
  int32_t stream = 0;
  httplib::Request request;
  httplib::Response response;
  std::shared_ptr<LoopStream> loop_stream;  // the body is a LoopStream (a watch)
  bool chunked = false;                     // the body comes through `chunks`
  // The stream closed (answered, reset, or the connection went): nothing more is wanted.
  std::atomic<bool> canceled{false};
  std::mutex mu;
  std::condition_variable cv;  // room in `chunks`, or canceled
  std::string chunks;          // under mu
  size_t chunks_off = 0;       // under mu: what the loop has taken from the front
  bool chunks_done = false;    // under mu
  bool chunks_failed = false;  // under mu: the producer failed; the stream is reset

  void Cancel() {
    canceled.store(true);
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};

}  // namespace serving

using serving::Conn;
using serving::Loop;

// Threads that serve requests which may block. Grows up to `max` threads; a thread idle for
// 30 s exits unless it is one of the first few.
struct WorkerPool {
  std::mutex mu;
  std::condition_variable cv;
  std::condition_variable gone;  // the last thread exited
  std::deque<Conn*> queue;
  std::deque<std::shared_ptr<serving::H2Exchange>> exchanges;  // HTTP/2 requests
  size_t threads = 0;
  size_t idle = 0;
  size_t max = 4096;
  bool stop = false;
};

struct ServerState {
  ServingOptions options;
  std::shared_ptr<HandshakeCertificates> certs;
  SSL_CTX* ctx = nullptr;
  http::ParserLimits parser_limits;
  RequestHandler handler;
  QuickPredicate quick;
  ErrorWriter error_writer;
  int listen_fd = -1;
  std::vector<std::unique_ptr<Loop>> loops;  // complete below; ~ServerState is defined there
  WorkerPool pool;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> closed_header{0};
  std::atomic<uint64_t> closed_idle{0};
  std::atomic<uint64_t> closed_large{0};
  std::atomic<uint64_t> closed_h2_protocol{0};
  std::atomic<uint64_t> closed_h2_flood{0};
  std::atomic<uint64_t> connections_h2{0};
  std::atomic<uint64_t> requests_http1{0};
  std::atomic<uint64_t> requests_h2{0};
  http2::Limits h2_limits;

  ~ServerState();
};

namespace serving {

enum class WriteResult { kDone, kPending, kFailed };

// A loop's I/O on the connections it owns: everything non-blocking.
struct Loop {
  ServerState* server = nullptr;
  // Where SSL_read puts what it decrypts (one buffer per loop, not per thread: a thread_local
  // array would sit in every worker thread's static TLS, zeroed and resident, for nothing).
  char read_buf[16 * 1024];
  int epfd = -1;
  int wakefd = -1;
  std::mutex mu;  // guards conns and streams, and a connection's return from a worker
  std::unordered_set<Conn*> conns;
  std::unordered_map<uint64_t, Conn*> streams;  // kStreaming connections by stream_id
  uint64_t next_stream_id = 0;                  // under mu
  std::mutex wake_mu;           // guards woken (taken by the streams' wake callbacks)
  std::vector<uint64_t> woken;  // streams to pump
  Clock::time_point next_stream_pump;
  bool stop_seen = false;
  Clock::time_point stop_deadline;
  // HTTP/2: connections by serial (loop thread only), and what workers and stream sources
  // post back (under wake_mu).
  std::unordered_map<uint64_t, Conn*> h2_conns;
  uint64_t next_h2_serial = 0;
  std::vector<std::shared_ptr<H2Exchange>> h2_answers;
  std::vector<std::pair<uint64_t, int32_t>> h2_woken;
  std::vector<uint64_t> h2_more;  // connections with decrypted input left (loop thread only)

  ~Loop() {
    if (epfd >= 0) ::close(epfd);
    if (wakefd >= 0) ::close(wakefd);
  }

  void Run();
  void Accept();
  void OnEvent(Conn* c);
  void Handshake(Conn* c);
  void Read(Conn* c);
  void Drain(Conn* c);
  void Process(Conn* c, bool eof);
  WriteResult Flush(Conn* c);
  // After a response: the next request, a drain or the end of the connection. True when the
  // connection is ready to read again.
  bool AfterResponse(Conn* c);
  void Arm(Conn* c, uint32_t events);
  void HandOff(Conn* c);
  void Close(Conn* c);
  void BeginStop();
  void CheckDeadlines();
  // Streams: queued for a pump from any thread; pumped, written and ended on the loop.
  void WakeStream(uint64_t id) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(wake_mu);
      first = woken.empty() && h2_answers.empty() && h2_woken.empty();
      woken.push_back(id);
    }
    // One signal per batch: a write seen by 1,000 watchers is one eventfd write, not 1,000
    // (the loop takes the whole list when it wakes).
    if (first) Wake();
  }
  void DrainPosted();  // what the wake-up eventfd announced
  void PumpIds(std::vector<uint64_t> ids);
  void PumpAllStreams();
  void PumpStream(Conn* c);
  void StreamEvent(Conn* c);
  void EndStream(Conn* c);
  void CloseStreams();
  // HTTP/2 (H2Conn): answers from workers and wakes from bodies, from any thread.
  void PostAnswer(std::shared_ptr<H2Exchange> exchange) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(wake_mu);
      first = h2_answers.empty() && h2_woken.empty() && woken.empty();
      h2_answers.push_back(std::move(exchange));
    }
    if (first) Wake();
  }
  void WakeH2(uint64_t serial, int32_t stream) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(wake_mu);
      first = h2_answers.empty() && h2_woken.empty() && woken.empty();
      h2_woken.emplace_back(serial, stream);
    }
    if (first) Wake();
  }
  void StartH2(Conn* c);
  void H2Event(Conn* c);
  // Writes what the session has to send; closes the connection when it is done or failed.
  void H2Flush(Conn* c);
  void H2Posted(std::vector<std::shared_ptr<H2Exchange>> answers,
                std::vector<std::pair<uint64_t, int32_t>> woken_streams);
  void H2PumpStreams();
  void H2ReadMore();
  void H2FinishShutdowns();  // the final GOAWAY, a grace after the notice
  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakefd, &one, sizeof(one));
  }
};

}  // namespace serving

namespace serving {

// An HTTP/2 connection's requests: the session (frames in and out, on the loop) and the
// exchanges given to workers. At most `max_concurrent_streams` requests of one connection run
// on workers at once, those whose streams the peer reset included (their handlers cannot be
// stopped): more wait here, so that a peer that opens and resets streams (rapid reset,
// CVE-2023-44487) gets no more work done than one that keeps them open.
struct H2Conn final : http2::Session::Host {
  Conn* conn = nullptr;
  Loop* loop = nullptr;
  uint64_t serial = 0;
  std::unique_ptr<http2::Session> session;
  std::unordered_map<int32_t, std::shared_ptr<H2Exchange>> exchanges;  // not yet answered
  size_t running = 0;                                                  // on workers
  std::deque<std::shared_ptr<H2Exchange>> waiting;
  std::unordered_set<int32_t> loop_streams;  // bodies that are LoopStreams: pumped each second
  Clock::time_point final_goaway_at;         // after the shutdown notice: when the final GOAWAY

  ~H2Conn() override {
    for (auto& [id, ex] : exchanges) ex->Cancel();
    session.reset();  // bodies go first (a LoopStream body closes its stream)
  }
  void OnRequest(int32_t id, httplib::Request&& request) override;
  void OnStreamClosed(int32_t id) override;
  void OnBadRequest(int32_t id, int status, const std::string& message) override;
  // A worker's answer: the response goes out if its stream is still open.
  void Answer(const std::shared_ptr<H2Exchange>& ex);
  void Respond(int32_t id, const httplib::Request& req, httplib::Response& res);
  void StartWaiting();
};

Conn::~Conn() = default;

}  // namespace serving

ServerState::~ServerState() {
  if (ctx != nullptr) SSL_CTX_free(ctx);
  if (listen_fd >= 0) ::close(listen_fd);
}

namespace {

// Sentinels in epoll's data for the listener and the wake-up eventfd.
char kListenTag;
char kWakeTag;

void FreeConn(ServerState* server, Conn* c) {
  if (c->stream != nullptr) c->stream->Close();
  if (c->ssl != nullptr) {
    ERR_clear_error();
    // A close_notify where the connection still allows it; the result does not matter.
    if (SSL_is_init_finished(c->ssl)) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    ERR_clear_error();
  }
  if (c->fd >= 0) ::close(c->fd);
  delete c;
  server->open.fetch_sub(1);
}

// After Stop(), a connection the loop holds (between requests, in its handshake, or part way
// through a request): at most kStopIdleGrace more to finish bringing a request, then
// CheckDeadlines closes it; also when idle connections have no timeout of their own. A
// client that sends a request at once is served; a slow or silent one does not hold the
// shutdown up.
void StopGrace(Conn* c, Clock::time_point grace = Clock::now() + kStopIdleGrace) {
  if (c->deadline_kind != Conn::Deadline::kNone && c->deadline <= grace) return;
  if (c->deadline_kind == Conn::Deadline::kNone) {
    c->deadline_kind = c->parser.started() ? Conn::Deadline::kHeader : Conn::Deadline::kIdle;
  }
  c->deadline = grace;
}

void SetDeadline(const ServerState& s, Conn* c, Conn::Deadline kind) {
  const auto timeout = kind == Conn::Deadline::kIdle ? s.options.limits.idle_timeout
                                                     : s.options.limits.header_timeout;
  if (kind == Conn::Deadline::kNone || timeout.count() <= 0) {
    c->deadline_kind = Conn::Deadline::kNone;
    return;
  }
  c->deadline_kind = kind;
  c->deadline = Clock::now() + timeout;
}

// The answer the server gives itself to a request it could not read.
void ErrorResponse(const ServerState& s, int status, const std::string& message,
                   httplib::Response* res) {
  res->status = status;
  if (s.error_writer) {
    s.error_writer(status, message, *res);
  } else {
    res->set_content(message + "\n", "text/plain; charset=utf-8");
  }
}

void RunHandler(const ServerState& s, const httplib::Request& req, httplib::Response* res) {
  try {
    s.handler(req, *res);
    if (res->status == -1) res->status = 200;
  } catch (const std::exception& e) {
    LOG(ERROR) << "internal error serving " << req.method << " " << req.path << ": " << e.what();
    *res = httplib::Response();
    ErrorResponse(s, 500, std::string("Internal error occurred: ") + e.what(), res);
  }
}

// ---- blocking writes, for workers (the socket stays non-blocking; poll waits)

bool WaitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, 30000);  // the write timeout of 30 s
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return false;
  }
}

bool WriteBlocking(Conn* c, const char* data, size_t len) {
  while (len > 0) {
    ERR_clear_error();
    const int n = SSL_write(c->ssl, data, static_cast<int>(std::min<size_t>(len, 1 << 30)));
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    const int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) {
      if (!WaitFor(c->fd, POLLOUT)) return false;
    } else if (e == SSL_ERROR_WANT_READ) {
      if (!WaitFor(c->fd, POLLIN)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Gives the pages of this thread's stack below the current frame (less a margin for the
// calls about to be made) back to the kernel: they are dead, and a worker thread that once
// served a deep request would otherwise keep them resident while it idles or streams a
// watch (1,000 watches: ~50 MiB). A page touched again is zero-filled, as a new one is.
void ReleaseUnusedStack() {
  thread_local uintptr_t stack_low = 0;  // the lowest address of this thread's stack
  if (stack_low == 0) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    void* addr = nullptr;
    size_t size = 0;
    const bool got = pthread_attr_getstack(&attr, &addr, &size) == 0;
    pthread_attr_destroy(&attr);
    if (!got) return;
    stack_low = reinterpret_cast<uintptr_t>(addr);
  }
  constexpr uintptr_t kPage = 4096;
  // Below the frame: this function's locals and madvise's call, a few hundred bytes.
  constexpr uintptr_t kMargin = 16 * 1024;
  const auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (sp < stack_low + kMargin + kPage) return;
  const uintptr_t end = (sp - kMargin) & ~(kPage - 1);
  madvise(reinterpret_cast<void*>(stack_low), end - stack_low, MADV_DONTNEED);
}

// Writes a response from a worker, streaming a chunked content provider until it is done.
bool WriteResponse(Conn* c, const httplib::Request& req, httplib::Response& res, bool keep_alive) {
  const bool streamed = res.content_provider_ != nullptr;
  const bool head = req.method == "HEAD";
  std::string out;
  out.reserve(256 + (head || streamed ? 0 : res.body.size()));
  SerializeHead(req, res, keep_alive, streamed, &out);
  if (!streamed) {
    if (!head) out.append(res.body);
    return WriteBlocking(c, out.data(), out.size());
  }
  if (!WriteBlocking(c, out.data(), out.size())) return false;
  if (head) return true;
  // A stream (a watch) may hold this thread for minutes at a shallow depth: the stack pages
  // the handler's frames touched below this one are dead, and go back to the kernel.
  ReleaseUnusedStack();
  bool ok = true, done = false;
  httplib::DataSink sink;
  std::string chunk;
  sink.write = [&](const char* data, size_t len) {
    if (!ok) return false;
    if (len == 0) return true;
    chunk.clear();
    AppendChunk(&chunk, std::string_view(data, len));
    ok = WriteBlocking(c, chunk.data(), chunk.size());
    return ok;
  };
  sink.done = [&] {
    if (done) return;
    done = true;
    ok = ok && WriteBlocking(c, kLastChunk.data(), kLastChunk.size());
  };
  sink.is_writable = [&] { return ok; };
  size_t offset = 0;
  while (ok && !done) {
    if (!res.content_provider_(offset, 0, sink)) ok = false;
  }
  res.content_provider_success_ = ok;
  return ok;
}

void CloseFromWorker(Conn* c) {
  Loop* loop = c->loop;
  {
    std::lock_guard<std::mutex> lock(loop->mu);
    loop->conns.erase(c);
  }
  FreeConn(loop->server, c);
}

// Gives a connection back to its loop after a worker's response.
void HandBack(Conn* c) {
  Loop* loop = c->loop;
  ServerState* s = loop->server;
  std::unique_lock<std::mutex> lock(loop->mu);
  SetDeadline(*s, c, c->parser.started() ? Conn::Deadline::kHeader : Conn::Deadline::kIdle);
  if (s->stopping.load()) {
    // The response promised keep-alive before Stop(): the client may send one more request.
    StopGrace(c);
  }
  c->request_bytes = c->in.size();
  c->state.store(Conn::State::kReading);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = c;
  c->armed = EPOLLIN;
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    loop->conns.erase(c);
    lock.unlock();
    FreeConn(s, c);
  }
}

// The request the parser has just completed, with what the connection knows of its client.
httplib::Request& ParsedRequest(Conn* c) {
  httplib::Request& req = c->parser.request();
  req.remote_addr = c->remote_addr;
  req.remote_port = c->remote_port;
  req.ssl = c->ssl;
  return req;
}

// A worker's turn with a connection: the request it was handed, then any whole requests
// already read behind it (pipelining), then back to the loop.
// Where StreamOnLoop leaves a handler's loop stream for the worker that runs it.
struct LoopStreamSlot {
  const httplib::Response* res = nullptr;
  std::shared_ptr<LoopStream> stream;
};
thread_local LoopStreamSlot* current_stream_slot = nullptr;

// A stream whose source cannot wake the loop: pumped from the worker every 50 ms.
bool PumpOnWorker(Conn* c, LoopStream& stream) {
  std::string data, chunk;
  for (;;) {
    data.clear();
    const bool more = stream.Pump(&data);
    if (!data.empty()) {
      chunk.clear();
      AppendChunk(&chunk, data);
      if (!WriteBlocking(c, chunk.data(), chunk.size())) return false;
    }
    if (!more) return WriteBlocking(c, kLastChunk.data(), kLastChunk.size());
    if (data.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// After the head of a loop stream's response: the connection goes to its loop, which writes
// the body (Loop::PumpStream). False when the stream could not start there and was written
// here instead (`ok` says whether that worked).
bool HandBackStreaming(Conn* c, std::shared_ptr<LoopStream> stream, bool keep_alive, bool* ok) {
  Loop* loop = c->loop;
  ServerState* s = loop->server;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(loop->mu);
    id = ++loop->next_stream_id;
    loop->streams[id] = c;  // pumped only once kStreaming: a wake before that waits for it
  }
  c->stream_id = id;
  if (!stream->Start([loop, id] { loop->WakeStream(id); })) {
    {
      std::lock_guard<std::mutex> lock(loop->mu);
      loop->streams.erase(id);
    }
    c->stream_id = 0;
    *ok = PumpOnWorker(c, *stream);
    stream->Close();
    return false;
  }
  c->stream = std::move(stream);
  c->stream_ended = false;
  c->stream_keep_alive = keep_alive;
  c->request = httplib::Request();
  {
    std::unique_lock<std::mutex> lock(loop->mu);
    c->deadline_kind = Conn::Deadline::kNone;
    c->state.store(Conn::State::kStreaming);
    epoll_event ev{};
    ev.events = EPOLLIN;  // the client's close ends the stream
    ev.data.ptr = c;
    c->armed = EPOLLIN;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      loop->conns.erase(c);
      loop->streams.erase(id);
      lock.unlock();
      FreeConn(s, c);
      return true;
    }
  }
  loop->WakeStream(id);  // the first pump: what is ready now, and any wake that came early
  return true;
}

// A worker's turn with a connection: the request it was handed, then any whole requests
// already read behind it (pipelining), then back to the loop.
void ServeOnWorker(Conn* c) {
  ServerState* s = c->loop->server;
  for (;;) {
    bool ok = false, keep_alive = false;
    {
      // The response, and what its stream holds (a watch on the store), is gone before the
      // connection is: Serve() returns once every connection is closed, and the objects the
      // handler uses are destroyed after that.
      httplib::Response res;
      LoopStreamSlot slot;
      slot.res = &res;
      current_stream_slot = &slot;
      RunHandler(*s, c->request, &res);
      current_stream_slot = nullptr;
      keep_alive = c->keep_alive && !WantsClose(res) && !s->stopping.load();
      if (slot.stream != nullptr) {
        std::string head;
        SerializeHead(c->request, res, keep_alive, /*streamed=*/true, &head);
        if (!WriteBlocking(c, head.data(), head.size())) {
          slot.stream->Close();
          return CloseFromWorker(c);
        }
        ReleaseUnusedStack();  // what the handler's frames touched, as for any stream
        if (HandBackStreaming(c, std::move(slot.stream), keep_alive, &ok)) return;
      } else {
        ok = WriteResponse(c, c->request, res, keep_alive);
      }
    }
    c->request = httplib::Request();
    if (!ok || !keep_alive) return CloseFromWorker(c);
    const auto r = c->parser.Feed(&c->in);
    if (r == http::RequestParser::Result::kIncomplete) return HandBack(c);
    if (r == http::RequestParser::Result::kError) {
      httplib::Response err;
      ErrorResponse(*s, c->parser.error().status, c->parser.error().message, &err);
      WriteResponse(c, c->request, err, false);
      return CloseFromWorker(c);
    }
    s->requests_http1.fetch_add(1, std::memory_order_relaxed);
    c->request = std::move(ParsedRequest(c));
    c->keep_alive = c->parser.keep_alive();
    c->parser.Reset();
  }
}

// How far a streamed HTTP/2 body (a large list) may run ahead of what the peer has taken,
// and how long its producer waits for room (a worker's HTTP/1.1 write waits as long).
constexpr size_t kExchangeChunkBytes = 256 * 1024;
constexpr auto kExchangeWriteTimeout = std::chrono::seconds(30);

// A worker's turn with an HTTP/2 request: runs the handler, posts the response to the loop,
// and produces a streamed body into the exchange as the loop takes it.
void ServeExchange(ServerState* s, std::shared_ptr<serving::H2Exchange> ex) {
  if (ex->canceled.load()) {
    ex->loop->PostAnswer(std::move(ex));  // frees its place among the connection's running
    return;
  }
  httplib::Response& res = ex->response;
  LoopStreamSlot slot;
  slot.res = &res;
  current_stream_slot = &slot;
  RunHandler(*s, ex->request, &res);
  current_stream_slot = nullptr;
  ex->loop_stream = std::move(slot.stream);
  httplib::ContentProvider provider;
  if (ex->loop_stream == nullptr && res.content_provider_ != nullptr) {
    if (ex->request.method == "HEAD") {
      res.content_provider_ = nullptr;
    } else {
      ex->chunked = true;
      provider = res.content_provider_;  // the loop reads the head only
    }
  }
  serving::Loop* loop = ex->loop;
  const uint64_t conn = ex->conn;
  const int32_t stream = ex->stream;
  loop->PostAnswer(ex);
  if (!ex->chunked) return;
  ReleaseUnusedStack();
  bool ok = true, done = false;
  auto notify = [&] { loop->WakeH2(conn, stream); };
  httplib::DataSink sink;
  sink.write = [&](const char* data, size_t len) {
    if (!ok) return false;
    if (len == 0) return true;
    std::unique_lock<std::mutex> lock(ex->mu);
    const bool room = ex->cv.wait_for(lock, kExchangeWriteTimeout, [&] {
      return ex->chunks.size() - ex->chunks_off < kExchangeChunkBytes || ex->canceled.load();
    });
    if (!room || ex->canceled.load()) {
      ok = false;
      return false;
    }
    const bool was_empty = ex->chunks.size() == ex->chunks_off;
    ex->chunks.append(data, len);
    lock.unlock();
    if (was_empty) notify();
    return true;
  };
  sink.done = [&] { done = true; };
  sink.is_writable = [&] { return ok && !ex->canceled.load(); };
  size_t offset = 0;
  while (ok && !done) {
    if (!provider(offset, 0, sink)) ok = false;
  }
  res.content_provider_success_ = ok;
  {
    std::lock_guard<std::mutex> lock(ex->mu);
    ex->chunks_done = true;
    ex->chunks_failed = !ok;
  }
  notify();
}

// The server's state outlives its workers: ~TlsServer waits for them to exit.
void* WorkerMain(void* arg) {
  auto* s = static_cast<ServerState*>(arg);
  WorkerPool& pool = s->pool;
  std::unique_lock<std::mutex> lock(pool.mu);
  for (;;) {
    auto empty = [&pool] { return pool.queue.empty() && pool.exchanges.empty(); };
    if (empty() && !pool.stop) {
      // Going idle: what the last request's deep frames touched goes back to the kernel.
      lock.unlock();
      ReleaseUnusedStack();
      lock.lock();
    }
    while (empty() && !pool.stop) {
      ++pool.idle;
      const bool woken =
          pool.cv.wait_for(lock, std::chrono::seconds(30), [&] { return !empty() || pool.stop; });
      --pool.idle;
      if (!woken && pool.threads > 4) break;
    }
    if (empty()) break;
    if (!pool.exchanges.empty()) {
      std::shared_ptr<serving::H2Exchange> ex = std::move(pool.exchanges.front());
      pool.exchanges.pop_front();
      lock.unlock();
      ServeExchange(s, std::move(ex));
      lock.lock();
      continue;
    }
    Conn* c = pool.queue.front();
    pool.queue.pop_front();
    lock.unlock();
    ServeOnWorker(c);
    lock.lock();
  }
  if (--pool.threads == 0) pool.gone.notify_all();
  return nullptr;
}

// Queues a job (`push` adds it, under the pool's lock) and finds it a thread.
template <typename Push>
void SubmitJob(ServerState* s, Push push) {
  WorkerPool& pool = s->pool;
  std::unique_lock<std::mutex> lock(pool.mu);
  push(pool);
  if (pool.queue.size() + pool.exchanges.size() <= pool.idle) {
    // Woken after the unlock: a thread woken while the lock is held only blocks on it again
    // (contended-lock waits were 7% of the creates profile's samples, about 1% after).
    lock.unlock();
    pool.cv.notify_one();
    return;
  }
  if (pool.threads >= pool.max) return;  // waits for a thread to finish its request
  ++pool.threads;
  lock.unlock();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // 256 KiB is plenty: our recursion is bounded by the parser's depth limit (100).
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  if (pthread_create(&thread, &attr, &WorkerMain, s) != 0) {
    lock.lock();
    --pool.threads;
    const bool none = pool.threads == 0;
    lock.unlock();
    LOG(WARNING) << "cannot start a worker thread: " << (none ? "no worker left" : "queued");
    pool.cv.notify_one();
  }
  pthread_attr_destroy(&attr);
}

void Submit(ServerState* s, Conn* c) {
  SubmitJob(s, [c](WorkerPool& pool) { pool.queue.push_back(c); });
}

void SubmitExchange(ServerState* s, std::shared_ptr<serving::H2Exchange> ex) {
  SubmitJob(s, [&ex](WorkerPool& pool) { pool.exchanges.push_back(std::move(ex)); });
}

}  // namespace

// ---- the loop

namespace serving {

void Loop::Arm(Conn* c, uint32_t events) {
  if (c->armed == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epfd, c->armed == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
  c->armed = events;
}

void Loop::Close(Conn* c) {
  {
    std::lock_guard<std::mutex> lock(mu);
    conns.erase(c);
    if (c->stream_id != 0) streams.erase(c->stream_id);
  }
  if (c->h2 != nullptr) h2_conns.erase(c->h2->serial);
  FreeConn(server, c);  // closing the socket takes it out of epoll
}

void Loop::Accept() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(server->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        LOG_EVERY_N(WARNING, 100) << "accept: out of file descriptors";
      }
      return;
    }
    if (server->stopping.load() || server->open.load() >= server->options.max_connections) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto* c = new Conn(server->parser_limits);
    c->fd = fd;
    c->loop = this;
    c->ssl = SSL_new(server->ctx);
    server->open.fetch_add(1);
    if (c->ssl == nullptr) {
      FreeConn(server, c);
      continue;
    }
    SSL_set_fd(c->ssl, fd);
    SSL_set_accept_state(c->ssl);
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    char host[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
      c->remote_port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
      c->remote_port = ntohs(a->sin6_port);
    }
    c->remote_addr = host;
    SetDeadline(*server, c, Conn::Deadline::kHeader);
    {
      std::lock_guard<std::mutex> lock(mu);
      conns.insert(c);
    }
    Arm(c, EPOLLIN);
  }
}

void Loop::OnEvent(Conn* c) {
  switch (c->state.load()) {
    case Conn::State::kHandshake:
      return Handshake(c);
    case Conn::State::kReading:
      return Read(c);
    case Conn::State::kWriting:
      if (Flush(c) == WriteResult::kDone && AfterResponse(c)) Process(c, false);
      return;
    case Conn::State::kDraining:
      return Drain(c);
    case Conn::State::kWorker:
      return;  // not registered while a worker has it
    case Conn::State::kStreaming:
      return StreamEvent(c);
    case Conn::State::kH2:
      return H2Event(c);
  }
}

// ---- streams (LoopStream): a watch's body written by the loop

// How often every stream is pumped without a wake: its deadline, the server's shutdown and
// bookmarks are seen there.
constexpr auto kStreamPumpInterval = std::chrono::seconds(1);
// How long a stream's write may wait for the client to read (a worker's writes wait as long).
constexpr auto kStreamWriteTimeout = std::chrono::seconds(30);

void Loop::DrainPosted() {
  // All three lists are taken at once: a producer that finds them all empty afterwards wakes
  // the loop again, and one that finds any of them non-empty is drained here.
  std::vector<uint64_t> ids;
  std::vector<std::shared_ptr<H2Exchange>> answers;
  std::vector<std::pair<uint64_t, int32_t>> h2w;
  {
    std::lock_guard<std::mutex> lock(wake_mu);
    ids.swap(woken);
    answers.swap(h2_answers);
    h2w.swap(h2_woken);
  }
  PumpIds(std::move(ids));
  H2Posted(std::move(answers), std::move(h2w));
}

void Loop::PumpIds(std::vector<uint64_t> ids) {
  if (ids.size() > 1) {  // one pump per stream however often it was woken
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  for (uint64_t id : ids) {
    Conn* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = streams.find(id);
      if (it != streams.end() && it->second->state.load() == Conn::State::kStreaming) {
        c = it->second;
      }
    }
    // Only this loop closes a streaming connection, so `c` stays valid here.
    if (c != nullptr) PumpStream(c);
  }
}

void Loop::PumpAllStreams() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu);
    ids.reserve(streams.size());
    for (const auto& [id, c] : streams) {
      if (c->state.load() == Conn::State::kStreaming) ids.push_back(id);
    }
  }
  PumpIds(std::move(ids));
  H2PumpStreams();
}

void Loop::PumpStream(Conn* c) {
  // One pump: whatever becomes ready after it wakes the loop again (the source's ready
  // callback fires when its queue stops being empty, and the pump emptied it).
  if (!c->out.empty()) return;  // a write is waiting for the socket: pumped when it is done
  std::string data;
  const bool more = c->stream->Pump(&data);
  if (!data.empty()) AppendChunk(&c->out, data);
  if (!more) {
    c->out.append(kLastChunk);
    c->stream_ended = true;
  }
  if (c->out.empty()) return;  // nothing ready
  c->out_off = 0;
  const WriteResult r = Flush(c);
  if (r == WriteResult::kFailed) return;  // closed
  if (r == WriteResult::kPending) {
    c->deadline_kind = Conn::Deadline::kWrite;
    c->deadline = Clock::now() + kStreamWriteTimeout;
    return;
  }
  c->deadline_kind = Conn::Deadline::kNone;
  if (c->stream_ended) return EndStream(c);
  Arm(c, EPOLLIN);
}

void Loop::StreamEvent(Conn* c) {
  // The client: its close (or a TLS error) ends the stream; bytes it sends (a pipelined
  // request) wait for the stream's end.
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(c->ssl, read_buf, static_cast<int>(sizeof(read_buf)));
    if (n > 0) {
      c->in.append(read_buf, static_cast<size_t>(n));
      if (c->in.size() > server->options.limits.max_request_bytes) return Close(c);
      continue;
    }
    const int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    return Close(c);
  }
  if (c->out.empty()) return;
  const WriteResult r = Flush(c);
  if (r != WriteResult::kDone) return;
  c->deadline_kind = Conn::Deadline::kNone;
  if (c->stream_ended) return EndStream(c);
  Arm(c, EPOLLIN);
  PumpStream(c);  // what became ready while the write waited
}

void Loop::EndStream(Conn* c) {
  std::shared_ptr<LoopStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu);
    streams.erase(c->stream_id);
  }
  stream = std::move(c->stream);
  c->stream_id = 0;
  stream->Close();
  c->out.clear();
  c->out_off = 0;
  c->close_after_write = !c->stream_keep_alive || server->stopping.load();
  c->drain_after_write = false;
  if (AfterResponse(c)) {
    Arm(c, EPOLLIN);
    Process(c, false);
  }
}

void Loop::CloseStreams() {
  std::vector<Conn*> open;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [id, c] : streams) {
      if (c->state.load() == Conn::State::kStreaming) open.push_back(c);
    }
  }
  for (Conn* c : open) Close(c);
}

void Loop::Handshake(Conn* c) {
  ERR_clear_error();
  const int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    const unsigned char* proto = nullptr;
    unsigned int proto_len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (proto_len == 2 && std::memcmp(proto, "h2", 2) == 0) return StartH2(c);
    c->state.store(Conn::State::kReading);
    return Read(c);
  }
  const int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ) return Arm(c, EPOLLIN);
  if (e == SSL_ERROR_WANT_WRITE) return Arm(c, EPOLLOUT);
  Close(c);
}

void Loop::Read(Conn* c) {
  char* const buf = read_buf;
  constexpr int kBufSize = sizeof(read_buf);
  bool eof = false;
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(c->ssl, buf, kBufSize);
    if (n > 0) {
      if (c->deadline_kind == Conn::Deadline::kIdle) {
        // The first bytes after an idle period: the request's own deadline starts.
        SetDeadline(*server, c, Conn::Deadline::kHeader);
      }
      c->in.append(buf, static_cast<size_t>(n));
      c->request_bytes += static_cast<uint64_t>(n);
      if (c->request_bytes > server->options.limits.max_request_bytes) {
        server->closed_large.fetch_add(1);
        return Close(c);
      }
      // What the socket still holds makes epoll report the connection again.
      if (SSL_has_pending(c->ssl)) continue;
      break;
    }
    const int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_WANT_WRITE) return Arm(c, EPOLLOUT);
    eof = true;  // close_notify, end of file or a TLS error: nothing more will come
    break;
  }
  Process(c, eof);
}

void Loop::Drain(Conn* c) {
  char* const buf = read_buf;
  constexpr int kBufSize = sizeof(read_buf);
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(c->ssl, buf, kBufSize);
    if (n > 0) {
      c->request_bytes += static_cast<uint64_t>(n);
      if (c->request_bytes > server->options.limits.max_request_bytes) {
        server->closed_large.fetch_add(1);
        return Close(c);
      }
      continue;
    }
    const int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) return Arm(c, EPOLLIN);
    if (e == SSL_ERROR_WANT_WRITE) return Arm(c, EPOLLOUT);
    return Close(c);
  }
}

void Loop::Process(Conn* c, bool eof) {
  for (;;) {
    const auto r = c->parser.Feed(&c->in);
    if (r == http::RequestParser::Result::kIncomplete) {
      if (eof) return Close(c);
      if (c->parser.expects_continue()) {
        // The client waits for this before it sends a body (curl does for large ones).
        c->parser.continue_sent();
        c->out = "HTTP/1.1 100 Continue\r\n\r\n";
        c->out_off = 0;
        c->close_after_write = false;
        c->state.store(Conn::State::kWriting);
        const WriteResult w = Flush(c);
        if (w != WriteResult::kDone) return;  // kPending: AfterResponse must not close
        c->out.clear();
        c->state.store(Conn::State::kReading);
      }
      return Arm(c, EPOLLIN);
    }
    httplib::Response res;
    if (r == http::RequestParser::Result::kComplete) {
      server->requests_http1.fetch_add(1, std::memory_order_relaxed);
    }
    if (r == http::RequestParser::Result::kError) {
      const http::ParseError& err = c->parser.error();
      ErrorResponse(*server, err.status, err.message, &res);
      c->close_after_write = true;
      c->drain_after_write = err.drain && !eof;
      c->out.clear();
      SerializeHead(c->parser.request(), res, false, false, &c->out);
      c->out.append(res.body);
    } else {
      httplib::Request& req = ParsedRequest(c);
      const bool keep_alive = c->parser.keep_alive() && !eof;
      if (!server->quick || !server->quick(req)) {
        c->request = std::move(req);
        c->keep_alive = keep_alive;
        c->parser.Reset();
        return HandOff(c);
      }
      RunHandler(*server, req, &res);
      if (res.content_provider_ != nullptr) {
        // A quick handler that streams after all: a worker writes the stream.
        LOG(ERROR) << "a quick handler streamed its response: " << req.method << " " << req.path;
        c->request = std::move(req);
        c->keep_alive = false;
        c->parser.Reset();
        return HandOff(c);
      }
      const bool keep = keep_alive && !WantsClose(res) && !server->stopping.load();
      c->close_after_write = !keep;
      c->drain_after_write = false;
      c->out.clear();
      SerializeHead(req, res, keep, false, &c->out);
      if (req.method != "HEAD") c->out.append(res.body);
      c->parser.Reset();
      c->request_bytes = c->in.size();
    }
    c->out_off = 0;
    c->state.store(Conn::State::kWriting);
    if (Flush(c) != WriteResult::kDone) return;
    if (!AfterResponse(c)) return;
  }
}

// Writes c->out from c->out_off, non-blocking, and empties it once all is out. kPending: the
// socket is full (*want says which SSL_ERROR_WANT_* stopped it); kFailed: the connection is
// broken. Neither arms nor closes. *progressed is set when any byte went out.
static WriteResult WriteOut(Conn* c, int* want, bool* progressed) {
  while (c->out_off < c->out.size()) {
    ERR_clear_error();
    const int n =
        SSL_write(c->ssl, c->out.data() + c->out_off,
                  static_cast<int>(std::min<size_t>(c->out.size() - c->out_off, 1 << 30)));
    if (n > 0) {
      c->out_off += static_cast<size_t>(n);
      *progressed = true;
      continue;
    }
    *want = SSL_get_error(c->ssl, n);
    return *want == SSL_ERROR_WANT_WRITE || *want == SSL_ERROR_WANT_READ ? WriteResult::kPending
                                                                         : WriteResult::kFailed;
  }
  c->out.clear();
  c->out_off = 0;
  return WriteResult::kDone;
}

WriteResult Loop::Flush(Conn* c) {
  int want = 0;
  bool progressed = false;
  const WriteResult r = WriteOut(c, &want, &progressed);
  if (r == WriteResult::kPending) Arm(c, want == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
  if (r == WriteResult::kFailed) Close(c);
  return r;
}

bool Loop::AfterResponse(Conn* c) {
  if (c->close_after_write) {
    if (c->drain_after_write) {
      // Read and drop what the client still sends, so that it reads the answer instead of
      // a reset; the size cap or the header deadline ends it.
      c->state.store(Conn::State::kDraining);
      SetDeadline(*server, c, Conn::Deadline::kHeader);
      Arm(c, EPOLLIN);
      Drain(c);
      return false;
    }
    Close(c);
    return false;
  }
  c->state.store(Conn::State::kReading);
  SetDeadline(
      *server, c,
      c->in.empty() && !c->parser.started() ? Conn::Deadline::kIdle : Conn::Deadline::kHeader);
  return true;
}

void Loop::HandOff(Conn* c) {
  if (c->armed != 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, nullptr);
    c->armed = 0;
  }
  c->deadline_kind = Conn::Deadline::kNone;
  c->state.store(Conn::State::kWorker);
  Submit(server, c);
}

void Loop::BeginStop() {
  stop_seen = true;
  stop_deadline = Clock::now() + std::chrono::seconds(10);
  epoll_ctl(epfd, EPOLL_CTL_DEL, server->listen_fd, nullptr);
  // No connection is closed here: a client may be writing its next request on an idle one
  // right now. Every response from here on says "Connection: close"; a connection between
  // requests gets kStopIdleGrace to bring one, then CheckDeadlines closes it.
  const Clock::time_point grace = Clock::now() + kStopIdleGrace;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (Conn* c : conns) {
      const auto state = c->state.load();
      if (state != Conn::State::kWorker && state != Conn::State::kWriting &&
          state != Conn::State::kStreaming && state != Conn::State::kH2) {
        StopGrace(c, grace);
      }
    }
  }
  // HTTP/2: the shutdown notice now (GOAWAY naming stream 2^31-1: the peer opens no more
  // streams here and sends its next requests to another replica), the final GOAWAY a second
  // later (H2FinishShutdowns), when what was on its way has come; the connection closes once
  // its open streams are done.
  std::vector<Conn*> h2;
  for (const auto& [serial, c] : h2_conns) h2.push_back(c);
  for (Conn* c : h2) {
    c->h2->session->Shutdown();
    c->h2->final_goaway_at = Clock::now() + kGoawayNoticeGrace;
    H2Flush(c);
  }
  // Streams end when their source does (a watch: the handler's shutdown, which comes first):
  // pumped now rather than at the next second.
  PumpAllStreams();
}

void Loop::CheckDeadlines() {
  const auto now = Clock::now();
  std::vector<std::pair<Conn*, Conn::Deadline>> expired;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (Conn* c : conns) {
      if (c->state.load() == Conn::State::kWorker) continue;
      if (c->deadline_kind != Conn::Deadline::kNone && now >= c->deadline) {
        expired.emplace_back(c, c->deadline_kind);
      }
    }
  }
  for (const auto& [c, kind] : expired) {
    if (kind == Conn::Deadline::kIdle) {
      server->closed_idle.fetch_add(1);
    } else if (kind == Conn::Deadline::kHeader) {
      server->closed_header.fetch_add(1);
    }  // kWrite: a stream's client that stopped reading
    Close(c);
  }
}

void Loop::Run() {
  epoll_event events[128];
  auto next_tick = Clock::now() + server->options.limits.tick;
  for (;;) {
    const auto now = Clock::now();
    const int timeout =
        !h2_more.empty()
            ? 0
            : static_cast<int>(std::max<int64_t>(
                  0,
                  std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now).count() +
                      1));
    const int n = epoll_wait(epfd, events, 128, timeout);
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &kListenTag) {
        if (!server->stopping.load()) Accept();
      } else if (tag == &kWakeTag) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wakefd, &v, sizeof(v));
        DrainPosted();
      } else {
        OnEvent(static_cast<Conn*>(tag));
      }
    }
    if (!h2_more.empty()) H2ReadMore();
    if (server->stopping.load() && !stop_seen) BeginStop();
    if (Clock::now() >= next_tick) {
      if (stop_seen) H2FinishShutdowns();
      CheckDeadlines();
      if (Clock::now() >= next_stream_pump) {
        PumpAllStreams();
        next_stream_pump = Clock::now() + kStreamPumpInterval;
      }
      next_tick = Clock::now() + server->options.limits.tick;
    }
    if (stop_seen) {
      bool done = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        done = conns.empty() || Clock::now() >= stop_deadline;
      }
      if (done) {
        CloseStreams();  // their sources are released while the handler's objects live
        return;
      }
    }
  }
}

// ---- HTTP/2 (h2_session.h): the loop's side of a connection that negotiated "h2"

namespace {

// A streamed body (a large list) that a worker produces into the exchange.
class ChunkBody final : public http2::BodySource {
 public:
  explicit ChunkBody(std::shared_ptr<H2Exchange> ex) : ex_(std::move(ex)) {}
  ~ChunkBody() override { ex_->Cancel(); }  // a producer still running stops at its next write

  int64_t Read(uint8_t* buf, size_t max, bool* eof) override {
    std::unique_lock<std::mutex> lock(ex_->mu);
    if (ex_->chunks_failed) return -1;
    const size_t n = std::min(max, ex_->chunks.size() - ex_->chunks_off);
    std::memcpy(buf, ex_->chunks.data() + ex_->chunks_off, n);
    ex_->chunks_off += n;
    if (ex_->chunks_off == ex_->chunks.size()) {
      ex_->chunks.clear();
      ex_->chunks_off = 0;
    } else if (ex_->chunks_off > kExchangeChunkBytes) {
      ex_->chunks.erase(0, ex_->chunks_off);
      ex_->chunks_off = 0;
    }
    *eof = ex_->chunks_done && ex_->chunks.empty();
    lock.unlock();
    if (n > 0) ex_->cv.notify_all();
    return static_cast<int64_t>(n);
  }

 private:
  std::shared_ptr<H2Exchange> ex_;
};

// A LoopStream's body (a watch): pumped on the loop as the stream's window allows.
class LoopStreamBody final : public http2::BodySource {
 public:
  explicit LoopStreamBody(std::shared_ptr<LoopStream> stream) : stream_(std::move(stream)) {}
  ~LoopStreamBody() override { stream_->Close(); }

  int64_t Read(uint8_t* buf, size_t max, bool* eof) override {
    if (off_ == pending_.size() && !ended_) {
      pending_.clear();
      off_ = 0;
      ended_ = !stream_->Pump(&pending_);
    }
    const size_t n = std::min(max, pending_.size() - off_);
    std::memcpy(buf, pending_.data() + off_, n);
    off_ += n;
    *eof = ended_ && off_ == pending_.size();
    if (off_ == pending_.size() && pending_.capacity() > 64 * 1024) std::string().swap(pending_);
    return static_cast<int64_t>(n);
  }

 private:
  std::shared_ptr<LoopStream> stream_;
  std::string pending_;  // a pump's output not yet taken
  size_t off_ = 0;
  bool ended_ = false;
};

}  // namespace

void H2Conn::OnRequest(int32_t id, httplib::Request&& request) {
  ServerState* s = loop->server;
  s->requests_h2.fetch_add(1, std::memory_order_relaxed);
  request.remote_addr = conn->remote_addr;
  request.remote_port = conn->remote_port;
  request.ssl = conn->ssl;
  if (s->quick && s->quick(request)) {
    httplib::Response res;
    RunHandler(*s, request, &res);
    if (res.content_provider_ == nullptr) return Respond(id, request, res);
    LOG(ERROR) << "a quick handler streamed its response: " << request.method << " "
               << request.path;
  }
  auto ex = std::make_shared<H2Exchange>();
  ex->loop = loop;
  ex->conn = serial;
  ex->stream = id;
  ex->request = std::move(request);
  exchanges[id] = ex;
  if (running < s->h2_limits.max_concurrent_streams) {
    ++running;
    SubmitExchange(s, std::move(ex));
  } else {
    waiting.push_back(std::move(ex));
  }
}

void H2Conn::StartWaiting() {
  ServerState* s = loop->server;
  while (running < s->h2_limits.max_concurrent_streams && !waiting.empty()) {
    std::shared_ptr<H2Exchange> ex = std::move(waiting.front());
    waiting.pop_front();
    if (ex->canceled.load()) continue;
    ++running;
    SubmitExchange(s, std::move(ex));
  }
}

void H2Conn::OnStreamClosed(int32_t id) {
  loop_streams.erase(id);
  auto it = exchanges.find(id);
  if (it == exchanges.end()) return;
  it->second->Cancel();
  exchanges.erase(it);
}

void H2Conn::OnBadRequest(int32_t id, int status, const std::string& message) {
  httplib::Request req;
  httplib::Response res;
  ErrorResponse(*loop->server, status, message, &res);
  res.status = status;
  Respond(id, req, res);
}

void H2Conn::Respond(int32_t id, const httplib::Request& req, httplib::Response& res) {
  res.headers.emplace("Date", HttpDate());
  const bool bodiless =
      req.method == "HEAD" || res.status == 204 || res.status == 304 || res.status < 200;
  const auto length = static_cast<int64_t>(res.body.size());
  std::unique_ptr<http2::BodySource> body;
  if (!bodiless && !res.body.empty())
    body = std::make_unique<http2::StringBody>(std::move(res.body));
  session->Respond(id, res.status, res.headers, std::move(body),
                   res.status == 204 || res.status == 304 ? -1 : length);
}

void H2Conn::Answer(const std::shared_ptr<H2Exchange>& ex) {
  if (running > 0) --running;
  StartWaiting();
  auto it = exchanges.find(ex->stream);
  const bool open = it != exchanges.end() && it->second == ex && !ex->canceled.load();
  if (it != exchanges.end() && it->second == ex) exchanges.erase(it);
  if (!open) {
    if (ex->loop_stream != nullptr) ex->loop_stream->Close();
    ex->loop_stream.reset();
    ex->Cancel();
    return;
  }
  httplib::Response& res = ex->response;
  res.headers.emplace("Date", HttpDate());
  std::unique_ptr<http2::BodySource> body;
  int64_t length = -1;
  if (ex->loop_stream != nullptr) {
    const int32_t id = ex->stream;
    Loop* l = loop;
    const uint64_t conn_serial = serial;
    // A stream that cannot wake the loop is pumped each second with the others.
    ex->loop_stream->Start([l, conn_serial, id] { l->WakeH2(conn_serial, id); });
    loop_streams.insert(id);
    body = std::make_unique<LoopStreamBody>(std::move(ex->loop_stream));
  } else if (ex->chunked) {
    body = std::make_unique<ChunkBody>(ex);
  } else {
    length = static_cast<int64_t>(res.body.size());
    if (ex->request.method != "HEAD" && !res.body.empty()) {
      body = std::make_unique<http2::StringBody>(std::move(res.body));
    }
  }
  if (res.status == 204 || res.status == 304) length = -1;
  session->Respond(ex->stream, res.status, res.headers, std::move(body), length);
}

void Loop::StartH2(Conn* c) {
  auto h2 = std::make_unique<H2Conn>();
  h2->conn = c;
  h2->loop = this;
  h2->serial = ++next_h2_serial;
  h2->session = http2::Session::Create(h2.get(), server->h2_limits);
  if (h2->session == nullptr) return Close(c);
  h2_conns[h2->serial] = c;
  c->h2 = std::move(h2);
  c->state.store(Conn::State::kH2);
  server->connections_h2.fetch_add(1, std::memory_order_relaxed);
  if (server->stopping.load()) {
    c->h2->session->Shutdown();
    c->h2->final_goaway_at = Clock::now() + kGoawayNoticeGrace;
  }
  H2Event(c);
}

void Loop::H2Event(Conn* c) {
  // At most 16 reads a turn (256 KiB), so that one busy connection does not hold the others.
  // What OpenSSL has already taken from the socket (read-ahead) makes epoll report nothing:
  // a connection left with such bytes is read again on the loop's next turn (h2_more).
  for (int i = 0;; ++i) {
    if (i == 16) {
      if (SSL_has_pending(c->ssl)) h2_more.push_back(c->h2->serial);
      break;
    }
    ERR_clear_error();
    const int n = SSL_read(c->ssl, read_buf, static_cast<int>(sizeof(read_buf)));
    if (n > 0) {
      if (!c->h2->session->Receive(read_buf, static_cast<size_t>(n))) break;
      continue;
    }
    const int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    return Close(c);  // the peer closed, or TLS failed: its streams end with it
  }
  H2Flush(c);
}

void Loop::H2ReadMore() {
  std::vector<uint64_t> serials;
  serials.swap(h2_more);
  for (uint64_t serial : serials) {
    auto it = h2_conns.find(serial);
    if (it != h2_conns.end()) H2Event(it->second);  // may close it, or queue it again
  }
}

void Loop::H2Flush(Conn* c) {
  http2::Session& session = *c->h2->session;
  const bool failed = session.failure() != http2::Failure::kNone;
  bool progressed = false;  // some bytes went out in this call
  for (;;) {
    int want = 0;
    const WriteResult r = WriteOut(c, &want, &progressed);
    if (r != WriteResult::kDone) {
      if (failed || r == WriteResult::kFailed) return Close(c);
      // The peer is not reading: its input is still read (what it sends may be a flood that
      // nghttp2 counts), and the write waits at most kStreamWriteTimeout from the last byte
      // the peer took (a slow reader of a long body is not cut off while it reads).
      Arm(c, EPOLLIN | EPOLLOUT);
      if (progressed || c->deadline_kind != Conn::Deadline::kWrite) {
        c->deadline_kind = Conn::Deadline::kWrite;
        c->deadline = Clock::now() + kStreamWriteTimeout;
      }
      return;
    }
    if (!session.Output(&c->out, 64 * 1024)) return Close(c);
    if (c->out.empty()) break;
  }
  if (failed || !session.Alive()) {
    if (session.failure() == http2::Failure::kFlood) {
      server->closed_h2_flood.fetch_add(1, std::memory_order_relaxed);
    } else if (session.failure() == http2::Failure::kProtocol) {
      server->closed_h2_protocol.fetch_add(1, std::memory_order_relaxed);
    }
    return Close(c);
  }
  Arm(c, EPOLLIN);
  if (session.InHeaderBlock()) {
    if (c->deadline_kind != Conn::Deadline::kHeader)
      SetDeadline(*server, c, Conn::Deadline::kHeader);
  } else if (session.OpenStreams() == 0) {
    // While stopping, the final GOAWAY ends an idle connection (H2FinishShutdowns), not this.
    if (c->deadline_kind != Conn::Deadline::kIdle) SetDeadline(*server, c, Conn::Deadline::kIdle);
  } else {
    c->deadline_kind = Conn::Deadline::kNone;
  }
}

void Loop::H2Posted(std::vector<std::shared_ptr<H2Exchange>> answers,
                    std::vector<std::pair<uint64_t, int32_t>> woken_streams) {
  std::unordered_set<Conn*> touched;
  for (auto& ex : answers) {
    auto it = h2_conns.find(ex->conn);
    if (it == h2_conns.end()) {
      if (ex->loop_stream != nullptr) ex->loop_stream->Close();
      ex->loop_stream.reset();
      continue;
    }
    it->second->h2->Answer(ex);
    touched.insert(it->second);
  }
  for (const auto& [serial, id] : woken_streams) {
    auto it = h2_conns.find(serial);
    if (it == h2_conns.end()) continue;
    it->second->h2->session->Resume(id);
    touched.insert(it->second);
  }
  for (Conn* c : touched) H2Flush(c);  // may close c
}

void Loop::H2FinishShutdowns() {
  const auto now = Clock::now();
  std::vector<Conn*> due;
  for (const auto& [serial, c] : h2_conns) {
    if (c->h2->session->ShutdownNoticed() && now >= c->h2->final_goaway_at) due.push_back(c);
  }
  for (Conn* c : due) {
    c->h2->session->FinishShutdown();
    H2Flush(c);  // closes it when no stream is open
  }
}

void Loop::H2PumpStreams() {
  std::vector<Conn*> conns_with_streams;
  for (const auto& [serial, c] : h2_conns) {
    if (c->h2->loop_streams.empty()) continue;
    for (int32_t id : c->h2->loop_streams) c->h2->session->Resume(id);
    conns_with_streams.push_back(c);
  }
  for (Conn* c : conns_with_streams) H2Flush(c);
}

}  // namespace serving

StatusOr<std::unique_ptr<TlsServer>> TlsServer::Create(const ServingOptions& options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return Status(Code::kBadRequest, "--tls-cert-file and --tls-private-key-file are required");
  }
  const std::pair<const char*, const std::string*> files[] = {
      {"--tls-cert-file", &options.cert_file},
      {"--tls-private-key-file", &options.key_file},
      {"--client-ca-file", &options.client_ca_file}};
  for (const auto& [flag, path] : files) {
    if (!path->empty() && !Readable(*path)) {
      return Status(Code::kBadRequest, std::string(flag) + " " + *path + ": cannot read the file");
    }
  }
  auto certs = std::make_shared<HandshakeCertificates>(options.certificate_poll_interval);
  certs->extra_ca_pem = options.extra_client_ca_pem;
  auto serving = DynamicServingCert::FromFiles(options.cert_file, options.key_file);
  if (!serving.ok()) return serving.status();
  certs->serving = std::move(*serving);
  certs->reloader.Add(certs->serving.get());
  if (!options.client_ca_file.empty()) {
    auto client_ca = DynamicCaFile::FromFile(options.client_ca_file, "--client-ca-file");
    if (!client_ca.ok()) return client_ca.status();
    certs->client_ca = std::move(*client_ca);
    HandshakeCertificates* raw = certs.get();  // certs owns client_ca: no cycle through it
    certs->client_ca->AddListener(
        [raw](std::shared_ptr<const CaBundle> ca) { raw->SetClientCa(ca); });
    if (options.on_client_ca_change) certs->client_ca->AddListener(options.on_client_ca_change);
    certs->reloader.Add(certs->client_ca.get());
  } else {
    certs->SetClientCa(nullptr);
  }

  // A write to a connection the client has closed must fail with EPIPE, not end the process
  // (OpenSSL writes with write(2), which cannot pass MSG_NOSIGNAL).
  signal(SIGPIPE, SIG_IGN);
  auto state = std::make_shared<ServerState>();
  state->options = options;
  state->parser_limits.max_body_bytes = options.max_body_bytes;
  state->pool.max = std::max<size_t>(options.max_workers, 1);
  state->h2_limits.max_concurrent_streams = std::max<uint32_t>(options.http2_max_streams, 1);
  state->h2_limits.max_body_bytes = options.max_body_bytes;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  state->ctx = ctx;
  bool ok =
      ctx != nullptr && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
      // TLS 1.2: ECDHE with AEAD only (TLS 1.3 suites are all AEAD already).
      SSL_CTX_set_cipher_list(ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") == 1;
  if (!ok) {
    const char* reason = ERR_reason_error_string(ERR_peek_last_error());
    ERR_clear_error();
    return Status(Code::kBadRequest,
                  std::string("cannot set up TLS: ") + (reason ? reason : "unknown error"));
  }
  // Read what the socket holds in one read(2), not a record header and then its body (two
  // reads a request). What OpenSSL buffers is drained by Loop::Read (SSL_has_pending) before
  // a request is handled, so that epoll never waits for bytes already read.
  SSL_CTX_set_read_ahead(ctx, 1);
  // An idle connection holds no record buffers: OpenSSL frees its 16 KiB+ read and write
  // buffers once they are empty and takes them again for the next record. 1,000 idle
  // keep-alive connections took 36 KiB each without it and 26 KiB with it.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // The certificate, key and client CA names are set per connection from the current files.
  SSL_CTX_set_cert_cb(ctx, &HandshakeCertificates::Select, certs.get());
  // No server-side session cache: resumption is by stateless tickets (TLS 1.3 and 1.2), as in
  // Go's crypto/tls. OpenSSL's cache would keep TLS 1.2 sessions made with session IDs, the
  // client's certificate included, for 5 minutes (up to 20,480 of them).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char kSessionContext[] = "csdr-apiserver";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &AcceptAnyPeer);
  SSL_CTX_set_alpn_select_cb(ctx, &SelectProtocol, options.enable_http2 ? &kWithH2 : &kWithoutH2);
  state->certs = std::move(certs);
  state->certs->reloader.Start();
  return std::unique_ptr<TlsServer>(new TlsServer(std::move(state)));
}

TlsServer::~TlsServer() {
  Stop();
  if (!WaitForWorkers(std::chrono::seconds(5))) {
    // A worker is still inside a request (the drain timed out): it uses the state, which is
    // therefore never freed.
    new std::shared_ptr<ServerState>(state_);
  }
}

bool TlsServer::WaitForWorkers(std::chrono::milliseconds timeout) {
  WorkerPool& pool = state_->pool;
  std::unique_lock<std::mutex> lock(pool.mu);
  pool.stop = true;
  pool.cv.notify_all();
  return pool.gone.wait_for(lock, timeout, [&] { return pool.threads == 0; });
}

void TlsServer::SetHandler(RequestHandler handler, QuickPredicate quick) {
  state_->handler = std::move(handler);
  state_->quick = std::move(quick);
}

void TlsServer::SetErrorWriter(ErrorWriter writer) { state_->error_writer = std::move(writer); }

Status TlsServer::Bind() {
  const ServingOptions& o = state_->options;
  const std::string where = o.bind_address + ":" + std::to_string(o.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(o.port);
  if (getaddrinfo(o.bind_address.empty() ? nullptr : o.bind_address.c_str(), port.c_str(), &hints,
                  &found) != 0 ||
      found == nullptr) {
    return Status(Code::kUnavailable, "cannot listen on " + where + ": unknown address");
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addrs(found, &freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return Status(Code::kUnavailable, "cannot listen on " + where + ": " + strerror(errno));
  // SO_REUSEADDR: a restart binds while the old process's connections are in TIME_WAIT.
  // SO_REUSEPORT only when asked (--permit-port-sharing): it lets a second server take a
  // share of the connections, which is the point for replicas and a mistake otherwise.
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  if (o.permit_port_sharing && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes)) != 0) {
    const std::string reason = strerror(errno);
    ::close(fd);
    return Status(Code::kUnavailable, "cannot listen on " + where + ": SO_REUSEPORT: " + reason);
  }
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, o.listen_backlog) != 0) {
    const std::string reason = strerror(errno);
    ::close(fd);
    return Status(Code::kUnavailable, "cannot listen on " + where + ": " + reason);
  }
  state_->listen_fd = fd;
  const int loops = o.event_loops > 0 ? o.event_loops : DefaultLoopCount();
  for (int i = 0; i < loops; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = state_.get();
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0) {
      return Status(Code::kUnavailable, std::string("epoll: ") + strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = &kListenTag;
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &kWakeTag;
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev);
    state_->loops.push_back(std::move(loop));
  }
  return Status::Ok();
}

void TlsServer::Serve() {
  if (state_->loops.empty()) return;
  std::vector<std::thread> others;
  for (size_t i = 1; i < state_->loops.size(); ++i) {
    others.emplace_back([loop = state_->loops[i].get()] { loop->Run(); });
  }
  state_->loops[0]->Run();
  for (auto& t : others) t.join();
}

size_t TlsServer::ActiveConnections() const { return state_->open.load(); }

TlsServer::Counts TlsServer::counts() const {
  Counts c;
  c.open = state_->open.load();
  c.closed_header_timeout = state_->closed_header.load();
  c.closed_idle_timeout = state_->closed_idle.load();
  c.closed_too_large = state_->closed_large.load();
  c.closed_h2_protocol_error = state_->closed_h2_protocol.load();
  c.closed_h2_flood = state_->closed_h2_flood.load();
  c.connections_h2 = state_->connections_h2.load();
  c.requests_http1 = state_->requests_http1.load();
  c.requests_h2 = state_->requests_h2.load();
  return c;
}

bool StreamOnLoop(const httplib::Response& res, std::shared_ptr<LoopStream> stream) {
  LoopStreamSlot* slot = current_stream_slot;
  if (slot == nullptr || slot->res != &res || stream == nullptr) return false;
  slot->stream = std::move(stream);
  return true;
}

void TlsServer::Stop() {
  if (state_->stopping.exchange(true)) return;
  state_->certs->reloader.Stop();
  // New connections are refused from here on (Linux stops a listening socket on shutdown).
  if (state_->listen_fd >= 0) ::shutdown(state_->listen_fd, SHUT_RDWR);
  for (auto& loop : state_->loops) loop->Wake();
}

}  // namespace csdr::apiserver
