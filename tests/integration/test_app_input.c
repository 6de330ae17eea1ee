/*
 * Integration tests of the application library: hostile and broken input,
 * the limits on params and bodies, bodies spilled to disk, and large
 * output to a web server that reads slowly.
 */
#include <dirent.h>

#include "integration/harness.h"

static ts_counter counter;
static const fk_allocator counting = {ts_malloc, ts_realloc, ts_free, &counter};

/* Connects, sends n raw bytes, and expects the server to close the
 * connection without sending anything. */
static int closed_silently(ts_server *t, const void *bytes, size_t n) {
  tc_conn c;
  if (!ts_connect(t, &c))
    return 0;
  int ok =
      tc_send(&c, bytes, n) == 0 && tc_wait_closed(&c, TS_WAIT) && c.nev == 1;
  if (!ok)
    tc_dump(&c, "a connection that should have been closed");
  tc_close(&c);
  return ok;
}

/* Appends a record to a byte array. */
static size_t put_record(uint8_t *out, unsigned type, unsigned id,
                         const void *content, size_t len) {
  size_t pad = fk_padding_for(len);
  fk_header_encode(out, type, id, len, pad);
  memcpy(out + FK_HEADER_LEN, content, len);
  memset(out + FK_HEADER_LEN + len, 0, pad);
  return FK_HEADER_LEN + len + pad;
}

/* --- 9. Protocol errors: the connection closes, the server carries on ---- */

static void test_protocol_errors(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ALL_ROLES);
  uint8_t buf[256];
  size_t n;
  uint8_t params[64];
  const char *pairs[] = {"T=echo", NULL};
  size_t plen;
  uint8_t *p = tc_pairs(pairs, &plen);
  memcpy(params, p, plen);
  free(p);

  /* A wrong version byte. */
  n = fk_encode_begin_request(buf, 1, FK_RESPONDER, 0);
  buf[0] = 2;
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* BEGIN_REQUEST with 7 content bytes (spec 5.1: exactly 8). */
  n = put_record(buf, FK_BEGIN_REQUEST, 1, "\0\1\0\0\0\0\0", 7);
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* BEGIN_REQUEST with request id 0. */
  n = fk_encode_begin_request(buf, 0, FK_RESPONDER, 0);
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* A second BEGIN_REQUEST for an active id. */
  n = fk_encode_begin_request(buf, 1, FK_RESPONDER, FK_KEEP_CONN);
  n += fk_encode_begin_request(buf + n, 1, FK_RESPONDER, FK_KEEP_CONN);
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* STDIN before the end of PARAMS (spec 6.1: inputs in order). */
  n = fk_encode_begin_request(buf, 1, FK_RESPONDER, FK_KEEP_CONN);
  n += put_record(buf + n, FK_PARAMS, 1, params, plen);
  n += put_record(buf + n, FK_STDIN, 1, "body", 4);
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* A Filter's DATA before the end of its STDIN. */
  n = fk_encode_begin_request(buf, 1, FK_FILTER, FK_KEEP_CONN);
  n += put_record(buf + n, FK_PARAMS, 1, params, plen);
  n += fk_encode_stream_end(buf + n, FK_PARAMS, 1);
  n += put_record(buf + n, FK_DATA, 1, "data", 4);
  CHECK(closed_silently(&t, buf, n));
  CHECK(ts_served(&t));

  /* BEGIN_REQUEST with 9 content bytes. */
  n = fk_encode_begin_request(buf, 1, FK_RESPONDER, 0);
  buf[5] = 9; /* the low byte of the content length */
  memset(buf + FK_BEGIN_REQUEST_SIZE, 0, 8);
  CHECK(closed_silently(&t, buf, FK_BEGIN_REQUEST_SIZE + 8));
  CHECK(ts_served(&t));
  ts_stop(&t);
}

/* --- 9. Peers that vanish or stall --------------------------------------- */

