// http2::Session against nghttp2's own client session, in memory: requests and their bodies,
// responses pulled as windows allow, the limits (413, 431), floods refused with GOAWAY, and
// graceful shutdown.
#include "apiserver/server/h2_session.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <string>
#include <vector>

namespace csdr::apiserver::http2 {
namespace {

// The server's host: records what the session passes up; answers when the test says.
struct RecordingHost : Session::Host {
  std::vector<std::pair<int32_t, httplib::Request>> requests;
  std::vector<int32_t> closed;
  std::vector<std::pair<int32_t, int>> bad;
  Session* session = nullptr;

  void OnRequest(int32_t id, httplib::Request&& request) override {
    requests.emplace_back(id, std::move(request));
  }
  void OnStreamClosed(int32_t id) override { closed.push_back(id); }
  void OnBadRequest(int32_t id, int status, const std::string& message) override {
    bad.emplace_back(id, status);
    session->Respond(id, status, {{"Content-Type", "text/plain"}},
                     std::make_unique<StringBody>(message), -1);
  }
};

// What the client side saw of one stream.
struct ClientStream {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  uint32_t close_error = 0;
};

// nghttp2's client session, with a byte pipe to and from the server session.
class Client {
 public:
  explicit Client(uint32_t initial_window = 65535) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                const uint8_t* value, size_t valuelen, uint8_t, void* user) {
          auto* self = static_cast<Client*>(user);
          std::string n(reinterpret_cast<const char*>(name), namelen);
          std::string v(reinterpret_cast<const char*>(value), valuelen);
          ClientStream& s = self->streams[frame->hd.stream_id];
          if (n == ":status") {
            s.status = std::stoi(v);
          } else {
            s.headers[n] = v;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs,
        [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
          static_cast<Client*>(user)->streams[id].body.append(reinterpret_cast<const char*>(data),
                                                              len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t error, void* user) {
          ClientStream& s = static_cast<Client*>(user)->streams[id];
          s.closed = true;
          s.close_error = error;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          auto* self = static_cast<Client*>(user);
          if (frame->hd.type == NGHTTP2_GOAWAY) {
            self->goaway = true;
            self->goaway_error = frame->goaway.error_code;
            self->goaway_last_stream = frame->goaway.last_stream_id;
          }
          if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
            for (size_t i = 0; i < frame->settings.niv; ++i) {
              self->settings[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
            }
          }
          return 0;
        });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, initial_window}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
  }
  ~Client() { nghttp2_session_del(session_); }

  int32_t Request(const std::string& method, const std::string& path, const std::string& body = "",
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", method}, {":scheme", "https"}, {":authority", "example:8443"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    pending_body_ = body;
    pending_off_ = 0;
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
      auto* self = static_cast<Client*>(src->ptr);
      const size_t n = std::min(length, self->pending_body_.size() - self->pending_off_);
      memcpy(buf, self->pending_body_.data() + self->pending_off_, n);
      self->pending_off_ += n;
      if (self->pending_off_ == self->pending_body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    return nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                  body.empty() ? nullptr : &provider, nullptr);
  }

  // Client frames to the server; false when the server refused them.
  bool SendTo(Session* server) {
    bool ok = true;
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      ok = server->Receive(reinterpret_cast<const char*>(data), static_cast<size_t>(n)) && ok;
    }
    return ok;
  }
  // Server frames to the client.
  void ReceiveFrom(Session* server) {
    std::string out;
    ASSERT_TRUE(server->Output(&out, 1 << 30));
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(out.data()), out.size());
  }
  // Both ways until nothing moves.
  void Exchange(Session* server) {
    for (int i = 0; i < 64; ++i) {
      SendTo(server);
      std::string out;
      ASSERT_TRUE(server->Output(&out, 1 << 30));
      if (out.empty() && nghttp2_session_want_write(session_) == 0) return;
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(out.data()), out.size());
    }
  }

  nghttp2_session* raw() { return session_; }
  std::map<int32_t, ClientStream> streams;
  std::map<int32_t, uint32_t> settings;
  bool goaway = false;
  uint32_t goaway_error = 0;
  int32_t goaway_last_stream = -1;

 private:
  nghttp2_session* session_ = nullptr;
  std::string pending_body_;
  size_t pending_off_ = 0;
};

