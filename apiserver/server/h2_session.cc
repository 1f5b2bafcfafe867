#include "apiserver/server/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "apiserver/server/http_parser.h"

namespace csdr::apiserver::http2 {

namespace {

// A WINDOW_UPDATE that grants less than this is counted against the control-frame budget:
// clients that read (Go, nghttp2, curl) grant kilobytes at a time; a trickle of tiny grants
// makes the server cut its output into tiny DATA frames (CVE-2019-9511, "data dribble").
constexpr int32_t kSmallWindowUpdate = 1024;

bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection", "transfer-encoding", "keep-alive",
                                                "upgrade", "proxy-connection"};
  for (std::string_view n : kNames) {
    if (name.size() == n.size() &&
        std::equal(name.begin(), name.end(), n.begin(),
                   [](char a, char b) { return (a >= 'A' && a <= 'Z' ? a | 0x20 : a) == b; })) {
      return true;
    }
  }
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return out;
}

}  // namespace

int64_t StringBody::Read(uint8_t* buf, size_t max, bool* eof) {
  const size_t n = std::min(max, body_.size() - off_);
  std::memcpy(buf, body_.data() + off_, n);
  off_ += n;
  *eof = off_ == body_.size();
  if (*eof) {  // what was sent is not held while the stream drains
    std::string().swap(body_);
    off_ = 0;
  }
  return static_cast<int64_t>(n);
}

bool SetTarget(std::string_view path, httplib::Request* req) {
  if (path.empty() || path.front() != '/' ||
      std::any_of(path.begin(), path.end(),
                  [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    return false;
  }
  req->target = std::string(path);
  return http::PercentDecode(path.substr(0, path.find('?')), &req->path);
}

struct Session::Stream {
  int32_t id = 0;
  httplib::Request request;
  std::string path;
  std::string authority;
  size_t header_bytes = 0;
  bool header_too_large = false;
  bool refused = false;     // answered with an error by the session
  bool dispatched = false;  // passed to Host::OnRequest
  std::unique_ptr<BodySource> body;
};

// nghttp2's callbacks, with its types; each finds its Session in user_data.
struct Callbacks {
  static int OnBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    Session* self = Session::From(user_data);
    self->preface_seen_ = true;
    // Frame types nghttp2 knows nothing of are skipped by it, and cost a token here.
    if (hd->type > NGHTTP2_CONTINUATION && !self->SpendControl()) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (hd->type == NGHTTP2_HEADERS)
      self->in_header_block_ = (hd->flags & NGHTTP2_FLAG_END_HEADERS) == 0;
    return 0;
  }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session* self = Session::From(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto stream = std::make_unique<Session::Stream>();
    stream->id = frame->hd.stream_id;
    stream->request.version = "HTTP/2.0";
    self->streams_[stream->id] = std::move(stream);
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* user_data) {
    Session* self = Session::From(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;  // trailers are not read
    }
    Session::Stream* s = self->Find(frame->hd.stream_id);
    if (s == nullptr || s->header_too_large) return 0;
    // RFC 9113 6.5.2: each field counts its name, its value and 32.
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > self->limits_.max_header_list_bytes) {
      s->header_too_large = true;
      s->request.headers.clear();
      return 0;
    }
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    // nghttp2 has checked the fields (HTTP messaging): pseudo-headers first, once each, the
    // ones a request needs present, names lowercase, no connection-specific fields.
    if (n == ":method") {
      s->request.method = std::string(v);
    } else if (n == ":path") {
      s->path = std::string(v);
    } else if (n == ":authority") {
      s->authority = std::string(v);
    } else if (!n.empty() && n.front() != ':') {
      s->request.headers.emplace(std::string(n), std::string(v));
    }
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session* self = Session::From(user_data);
    const auto& hd = frame->hd;
    switch (hd.type) {
      case NGHTTP2_HEADERS:
        if ((hd.flags & NGHTTP2_FLAG_END_HEADERS) != 0) self->in_header_block_ = false;
        break;
      case NGHTTP2_CONTINUATION:
        if ((hd.flags & NGHTTP2_FLAG_END_HEADERS) != 0) self->in_header_block_ = false;
        break;
      case NGHTTP2_DATA:
        if (hd.length == 0 && (hd.flags & NGHTTP2_FLAG_END_STREAM) == 0 && !self->SpendControl()) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_PING:
        if ((hd.flags & NGHTTP2_FLAG_ACK) == 0 && !self->SpendControl()) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      case NGHTTP2_SETTINGS:
        if ((hd.flags & NGHTTP2_FLAG_ACK) == 0 && !self->SpendControl()) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      case NGHTTP2_RST_STREAM:
        if (!self->Spend(&self->resets_, self->limits_.reset_burst,
                         self->limits_.resets_per_second)) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      case NGHTTP2_PRIORITY:
        if (!self->SpendControl()) return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
      case NGHTTP2_WINDOW_UPDATE:
        if (frame->window_update.window_size_increment < kSmallWindowUpdate &&
            !self->SpendControl()) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      default:
        return 0;
    }
    Session::Stream* s = self->Find(hd.stream_id);
    if (s == nullptr) return 0;
    const bool end_stream = (hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (hd.type != NGHTTP2_DATA && (hd.flags & NGHTTP2_FLAG_END_HEADERS) != 0 && !s->refused &&
        !s->dispatched) {
      if (s->header_too_large) {
        self->Refuse(s, 431, "request header fields too large");
      } else if (!SetTarget(s->path, &s->request)) {
        self->Refuse(s, 400, "malformed request target");
      }
    }
    if (end_stream && !s->refused && !s->dispatched) self->Dispatch(s);
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t /*flags*/, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user_data) {
    Session* self = Session::From(user_data);
    Session::Stream* s = self->Find(stream_id);
    if (s == nullptr || s->refused || s->dispatched) return 0;
    if (s->request.body.size() + len > self->limits_.max_body_bytes) {
      std::string().swap(s->request.body);
      self->Refuse(s, 413,
                   "the request body is larger than " +
                       std::to_string(self->limits_.max_body_bytes) + " bytes");
      return 0;
    }
    s->request.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t /*error_code*/,
                           void* user_data) {
    Session* self = Session::From(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    std::unique_ptr<Session::Stream> s = std::move(it->second);
    self->streams_.erase(it);
    if (s->dispatched) self->host_->OnStreamClosed(stream_id);
    return 0;  // s and its body go here, on the loop
  }

  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session* self = Session::From(user_data);
    // A GOAWAY with an error that nghttp2 sent itself (a protocol error, RST_STREAM past its
    // rate limit): the connection ends once it is out, whatever the peer still sends.
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        self->failure_ == Failure::kNone) {
      self->failure_ = Failure::kProtocol;
    }
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t /*stream_id*/, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<Session::Stream*>(source->ptr);
    if (s->body == nullptr) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    bool eof = false;
    const int64_t n = s->body->Read(buf, length, &eof);
    if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    if (eof) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    }
    return n == 0 ? static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED) : static_cast<ssize_t>(n);
  }
};