static void test_vanishing_peers(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.threads = 1; /* everything on the one I/O thread */
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  uint8_t buf[64];
  tc_conn c;

  /* A request cut off inside a record, then the client is gone. */
  CHECK(ts_connect(&t, &c));
  size_t n = fk_encode_begin_request(buf, 1, FK_RESPONDER, FK_KEEP_CONN);
  fk_header_encode(buf + n, FK_PARAMS, 1, 100, 4);
  memcpy(buf + n + FK_HEADER_LEN, "\x01\x05T", 3);
  CHECK_EQ(tc_send(&c, buf, n + FK_HEADER_LEN + 3), 0);
  tc_close(&c);
  CHECK(ts_served(&t));

  /* A request whose handler is about to run when the client goes. */
  CHECK(ts_connect(&t, &c));
  const char *big[] = {"T=big", "N=1000000", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, big, NULL, 0), 0);
  tc_close(&c);
  CHECK(ts_served(&t));

  /* Half a header, and then nothing: other connections are served
   * meanwhile, on the same I/O thread. */
  tc_conn stalled;
  CHECK(ts_connect(&t, &stalled));
  CHECK_EQ(tc_send(&stalled, "\x01\x01\x00", 3), 0);
  CHECK(ts_served(&t));
  CHECK(ts_connect(&t, &c));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  CHECK(tc_ping(&c, TS_WAIT));
  tc_close(&c);
  tc_read(&stalled, SIZE_MAX, 0);
  CHECK(!stalled.closed && stalled.nev == 0);
  tc_close(&stalled);
  CHECK(ts_served(&t));
  ts_stop(&t);
}

/* --- 9. Limits on params and bodies -------------------------------------- */

/* Sends a request whose PARAMS are the given bytes and expects an answer
 * starting with status, then checks the connection serves the next one. */
static int refused_with(ts_server *t, const uint8_t *params, size_t n,
                        const void *body, size_t body_len, const char *status) {
  tc_conn c;
  if (!ts_connect(t, &c))
    return 0;
  int ok = tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN) == 0 &&
           tc_stream(&c, FK_PARAMS, 1, params, n) == 0;
  /* Whatever comes after a refusal is ignored: the rest of the request,
   * and its ABORT. */
  ok = ok && tc_stream_end(&c, FK_PARAMS, 1) == 0 &&
       tc_stdin(&c, 1, body, body_len) == 0 && tc_abort(&c, 1) == 0;
  const tc_event *end = tc_wait_end(&c, 1, TS_WAIT);
  const char *out = tc_stdout(&c, 1);
  if (!ok || end == NULL || strncmp(out, status, strlen(status)) != 0 ||
      end->app_status != 0) {
    fprintf(stderr, "  want \"%s...\", got \"%s\"\n", status, out);
    ok = 0;
  }
  ok = ok && ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE) &&
       ts_echo_ok(&c, 2, FK_KEEP_CONN) && ts_shape_ok(&c, 1, 0);
  tc_close(&c);
  return ok;
}

static void test_limits(void) {
  static const char s431[] = "Status: 431 Request Header Fields Too Large\r\n";
  static const char s413[] = "Status: 413 Content Too Large\r\n";
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_params_bytes = 4096;
  cfg.max_params = 16;
  cfg.max_body = 100000;
  cfg.allocator = &counting;
  counter.refuse_above = 64u << 20; /* a 2 GB claim must not be honoured */
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  uint8_t buf[8192];

  /* A pair claiming a value of 0x7ffffff0 bytes (CVE-2025-23016): refused
   * before anything is allocated for it. */
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN)); /* everything warmed up */
  tc_close(&c);
  ts_counter_mark(&counter);
  size_t base = atomic_load(&counter.peak);
  memcpy(buf, "\x04\xff\xff\xff\xf0NAMEvalue", 14);
  CHECK(refused_with(&t, buf, 14, NULL, 0, s431));
  /* The same in the name's length. */
  memcpy(buf, "\xff\xff\xff\xf0\x01NAME", 9);
  CHECK(refused_with(&t, buf, 9, NULL, 0, s431));
  size_t peak = atomic_load(&counter.peak);
  CHECK(peak - base < (1u << 20));
  CHECK_EQ(atomic_load(&counter.refused), 0);

  /* More pairs than max_params. */
  size_t n = 0;
  for (int i = 0; i < 100; i++) {
    char name[8];
    snprintf(name, sizeof name, "P%02d", i);
    n += fk_nv_encode(buf + n, name, 3, "x", 1);
  }
  CHECK(refused_with(&t, buf, n, NULL, 0, s431));

  /* More bytes than max_params_bytes in one pair, and in many. */
  static char value[5000];
  memset(value, 'v', sizeof value);
  n = fk_nv_encode(buf, "BIG", 3, value, 5000);
  CHECK(refused_with(&t, buf, n, NULL, 0, s431));
  n = 0;
  for (int i = 0; i < 10; i++)
    n += fk_nv_encode(buf + n, "V", 1, value, 500);
  CHECK(refused_with(&t, buf, n, NULL, 0, s431));

  /* A body over max_body; one of exactly max_body is fine. */
  static uint8_t body[150000];
  memset(body, 'b', sizeof body);
  n = fk_nv_encode(buf, "T", 1, "readbody", 8);
  CHECK(refused_with(&t, buf, n, body, sizeof body, s413));
  CHECK(ts_connect(&t, &c));
  const char *readbody[] = {"T=readbody", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, 0, readbody, body, 100000), 0);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  size_t len;
  const char *out = tc_text(&c, FK_STDOUT, 1, 0, &len);
  CHECK(len == 16 + 100000 && memcmp(out, "rc=0 len=100000\n", 16) == 0);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  tc_close(&c);
  CHECK(ts_served(&t));
  ts_stop(&t);
  counter.refuse_above = 0;
}

