/*
 * Integration tests of the client engine (lib/client) against an fcgikit
 * application in a thread of this process (harness.h), over real sockets:
 * the blocking client's requests, bodies and keep-alive; the session
 * driven by hand for multiplexing; the application's refusals; abort;
 * timeouts; bounded memory against a flood; and fake applications that
 * misbehave.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "integration/harness.h"

/* --- Helpers ------------------------------------------------------------- */

/* Output gathered by the test (the library never gathers it). */
struct sink {
  char *out, *err;
  size_t out_len, err_len;
  size_t cancel_after; /* on_stdout asks to cancel past this (0 = never) */
};

static void sink_add(char **buf, size_t *len, const uint8_t *p, size_t n) {
  *buf = realloc(*buf, *len + n + 1);
  memcpy(*buf + *len, p, n);
  *len += n;
  (*buf)[*len] = '\0';
}

static int on_out(const uint8_t *p, size_t n, void *arg) {
  struct sink *s = arg;
  sink_add(&s->out, &s->out_len, p, n);
  return s->cancel_after && s->out_len > s->cancel_after;
}

static int on_err(const uint8_t *p, size_t n, void *arg) {
  struct sink *s = arg;
  sink_add(&s->err, &s->err_len, p, n);
  return 0;
}

static void sink_free(struct sink *s) {
  free(s->out);
  free(s->err);
  memset(s, 0, sizeof *s);
}

static const char *sink_out(const struct sink *s) {
  return s->out ? s->out : "";
}

/* A request with the echo handler's params. */
static fk_client_request echo_request(struct sink *s, unsigned flags) {
  static const fk_client_pair pairs[] = {
      {"T", "echo", 0}, {"REQUEST_METHOD", "POST", 0}, {"N", "42", 0}};
  fk_client_request q;
  memset(&q, 0, sizeof q);
  q.flags = flags;
  q.params = pairs;
  q.nparams = 3;
  q.on_stdout = on_out;
  q.on_stderr = on_err;
  q.arg = s;
  q.timeout_ms = TS_WAIT;
  return q;
}

static const char *echo_pairs[] = {"T=echo", "REQUEST_METHOD=POST", "N=42",
                                   NULL};

/* Nonzero when the sink holds exactly the echo of body. */
static int echo_is(const struct sink *s, const char *body, size_t len) {
  char *want = ts_echo_expected(echo_pairs, "");
  size_t wl = strlen(want);
  int ok = s->out_len == wl + len && memcmp(s->out, want, wl) == 0 &&
           memcmp(s->out + wl, body, len) == 0;
  if (!ok)
    fprintf(stderr, "  echo: got %zu bytes \"%.200s\"\n", s->out_len,
            sink_out(s));
  free(want);
  return ok;
}

static fk_client *open_client(const char *address) {
  fk_client *c = NULL;
  int rc = fk_client_open(&c, address, NULL);
  if (rc != FK_OK)
    fprintf(stderr, "  open %s: %s (%s)\n", address, fk_strerror(rc),
            strerror(errno));
  CHECK_EQ(rc, FK_OK);
  return c;
}

/* Like ts_start, with extra listening sockets made by the test. */
static void start_with(ts_server *t, const fk_config *cfg, unsigned roles,
                       const int *fds, size_t nfds) {
  memset(t, 0, sizeof *t);
  ts_reset();
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  strcpy(t->dir, "/tmp/fk-it-XXXXXX");
  if (mkdtemp(t->dir) == NULL)
    exit(1);
  snprintf(t->path, sizeof t->path, "%s/app.sock", t->dir);
  int rc = fk_server_new(&t->s, cfg);
  for (unsigned role = 1; rc == FK_OK && role < 32; role++)
    if (roles & TS_ROLE(role))
      rc = fk_server_handle(t->s, role, ts_app, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(t->s, t->path);
  for (size_t i = 0; rc == FK_OK && i < nfds; i++)
    rc = fk_server_listen_fd(t->s, fds[i]);
  if (rc != FK_OK || pthread_create(&t->thread, NULL, ts__run, t) != 0) {
    fprintf(stderr, "cannot start the server: %s\n", fk_strerror(rc));
    exit(1);
  }
}

/* --- 1. Requests --------------------------------------------------------- */

static void test_get(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  fk_client *c = open_client(t.path);
  struct sink s = {0};
  fk_client_pair pairs[] = {{"T", "full", 0},
                            {"A", "alpha", 0},
                            {"B", "b\0b", 3}, /* a value with a NUL */
                            {"EXIT", "7", 0},
                            {"EMPTY", NULL, 0}};
  fk_client_request q;
  memset(&q, 0, sizeof q);
  q.params = pairs;
  q.nparams = 5;
  q.on_stdout = on_out;
  q.on_stderr = on_err;
  q.arg = &s;
  q.timeout_ms = TS_WAIT;
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.ended);
  CHECK_EQ(res.request_id, 1);
  CHECK_EQ(res.app_status, 7);
  CHECK_EQ(res.protocol_status, FK_REQUEST_COMPLETE);
  CHECK_EQ(res.stdout_bytes, s.out_len);
  CHECK_EQ(res.stderr_bytes, s.err_len);
  CHECK(!res.aborted && !res.reused);
  CHECK(strstr(sink_out(&s), "id=1 role=1 keep=0\n") == sink_out(&s));
  CHECK(strstr(sink_out(&s), "A=alpha B=b(3)") != NULL);
  CHECK(strstr(sink_out(&s), "4:EMPTY=\n") != NULL);
  CHECK(strstr(sink_out(&s), "length=0 body=\n") != NULL);
  CHECK(s.err && strcmp(s.err, "warn:something\n") == 0);
  /* Without KEEP_CONN the connection is closed on return. */
  CHECK(!fk_client_connected(c));
  sink_free(&s);

  /* The CGI parser on the stream, as a caller would use it. */
  fk_cgi *cgi;
  CHECK_EQ(fk_cgi_new(&cgi, NULL, 0, 0), FK_OK);
  q = echo_request(&s, 0);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(!res.reused); /* a new connection */
  long hdr = fk_cgi_feed(cgi, s.out, s.out_len);
  CHECK(hdr > 0 && fk_cgi_done(cgi));
  CHECK_EQ(fk_cgi_status(cgi), 200);
  CHECK(strcmp(fk_cgi_content_type(cgi), "text/plain") == 0);
  CHECK(strcmp(s.out + hdr, "T=echo\nREQUEST_METHOD=POST\nN=42\n--\n") == 0);
  fk_cgi_free(cgi);
  sink_free(&s);
  fk_client_close(c);
  ts_stop(&t);
}

