// RequestParser: HTTP/1.1 requests read incrementally from the bytes a TLS connection yields.
//
// The server's own parser (see tls_server.h for why the server is our own): it is fed the
// connection's input buffer after every read, takes from its front what it has used, and says
// whether a whole request (head and body) is there. It keeps its place between calls, so a
// body that arrives in many reads is never scanned twice. Its limits and answers follow Go's
// net/http server, which kube-apiserver serves with:
//
//   request line and header fields  at most `max_header_bytes` (http.DefaultMaxHeaderBytes,
//                                   1 MiB): past it, 431 Request Header Fields Too Large;
//   Content-Length                  digits only, repeated values equal; over `max_body_bytes`
//                                   (kube-apiserver's 3 MiB for JSON): 413 before the body
//                                   is read;
//   Transfer-Encoding               "chunked" alone, decoded as it arrives; a body that grows
//                                   past `max_body_bytes`: 413; any other coding: 501;
//   request target                  origin form ("/path?query"), absolute form or "*"; the
//                                   path is percent-decoded, a bad escape is a 400;
//   version                         HTTP/1.0 and HTTP/1.1; HTTP/2's preface and others: 505.
//
// Header names are tokens and values have their surrounding blanks trimmed; a line folded
// onto the next (obsolete), a blank before the colon or a control byte is a 400, as in Go.
// Lines may end in CRLF or a bare LF. Empty lines before a request line are skipped.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace csdr::apiserver::http {

struct ParserLimits {
  size_t max_header_bytes = 1 << 20;
  size_t max_body_bytes = 3 * 1024 * 1024;
};

struct ParseError {
  int status = 400;  // 400, 413, 431, 501 or 505
  std::string message;
  // The body the client announced is too large but may still be arriving: the server answers,
  // then reads and discards what follows so that the client sees the answer.
  bool drain = false;
};

class RequestParser {
 public:
  enum class Result { kIncomplete, kComplete, kError };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Consumes from the front of `*in` what belongs to the request being read. kComplete: the
  // request is whole (request() holds it; what follows it stays in `*in`). kError: error()
  // says why; the connection cannot be read further. kIncomplete: more bytes are needed.
  Result Feed(std::string* in);

  httplib::Request& request() { return req_; }
  const ParseError& error() const { return error_; }
  // Whether the response may leave the connection open (HTTP/1.1 without "Connection: close",
  // or HTTP/1.0 with "Connection: keep-alive"). Valid once the head is parsed.
  bool keep_alive() const { return keep_alive_; }
  // The head asked for "100 Continue" before its body, and no body byte has come yet.
  bool expects_continue() const { return expect_continue_ && phase_ != Phase::kHead; }
  void continue_sent() { expect_continue_ = false; }
  // Whether any byte of a request has been seen (false between requests).
  bool started() const { return started_; }

  // Ready for the next request on the same connection.
  void Reset();

 private:
  enum class Phase { kHead, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailer, kDone };

  Result Fail(int status, std::string message, bool drain = false);
  Result ParseHead(std::string* in);
  Result ParseChunked(std::string* in);
  bool ParseRequestLine(std::string_view line);
  bool AddHeader(std::string_view line);

  // The header fields that frame the body, as they came.
  struct Framing {
    std::vector<std::string> content_lengths;
    size_t transfer_encodings = 0;
    std::string transfer_encoding;  // the first
    std::string connection;         // the first
    std::string expect;             // the first
  };

  ParserLimits limits_;
  Framing framing_;
  Phase phase_ = Phase::kHead;
  httplib::Request req_;
  ParseError error_;
  size_t scanned_ = 0;      // bytes of the head already searched for its end
  uint64_t remaining_ = 0;  // of a Content-Length body, or of the current chunk
  size_t trailer_bytes_ = 0;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool started_ = false;
};

// Go's url.PathUnescape: every '%' starts two hex digits; false on a bad escape.
bool PercentDecode(std::string_view in, std::string* out);

// Go's net/http.StatusText for the codes this server sends ("" for others).
const char* ReasonPhrase(int status);

}  // namespace csdr::apiserver::http
