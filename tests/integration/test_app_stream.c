/*
 * Streamed bodies (stream_body): the handler reads the body while the web
 * server is still sending it, memory stays bounded however long the body,
 * an abort or a closed connection wakes a handler waiting for input, and
 * max_body still holds; a handler waiting for its body reads the socket
 * itself, and gives it back intact for whatever else comes. Also the
 * whole-body path with a body spilled to its file in many small records.
 */
#include "integration/harness.h"

static ts_counter counter;
static const fk_allocator counting = {ts_malloc, ts_realloc, ts_free, &counter};

/* What the handler tells the tests. */
static struct {
  atomic_ullong got; /* body bytes the last handler has read so far */
  atomic_long last_rc;
  atomic_int done; /* handlers that returned */
} st;

static void st_reset(void) {
  atomic_store(&st.got, 0);
  atomic_store(&st.last_rc, 1);
  atomic_store(&st.done, 0);
}

/* Waits until cond holds (polling), at most ms. */
#define ST_WAIT_FOR(cond, ms)                                                  \
  do {                                                                         \
    long st_end_ = tc_now_ms() + (ms);                                         \
    while (!(cond) && tc_now_ms() < st_end_)                                   \
      tc_sleep_ms(1);                                                          \
  } while (0)

/* Reads the body in pieces of BUF bytes (after SLEEP ms), checking it is
 * ts_pattern. At the end: "n=<bytes> ok=<pattern held>\n"; on an error
 * from fk_read nothing is written (max_body: the library answers 413).
 * With STOP, it stops reading once it has that many bytes. */
static void st_stream(fk_request *req) {
  tc_sleep_ms((long)ts_param_ul(req, "SLEEP", 0));
  size_t size = ts_param_ul(req, "BUF", 16384);
  uint64_t stop = ts_param_ul(req, "STOP", 0);
  uint8_t *buf = malloc(size);
  uint64_t off = 0;
  int ok = 1;
  long n;
  while ((stop == 0 || off < stop) && (n = fk_read(req, buf, size)) > 0) {
    for (long i = 0; i < n; i++)
      ok &= buf[i] == ts_pattern((size_t)(off + (uint64_t)i));
    off += (uint64_t)n;
    atomic_store(&st.got, off);
  }
  free(buf);
  if (stop != 0 && off >= stop)
    n = 0;
  atomic_store(&st.last_rc, n);
  if (n == 0)
    fk_printf(req, "n=%llu ok=%d len=%llu\n", (unsigned long long)off, ok,
              (unsigned long long)fk_body_length(req));
}

/* A Filter: STDIN to its end, then DATA. */
static void st_filter(fk_request *req) {
  char in[64] = "", data[64] = "";
  long n, a = 0, b = 0;
  while ((n = fk_read(req, in + a, sizeof in - 1 - (size_t)a)) > 0)
    a += n;
  while ((n = fk_read_data(req, data + b, sizeof data - 1 - (size_t)b)) > 0)
    b += n;
  fk_printf(req, "in=%s data=%s rc=%ld\n", in, data, n);
}

static void st_app(fk_request *req, void *arg) {
  (void)arg;
  const char *t = fk_param(req, "T");
  if (t && strcmp(t, "stream") == 0) {
    st_stream(req);
  } else if (t && strcmp(t, "filter") == 0) {
    st_filter(req);
  } else if (t && strcmp(t, "readbody_rc") == 0) {
    const void *d;
    size_t len;
    fk_printf(req, "rc=%d\n", fk_read_body(req, SIZE_MAX, &d, &len));
  } else {
    ts_app(req, NULL);
  }
  atomic_fetch_add(&st.done, 1);
}

static void st_config(fk_config *cfg) {
  ts_config(cfg);
  cfg->stream_body = 1;
  cfg->handler_threads = 2;
}

static uint8_t *pattern(size_t n) {
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++)
    p[i] = ts_pattern(i);
  return p;
}

/* Sends body[from, to) as STDIN records of at most rec bytes. */
static int send_body(tc_conn *c, unsigned id, const uint8_t *body, size_t from,
                     size_t to, size_t rec) {
  for (size_t off = from; off < to;) {
    size_t n = to - off < rec ? to - off : rec;
    if (tc_stream(c, FK_STDIN, id, body + off, n) != 0)
      return 0;
    off += n;
  }
  return 1;
}