/* Body bytes with a pattern that shows a lost or repeated piece. */
static uint8_t *pattern(size_t n) {
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < n; i++)
    b[i] = ts_pattern(i);
  return b;
}

struct writer {
  int fd;
  const uint8_t *p;
  size_t n;
};

/* Writes into a pipe slowly, in odd pieces, then closes it. */
static void *pipe_writer(void *arg) {
  struct writer *w = arg;
  for (size_t off = 0; off < w->n;) {
    size_t k = w->n - off < 7777 ? w->n - off : 7777;
    ssize_t n = write(w->fd, w->p + off, k);
    if (n <= 0)
      break;
    off += (size_t)n;
    if (off % 5 == 0)
      tc_sleep_ms(1);
  }
  close(w->fd);
  return NULL;
}

struct gen {
  const uint8_t *p;
  size_t n, off;
  int fail_at; /* return -1 after this many calls (0 = never) */
  int calls;
};

static long gen_read(void *buf, size_t cap, void *arg) {
  struct gen *g = arg;
  if (g->fail_at && ++g->calls >= g->fail_at)
    return -1;
  size_t k = g->n - g->off < 1000 ? g->n - g->off : 1000;
  if (k > cap)
    k = cap;
  memcpy(buf, g->p + g->off, k);
  g->off += k;
  return (long)k;
}

static void test_post(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  fk_client *c = open_client(t.path);
  size_t n = 300000;
  uint8_t *body = pattern(n);
  struct sink s = {0};
  fk_client_result res;

  /* From memory: a body of several records. */
  fk_client_request q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = FK_BODY_MEMORY;
  q.body.data = body;
  q.body.len = n;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(echo_is(&s, (const char *)body, n));
  sink_free(&s);

  /* From a pipe, written slowly by another thread. */
  int pfd[2];
  CHECK_EQ(pipe(pfd), 0);
  struct writer w = {pfd[1], body, n};
  pthread_t th;
  pthread_create(&th, NULL, pipe_writer, &w);
  q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = FK_BODY_FD;
  q.body.fd = pfd[0];
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused);
  CHECK(echo_is(&s, (const char *)body, n));
  pthread_join(th, NULL);
  close(pfd[0]);
  sink_free(&s);

  /* From a file. */
  char path[] = "/tmp/fk-body-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  CHECK_EQ(write(fd, body, n), (long)n);
  lseek(fd, 0, SEEK_SET);
  q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = FK_BODY_FD;
  q.body.fd = fd;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(echo_is(&s, (const char *)body, n));
  close(fd);
  sink_free(&s);

  /* From a callback. */
  struct gen g = {body, n, 0, 0, 0};
  q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = FK_BODY_CALLBACK;
  q.body.read = gen_read;
  q.body.arg = &g;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(echo_is(&s, (const char *)body, n));
  CHECK(res.reused);
  sink_free(&s);

  /* A callback that fails: FK_E_IO, and the connection is dropped. */
  struct gen bad = {body, n, 0, 3, 0};
  q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = FK_BODY_CALLBACK;
  q.body.read = gen_read;
  q.body.arg = &bad;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_IO);
  CHECK(!fk_client_connected(c));
  CHECK(strstr(fk_client_error_reason(c), "body") != NULL);
  sink_free(&s);

  /* Bad requests are refused before anything is sent. */
  q = echo_request(&s, FK_KEEP_CONN);
  q.body.kind = 9;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_INVAL);
  q = echo_request(&s, FK_KEEP_CONN);
  q.params = NULL;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_INVAL);
  CHECK_EQ(fk_client_run(c, NULL, &res), FK_E_INVAL);

  /* Params over the cap. */
  char *big = malloc(2u << 20);
  memset(big, 'x', (2u << 20) - 1);
  big[(2u << 20) - 1] = '\0';
  fk_client_pair bp[] = {{"BIG", big, 0}};
  q = echo_request(&s, FK_KEEP_CONN);
  q.params = bp;
  q.nparams = 1;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_PARAMS_TOO_LARGE);
  free(big);
  /* ... and the next request connects again and works. */
  q = echo_request(&s, FK_KEEP_CONN);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(echo_is(&s, "", 0));
  sink_free(&s);
  fk_client_close(c);
  free(body);
  ts_stop(&t);
}