struct Fixture {
  explicit Fixture(Limits limits = {}) {
    session = Session::Create(&host, limits);
    host.session = session.get();
  }
  RecordingHost host;
  std::unique_ptr<Session> session;
};

TEST(H2SessionTest, TheServerSettingsAreKubeApiserversForAggregatedServers) {
  Fixture f;
  Client client;
  client.Exchange(f.session.get());
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS], 1000u);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE], 256u * 1024);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_MAX_FRAME_SIZE], 256u * 1024);
  EXPECT_EQ(client.settings[NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE], 1u << 20);
  // The connection window holds a stream window for every stream.
  EXPECT_EQ(nghttp2_session_get_remote_window_size(client.raw()), 1000 * 256 * 1024);
}

TEST(H2SessionTest, ARequestArrivesWithItsTargetHeadersAndBody) {
  Fixture f;
  Client client;
  const std::string body(100000, 'b');  // more than one DATA frame
  const int32_t id =
      client.Request("POST", "/apis/csdr.io/v1alpha1/namespaces/a%2Db/backups?dryRun=All", body,
                     {{"content-type", "application/json"}});
  client.Exchange(f.session.get());
  ASSERT_EQ(f.host.requests.size(), 1u);
  const auto& [got_id, req] = f.host.requests[0];
  EXPECT_EQ(got_id, id);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.version, "HTTP/2.0");
  EXPECT_EQ(req.path, "/apis/csdr.io/v1alpha1/namespaces/a-b/backups");
  EXPECT_EQ(req.target, "/apis/csdr.io/v1alpha1/namespaces/a%2Db/backups?dryRun=All");
  EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(req.get_header_value("Host"), "example:8443");
  EXPECT_EQ(req.body, body);
  EXPECT_EQ(f.session->requests(), 1u);

  f.session->Respond(id, 201, {{"Content-Type", "application/json"}, {"Connection", "close"}},
                     std::make_unique<StringBody>("{\"ok\":true}"), 11);
  client.Exchange(f.session.get());
  const ClientStream& s = client.streams[id];
  EXPECT_EQ(s.status, 201);
  EXPECT_EQ(s.body, "{\"ok\":true}");
  EXPECT_EQ(s.headers.at("content-type"), "application/json");
  EXPECT_EQ(s.headers.at("content-length"), "11");
  EXPECT_EQ(s.headers.count("connection"), 0u);  // hop-by-hop fields are not HTTP/2's
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(f.host.closed, std::vector<int32_t>{id});
  EXPECT_EQ(f.session->OpenStreams(), 0u);
}

// A body that is ready in parts (a watch): the session waits for Resume between them.
class PartsBody : public BodySource {
 public:
  explicit PartsBody(std::vector<std::string>* parts, bool* ended) : parts_(parts), ended_(ended) {}
  int64_t Read(uint8_t* buf, size_t max, bool* eof) override {
    if (parts_->empty()) {
      *eof = *ended_;
      return 0;
    }
    std::string& p = parts_->front();
    const size_t n = std::min(max, p.size());
    memcpy(buf, p.data(), n);
    p.erase(0, n);
    if (p.empty()) parts_->erase(parts_->begin());
    *eof = parts_->empty() && *ended_;
    return static_cast<int64_t>(n);
  }

 private:
  std::vector<std::string>* parts_;
  bool* ended_;
};