/* The answer of st_stream for a whole body of n bytes. */
static int stream_answer_ok(tc_conn *c, unsigned id, size_t n) {
  const tc_event *end = tc_wait_end(c, id, 20000);
  char want[96];
  snprintf(want, sizeof want, "n=%zu ok=1 len=%zu\n", n, n);
  const char *got = end ? tc_text(c, FK_STDOUT, id, 0, NULL) : "";
  if (end == NULL || strcmp(got, want) != 0) {
    fprintf(stderr, "  request %u: got \"%s\", want \"%s\"\n", id, got, want);
    return 0;
  }
  return ts_shape_ok(c, id, FK_REQUEST_COMPLETE);
}

/* --- Settings --------------------------------------------------------------
 */

static void test_needs_handler_threads(void) {
  fk_config cfg;
  fk_config_init(&cfg);
  CHECK_EQ(cfg.stream_body, 0);
  cfg.stream_body = 1;
  cfg.handle_signals = 0;
  fk_server *s = NULL;
  CHECK_EQ(fk_server_new(&s, &cfg), FK_E_INVAL);
  cfg.handler_threads = 1;
  CHECK_EQ(fk_server_new(&s, &cfg), FK_OK);
  fk_server_free(s);
}

/* --- The handler reads before the body is all sent ------------------------ */

static void test_first_bytes_early(void) {
  fk_config cfg;
  st_config(&cfg);
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  st_reset();
  uint8_t *body = pattern(10000);
  const char *pairs[] = {"T=stream", "BUF=1000", NULL};
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, pairs), 0);
  CHECK(send_body(&c, 1, body, 0, 3000, 1000));
  /* The rest is not sent until the handler has read what was. */
  ST_WAIT_FOR(atomic_load(&st.got) >= 3000, TS_WAIT);
  CHECK_EQ(atomic_load(&st.got), 3000);
  CHECK_EQ(atomic_load(&st.done), 0);
  CHECK(send_body(&c, 1, body, 3000, 10000, 1000));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  CHECK(stream_answer_ok(&c, 1, 10000));
  /* The connection serves on, an Authorizer too (no body to stream),
   * and fk_read_body() is not for streamed bodies. */
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  const char *readbody[] = {"T=readbody_rc", NULL};
  CHECK_EQ(tc_request(&c, 3, FK_RESPONDER, FK_KEEP_CONN, readbody, "x", 1), 0);
  CHECK(tc_wait_end(&c, 3, TS_WAIT) != NULL);
  char want[32];
  snprintf(want, sizeof want, "rc=%d\n", FK_E_STATE);
  CHECK(strcmp(tc_text(&c, FK_STDOUT, 3, 0, NULL), want) == 0);
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

static void test_roles(void) {
  fk_config cfg;
  st_config(&cfg);
  ts_server t;
  ts_start_with(&t, &cfg, TS_ALL_ROLES, st_app);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  /* Authorizer: called at the end of PARAMS, as without streaming. */
  const char *auth[] = {"T=auth", NULL};
  CHECK_EQ(tc_begin(&c, 1, FK_AUTHORIZER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, auth), 0);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(strstr(tc_text(&c, FK_STDOUT, 1, 0, NULL), "AUTH_USER: ann") != NULL);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  /* Filter: STDIN, then DATA, each read as it comes. */
  const char *filter[] = {"T=filter", NULL};
  CHECK_EQ(tc_begin(&c, 2, FK_FILTER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, filter), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "abc", 3), 0);
  tc_sleep_ms(20);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "def", 3), 0);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK_EQ(tc_stream(&c, FK_DATA, 2, "12", 2), 0);
  tc_sleep_ms(20);
  CHECK_EQ(tc_stream(&c, FK_DATA, 2, "34", 2), 0);
  CHECK_EQ(tc_stream_end(&c, FK_DATA, 2), 0);
  CHECK(tc_wait_end(&c, 2, TS_WAIT) != NULL);
  CHECK(strcmp(tc_text(&c, FK_STDOUT, 2, 0, NULL),
               "in=abcdef data=1234 rc=0\n") == 0);
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));
  tc_close(&c);
  ts_stop(&t);
}

/* --- Bounded memory ------------------------------------------------------- */

