/*
 * The non-blocking client on the fcgikit event loop, against an fcgikit
 * server running in a thread of this process: several connections on one
 * loop, multiplexed requests, bodies, timeouts, cancel, connect failures,
 * and requests submitted from done callbacks.
 */
#include "harness.h"

#include <fcgikit/loop.h>

/* One request's outcome, collected by the callbacks. */
typedef struct outcome {
  int done, err;
  fk_client_result res;
  char *out;
  size_t len;
  struct run *run;
} outcome;

typedef struct run {
  fk_loop *loop;
  int pending; /* requests whose done has not come yet */
} run;

static int collect(const uint8_t *data, size_t len, void *arg) {
  outcome *o = arg;
  o->out = realloc(o->out, o->len + len + 1);
  memcpy(o->out + o->len, data, len);
  o->len += len;
  o->out[o->len] = '\0';
  return 0;
}

static void on_done(int err, const fk_client_result *res, void *arg) {
  outcome *o = arg;
  o->done++;
  o->err = err;
  o->res = *res;
  if (--o->run->pending == 0)
    fk_loop_stop(o->run->loop);
}

static void give_up(fk_loop *loop, void *arg) {
  (void)arg;
  fprintf(stderr, "  the loop ran for 10 s: stopping it\n");
  fk_loop_stop(loop);
}

/* Runs the loop until every request submitted is done (or 10 s). */
static void run_all(run *r) {
  fk_timer *guard;
  fk_loop_timer(r->loop, 10000, give_up, NULL, &guard);
  if (r->pending > 0)
    fk_loop_run(r->loop);
  fk_loop_cancel(r->loop, r->pending == 0 ? guard : NULL);
}

static const char *echo_pairs[] = {"T=echo", "REQUEST_METHOD=POST", "N=42",
                                   NULL};

static fk_client_request echo_request(fk_client_pair *pairs, outcome *o,
                                      const char *body, size_t len) {
  size_t n = 0;
  for (; echo_pairs[n]; n++) {
    const char *eq = strchr(echo_pairs[n], '=');
    static char names[8][16];
    snprintf(names[n], sizeof names[n], "%.*s", (int)(eq - echo_pairs[n]),
             echo_pairs[n]);
    pairs[n] = (fk_client_pair){names[n], eq + 1, 0};
  }
  fk_client_request q = {.flags = FK_KEEP_CONN,
                         .params = pairs,
                         .nparams = n,
                         .on_stdout = collect,
                         .arg = o};
  if (len) {
    q.body.kind = FK_BODY_MEMORY;
    q.body.data = body;
    q.body.len = len;
  }
  return q;
}

static int echo_ok(const outcome *o, const char *body) {
  char *want = ts_echo_expected(echo_pairs, body);
  int ok = o->done == 1 && o->err == FK_OK && o->res.ended &&
           o->res.protocol_status == FK_REQUEST_COMPLETE && o->out &&
           strcmp(o->out, want) == 0;
  if (!ok)
    fprintf(stderr, "  done %d err %s out \"%.80s\"\n", o->done,
            fk_errname(o->err), o->out ? o->out : "");
  free(want);
  return ok;
}