TEST(H2SessionTest, ABodyReadyInPartsGoesOutAsEachIsResumed) {
  Fixture f;
  Client client;
  const int32_t id = client.Request("GET", "/apis/csdr.io/v1alpha1/backups?watch=1");
  client.Exchange(f.session.get());
  std::vector<std::string> parts = {"{\"type\":\"ADDED\"}\n"};
  bool ended = false;
  f.session->Respond(id, 200, {}, std::make_unique<PartsBody>(&parts, &ended), -1);
  client.Exchange(f.session.get());
  EXPECT_EQ(client.streams[id].body, "{\"type\":\"ADDED\"}\n");
  EXPECT_FALSE(client.streams[id].closed);

  parts.push_back("{\"type\":\"MODIFIED\"}\n");
  client.Exchange(f.session.get());
  EXPECT_EQ(client.streams[id].body, "{\"type\":\"ADDED\"}\n");  // deferred until resumed
  f.session->Resume(id);
  client.Exchange(f.session.get());
  EXPECT_EQ(client.streams[id].body, "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");

  ended = true;
  f.session->Resume(id);
  client.Exchange(f.session.get());
  EXPECT_TRUE(client.streams[id].closed);
  EXPECT_EQ(client.streams[id].close_error, 0u);
}

TEST(H2SessionTest, OneStalledStreamDoesNotStallTheOthers) {
  Fixture f;
  Client client(/*initial_window=*/1024);  // the client reads 1 KiB per stream until it grants more
  const int32_t slow = client.Request("GET", "/slow");
  const int32_t fast = client.Request("GET", "/fast");
  client.Exchange(f.session.get());
  ASSERT_EQ(f.host.requests.size(), 2u);
  f.session->Respond(slow, 200, {}, std::make_unique<StringBody>(std::string(64 * 1024, 's')), -1);
  f.session->Respond(fast, 200, {}, std::make_unique<StringBody>("fast"), -1);
  client.Exchange(f.session.get());
  // The slow stream got its window's worth (the client's session grants more as it consumes,
  // so more may arrive); the fast one is whole whatever the slow one does.
  EXPECT_TRUE(client.streams[fast].closed);
  EXPECT_EQ(client.streams[fast].body, "fast");
}

TEST(H2SessionTest, ABodyOverTheLimitIsAnswered413) {
  Limits limits;
  limits.max_body_bytes = 1000;
  Fixture f(limits);
  Client client;
  const int32_t id =
      client.Request("POST", "/apis/csdr.io/v1alpha1/backups", std::string(5000, 'x'));
  client.Exchange(f.session.get());
  EXPECT_TRUE(f.host.requests.empty());
  ASSERT_EQ(f.host.bad.size(), 1u);
  EXPECT_EQ(f.host.bad[0], std::make_pair(id, 413));
  EXPECT_EQ(client.streams[id].status, 413);
  // The connection serves what comes next.
  const int32_t next = client.Request("GET", "/readyz");
  client.Exchange(f.session.get());
  ASSERT_EQ(f.host.requests.size(), 1u);
  EXPECT_EQ(f.host.requests[0].first, next);
}

TEST(H2SessionTest, AHeaderListOverTheLimitIsAnswered431) {
  Limits limits;
  limits.max_header_list_bytes = 4096;
  Fixture f(limits);
  Client client;
  const int32_t id = client.Request("GET", "/readyz", "", {{"x-big", std::string(5000, 'h')}});
  client.Exchange(f.session.get());
  EXPECT_TRUE(f.host.requests.empty());
  ASSERT_EQ(f.host.bad.size(), 1u);
  EXPECT_EQ(client.streams[id].status, 431);
}

TEST(H2SessionTest, AMalformedPathIsAnswered400) {
  Fixture f;
  Client client;
  const int32_t id = client.Request("GET", "/a%zz");
  client.Exchange(f.session.get());
  EXPECT_TRUE(f.host.requests.empty());
  EXPECT_EQ(client.streams[id].status, 400);
}