Session::Session(Host* host, const Limits& limits)
    : host_(host),
      limits_(limits),
      control_{limits.control_frame_burst, std::chrono::steady_clock::now()},
      resets_{limits.reset_burst, std::chrono::steady_clock::now()} {}

Session::~Session() {
  // Bodies are destroyed before the session that could still call into them.
  streams_.clear();
  if (session_ != nullptr) nghttp2_session_del(session_);
}

std::unique_ptr<Session> Session::Create(Host* host, const Limits& limits) {
  std::unique_ptr<Session> self(new Session(host, limits));
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
    if (cbs != nullptr) nghttp2_session_callbacks_del(cbs);
    return nullptr;
  }
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::OnBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::OnFrameSend);
  // Closed streams are forgotten at once (they only served RFC 7540's priority tree).
  nghttp2_option_set_no_closed_streams(opt, 1);
  // nghttp2's own RST_STREAM limit (Debian's backport of the rapid-reset fix; 1,000 then 33 a
  // second by default) is set to twice ours, so that ours ends a rapid reset first and it is
  // counted as the flood it is; nghttp2's stays as a backstop.
  nghttp2_option_set_stream_reset_rate_limit(
      opt, static_cast<uint64_t>(2 * limits.reset_burst),
      static_cast<uint64_t>(std::max(1.0, 2 * limits.resets_per_second)));
  // Our HPACK encoder's table stays at the default 4 KiB whatever the peer allows.
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  const int rv = nghttp2_session_server_new2(&self->session_, cbs, self.get(), opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rv != 0) return nullptr;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, limits.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_bytes},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits.header_table_size},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(self->session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof(settings) / sizeof(settings[0])) != 0) {
    return nullptr;
  }
  // The connection's window: a full stream window for every stream, as kube-apiserver sizes
  // MaxUploadBufferPerConnection.
  const uint64_t window =
      std::min<uint64_t>(static_cast<uint64_t>(limits.stream_window) *
                             std::max<uint32_t>(limits.max_concurrent_streams, 1),
                         NGHTTP2_MAX_WINDOW_SIZE);
  nghttp2_session_set_local_window_size(self->session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(window));
  return self;
}