/* --- 10. Bodies spilled to a temporary file ------------------------------ */

static int dir_is_empty(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d)) != NULL;)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  if (d)
    closedir(d);
  return d && n == 0;
}

/* Sends a body of len pattern bytes to T=mode; returns the STDOUT (valid
 * until c is closed) after checking the request's shape. */
static const char *send_body(ts_server *t, tc_conn *c, const char *mode,
                             size_t len, size_t *out_len) {
  uint8_t *body = malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    body[i] = ts_pattern(i);
  char tparam[32];
  snprintf(tparam, sizeof tparam, "T=%s", mode);
  const char *pairs[] = {tparam, NULL};
  CHECK(ts_connect(t, c));
  CHECK_EQ(tc_request(c, 1, FK_RESPONDER, 0, pairs, body, len), 0);
  free(body);
  CHECK(tc_wait_end(c, 1, 10000) != NULL);
  CHECK(ts_shape_ok(c, 1, FK_REQUEST_COMPLETE));
  return tc_text(c, FK_STDOUT, 1, 0, out_len);
}

static int is_pattern(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((uint8_t)p[i] != ts_pattern(i)) {
      fprintf(stderr, "  byte %zu differs\n", i);
      return 0;
    }
  return 1;
}

static void test_spill(void) {
  char spill[] = "/tmp/fk-spill-XXXXXX";
  CHECK(mkdtemp(spill) != NULL);
  fk_config cfg;
  ts_config(&cfg);
  cfg.body_memory = 1024;
  cfg.tmpdir = spill;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  size_t len;

  /* 3 MB echoed byte for byte. */
  const size_t big = 3u << 20;
  static const char head[] =
      "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nT=echo\n--\n";
  const char *out = send_body(&t, &c, "echo", big, &len);
  CHECK_EQ(len, sizeof head - 1 + big);
  CHECK(len >= sizeof head - 1 && memcmp(out, head, sizeof head - 1) == 0);
  CHECK(len == sizeof head - 1 + big && is_pattern(out + sizeof head - 1, big));
  tc_close(&c);

  /* fk_read_body: the body when it is in memory (up to body_memory), and
   * FK_E_BODY_TOO_LARGE when it was spilled. */
  const size_t sizes[] = {0, 500, 1024, 1025, 200000};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    char want[64];
    int spilled = sizes[i] > 1024;
    snprintf(want, sizeof want, "rc=%d len=%zu\n",
             spilled ? FK_E_BODY_TOO_LARGE : FK_OK, spilled ? 0 : sizes[i]);
    out = send_body(&t, &c, "readbody", sizes[i], &len);
    size_t h = strlen(want);
    CHECK(len == h + sizes[i] && memcmp(out, want, h) == 0 &&
          is_pattern(out + h, sizes[i]));
    tc_close(&c);
  }
  ts_stop(&t);
  /* The spill files were unlinked from the start. */
  CHECK(dir_is_empty(spill));
  CHECK_EQ(rmdir(spill), 0);
}

/* --- 11. Large output, read slowly --------------------------------------- */