static void test_filter(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ALL_ROLES);
  fk_client *c = open_client(t.path);
  struct sink s = {0};
  fk_client_pair pairs[] = {{"T", "filter", 0}, {"FCGI_DATA_LENGTH", "9", 0}};
  fk_client_request q;
  memset(&q, 0, sizeof q);
  q.role = FK_FILTER;
  q.flags = FK_KEEP_CONN;
  q.params = pairs;
  q.nparams = 2;
  q.body.kind = FK_BODY_MEMORY;
  q.body.data = "stdin";
  q.body.len = 5;
  q.data.kind = FK_BODY_MEMORY;
  q.data.data = "file data";
  q.data.len = 9;
  q.on_stdout = on_out;
  q.arg = &s;
  q.timeout_ms = TS_WAIT;
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(strcmp(sink_out(&s), "FCGI_DATA_LENGTH=9 data_length=9 body=stdin\n"
                             "data=file data\n") == 0);
  sink_free(&s);

  /* DATA from a callback, STDIN empty. */
  uint8_t *body = pattern(100);
  struct gen g = {(const uint8_t *)"from a callback", 15, 0, 0, 0};
  q.body.kind = FK_BODY_NONE;
  q.data.kind = FK_BODY_CALLBACK;
  q.data.read = gen_read;
  q.data.arg = &g;
  pairs[1].value = "15";
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused);
  CHECK(strcmp(sink_out(&s), "FCGI_DATA_LENGTH=15 data_length=15 body=\n"
                             "data=from a callback\n") == 0);
  sink_free(&s);
  free(body);

  /* An Authorizer. */
  fk_client_pair auth[] = {{"T", "auth", 0}};
  memset(&q, 0, sizeof q);
  q.role = FK_AUTHORIZER;
  q.params = auth;
  q.nparams = 1;
  q.on_stdout = on_out;
  q.arg = &s;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  fk_cgi *cgi;
  CHECK_EQ(fk_cgi_new(&cgi, NULL, 0, 0), FK_OK);
  CHECK_EQ(fk_cgi_feed(cgi, s.out, s.out_len), (long)s.out_len);
  CHECK_EQ(fk_cgi_finish(cgi), FK_OK);
  CHECK_EQ(fk_cgi_status(cgi), 200);
  CHECK(strcmp(fk_cgi_header(cgi, "Variable-AUTH_USER"), "ann") == 0);
  fk_cgi_free(cgi);
  sink_free(&s);
  fk_client_close(c);
  ts_stop(&t);
}

/* --- 2. GET_VALUES and keep-alive ---------------------------------------- */

static void test_get_values(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_conns = 17;
  cfg.max_reqs = 33;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  fk_client *c = open_client(t.path);
  const fk_params *v = NULL;
  CHECK_EQ(fk_client_get_values(c, NULL, 0, TS_WAIT, &v), FK_OK);
  CHECK(v != NULL);
  if (v) {
    CHECK_EQ(fk_params_count(v), 3);
    CHECK(strcmp(fk_params_get(v, "FCGI_MAX_CONNS", NULL), "17") == 0);
    CHECK(strcmp(fk_params_get(v, "FCGI_MAX_REQS", NULL), "33") == 0);
    CHECK(strcmp(fk_params_get(v, "FCGI_MPXS_CONNS", NULL), "1") == 0);
  }
  /* Only the names asked for; unknown names are left out (spec 4.1). */
  const char *names[] = {"FCGI_MPXS_CONNS", "NO_SUCH_NAME"};
  CHECK_EQ(fk_client_get_values(c, names, 2, TS_WAIT, &v), FK_OK);
  CHECK_EQ(fk_params_count(v), 1);
  /* The same connection then carries a request. */
  struct sink s = {0};
  fk_client_request q = echo_request(&s, FK_KEEP_CONN);
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused == 0); /* no request before it on the connection */
  CHECK(echo_is(&s, "", 0));
  CHECK_EQ(fk_client_get_values(c, NULL, 0, TS_WAIT, &v), FK_OK);
  sink_free(&s);
  fk_client_close(c);
  ts_stop(&t);
}

