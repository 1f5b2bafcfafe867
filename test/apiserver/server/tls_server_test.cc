// TlsServer through real TLS connections on loopback: quick requests on the event loop while
// workers block, pipelining, streamed (chunked) responses, 100-continue, the server's own
// answers, deadlines and their counts, the shutdown sequence, and HTTP/2 (ALPN, bursts,
// per-stream flow control, GOAWAY).
#include "apiserver/server/tls_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kube/tls.h"
#include "test/apiserver/server/loopback.h"
#include "test/kube/test_pki.h"

namespace csdr::apiserver {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using loopback::ConnectLoopback;
using loopback::FreePort;

struct Response {
  int status = 0;
  std::string head;
  std::string body;
  bool ok = false;
};

// A blocking TLS client that reads responses with Content-Length or chunked framing.
class Client {
 public:
  explicit Client(int port) : ctx_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl_ = SSL_new(ctx_.get());
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  // True when the server closed the connection (TLS close_notify or end of file).
  bool Closed() {
    char c;
    return SSL_read(ssl_, &c, 1) <= 0;
  }
  Response Read() {
    Response r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    if (r.status == 100) {
      r.ok = true;
      return r;
    }
    if (Has(r.head, "Transfer-Encoding: chunked")) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return r;
        }
        const size_t n = std::stoul(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + n + 2) {
          if (!Fill()) return r;
        }
        r.body += buf_.substr(eol + 2, n);
        buf_.erase(0, eol + 2 + n + 2);
        if (n == 0) break;
      }
    } else {
      const size_t at = r.head.find("Content-Length: ");
      const size_t n = at == std::string::npos ? 0 : std::stoul(r.head.substr(at + 16));
      while (buf_.size() < n) {
        if (!Fill()) return r;
      }
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    }
    r.ok = true;
    return r;
  }
  static bool Has(const std::string& head, const std::string& line) {
    return head.find(line + "\r\n") != std::string::npos;
  }

 private:
  bool Fill() {
    char chunk[16384];
    const int n = SSL_read(ssl_, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  kube::tls::SslCtxPtr ctx_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string buf_;
};

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tls-server-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const auto pair = pki_.Server();
    options_.bind_address = "127.0.0.1";
    options_.port = FreePort();
    options_.cert_file = (dir_ / "tls.crt").string();
    options_.key_file = (dir_ / "tls.key").string();
    std::ofstream(options_.cert_file) << pair.cert_pem;
    std::ofstream(options_.key_file) << pair.key_pem;
    options_.event_loops = 1;  // the "loop is not blocked" tests need to know where it runs
  }
  void TearDown() override {
    if (server_) {
      server_->Stop();
      if (serve_.joinable()) serve_.join();
      server_.reset();
    }
    fs::remove_all(dir_);
  }

  void Start(RequestHandler handler, QuickPredicate quick = nullptr) {
    auto server = TlsServer::Create(options_);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    server_->SetHandler(std::move(handler), std::move(quick));
    server_->SetErrorWriter([](int status, const std::string& message, httplib::Response& res) {
      res.set_content("error " + std::to_string(status) + ": " + message, "text/plain");
    });
    ASSERT_TRUE(server_->Bind().ok());
    serve_ = std::thread([this] { server_->Serve(); });
  }

  static bool IsQuickPath(const httplib::Request& req) { return req.path.rfind("/quick", 0) == 0; }

  kube::testing::TestPki pki_;
  fs::path dir_;
  ServingOptions options_;
  std::unique_ptr<TlsServer> server_;
  std::thread serve_;
};

TEST_F(TlsServerTest, QuickRequestsAreServedWhileAWorkerBlocks) {
  std::promise<void> quick_answered;
  std::shared_future<void> released = quick_answered.get_future().share();
  std::atomic<int> slow_started{0};
  Start(
      [&](const httplib::Request& req, httplib::Response& res) {
        if (req.path == "/slow") {
          ++slow_started;
          // Blocks until the quick request on another connection has been answered: with a
          // single event loop, that can only happen if the loop is not the one waiting here.
          if (released.wait_for(10s) != std::future_status::ready) {
            res.status = 500;
            return;
          }
        }
        res.set_content(req.path, "text/plain");
      },
      &IsQuickPath);
  Client slow(options_.port), quick(options_.port);
  ASSERT_TRUE(slow.connected() && quick.connected());
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  while (slow_started == 0) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(quick.Send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n"));
  Response q = quick.Read();
  ASSERT_TRUE(q.ok);
  EXPECT_EQ(q.status, 200);
  EXPECT_EQ(q.body, "/quick");
  quick_answered.set_value();
  Response s = slow.Read();
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "/slow");
}

