/*
 * Thousands of connections at once: all open, all with a request in
 * flight, all answered; then all idle, and the server still answers on
 * every one of them and on new ones. Connections are spread over the I/O
 * threads; none waits for another.
 */
#include <sys/resource.h>

#include "harness.h"

#define NCONN 3000

/* The test process holds both ends of every connection. */
static int raise_fd_limit(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur >= want)
    return 1;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
    return 0;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static tc_conn conns[NCONN];

static void test_thousands_of_connections(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.max_conns = NCONN + 100;
  cfg.max_reqs = NCONN + 100;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));

  int opened = 0;
  for (; opened < NCONN; opened++)
    if (!ts_connect(&t, &conns[opened]))
      break;
  CHECK_EQ(opened, NCONN);

  /* Every connection has a request in flight before any is read. */
  const char *pairs[] = {"T=echo", "REQUEST_METHOD=POST", "N=42", NULL};
  int sent = 0;
  for (int i = 0; i < opened; i++)
    sent += tc_request(&conns[i], 1, FK_RESPONDER, FK_KEEP_CONN, pairs,
                       "ping", 4) == 0;
  CHECK_EQ(sent, opened);

  char *want = ts_echo_expected(pairs, "ping");
  int answered = 0;
  for (int i = 0; i < opened; i++) {
    if (tc_wait_end(&conns[i], 1, TS_WAIT) != NULL &&
        strcmp(tc_text(&conns[i], FK_STDOUT, 1, 0, NULL), want) == 0 &&
        ts_shape_ok(&conns[i], 1, FK_REQUEST_COMPLETE))
      answered++;
  }
  free(want);
  CHECK_EQ(answered, opened);

  /* All of them idle now: a new connection is served at once, and so is a
   * second request on old ones, first and last. */
  CHECK(ts_served(&t));
  CHECK(ts_echo_ok(&conns[0], 1, FK_KEEP_CONN));
  CHECK(ts_echo_ok(&conns[opened - 1], 7, FK_KEEP_CONN));
  for (int i = 0; i < opened; i++)
    CHECK(!conns[i].closed);

  for (int i = 0; i < opened; i++)
    tc_close(&conns[i]);
  ts_stop(&t);
}

int main(void) {
  if (!raise_fd_limit(2 * NCONN + 256)) {
    fprintf(stderr, "SKIPPED: the hard limit on open files is below %d\n",
            2 * NCONN + 256);
    return 77;
  }
  RUN(test_thousands_of_connections);
  TEST_EXIT();
}
