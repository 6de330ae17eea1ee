/*
 * Allocation failures (nghttp2's failmalloc test). The server's allocator
 * fails the N-th allocation made after an arm point, for N = 0, 1, 2, ...
 * until a whole scenario runs without reaching it; in a second mode it
 * fails that allocation and every one after it. Whatever fails, the
 * process does not crash, and every request is either answered exactly or
 * ended in one of the defined ways: FCGI_OVERLOADED, a 500 (413, 431)
 * response, a handler told of the failure that stopped writing, or a
 * closed connection. Once memory is back the server serves again, stops
 * cleanly, and has freed every byte and closed every descriptor.
 *
 * The scenario, on one keep-alive connection: a GET_VALUES query, an echo
 * request with a few params (one long enough for fk_printf's large path)
 * and a small body, an echo request whose body is larger than body_memory
 * (part of it spills to a file). Inline handlers, then a handler thread.
 * Run with FK_TEST_VERBOSE set to see each allocation failed and how each
 * request ended.
 */
#include <dirent.h>

#include "integration/harness.h"

/* Waits in this test: shorter than TS_WAIT so that a hang fails without
 * making the test slow; still generous for a loaded machine. */
#define FM_WAIT 3000
/* The scenario makes some 20 allocations; hundreds mean something grows
 * that should not. */
#define FM_MAX_POINTS 300
/* After this many hangs the rest is not worth the wait: the bug is
 * reported already, and the test must stay short. */
#define FM_MAX_HANGS 2
/* The second request's body: 4096 bytes in memory, the rest spilled. */
#define FM_BODY_MEMORY 4096
#define FM_BIG_BODY 10000
/* The exit status of a handler that stopped at a failed call. */
#define FM_GAVE_UP 99

/* --- An allocator that fails on request ---------------------------------- */

static ts_counter counter;

static struct {
  atomic_int armed;
  atomic_ulong seen;   /* allocations since the arm point */
  atomic_ulong failed; /* ... of which refused */
  unsigned long fail_at;
  int fail_rest; /* refuse every allocation after fail_at too */
} fm;

static int fm_verbose;
static int fm_hangs; /* requests that neither ended nor were closed */

static int fm_refuse(size_t size) {
  if (!atomic_load(&fm.armed))
    return 0;
  unsigned long k = atomic_fetch_add(&fm.seen, 1);
  if (k != fm.fail_at && !(fm.fail_rest && k > fm.fail_at))
    return 0;
  atomic_fetch_add(&fm.failed, 1);
  if (fm_verbose && k == fm.fail_at)
    fprintf(stderr, "    allocation %lu (%zu bytes) refused\n", k, size);
  return 1;
}

static void *fm_malloc(size_t size, void *ud) {
  return fm_refuse(size) ? NULL : ts_malloc(size, ud);
}

static void *fm_realloc(void *p, size_t size, void *ud) {
  return fm_refuse(size) ? NULL : ts_realloc(p, size, ud);
}

static const fk_allocator failing = {fm_malloc, fm_realloc, ts_free, &counter};

static void fm_arm(unsigned long n, int rest) {
  fm.fail_at = n;
  fm.fail_rest = rest;
  atomic_store(&fm.seen, 0);
  atomic_store(&fm.failed, 0);
  atomic_store(&fm.armed, 1);
}

/* Returns the allocations made since the arm point. */
static unsigned long fm_disarm(void) {
  atomic_store(&fm.armed, 0);
  return atomic_load(&fm.seen);
}

/* Descriptors open in the process: a spill file, socket or epoll fd the
 * server forgets, or one it closes twice, changes the count. */
static int fm_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* --- The handler --------------------------------------------------------- */

/* ts_echo's output, written the way a careful application writes: every
 * call's result is checked, and at the first failure the handler stops and
 * exits with FM_GAVE_UP. What it wrote before must arrive, whole and in
 * order. Params go through fk_printf, so a long one takes its allocated
 * path. */
