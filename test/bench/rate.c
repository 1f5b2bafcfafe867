// rate: the suite's open-loop client for latency at a fixed rate (the webhook's p50/p99 at
// 1,000 reviews/s). It sends POSTs over C keep-alive TLS connections, one thread each; request
// i is due at start + i/RPS, and its latency counts from when it was due to the last byte of
// its answer, so a stall shows up in the percentiles instead of slowing the load (no
// coordinated omission).
//
// Why not the Go load client: its timers wake through the runtime's poller, which on an idle
// process comes up to a millisecond late, and that lateness lands in every latency it counts
// from a due time (p50 0.7 ms for a fixed answer on loopback). Here each thread sleeps with a
// 1 ns timer slack until shortly before its request is due and yields the CPU until then; the
// report gives how late each request went out (send_late_*), so the client's own share can be
// read off.
//
// Usage: rate HOST PORT PATH RPS SECONDS CONNECTIONS BODY_FILE[,BODY_FILE...]
// Prints one JSON object on stdout: requests, rate, p50/p90/p99/p999/max_ms of latency,
// send_late_p50/p99_ms, the status codes, the first failed answer, client_cpu_s.
// RATE_PERCENTILES=1 also prints p90 to p99.5 in steps of 0.5 to stderr (development).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBufSize = 1 << 16, kMaxBodies = 16 };
static const int64_t kSpinNs = 200 * 1000;  // yield instead of sleeping this close to a due time

static const char* g_host;
static int g_port;
static SSL_CTX* g_ctx;
static char* g_requests[kMaxBodies];
static size_t g_request_len[kMaxBodies];
static int g_bodies;
static int64_t g_start, g_interval;
static long g_total;
static atomic_long g_next;
static int64_t* g_latency;  // ns from due to answer, per request
static int64_t* g_late;     // ns from due to send, per request
static int* g_code;         // HTTP status per request; 0 for a transport error
static pthread_mutex_t g_error_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_first_error[512];

static void die(const char* what) {
  fprintf(stderr, "rate: %s: %s\n", what, errno != 0 ? strerror(errno) : "failed");
  ERR_print_errors_fp(stderr);
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wait_until(int64_t due) {
  for (;;) {
    const int64_t now = now_ns();
    if (now >= due) return;
    if (due - now > kSpinNs) {
      const int64_t wake = due - kSpinNs;
      const struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } else {
      sched_yield();
    }
  }
}

static void note_error(const char* text, size_t len) {
  pthread_mutex_lock(&g_error_mu);
  if (g_first_error[0] == '\0') {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof g_first_error; ++i) {
      const char c = text[i];
      g_first_error[n++] = (c == '"' || c == '\\' || (unsigned char)c < 0x20) ? ' ' : c;
    }
    g_first_error[n] = '\0';
  }
  pthread_mutex_unlock(&g_error_mu);
}

struct conn {
  SSL* ssl;
  int fd;
  size_t have;
  char buf[kBufSize];
};

static int conn_open(struct conn* c) {
  c->have = 0;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return -1;
  const int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  if (inet_pton(AF_INET, g_host, &addr.sin_addr) != 1) die("HOST is not an IPv4 address");
  if (connect(c->fd, (struct sockaddr*)&addr, sizeof addr) != 0) return -1;
  c->ssl = SSL_new(g_ctx);
  if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) return -1;
  return 0;
}

static void conn_close(struct conn* c) {
  if (c->ssl != NULL) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd);
  c->ssl = NULL;
  c->fd = -1;
}

// Reads until the buffer holds at least n bytes; -1 on a closed or broken connection.
static int fill(struct conn* c, size_t n) {
  if (n > kBufSize) return -1;
  while (c->have < n) {
    const int got = SSL_read(c->ssl, c->buf + c->have, (int)(kBufSize - c->have));
    if (got <= 0) return -1;
    c->have += (size_t)got;
  }
  return 0;
}

// Drops the first n bytes of the buffer (an answer that has been read).
static void consume(struct conn* c, size_t n) {
  memmove(c->buf, c->buf + n, c->have - n);
  c->have -= n;
}

