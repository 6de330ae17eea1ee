/*
 * The application side of the integration tests: an fk_server running in a
 * thread of the test process, on a Unix socket in a private mkdtemp
 * directory, serving one handler whose behaviour each request chooses with
 * its param T; a counting allocator; and checks of a response's shape.
 */
#ifndef FK_TEST_HARNESS_H
#define FK_TEST_HARNESS_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgikit/fcgikit.h"
#include "integration/client.h"
#include "test.h"

/* How long a test waits for an answer that should come at once. Generous:
 * a loaded machine must not fail a correct server. */
#define TS_WAIT 5000

/* --- A counting allocator ------------------------------------------------ */

/* Each block carries its size in front of it, so that free and realloc
 * can keep the count of live bytes. */
typedef union ts_block {
  size_t size;
  max_align_t align;
} ts_block;

typedef struct ts_counter {
  atomic_size_t live, peak, refused;
  size_t refuse_above; /* blocks larger than this fail (0 = none) */
} ts_counter;

static inline void ts__count(ts_counter *k, size_t add, size_t sub) {
  size_t live = atomic_fetch_add(&k->live, add) + add;
  atomic_fetch_sub(&k->live, sub);
  size_t peak = atomic_load(&k->peak);
  while (live > peak && !atomic_compare_exchange_weak(&k->peak, &peak, live))
    ;
}

static inline void *ts_malloc(size_t size, void *ud) {
  ts_counter *k = ud;
  if (k->refuse_above && size > k->refuse_above) {
    atomic_fetch_add(&k->refused, 1);
    return NULL;
  }
  ts_block *b = malloc(sizeof *b + size);
  if (b == NULL)
    return NULL;
  b->size = size;
  ts__count(k, size, 0);
  return b + 1;
}

static inline void ts_free(void *p, void *ud) {
  if (p == NULL)
    return;
  ts_block *b = (ts_block *)p - 1;
  ts__count(ud, 0, b->size);
  free(b);
}

static inline void *ts_realloc(void *p, size_t size, void *ud) {
  ts_counter *k = ud;
  if (p == NULL)
    return ts_malloc(size, ud);
  if (k->refuse_above && size > k->refuse_above) {
    atomic_fetch_add(&k->refused, 1);
    return NULL;
  }
  ts_block *b = (ts_block *)p - 1;
  size_t old = b->size;
  ts_block *n = realloc(b, sizeof *n + size);
  if (n == NULL)
    return NULL;
  n->size = size;
  ts__count(k, size, old);
  return n + 1;
}

/* Starts a new peak from the bytes live now. */
static inline void ts_counter_mark(ts_counter *k) {
  atomic_store(&k->peak, atomic_load(&k->live));
}

/* --- The handler --------------------------------------------------------- */

/* What handlers tell the tests, and the gate a "gate" handler waits at. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int gate_open;
  int entered;       /* "gate" handlers that reached the gate */
  int flood_rc;      /* how a "flood" handler's last fk_write returned */
  int flood_aborted; /* fk_aborted() when it stopped */
  int flood_done;
  unsigned long calls;
} ts = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0};

static inline void ts_reset(void) {
  pthread_mutex_lock(&ts.lock);
  ts.gate_open = ts.entered = 0;
  ts.flood_rc = ts.flood_aborted = ts.flood_done = 0;
  ts.calls = 0;
  pthread_mutex_unlock(&ts.lock);
}

static inline void ts_gate_open(void) {
  pthread_mutex_lock(&ts.lock);
  ts.gate_open = 1;
  pthread_cond_broadcast(&ts.cond);
  pthread_mutex_unlock(&ts.lock);
}

static inline void ts__deadline(struct timespec *t, long ms) {
  clock_gettime(CLOCK_REALTIME, t);
  t->tv_sec += ms / 1000;
  t->tv_nsec += (ms % 1000) * 1000000;
  if (t->tv_nsec >= 1000000000) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000;
  }
}

/* Waits until n "gate" handlers have reached the gate. Returns nonzero
 * when they did within timeout_ms. */
static inline int ts_wait_entered(int n, long timeout_ms) {
  struct timespec t;
  ts__deadline(&t, timeout_ms);
  pthread_mutex_lock(&ts.lock);
  while (ts.entered < n && pthread_cond_timedwait(&ts.cond, &ts.lock, &t) == 0)
    ;
  int ok = ts.entered >= n;
  pthread_mutex_unlock(&ts.lock);
  return ok;
}