Session::Stream* Session::Find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool Session::Budget::Take(double burst, double per_second) {
  const auto now = std::chrono::steady_clock::now();
  tokens =
      std::min(burst, tokens + std::chrono::duration<double>(now - refilled).count() * per_second);
  refilled = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

bool Session::Spend(Budget* budget, double burst, double per_second) {
  if (budget->Take(burst, per_second)) return true;
  Fail(Failure::kFlood, NGHTTP2_ENHANCE_YOUR_CALM);
  return false;
}

void Session::Fail(Failure why, uint32_t error_code) {
  if (failure_ == Failure::kNone || failure_ == Failure::kProtocol) failure_ = why;
  nghttp2_session_terminate_session(session_, error_code);
}

void Session::Dispatch(Stream* s) {
  if (s->request.get_header_value("host").empty() && !s->authority.empty()) {
    s->request.headers.emplace("host", s->authority);
  }
  s->dispatched = true;
  ++requests_;
  host_->OnRequest(s->id, std::move(s->request));
  s->request = httplib::Request();
}

void Session::Refuse(Stream* s, int status, std::string message) {
  s->refused = true;
  s->dispatched = true;  // the host answers it and hears of its close
  host_->OnBadRequest(s->id, status, message);
}

bool Session::Receive(const char* data, size_t len) {
  if (failure_ != Failure::kNone && failure_ != Failure::kProtocol) return false;
  const ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  if (n < 0) {
    if (n == NGHTTP2_ERR_FLOODED) {
      failure_ = Failure::kFlood;  // nghttp2 has queued its GOAWAY
    } else if (failure_ == Failure::kNone) {
      failure_ = Failure::kProtocol;
      if (n != NGHTTP2_ERR_CALLBACK_FAILURE) {
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      }
    }
    return false;
  }
  return failure_ == Failure::kNone;
}

bool Session::Output(std::string* out, size_t max) {
  while (out->size() < max) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) break;
    out->append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return true;
}

void Session::Respond(int32_t id, int status, const httplib::Headers& headers,
                      std::unique_ptr<BodySource> body, int64_t content_length) {
  Stream* s = Find(id);
  if (s == nullptr) return;  // closed meanwhile: the body goes now
  // Names lowercased (RFC 9113 8.2.2), kept alive until nghttp2 has copied them.
  std::vector<std::pair<std::string, const std::string*>> fields;
  fields.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    if (IsHopByHop(name)) continue;
    std::string lower = Lower(name);
    if (lower != "content-length") fields.emplace_back(std::move(lower), &value);
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 2);
  auto add = [&nva](std::string_view n, std::string_view v) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  const std::string status_text = std::to_string(status);
  add(":status", status_text);
  for (const auto& [name, value] : fields) add(name, *value);
  std::string length_text;
  if (content_length >= 0) {
    length_text = std::to_string(content_length);
    add("content-length", length_text);
  }
  s->body = std::move(body);
  nghttp2_data_provider provider{};
  provider.source.ptr = s;
  provider.read_callback = &Callbacks::ReadBody;
  if (nghttp2_submit_response(session_, id, nva.data(), nva.size(),
                              s->body != nullptr ? &provider : nullptr) != 0) {
    s->body.reset();
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  }
}

void Session::Resume(int32_t id) {
  if (Find(id) != nullptr) nghttp2_session_resume_data(session_, id);
}

void Session::Reset(int32_t id, uint32_t error_code) {
  if (Find(id) != nullptr) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
  }
}

void Session::Shutdown() {
  if (shutdown_phase_ != 0) return;
  shutdown_phase_ = 1;
  nghttp2_submit_shutdown_notice(session_);
}

void Session::FinishShutdown() {
  if (shutdown_phase_ == 2) return;
  shutdown_phase_ = 2;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

bool Session::Alive() const {
  if (shutdown_phase_ == 1 && failure_ == Failure::kNone) return true;  // until the final GOAWAY
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

size_t Session::OpenStreams() const { return streams_.size(); }

}  // namespace csdr::apiserver::http2