TEST(H2SessionTest, AResetStreamIsClosedAndTheHostTold) {
  Fixture f;
  Client client;
  const int32_t id = client.Request("GET", "/apis/csdr.io/v1alpha1/backups?watch=1");
  client.Exchange(f.session.get());
  ASSERT_EQ(f.host.requests.size(), 1u);
  nghttp2_submit_rst_stream(client.raw(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  client.Exchange(f.session.get());
  EXPECT_EQ(f.host.closed, std::vector<int32_t>{id});
  EXPECT_EQ(f.session->OpenStreams(), 0u);
  // A response for it now goes nowhere, harmlessly.
  f.session->Respond(id, 200, {}, std::make_unique<StringBody>("late"), -1);
  client.Exchange(f.session.get());
  EXPECT_TRUE(f.session->Alive());
}

TEST(H2SessionTest, AFailedBodyResetsItsStream) {
  struct FailingBody : BodySource {
    int64_t Read(uint8_t*, size_t, bool*) override { return -1; }
  };
  Fixture f;
  Client client;
  const int32_t id = client.Request("GET", "/apis/csdr.io/v1alpha1/backups");
  client.Exchange(f.session.get());
  f.session->Respond(id, 200, {}, std::make_unique<FailingBody>(), -1);
  client.Exchange(f.session.get());
  EXPECT_TRUE(client.streams[id].closed);
  EXPECT_NE(client.streams[id].close_error, 0u);  // reset, not ended: the body is not whole
  EXPECT_TRUE(f.session->Alive());
}

TEST(H2SessionTest, APingFloodEndsTheConnectionWithEnhanceYourCalm) {
  Fixture f;
  Client client;
  client.Exchange(f.session.get());
  bool refused = false;
  for (int i = 0; i < 3000 && !refused; ++i) {
    nghttp2_submit_ping(client.raw(), NGHTTP2_FLAG_NONE, nullptr);
    refused = !client.SendTo(f.session.get());
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(f.session->failure(), Failure::kFlood);
  client.ReceiveFrom(f.session.get());
  EXPECT_TRUE(client.goaway);
  EXPECT_EQ(client.goaway_error, static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_FALSE(f.session->Alive());
}

TEST(H2SessionTest, ATrickleOfTinyWindowUpdatesIsAFlood) {
  Fixture f;
  Client client;
  client.Exchange(f.session.get());
  bool refused = false;
  for (int i = 0; i < 3000 && !refused; ++i) {
    nghttp2_submit_window_update(client.raw(), NGHTTP2_FLAG_NONE, 0, 1);
    refused = !client.SendTo(f.session.get());
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(f.session->failure(), Failure::kFlood);
}

TEST(H2SessionTest, RapidResetIsAFloodOfItsOwn) {
  Fixture f;
  Client client;
  client.Exchange(f.session.get());
  bool refused = false;
  int pairs = 0;
  for (; pairs < 5000 && !refused; ++pairs) {
    const int32_t id = client.Request("GET", "/apis/csdr.io/v1alpha1/backups");
    client.SendTo(f.session.get());  // the HEADERS go out, then their reset
    nghttp2_submit_rst_stream(client.raw(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    refused = !client.SendTo(f.session.get());
    std::string out;  // the server's frames are taken, as a client that reads would
    if (!refused) f.session->Output(&out, 1 << 30);
  }
  EXPECT_TRUE(refused);
  EXPECT_GT(pairs, 900);  // a burst of cancels (a client's informers restarting) is allowed
  EXPECT_LT(pairs, 1200);
  EXPECT_EQ(f.session->failure(), Failure::kFlood);
  client.ReceiveFrom(f.session.get());
  EXPECT_TRUE(client.goaway);
  EXPECT_EQ(client.goaway_error, static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(H2SessionTest, TheBudgetRefillsSoPingsAtAHumanRateAreFine) {
  Limits limits;
  limits.control_frame_burst = 5;
  limits.control_frames_per_second = 1e10;  // refilled between any two frames
  Fixture f(limits);
  Client client;
  for (int i = 0; i < 100; ++i) {
    nghttp2_submit_ping(client.raw(), NGHTTP2_FLAG_NONE, nullptr);
    ASSERT_TRUE(client.SendTo(f.session.get())) << i;
    client.ReceiveFrom(f.session.get());
  }
  EXPECT_EQ(f.session->failure(), Failure::kNone);
}

TEST(H2SessionTest, GarbageInsteadOfThePrefaceIsAProtocolError) {
  Fixture f;
  const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(f.session->Receive(garbage.data(), garbage.size()));
  EXPECT_EQ(f.session->failure(), Failure::kProtocol);
}

TEST(H2SessionTest, ShutdownIsANoticeThenTheLastStreamAndFinishesTheOpenOnes) {
  Fixture f;
  Client client;
  const int32_t first = client.Request("GET", "/apis/csdr.io/v1alpha1/backups");
  client.Exchange(f.session.get());
  ASSERT_EQ(f.host.requests.size(), 1u);
  // The notice: no stream is refused yet.
  f.session->Shutdown();
  std::string notice;
  ASSERT_TRUE(f.session->Output(&notice, 1 << 20));
  // A request the peer sent before it read the notice is still taken and served.
  const int32_t crossing = client.Request("GET", "/apis/csdr.io/v1alpha1/restores");
  client.SendTo(f.session.get());
  nghttp2_session_mem_recv(client.raw(), reinterpret_cast<const uint8_t*>(notice.data()),
                           notice.size());
  EXPECT_TRUE(client.goaway);
  EXPECT_EQ(client.goaway_error, 0u);
  EXPECT_EQ(client.goaway_last_stream, (1u << 31) - 1);
  ASSERT_EQ(f.host.requests.size(), 2u);
  EXPECT_EQ(f.host.requests[1].first, crossing);
  EXPECT_TRUE(f.session->Alive());
  // The final GOAWAY names the last stream that came.
  f.session->FinishShutdown();
  client.Exchange(f.session.get());
  EXPECT_EQ(client.goaway_last_stream, crossing);
  EXPECT_TRUE(f.session->Alive());  // two streams are still to be answered
  f.session->Respond(first, 200, {}, std::make_unique<StringBody>("[]"), 2);
  f.session->Respond(crossing, 200, {}, std::make_unique<StringBody>("{}"), 2);
  client.Exchange(f.session.get());
  EXPECT_EQ(client.streams[first].status, 200);
  EXPECT_EQ(client.streams[crossing].body, "{}");
  EXPECT_FALSE(f.session->Alive());  // nothing left: the connection may close
}

TEST(H2SessionTest, AnIdleConnectionLivesUntilTheFinalGoaway) {
  Fixture f;
  Client client;
  client.Exchange(f.session.get());
  f.session->Shutdown();
  client.Exchange(f.session.get());
  EXPECT_TRUE(f.session->Alive());  // a request may still be on its way
  f.session->FinishShutdown();
  client.Exchange(f.session.get());
  EXPECT_FALSE(f.session->Alive());
}

TEST(H2SessionTest, AStringBodyReadPastItsEndGivesNothing) {
  StringBody body("abcdef");
  uint8_t buf[4];
  bool eof = false;
  EXPECT_EQ(body.Read(buf, 4, &eof), 4);
  EXPECT_FALSE(eof);
  EXPECT_EQ(body.Read(buf, 4, &eof), 2);
  EXPECT_TRUE(eof);
  eof = false;
  EXPECT_EQ(body.Read(buf, 4, &eof), 0);  // nothing more, however often it is asked
  EXPECT_TRUE(eof);
}

TEST(H2SessionTest, SetTargetDecodesThePathAndRefusesWhatIsNotOne) {
  httplib::Request req;
  EXPECT_TRUE(SetTarget("/api/v1/namespaces/%61?watch=1", &req));
  EXPECT_EQ(req.path, "/api/v1/namespaces/a");
  EXPECT_EQ(req.target, "/api/v1/namespaces/%61?watch=1");
  EXPECT_FALSE(SetTarget("", &req));
  EXPECT_FALSE(SetTarget("*", &req));
  EXPECT_FALSE(SetTarget("/a b", &req));
  EXPECT_FALSE(SetTarget("/%4", &req));
}

}  // namespace
}  // namespace csdr::apiserver::http2