static void test_keep_alive(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  fk_client *c = open_client(t.path);
  for (int i = 0; i < 5; i++) {
    struct sink s = {0};
    fk_client_request q = echo_request(&s, FK_KEEP_CONN);
    char body[32];
    snprintf(body, sizeof body, "request %d", i);
    q.body.kind = FK_BODY_MEMORY;
    q.body.data = body;
    q.body.len = strlen(body);
    fk_client_result res;
    CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
    CHECK_EQ(res.reused, i > 0);
    CHECK_EQ(res.request_id, 1); /* the lowest id, again and again */
    CHECK(echo_is(&s, body, strlen(body)));
    CHECK(fk_client_connected(c));
    sink_free(&s);
  }
  /* The server saw one connection: a second one would show as a new
   * accept; count the requests it served instead and that nothing broke. */
  CHECK_EQ(fk_server_requests(t.s), 5);
  /* A request without KEEP_CONN ends the connection... */
  struct sink s = {0};
  fk_client_request q = echo_request(&s, 0);
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused);
  CHECK(!fk_client_connected(c));
  sink_free(&s);
  /* ... and the next one opens a new one. */
  q = echo_request(&s, FK_KEEP_CONN);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(!res.reused);
  sink_free(&s);
  /* An invalid request is refused before anything is sent: the kept
   * connection stays open and serves the next one. */
  fk_client_pair nameless = {NULL, "x", 0};
  fk_client_request bad = echo_request(&s, FK_KEEP_CONN);
  bad.params = &nameless;
  bad.nparams = 1;
  CHECK_EQ(fk_client_run(c, &bad, &res), FK_E_INVAL);
  CHECK(fk_client_connected(c));
  bad = echo_request(&s, FK_KEEP_CONN);
  bad.role = 70000;
  CHECK_EQ(fk_client_run(c, &bad, &res), FK_E_INVAL);
  CHECK(fk_client_connected(c));
  q = echo_request(&s, FK_KEEP_CONN);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused);
  sink_free(&s);
  fk_client_close(c);
  ts_stop(&t);
}

/* The trace hook sees every byte, in order: the bytes sent decode as
 * BEGIN_REQUEST first, those received end with END_REQUEST. */
struct trace_log {
  struct sink sent, received;
};

static void on_trace(int direction, const uint8_t *p, size_t n, void *arg) {
  struct trace_log *t = arg;
  struct sink *s = direction == FK_TRACE_SENT ? &t->sent : &t->received;
  CHECK(direction == FK_TRACE_SENT || direction == FK_TRACE_RECEIVED);
  sink_add(&s->out, &s->out_len, p, n);
}

static void test_trace(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  struct trace_log log = {{0}, {0}};
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.trace = on_trace;
  opt.trace_arg = &log;
  fk_client *c = NULL;
  CHECK_EQ(fk_client_open(&c, t.path, &opt), FK_OK);
  struct sink s = {0};
  fk_client_request q = echo_request(&s, 0);
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(log.sent.out_len > 16 && log.sent.out[1] == FK_BEGIN_REQUEST);
  CHECK_EQ(log.received.out_len, res.stdout_bytes + 8 /* header */ +
                                     fk_padding_for(res.stdout_bytes) +
                                     8 /* STDOUT end */ + 16 /* END */);
  CHECK_EQ(log.received.out[log.received.out_len - 15], FK_END_REQUEST);
  sink_free(&s);
  sink_free(&log.sent);
  sink_free(&log.received);
  fk_client_close(c);
  ts_stop(&t);
}

/* --- 3. Multiplexing with the session, driven by hand --------------------- */

/* What a small event loop over one session keeps per request. */
struct mreq {
  unsigned id;
  struct sink s;
  int ended;
  uint32_t app_status;
  unsigned protocol_status;
};

struct mconn {
  int fd;
  fk_client_session *s;
  int values; /* GET_VALUES answers seen */
};

/* Sends what is queued and dispatches what arrives, for up to ms. Returns
 * 0, or -1 on an error. */
static int pump(struct mconn *m, int ms) {
  long deadline = tc_now_ms() + ms;
  uint8_t buf[16384];
  for (;;) {
    const uint8_t *p;
    size_t n = fk_client_session_pending(m->s, &p);
    struct pollfd pfd = {m->fd, POLLIN | (n ? POLLOUT : 0), 0};
    long left = deadline - tc_now_ms();
    if (left <= 0)
      return 0;
    if (poll(&pfd, 1, (int)left) <= 0)
      continue;
    if (pfd.revents & POLLOUT) {
      ssize_t w = send(m->fd, p, n, MSG_NOSIGNAL);
      if (w < 0)
        return -1;
      fk_client_session_consume(m->s, (size_t)w);
    }
    if (!(pfd.revents & (POLLIN | POLLHUP)))
      continue;
    ssize_t r = recv(m->fd, buf, sizeof buf, 0);
    if (r <= 0)
      return fk_client_session_eof(m->s) == FK_OK ? 0 : -1;
    for (size_t off = 0; off < (size_t)r;) {
      fk_client_event ev;
      long k = fk_client_session_recv(m->s, buf + off, (size_t)r - off, &ev);
      if (k < 0) {
        fprintf(stderr, "  session: %s\n",
                fk_client_session_error_reason(m->s));
        return -1;
      }
      off += (size_t)k;
      struct mreq *q = ev.user;
      if (ev.type == FK_CLIENT_NONE)
        break;
      if (ev.type == FK_CLIENT_VALUES)
        m->values++;
      else if (ev.type == FK_CLIENT_STDOUT)
        sink_add(&q->s.out, &q->s.out_len, ev.data, ev.len);
      else if (ev.type == FK_CLIENT_END) {
        q->ended = 1;
        q->app_status = ev.app_status;
        q->protocol_status = ev.protocol_status;
      }
    }
  }
}