/* Waits for the end of a "flood" handler. */
static inline int ts_wait_flood(long timeout_ms) {
  struct timespec t;
  ts__deadline(&t, timeout_ms);
  pthread_mutex_lock(&ts.lock);
  while (!ts.flood_done && pthread_cond_timedwait(&ts.cond, &ts.lock, &t) == 0)
    ;
  int ok = ts.flood_done;
  pthread_mutex_unlock(&ts.lock);
  return ok;
}

/* The byte at offset i of a "big" response: not periodic in 2^k, so a
 * lost or repeated chunk shows. */
static inline uint8_t ts_pattern(size_t i) {
  return (uint8_t)((i * 7 + i / 251) % 251);
}

static inline unsigned long ts_param_ul(fk_request *req, const char *name,
                                        unsigned long dflt) {
  const char *v = fk_param(req, name);
  return v ? strtoul(v, NULL, 10) : dflt;
}

/* Like examples/echo.c: status, header, one NAME=VALUE line per param in
 * the order received, "--", the body. */
static inline void ts_echo(fk_request *req) {
  fk_status(req, 200, NULL);
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  for (size_t i = 0; i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    fk_puts(req, name);
    fk_write(req, "=", 1);
    fk_write(req, value, len);
    fk_write(req, "\n", 1);
  }
  fk_puts(req, "--\n");
  char buf[16 * 1024];
  long n;
  while ((n = fk_read(req, buf, sizeof buf)) > 0)
    if (fk_write(req, buf, (size_t)n) != FK_OK)
      return;
}

/* Params by name and in order, the body, STDERR, an exit status. */
static inline void ts_full(fk_request *req) {
  size_t blen;
  const char *b = fk_param_len(req, "B", &blen);
  fk_printf(req, "id=%u role=%u keep=%d\n", fk_request_id(req),
            fk_request_role(req), fk_request_keep_conn(req));
  fk_printf(req, "A=%s B=%s(%zu) NOPE=%s\n", fk_param(req, "A"), b, blen,
            fk_param(req, "NOPE") ? "set" : "unset");
  fk_printf(req, "count=%zu\n", fk_param_count(req));
  for (size_t i = 0; i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    fk_printf(req, "%zu:%s=%.*s\n", i, name, (int)len, value);
  }
  const char *n0, *v0;
  fk_printf(req, "at(count)=%d\n",
            fk_param_at(req, fk_param_count(req), &n0, &v0, NULL));
  char body[256];
  long n = fk_read(req, body, sizeof body);
  fk_printf(req, "length=%llu body=%.*s\n",
            (unsigned long long)fk_body_length(req), (int)(n > 0 ? n : 0),
            body);
  fk_printf(req, "eof=%ld\n", fk_read(req, body, sizeof body));
  fk_write_err(req, "warn:", 5);
  fk_eprintf(req, "%s\n", "something");
  fk_set_exit_status(req, (int)ts_param_ul(req, "EXIT", 0));
}

/* Waits at the gate (10 s at most, so a broken test cannot hang). */
static inline void ts_gate(fk_request *req) {
  struct timespec t;
  ts__deadline(&t, 10000);
  pthread_mutex_lock(&ts.lock);
  ts.entered++;
  pthread_cond_broadcast(&ts.cond);
  while (!ts.gate_open && pthread_cond_timedwait(&ts.cond, &ts.lock, &t) == 0)
    ;
  pthread_mutex_unlock(&ts.lock);
  fk_printf(req, "gated %u\n", fk_request_id(req));
}

/* Writes until the library says stop (bounded: 20 s, 2 GB). */
static inline void ts_flood(fk_request *req) {
  char chunk[4096];
  memset(chunk, 'f', sizeof chunk);
  long deadline = tc_now_ms() + 20000;
  int rc = FK_OK;
  for (unsigned long i = 0; i < (2ul << 30) / sizeof chunk; i++) {
    if (fk_aborted(req) || tc_now_ms() > deadline)
      break;
    if ((rc = fk_write(req, chunk, sizeof chunk)) != FK_OK)
      break;
  }
  pthread_mutex_lock(&ts.lock);
  ts.flood_rc = rc;
  ts.flood_aborted = fk_aborted(req);
  ts.flood_done = 1;
  pthread_cond_broadcast(&ts.cond);
  pthread_mutex_unlock(&ts.lock);
}

