// The server's HTTP/2 session (apiserver/server/h2_session.h) on arbitrary frames, as a client
// would send them after the connection preface (which is prepended, so that the fuzzer spends
// its time on frames and HPACK): the first byte picks how the rest is cut into reads and how
// the host answers (at once, with a body deferred then resumed, or a reset). Checks: the
// session never crashes or leaks (ASan), a request has a method and an origin-form path, a
// body within the limit, and nothing is read after a failure.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/server/h2_session.h"
#include "test/fuzz/fuzz_check.h"

namespace {

using csdr::apiserver::http2::BodySource;
using csdr::apiserver::http2::Limits;
using csdr::apiserver::http2::Session;
using csdr::apiserver::http2::StringBody;

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A body ready in two halves: the first read gives one, the second defers (nothing ready),
// the next one after a Resume gives the rest.
class TwoParts : public BodySource {
 public:
  int64_t Read(uint8_t* buf, size_t max, bool* eof) override {
    if (step_++ == 1) return 0;
    const std::string_view part = step_ == 1 ? "first half;" : "second half";
    const size_t n = std::min(max, part.size());
    std::memcpy(buf, part.data(), n);
    *eof = step_ > 1;
    return static_cast<int64_t>(n);
  }

 private:
  int step_ = 0;
};

struct Host : Session::Host {
  Session* session = nullptr;
  unsigned mode = 0;
  Limits limits;
  std::vector<int32_t> deferred;
  size_t open = 0;

  void OnRequest(int32_t id, httplib::Request&& req) override {
    FUZZ_CHECK(!req.method.empty(), "a request without a method");
    FUZZ_CHECK(!req.path.empty() && req.target.front() == '/', "a request without a path");
    FUZZ_CHECK(req.body.size() <= limits.max_body_bytes, "a body over the limit");
    ++open;
    switch ((mode + static_cast<unsigned>(id)) % 3) {
      case 0:
        session->Respond(id, 200, {{"Content-Type", "application/json"}},
                         std::make_unique<StringBody>("{\"kind\":\"Status\"}"), 17);
        break;
      case 1: {
        session->Respond(id, 200, {}, std::make_unique<TwoParts>(), -1);
        deferred.push_back(id);
        break;
      }
      default:
        session->Reset(id);
    }
  }
  void OnStreamClosed(int32_t) override {
    FUZZ_CHECK(open > 0, "a close for a stream never opened");
    --open;
  }
  void OnBadRequest(int32_t id, int status, const std::string& message) override {
    FUZZ_CHECK(status == 400 || status == 413 || status == 431, "unexpected status");
    ++open;
    session->Respond(id, status, {}, std::make_unique<StringBody>(message), -1);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned seed = data[0];
  Host host;
  host.mode = seed;
  host.limits.max_body_bytes = 4096;
  host.limits.max_header_list_bytes = 8192;
  host.limits.max_concurrent_streams = 8;
  std::unique_ptr<Session> session = Session::Create(&host, host.limits);
  FUZZ_CHECK(session != nullptr, "no session");
  host.session = session.get();
  std::string input(kPreface);
  input.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t step = 1 + seed % 29;
  bool failed = false;
  std::string out;
  for (size_t i = 0; i < input.size(); i += step, step = 1 + (step * 13 + seed) % 97) {
    const std::string piece = input.substr(i, step);
    const bool ok = session->Receive(piece.data(), piece.size());
    if (failed) FUZZ_CHECK(!ok, "a failed session read on");
    failed = failed || !ok;
    out.clear();
    FUZZ_CHECK(session->Output(&out, 4096), "output failed");
    // Deferred bodies are resumed on every other read.
    if (i % 2 == 0) {
      for (int32_t id : host.deferred) session->Resume(id);
    }
  }
  out.clear();
  session->Output(&out, 1 << 20);
  return 0;
}