static void test_bounded_memory(void) {
  const size_t total = 64u << 20, bound = 256u << 10;
  fk_config cfg;
  st_config(&cfg);
  cfg.body_memory = bound;
  cfg.allocator = &counting;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN)); /* everything warmed up */
  ts_counter_mark(&counter);
  size_t base = atomic_load(&counter.peak);
  uint8_t *body = pattern(total);
  /* A handler that starts late and reads in small pieces: the server
   * has to stop reading the connection. */
  const char *pairs[] = {"T=stream", "SLEEP=200", "BUF=4096", NULL};
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, pairs), 0);
  CHECK(send_body(&c, 2, body, 0, total, 65535));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK(stream_answer_ok(&c, 2, total));
  /* Unread body: body_memory and one socket read at most; the ring
   * moves once from its first size to its bound; a little for the
   * request itself. */
  size_t peak = atomic_load(&counter.peak);
  size_t limit = bound + (64u << 10) + (64u << 10) + (32u << 10);
  if (peak - base > limit || getenv("FK_TEST_VERBOSE"))
    fprintf(stderr, "  peak %zu bytes above the start, limit %zu\n",
            peak - base, limit);
  CHECK(peak - base <= limit);
  CHECK(ts_echo_ok(&c, 3, FK_KEEP_CONN));
  tc_close(&c);
  free(body);
  ts_stop(&t);
  CHECK_EQ(atomic_load(&counter.live), 0);
}

/* --- Abort and close wake a waiting handler ------------------------------- */

/* Starts a streamed request and waits until its handler has read the
 * first 100 bytes and waits for more. */
static int start_waiting(ts_server *t, tc_conn *c) {
  st_reset();
  static const char *pairs[] = {"T=stream", NULL};
  uint8_t body[100];
  for (size_t i = 0; i < sizeof body; i++)
    body[i] = ts_pattern(i);
  if (!ts_connect(t, c) || tc_begin(c, 1, FK_RESPONDER, FK_KEEP_CONN) != 0 ||
      tc_params(c, 1, pairs) != 0 ||
      tc_stream(c, FK_STDIN, 1, body, sizeof body) != 0)
    return 0;
  ST_WAIT_FOR(atomic_load(&st.got) == 100, TS_WAIT);
  tc_sleep_ms(20); /* into fk_read's wait */
  return atomic_load(&st.got) == 100 && atomic_load(&st.done) == 0;
}

static void test_abort_wakes(void) {
  fk_config cfg;
  st_config(&cfg);
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  tc_conn c;
  CHECK(start_waiting(&t, &c));
  CHECK_EQ(tc_abort(&c, 1), 0);
  ST_WAIT_FOR(atomic_load(&st.done) == 1, TS_WAIT);
  CHECK_EQ(atomic_load(&st.done), 1);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_ABORTED);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

static void test_close_wakes(void) {
  fk_config cfg;
  st_config(&cfg);
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  tc_conn c;
  CHECK(start_waiting(&t, &c));
  tc_close(&c);
  ST_WAIT_FOR(atomic_load(&st.done) == 1, TS_WAIT);
  CHECK_EQ(atomic_load(&st.done), 1);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_ABORTED);
  CHECK(ts_served(&t));
  /* Closed while the connection is not being read (the handler has not
   * started reading a body over body_memory): woken all the same. */
  st_reset();
  const char *pairs[] = {"T=stream", "SLEEP=1000", NULL};
  uint8_t *body = pattern(8u << 20);
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, pairs), 0);
  /* As much as the socket takes: the server stops reading past 1 MiB. */
  size_t off = 0;
  for (; off < (8u << 20); off += 4096) {
    struct pollfd pfd = {.fd = c.fd, .events = POLLOUT};
    if (poll(&pfd, 1, 100) <= 0 ||
        tc_stream(&c, FK_STDIN, 1, body + off, 4096) != 0)
      break;
  }
  CHECK(off < (8u << 20));
  tc_close(&c);
  ST_WAIT_FOR(atomic_load(&st.done) == 1, TS_WAIT);
  CHECK_EQ(atomic_load(&st.done), 1);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_ABORTED);
  CHECK(ts_served(&t));
  free(body);
  ts_stop(&t);
}

/* --- max_body ------------------------------------------------------------- */

static void test_max_body(void) {
  fk_config cfg;
  st_config(&cfg);
  cfg.max_body = 100000;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  st_reset();
  uint8_t *body = pattern(150000);
  const char *pairs[] = {"T=stream", NULL};
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, pairs), 0);
  CHECK(send_body(&c, 1, body, 0, 150000, 10000));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_BODY_TOO_LARGE);
  CHECK_EQ(atomic_load(&st.got), 100000); /* what fit, then the error */
  const char *out = tc_text(&c, FK_STDOUT, 1, 0, NULL);
  CHECK(strncmp(out, "Status: 413 ", 12) == 0);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  /* Exactly max_body is fine. */
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, pairs), 0);
  CHECK(send_body(&c, 2, body, 0, 100000, 10000));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK(stream_answer_ok(&c, 2, 100000));
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

/* --- Two streamed requests on one connection ------------------------------ */

