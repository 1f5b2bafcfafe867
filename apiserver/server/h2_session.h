// http2::Session: the server side of one HTTP/2 connection, over Debian's libnghttp2.
//
// Bytes in, frames out, and nothing else: no socket, no thread, no TLS. The connection's event
// loop feeds it what SSL_read decrypted (Receive), takes what to send (Output) when the socket
// has room, and hears of each whole request through its Host; a response is submitted with a
// body the session pulls as the peer's flow-control windows allow (BodySource). One loop
// thread uses a session; nothing here locks.
//
// Settings and limits, as k8s.io/apiserver configures Go's http2.Server for kube-apiserver
// and aggregated servers:
//
//   SETTINGS_MAX_CONCURRENT_STREAMS   `max_concurrent_streams` (--http2-max-streams-per-
//                                     connection; 1000 as for aggregated servers, whose client
//                                     is kube-aggregator multiplexing watches)
//   SETTINGS_INITIAL_WINDOW_SIZE      256 KiB per stream (MaxUploadBufferPerStream), and the
//                                     connection's window that times the streams
//   SETTINGS_MAX_FRAME_SIZE           256 KiB (MaxReadFrameSize)
//   SETTINGS_MAX_HEADER_LIST_SIZE     1 MiB (http.DefaultMaxHeaderBytes): past it, 431
//   SETTINGS_HEADER_TABLE_SIZE        4,096 (HPACK's default; the decoder's table is held to it)
//   request bodies                    `max_body_bytes` (3 MiB): past it, 413 and the stream reset
//
// Refused, each by ending the connection with GOAWAY (what the peer may have in flight is
// dropped with it): what nghttp2 itself treats as a connection error (bad frames, HPACK
// errors, window overflows, CONTINUATION floods past 8 frames, unanswered PING or SETTINGS ACKs
// past 1,000 queued), and what this class counts on top, each ended with ENHANCE_YOUR_CALM:
// frames that ask work of the server and carry no request (PING, SETTINGS, PRIORITY, empty DATA,
// WINDOW_UPDATE of under 1 KiB, unknown types) beyond a budget of 1,000 plus 100 a second, and
// streams the peer resets (RST_STREAM: rapid reset) beyond a budget of its own, as large (set
// below nghttp2's own reset limit, which is loosened to twice ours, so that a rapid reset is
// told apart as a flood). docs/hardening.md lists which is whose.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct nghttp2_session;

namespace csdr::apiserver::http2 {

struct Limits {
  uint32_t max_concurrent_streams = 1000;
  uint32_t stream_window = 256 * 1024;
  uint32_t max_frame_size = 256 * 1024;
  uint32_t max_header_list_bytes = 1 << 20;
  uint32_t header_table_size = 4096;
  size_t max_body_bytes = 3 * 1024 * 1024;
  // Frames that carry no request (see above): `control_frame_burst` at once, then
  // `control_frames_per_second`.
  double control_frame_burst = 1000;
  double control_frames_per_second = 100;
  // RST_STREAM frames from the peer: `reset_burst` at once, then `resets_per_second`.
  double reset_burst = 1000;
  double resets_per_second = 100;
};

// A response body, pulled by the session as windows allow. Destroyed on the loop when its
// stream closes, whether or not it was read to its end.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Copies at most `max` bytes to `buf` and returns how many; sets *eof after the last ones.
  // 0 without eof: nothing is ready; the session waits for Session::Resume. -1: the body
  // cannot be completed (its producer failed): the stream is reset, so that the peer does not
  // take a cut body for a whole one.
  virtual int64_t Read(uint8_t* buf, size_t max, bool* eof) = 0;
};

// A body held whole.
class StringBody final : public BodySource {
 public:
  explicit StringBody(std::string body) : body_(std::move(body)) {}
  int64_t Read(uint8_t* buf, size_t max, bool* eof) override;

 private:
  std::string body_;
  size_t off_ = 0;
};

// Why a session ended its connection.
enum class Failure { kNone, kProtocol, kFlood };

