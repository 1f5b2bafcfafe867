#include "apiserver/server/http_parser.h"

#include <algorithm>
#include <string_view>

namespace csdr::apiserver::http {
namespace {

// RFC 9110 tchar.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return IsTokenChar(c); });
}

// ASCII case-insensitive equality (`b` is a token of letters, digits and '-').
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const bool letter = (y | 0x20) >= 'a' && (y | 0x20) <= 'z';
           return letter ? (x | 0x20) == (y | 0x20) : x == y;
         });
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The next line of `s` from `*pos`, without its LF or CRLF; false when no LF follows.
bool NextLine(std::string_view s, size_t* pos, std::string_view* line) {
  const size_t lf = s.find('\n', *pos);
  if (lf == std::string_view::npos) return false;
  size_t end = lf;
  if (end > *pos && s[end - 1] == '\r') --end;
  *line = s.substr(*pos, end - *pos);
  *pos = lf + 1;
  return true;
}

}  // namespace

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

void RequestParser::Reset() {
  phase_ = Phase::kHead;
  req_ = httplib::Request();
  framing_ = Framing();
  error_ = ParseError();
  scanned_ = 0;
  remaining_ = 0;
  trailer_bytes_ = 0;
  keep_alive_ = true;
  expect_continue_ = false;
  started_ = false;
}

RequestParser::Result RequestParser::Fail(int status, std::string message, bool drain) {
  error_.status = status;
  error_.message = std::move(message);
  error_.drain = drain;
  keep_alive_ = false;
  return Result::kError;
}

RequestParser::Result RequestParser::Feed(std::string* in) {
  if (phase_ == Phase::kHead) {
    Result r = ParseHead(in);
    if (r != Result::kComplete) return r;
  }
  if (phase_ == Phase::kFixedBody) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, in->size()));
    if (take > 0) expect_continue_ = false;
    req_.body.append(*in, 0, take);
    in->erase(0, take);
    remaining_ -= take;
    if (remaining_ > 0) return Result::kIncomplete;
    phase_ = Phase::kDone;
  }
  if (phase_ != Phase::kDone) {
    Result r = ParseChunked(in);
    if (r != Result::kComplete) return r;
  }
  return Result::kComplete;
}

RequestParser::Result RequestParser::ParseHead(std::string* in) {
  if (!started_) {
    // RFC 9112 2.2: empty lines before the request line are ignored.
    size_t skip = 0;
    while (skip < in->size() && ((*in)[skip] == '\r' || (*in)[skip] == '\n')) ++skip;
    in->erase(0, skip);
    if (in->empty()) return Result::kIncomplete;
    started_ = true;
  }
  // The head ends at the first empty line: "\n\n" or "\n\r\n".
  size_t end = std::string::npos;
  for (size_t i = scanned_ > 2 ? scanned_ - 2 : 0; i < in->size(); ++i) {
    if ((*in)[i] != '\n') continue;
    if (i + 1 < in->size() && (*in)[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < in->size() && (*in)[i + 1] == '\r' && (*in)[i + 2] == '\n') {
      end = i + 3;
      break;
    }
  }
  // The request line and fields may take max_header_bytes, and the empty line that ends
  // them 4 more; the answer is the same however the bytes arrive.
  const size_t limit = limits_.max_header_bytes + 4;
  if (end == std::string::npos) {
    scanned_ = in->size();
    if (in->size() >= limit) {  // the end, when it comes, is past the limit
      return Fail(431, "request header fields too large: limit is 1048576 bytes");
    }
    return Result::kIncomplete;
  }
  if (end > limit) {
    return Fail(431, "request header fields too large: limit is 1048576 bytes");
  }
  const std::string_view head(in->data(), end);
  size_t pos = 0;
  std::string_view line;
  NextLine(head, &pos, &line);
  if (!ParseRequestLine(line)) return Result::kError;
  while (NextLine(head, &pos, &line) && !line.empty()) {
    if (!AddHeader(line)) return Result::kError;
  }
  in->erase(0, end);

  // Framing of the body (RFC 9112 6), from the fields AddHeader noted.
  const bool http10 = req_.version == "HTTP/1.0";
  const std::string_view connection = framing_.connection;
  auto has_token = [&](std::string_view token) {
    std::string_view rest = connection;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      if (EqualsIgnoreCase(TrimBlanks(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return false;
  };
  keep_alive_ = http10 ? has_token("keep-alive") : !has_token("close");
  expect_continue_ = !http10 && EqualsIgnoreCase(framing_.expect, "100-continue");

  if (framing_.transfer_encodings > 0) {
    if (http10) return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (framing_.transfer_encodings != 1 ||
        !EqualsIgnoreCase(TrimBlanks(framing_.transfer_encoding), "chunked")) {
      return Fail(501, "unsupported transfer encoding: " + framing_.transfer_encoding);
    }
    // Chunked framing wins over a Content-Length (RFC 9112 6.3), which is dropped.
    req_.headers.erase("Content-Length");
    phase_ = Phase::kChunkSize;
    return Result::kComplete;
  }
  const size_t lengths = framing_.content_lengths.size();
  if (lengths == 0) {
    phase_ = Phase::kDone;
    expect_continue_ = false;
    return Result::kComplete;
  }
  uint64_t length = 0;
  for (size_t i = 0; i < lengths; ++i) {
    const std::string value(TrimBlanks(framing_.content_lengths[i]));
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Fail(400, "bad Content-Length " + value);
    }
    const uint64_t v = std::stoull(value);
    if (i > 0 && v != length) return Fail(400, "conflicting Content-Length values");
    length = v;
  }
  if (length > limits_.max_body_bytes) {
    return Fail(413, "Request entity too large: limit is 3145728", /*drain=*/true);
  }
  req_.body.reserve(static_cast<size_t>(length));
  remaining_ = length;
  phase_ = length > 0 ? Phase::kFixedBody : Phase::kDone;
  if (length == 0) expect_continue_ = false;
  return Result::kComplete;
}

bool RequestParser::ParseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    Fail(400, "malformed request line");
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    Fail(400, "malformed request method");
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/") {
      Fail(505, "unsupported protocol version " + std::string(version));
    } else {
      Fail(400, "malformed HTTP version");
    }
    return false;
  }
  if (target.empty() || std::any_of(target.begin(), target.end(),
                                    [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    Fail(400, "malformed request target");
    return false;
  }
  req_.method = std::string(method);
  req_.version = std::string(version);
  req_.target = std::string(target);
  std::string_view path_and_query = target;
  if (target != "*" && target.front() != '/') {
    // Absolute form: scheme://authority/path?query.
    const size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) {
      Fail(400, "malformed request target");
      return false;
    }
    const size_t slash = target.find('/', scheme + 3);
    path_and_query = slash == std::string_view::npos ? "/" : target.substr(slash);
    req_.target = std::string(path_and_query);
  }
  const std::string_view path = path_and_query.substr(0, path_and_query.find('?'));
  if (!PercentDecode(path, &req_.path)) {
    Fail(400, "invalid URL escape in " + std::string(path));
    return false;
  }
  return true;
}

bool RequestParser::AddHeader(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(400, "malformed MIME header: folded line");
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    Fail(400, "malformed MIME header line: " + std::string(line.substr(0, 64)));
    return false;
  }
  const std::string_view value = TrimBlanks(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(),
                  [](unsigned char c) { return (c < ' ' && c != '\t') || c == 0x7f; })) {
    Fail(400, "invalid header field value");
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  // The fields that frame the body, noted here so that no lookup in the (case-insensitive,
  // char-by-char) header map is needed for them.
  if (EqualsIgnoreCase(name, "Content-Length")) {
    framing_.content_lengths.emplace_back(value);
  } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
    if (framing_.transfer_encodings++ == 0) framing_.transfer_encoding = std::string(value);
  } else if (EqualsIgnoreCase(name, "Connection")) {
    if (framing_.connection.empty()) framing_.connection = std::string(value);
  } else if (EqualsIgnoreCase(name, "Expect")) {
    if (framing_.expect.empty()) framing_.expect = std::string(value);
  }
  req_.headers.emplace(std::string(name), std::string(value));
  return true;
}