// The two limits are separate: connections past max_connections are closed at once, and
// requests past max_workers wait for a worker (in order) instead of getting a thread each.
TEST_F(TlsServerTest, ConnectionsAndWorkersAreLimitedSeparately) {
  options_.max_connections = 4;
  options_.max_workers = 2;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> running{0}, most{0};
  Start([&](const httplib::Request& req, httplib::Response& res) {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    if (req.path == "/block") released.wait_for(10s);
    --running;
    res.set_content(req.path, "text/plain");
  });
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>(options_.port));
    ASSERT_TRUE(clients.back()->connected()) << i;
  }
  // Three requests that block, on three connections: two workers take two, the third waits.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(clients[i]->Send("GET /block HTTP/1.1\r\n\r\n"));
  for (int i = 0; i < 500 && running.load() < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(running.load(), 2);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(running.load(), 2) << "a third worker ran past max_workers";
  // A fifth connection is over max_connections: closed without an answer.
  Client over(options_.port);
  EXPECT_TRUE(!over.connected() || over.Closed());
  EXPECT_EQ(server_->ActiveConnections(), 4u);
  release.set_value();
  for (int i = 0; i < 3; ++i) {
    Response r = clients[i]->Read();
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ(r.body, "/block");
  }
  EXPECT_EQ(most.load(), 2);
  // The fourth connection was open all along and is served.
  ASSERT_TRUE(clients[3]->Send("GET /after HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(clients[3]->Read().body, "/after");
}

TEST_F(TlsServerTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  Start(
      [](const httplib::Request& req, httplib::Response& res) {
        res.status = req.method == "POST" ? 201 : 200;
        res.set_content(req.method + " " + req.path + " " + req.body, "text/plain");
      },
      &IsQuickPath);
  Client c(options_.port);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("GET /quick/1 HTTP/1.1\r\n\r\n"
             "POST /worker/2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
             "GET /quick/3 HTTP/1.1\r\n\r\n"
             "POST /worker/4 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"));
  const char* want[] = {"GET /quick/1 ", "POST /worker/2 abc", "GET /quick/3 ",
                        "POST /worker/4 de"};
  for (const char* body : want) {
    Response r = c.Read();
    ASSERT_TRUE(r.ok) << body;
    EXPECT_EQ(r.body, body);
    EXPECT_FALSE(Client::Has(r.head, "Connection: close"));
  }
  // Still open for more.
  ASSERT_TRUE(c.Send("HEAD /quick/5 HTTP/1.1\r\n\r\n"));
  const std::string expected_length = "Content-Length: " + std::to_string(strlen("HEAD /quick/5 "));
  Response head = c.Read();  // Content-Length of the body a GET would get, no body
  EXPECT_TRUE(Client::Has(head.head, expected_length)) << head.head;
  EXPECT_EQ(head.status, 200);
}

TEST_F(TlsServerTest, StreamedResponseIsChunkedAndTheConnectionStaysUsable) {
  std::atomic<bool> released{false};
  Start([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path != "/watch") return res.set_content("plain", "text/plain");
    res.set_chunked_content_provider(
        "application/json",
        [](size_t, httplib::DataSink& sink) {
          for (int i = 0; i < 3; ++i) {
            const std::string line = "{\"event\":" + std::to_string(i) + "}\n";
            if (!sink.write(line.data(), line.size())) return false;
          }
          sink.done();
          return true;
        },
        [&](bool success) { released = success; });
  });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("GET /watch HTTP/1.1\r\n\r\n"));
  Response r = c.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(Client::Has(r.head, "Transfer-Encoding: chunked")) << r.head;
  EXPECT_TRUE(Client::Has(r.head, "Content-Type: application/json")) << r.head;
  EXPECT_EQ(r.body, "{\"event\":0}\n{\"event\":1}\n{\"event\":2}\n");
  ASSERT_TRUE(c.Send("GET /after HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.Read().body, "plain");
  EXPECT_TRUE(released);  // the stream's releaser heard it succeeded
}

// A LoopStream fed by the test: pieces pushed from the test thread wake the loop.
class TestStream : public LoopStream {
 public:
  explicit TestStream(bool can_start = true) : can_start_(can_start) {}
  bool Start(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = std::move(wake);
    return can_start_;
  }
  bool Pump(std::string* out) override {
    ++pumps;
    std::lock_guard<std::mutex> lock(mu_);
    while (!pieces_.empty()) {
      out->append(pieces_.front());
      pieces_.pop_front();
    }
    return !end_;
  }
  void Close() override { ++closes; }
  void Push(std::string piece, bool last = false) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pieces_.push_back(std::move(piece));
      end_ = last;
      wake = wake_;
    }
    if (wake) wake();
  }
  std::atomic<int> pumps{0};
  std::atomic<int> closes{0};

 private:
  const bool can_start_;
  std::mutex mu_;
  std::deque<std::string> pieces_;
  bool end_ = false;
  std::function<void()> wake_;
};