// Position just past the next CRLF at or after from, reading more as needed; 0 on failure.
static size_t line_end(struct conn* c, size_t from) {
  for (;;) {
    for (size_t i = from; i + 1 < c->have; ++i) {
      if (c->buf[i] == '\r' && c->buf[i + 1] == '\n') return i + 2;
    }
    if (fill(c, c->have + 1) != 0) return 0;
  }
}

// Reads one HTTP/1.1 answer (Content-Length or chunked); returns its status, 0 on failure.
static int read_answer(struct conn* c) {
  size_t head_end = 0;
  for (size_t pos = 0;;) {
    const size_t next = line_end(c, pos);
    if (next == 0) return 0;
    if (next == pos + 2) {
      head_end = next;
      break;
    }
    pos = next;
  }
  int status = 0;
  if (head_end < 12 || strncmp(c->buf, "HTTP/1.1 ", 9) != 0) return 0;
  status = atoi(c->buf + 9);
  long length = -1;
  int chunked = 0;
  for (size_t pos = 0; pos < head_end;) {
    const char* line = c->buf + pos;
    const char* eol = memchr(line, '\r', head_end - pos);
    if (strncasecmp(line, "content-length:", 15) == 0) length = strtol(line + 15, NULL, 10);
    if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
        memmem(line, (size_t)(eol - line), "chunked", 7) != NULL)
      chunked = 1;
    pos = (size_t)(eol - c->buf) + 2;
  }
  size_t answer_end = head_end;  // the chunked body's framing is kept in a failure's text
  if (chunked) {
    for (size_t pos = head_end;;) {
      const size_t next = line_end(c, pos);
      if (next == 0) return 0;
      const long size = strtol(c->buf + pos, NULL, 16);
      if (size < 0 || fill(c, next + (size_t)size + 2) != 0) return 0;
      answer_end = next + (size_t)size + 2;
      if (size == 0) break;  // the last chunk; no trailers expected
      pos = answer_end;
    }
  } else {
    if (length < 0 || fill(c, head_end + (size_t)length) != 0) return 0;
    answer_end = head_end + (size_t)length;
  }
  if (status / 100 != 2) note_error(c->buf, answer_end);
  consume(c, answer_end);
  return status;
}

static int exchange(struct conn* c, int body) {
  if (SSL_write(c->ssl, g_requests[body], (int)g_request_len[body]) <= 0) return 0;
  return read_answer(c);
}

static void* worker(void* arg) {
  struct conn* c = arg;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  for (;;) {
    const long i = atomic_fetch_add(&g_next, 1);
    if (i >= g_total) break;
    const int64_t due = g_start + i * g_interval;
    wait_until(due);
    const int64_t sent = now_ns();
    if (c->ssl == NULL && conn_open(c) != 0) conn_close(c);
    int code = c->ssl != NULL ? exchange(c, (int)(i % g_bodies)) : 0;
    if (code == 0) {
      note_error("transport error", 15);
      conn_close(c);
    }
    g_latency[i] = now_ns() - due;
    g_late[i] = sent - due;
    g_code[i] = code;
  }
  return NULL;
}

static char* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) die(path);
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* data = malloc((size_t)n + 1);
  if (data == NULL || fread(data, 1, (size_t)n, f) != (size_t)n) die(path);
  fclose(f);
  *len = (size_t)n;
  return data;
}