RequestParser::Result RequestParser::ParseChunked(std::string* in) {
  size_t pos = 0;
  Result result = Result::kIncomplete;
  while (result == Result::kIncomplete) {
    if (phase_ == Phase::kChunkData) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, in->size() - pos));
      if (take == 0) break;
      expect_continue_ = false;
      req_.body.append(*in, pos, take);
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) phase_ = Phase::kChunkDataEnd;
      continue;
    }
    const size_t line_start = pos;
    std::string_view line;
    if (!NextLine(*in, &pos, &line)) {
      pos = line_start;
      // A size or trailer line never needs more than a few KiB.
      if (in->size() - pos > 4096) result = Fail(400, "chunk line too long");
      break;
    }
    if (phase_ == Phase::kChunkDataEnd) {
      if (!line.empty()) result = Fail(400, "malformed chunked encoding: no CRLF after chunk data");
      phase_ = Phase::kChunkSize;
    } else if (phase_ == Phase::kChunkSize) {
      expect_continue_ = false;
      const std::string_view size = TrimBlanks(line.substr(0, line.find(';')));
      uint64_t n = 0;
      bool ok = !size.empty() && size.size() <= 15;
      for (char c : size) {
        const int v = HexValue(c);
        ok = ok && v >= 0;
        n = n * 16 + static_cast<uint64_t>(std::max(v, 0));
      }
      if (!ok) {
        result = Fail(400, "malformed chunked encoding: invalid chunk size");
      } else if (req_.body.size() + n > limits_.max_body_bytes) {
        result = Fail(413, "Request entity too large: limit is 3145728", /*drain=*/true);
      } else if (n == 0) {
        phase_ = Phase::kTrailer;
      } else {
        req_.body.reserve(req_.body.size() + static_cast<size_t>(n));
        remaining_ = n;
        phase_ = Phase::kChunkData;
      }
    } else {  // kTrailer: fields until an empty line, ignored
      trailer_bytes_ += line.size();
      if (line.empty()) {
        phase_ = Phase::kDone;
        result = Result::kComplete;
      } else if (trailer_bytes_ > limits_.max_header_bytes) {
        result = Fail(431, "request header fields too large: limit is 1048576 bytes");
      }
    }
  }
  in->erase(0, pos);
  return result;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

}  // namespace csdr::apiserver::http