static void test_multiplexed(void) {
  const size_t total = 1u << 20;
  fk_config cfg;
  st_config(&cfg);
  cfg.body_memory = 64u << 10; /* both hold the connection back in turn */
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  uint8_t *body = pattern(total);
  const char *pairs[] = {"T=stream", "BUF=3000", NULL};
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  for (unsigned id = 1; id <= 2; id++) {
    CHECK_EQ(tc_begin(&c, id, FK_RESPONDER, FK_KEEP_CONN), 0);
    CHECK_EQ(tc_params(&c, id, pairs), 0);
  }
  for (size_t off = 0; off < total; off += 8192) {
    CHECK(send_body(&c, 1, body, off, off + 8192, 8192));
    CHECK(send_body(&c, 2, body, off, off + 8192, 8192));
  }
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK(stream_answer_ok(&c, 1, total));
  CHECK(stream_answer_ok(&c, 2, total));
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

/* --- The handler reads the socket itself ---------------------------------- */

/* Starts request id with pairs and sends the first 1000 bytes of body;
 * once the handler has read them and waits for more, what is sent next
 * goes to it straight from the socket. */
static int start_in_place(tc_conn *c, unsigned id, const char *const *pairs,
                          const uint8_t *body) {
  st_reset();
  if (tc_begin(c, id, FK_RESPONDER, FK_KEEP_CONN) != 0 ||
      tc_params(c, id, pairs) != 0 || !send_body(c, id, body, 0, 1000, 1000))
    return 0;
  ST_WAIT_FOR(atomic_load(&st.got) == 1000, TS_WAIT);
  tc_sleep_ms(20); /* into fk_read's wait */
  return atomic_load(&st.got) == 1000;
}

/* A STDIN record with the padding given (the content's own, not 8-byte
 * alignment: web servers may send any). */
static int send_padded(tc_conn *c, unsigned id, const uint8_t *p, size_t n,
                       unsigned pad) {
  uint8_t *rec = calloc(1, FK_HEADER_LEN + n + pad);
  fk_header_encode(rec, FK_STDIN, id, n, pad);
  memcpy(rec + FK_HEADER_LEN, p, n);
  int rc = tc_send(c, rec, FK_HEADER_LEN + n + pad);
  free(rec);
  return rc == 0;
}

static void test_in_place_records(void) {
  const size_t total = 3u << 20;
  fk_config cfg;
  st_config(&cfg);
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  uint8_t *body = pattern(total);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  /* Records of every shape, cut by the socket anywhere, read into a
   * buffer that is sometimes smaller than a record, sometimes larger. */
  const char *pairs[] = {"T=stream", "BUF=40000", NULL};
  CHECK(start_in_place(&c, 1, pairs, body));
  static const size_t sizes[] = {1, 7, 8, 9, 1000, 65535, 65528, 40000, 3};
  static const unsigned pads[] = {0, 255, 1, 7, 0, 0, 8, 3, 200};
  size_t off = 1000;
  for (unsigned i = 0; off < total / 2; i++) {
    size_t n = sizes[i % 9] < total / 2 - off ? sizes[i % 9] : total / 2 - off;
    CHECK(send_padded(&c, 1, body + off, n, pads[i % 9]));
    off += n;
  }
  /* A management record in the middle of the body is answered, and the
   * body goes on. */
  static const char *names[] = {"FCGI_MPXS_CONNS", NULL};
  CHECK_EQ(tc_get_values(&c, names), 0);
  CHECK(tc_wait(&c, TC_VALUES, 0, TS_WAIT) >= 0);
  CHECK(send_body(&c, 1, body, off, total, 65535));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  CHECK(stream_answer_ok(&c, 1, total));
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  /* Another request begun in the middle of the body is served, while
   * the body goes on. */
  CHECK(start_in_place(&c, 3, pairs, body));
  CHECK(send_body(&c, 3, body, 1000, total / 2, 65535));
  CHECK(ts_echo_ok(&c, 4, FK_KEEP_CONN));
  CHECK(send_body(&c, 3, body, total / 2, total, 65535));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 3), 0);
  CHECK(stream_answer_ok(&c, 3, total));
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