static void slow_reader(unsigned handler_threads) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_output = 64u << 10;
  cfg.handler_threads = handler_threads;
  cfg.allocator = &counting;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  ts_counter_mark(&counter);
  size_t base = atomic_load(&counter.peak);

  const size_t total = 8u << 20;
  const char *pairs[] = {"T=big", "N=8388608", NULL};
  CHECK_EQ(tc_request(&c, 2, FK_RESPONDER, FK_KEEP_CONN, pairs, NULL, 0), 0);
  /* Small reads with pauses: the server has to wait for us. */
  long deadline = tc_now_ms() + 20000;
  for (int reads = 0;
       tc_find(&c, TC_END, 2, 0) < 0 && !c.closed && tc_now_ms() < deadline;
       reads++) {
    tc_read(&c, 4096, 1000);
    if (reads % 16 == 0)
      tc_sleep_ms(2);
  }
  CHECK(tc_find(&c, TC_END, 2, 0) >= 0);
  size_t len;
  const char *out = tc_text(&c, FK_STDOUT, 2, 0, &len);
  CHECK_EQ(len, total);
  CHECK(len == total && is_pattern(out, total));
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));
  /* The server held a bounded part of the 8 MB, never all of it. */
  size_t peak = atomic_load(&counter.peak);
  if (peak - base >= (2u << 20))
    fprintf(stderr, "  peak %zu bytes above the start\n", peak - base);
  CHECK(peak - base < (2u << 20));
  CHECK(ts_echo_ok(&c, 3, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

static void test_slow_reader_inline(void) { slow_reader(0); }
static void test_slow_reader_threads(void) { slow_reader(1); }

/* --- A web server that does not read --------------------------------- */

/* After io_timeout_ms without room for its output the handler gives up:
 * the connection is closed (without END_REQUEST, which cannot be sent),
 * and the server goes on serving others. */
static void unread_output(unsigned handler_threads) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_output = 64u << 10;
  cfg.io_timeout_ms = 200;
  cfg.handler_threads = handler_threads;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *pairs[] = {"T=big", "N=8388608", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, pairs, NULL, 0), 0);
  /* Wait for the server to hang up, without reading a byte. */
  struct pollfd pfd = {.fd = c.fd, .events = POLLRDHUP};
  CHECK(poll(&pfd, 1, 10000) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)));
  CHECK(tc_wait_closed(&c, TS_WAIT));
  CHECK(tc_find(&c, TC_END, 1, 0) < 0);
  size_t len;
  tc_text(&c, FK_STDOUT, 1, 0, &len);
  CHECK(len < (8u << 20));
  tc_close(&c);
  CHECK(ts_served(&t));
  ts_stop(&t);
}

static void test_unread_output_inline(void) { unread_output(0); }
static void test_unread_output_threads(void) { unread_output(1); }

/* --- A handler thread writing straight to the socket ------------------- */

/* A large write from a handler thread goes from its memory to the socket
 * while nothing else is queued; another request's output on the same
 * connection waits its turn between batches, and both arrive whole. */
static void test_writer_shares_connection(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 2;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const size_t total = 4u << 20;
  const char *big[] = {"T=big", "N=4194304", NULL};
  const char *echo[] = {"T=echo", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, big, NULL, 0), 0);
  tc_sleep_ms(50); /* the socket is full: request 1 waits on it */
  CHECK_EQ(tc_request(&c, 2, FK_RESPONDER, FK_KEEP_CONN, echo, "hi", 2), 0);
  long deadline = tc_now_ms() + 20000;
  for (int reads = 0;
       (tc_find(&c, TC_END, 1, 0) < 0 || tc_find(&c, TC_END, 2, 0) < 0) &&
       !c.closed && tc_now_ms() < deadline;
       reads++) {
    tc_read(&c, 4096, 1000);
    if (reads % 64 == 0)
      tc_sleep_ms(1);
  }
  size_t len;
  const char *out = tc_text(&c, FK_STDOUT, 1, 0, &len);
  CHECK(len == total && is_pattern(out, total));
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(strstr(tc_text(&c, FK_STDOUT, 2, 0, NULL), "--\nhi") != NULL);
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 3, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

/* An abort reaches a handler thread waiting for the socket to take its
 * output, at once rather than after io_timeout_ms: its thread is free
 * for the next request. */