size_t ThreadCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Polls `done` every millisecond for up to 10 s.
bool Eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

TEST_F(TlsServerTest, LoopStreamsAreWrittenByTheLoopAndHoldNoThread) {
  constexpr size_t kStreams = 40;
  std::mutex mu;
  std::vector<std::shared_ptr<TestStream>> streams;
  Start([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path != "/stream") return res.set_content("plain", "text/plain");
    auto stream = std::make_shared<TestStream>();
    stream->Push("first\n");  // ready before the loop has it
    ASSERT_TRUE(StreamOnLoop(res, stream));
    res.set_header("Content-Type", "application/json");
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(stream);
  });
  // Outside a TlsServer worker there is nowhere to stream to.
  httplib::Response elsewhere;
  EXPECT_FALSE(StreamOnLoop(elsewhere, std::make_shared<TestStream>()));

  std::vector<std::unique_ptr<Client>> clients;
  const size_t threads_before = ThreadCount();
  for (size_t i = 0; i < kStreams; ++i) {  // one at a time: one worker serves them all
    clients.push_back(std::make_unique<Client>(options_.port));
    ASSERT_TRUE(clients.back()->connected());
    ASSERT_TRUE(clients.back()->Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(Eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return streams.size() == i + 1;
    }));
  }
  // Every stream is open and its worker is free again: a thread per stream would add 40.
  EXPECT_LT(ThreadCount(), threads_before + 10);
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < streams.size(); ++i) {
      streams[i]->Push("event " + std::to_string(i) + "\n");
      streams[i]->Push("last\n", /*last=*/true);
    }
  }
  std::set<std::string> bodies;
  for (auto& c : clients) {
    Response r = c->Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(Client::Has(r.head, "Transfer-Encoding: chunked")) << r.head;
    EXPECT_TRUE(Client::Has(r.head, "Content-Type: application/json")) << r.head;
    bodies.insert(r.body);
    // The connection serves the next request after the stream's end.
    ASSERT_TRUE(c->Send("GET /after HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(c->Read().body, "plain");
  }
  EXPECT_EQ(bodies.size(), kStreams);
  EXPECT_EQ(*bodies.begin(), "first\nevent 0\nlast\n");
  std::lock_guard<std::mutex> lock(mu);
  for (auto& s : streams) EXPECT_EQ(s->closes.load(), 1);
}

TEST_F(TlsServerTest, ALoopStreamEndsWhenItsClientLeavesAndASlowReaderHoldsNoOneBack) {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<TestStream>> streams;
  Start([&](const httplib::Request& req, httplib::Response& res) {
    auto stream = std::make_shared<TestStream>();
    ASSERT_TRUE(StreamOnLoop(res, stream));
    std::lock_guard<std::mutex> lock(mu);
    streams[req.path] = stream;
  });
  auto opened = [&](const std::string& path) {
    return Eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return streams.count(path) != 0;
    });
  };
  Client slow(options_.port), fast(options_.port);
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(fast.Send("GET /fast HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(opened("/slow") && opened("/fast"));
  // 16 MiB to a client that never reads: the loop keeps one piece pending, not the loop.
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 16; ++i) streams["/slow"]->Push(mib);
  for (int i = 0; i < 5; ++i) streams["/fast"]->Push("tick\n");
  streams["/fast"]->Push("", /*last=*/true);
  Response r = fast.Read();  // one event loop serves both
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "tick\ntick\ntick\ntick\ntick\n");
  // A client that leaves ends its stream (Close, once).
  {
    Client leaving(options_.port);
    ASSERT_TRUE(leaving.Send("GET /leaving HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(opened("/leaving"));
  }
  EXPECT_TRUE(Eventually([&] { return streams["/leaving"]->closes.load() == 1; }));
  EXPECT_EQ(streams["/fast"]->closes.load(), 1);
  EXPECT_EQ(streams["/slow"]->closes.load(), 0);  // still open, its write waiting
}

TEST_F(TlsServerTest, ALoopStreamThatCannotStartIsPumpedByItsWorker) {
  std::shared_ptr<TestStream> stream;
  std::atomic<bool> ready{false};
  Start([&](const httplib::Request&, httplib::Response& res) {
    stream = std::make_shared<TestStream>(/*can_start=*/false);
    ASSERT_TRUE(StreamOnLoop(res, stream));
    ready = true;
  });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("GET /s HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(Eventually([&] { return ready.load(); }));
  std::this_thread::sleep_for(100ms);
  stream->Push("a\n");
  stream->Push("b\n", /*last=*/true);
  Response r = c.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "a\nb\n");
  EXPECT_TRUE(Eventually([&] { return stream->closes.load() == 1; }));
}

// ---- HTTP/2 (ALPN h2) through real TLS

// A blocking TLS client speaking HTTP/2 with nghttp2's client session. Each request is written
// in a TLS record of its own (as Go's client writes them), so that many records arrive at once.
class H2Client {
 public:
  struct Stream {
    int status = 0;
    std::string body;
    bool closed = false;
    uint32_t error = 0;
  };

  // `window`: the client's initial stream window; `manual`: streams' windows are granted only
  // by Consume (a reader that stops reading one stream).
  explicit H2Client(int port, std::vector<std::string> alpn = {"h2", "http/1.1"},
                    uint32_t window = 65535, bool manual = false)
      : ctx_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string protos;
    for (const auto& p : alpn) protos += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx_.get(), reinterpret_cast<const unsigned char*>(protos.data()),
                            static_cast<unsigned>(protos.size()));
    ssl_ = SSL_new(ctx_.get());
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return;
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    protocol_ = std::string(reinterpret_cast<const char*>(p), len);
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                const uint8_t* v, size_t vl, uint8_t, void* u) {
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":status") {
            static_cast<H2Client*>(u)->streams[f->hd.stream_id].status =
                std::stoi(std::string(reinterpret_cast<const char*>(v), vl));
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          static_cast<H2Client*>(u)->streams[id].body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t error, void* u) {
          auto& s = static_cast<H2Client*>(u)->streams[id];
          s.closed = true;
          s.error = error;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          auto* self = static_cast<H2Client*>(u);
          if (f->hd.type == NGHTTP2_GOAWAY) {
            self->goaway_error = static_cast<int>(f->goaway.error_code);
            self->goaway_last = f->goaway.last_stream_id;
          }
          return 0;
        });
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    if (manual) nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
    if (manual) {  // the connection's window stays open; streams get only what Consume grants
      nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    }
    Flush();
  }
  ~H2Client() {
    if (session_) nghttp2_session_del(session_);
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& protocol() const { return protocol_; }

  int32_t Get(const std::string& path) {
    std::string m = "GET", s = "https", a = "x", p = path;
    nghttp2_nv nva[] = {Nv(":method", m), Nv(":scheme", s), Nv(":authority", a), Nv(":path", p)};
    const int32_t id = nghttp2_submit_request(session_, nullptr, nva, 4, nullptr, nullptr);
    Flush();
    return id;
  }
  // Bytes as they are, past the session (a frame it would not send).
  bool Raw(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  // Reads and drops what comes until the server closes (false on timeout), answering nothing:
  // no SETTINGS ACK either, which would end an open header block as a protocol error.
  bool DrainToEnd() {
    char buf[16384];
    for (;;) {
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) continue;
      const int e = SSL_get_error(ssl_, n);
      return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL;
    }
  }
  // Grants `n` more bytes to stream `id` (manual windows).
  void Consume(int32_t id, size_t n) {
    nghttp2_session_consume_stream(session_, id, n);
    Flush();
  }
  // Writes what the session has, one TLS record per frame batch.
  bool Flush() {
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) return n == 0;
      if (SSL_write(ssl_, data, static_cast<int>(n)) != n) return false;
    }
  }
  // Reads until `done` holds; false on timeout or the connection's end.
  bool ReadUntil(const std::function<bool()>& done) {
    char buf[16384];
    while (!done()) {
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return false;
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), n) < 0) return false;
      Flush();
    }
    return true;
  }
  bool ReadToEnd() {
    return !ReadUntil([] { return false; });
  }

  std::map<int32_t, Stream> streams;
  int goaway_error = -1;
  int32_t goaway_last = -1;

 private:
  static nghttp2_nv Nv(std::string_view n, std::string& v) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
            reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
  }
  kube::tls::SslCtxPtr ctx_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::string protocol_;
};

