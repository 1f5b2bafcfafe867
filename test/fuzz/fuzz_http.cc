// The server's HTTP/1.1 request parser on arbitrary bytes, as a client would send them: the
// first byte picks how the rest is cut into reads. Checks: the same requests (or the same
// error) whether the bytes arrive whole or in pieces; a request only from bytes that were
// there; bodies within the limit; errors only with the statuses the parser documents.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apiserver/server/http_parser.h"
#include "test/fuzz/fuzz_check.h"

namespace {

using csdr::apiserver::http::ParserLimits;
using csdr::apiserver::http::RequestParser;

constexpr ParserLimits kLimits{4096, 8192};

// What a request or the error that ended the stream looks like, for comparison.
std::string Describe(RequestParser& p, RequestParser::Result r) {
  if (r == RequestParser::Result::kError) return "error " + std::to_string(p.error().status);
  const httplib::Request& req = p.request();
  std::string d = req.method + " " + req.target + " " + req.path + " " + req.version + " " +
                  std::to_string(req.headers.size()) + " " + (p.keep_alive() ? "ka" : "close") +
                  " body=" + req.body;
  return d;
}

// Feeds `pieces` in turn; returns every request and the error that ended the stream, if any.
std::vector<std::string> Run(const std::vector<std::string>& pieces, size_t total) {
  RequestParser p(kLimits);
  std::vector<std::string> out;
  std::string in;
  size_t fed = 0;
  for (const std::string& piece : pieces) {
    in += piece;
    fed += piece.size();
    for (;;) {
      const size_t before = in.size();
      const auto r = p.Feed(&in);
      FUZZ_CHECK(in.size() <= before, "the parser added bytes");
      if (r == RequestParser::Result::kIncomplete) break;
      out.push_back(Describe(p, r));
      if (r == RequestParser::Result::kError) {
        const int s = p.error().status;
        FUZZ_CHECK(s == 400 || s == 413 || s == 431 || s == 501 || s == 505,
                   "unexpected status " + std::to_string(s));
        FUZZ_CHECK(!p.error().message.empty(), "error without a message");
        return out;
      }
      FUZZ_CHECK(p.request().body.size() <= kLimits.max_body_bytes, "body over the limit");
      FUZZ_CHECK(!p.request().method.empty() && !p.request().path.empty(), "empty method or path");
      p.Reset();
    }
  }
  FUZZ_CHECK(fed == total, "not every byte was fed");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned seed = data[0];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string> whole = Run({text}, text.size());
  std::vector<std::string> pieces;
  size_t step = 1 + seed % 17;
  for (size_t i = 0; i < text.size(); i += step, step = 1 + (step * 7 + seed) % 23) {
    pieces.push_back(text.substr(i, step));
  }
  const std::vector<std::string> split = Run(pieces, text.size());
  FUZZ_CHECK(whole == split, "the requests depend on how the bytes arrive: whole " +
                                 std::to_string(whole.size()) + ", in pieces " +
                                 std::to_string(split.size()));
  return 0;
}