/* N bytes of ts_pattern, written in pieces of PIECE bytes (default and
 * most 100000, not a record size). */
static inline void ts_big(fk_request *req) {
  size_t total = ts_param_ul(req, "N", 0);
  uint8_t buf[100000];
  size_t piece = ts_param_ul(req, "PIECE", sizeof buf);
  if (piece == 0 || piece > sizeof buf)
    piece = sizeof buf;
  for (size_t off = 0; off < total;) {
    size_t n = total - off < piece ? total - off : piece;
    for (size_t i = 0; i < n; i++)
      buf[i] = ts_pattern(off + i);
    if (fk_write(req, buf, n) != FK_OK)
      return;
    off += n;
  }
}

/* fk_read_body first: "rc=<code> len=<n>\n", then the body. */
static inline void ts_readbody(fk_request *req) {
  const void *data = NULL;
  size_t len = 0;
  int rc = fk_read_body(req, SIZE_MAX, &data, &len);
  fk_printf(req, "rc=%d len=%zu\n", rc, len);
  if (rc == FK_OK) {
    fk_write(req, data, len);
    return;
  }
  char buf[16 * 1024];
  long n;
  while ((n = fk_read(req, buf, sizeof buf)) > 0)
    if (fk_write(req, buf, (size_t)n) != FK_OK)
      return;
}

/* For a Filter: the announced and the real DATA length, STDIN, DATA. */
static inline void ts_filter(fk_request *req) {
  char buf[256];
  long n = fk_read(req, buf, sizeof buf);
  fk_printf(req, "FCGI_DATA_LENGTH=%s data_length=%llu body=%.*s\n",
            fk_param(req, "FCGI_DATA_LENGTH"),
            (unsigned long long)fk_data_length(req), (int)(n > 0 ? n : 0), buf);
  n = fk_read_data(req, buf, sizeof buf);
  fk_printf(req, "data=%.*s\n", (int)(n > 0 ? n : 0), buf);
}

static inline void ts_app(fk_request *req, void *arg) {
  (void)arg;
  const char *t = fk_param(req, "T");
  pthread_mutex_lock(&ts.lock);
  ts.calls++;
  pthread_mutex_unlock(&ts.lock);
  if (t == NULL || strcmp(t, "echo") == 0)
    ts_echo(req);
  else if (strcmp(t, "full") == 0)
    ts_full(req);
  else if (strcmp(t, "noread") == 0)
    fk_puts(req, "noread\n");
  else if (strcmp(t, "gate") == 0)
    ts_gate(req);
  else if (strcmp(t, "flood") == 0)
    ts_flood(req);
  else if (strcmp(t, "big") == 0)
    ts_big(req);
  else if (strcmp(t, "readbody") == 0)
    ts_readbody(req);
  else if (strcmp(t, "filter") == 0)
    ts_filter(req);
  else if (strcmp(t, "auth") == 0)
    fk_puts(req, "Status: 200\r\nVariable-AUTH_USER: ann\r\n\r\n");
  else if (strcmp(t, "sleep") == 0) {
    tc_sleep_ms((long)ts_param_ul(req, "MS", 300));
    fk_printf(req, "slept %u\n", fk_request_id(req));
  } else
    fk_printf(req, "unknown test %s\n", t);
}

/* --- The server in a thread ---------------------------------------------- */

typedef struct ts_server {
  fk_server *s;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int finished; /* fk_server_run returned */
  int rc;       /* ... with this */
  char dir[64];
  char path[128];
} ts_server;

/* Library messages are noise when tests provoke them on purpose; set
 * FK_TEST_LOG to see them. */
static inline void ts_log(int level, const char *msg, void *arg) {
  (void)arg;
  if (getenv("FK_TEST_LOG"))
    fprintf(stderr, "  [log %d] %s\n", level, msg);
}

/* Test defaults: two I/O threads, handlers inline, no signal handling. */
static inline void ts_config(fk_config *cfg) {
  fk_config_init(cfg);
  cfg->threads = 2;
  cfg->handle_signals = 0;
  cfg->io_timeout_ms = 10000;
  cfg->log = ts_log;
}

