// RequestParser: requests split across reads at every byte, framing, limits and Go's answers.
#include "apiserver/server/http_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace csdr::apiserver::http {
namespace {

using Result = RequestParser::Result;

// Feeds `bytes` whole; returns the result and leaves the rest in `*rest`.
Result FeedAll(RequestParser* p, const std::string& bytes, std::string* rest = nullptr) {
  std::string in = bytes;
  Result r = p->Feed(&in);
  if (rest) *rest = in;
  return r;
}

TEST(RequestParserTest, GetWithQueryAndHeaders) {
  RequestParser p;
  std::string rest;
  ASSERT_EQ(FeedAll(&p,
                    "GET /apis/csdr.io/v1alpha1/namespaces/a%2Db/backups?limit=5&x=%41 HTTP/1.1\r\n"
                    "Host: x\r\nAccept:  application/json \r\nX-Two: 1\r\nx-two: 2\r\n\r\nNEXT",
                    &rest),
            Result::kComplete);
  const httplib::Request& req = p.request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/apis/csdr.io/v1alpha1/namespaces/a-b/backups");
  EXPECT_EQ(req.target, "/apis/csdr.io/v1alpha1/namespaces/a%2Db/backups?limit=5&x=%41");
  EXPECT_EQ(req.version, "HTTP/1.1");
  EXPECT_EQ(req.get_header_value("accept"), "application/json");
  EXPECT_EQ(req.get_header_value_count("X-Two"), 2u);
  EXPECT_TRUE(req.body.empty());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(rest, "NEXT");  // the next request's bytes stay
}

TEST(RequestParserTest, EveryByteSplitGivesTheSameRequest) {
  const std::string body = R"({"kind":"Backup"})";
  const std::string fixed =
      "POST /b HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string chunked =
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\n{\"kin\r\nc\r\nd\":\"Backup\"}\r\n0\r\nTrailer: x\r\n\r\n";
  for (const std::string& wire : {fixed, chunked}) {
    for (size_t split = 1; split < wire.size(); ++split) {
      RequestParser p;
      std::string in = wire.substr(0, split);
      Result r = p.Feed(&in);
      ASSERT_NE(r, Result::kError) << split << ": " << p.error().message;
      if (r == Result::kIncomplete) {
        in += wire.substr(split);
        r = p.Feed(&in);
      }
      ASSERT_EQ(r, Result::kComplete) << "split at " << split;
      EXPECT_EQ(p.request().body, body) << "split at " << split;
      EXPECT_TRUE(in.empty());
    }
  }
}

TEST(RequestParserTest, ByteAtATime) {
  const std::string wire =
      "\r\nPUT /x HTTP/1.1\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\r\n";
  RequestParser p;
  std::string in;
  Result r = Result::kIncomplete;
  for (char c : wire) {
    ASSERT_EQ(r, Result::kIncomplete);
    in.push_back(c);
    r = p.Feed(&in);
    ASSERT_NE(r, Result::kError) << p.error().message;
  }
  ASSERT_EQ(r, Result::kComplete);
  EXPECT_EQ(p.request().method, "PUT");
  EXPECT_EQ(p.request().body, "abc");
}

TEST(RequestParserTest, FramingFieldsInAnyCase) {
  RequestParser p;
  std::string rest;
  ASSERT_EQ(
      FeedAll(&p, "POST / HTTP/1.1\r\ncontent-length: 2\r\nCONNECTION: Close\r\n\r\nhiX", &rest),
      Result::kComplete);
  EXPECT_EQ(p.request().body, "hi");
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(rest, "X");
  EXPECT_EQ(p.request().get_header_value("Content-Length"), "2");  // still in the map
  p.Reset();
  ASSERT_EQ(FeedAll(&p,
                    "POST / HTTP/1.1\r\nTRANSFER-ENCODING: Chunked\r\nContent-Length: 99\r\n"
                    "\r\n1\r\nz\r\n0\r\n\r\n"),
            Result::kComplete);
  EXPECT_EQ(p.request().body, "z");
  EXPECT_FALSE(p.request().has_header("Content-Length"));  // chunked wins; the length is dropped
  p.Reset();
  // A name that only looks alike ('\r' and '-' differ by the case bit) frames nothing.
  ASSERT_EQ(FeedAll(&p, "POST / HTTP/1.1\r\nContent_Length: 5\r\n\r\n"), Result::kComplete);
  EXPECT_EQ(p.request().body, "");
}

TEST(RequestParserTest, ConnectionSemantics) {
  RequestParser p;
  ASSERT_EQ(FeedAll(&p, "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"),
            Result::kComplete);
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  ASSERT_EQ(FeedAll(&p, "GET / HTTP/1.0\r\n\r\n"), Result::kComplete);
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  ASSERT_EQ(FeedAll(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), Result::kComplete);
  EXPECT_TRUE(p.keep_alive());
}

TEST(RequestParserTest, ExpectContinueUntilTheBodyStarts) {
  RequestParser p;
  std::string in = "POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(p.Feed(&in), Result::kIncomplete);
  EXPECT_TRUE(p.expects_continue());
  p.continue_sent();
  EXPECT_FALSE(p.expects_continue());
  in = "abc";
  ASSERT_EQ(p.Feed(&in), Result::kComplete);
  EXPECT_EQ(p.request().body, "abc");
}

TEST(RequestParserTest, AbsoluteFormAndAsterisk) {
  RequestParser p;
  ASSERT_EQ(FeedAll(&p, "GET https://host:8443/readyz?verbose HTTP/1.1\r\n\r\n"),
            Result::kComplete);
  EXPECT_EQ(p.request().path, "/readyz");
  EXPECT_EQ(p.request().target, "/readyz?verbose");
  p.Reset();
  ASSERT_EQ(FeedAll(&p, "OPTIONS * HTTP/1.1\r\n\r\n"), Result::kComplete);
  EXPECT_EQ(p.request().path, "*");
}

struct Bad {
  const char* what;
  std::string wire;
  int status;
};

TEST(RequestParserTest, MalformedRequestsGetGosAnswers) {
  const Bad cases[] = {
      {"no version", "GET /\r\n\r\n", 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"garbage version", "GET / FOO\r\n\r\n", 400},
      {"method with a slash", "GE/T / HTTP/1.1\r\n\r\n", 400},
      {"target without a slash", "GET backups HTTP/1.1\r\n\r\n", 400},
      {"bad escape", "GET /a%zz HTTP/1.1\r\n\r\n", 400},
      {"escape cut short", "GET /a%4 HTTP/1.1\r\n\r\n", 400},
      {"folded header", "GET / HTTP/1.1\r\nA: 1\r\n  2\r\n\r\n", 400},
      {"blank before colon", "GET / HTTP/1.1\r\nA : 1\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nJustAName\r\n\r\n", 400},
      {"control byte in value", std::string("GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n"), 400},
      {"negative length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"length with a sign", "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400},
      {"conflicting lengths", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
       400},
      {"gzip coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"chunked twice",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"chunked on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"chunk size not hex",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk longer than said",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk size overflow",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
  };
  for (const Bad& c : cases) {
    RequestParser p;
    EXPECT_EQ(FeedAll(&p, c.wire), Result::kError) << c.what;
    EXPECT_EQ(p.error().status, c.status) << c.what << ": " << p.error().message;
    EXPECT_FALSE(p.error().message.empty()) << c.what;
    EXPECT_FALSE(p.keep_alive()) << c.what;
  }
}

TEST(RequestParserTest, HeaderSectionOverTheLimitIs431EvenUnfinished) {
  ParserLimits limits;
  limits.max_header_bytes = 1024;
  RequestParser p(limits);
  std::string in = "GET / HTTP/1.1\r\n";
  ASSERT_EQ(p.Feed(&in), Result::kIncomplete);
  while (in.size() <= 1024) in += "X-Flood: aaaaaaaaaaaaaaaa\r\n";
  ASSERT_EQ(p.Feed(&in), Result::kError);
  EXPECT_EQ(p.error().status, 431);
  // A head just within the limit is served.
  RequestParser q(limits);
  std::string ok = "GET / HTTP/1.1\r\nX: " + std::string(900, 'a') + "\r\n\r\n";
  EXPECT_EQ(q.Feed(&ok), Result::kComplete);
}

TEST(RequestParserTest, BodiesOverTheLimitAre413BeforeTheyAreRead) {
  ParserLimits limits;
  limits.max_body_bytes = 100;
  RequestParser p(limits);
  EXPECT_EQ(FeedAll(&p, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), Result::kError);
  EXPECT_EQ(p.error().status, 413);
  EXPECT_TRUE(p.error().drain);
  EXPECT_EQ(p.error().message, "Request entity too large: limit is 3145728");

  RequestParser q(limits);
  std::string in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(q.Feed(&in), Result::kIncomplete);
  in = "40\r\n" + std::string(64, 'a') + "\r\n";
  ASSERT_EQ(q.Feed(&in), Result::kIncomplete);
  in = "40\r\n";  // 128 bytes would pass the limit: refused at the size line
  ASSERT_EQ(q.Feed(&in), Result::kError);
  EXPECT_EQ(q.error().status, 413);
  EXPECT_TRUE(q.error().drain);

  RequestParser r(limits);
  EXPECT_EQ(FeedAll(&r, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b')),
            Result::kComplete);
  EXPECT_EQ(r.request().body.size(), 100u);
}

TEST(RequestParserTest, PipelinedRequestsOneAfterAnother) {
  RequestParser p;
  std::string in =
      "GET /one HTTP/1.1\r\n\r\nPOST /two HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /three "
      "HTTP/1.1\r\n\r\n";
  std::vector<std::string> seen;
  while (p.Feed(&in) == Result::kComplete) {
    seen.push_back(p.request().path + ":" + p.request().body);
    p.Reset();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"/one:", "/two:hi", "/three:"}));
  EXPECT_TRUE(in.empty());
  EXPECT_FALSE(p.started());
}

TEST(RequestParserTest, StartedOnlyOnceARequestByteArrives) {
  RequestParser p;
  std::string in = "\r\n";
  EXPECT_EQ(p.Feed(&in), Result::kIncomplete);
  EXPECT_FALSE(p.started());
  in = "G";
  EXPECT_EQ(p.Feed(&in), Result::kIncomplete);
  EXPECT_TRUE(p.started());
}

TEST(ReasonPhraseTest, GosTexts) {
  EXPECT_STREQ(ReasonPhrase(200), "OK");
  EXPECT_STREQ(ReasonPhrase(422), "Unprocessable Entity");
  EXPECT_STREQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_STREQ(ReasonPhrase(799), "");
}

}  // namespace
}  // namespace csdr::apiserver::http