/* Two connections on one loop, ten requests each, with bodies. */
static void test_many_on_one_loop(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_async *a, *b;
  CHECK_EQ(fk_client_async_open(&a, r.loop, t.path, NULL), FK_OK);
  CHECK_EQ(fk_client_async_open(&b, r.loop, t.path, NULL), FK_OK);
  outcome o[20];
  fk_client_pair pairs[20][8];
  memset(o, 0, sizeof o);
  for (int i = 0; i < 20; i++) {
    o[i].run = &r;
    fk_client_request q = echo_request(pairs[i], &o[i], "body", 4);
    r.pending++;
    CHECK_EQ(fk_client_async_submit(i % 2 ? a : b, &q, on_done, NULL), FK_OK);
  }
  run_all(&r);
  for (int i = 0; i < 20; i++) {
    CHECK(echo_ok(&o[i], "body"));
    free(o[i].out);
  }
  CHECK_EQ(fk_client_async_in_flight(a), 0);
  fk_client_async_close(a);
  fk_client_async_close(b);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

/* Four requests in flight at once on one connection: all four handlers
 * are at the gate together before any is answered. */
static int gate_entered;
static void check_gate(fk_loop *loop, void *arg) {
  (void)arg;
  pthread_mutex_lock(&ts.lock);
  int n = ts.entered;
  pthread_mutex_unlock(&ts.lock);
  if (n >= 4) {
    gate_entered = 1;
    ts_gate_open();
  } else {
    fk_loop_timer(loop, 10, check_gate, NULL, NULL);
  }
}

static void test_multiplexed(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 4;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_async *c;
  CHECK_EQ(fk_client_async_open(&c, r.loop, t.path, NULL), FK_OK);
  CHECK_EQ(fk_client_async_set_max_requests(c, 4), FK_OK);
  fk_client_pair gate = {"T", "gate", 0};
  outcome o[4];
  memset(o, 0, sizeof o);
  gate_entered = 0;
  for (int i = 0; i < 4; i++) {
    o[i].run = &r;
    fk_client_request q = {.flags = FK_KEEP_CONN,
                           .params = &gate,
                           .nparams = 1,
                           .on_stdout = collect,
                           .arg = &o[i]};
    r.pending++;
    CHECK_EQ(fk_client_async_submit(c, &q, on_done, NULL), FK_OK);
  }
  fk_loop_timer(r.loop, 10, check_gate, NULL, NULL);
  run_all(&r);
  CHECK(gate_entered);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(o[i].err, FK_OK);
    CHECK(o[i].out && strncmp(o[i].out, "gated ", 6) == 0);
    free(o[i].out);
  }
  fk_client_async_close(c);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

/* A 3 MB body goes out as the socket takes it; the echo comes back. */
static void test_large_body(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_async *c;
  CHECK_EQ(fk_client_async_open(&c, r.loop, t.path, NULL), FK_OK);
  size_t len = 3u << 20;
  char *body = malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    body[i] = (char)('a' + i % 26);
  body[len] = '\0';
  outcome o = {.run = &r};
  fk_client_pair pairs[8];
  fk_client_request q = echo_request(pairs, &o, body, len);
  r.pending = 1;
  CHECK_EQ(fk_client_async_submit(c, &q, on_done, NULL), FK_OK);
  run_all(&r);
  CHECK(echo_ok(&o, body));
  free(o.out);
  free(body);
  fk_client_async_close(c);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

/* A request that takes too long ends with FK_E_TIMEOUT (and an ABORT);
 * one cancelled ends with FK_E_ABORTED; the connection serves on. */
static void test_timeout_and_cancel(void) {
  fk_config cfg;
  ts_config(&cfg);
  cfg.handler_threads = 2;
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_async *c;
  CHECK_EQ(fk_client_async_open(&c, r.loop, t.path, NULL), FK_OK);
  fk_client_pair slow[] = {{"T", "sleep", 0}, {"MS", "1500", 0}};
  outcome o1 = {.run = &r}, o2 = {.run = &r}, o3 = {.run = &r};
  fk_client_request q = {.flags = FK_KEEP_CONN,
                         .params = slow,
                         .nparams = 2,
                         .on_stdout = collect,
                         .arg = &o1,
                         .timeout_ms = 200};
  r.pending = 1;
  CHECK_EQ(fk_client_async_submit(c, &q, on_done, NULL), FK_OK);
  run_all(&r);
  CHECK_EQ(o1.done, 1);
  CHECK_EQ(o1.err, FK_E_TIMEOUT);
  CHECK(o1.res.aborted);

  unsigned handle;
  q.timeout_ms = 0;
  q.arg = &o2;
  r.pending = 1;
  CHECK_EQ(fk_client_async_submit(c, &q, on_done, &handle), FK_OK);
  CHECK_EQ(fk_client_async_cancel(c, handle), FK_OK);
  run_all(&r);
  CHECK_EQ(o2.done, 1);
  CHECK_EQ(o2.err, FK_E_ABORTED);
  CHECK_EQ(fk_client_async_cancel(c, handle), FK_E_INVAL);

  fk_client_pair pairs[8];
  q = echo_request(pairs, &o3, NULL, 0);
  r.pending = 1;
  CHECK_EQ(fk_client_async_submit(c, &q, on_done, NULL), FK_OK);
  run_all(&r);
  CHECK(echo_ok(&o3, ""));
  free(o1.out);
  free(o2.out);
  free(o3.out);
  fk_client_async_close(c);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

/* Nothing listens: every request submitted ends with FK_E_SYSTEM. */
static void test_connect_failure(void) {
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_async *c;
  CHECK_EQ(fk_client_async_open(&c, r.loop, "/nonexistent/fcgikit.sock", NULL),
           FK_OK);
  outcome o = {.run = &r};
  fk_client_pair pairs[8];
  fk_client_request q = echo_request(pairs, &o, NULL, 0);
  r.pending = 1;
  CHECK_EQ(fk_client_async_submit(c, &q, on_done, NULL), FK_OK);
  run_all(&r);
  CHECK_EQ(o.done, 1);
  CHECK_EQ(o.err, FK_E_SYSTEM);
  fk_client_async_close(c);
  fk_loop_free(r.loop);
}

/* Each done submits the next request: 50 in a row, one connection, no
 * KEEP_CONN on the odd ones (a new connection after each of those). */
typedef struct chain {
  run *run;
  fk_client_async *c;
  fk_client_pair pairs[8];
  outcome o;
  int left, ok;
} chain;

static void chain_next(int err, const fk_client_result *res, void *arg);
static int chain_collect(const uint8_t *data, size_t len, void *arg);

static void chain_submit(chain *ch) {
  free(ch->o.out);
  memset(&ch->o, 0, sizeof ch->o);
  ch->o.run = ch->run;
  fk_client_request q = echo_request(ch->pairs, &ch->o, "x", 1);
  q.flags = ch->left % 2 ? FK_KEEP_CONN : 0;
  q.on_stdout = chain_collect;
  q.arg = ch;
  fk_client_async_submit(ch->c, &q, chain_next, NULL);
}

static void chain_next(int err, const fk_client_result *res, void *arg) {
  chain *ch = arg;
  ch->o.done = 1;
  ch->o.err = err;
  ch->o.res = *res;
  ch->ok += echo_ok(&ch->o, "x");
  if (--ch->left > 0)
    chain_submit(ch);
  else
    fk_loop_stop(ch->run->loop);
}

static int chain_collect(const uint8_t *data, size_t len, void *arg) {
  return collect(data, len, &((chain *)arg)->o);
}

static void test_submit_from_done(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  chain ch = {.run = &r, .left = 50};
  CHECK_EQ(fk_client_async_open(&ch.c, r.loop, t.path, NULL), FK_OK);
  /* The chain's output goes to the chain's outcome. */
  ch.o.run = &r;
  fk_client_request q = echo_request(ch.pairs, &ch.o, "x", 1);
  q.on_stdout = chain_collect;
  q.arg = &ch;
  CHECK_EQ(fk_client_async_submit(ch.c, &q, chain_next, NULL), FK_OK);
  r.pending = 1; /* run_all's guard; the chain stops the loop itself */
  run_all(&r);
  CHECK_EQ(ch.left, 0);
  CHECK_EQ(ch.ok, 50);
  free(ch.o.out);
  fk_client_async_close(ch.c);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

/* A request whose params are refused ends alone; its done may submit
 * again on the same client, and the others on the connection go on. */
typedef struct retry {
  run *run;
  fk_client_async *c;
  fk_client_pair pairs[8];
  outcome again;
  int err;
} retry;

static void refused_then_retry(int err, const fk_client_result *res,
                               void *arg) {
  (void)res;
  retry *rt = arg;
  rt->err = err;
  rt->again.run = rt->run;
  fk_client_request q = echo_request(rt->pairs, &rt->again, "again", 5);
  rt->run->pending++;
  CHECK_EQ(fk_client_async_submit(rt->c, &q, on_done, NULL), FK_OK);
  if (--rt->run->pending == 0)
    fk_loop_stop(rt->run->loop);
}

static void test_refused_request_alone(void) {
  fk_config cfg;
  ts_config(&cfg);
  ts_server t;
  ts_start(&t, &cfg, TS_ROLE(FK_RESPONDER));
  run r = {0};
  CHECK_EQ(fk_loop_new(&r.loop), FK_OK);
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.max_params_bytes = 512;
  retry rt = {.run = &r};
  CHECK_EQ(fk_client_async_open(&rt.c, r.loop, t.path, &opt), FK_OK);
  CHECK_EQ(fk_client_async_set_max_requests(rt.c, 4), FK_OK);
  outcome before = {.run = &r}, after = {.run = &r};
  fk_client_pair p1[8], p3[8];
  char big[2000];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fk_client_pair huge = {"BIG", big, 0};
  fk_client_request q1 = echo_request(p1, &before, "one", 3);
  fk_client_request q2 = {.flags = FK_KEEP_CONN, .params = &huge,
                          .nparams = 1, .arg = &rt};
  fk_client_request q3 = echo_request(p3, &after, "three", 5);
  r.pending = 3;
  CHECK_EQ(fk_client_async_submit(rt.c, &q1, on_done, NULL), FK_OK);
  CHECK_EQ(fk_client_async_submit(rt.c, &q2, refused_then_retry, NULL), FK_OK);
  CHECK_EQ(fk_client_async_submit(rt.c, &q3, on_done, NULL), FK_OK);
  run_all(&r);
  CHECK_EQ(rt.err, FK_E_PARAMS_TOO_LARGE);
  CHECK(echo_ok(&before, "one"));
  CHECK(echo_ok(&after, "three"));
  CHECK(echo_ok(&rt.again, "again"));
  free(before.out);
  free(after.out);
  free(rt.again.out);
  fk_client_async_close(rt.c);
  fk_loop_free(r.loop);
  ts_stop(&t);
}

int main(void) {
  RUN(test_many_on_one_loop);
  RUN(test_multiplexed);
  RUN(test_large_body);
  RUN(test_timeout_and_cancel);
  RUN(test_connect_failure);
  RUN(test_submit_from_done);
  RUN(test_refused_request_alone);
  TEST_EXIT();
}