#define TS_ROLE(r) (1u << (r))
#define TS_ALL_ROLES                                                           \
  (TS_ROLE(FK_RESPONDER) | TS_ROLE(FK_AUTHORIZER) | TS_ROLE(FK_FILTER))

static inline void *ts__run(void *arg) {
  ts_server *t = arg;
  int rc = fk_server_run(t->s);
  pthread_mutex_lock(&t->lock);
  t->rc = rc;
  t->finished = 1;
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/* Creates a server with cfg, handler for each role in the mask and a
 * socket at t->path, not yet running: connections wait in the listen
 * queue until ts_run. Exits the program when that fails: nothing else can
 * be tested then. */
static inline void ts_prepare(ts_server *t, const fk_config *cfg,
                              unsigned roles, fk_handler handler) {
  memset(t, 0, sizeof *t);
  ts_reset();
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  strcpy(t->dir, "/tmp/fk-it-XXXXXX");
  if (mkdtemp(t->dir) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(t->path, sizeof t->path, "%s/app.sock", t->dir);
  int rc = fk_server_new(&t->s, cfg);
  for (unsigned role = 1; rc == FK_OK && role < 32; role++)
    if (roles & TS_ROLE(role))
      rc = fk_server_handle(t->s, role, handler, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(t->s, t->path);
  if (rc != FK_OK) {
    fprintf(stderr, "cannot start the server: %s\n", fk_strerror(rc));
    exit(1);
  }
}

/* Runs a prepared server in a thread. */
static inline void ts_run(ts_server *t) {
  if (pthread_create(&t->thread, NULL, ts__run, t) != 0) {
    fprintf(stderr, "cannot start the server thread\n");
    exit(1);
  }
}

/* ts_prepare, then ts_run. */
static inline void ts_start_with(ts_server *t, const fk_config *cfg,
                                 unsigned roles, fk_handler handler) {
  ts_prepare(t, cfg, roles, handler);
  ts_run(t);
}

/* The same with ts_app, the handler of the T param. */
static inline void ts_start(ts_server *t, const fk_config *cfg,
                            unsigned roles) {
  ts_start_with(t, cfg, roles, ts_app);
}

/* Nonzero once fk_server_run has returned, within timeout_ms. */
static inline int ts_wait_finished(ts_server *t, long timeout_ms) {
  struct timespec d;
  ts__deadline(&d, timeout_ms);
  pthread_mutex_lock(&t->lock);
  while (!t->finished && pthread_cond_timedwait(&t->cond, &t->lock, &d) == 0)
    ;
  int done = t->finished;
  pthread_mutex_unlock(&t->lock);
  return done;
}

/* Stops the server (if it still runs), frees it and removes its directory.
 * A server that does not stop is a failure nothing can recover from. */
static inline void ts_stop(ts_server *t) {
  fk_server_stop(t->s);
  if (!ts_wait_finished(t, 10000)) {
    fprintf(stderr, "FAIL: the server did not stop within 10 s\n");
    exit(1);
  }
  pthread_join(t->thread, NULL);
  fk_server_free(t->s);
  t->s = NULL;
  if (rmdir(t->dir) != 0) {
    fprintf(stderr, "%s: rmdir %s: %s\n", __FILE__, t->dir, strerror(errno));
    fk_test_failures++;
  }
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->lock);
}

/* Connects to the server; a failure is a failed check and a closed conn. */
static inline int ts_connect(ts_server *t, tc_conn *c) {
  if (tc_connect_unix(c, t->path) == 0)
    return 1;
  fprintf(stderr, "  connect %s: %s\n", t->path, strerror(errno));
  return 0;
}

/* --- Checks -------------------------------------------------------------- */

/* The shape every answered request must have (spec 6, "what the
 * application must do"), looking at the events from index `from` on (a
 * request id may be reused on a connection): STDOUT data, then exactly one
 * empty STDOUT record; STDERR either unused, or data ended by exactly one
 * empty record, or one empty record alone; exactly one END_REQUEST with
 * the protocol status given, after both streams; nothing at all for that
 * id after it. A refused request gets END_REQUEST alone.
 * Prints what is wrong and returns 0, or returns 1. */
static inline int ts_shape_from(const tc_conn *c, unsigned id, size_t from,
                                unsigned protocol_status) {
  long end = tc_find(c, TC_END, id, from);
  size_t ends = 0, out_ends = 0, err_ends = 0, err_data = 0;
  const char *why = NULL;
  for (size_t i = from; i < c->nev && why == NULL; i++) {
    const tc_event *e = &c->ev[i];
    if (e->id != id || e->kind == TC_CLOSED)
      continue;
    ends += e->kind == TC_END;
    if (end >= 0 && (long)i > end)
      why = "a record for the request after its END_REQUEST";
    else if (e->kind == TC_OTHER || e->kind == TC_VALUES ||
             e->kind == TC_UNKNOWN_TYPE || e->kind == TC_BAD)
      why = "an unexpected record";
    else if (e->kind == TC_END)
      continue;
    else if (protocol_status != FK_REQUEST_COMPLETE)
      why = "output for a refused request";
    else if (e->type != FK_STDOUT && e->type != FK_STDERR)
      why = "a stream other than STDOUT and STDERR";
    else if (e->kind == TC_DATA && ((e->type == FK_STDOUT && out_ends) ||
                                    (e->type == FK_STDERR && err_ends)))
      why = "stream data after the stream's empty record";
    out_ends += e->kind == TC_STREAM_END && e->type == FK_STDOUT;
    err_ends += e->kind == TC_STREAM_END && e->type == FK_STDERR;
    err_data += e->kind == TC_DATA && e->type == FK_STDERR;
  }
  if (why != NULL)
    ; /* report the first problem found */
  else if (end < 0)
    why = "no END_REQUEST";
  else if (ends != 1)
    why = "more than one END_REQUEST";
  else if (c->ev[end].protocol_status != protocol_status)
    why = "wrong protocol status";
  else if (protocol_status == FK_REQUEST_COMPLETE && out_ends != 1)
    why = "STDOUT not ended by exactly one empty record";
  else if (err_ends > 1 || (err_data && err_ends != 1))
    why = "STDERR not ended by exactly one empty record";
  if (why) {
    fprintf(stderr, "  request %u: %s\n", id, why);
    tc_dump(c, "the connection");
    return 0;
  }
  return 1;
}

static inline int ts_shape_ok(const tc_conn *c, unsigned id,
                              unsigned protocol_status) {
  return ts_shape_from(c, id, 0, protocol_status);
}

/* The exact answer of ts_echo for params and body. */
static inline char *ts_echo_expected(const char *const *pairs,
                                     const char *body) {
  size_t cap = 256 + strlen(body);
  for (size_t i = 0; pairs[i]; i++)
    cap += strlen(pairs[i]) + 2;
  char *s = malloc(cap);
  strcpy(s, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
  for (size_t i = 0; pairs[i]; i++) {
    strcat(s, pairs[i]);
    strcat(s, "\n");
  }
  strcat(s, "--\n");
  strcat(s, body);
  return s;
}

/* One echo request on c (id, flags), answered exactly and completely. */
static inline int ts_echo_ok(tc_conn *c, unsigned id, unsigned flags) {
  const char *pairs[] = {"T=echo", "REQUEST_METHOD=POST", "N=42", NULL};
  size_t from = c->nev;
  if (tc_request(c, id, FK_RESPONDER, flags, pairs, "ping", 4) != 0) {
    fprintf(stderr, "  request %u: send failed\n", id);
    return 0;
  }
  long end = tc_wait_from(c, TC_END, id, from, TS_WAIT);
  if (end < 0) {
    fprintf(stderr, "  request %u: no END_REQUEST\n", id);
    tc_dump(c, "the connection");
    return 0;
  }
  char *want = ts_echo_expected(pairs, "ping");
  const char *got = tc_text(c, FK_STDOUT, id, from, NULL);
  int ok = strcmp(got, want) == 0 && c->ev[end].app_status == 0;
  if (!ok)
    fprintf(stderr, "  request %u: got \"%s\"\n  want \"%s\"\n", id, got, want);
  free(want);
  return ok && ts_shape_from(c, id, from, FK_REQUEST_COMPLETE);
}

/* A fresh connection is served correctly (and closed after, KEEP_CONN 0). */
static inline int ts_served(ts_server *t) {
  tc_conn c;
  if (!ts_connect(t, &c))
    return 0;
  int ok = ts_echo_ok(&c, 1, 0) && tc_wait_closed(&c, TS_WAIT);
  tc_close(&c);
  return ok;
}

#endif