static void fm_echo(fk_request *req, void *arg) {
  (void)arg;
  int rc = fk_status(req, 200, NULL);
  if (rc == FK_OK)
    rc = fk_add_header(req, "Content-Type", "text/plain");
  if (rc == FK_OK)
    rc = fk_end_headers(req);
  for (size_t i = 0; rc == FK_OK && i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    rc = fk_printf(req, "%s=%.*s\n", name, (int)len, value);
  }
  if (rc == FK_OK)
    rc = fk_puts(req, "--\n");
  char buf[4096];
  long n = 0;
  while (rc == FK_OK && (n = fk_read(req, buf, sizeof buf)) > 0)
    rc = fk_write(req, buf, (size_t)n);
  if (rc == FK_OK && n < 0)
    rc = (int)n;
  if (rc != FK_OK) {
    if (fm_verbose)
      fprintf(stderr, "    handler %u: %s\n", fk_request_id(req),
              fk_errname(rc));
    fk_set_exit_status(req, FM_GAVE_UP);
  }
}

/* --- Checks -------------------------------------------------------------- */

/* How a request ended. */
enum fm_outcome {
  FM_HUNG,    /* neither an answer nor a close: a bug */
  FM_BAD,     /* an answer of the wrong shape or content: a bug */
  FM_CLOSED,  /* the connection closed before END_REQUEST */
  FM_REFUSED, /* FCGI_OVERLOADED, or a 500 (413, 431) from the library */
  FM_PARTIAL, /* the handler was told of a failure and stopped */
  FM_EXACT    /* answered exactly */
};

static const char *const fm_outcome_names[] = {"hung",    "bad",     "closed",
                                               "refused", "partial", "exact"};

static int fm_is_prefix(const char *got, size_t len, const char *want) {
  return len <= strlen(want) && memcmp(got, want, len) == 0;
}

static int fm_is_refusal(const char *got) {
  return strncmp(got, "Status: 500 ", 12) == 0 ||
         strncmp(got, "Status: 413 ", 12) == 0 ||
         strncmp(got, "Status: 431 ", 12) == 0;
}

/* Waits for the end of request id (its events start at index from) and
 * tells which of the outcomes it had; prints what is wrong with it. */
static int fm_answer(tc_conn *c, unsigned id, size_t from, const char *want) {
  long end = tc_wait_from(c, TC_END, id, from, FM_WAIT);
  size_t len;
  const char *got;
  if (end < 0) {
    if (!c->closed) {
      fprintf(stderr,
              "  request %u: neither END_REQUEST nor a close "
              "within %d ms\n",
              id, FM_WAIT);
      tc_dump(c, "the connection");
      return FM_HUNG;
    }
    /* Whatever came before the close is the start of an answer. */
    got = tc_text(c, FK_STDOUT, id, from, &len);
    if (fm_is_prefix(got, len, want) || fm_is_refusal(got))
      return FM_CLOSED;
    fprintf(stderr, "  request %u: closed after \"%.200s\"\n", id, got);
    return FM_BAD;
  }
  const tc_event *e = &c->ev[end];
  if (e->protocol_status == FK_OVERLOADED)
    return ts_shape_from(c, id, from, FK_OVERLOADED) ? FM_REFUSED : FM_BAD;
  if (!ts_shape_from(c, id, from, FK_REQUEST_COMPLETE))
    return FM_BAD;
  got = tc_text(c, FK_STDOUT, id, from, &len);
  if (e->app_status == 0 && strcmp(got, want) == 0)
    return FM_EXACT;
  if (e->app_status == 0 && fm_is_refusal(got))
    return FM_REFUSED;
  if (e->app_status == FM_GAVE_UP && fm_is_prefix(got, len, want))
    return FM_PARTIAL;
  fprintf(stderr,
          "  request %u: app_status %u, output \"%.200s\"\n"
          "  want \"%.200s\"\n",
          id, e->app_status, got, want);
  return FM_BAD;
}

/* A GET_VALUES_RESULT answers with the right values, each at most once; a
 * query whose names could not all be stored is answered from those that
 * were. Returns the number of values, or -1 when something is wrong. */