TEST_F(TlsServerTest, Http2IsPreferredAndEveryRequestOfABurstIsAnswered) {
  options_.http2_max_streams = 500;
  std::atomic<int> in_flight{0}, most{0};
  Start(
      [&](const httplib::Request& req, httplib::Response& res) {
        const int now = ++in_flight;
        for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
        }
        if (req.path.rfind("/slow", 0) == 0) std::this_thread::sleep_for(50ms);
        --in_flight;
        res.set_content(req.version + " " + req.path, "text/plain");
      },
      IsQuickPath);
  H2Client c(options_.port);
  ASSERT_EQ(c.protocol(), "h2");
  // 300 requests, each in a TLS record of its own, written before the server reads any: the
  // loop reads 16 records a turn and must come back for what OpenSSL has already buffered.
  std::vector<int32_t> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(c.Get((i % 3 == 0   ? "/quick/"
                         : i % 3 == 1 ? "/slow/"
                                      : "/w/") +
                        std::to_string(i)));
  }
  ASSERT_TRUE(c.ReadUntil([&] {
    return std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return c.streams[id].closed; });
  }));
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& s = c.streams[ids[i]];
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(s.body.rfind("HTTP/2.0 /", 0), 0u) << s.body;
  }
  // The slow ones ran side by side on workers, not one after another on the connection.
  EXPECT_GT(most.load(), 10);
  EXPECT_EQ(server_->counts().requests_h2, 300u);
  EXPECT_EQ(server_->counts().connections_h2, 1u);

  // A client that offers HTTP/1.1 only is served as before.
  H2Client old(options_.port, {"http/1.1"});
  EXPECT_EQ(old.protocol(), "http/1.1");
}