static void test_in_place_endings(void) {
  const size_t total = 2u << 20;
  fk_config cfg;
  st_config(&cfg);
  cfg.max_body = 1u << 20;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  uint8_t *body = pattern(total);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  /* An abort reaches a handler that reads the socket itself. */
  const char *pairs[] = {"T=stream", NULL};
  CHECK(start_in_place(&c, 1, pairs, body));
  CHECK(send_body(&c, 1, body, 1000, 300000, 65535));
  ST_WAIT_FOR(atomic_load(&st.got) == 300000, TS_WAIT);
  CHECK_EQ(tc_abort(&c, 1), 0);
  ST_WAIT_FOR(atomic_load(&st.done) == 1, TS_WAIT);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_ABORTED);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  /* A handler that returns in the middle of a record: the rest of the
   * body is dropped, and the next request is read right. */
  const char *stop[] = {"T=stream", "STOP=200000", "BUF=1500", NULL};
  CHECK(start_in_place(&c, 3, stop, body));
  CHECK(send_body(&c, 3, body, 1000, 500000, 65535));
  CHECK(tc_wait_end(&c, 3, TS_WAIT) != NULL);
  unsigned long long got = 0;
  int ok = 0;
  CHECK_EQ(
      sscanf(tc_text(&c, FK_STDOUT, 3, 0, NULL), "n=%llu ok=%d", &got, &ok), 2);
  CHECK(got >= 200000 && got < 201500 && ok == 1);
  CHECK(send_body(&c, 3, body, 500000, 600000, 65535));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 3), 0);
  CHECK(ts_echo_ok(&c, 4, FK_KEEP_CONN));
  /* max_body: what fits, then the error and a 413; the connection goes
   * on. */
  CHECK(start_in_place(&c, 5, pairs, body));
  CHECK(send_body(&c, 5, body, 1000, total, 65535));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 5), 0);
  CHECK(tc_wait_end(&c, 5, TS_WAIT) != NULL);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_BODY_TOO_LARGE);
  CHECK(atomic_load(&st.got) <= cfg.max_body);
  CHECK(strncmp(tc_text(&c, FK_STDOUT, 5, 0, NULL), "Status: 413 ", 12) == 0);
  CHECK(ts_echo_ok(&c, 6, FK_KEEP_CONN));
  /* The web server goes away: the handler learns of it. */
  CHECK(start_in_place(&c, 7, pairs, body));
  CHECK(send_body(&c, 7, body, 1000, 100000, 65535));
  ST_WAIT_FOR(atomic_load(&st.got) == 100000, TS_WAIT);
  tc_close(&c);
  ST_WAIT_FOR(atomic_load(&st.done) == 1, TS_WAIT);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_ABORTED);
  free(body);
  ts_stop(&t);
}

static void test_in_place_timeout(void) {
  fk_config cfg;
  st_config(&cfg);
  cfg.io_timeout_ms = 300;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  uint8_t *body = pattern(200000);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *pairs[] = {"T=stream", NULL};
  CHECK(start_in_place(&c, 1, pairs, body));
  CHECK(send_body(&c, 1, body, 1000, 200000, 65535));
  ST_WAIT_FOR(atomic_load(&st.done) == 1, 3000);
  CHECK_EQ(atomic_load(&st.got), 200000);
  CHECK_EQ(atomic_load(&st.last_rc), FK_E_TIMEOUT);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

/* --- The whole-body path: a spilled body in small records ----------------- */

static void spilled(unsigned handler_threads) {
  const size_t total = 5u << 20;
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = handler_threads;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), st_app);
  uint8_t *body = pattern(total);
  const char *pairs[] = {"T=stream", "BUF=7777", NULL};
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, pairs), 0);
  CHECK(send_body(&c, 1, body, 0, total, 1000));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  CHECK(stream_answer_ok(&c, 1, total));
  /* And with fk_read_body(), which declines a spilled body: every byte
   * through fk_read() all the same. */
  const char *readbody[] = {"T=readbody", NULL};
  size_t from = c.nev;
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, readbody), 0);
  CHECK(send_body(&c, 2, body, 0, total, 999));
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK(tc_wait_from(&c, TC_END, 2, from, 20000) >= 0);
  size_t len;
  const char *out = tc_text(&c, FK_STDOUT, 2, from, &len);
  char head[32];
  int hlen = snprintf(head, sizeof head, "rc=%d len=0\n", FK_E_BODY_TOO_LARGE);
  CHECK(len == (size_t)hlen + total && memcmp(out, head, (size_t)hlen) == 0 &&
        memcmp(out + hlen, body, total) == 0);
  tc_close(&c);
  free(body);
  ts_stop(&t);
}

static void test_spill_small_records_inline(void) { spilled(0); }
static void test_spill_small_records_threads(void) { spilled(2); }

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_needs_handler_threads);
  RUN(test_first_bytes_early);
  RUN(test_roles);
  RUN(test_bounded_memory);
  RUN(test_abort_wakes);
  RUN(test_close_wakes);
  RUN(test_max_body);
  RUN(test_multiplexed);
  RUN(test_in_place_records);
  RUN(test_in_place_endings);
  RUN(test_in_place_timeout);
  RUN(test_spill_small_records_inline);
  RUN(test_spill_small_records_threads);
  TEST_EXIT();
}
