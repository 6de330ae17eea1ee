/*
 * Integration tests of the application library, over real sockets: the
 * Responder's whole request and response, KEEP_CONN in both directions,
 * management records (GET_VALUES, unknown types) and the three roles.
 */
#include "integration/harness.h"

/* Sends the content of a stream in records of `piece` bytes, so that pairs
 * and their length prefixes are cut across records (spec 3.3: boundaries
 * carry no meaning). */
static int send_in_pieces(tc_conn *c, unsigned type, unsigned id,
                          const uint8_t *p, size_t n, size_t piece) {
  for (size_t off = 0; off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    if (tc_record(c, type, id, p + off, k) != 0)
      return -1;
  }
  return 0;
}

/* --- 1. A Responder request over a Unix socket --------------------------- */

static void test_responder(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));

  /* B is 200 bytes: its length takes the 4-byte form. */
  char b[200 + 3];
  memset(b, 'b', sizeof b);
  memcpy(b, "B=", 2);
  b[sizeof b - 1] = '\0';
  const char *pairs[] = {"T=full", "A=alpha", b, "EXIT=7", "EMPTY=", NULL};
  size_t plen;
  uint8_t *params = tc_pairs(pairs, &plen);
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, 0), 0);
  CHECK_EQ(send_in_pieces(&c, FK_PARAMS, 1, params, plen, 5), 0);
  CHECK_EQ(tc_stream_end(&c, FK_PARAMS, 1), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 1, "hello", 5), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 1, " world", 6), 0);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 1), 0);
  free(params);

  const tc_event *end = tc_wait_end(&c, 1, TS_WAIT);
  CHECK(end != NULL);
  if (end) {
    CHECK_EQ(end->app_status, 7);
    CHECK_EQ(end->protocol_status, FK_REQUEST_COMPLETE);
  }
  char want[1024];
  snprintf(want, sizeof want,
           "id=1 role=1 keep=0\n"
           "A=alpha B=%s(200) NOPE=unset\n"
           "count=5\n"
           "0:T=full\n1:A=alpha\n2:B=%s\n3:EXIT=7\n4:EMPTY=\n"
           "at(count)=%d\n"
           "length=11 body=hello world\n"
           "eof=0\n",
           b + 2, b + 2, FK_E_INVAL);
  CHECK(strcmp(tc_stdout(&c, 1), want) == 0);
  CHECK(strcmp(tc_text(&c, FK_STDERR, 1, 0, NULL), "warn:something\n") == 0);
  /* Both streams end with an empty record, before END_REQUEST. */
  CHECK_EQ(tc_count(&c, TC_STREAM_END, 1), 2);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  /* KEEP_CONN was 0: the application closes the connection (spec 5.1),
   * and sends nothing else. */
  CHECK(tc_wait_closed(&c, TS_WAIT));
  CHECK_EQ(c.ev[c.nev - 1].kind, TC_CLOSED);
  CHECK_EQ(tc_count(&c, TC_END, TC_ANY_ID), 1);
  tc_close(&c);

  /* An empty body and no params at all. */
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_request(&c, 3, FK_RESPONDER, 0, NULL, NULL, 0), 0);
  CHECK(tc_wait_end(&c, 3, TS_WAIT) != NULL);
  CHECK(strcmp(tc_stdout(&c, 3),
               "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n--\n") == 0);
  CHECK(ts_shape_ok(&c, 3, FK_REQUEST_COMPLETE));
  /* No STDERR was written: no STDERR record at all, or one empty one. */
  CHECK(tc_count(&c, TC_STREAM_END, 3) <= 2);
  CHECK(tc_wait_closed(&c, TS_WAIT));
  tc_close(&c);
  ts_stop(&t);
}

/* --- 2. KEEP_CONN=1 ------------------------------------------------------ */