/* Pumps until every request in q[0..n) ended (or 5 s passed). */
static int pump_until_ended(struct mconn *m, struct mreq *q, size_t n) {
  long deadline = tc_now_ms() + TS_WAIT;
  for (;;) {
    size_t ended = 0;
    for (size_t i = 0; i < n; i++)
      ended += q[i].ended;
    if (ended == n)
      return 1;
    if (tc_now_ms() > deadline || pump(m, 20) != 0)
      return 0;
  }
}

static void mconn_open(struct mconn *m, const char *path) {
  memset(m, 0, sizeof *m);
  CHECK_EQ(fk_client_dial(path, TS_WAIT, &m->fd), FK_OK);
  CHECK_EQ(fk_client_session_new(&m->s, NULL), FK_OK);
}

static void mconn_close(struct mconn *m) {
  close(m->fd);
  fk_client_session_free(m->s);
}

/* Begins a request with params T=tval and an empty body. */
static int mbegin(struct mconn *m, struct mreq *q, const char *tval) {
  memset(q, 0, sizeof *q);
  int rc = fk_client_session_begin(m->s, FK_RESPONDER, FK_KEEP_CONN, q, &q->id);
  if (rc != FK_OK)
    return rc;
  CHECK_EQ(fk_client_session_param(m->s, q->id, "T", 1, tval, strlen(tval)),
           FK_OK);
  return fk_client_session_stream_end(m->s, q->id, FK_STDIN);
}

static void test_multiplex(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 4;
  cfg.max_reqs = 6;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  struct mconn m;
  mconn_open(&m, t.path);
  /* Until the application says it multiplexes, one at a time. */
  CHECK_EQ(fk_client_session_max_requests(m.s), 1);
  CHECK_EQ(fk_client_session_get_values(m.s, NULL, 0), FK_OK);
  for (long end = tc_now_ms() + TS_WAIT; !m.values && tc_now_ms() < end;)
    CHECK_EQ(pump(&m, 20), 0);
  CHECK_EQ(fk_client_session_max_requests(m.s), 6);

  /* Four requests at once, held at the gate together: they overlap. */
  struct mreq q[7];
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(mbegin(&m, &q[i], "gate"), FK_OK);
    CHECK_EQ(q[i].id, (unsigned)i + 1);
  }
  long until = tc_now_ms() + TS_WAIT;
  while (!ts_wait_entered(4, 10) && tc_now_ms() < until)
    CHECK_EQ(pump(&m, 10), 0);
  CHECK(ts_wait_entered(4, 0));
  CHECK_EQ(fk_client_session_in_flight(m.s), 4);
  ts_gate_open();
  CHECK(pump_until_ended(&m, q, 4));
  for (int i = 0; i < 4; i++) {
    char want[32];
    snprintf(want, sizeof want, "gated %u\n", q[i].id);
    CHECK(strcmp(sink_out(&q[i].s), want) == 0);
    CHECK_EQ(q[i].protocol_status, FK_REQUEST_COMPLETE);
    sink_free(&q[i].s);
  }
  /* Ids are reused from the lowest; up to the limit and no further. */
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(mbegin(&m, &q[i], "echo"), FK_OK);
    CHECK_EQ(q[i].id, (unsigned)i + 1);
  }
  CHECK_EQ(mbegin(&m, &q[6], "echo"), FK_E_BUSY);
  CHECK(pump_until_ended(&m, q, 6));
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(q[i].protocol_status, FK_REQUEST_COMPLETE);
    CHECK(strstr(sink_out(&q[i].s), "T=echo\n--\n") != NULL);
    sink_free(&q[i].s);
  }
  CHECK_EQ(fk_client_session_in_flight(m.s), 0);
  mconn_close(&m);
  ts_stop(&t);
}

/* --- 4. Refusals --------------------------------------------------------- */