static int fm_values(const tc_event *e) {
  static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                      "FCGI_MPXS_CONNS"};
  /* Defaults: FCGI_MAX_REQS is max_reqs_per_conn, the smaller limit. */
  static const char *const values[] = {"1024", "64", "1"};
  int count = tc_values(e, NULL, NULL, NULL, 0), known = 0;
  for (int k = 0; k < 3 && count >= 0; k++) {
    int found;
    char v[64];
    tc_values(e, names[k], &found, v, sizeof v);
    if (found > 1 || (found == 1 && strcmp(v, values[k]) != 0)) {
      fprintf(stderr, "  GET_VALUES_RESULT: %s %d times, \"%s\"\n", names[k],
              found, v);
      return -1;
    }
    known += found;
  }
  if (count != known) {
    fprintf(stderr, "  GET_VALUES_RESULT: %d pairs, %d known\n", count, known);
    return -1;
  }
  return count;
}

/* --- The scenario -------------------------------------------------------- */

static const char *const fm_names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                       "FCGI_MPXS_CONNS", NULL};
static char fm_long_param[2 + 1500 + 1];
static const char *const fm_small_pairs[] = {"T=echo", "REQUEST_METHOD=POST",
                                             "SCRIPT_NAME=/failmalloc",
                                             fm_long_param, NULL};
static const char *const fm_big_pairs[] = {"T=echo", "REQUEST_METHOD=PUT",
                                           "CONTENT_LENGTH=10000", NULL};
static const char fm_small_body[] = "hello, failmalloc";
static char fm_big_body[FM_BIG_BODY + 1];
static char *fm_small_want, *fm_big_want;

static void fm_init_data(void) {
  memset(fm_long_param, 'x', sizeof fm_long_param - 1);
  memcpy(fm_long_param, "X=", 2);
  for (size_t i = 0; i < FM_BIG_BODY; i++)
    fm_big_body[i] = (char)('a' + ts_pattern(i) % 26);
  fm_small_want = ts_echo_expected(fm_small_pairs, fm_small_body);
  fm_big_want = ts_echo_expected(fm_big_pairs, fm_big_body);
}

typedef struct fm_result {
  int values;     /* pairs in GET_VALUES_RESULT; -1 none or wrong */
  int small, big; /* fm_outcome of each request; -1 not sent */
  int hung, bad;
} fm_result;

/* Sends one request of the scenario and sorts its answer. A send that
 * fails means the server closed the connection: the answer tells. */
static int fm_request(tc_conn *c, unsigned id, const char *const *pairs,
                      const char *body, const char *want) {
  size_t from = c->nev;
  (void)tc_request(c, id, FK_RESPONDER, FK_KEEP_CONN, pairs, body,
                   strlen(body));
  return fm_answer(c, id, from, want);
}

static void fm_scenario(ts_server *t, tc_conn *c, fm_result *res) {
  memset(res, 0, sizeof *res);
  res->values = res->small = res->big = -1;
  if (!ts_connect(t, c)) {
    res->bad = 1;
    return;
  }
  (void)tc_get_values(c, fm_names);
  long i = tc_wait_from(c, TC_VALUES, 0, 0, FM_WAIT);
  if (i >= 0) {
    res->values = fm_values(&c->ev[i]);
    res->bad |= res->values < 0;
  } else if (!c->closed) {
    fprintf(stderr,
            "  GET_VALUES: neither an answer nor a close within "
            "%d ms\n",
            FM_WAIT);
    res->hung = 1;
    return;
  }
  if (!c->closed)
    res->small = fm_request(c, 1, fm_small_pairs, fm_small_body, fm_small_want);
  if (!c->closed && res->small != FM_HUNG)
    res->big = fm_request(c, 2, fm_big_pairs, fm_big_body, fm_big_want);
  res->hung |= res->small == FM_HUNG || res->big == FM_HUNG;
  res->bad |= res->small == FM_BAD || res->big == FM_BAD;
}

static const char *fm_outcome_name(int o) {
  return o < 0 ? "-" : fm_outcome_names[o];
}