static void test_keep_conn(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  /* Three requests one after another, all with id 1 as nginx does. */
  for (int i = 0; i < 3; i++)
    CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  CHECK(tc_ping(&c, TS_WAIT));
  CHECK(!c.closed);

  /* Checklist item 9: a handler that does not read its body, while the
   * body and its terminator trickle in, then another request. */
  size_t from = c.nev;
  static uint8_t body[100000];
  memset(body, 'u', sizeof body);
  const char *pairs[] = {"T=noread", NULL};
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 2, pairs), 0);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, body, sizeof body), 0);
  tc_sleep_ms(20);
  CHECK_EQ(tc_stream(&c, FK_STDIN, 2, "tail", 4), 0);
  tc_sleep_ms(20);
  CHECK_EQ(tc_stream_end(&c, FK_STDIN, 2), 0);
  CHECK(tc_wait_from(&c, TC_END, 2, from, TS_WAIT) >= 0);
  CHECK(strcmp(tc_text(&c, FK_STDOUT, 2, from, NULL), "noread\n") == 0);
  CHECK(ts_shape_from(&c, 2, from, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  CHECK(!c.closed);

  /* A last request without KEEP_CONN: answered, then the connection
   * closes. */
  CHECK(ts_echo_ok(&c, 5, 0));
  CHECK(tc_wait_closed(&c, TS_WAIT));
  tc_close(&c);
  ts_stop(&t);
}

/* --- 4. GET_VALUES ------------------------------------------------------- */

static long wait_values(tc_conn *c, size_t from) {
  return tc_wait_from(c, TC_VALUES, 0, from, TS_WAIT);
}

static int value_is(const tc_event *e, const char *name, const char *want) {
  int found;
  char v[64];
  tc_values(e, name, &found, v, sizeof v);
  if (found != 1 || strcmp(v, want) != 0) {
    fprintf(stderr, "  %s: found %d times, value \"%s\", want \"%s\"\n", name,
            found, v, want);
    return 0;
  }
  return 1;
}

/* Regression: HAProxy reads FCGI_MAX_REQS as a per-connection limit and
 * was refused past max_reqs_per_conn; the answer must not promise more. */
static void test_get_values_per_connection_limit(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_reqs = 1000;
  cfg.max_reqs_per_conn = 5;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *names[] = {"FCGI_MAX_REQS", NULL};
  CHECK_EQ(tc_get_values(&c, names), 0);
  long i = wait_values(&c, 0);
  CHECK(i >= 0 && value_is(&c.ev[i], "FCGI_MAX_REQS", "5"));
  tc_close(&c);
  ts_stop(&t);
}

static void test_get_values(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_conns = 17;
  cfg.max_reqs = 23;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;

  /* A lone GET_VALUES, the only bytes on the connection, is answered
   * without waiting for more (checklist item 3). */
  CHECK(ts_connect(&t, &c));
  const char *all[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
                       NULL};
  CHECK_EQ(tc_get_values(&c, all), 0);
  long i = wait_values(&c, 0);
  CHECK(i >= 0);
  if (i >= 0) {
    const tc_event *e = &c.ev[i];
    CHECK_EQ(e->id, 0);
    CHECK_EQ(tc_values(e, NULL, NULL, NULL, 0), 3);
    CHECK(value_is(e, "FCGI_MAX_CONNS", "17"));
    CHECK(value_is(e, "FCGI_MAX_REQS", "23"));
    CHECK(value_is(e, "FCGI_MPXS_CONNS", "1"));
  }

  /* A name asked for ten times is answered once (checklist item 2). */
  const char *ten[11];
  for (int k = 0; k < 10; k++)
    ten[k] = "FCGI_MAX_REQS";
  ten[10] = NULL;
  size_t from = c.nev;
  CHECK_EQ(tc_get_values(&c, ten), 0);
  i = wait_values(&c, from);
  CHECK(i >= 0);
  if (i >= 0) {
    CHECK_EQ(tc_values(&c.ev[i], NULL, NULL, NULL, 0), 1);
    CHECK(value_is(&c.ev[i], "FCGI_MAX_REQS", "23"));
  }

  /* Unknown names are left out; so are values sent with the names. */
  const char *mixed[] = {"FOO", "FCGI_MPXS_CONNS=junk", "X_FCGI_MAX_CONNS",
                         "FCGI_MAX_CONN", NULL};
  from = c.nev;
  CHECK_EQ(tc_get_values(&c, mixed), 0);
  i = wait_values(&c, from);
  CHECK(i >= 0);
  if (i >= 0) {
    CHECK_EQ(tc_values(&c.ev[i], NULL, NULL, NULL, 0), 1);
    CHECK(value_is(&c.ev[i], "FCGI_MPXS_CONNS", "1"));
  }

  /* Only unknown names: an empty result. */
  const char *unknown[] = {"NOPE", NULL};
  from = c.nev;
  CHECK_EQ(tc_get_values(&c, unknown), 0);
  i = wait_values(&c, from);
  CHECK(i >= 0);
  if (i >= 0)
    CHECK_EQ(c.ev[i].len, 0);

  /* GET_VALUES_RESULT is discrete (spec 3.3): no empty record follows it.
   * The next record after the last result belongs to this request. */
  size_t last = c.nev - 1;
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));
  CHECK_EQ(tc_count(&c, TC_VALUES, 0), 4);
  CHECK(last + 1 < c.nev && c.ev[last + 1].kind == TC_DATA &&
        c.ev[last + 1].id == 1);
  tc_close(&c);

  /* In the middle of a request's PARAMS, cut inside a pair: answered at
   * once, and the request goes on unharmed. */
  CHECK(ts_connect(&t, &c));
  const char *pairs[] = {"T=echo", "SCRIPT_NAME=/x", "QUERY=a=b&c=d", NULL};
  size_t plen;
  uint8_t *params = tc_pairs(pairs, &plen);
  CHECK_EQ(tc_begin(&c, 1, FK_RESPONDER, 0), 0);
  CHECK_EQ(tc_record(&c, FK_PARAMS, 1, params, plen - 5), 0);
  CHECK_EQ(tc_get_values(&c, all), 0);
  i = wait_values(&c, 0);
  CHECK(i >= 0);
  if (i >= 0)
    CHECK_EQ(tc_values(&c.ev[i], NULL, NULL, NULL, 0), 3);
  CHECK_EQ(tc_record(&c, FK_PARAMS, 1, params + plen - 5, 5), 0);
  CHECK_EQ(tc_stream_end(&c, FK_PARAMS, 1), 0);
  CHECK_EQ(tc_stdin(&c, 1, "body", 4), 0);
  free(params);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  char *want = ts_echo_expected(pairs, "body");
  CHECK(strcmp(tc_stdout(&c, 1), want) == 0);
  free(want);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));
  CHECK(tc_wait_closed(&c, TS_WAIT));
  tc_close(&c);
  ts_stop(&t);
}

