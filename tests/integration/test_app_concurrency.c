/*
 * Integration tests of the application library: several requests at once
 * (multiplexing, handler threads), the limits on them, ABORT_REQUEST, and
 * stopping the server.
 */
#include <sys/stat.h>

#include "integration/harness.h"

static const char *echo_pairs[] = {"T=echo", "REQUEST_METHOD=POST", "N=42",
                                   NULL};

/* Nonzero when STDOUT of request id, from event `from` on, is exactly the
 * echo of echo_pairs and body. */
static int echo_is(tc_conn *c, unsigned id, size_t from, const char *body) {
  char *want = ts_echo_expected(echo_pairs, body);
  const char *got = tc_text(c, FK_STDOUT, id, from, NULL);
  int ok = strcmp(got, want) == 0;
  if (!ok)
    fprintf(stderr, "  request %u: got \"%s\"\n", id, got);
  free(want);
  return ok;
}

/* --- 3. Multiplexing ----------------------------------------------------- */

static void test_multiplex_inline(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));

  /* Spec appendix B #4: request 2 completes while 1 is still arriving. */
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, echo_pairs), 0);
  CHECK_EQ(tc_stdin(&c, 2, "two", 3), 0);
  long end2 = tc_wait(&c, TC_END, 2, TS_WAIT);
  CHECK(end2 >= 0);
  CHECK(tc_find(&c, TC_DATA, 1, 0) < 0 && tc_find(&c, TC_END, 1, 0) < 0);
  CHECK_EQ(tc_params(&c, 1, echo_pairs), 0);
  CHECK_EQ(tc_stdin(&c, 1, "one", 3), 0);
  long end1 = tc_wait(&c, TC_END, 1, TS_WAIT);
  CHECK(end1 > end2);
  CHECK(echo_is(&c, 1, 0, "one"));
  CHECK(echo_is(&c, 2, 0, "two"));
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));

  /* The same, sent in one go and interleaved record by record. */
  size_t from = c.nev;
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, echo_pairs), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "tw", 2), 0);
  CHECK_EQ(tc_params(&c, 1, echo_pairs), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "o", 1), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 1, "on", 2), 0);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 1, "e", 1), 0);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  end1 = tc_wait_from(&c, TC_END, 1, from, TS_WAIT);
  end2 = tc_wait_from(&c, TC_END, 2, from, TS_WAIT);
  CHECK(end2 >= 0 && end1 > end2);
  CHECK(echo_is(&c, 1, from, "one"));
  CHECK(echo_is(&c, 2, from, "two"));
  CHECK(ts_shape_from(&c, 1, from, FK_REQUEST_COMPLETE));
  CHECK(ts_shape_from(&c, 2, from, FK_REQUEST_COMPLETE));
  tc_close(&c);
  ts_stop(&t);
}