/* One run with the N-th allocation failed. Returns nonzero when the
 * scenario made fewer than N + 1 allocations (no failure): then *points
 * gets how many it made. */
static int fm_iteration(unsigned handler_threads, unsigned long n, int rest,
                        unsigned long *points) {
  int fds = fm_open_fds();
  fk_config cfg;
  ts_config(&cfg);
  cfg.threads = 1;
  cfg.handler_threads = handler_threads;
  cfg.body_memory = FM_BODY_MEMORY;
  cfg.io_timeout_ms = FM_WAIT;
  cfg.stop_timeout_ms = FM_WAIT;
  cfg.allocator = &failing;
  ts_server t;
  ts_start_with(&t, &cfg, TS_ROLE(FK_RESPONDER), fm_echo);
  /* Once a request is answered, fk_server_run has made its workers: what
   * is counted from here on is the scenario's. */
  CHECK(ts_served(&t));

  fm_arm(n, rest);
  tc_conn c;
  fm_result res;
  fm_scenario(&t, &c, &res);
  unsigned long seen = fm_disarm();
  unsigned long failed = atomic_load(&fm.failed);
  if (fm_verbose)
    fprintf(stderr,
            "    N=%lu: %lu allocations, %lu failed; values %d, "
            "small %s, big %s%s\n",
            n, seen, failed, res.values, fm_outcome_name(res.small),
            fm_outcome_name(res.big), c.closed ? ", closed" : "");
  CHECK(!res.hung);
  CHECK(!res.bad);
  fm_hangs += res.hung;
  if (failed == 0) {
    /* Nothing failed: everything must be perfect. */
    CHECK_EQ(res.values, 3);
    CHECK_EQ(res.small, FM_EXACT);
    CHECK_EQ(res.big, FM_EXACT);
    CHECK(!c.closed);
  }
  /* Memory is back. A connection the server kept serves on; so does a new
   * one. */
  if (!c.closed && !res.hung)
    CHECK(ts_echo_ok(&c, 3, FK_KEEP_CONN));
  tc_close(&c);
  CHECK(ts_served(&t));
  ts_stop(&t);
  CHECK_EQ(atomic_load(&counter.live), 0);
  CHECK_EQ(fm_open_fds(), fds);
  if (failed == 0)
    *points = seen;
  return failed == 0;
}

/* Fails each allocation point of the scenario in turn. Returns how many
 * there are. */
static unsigned long fm_each_point(unsigned handler_threads, int rest) {
  unsigned long points = 0;
  if (fm_hangs >= FM_MAX_HANGS) {
    fprintf(stderr, "  not run: %d hangs already\n", fm_hangs);
    return 0;
  }
  if (fm_verbose)
    fprintf(stderr, "  handler_threads=%u, %s\n", handler_threads,
            rest ? "fail from N on" : "fail N only");
  for (unsigned long n = 0; n < FM_MAX_POINTS; n++) {
    int before = fk_test_failures;
    int done = fm_iteration(handler_threads, n, rest, &points);
    if (fk_test_failures != before)
      fprintf(stderr, "  ... with handler_threads=%u, allocation %lu %s\n",
              handler_threads, n, rest ? "and all after it failed" : "failed");
    if (done)
      return points;
    if (fm_hangs >= FM_MAX_HANGS) {
      fprintf(stderr,
              "  %d hangs: the other allocation points are not "
              "tried\n",
              fm_hangs);
      return n;
    }
  }
  fprintf(stderr, "  more than %d allocations in the scenario\n",
          FM_MAX_POINTS);
  fk_test_failures++;
  return FM_MAX_POINTS;
}

static unsigned long fm_points_start, fm_points_inline, fm_points_threaded;

/* Both modes run the same scenario: the same allocation points. */
static void test_inline_handlers(void) {
  fm_points_inline = fm_each_point(0, 0);
  unsigned long again = fm_each_point(0, 1);
  if (fm_hangs == 0)
    CHECK_EQ(again, fm_points_inline);
}

static void test_handler_threads(void) {
  fm_points_threaded = fm_each_point(1, 0);
  unsigned long again = fm_each_point(1, 1);
  if (fm_hangs == 0)
    CHECK_EQ(again, fm_points_threaded);
}