/* --- 5. Records of unknown types ----------------------------------------- */

static void test_unknown_type(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;
  CHECK(ts_connect(&t, &c));

  /* Spec 4.2: a management record of a type the application does not
   * know gets UNKNOWN_TYPE naming it; the connection stays up. */
  CHECK_EQ(tc_record(&c, 200, 0, "abcde", 5), 0);
  long i = tc_wait(&c, TC_UNKNOWN_TYPE, 0, TS_WAIT);
  CHECK(i >= 0);
  if (i >= 0)
    CHECK_EQ(c.ev[i].unknown_type, 200);
  CHECK_EQ(tc_record(&c, FK_MAXTYPE + 1, 0, NULL, 0), 0);
  i = tc_wait_from(&c, TC_UNKNOWN_TYPE, 0, (size_t)i + 1, TS_WAIT);
  CHECK(i >= 0);
  if (i >= 0)
    CHECK_EQ(c.ev[i].unknown_type, FK_MAXTYPE + 1);
  CHECK(ts_echo_ok(&c, 1, FK_KEEP_CONN));

  /* An unknown type with a request id is ignored, in a request or not. */
  size_t from = c.nev;
  CHECK_EQ(tc_record(&c, 200, 1, "xyz", 3), 0);
  CHECK_EQ(tc_record(&c, 201, 7, NULL, 0), 0);
  CHECK_EQ(tc_begin(&c, 2, FK_RESPONDER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_record(&c, 200, 2, "xyz", 3), 0);
  const char *pairs[] = {"T=noread", NULL};
  CHECK_EQ(tc_params(&c, 2, pairs), 0);
  CHECK_EQ(tc_stdin(&c, 2, NULL, 0), 0);
  CHECK(tc_wait_from(&c, TC_END, 2, from, TS_WAIT) >= 0);
  CHECK(from < c.nev && c.ev[from].kind == TC_DATA && c.ev[from].id == 2);
  CHECK(strcmp(tc_stdout(&c, 2), "noread\n") == 0);
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));
  CHECK_EQ(tc_count(&c, TC_UNKNOWN_TYPE, TC_ANY_ID), 2);
  CHECK(tc_ping(&c, TS_WAIT));
  CHECK_EQ(tc_count(&c, TC_UNKNOWN_TYPE, TC_ANY_ID), 2);
  tc_close(&c);
  ts_stop(&t);
}

/* --- 6. Roles ------------------------------------------------------------ */