static void test_multiplex_threads(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.threads = 1;
  cfg.handler_threads = 2;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn a, b;
  CHECK(ts_connect(&t, &a));
  CHECK(ts_connect(&t, &b));

  /* Request 1 blocks in its handler... */
  const char *gate[] = {"T=gate", NULL};
  CHECK_EQ(tc_request(&a, 1, FK_RESPONDER, FK_KEEP_CONN, gate, NULL, 0), 0);
  CHECK(ts_wait_entered(1, TS_WAIT));
  /* ... while request 2 on the same connection is answered, */
  CHECK(ts_echo_ok(&a, 2, FK_KEEP_CONN));
  /* and a request on another connection too. */
  CHECK(ts_echo_ok(&b, 1, FK_KEEP_CONN));
  CHECK(ts_echo_ok(&b, 2, 0));
  CHECK(tc_wait_closed(&b, TS_WAIT));
  CHECK(tc_find(&a, TC_END, 1, 0) < 0);

  ts_gate_open();
  CHECK(tc_wait_end(&a, 1, TS_WAIT) != NULL);
  CHECK(strcmp(tc_stdout(&a, 1), "gated 1\n") == 0);
  CHECK(ts_shape_ok(&a, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_shape_ok(&a, 2, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&a, 1, FK_KEEP_CONN));
  tc_close(&a);
  tc_close(&b);
  ts_stop(&t);
}

/* --- 7. Limits ----------------------------------------------------------- */

/* BEGIN and the first part of PARAMS: a request left in flight. */
static void start_request(tc_conn *c, unsigned id) {
  size_t len;
  uint8_t *params = tc_pairs(echo_pairs, &len);
  CHECK_EQ(tc_begin(c, id, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_stream(c, FK_PARAMS, id, params, len), 0);
  free(params);
}

static void finish_request(tc_conn *c, unsigned id, const char *body) {
  CHECK_EQ(tc_stream_end(c, FK_PARAMS, id), 0);
  CHECK_EQ(tc_stdin(c, id, body, strlen(body)), 0);
}

static void test_limit_per_conn(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_reqs_per_conn = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  start_request(&c, 1);
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK(tc_wait_end(&c, 2, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&c, 2, FK_OVERLOADED));
  /* The refused id is inactive: its records are ignored. */
  CHECK_EQ(tc_params(&c, 2, echo_pairs), 0);
  finish_request(&c, 1, "first");
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(echo_is(&c, 1, 0, "first"));
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  /* The slot is free again. */
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

static void test_limit_total(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_reqs = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn a, b;
  CHECK(ts_connect(&t, &a));
  CHECK(ts_connect(&t, &b));
  start_request(&a, 1);
  /* The ping's answer means the server has seen the BEGIN before it. */
  CHECK(tc_ping(&a, TS_WAIT));
  CHECK_EQ(tc_begin(&b, 1, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK(tc_wait_end(&b, 1, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&b, 1, FK_OVERLOADED));
  finish_request(&a, 1, "a");
  CHECK(tc_wait_end(&a, 1, TS_WAIT) != NULL);
  CHECK(echo_is(&a, 1, 0, "a"));
  CHECK(ts_shape_ok(&a, 1, FK_REQUEST_COMPLETE));
  /* With the first request done, the other connection is served. */
  CHECK(ts_echo_ok(&b, 2, FK_KEEP_CONN));
  tc_close(&a);
  tc_close(&b);
  ts_stop(&t);
}

/* A request whose handler ran on a handler thread stops counting against
 * max_reqs when its END_REQUEST is sent, not when its I/O thread gets round
 * to releasing it: a web server may send the next BEGIN_REQUEST at once,
 * on another connection. The same on one connection, reusing the id. */
static void test_limit_reuse_threads(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_reqs = 1;
  cfg.multiplex = 0;
  cfg.handler_threads = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn a, b;
  CHECK(ts_connect(&t, &a));
  CHECK(ts_connect(&t, &b));
  int refused = 0;
  for (int i = 0; i < 100; i++) {
    tc_conn *c = i % 2 ? &a : &b;
    size_t from = c->nev;
    const char *pairs[] = {"T=noread", NULL};
    if (tc_request(c, 1, FK_RESPONDER, FK_KEEP_CONN, pairs, NULL, 0) != 0)
      break;
    long end = tc_wait_from(c, TC_END, 1, from, TS_WAIT);
    if (end < 0 || c->ev[end].protocol_status != FK_REQUEST_COMPLETE)
      refused++;
    /* and at once the same id again on the same connection */
    from = c->nev;
    if (tc_request(c, 1, FK_RESPONDER, FK_KEEP_CONN, pairs, NULL, 0) != 0)
      break;
    end = tc_wait_from(c, TC_END, 1, from, TS_WAIT);
    if (end < 0 || c->ev[end].protocol_status != FK_REQUEST_COMPLETE)
      refused++;
  }
  CHECK_EQ(refused, 0);
  CHECK(!a.closed && !b.closed);
  tc_close(&a);
  tc_close(&b);
  ts_stop(&t);
}

static void test_no_multiplex(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.multiplex = 0;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *mpxs[] = {"FCGI_MPXS_CONNS", NULL};
  CHECK_EQ(tc_get_values(&c, mpxs), 0);
  long i = tc_wait(&c, TC_VALUES, 0, TS_WAIT);
  CHECK(i >= 0);
  if (i >= 0) {
    int found;
    char v[8];
    CHECK_EQ(tc_values(&c.ev[i], "FCGI_MPXS_CONNS", &found, v, sizeof v), 1);
    CHECK(strcmp(v, "0") == 0);
  }
  start_request(&c, 1);
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK(tc_wait_end(&c, 2, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&c, 2, FK_CANT_MPX_CONN));
  finish_request(&c, 1, "only");
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(echo_is(&c, 1, 0, "only"));
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

/* --- 8. ABORT_REQUEST ---------------------------------------------------- */

static void test_abort_before_input(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));

  /* An ABORT for an id never begun is ignored. */
  CHECK_EQ(tc_abort(&c, 9), 0);
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  CHECK_EQ(c.ev[0].id, 1);
  CHECK_EQ(tc_count(&c, TC_END, 9), 0);

  /* Aborted while PARAMS arrive, then while STDIN arrives: END_REQUEST at
   * once, exactly one; whatever the web server still sends for the id is
   * ignored. */
  for (int stage = 0; stage < 2; stage++) {
    size_t from = c.nev;
    start_request(&c, 2);
    if (stage == 1) {
      CHECK_EQ(tc_stream_end(&c, FK_PARAMS, 2), 0);
      CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "part", 4), 0);
    }
    CHECK_EQ(tc_abort(&c, 2), 0);
    CHECK(tc_wait_from(&c, TC_END, 2, from, TS_WAIT) >= 0);
    if (stage == 0)
      CHECK_EQ(tc_stream_end(&c, FK_PARAMS, 2), 0);
    CHECK_EQ(tc_stdin(&c, 2, "late", 4), 0);
    CHECK_EQ(tc_abort(&c, 2), 0);
    CHECK(tc_ping(&c, TS_WAIT));
    CHECK(ts_shape_from(&c, 2, from, FK_REQUEST_COMPLETE));
    CHECK(strcmp(tc_text(&c, FK_STDOUT, 2, from, NULL), "") == 0);
  }
  pthread_mutex_lock(&ts.lock);
  CHECK_EQ(ts.calls, 1); /* no handler ran for the aborted requests */
  pthread_mutex_unlock(&ts.lock);
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

static void test_abort_in_handler(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *flood[] = {"T=flood", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, flood, NULL, 0), 0);
  CHECK(tc_wait(&c, TC_DATA, 1, TS_WAIT) >= 0);
  CHECK_EQ(tc_abort(&c, 1), 0);
  /* The handler hears of it and stops; the library ends the request. */
  CHECK(tc_wait_end(&c, 1, 10000) != NULL);
  CHECK(ts_wait_flood(TS_WAIT));
  CHECK(ts.flood_rc == FK_E_ABORTED ||
        (ts.flood_rc == FK_OK && ts.flood_aborted));
  CHECK(ts.flood_aborted);
  CHECK(tc_ping(&c, TS_WAIT));
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  tc_close(&c);
  ts_stop(&t);
}

/* --- 12. Stopping -------------------------------------------------------- */

static int refused(const char *path) {
  tc_conn c;
  if (tc_connect_unix(&c, path) != 0)
    return 1;
  tc_close(&c);
  return 0;
}

static void test_graceful_stop(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 1;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c, idle;
  CHECK(ts_connect(&t, &c));
  CHECK(ts_connect(&t, &idle));
  CHECK(ts_echo_ok(&idle, 1, FK_KEEP_CONN));
  const char *gate[] = {"T=gate", NULL};
  CHECK_EQ(tc_request(&c, 1, FK_RESPONDER, FK_KEEP_CONN, gate, NULL, 0), 0);
  CHECK(ts_wait_entered(1, TS_WAIT));

  fk_server_stop(t.s);
  /* The listening socket closes at once; the idle connection too. */
  long deadline = tc_now_ms() + TS_WAIT;
  while (!refused(t.path) && tc_now_ms() < deadline)
    tc_sleep_ms(10);
  CHECK(refused(t.path));
  CHECK(tc_wait_closed(&idle, TS_WAIT));
  CHECK(!ts_wait_finished(&t, 0));

  /* The request in flight is answered completely, then the connection
   * closes and fk_server_run returns FK_OK. */
  ts_gate_open();
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(strcmp(tc_stdout(&c, 1), "gated 1\n") == 0);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(tc_wait_closed(&c, TS_WAIT));
  CHECK(ts_wait_finished(&t, TS_WAIT));
  CHECK_EQ(t.rc, FK_OK);
  CHECK_EQ(fk_server_requests(t.s), 2);
  CHECK(refused(t.path));
  tc_close(&c);
  tc_close(&idle);
  struct stat st;
  ts_stop(&t);
  CHECK(stat(t.path, &st) != 0 && errno == ENOENT);
}

static void test_max_requests(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_requests = 3;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  for (int i = 0; i < 3; i++)
    CHECK(ts_served(&t));
  CHECK(ts_wait_finished(&t, TS_WAIT));
  CHECK_EQ(t.rc, FK_OK);
  CHECK_EQ(fk_server_requests(t.s), 3);
  CHECK(refused(t.path));
  ts_stop(&t);
}

/* fk_server_free removes the socket file of a server that never ran. */
static void test_free_removes_socket(void) {
  char dir[] = "/tmp/fk-it-XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/s", dir);
  fk_server *s;
  CHECK_EQ(fk_server_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_server_listen(s, path), FK_OK);
  struct stat st;
  CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
  fk_server_free(s);
  CHECK(stat(path, &st) != 0 && errno == ENOENT);
  CHECK_EQ(rmdir(dir), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_multiplex_inline);
  RUN(test_multiplex_threads);
  RUN(test_limit_per_conn);
  RUN(test_limit_total);
  RUN(test_limit_reuse_threads);
  RUN(test_no_multiplex);
  RUN(test_abort_before_input);
  RUN(test_abort_in_handler);
  RUN(test_graceful_stop);
  RUN(test_max_requests);
  RUN(test_free_removes_socket);
  TEST_EXIT();
}