static void test_refusals(void) {
  /* UNKNOWN_ROLE: a Filter to an application serving Responders only. */
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 2;
  cfg.max_reqs_per_conn = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  fk_client *c = open_client(t.path);
  struct sink s = {0};
  fk_client_request q = echo_request(&s, FK_KEEP_CONN);
  q.role = FK_FILTER;
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.ended);
  CHECK_EQ(res.protocol_status, FK_UNKNOWN_ROLE);
  CHECK_EQ(res.stdout_bytes, 0);
  sink_free(&s);
  fk_client_close(c);

  /* OVERLOADED: a second request on a connection allowed one. */
  struct mconn m;
  mconn_open(&m, t.path);
  fk_client_session_set_max_requests(m.s, 2);
  struct mreq r[2];
  CHECK_EQ(mbegin(&m, &r[0], "gate"), FK_OK);
  long until = tc_now_ms() + TS_WAIT;
  while (!ts_wait_entered(1, 10) && tc_now_ms() < until)
    CHECK_EQ(pump(&m, 10), 0);
  CHECK_EQ(mbegin(&m, &r[1], "echo"), FK_OK);
  CHECK(pump_until_ended(&m, &r[1], 1));
  CHECK_EQ(r[1].protocol_status, FK_OVERLOADED);
  CHECK_EQ(r[1].s.out_len, 0);
  ts_gate_open();
  CHECK(pump_until_ended(&m, r, 1));
  CHECK_EQ(r[0].protocol_status, FK_REQUEST_COMPLETE);
  sink_free(&r[0].s);
  mconn_close(&m);
  ts_stop(&t);

  /* CANT_MPX_CONN: an application that does not multiplex. */
  ts_config(&cfg);
  cfg.handler_threads = 2;
  cfg.multiplex = 0;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  mconn_open(&m, t.path);
  fk_client_session_set_max_requests(m.s, 2);
  CHECK_EQ(mbegin(&m, &r[0], "gate"), FK_OK);
  until = tc_now_ms() + TS_WAIT;
  while (!ts_wait_entered(1, 10) && tc_now_ms() < until)
    CHECK_EQ(pump(&m, 10), 0);
  CHECK_EQ(mbegin(&m, &r[1], "echo"), FK_OK);
  CHECK(pump_until_ended(&m, &r[1], 1));
  CHECK_EQ(r[1].protocol_status, FK_CANT_MPX_CONN);
  /* The session learned it: one request at a time from now on. */
  CHECK_EQ(fk_client_session_max_requests(m.s), 1);
  unsigned id;
  CHECK_EQ(fk_client_session_begin(m.s, 1, FK_KEEP_CONN, NULL, &id), FK_E_BUSY);
  ts_gate_open();
  CHECK(pump_until_ended(&m, r, 1));
  CHECK_EQ(r[0].protocol_status, FK_REQUEST_COMPLETE);
  /* GET_VALUES agrees. */
  CHECK_EQ(fk_client_session_get_values(m.s, NULL, 0), FK_OK);
  for (long end = tc_now_ms() + TS_WAIT; !m.values && tc_now_ms() < end;)
    CHECK_EQ(pump(&m, 20), 0);
  CHECK_EQ(fk_client_session_max_requests(m.s), 1);
  sink_free(&r[0].s);
  mconn_close(&m);
  ts_stop(&t);
}

/* --- 5. Abort, and bounded memory against a flood ------------------------ */

static void *cancel_later(void *arg) {
  fk_client *c = arg;
  if (ts_wait_entered(1, TS_WAIT)) {
    fk_client_cancel(c);
    tc_sleep_ms(100);
  }
  ts_gate_open();
  return NULL;
}

static void test_abort(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 2;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));

  /* Cancelled from another thread while the handler waits: ABORT_REQUEST,
   * then the application's END_REQUEST (spec 5.4). */
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.abort_timeout_ms = TS_WAIT;
  fk_client *c = NULL;
  CHECK_EQ(fk_client_open(&c, t.path, &opt), FK_OK);
  pthread_t th;
  pthread_create(&th, NULL, cancel_later, c);
  struct sink s = {0};
  fk_client_pair gate[] = {{"T", "gate", 0}};
  fk_client_request q = echo_request(&s, FK_KEEP_CONN);
  q.params = gate;
  q.nparams = 1;
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_ABORTED);
  pthread_join(th, NULL);
  CHECK(res.aborted);
  CHECK(res.ended);
  CHECK_EQ(res.protocol_status, FK_REQUEST_COMPLETE);
  /* The connection survived the abort and carries the next request. */
  CHECK(fk_client_connected(c));
  sink_free(&s);
  q = echo_request(&s, FK_KEEP_CONN);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  CHECK(res.reused);
  CHECK(echo_is(&s, "", 0));
  sink_free(&s);
  /* A cancel between requests is forgotten. */
  fk_client_cancel(c);
  q = echo_request(&s, FK_KEEP_CONN);
  CHECK_EQ(fk_client_run(c, &q, &res), FK_OK);
  sink_free(&s);
  fk_client_close(c);
  ts_stop(&t);
}

static int stop_after_64m(const uint8_t *p, size_t n, void *arg) {
  (void)p;
  uint64_t *total = arg;
  *total += n;
  return *total > (64u << 20);
}

static void test_flood_bounded(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 2;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  static ts_counter k;
  fk_allocator a = {ts_malloc, ts_realloc, ts_free, &k};
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.allocator = &a;
  opt.abort_timeout_ms = TS_WAIT;
  fk_client *c = NULL;
  CHECK_EQ(fk_client_open(&c, t.path, &opt), FK_OK);
  uint64_t total = 0;
  fk_client_pair flood[] = {{"T", "flood", 0}};
  fk_client_request q;
  memset(&q, 0, sizeof q);
  q.flags = FK_KEEP_CONN;
  q.params = flood;
  q.nparams = 1;
  q.on_stdout = stop_after_64m;
  q.arg = &total;
  q.timeout_ms = 30000;
  fk_client_result res;
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_ABORTED);
  CHECK(total > (64u << 20));
  CHECK(res.ended && res.aborted);
  CHECK(ts_wait_flood(TS_WAIT));
  /* 64 MB went through; the client held its read buffer and little more. */
  size_t peak = atomic_load(&k.peak);
  if (peak > 256 * 1024)
    fprintf(stderr, "  peak %zu bytes\n", peak);
  CHECK(peak <= 256 * 1024);
  fk_client_close(c);
  CHECK_EQ(atomic_load(&k.live), 0);
  ts_stop(&t);
}