TEST_F(TlsServerTest, WithoutHttp2ServingAlpnChoosesHttp11) {
  options_.enable_http2 = false;
  Start(
      [](const httplib::Request&, httplib::Response& res) { res.set_content("x", "text/plain"); });
  H2Client c(options_.port);
  EXPECT_EQ(c.protocol(), "http/1.1");
}

TEST_F(TlsServerTest, Http2StreamsAreFlowControlledOneByOne) {
  std::mutex mu;
  // By path: the two watches' handlers run on workers at once, in either order.
  std::map<std::string, std::shared_ptr<TestStream>> watches;
  Start([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/watch", 0) == 0) {
      auto stream = std::make_shared<TestStream>();
      ASSERT_TRUE(StreamOnLoop(res, stream));
      std::lock_guard<std::mutex> lock(mu);
      watches[req.path] = stream;
      return;
    }
    if (req.path == "/list") {  // a streamed body, produced by the worker as it is taken
      res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < 64 && sink.is_writable(); ++i)
          sink.write(std::string(16384, 'l').data(), 16384);
        sink.done();
        return true;
      });
      return;
    }
    res.set_content("plain", "text/plain");
  });
  H2Client c(options_.port, {"h2"}, /*window=*/65535, /*manual=*/true);
  const int32_t stalled = c.Get("/watch/stalled");
  const int32_t flowing = c.Get("/watch/flowing");
  const int32_t list = c.Get("/list");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return watches.size() == 2;
  }));
  // Both watches get 100 KiB of events; the client grants more to one of them only (and to
  // the list): the other stops at its 64 KiB window, and holds no one back.
  std::shared_ptr<TestStream> first, second;
  {
    std::lock_guard<std::mutex> lock(mu);
    first = watches["/watch/stalled"];
    second = watches["/watch/flowing"];
  }
  for (int i = 0; i < 100; ++i) {
    first->Push(std::string(1023, 'e') + "\n");
    second->Push(std::string(1023, 'e') + "\n");
  }
  second->Push("end\n", /*last=*/true);
  ASSERT_TRUE(c.ReadUntil([&] {
    for (int32_t id : {flowing, list}) {
      const size_t got = c.streams[id].body.size();
      if (got > 0) c.Consume(id, got);  // a reader that keeps up with these two
    }
    return c.streams[flowing].closed && c.streams[list].closed;
  }));
  EXPECT_EQ(c.streams[list].body.size(), 64u * 16384);
  EXPECT_EQ(c.streams[flowing].body.size(), 100u * 1024 + 4);
  EXPECT_FALSE(c.streams[stalled].closed);
  EXPECT_LE(c.streams[stalled].body.size(), 65535u);  // its window, no more
}