static void test_writer_abort(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c, d;
  CHECK(ts_connect(&t, &c));
  const char *big[] = {"T=big", "N=8388608", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, big, NULL, 0), 0);
  tc_sleep_ms(100); /* nothing read: the socket is full */
  CHECK_EQ(tc_abort(&c, 1), 0);
  long start = tc_now_ms();
  CHECK(ts_connect(&t, &d));
  CHECK(ts_echo_ok(&d, 1, FK_KEEP_CONN));
  CHECK(tc_now_ms() - start < 2000); /* io_timeout_ms is 10 s */
  tc_close(&d);
  /* Request 1 ends, or, cut in the middle of a record, its connection
   * is closed. */
  long deadline = tc_now_ms() + 10000;
  while (tc_find(&c, TC_END, 1, 0) < 0 && !c.closed && tc_now_ms() < deadline)
    tc_read(&c, 1 << 16, 1000);
  CHECK(tc_find(&c, TC_END, 1, 0) >= 0 || c.closed);
  tc_close(&c);
  ts_stop(&t);
}

/* --- Connections that were waiting before the server ran ----------------- */

/* A new connection is read before epoll watches it (conn.c,
 * fk__conn_start). Everything here is sent while the server is not yet
 * accepting, so each connection already holds its bytes when accepted:
 * a whole request without KEEP_CONN (answered and closed without ever
 * being watched); a request for 250,000 bytes written in small pieces
 * (under max_output, so queued, not waited for), which the client does
 * not read at first: more than the socket takes, so the connection must
 * be watched for EPOLLOUT from the start; then another request on it; a
 * header cut in two, the rest sent later; and a connection already closed
 * by its client. */
static void waiting_at_accept(unsigned handler_threads) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.threads = 1;
  cfg.handler_threads = handler_threads;
  ts_server t;
  ts_prepare(&t, &cfg, TS_ROLE(FK_RESPONDER), ts_app);
  tc_conn once, big, cut, gone;
  CHECK(ts_connect(&t, &once));
  CHECK(ts_connect(&t, &big));
  CHECK(ts_connect(&t, &cut));
  CHECK(ts_connect(&t, &gone));
  const char *echo[] = {"T=echo", NULL};
  CHECK_EQ(tc_request(&once, 1, FK_RESPONDER, 0, echo, "x", 1), 0);
  const char *queued[] = {"T=big", "N=250000", "PIECE=4000", NULL};
  CHECK_EQ(tc_request(&big, 1, FK_RESPONDER, FK_KEEP_CONN, queued, NULL, 0), 0);
  uint8_t begin[FK_BEGIN_REQUEST_SIZE];
  fk_encode_begin_request(begin, 2, FK_RESPONDER, FK_KEEP_CONN);
  CHECK_EQ(tc_send(&cut, begin, 5), 0);
  tc_close(&gone);
  ts_run(&t);

  CHECK(tc_wait_end(&once, 1, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&once, 1, FK_REQUEST_COMPLETE));
  CHECK(tc_wait_closed(&once, TS_WAIT));
  tc_close(&once);

  tc_sleep_ms(100); /* the server's output fills the socket meanwhile */
  CHECK(tc_wait_end(&big, 1, TS_WAIT) != NULL);
  size_t len;
  const char *out = tc_text(&big, FK_STDOUT, 1, 0, &len);
  CHECK_EQ(len, (size_t)250000);
  CHECK(len == 250000 && is_pattern(out, len));
  CHECK(ts_shape_ok(&big, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&big, 3, FK_KEEP_CONN));
  tc_close(&big);

  tc_sleep_ms(50);
  CHECK_EQ(tc_send(&cut, begin + 5, sizeof begin - 5), 0);
  CHECK_EQ(tc_params(&cut, 2, echo), 0);
  CHECK_EQ(tc_stream_end(&cut, FK_STDIN, 2), 0);
  CHECK(tc_wait_end(&cut, 2, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&cut, 2, FK_REQUEST_COMPLETE));
  CHECK(!cut.closed);
  tc_close(&cut);
  CHECK(ts_served(&t));
  ts_stop(&t);
}

static void test_waiting_at_accept_inline(void) { waiting_at_accept(0); }
static void test_waiting_at_accept_threads(void) { waiting_at_accept(1); }

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_protocol_errors);
  RUN(test_vanishing_peers);
  RUN(test_limits);
  RUN(test_spill);
  RUN(test_slow_reader_inline);
  RUN(test_slow_reader_threads);
  RUN(test_unread_output_inline);
  RUN(test_unread_output_threads);
  RUN(test_writer_shares_connection);
  RUN(test_writer_abort);
  RUN(test_waiting_at_accept_inline);
  RUN(test_waiting_at_accept_threads);
  TEST_EXIT();
}