class Session {
 public:
  class Host {
   public:
    virtual ~Host() = default;
    // Stream `id` brought a whole request (headers and body). Answer with Respond, now or
    // later; if the stream closes first, OnStreamClosed says so.
    virtual void OnRequest(int32_t id, httplib::Request&& request) = 0;
    // Stream `id`, whose request was passed to OnRequest, closed (answered, reset by the peer,
    // or the connection is ending). Its response may no longer be submitted.
    virtual void OnStreamClosed(int32_t id) = 0;
    // Stream `id` cannot be served (431, 413, 400): answer it with this status and message,
    // as the server answers such an HTTP/1.1 request (the stream then ends).
    virtual void OnBadRequest(int32_t id, int status, const std::string& message) = 0;
  };

  // The server's SETTINGS are queued at once (the first Output sends them).
  static std::unique_ptr<Session> Create(Host* host, const Limits& limits);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Takes what the peer sent, the client preface first. False: the connection is to end
  // (failure() says why); Output still yields what to send before it (a GOAWAY).
  bool Receive(const char* data, size_t len);
  // Appends frames to `out` until it holds at least `max` bytes or nothing is left to send.
  // False on an internal error (the connection is to end).
  bool Output(std::string* out, size_t max);

  // A response on stream `id`: the status, the header fields (hop-by-hop ones dropped, names
  // lowercased), and a body (null: none). Content-Length when `content_length` >= 0. HEAD:
  // pass a null body.
  void Respond(int32_t id, int status, const httplib::Headers& headers,
               std::unique_ptr<BodySource> body, int64_t content_length);
  // A body that returned 0 without eof has more ready.
  void Resume(int32_t id);
  // Ends stream `id` with RST_STREAM (INTERNAL_ERROR by default).
  void Reset(int32_t id, uint32_t error_code = 2);
  // Graceful shutdown in two steps (RFC 9113 6.8). Shutdown: a GOAWAY (NO_ERROR) naming stream
  // 2^31-1, so the peer opens no new streams here while those already on their way are still
  // taken and served. FinishShutdown, at least a round trip later: the GOAWAY naming the last
  // stream that came; the connection ends once the open ones are done. (A single GOAWAY naming
  // the last stream seen at once refuses the streams in flight, and a peer cannot retry those
  // whose body it has not kept: kube-aggregator answers them 503 "cannot rewind body".)
  void Shutdown();
  void FinishShutdown();
  bool ShutdownNoticed() const { return shutdown_phase_ == 1; }

  // Whether the connection still has something to do: streams open, or frames to send, and
  // the peer has not gone away.
  bool Alive() const;
  // Streams open (a request being read or answered).
  size_t OpenStreams() const;
  // A header block is being read (HEADERS without END_HEADERS yet, or the preface not whole).
  bool InHeaderBlock() const { return in_header_block_ || !preface_seen_; }
  Failure failure() const { return failure_; }
  // Requests passed to OnRequest so far.
  uint64_t requests() const { return requests_; }

 private:
  struct Stream;
  explicit Session(Host* host, const Limits& limits);
  static Session* From(void* user_data) { return static_cast<Session*>(user_data); }
  Stream* Find(int32_t id);
  // A token bucket; Take refills it for the time passed and takes one token if there is one.
  struct Budget {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
    bool Take(double burst, double per_second);
  };
  // One frame from `budget`; false (and the connection failed as a flood) when exhausted.
  bool Spend(Budget* budget, double burst, double per_second);
  bool SpendControl() {
    return Spend(&control_, limits_.control_frame_burst, limits_.control_frames_per_second);
  }
  void Fail(Failure why, uint32_t error_code);
  void Dispatch(Stream* s);
  void Refuse(Stream* s, int status, std::string message);

  friend struct Callbacks;  // nghttp2's callbacks (h2_session.cc)

  Host* host_;
  Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  Failure failure_ = Failure::kNone;
  bool in_header_block_ = false;
  bool preface_seen_ = false;
  int shutdown_phase_ = 0;  // 1: the notice is out; 2: the final GOAWAY too
  Budget control_;
  Budget resets_;
  uint64_t requests_ = 0;
};

// The request target of an HTTP/2 :path ("/path?query"), into `req` as the HTTP/1.1 parser
// sets it: target, the percent-decoded path and the query parameters. False when malformed.
bool SetTarget(std::string_view path, httplib::Request* req);

}  // namespace csdr::apiserver::http2