/* --- Starting ------------------------------------------------------------ */

static void *fm_run(void *arg) { return (void *)(intptr_t)fk_server_run(arg); }

/* fk_server_new, _handle, _listen and _run with the N-th allocation
 * failed: each either works or returns FK_E_NOMEM, and leaves nothing
 * behind (memory, descriptors, the socket file). A request is sent once
 * the server may be running; past the start-up allocations, the failure
 * lands on serving it. */
static void test_start(void) {
  char dir[] = "/tmp/fk-fm-XXXXXX", path[64];
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    fk_test_failures++;
    return;
  }
  snprintf(path, sizeof path, "%s/app.sock", dir);
  const char *pairs[] = {"T=echo", NULL};
  char *want = ts_echo_expected(pairs, "ping");
  unsigned long n;
  for (n = 0; n < FM_MAX_POINTS; n++) {
    int before = fk_test_failures, fds = fm_open_fds();
    fk_config cfg;
    ts_config(&cfg);
    cfg.threads = 2;
    cfg.handler_threads = 1;
    cfg.io_timeout_ms = FM_WAIT;
    cfg.stop_timeout_ms = FM_WAIT;
    cfg.allocator = &failing;
    fm_arm(n, 0);
    fk_server *s = NULL;
    int rc = fk_server_new(&s, &cfg), run_rc = FK_OK, outcome = -1;
    if (rc == FK_OK)
      rc = fk_server_handle(s, FK_RESPONDER, fm_echo, NULL);
    if (rc == FK_OK)
      rc = fk_server_listen(s, path);
    pthread_t thread;
    if (rc == FK_OK && pthread_create(&thread, NULL, fm_run, s) != 0) {
      perror("pthread_create");
      exit(1);
    }
    if (rc == FK_OK) {
      tc_conn c;
      /* A server whose run failed closes its socket: the connection is
       * refused, or reset once made. */
      if (tc_connect_unix(&c, path) == 0)
        outcome = fm_request(&c, 1, pairs, "ping", want);
      tc_close(&c);
      fk_server_stop(s);
      void *ret;
      pthread_join(thread, &ret);
      run_rc = (int)(intptr_t)ret;
    }
    fk_server_free(s);
    unsigned long failed = atomic_load(&fm.failed), seen = fm_disarm();
    if (fm_verbose)
      fprintf(stderr,
              "    N=%lu: %lu allocations, %lu failed; %s, run %s, "
              "request %s\n",
              n, seen, failed, fk_errname(rc), fk_errname(run_rc),
              fm_outcome_name(outcome));
    CHECK(rc == FK_OK || rc == FK_E_NOMEM);
    CHECK(run_rc == FK_OK || run_rc == FK_E_NOMEM);
    CHECK(outcome != FM_HUNG && outcome != FM_BAD);
    if (failed == 0)
      CHECK_EQ(outcome, FM_EXACT);
    CHECK_EQ(atomic_load(&counter.live), 0);
    CHECK_EQ(fm_open_fds(), fds);
    CHECK(access(path, F_OK) != 0);
    if (fk_test_failures != before)
      fprintf(stderr, "  ... with allocation %lu failed\n", n);
    fm_hangs += outcome == FM_HUNG;
    if (failed == 0 || fm_hangs >= FM_MAX_HANGS)
      break;
  }
  fm_points_start = n;
  free(want);
  CHECK(rmdir(dir) == 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  fm_verbose = getenv("FK_TEST_VERBOSE") != NULL;
  fm_init_data();
  long t0 = tc_now_ms();
  RUN(test_start);
  RUN(test_inline_handlers);
  RUN(test_handler_threads);
  fprintf(stderr,
          "allocation points: start and one request %lu; the scenario "
          "%lu inline, %lu with a handler thread (%ld ms)\n",
          fm_points_start, fm_points_inline, fm_points_threaded,
          tc_now_ms() - t0);
  free(fm_small_want);
  free(fm_big_want);
  TEST_EXIT();
}