/* --- 6. Addresses and timeouts ------------------------------------------- */

static void test_addresses(void) {
  /* TCP on 127.0.0.1 and an abstract Unix socket, made here and handed to
   * the server (it listens on paths and TCP itself, but the test needs a
   * free port and an abstract name). */
  int fds[3], nfds = 0;
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in in = {.sin_family = AF_INET};
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t inlen = sizeof in;
  CHECK_EQ(bind(tcp, (struct sockaddr *)&in, sizeof in), 0);
  CHECK_EQ(listen(tcp, 16), 0);
  getsockname(tcp, (struct sockaddr *)&in, &inlen);
  fds[nfds++] = tcp;
  char abstract[64];
  snprintf(abstract, sizeof abstract, "fk-test-client-%d", (int)getpid());
  int ab = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  memcpy(sun.sun_path + 1, abstract, strlen(abstract));
  CHECK_EQ(bind(ab, (struct sockaddr *)&sun,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                            strlen(abstract))),
           0);
  CHECK_EQ(listen(ab, 16), 0);
  fds[nfds++] = ab;
  int v6 = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
  in6.sin6_addr = in6addr_loopback;
  socklen_t in6len = sizeof in6;
  int have_v6 = v6 >= 0 && bind(v6, (struct sockaddr *)&in6, sizeof in6) == 0 &&
                listen(v6, 16) == 0;
  if (have_v6) {
    getsockname(v6, (struct sockaddr *)&in6, &in6len);
    fds[nfds++] = v6;
  } else if (v6 >= 0) {
    close(v6);
  }
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), fds, (size_t)nfds);

  char addrs[5][160];
  int n = 0;
  snprintf(addrs[n++], sizeof addrs[0], "127.0.0.1:%d", ntohs(in.sin_port));
  snprintf(addrs[n++], sizeof addrs[0], "localhost:%d", ntohs(in.sin_port));
  snprintf(addrs[n++], sizeof addrs[0], "@%s", abstract);
  snprintf(addrs[n++], sizeof addrs[0], "unix:%s", t.path);
  if (have_v6)
    snprintf(addrs[n++], sizeof addrs[0], "[::1]:%d", ntohs(in6.sin6_port));
  for (int i = 0; i < n; i++) {
    fk_client *c = open_client(addrs[i]);
    if (c == NULL)
      continue;
    const fk_params *v;
    CHECK_EQ(fk_client_get_values(c, NULL, 0, TS_WAIT, &v), FK_OK);
    struct sink s = {0};
    fk_client_request q = echo_request(&s, FK_KEEP_CONN);
    CHECK_EQ(fk_client_run(c, &q, NULL), FK_OK);
    CHECK(echo_is(&s, "", 0));
    sink_free(&s);
    fk_client_close(c);
  }
  ts_stop(&t);

  /* Failures to connect. */
  fk_client *c = (fk_client *)1;
  CHECK_EQ(fk_client_open(&c, "/nonexistent/dir/app.sock", NULL), FK_E_SYSTEM);
  CHECK(c == NULL);
  CHECK_EQ(fk_client_open(&c, "no-port-here", NULL), FK_E_ADDRESS);
  CHECK_EQ(fk_client_open(&c, "host:99999", NULL), FK_E_ADDRESS);
  CHECK_EQ(fk_client_open(&c, "", NULL), FK_E_ADDRESS);
  CHECK_EQ(fk_client_open(&c, NULL, NULL), FK_E_INVAL);
  CHECK_EQ(fk_client_open(&c, "@fk-nobody-listens-here", NULL), FK_E_SYSTEM);
  CHECK_EQ(errno, ECONNREFUSED);
}

/* A Unix socket that listens but never accepts. */
struct mute {
  char dir[64], path[128];
  int fd;
};