static void test_unknown_role(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  tc_conn c;

  /* A role without a handler, KEEP_CONN 0: UNKNOWN_ROLE, then close. */
  CHECK(ts_connect(&t, &c));
  const char *pairs[] = {"T=echo", NULL};
  CHECK_EQ(tc_begin(&c, 1, FK_FILTER, 0), 0);
  /* The server may have closed already: the rest may not get through. */
  (void)tc_params(&c, 1, pairs);
  const tc_event *end = tc_wait_end(&c, 1, TS_WAIT);
  CHECK(end != NULL);
  if (end)
    CHECK_EQ(end->app_status, 0);
  CHECK(ts_shape_ok(&c, 1, FK_UNKNOWN_ROLE));
  CHECK(tc_wait_closed(&c, TS_WAIT));
  tc_close(&c);

  /* With KEEP_CONN: the connection stays and serves the next request. */
  CHECK(ts_connect(&t, &c));
  CHECK_EQ(tc_begin(&c, 1, FK_AUTHORIZER, FK_KEEP_CONN), 0);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&c, 1, FK_UNKNOWN_ROLE));
  /* The rest of the refused request is ignored (the id is inactive). */
  CHECK_EQ(tc_params(&c, 1, pairs), 0);
  CHECK_EQ(tc_begin(&c, 2, 77, FK_KEEP_CONN), 0);
  CHECK(tc_wait_end(&c, 2, TS_WAIT) != NULL);
  CHECK(ts_shape_ok(&c, 2, FK_UNKNOWN_ROLE));
  CHECK(ts_echo_ok(&c, 3, FK_KEEP_CONN));
  CHECK(ts_shape_ok(&c, 1, FK_UNKNOWN_ROLE));
  CHECK(!c.closed);
  tc_close(&c);
  ts_stop(&t);
}

static void test_authorizer_filter(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ALL_ROLES);
  tc_conn c;
  CHECK(ts_connect(&t, &c));
  const char *auth = "Status: 200\r\nVariable-AUTH_USER: ann\r\n\r\n";

  /* Authorizer (spec 6.3): PARAMS only, no STDIN at all. */
  const char *apairs[] = {"T=auth", "REMOTE_USER=ann", NULL};
  CHECK_EQ(tc_begin(&c, 1, FK_AUTHORIZER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 1, apairs), 0);
  CHECK(tc_wait_end(&c, 1, TS_WAIT) != NULL);
  CHECK(strcmp(tc_stdout(&c, 1), auth) == 0);
  CHECK(ts_shape_ok(&c, 1, FK_REQUEST_COMPLETE));

  /* ... and with a trailing empty STDIN, which is tolerated. */
  size_t from = c.nev;
  CHECK_EQ(tc_request(&c, 2, FK_AUTHORIZER, FK_KEEP_CONN, apairs, NULL, 0), 0);
  CHECK(tc_wait_from(&c, TC_END, 2, from, TS_WAIT) >= 0);
  CHECK(strcmp(tc_stdout(&c, 2), auth) == 0);
  CHECK(ts_shape_ok(&c, 2, FK_REQUEST_COMPLETE));
  CHECK(ts_echo_ok(&c, 2, FK_KEEP_CONN));
  CHECK(tc_ping(&c, TS_WAIT));
  CHECK(!c.closed);

  /* Filter (spec 6.4): PARAMS, STDIN, then DATA, delivered whole. */
  from = c.nev;
  const char *fpairs[] = {"T=filter", "FCGI_DATA_LENGTH=11",
                          "FCGI_DATA_LAST_MOD=1700000000", NULL};
  CHECK_EQ(tc_begin(&c, 3, FK_FILTER, FK_KEEP_CONN), 0);
  CHECK_EQ(tc_params(&c, 3, fpairs), 0);
  CHECK_EQ(tc_stdin(&c, 3, "abc", 3), 0);
  CHECK_EQ(tc_stream(&c, FK_DATA, 3, "hello", 5), 0);
  /* The handler must not run before DATA has ended. */
  CHECK(tc_ping(&c, TS_WAIT));
  CHECK(tc_find(&c, TC_END, 3, from) < 0);
  CHECK_EQ(tc_stream(&c, FK_DATA, 3, " world", 6), 0);
  CHECK_EQ(tc_stream_end(&c, FK_DATA, 3), 0);
  CHECK(tc_wait_from(&c, TC_END, 3, from, TS_WAIT) >= 0);
  CHECK(strcmp(tc_stdout(&c, 3), "FCGI_DATA_LENGTH=11 data_length=11 body=abc\n"
                                 "data=hello world\n") == 0);
  CHECK(ts_shape_ok(&c, 3, FK_REQUEST_COMPLETE));
  tc_close(&c);
  ts_stop(&t);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_responder);
  RUN(test_keep_conn);
  RUN(test_get_values);
  RUN(test_get_values_per_connection_limit);
  RUN(test_unknown_type);
  RUN(test_unknown_role);
  RUN(test_authorizer_filter);
  TEST_EXIT();
}