static int cmp64(const void* a, const void* b) {
  const int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

// The Go client's percentile: the sample at p * (n - 1), in ms with µs resolution.
static double pct_ms(const int64_t* sorted, long n, double p) {
  if (n == 0) return 0;
  return (double)(sorted[(long)(p * (double)(n - 1))] / 1000) / 1000.0;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: rate HOST PORT PATH RPS SECONDS CONNECTIONS BODY_FILE[,...]\n");
    return 2;
  }
  g_host = argv[1];
  g_port = atoi(argv[2]);
  const char* path = argv[3];
  const double rps = atof(argv[4]), seconds = atof(argv[5]);
  const int conns = atoi(argv[6]);
  if (g_port <= 0 || rps <= 0 || seconds <= 0 || conns <= 0) {
    fprintf(stderr, "rate: PORT, RPS, SECONDS and CONNECTIONS must be positive\n");
    return 2;
  }
  for (char* file = strtok(argv[7], ","); file != NULL && g_bodies < kMaxBodies;
       file = strtok(NULL, ",")) {
    size_t body_len = 0;
    char* body = read_file(file, &body_len);
    char head[512];
    const int head_len = snprintf(head, sizeof head,
                                  "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                                  "application/json\r\nAccept: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n",
                                  path, g_host, g_port, body_len);
    g_requests[g_bodies] = malloc((size_t)head_len + body_len);
    memcpy(g_requests[g_bodies], head, (size_t)head_len);
    memcpy(g_requests[g_bodies] + head_len, body, body_len);
    g_request_len[g_bodies++] = (size_t)head_len + body_len;
    free(body);
  }
  g_ctx = SSL_CTX_new(TLS_client_method());
  if (g_ctx == NULL) die("SSL_CTX_new");
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);  // loopback benchmark, as `load`

  g_total = (long)(rps * seconds);
  g_interval = (int64_t)(1e9 / rps);
  g_latency = calloc((size_t)g_total, sizeof *g_latency);
  g_late = calloc((size_t)g_total, sizeof *g_late);
  g_code = calloc((size_t)g_total, sizeof *g_code);
  struct conn* cs = calloc((size_t)conns, sizeof *cs);
  pthread_t* threads = calloc((size_t)conns, sizeof *threads);
  if (!g_latency || !g_late || !g_code || !cs || !threads) die("calloc");
  for (int k = 0; k < conns; ++k) {  // connect and warm: one answered request each
    cs[k].fd = -1;
    if (conn_open(&cs[k]) != 0 || exchange(&cs[k], 0) == 0) die("connect and warm up");
  }
  g_first_error[0] = '\0';

  const double cpu0 = cpu_seconds();
  g_start = now_ns() + 10 * 1000 * 1000;  // 10 ms for the threads to start
  for (int k = 0; k < conns; ++k) pthread_create(&threads[k], NULL, worker, &cs[k]);
  for (int k = 0; k < conns; ++k) pthread_join(threads[k], NULL);
  const double wall = (double)(now_ns() - g_start) / 1e9;
  const double cpu = cpu_seconds() - cpu0;

  long codes[600] = {0};
  for (long i = 0; i < g_total; ++i) codes[g_code[i] >= 0 && g_code[i] < 600 ? g_code[i] : 0]++;
  qsort(g_latency, (size_t)g_total, sizeof *g_latency, cmp64);
  qsort(g_late, (size_t)g_total, sizeof *g_late, cmp64);
  printf(
      "{\"requests\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"send_late_p50_ms\":%.3f,"
      "\"send_late_p99_ms\":%.3f,\"client_cpu_s\":%.3f,\"first_error\":\"%s\",\"codes\":{",
      g_total, wall, (double)g_total / wall, pct_ms(g_latency, g_total, 0.50),
      pct_ms(g_latency, g_total, 0.90), pct_ms(g_latency, g_total, 0.99),
      pct_ms(g_latency, g_total, 0.999), pct_ms(g_latency, g_total, 1),
      pct_ms(g_late, g_total, 0.50), pct_ms(g_late, g_total, 0.99), cpu, g_first_error);
  if (getenv("RATE_PERCENTILES") != NULL) {
    for (double q = 0.90; q < 0.9999; q += 0.005)
      fprintf(stderr, "p%.1f %.3f  ", q * 100, pct_ms(g_latency, g_total, q));
    fprintf(stderr, "\n");
  }
  const char* sep = "";
  for (int code = 0; code < 600; ++code) {
    if (codes[code] == 0) continue;
    printf("%s\"%d\":%ld", sep, code, codes[code]);
    sep = ",";
  }
  printf("}}\n");
  return 0;
}