static void mute_open(struct mute *m, int backlog) {
  strcpy(m->dir, "/tmp/fk-mute-XXXXXX");
  if (mkdtemp(m->dir) == NULL)
    exit(1);
  snprintf(m->path, sizeof m->path, "%s/s", m->dir);
  m->fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  strcpy(sun.sun_path, m->path);
  if (bind(m->fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
      listen(m->fd, backlog) != 0)
    exit(1);
}

static void mute_close(struct mute *m) {
  close(m->fd);
  unlink(m->path);
  rmdir(m->dir);
}

static void test_timeouts(void) {
  struct mute m;
  mute_open(&m, 16);
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.abort_timeout_ms = 100;
  fk_client *c = NULL;
  CHECK_EQ(fk_client_open(&c, m.path, &opt), FK_OK); /* queued by the kernel */
  struct sink s = {0};
  fk_client_request q = echo_request(&s, FK_KEEP_CONN);
  q.timeout_ms = 200;
  fk_client_result res;
  long t0 = tc_now_ms();
  CHECK_EQ(fk_client_run(c, &q, &res), FK_E_TIMEOUT);
  long took = tc_now_ms() - t0;
  CHECK(took >= 290 && took < 2000);
  CHECK(res.aborted && !res.ended);
  CHECK(!fk_client_connected(c));
  const fk_params *v;
  t0 = tc_now_ms();
  CHECK_EQ(fk_client_get_values(c, NULL, 0, 200, &v), FK_E_TIMEOUT);
  took = tc_now_ms() - t0;
  CHECK(took >= 190 && took < 2000);
  fk_client_close(c);
  mute_close(&m);

  /* A backlog that is full: connect itself times out. */
  mute_open(&m, 0);
  int fds[8], nfd = 0, rc = FK_OK;
  t0 = tc_now_ms();
  while (nfd < 8 && (rc = fk_client_dial(m.path, 200, &fds[nfd])) == FK_OK)
    nfd++;
  CHECK_EQ(rc, FK_E_TIMEOUT);
  CHECK(tc_now_ms() - t0 < 3000);
  while (nfd > 0)
    close(fds[--nfd]);
  mute_close(&m);
}

/* --- 7. Applications that misbehave -------------------------------------- */

struct fake {
  struct mute m;
  const uint8_t *reply;
  size_t reply_len;
  int hold_ms; /* keep the connection this long after replying */
  pthread_t thread;
};

static void *fake_run(void *arg) {
  struct fake *f = arg;
  struct pollfd pfd = {f->m.fd, POLLIN, 0};
  if (poll(&pfd, 1, TS_WAIT) <= 0)
    return NULL;
  int fd = accept(f->m.fd, NULL, NULL);
  if (fd < 0)
    return NULL;
  uint8_t buf[4096];
  pfd.fd = fd;
  if (poll(&pfd, 1, TS_WAIT) > 0 && read(fd, buf, sizeof buf) > 0) {
    ssize_t w = write(fd, f->reply, f->reply_len);
    (void)w;
  }
  if (f->hold_ms)
    tc_sleep_ms(f->hold_ms);
  close(fd);
  return NULL;
}

static int fake_request(const uint8_t *reply, size_t len, int hold_ms,
                        struct sink *s, fk_client **cp) {
  struct fake f = {.reply = reply, .reply_len = len, .hold_ms = hold_ms};
  mute_open(&f.m, 4);
  pthread_create(&f.thread, NULL, fake_run, &f);
  fk_client *c = open_client(f.m.path);
  fk_client_request q = echo_request(s, FK_KEEP_CONN);
  int rc = c ? fk_client_run(c, &q, NULL) : FK_E_SYSTEM;
  pthread_join(f.thread, NULL);
  mute_close(&f.m);
  *cp = c;
  return rc;
}

static void test_bad_apps(void) {
  struct sink s = {0};
  fk_client *c;
  /* A wrong version after some output. */
  static const uint8_t bad_version[] = {1,   FK_STDOUT, 0, 1, 0, 2, 6, 0,
                                        'h', 'i',       0, 0, 0, 0, 0, 0,
                                        2,   FK_STDOUT, 0, 1, 0, 0, 0, 0};
  CHECK_EQ(fake_request(bad_version, sizeof bad_version, 0, &s, &c),
           FK_E_VERSION);
  CHECK(strcmp(sink_out(&s), "hi") == 0);
  CHECK(strcmp(fk_client_error_reason(c),
               "a record with a version other than 1 (at byte 16)") == 0);
  CHECK(!fk_client_connected(c));
  fk_client_close(c);
  sink_free(&s);
  /* Output for a request that does not exist. */
  static const uint8_t stray[] = {1,   FK_STDOUT, 0, 9, 0, 1, 7, 0,
                                  'x', 0,         0, 0, 0, 0, 0, 0};
  CHECK_EQ(fake_request(stray, sizeof stray, 0, &s, &c), FK_E_REQUEST_ID);
  CHECK(strstr(fk_client_error_reason(c), "request 9") != NULL);
  fk_client_close(c);
  sink_free(&s);
  /* Closed in the middle of the response. */
  static const uint8_t cut[] = {1,   FK_STDOUT, 0,   1,   0, 4, 4, 0,
                                'p', 'a',       'r', 't', 0, 0, 0, 0};
  CHECK_EQ(fake_request(cut, sizeof cut, 0, &s, &c), FK_E_CLOSED);
  CHECK(strcmp(sink_out(&s), "part") == 0);
  CHECK(strstr(fk_client_error_reason(c), "unanswered") != NULL);
  fk_client_close(c);
  sink_free(&s);
  /* Closed inside a record. */
  CHECK_EQ(fake_request(cut, 10, 0, &s, &c), FK_E_CLOSED);
  CHECK(strstr(fk_client_error_reason(c), "inside a record") != NULL);
  fk_client_close(c);
  sink_free(&s);
  /* A malformed END_REQUEST. */
  static const uint8_t short_end[] = {
      1, FK_END_REQUEST, 0, 1, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK_EQ(fake_request(short_end, sizeof short_end, 100, &s, &c),
           FK_E_RECORD_LENGTH);
  fk_client_close(c);
  sink_free(&s);
}

int main(void) {
  RUN(test_get);
  RUN(test_post);
  RUN(test_filter);
  RUN(test_get_values);
  RUN(test_keep_alive);
  RUN(test_trace);
  RUN(test_multiplex);
  RUN(test_refusals);
  RUN(test_abort);
  RUN(test_flood_bounded);
  RUN(test_addresses);
  RUN(test_timeouts);
  RUN(test_bad_apps);
  TEST_EXIT();
}