TEST_F(TlsServerTest, Http2ConnectionsKeepHttp11sDeadlines) {
  options_.limits.header_timeout = 300ms;
  options_.limits.idle_timeout = 600ms;
  Start(
      [](const httplib::Request&, httplib::Response& res) { res.set_content("x", "text/plain"); });
  // Idle: no stream open after a request, closed after the idle timeout.
  H2Client idle(options_.port);
  const int32_t id = idle.Get("/first");
  ASSERT_TRUE(idle.ReadUntil([&] { return idle.streams[id].closed; }));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.ReadToEnd());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(server_->counts().closed_idle_timeout, 1u);
  // A header block that never ends (HEADERS without END_HEADERS): closed after the header
  // timeout, as an HTTP/1.1 request head that never ends.
  H2Client open_block(options_.port);
  const std::string headers_frame = std::string("\x00\x00\x01\x01\x01\x00\x00\x00\x01", 9) + "\x82";
  ASSERT_TRUE(open_block.Raw(headers_frame));
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(open_block.DrainToEnd());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(server_->counts().closed_header_timeout, 1u)
      << "idle " << server_->counts().closed_idle_timeout << " protocol "
      << server_->counts().closed_h2_protocol_error << " flood "
      << server_->counts().closed_h2_flood;
}

TEST_F(TlsServerTest, Http2StopSendsGoawayAndFinishesTheOpenStreams) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Start([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/inflight") {
      entered.set_value();
      released.wait();
    }
    res.set_content("done", "text/plain");
  });
  H2Client c(options_.port);
  const int32_t first = c.Get("/first");
  ASSERT_TRUE(c.ReadUntil([&] { return c.streams[first].closed; }));
  const int32_t inflight = c.Get("/inflight");
  entered.get_future().wait();
  server_->Stop();
  // First the notice (no new streams here), then, a second later, the last stream served.
  ASSERT_TRUE(c.ReadUntil([&] { return c.goaway_error >= 0; }));
  EXPECT_EQ(c.goaway_error, 0);  // NO_ERROR: a graceful end
  EXPECT_EQ(c.goaway_last, 0x7fffffff);
  ASSERT_TRUE(c.ReadUntil([&] { return c.goaway_last != 0x7fffffff; }));
  EXPECT_EQ(c.goaway_error, 0);
  EXPECT_EQ(c.goaway_last, inflight);  // the in-flight stream will be served
  release.set_value();
  ASSERT_TRUE(c.ReadUntil([&] { return c.streams[inflight].closed; }));
  EXPECT_EQ(c.streams[inflight].status, 200);
  EXPECT_EQ(c.streams[inflight].body, "done");
  EXPECT_TRUE(c.ReadToEnd());  // then the server closes the connection
  serve_.join();
  EXPECT_EQ(server_->ActiveConnections(), 0u);
}

TEST_F(TlsServerTest, ExpectContinueGetsA100BeforeTheBody) {
  Start([](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  Response cont = c.Read();
  ASSERT_TRUE(cont.ok);
  EXPECT_EQ(cont.status, 100);
  ASSERT_TRUE(c.Send("hello"));
  Response r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
}

TEST_F(TlsServerTest, MalformedRequestsGetTheErrorWritersAnswerAndTheConnectionCloses) {
  std::atomic<int> handled{0};
  Start([&](const httplib::Request&, httplib::Response& res) {
    ++handled;
    res.set_content("no", "text/plain");
  });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("GET /a%zz HTTP/1.1\r\n\r\n"));
  Response r = c.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("error 400: invalid URL escape", 0), 0u) << r.body;
  EXPECT_TRUE(Client::Has(r.head, "Connection: close"));
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(handled, 0);
}

TEST_F(TlsServerTest, OversizedBodyIs413AndTheRestIsDrainedUpToTheCap) {
  options_.limits.max_request_bytes = 1 << 20;
  options_.max_body_bytes = 1000;
  Start(
      [](const httplib::Request&, httplib::Response& res) { res.set_content("x", "text/plain"); });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a')));
  Response r = c.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(server_->counts().closed_too_large, 0u);
  // A client that goes on sending is cut off at the request cap.
  const std::string more(64 * 1024, 'b');
  bool cut = false;
  for (int i = 0; i < 64 && !cut; ++i) cut = !c.Send(more);
  EXPECT_TRUE(cut || c.Closed());
  for (int i = 0; i < 500 && server_->counts().closed_too_large == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->counts().closed_too_large, 1u);
}

TEST_F(TlsServerTest, DeadlinesCloseSilentAndIdleConnectionsAndCountThem) {
  options_.limits.header_timeout = 300ms;
  options_.limits.idle_timeout = 600ms;
  options_.limits.tick = 50ms;
  Start(
      [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  const int silent = ConnectLoopback(options_.port);  // TCP only: not even a handshake
  ASSERT_GE(silent, 0);
  Client idle(options_.port);
  ASSERT_TRUE(idle.Send("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(idle.Read().ok);
  Client partial(options_.port);
  ASSERT_TRUE(partial.Send("GET / HTTP/1.1\r\nX-Slow: 1\r\n"));  // never ends its head
  pollfd p{silent, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);  // closed by the server: readable at end of file
  char byte;
  EXPECT_EQ(::read(silent, &byte, 1), 0);
  ::close(silent);
  EXPECT_TRUE(partial.Closed());
  EXPECT_TRUE(idle.Closed());
  const auto counts = server_->counts();
  EXPECT_EQ(counts.closed_header_timeout, 2u);
  EXPECT_EQ(counts.closed_idle_timeout, 1u);
}

TEST_F(TlsServerTest, StopAnswersTheNextRequestOnIdleConnectionsAndLetsTheInFlightOneFinish) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Start([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/inflight") {
      entered.set_value();
      released.wait();
    }
    res.set_content("done", "text/plain");
  });
  Client idle(options_.port), quiet(options_.port), busy(options_.port);
  ASSERT_TRUE(idle.Send("GET /first HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(idle.Read().ok);
  ASSERT_TRUE(quiet.Send("GET /first HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(quiet.Read().ok);
  ASSERT_TRUE(busy.Send("GET /inflight HTTP/1.1\r\n\r\n"));
  entered.get_future().wait();
  const auto stopped = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(ConnectLoopback(options_.port), 0);  // no new connections
  // A client (kube-aggregator's pool) may already be sending its next request on a kept-alive
  // connection: it is answered, with "Connection: close", not dropped.
  ASSERT_TRUE(idle.Send("GET /next HTTP/1.1\r\n\r\n"));
  Response next = idle.Read();
  ASSERT_TRUE(next.ok);
  EXPECT_EQ(next.body, "done");
  EXPECT_TRUE(Client::Has(next.head, "Connection: close"));
  // One that brings nothing is closed after the grace (1 s), not at the drain's end (10 s).
  EXPECT_TRUE(quiet.Closed());
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, std::chrono::seconds(5));
  release.set_value();
  Response r = busy.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "done");
  EXPECT_TRUE(Client::Has(r.head, "Connection: close"));
  serve_.join();  // Serve() returns once every connection is closed
  EXPECT_EQ(server_->ActiveConnections(), 0u);
}

TEST_F(TlsServerTest, HandlerExceptionIsA500AndTheServerGoesOn) {
  Start([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    res.set_content("fine", "text/plain");
  });
  Client c(options_.port);
  ASSERT_TRUE(c.Send("GET /throw HTTP/1.1\r\n\r\n"));
  Response r = c.Read();
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
  ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.Read().body, "fine");
}

TEST_F(TlsServerTest, ManyConcurrentClientsEachGetTheirOwnAnswers) {
  options_.event_loops = 2;
  Start([](const httplib::Request& req,
           httplib::Response& res) { res.set_content(req.path, "text/plain"); },
        &IsQuickPath);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0}, done{0};
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Client c(options_.port);
      if (!c.connected()) return void(++wrong);
      for (int i = 0; i < 50; ++i) {
        const std::string path = (i % 2 ? "/quick/" : "/worker/") + std::to_string(t * 1000 + i);
        if (!c.Send("GET " + path + " HTTP/1.1\r\n\r\n")) return void(++wrong);
        if (c.Read().body != path) ++wrong;
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(done, 16 * 50);
}

// --permit-port-sharing: a second server on the same address and port binds only when both
// set SO_REUSEPORT; then fresh connections reach both, and when one stops the other takes
// every new connection.
TEST_F(TlsServerTest, PortSharingNeedsTheFlagOnBothAndSpreadsConnections) {
  auto answer = [](const char* who) {
    return [who](const httplib::Request&, httplib::Response& res) {
      res.set_content(who, "text/plain");
    };
  };
  {
    Start(answer("first"));  // without the flag: nobody else may bind
    ServingOptions sharing = options_;
    sharing.permit_port_sharing = true;
    auto second = TlsServer::Create(sharing);
    ASSERT_TRUE(second.ok()) << second.status().message();
    Status bound = (*second)->Bind();
    ASSERT_FALSE(bound.ok());
    EXPECT_EQ(bound.message(), "cannot listen on 127.0.0.1:" + std::to_string(options_.port) +
                                   ": Address already in use");
    server_->Stop();
    serve_.join();
    server_.reset();
  }

  options_.permit_port_sharing = true;
  Start(answer("first"));
  auto second = TlsServer::Create(options_);
  ASSERT_TRUE(second.ok()) << second.status().message();
  (*second)->SetHandler(answer("second"));
  ASSERT_TRUE((*second)->Bind().ok()) << "both listeners set SO_REUSEPORT";
  std::thread serve_second([&] { (*second)->Serve(); });

  // The kernel picks a listener by a hash of the connection's addresses and ports: 64 fresh
  // connections all landing on one of two listeners has a chance of 2^-63.
  std::map<std::string, int> served;
  for (int i = 0; i < 64; ++i) {
    Client c(options_.port);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n\r\n"));
    ++served[c.Read().body];
  }
  EXPECT_GT(served["first"], 0);
  EXPECT_GT(served["second"], 0);
  EXPECT_EQ(served["first"] + served["second"], 64);

  (*second)->Stop();
  serve_second.join();
  for (int i = 0; i < 16; ++i) {
    Client c(options_.port);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(c.Read().body, "first") << "connection " << i << " after the second stopped";
  }
}

}  // namespace
}  // namespace csdr::apiserver
