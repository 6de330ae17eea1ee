/*
 * Unit tests of the client session (lib/client/session.c): what it sends
 * (decoded back with the core parser), how it allocates request ids, and
 * what it makes of the application's bytes.
 *
 * Every response vector goes through scan(): fed whole, one byte at a time
 * and split in two at every position, each fragment copied against a
 * PROT_NONE page so that reading past it crashes. Each run gives a
 * transcript of the events (stream data merged, since its boundaries carry
 * no meaning) ending with the error and its offset, if any; all runs of one
 * vector must give the same transcript.
 */
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgikit/client.h"
#include "test.h"

/* --- Building inputs ----------------------------------------------------- */

struct vec {
  uint8_t *d;
  size_t len, cap;
};

static void vput(struct vec *v, const void *p, size_t n) {
  if (v->len + n + 1 > v->cap) {
    v->cap = (v->len + n) * 2 + 64;
    v->d = realloc(v->d, v->cap);
    if (!v->d)
      abort();
  }
  if (n)
    memcpy(v->d + v->len, p, n);
  v->len += n;
  v->d[v->len] = '\0'; /* so a transcript is a C string */
}

static void vstr(struct vec *v, const char *s) { vput(v, s, strlen(s)); }

/* A record with any content and non-zero padding bytes. */
static void vrec(struct vec *v, unsigned type, unsigned id, const void *content,
                 size_t clen, size_t pad) {
  uint8_t h[FK_HEADER_LEN];
  fk_header_encode(h, type, id, clen, pad);
  vput(v, h, sizeof h);
  vput(v, content, clen);
  for (size_t i = 0; i < pad; i++)
    vput(v, "\xa5", 1);
}

static void vstream(struct vec *v, unsigned type, unsigned id, const char *s) {
  vrec(v, type, id, s, strlen(s), fk_padding_for(strlen(s)));
}

static void vend(struct vec *v, unsigned id, uint32_t app, unsigned proto) {
  uint8_t r[FK_END_REQUEST_SIZE];
  fk_encode_end_request(r, id, app, proto);
  vput(v, r, sizeof r);
}

static void vpair(struct vec *v, const char *name, const char *value) {
  uint8_t buf[512];
  size_t n = fk_nv_encode(buf, name, strlen(name), value, strlen(value));
  vput(v, buf, n);
}

/* A GET_VALUES_RESULT of name=value pairs given as "N=V" strings. */
static void vvalues(struct vec *v, unsigned id, const char *const *pairs) {
  struct vec c = {0};
  for (size_t i = 0; pairs && pairs[i]; i++) {
    char name[64];
    const char *eq = strchr(pairs[i], '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - pairs[i]), pairs[i]);
    vpair(&c, name, eq + 1);
  }
  vrec(v, FK_GET_VALUES_RESULT, id, c.d, c.len, fk_padding_for(c.len));
  free(c.d);
}

/* --- Guarded input ------------------------------------------------------- */

static uint8_t *guard_mem;
static size_t guard_len;

static void guard_init(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  guard_len = 1024 * 1024;
  uint8_t *m = mmap(NULL, guard_len + page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    abort();
  guard_mem = m;
  if (mprotect(guard_mem + guard_len, page, PROT_NONE) != 0)
    abort();
}

/* A copy of src[0..n) that ends where the guard page starts. */
static const uint8_t *guarded(const uint8_t *src, size_t n) {
  if (n > guard_len)
    abort();
  uint8_t *dst = guard_mem + guard_len - n;
  if (n)
    memcpy(dst, src, n);
  return dst;
}

/* --- Transcripts --------------------------------------------------------- */

struct run {
  fk_client_session *s;
  struct vec t;  /* the transcript */
  int last_data; /* the last token was data of this (id << 4 | type) + 1 */
  int rc;        /* the first error */
};

static void note(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct run *r, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  vstr(&r->t, buf);
  r->last_data = 0;
}

static void record_event(struct run *r, const fk_client_event *ev) {
  const fk_params *vals;
  switch (ev->type) {
  case FK_CLIENT_STDOUT:
  case FK_CLIENT_STDERR: {
    int key = (int)(ev->request_id << 4 | (unsigned)ev->type) + 1;
    if (r->last_data != key) {
      note(r, "[%u %s]", ev->request_id,
           ev->type == FK_CLIENT_STDOUT ? "out" : "err");
      r->last_data = key;
    }
    vput(&r->t, ev->data, ev->len);
    return;
  }
  case FK_CLIENT_STDOUT_END: note(r, "[%u out-end]", ev->request_id); return;
  case FK_CLIENT_STDERR_END: note(r, "[%u err-end]", ev->request_id); return;
  case FK_CLIENT_END:
    note(r, "[%u end %u/%u user=%p]", ev->request_id, ev->app_status,
         ev->protocol_status, ev->user);
    return;
  case FK_CLIENT_VALUES:
    vals = fk_client_session_values(r->s);
    note(r, "[values");
    for (size_t i = 0; i < fk_params_count(vals); i++) {
      const char *n, *v;
      fk_params_at(vals, i, &n, NULL, &v, NULL);
      note(r, " %s=%s", n, v);
    }
    note(r, " max=%u]", fk_client_session_max_requests(r->s));
    return;
  case FK_CLIENT_UNKNOWN_TYPE:
    note(r, "[unknown %u]", ev->unknown_type);
    return;
  default: note(r, "[bad event %d]", ev->type); return;
  }
}

/* Feeds one fragment, recording every event. */
static void feed(struct run *r, const uint8_t *in, size_t len) {
  const uint8_t *p = guarded(in, len);
  size_t off = 0;
  while (r->rc == FK_OK) {
    fk_client_event ev;
    long n = fk_client_session_recv(r->s, p + off, len - off, &ev);
    if (n < 0) {
      r->rc = (int)n;
      note(r, "[error %s at %llu: %s]", fk_errname(r->rc),
           (unsigned long long)fk_client_session_error_offset(r->s),
           fk_client_session_error_reason(r->s));
      return;
    }
    CHECK((size_t)n <= len - off);
    off += (size_t)n;
    if (ev.type == FK_CLIENT_NONE) {
      CHECK_EQ(off, len);
      return;
    }
    record_event(r, &ev);
  }
}

/* Puts a fresh session in the state a vector expects. */
typedef void (*setup_fn)(fk_client_session *s);

static char *run_split(setup_fn setup, const struct vec *in, size_t piece,
                       size_t cut) {
  struct run r = {0};
  CHECK_EQ(fk_client_session_new(&r.s, NULL), FK_OK);
  setup(r.s);
  vstr(&r.t, "");
  if (cut != (size_t)-1) {
    feed(&r, in->d, cut);
    feed(&r, in->d + cut, in->len - cut);
  } else {
    for (size_t off = 0; off < in->len; off += piece)
      feed(&r, in->d + off, in->len - off < piece ? in->len - off : piece);
  }
  if (r.rc == FK_OK) {
    int eof = fk_client_session_eof(r.s);
    note(&r, "[eof %s]", fk_errname(eof));
  }
  fk_client_session_free(r.s);
  return (char *)r.t.d;
}

/* Runs a vector whole, byte by byte and split at every position; returns
 * the transcript (malloc'd) after checking that all runs agree. */
static char *scan(setup_fn setup, const struct vec *in) {
  char *whole = run_split(setup, in, in->len ? in->len : 1, (size_t)-1);
  char *bytes = run_split(setup, in, 1, (size_t)-1);
  CHECK(strcmp(whole, bytes) == 0);
  if (strcmp(whole, bytes) != 0)
    fprintf(stderr, "  whole: %s\n  bytes: %s\n", whole, bytes);
  free(bytes);
  /* Splitting a long vector at every position is quadratic: step over
   * the middle of long runs. */
  for (size_t cut = 0; cut <= in->len;
       cut += (in->len > 4096 && cut > 512 && cut < in->len - 512) ? 61 : 1) {
    char *split = run_split(setup, in, 0, cut);
    if (strcmp(whole, split) != 0) {
      fprintf(stderr, "  cut %zu: %s\n  whole: %s\n", cut, split, whole);
      CHECK(0);
      free(split);
      break;
    }
    free(split);
  }
  return whole;
}

static int contains(const char *hay, const char *needle) {
  if (strstr(hay, needle))
    return 1;
  fprintf(stderr, "  \"%s\"\n  does not contain \"%s\"\n", hay, needle);
  return 0;
}

/* --- Decoding what the session sends ------------------------------------- */

/* The records of the session's output, as "TYPE id len;" with stream
 * content of each (id, type) concatenated into streams[]. */
struct sent {
  struct vec list;
  struct vec params[4], in[4], data[4]; /* by id 1..3 */
  size_t max_content;
};

static void sent_free(struct sent *t) {
  free(t->list.d);
  for (int i = 0; i < 4; i++) {
    free(t->params[i].d);
    free(t->in[i].d);
    free(t->data[i].d);
  }
  memset(t, 0, sizeof *t);
}

/* Takes the pending output (in pieces of `take` bytes, as a socket might)
 * and decodes it. */
static void take_output(fk_client_session *s, struct sent *t, size_t take) {
  fk_parser p;
  fk_parser_init(&p);
  const uint8_t *d;
  size_t n;
  struct vec all = {0};
  while ((n = fk_client_session_pending(s, &d)) > 0) {
    size_t k = n < take ? n : take;
    vput(&all, d, k);
    fk_client_session_consume(s, k);
  }
  for (size_t off = 0; off < all.len;) {
    fk_event ev;
    long k = fk_parser_feed(&p, all.d + off, all.len - off, &ev);
    CHECK(k >= 0);
    if (k < 0)
      break;
    off += (size_t)k;
    if (ev.type == FK_EV_NONE)
      break;
    char buf[64];
    struct vec *st = NULL;
    unsigned id = ev.request_id < 4 ? ev.request_id : 0;
    switch (ev.type) {
    case FK_EV_BEGIN:
      snprintf(buf, sizeof buf, "B%u r%u f%u;", ev.request_id, ev.role,
               ev.flags);
      vstr(&t->list, buf);
      break;
    case FK_EV_ABORT:
      snprintf(buf, sizeof buf, "A%u;", ev.request_id);
      vstr(&t->list, buf);
      break;
    case FK_EV_STREAM:
      st = ev.record_type == FK_PARAMS  ? &t->params[id]
           : ev.record_type == FK_STDIN ? &t->in[id]
                                        : &t->data[id];
      vput(st, ev.data, ev.len);
      if (p.h.content_length > t->max_content)
        t->max_content = p.h.content_length;
      if (p.content_left == 0) {
        snprintf(buf, sizeof buf, "%c%u;",
                 ev.record_type == FK_PARAMS  ? 'p'
                 : ev.record_type == FK_STDIN ? 'i'
                                              : 'd',
                 ev.request_id);
        vstr(&t->list, buf);
      }
      break;
    case FK_EV_STREAM_END:
      snprintf(buf, sizeof buf, "%c%u.;",
               ev.record_type == FK_PARAMS  ? 'P'
               : ev.record_type == FK_STDIN ? 'I'
                                            : 'D',
               ev.request_id);
      vstr(&t->list, buf);
      break;
    case FK_EV_VALUES: vput(&t->params[0], ev.data, ev.len); break;
    case FK_EV_VALUES_END: vstr(&t->list, "V;"); break;
    default: vstr(&t->list, "?;"); break;
    }
  }
  CHECK(fk_parser_idle(&p));
  free(all.d);
  if (t->list.d == NULL)
    vstr(&t->list, "");
}

/* --- Sending ------------------------------------------------------------- */

static void test_send_request(void) {
  fk_client_session *s;
  struct sent t = {0};
  unsigned id = 0;
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(
      fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, (void *)0x1, &id),
      FK_OK);
  CHECK_EQ(id, 1);
  CHECK_EQ(fk_client_session_param(s, 1, "A", 1, "alpha", 5), FK_OK);
  CHECK_EQ(fk_client_session_param(s, 1, "EMPTY", 5, "", 0), FK_OK);
  /* Out of order: STDIN before PARAMS ended. */
  CHECK_EQ(fk_client_session_stream(s, 1, FK_STDIN, "x", 1), FK_E_STATE);
  CHECK_EQ(fk_client_session_stream_end(s, 1, FK_PARAMS), FK_OK);
  CHECK_EQ(fk_client_session_param(s, 1, "LATE", 4, "x", 1), FK_E_STATE);
  CHECK_EQ(fk_client_session_stream(s, 1, FK_STDIN, "hello ", 6), FK_OK);
  CHECK_EQ(fk_client_session_stream(s, 1, FK_STDIN, "world", 5), FK_OK);
  CHECK_EQ(fk_client_session_stream(s, 1, FK_STDIN, "", 0), FK_OK);
  CHECK_EQ(fk_client_session_stream(s, 1, FK_PARAMS, "x", 1), FK_E_INVAL);
  CHECK_EQ(fk_client_session_stream(s, 1, FK_DATA, "x", 1), FK_E_STATE);
  CHECK_EQ(fk_client_session_stream_end(s, 1, FK_STDIN), FK_OK);
  CHECK_EQ(fk_client_session_stream_end(s, 1, FK_STDIN), FK_E_STATE);
  CHECK_EQ(fk_client_session_stream_end(s, 1, FK_STDOUT), FK_E_INVAL);
  CHECK_EQ(fk_client_session_stream(s, 2, FK_STDIN, "x", 1), FK_E_INVAL);
  CHECK_EQ(fk_client_session_param(s, 0, "A", 1, "x", 1), FK_E_INVAL);
  take_output(s, &t, 3);
  /* Small writes to one stream make one record (the open record). */
  CHECK(strcmp((char *)t.list.d, "B1 r1 f1;p1;P1.;i1;I1.;") == 0);
  fk_params pp;
  fk_params_init(&pp, NULL, 0, 0);
  CHECK_EQ(fk_params_feed(&pp, t.params[1].d, t.params[1].len), FK_OK);
  CHECK_EQ(fk_params_finish(&pp), FK_OK);
  CHECK_EQ(fk_params_count(&pp), 2);
  CHECK(strcmp(fk_params_get(&pp, "A", NULL), "alpha") == 0);
  CHECK(strcmp(fk_params_get(&pp, "EMPTY", NULL), "") == 0);
  fk_params_free(&pp);
  CHECK_EQ(t.in[1].len, 11);
  CHECK_MEM(t.in[1].d, "hello world", 11);
  CHECK_EQ(fk_client_session_in_flight(s), 1);
  CHECK(fk_client_session_want_read(s));
  CHECK(fk_client_session_user(s, 1) == (void *)0x1);
  CHECK(fk_client_session_user(s, 2) == NULL);
  sent_free(&t);
  fk_client_session_free(s);
}

/* Ending the last stream a role uses ends the earlier ones too; a Filter
 * sends DATA after STDIN. */
static void test_send_filter(void) {
  fk_client_session *s;
  struct sent t = {0};
  unsigned id;
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_begin(s, FK_FILTER, 0, NULL, &id), FK_OK);
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_STDIN), FK_OK);
  CHECK_EQ(fk_client_session_stream(s, id, FK_DATA, "file", 4), FK_OK);
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_DATA), FK_OK);
  take_output(s, &t, 1);
  CHECK(strcmp((char *)t.list.d, "B1 r3 f0;P1.;I1.;d1;D1.;") == 0);
  CHECK_EQ(t.data[1].len, 4);
  sent_free(&t);
  /* Without KEEP_CONN the application will close: no second request. */
  CHECK(!fk_client_session_reusable(s));
  CHECK(!fk_client_session_can_begin(s));
  CHECK_EQ(fk_client_session_set_max_requests(s, 4), FK_OK);
  CHECK_EQ(fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, NULL, &id),
           FK_E_STATE);
  /* A Responder that ends DATA ends all three. */
  fk_client_session_free(s);
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_begin(s, 7, FK_KEEP_CONN, NULL, &id), FK_OK);
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_DATA), FK_OK);
  take_output(s, &t, 1000);
  CHECK(strcmp((char *)t.list.d, "B1 r7 f1;P1.;I1.;D1.;") == 0);
  sent_free(&t);
  CHECK(fk_client_session_reusable(s));
  CHECK_EQ(fk_client_session_begin(s, 0, 0, NULL, &id), FK_E_INVAL);
  CHECK_EQ(fk_client_session_begin(s, 0x10000, 0, NULL, &id), FK_E_INVAL);
  CHECK_EQ(fk_client_session_begin(s, 1, 2, NULL, &id), FK_E_INVAL);
  fk_client_session_free(s);
}

/* A 70,000-byte value crosses a record boundary; so do pairs around it. */
static void test_send_long_params(void) {
  fk_client_session *s;
  struct sent t = {0};
  unsigned id;
  size_t big = 70000;
  char *value = malloc(big);
  for (size_t i = 0; i < big; i++)
    value[i] = (char)('a' + i % 26);
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, NULL, &id),
           FK_OK);
  CHECK_EQ(fk_client_session_param(s, id, "FIRST", 5, "1", 1), FK_OK);
  CHECK_EQ(fk_client_session_param(s, id, "BIG", 3, value, big), FK_OK);
  for (int i = 0; i < 5000; i++) {
    char n[16];
    snprintf(n, sizeof n, "N%d", i);
    CHECK_EQ(fk_client_session_param(s, id, n, strlen(n), "v", 1), FK_OK);
  }
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_PARAMS), FK_OK);
  take_output(s, &t, 4096);
  CHECK(t.max_content <= FK_MAX_CONTENT);
  CHECK(contains((char *)t.list.d, "B1 r1 f1;p1;p1;"));
  fk_params pp;
  fk_params_init(&pp, NULL, 0, 0);
  CHECK_EQ(fk_params_feed(&pp, t.params[1].d, t.params[1].len), FK_OK);
  CHECK_EQ(fk_params_finish(&pp), FK_OK);
  CHECK_EQ(fk_params_count(&pp), 5002);
  size_t vlen = 0;
  const char *v = fk_params_get(&pp, "BIG", &vlen);
  CHECK_EQ(vlen, big);
  CHECK(v && memcmp(v, value, big) == 0);
  CHECK(strcmp(fk_params_get(&pp, "N4999", NULL), "v") == 0);
  fk_params_free(&pp);
  sent_free(&t);
  fk_client_session_free(s);
  free(value);
}

/* The total cap refuses the pair that would pass it, and queues nothing of
 * it. */
static void test_params_cap(void) {
  fk_client_settings set;
  fk_client_settings_init(&set);
  set.max_params_bytes = 100;
  fk_client_session *s;
  unsigned id;
  CHECK_EQ(fk_client_session_new(&s, &set), FK_OK);
  CHECK_EQ(fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, NULL, &id),
           FK_OK);
  char v[128];
  memset(v, 'v', sizeof v);
  CHECK_EQ(fk_client_session_param(s, id, "A", 1, v, 89), FK_OK); /* 92 */
  CHECK_EQ(fk_client_session_param(s, id, "B", 1, v, 6), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(fk_client_session_param(s, id, "B", 1, v, 5), FK_OK); /* 100 */
  CHECK_EQ(fk_client_session_param(s, id, "", 0, "", 0), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(fk_client_session_param(s, id, "X", 1, v, (size_t)1 << 31),
           FK_E_PAIR_TOO_LONG);
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_PARAMS), FK_OK);
  struct sent t = {0};
  take_output(s, &t, 7);
  CHECK_EQ(t.params[1].len, 100);
  sent_free(&t);
  fk_client_session_free(s);
  set.max_requests_cap = 0;
  CHECK_EQ(fk_client_session_new(&s, &set), FK_E_INVAL);
  CHECK(s == NULL);
}

static void test_get_values_query(void) {
  fk_client_session *s;
  struct sent t = {0};
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK(!fk_client_session_want_read(s));
  CHECK_EQ(fk_client_session_get_values(s, NULL, 0), FK_OK);
  CHECK(fk_client_session_want_read(s));
  const char *names[] = {"FCGI_MPXS_CONNS"};
  CHECK_EQ(fk_client_session_get_values(s, names, 1), FK_OK);
  take_output(s, &t, 5);
  CHECK(strcmp((char *)t.list.d, "V;V;") == 0);
  /* Spec appendix B: 0f 00 "FCGI_MPXS_CONNS", after the first query. */
  size_t first = fk_nv_size(14, 0) + fk_nv_size(13, 0) + fk_nv_size(15, 0);
  CHECK_EQ(t.params[0].len, first + 17);
  CHECK_MEM(t.params[0].d + first,
            "\x0f\x00"
            "FCGI_MPXS_CONNS",
            17);
  sent_free(&t);
  /* A query must fit one record (discrete, spec 3.3). */
  char *huge = malloc(70000);
  memset(huge, 'N', 69999);
  huge[69999] = '\0';
  const char *hn[] = {huge};
  CHECK_EQ(fk_client_session_get_values(s, hn, 1), FK_E_INVAL);
  free(huge);
  fk_client_session_free(s);
}

/* --- Request ids and limits ---------------------------------------------- */

/* Feeds whole bytes to a session and returns the last event type. */
static int feed_all(fk_client_session *s, const struct vec *v) {
  int last = FK_CLIENT_NONE;
  for (size_t off = 0; off < v->len;) {
    fk_client_event ev;
    long n = fk_client_session_recv(s, v->d + off, v->len - off, &ev);
    if (n < 0)
      return (int)n;
    off += (size_t)n;
    if (ev.type == FK_CLIENT_NONE)
      break;
    last = ev.type;
  }
  return last;
}

static void end_of(fk_client_session *s, unsigned id, unsigned proto) {
  struct vec v = {0};
  vend(&v, id, 0, proto);
  CHECK_EQ(feed_all(s, &v), FK_CLIENT_END);
  free(v.d);
}

static void test_ids(void) {
  fk_client_session *s;
  unsigned id;
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_max_requests(s), 1);
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_OK);
  CHECK_EQ(id, 1);
  CHECK(!fk_client_session_can_begin(s));
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_E_BUSY);
  CHECK_EQ(fk_client_session_set_max_requests(s, 0), FK_E_INVAL);
  CHECK_EQ(fk_client_session_set_max_requests(s, 65536), FK_E_INVAL);
  CHECK_EQ(fk_client_session_set_max_requests(s, 10), FK_OK);
  for (unsigned want = 2; want <= 10; want++) {
    CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_OK);
    CHECK_EQ(id, want);
  }
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_E_BUSY);
  CHECK_EQ(fk_client_session_in_flight(s), 10);
  /* The lowest free id is reused first. */
  end_of(s, 7, 0);
  end_of(s, 3, 0);
  end_of(s, 9, 0);
  CHECK_EQ(fk_client_session_in_flight(s), 7);
  unsigned got[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &got[i]), FK_OK);
  CHECK_EQ(got[0], 3);
  CHECK_EQ(got[1], 7);
  CHECK_EQ(got[2], 9);
  /* CANT_MPX_CONN: the application takes one request per connection. */
  end_of(s, 1, FK_CANT_MPX_CONN);
  CHECK_EQ(fk_client_session_max_requests(s), 1);
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_E_BUSY);
  for (unsigned i = 2; i <= 10; i++)
    end_of(s, i, 0);
  CHECK_EQ(fk_client_session_in_flight(s), 0);
  CHECK(!fk_client_session_want_read(s));
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_OK);
  CHECK_EQ(id, 1);
  fk_client_session_free(s);

  /* Ids go as high as the limit allows. */
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_set_max_requests(s, 65535), FK_OK);
  for (unsigned i = 1; i <= 65535; i++) {
    CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_OK);
    if (id != i)
      break;
    const uint8_t *d;
    fk_client_session_consume(s, fk_client_session_pending(s, &d));
  }
  CHECK_EQ(id, 65535);
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_E_BUSY);
  fk_client_session_free(s);
}

/* GET_VALUES_RESULT sets the limit (spec 4.1). */
static void test_values_limit(void) {
  fk_client_settings set;
  fk_client_settings_init(&set);
  set.max_requests_cap = 20;
  struct {
    const char *pairs[4];
    unsigned want;
  } cases[] = {
      {{"FCGI_MPXS_CONNS=1", "FCGI_MAX_REQS=10", NULL}, 10},
      {{"FCGI_MAX_REQS=50", "FCGI_MPXS_CONNS=1", NULL}, 20},
      {{"FCGI_MPXS_CONNS=1", NULL}, 20},
      {{"FCGI_MPXS_CONNS=1", "FCGI_MAX_REQS=99999999999999999999", NULL}, 20},
      {{"FCGI_MPXS_CONNS=1", "FCGI_MAX_REQS=0", NULL}, 1},
      {{"FCGI_MPXS_CONNS=1", "FCGI_MAX_REQS=x", NULL}, 1},
      {{"FCGI_MPXS_CONNS=0", "FCGI_MAX_REQS=10", NULL}, 1},
      {{"FCGI_MPXS_CONNS=yes", NULL}, 1},
      {{"FCGI_MAX_REQS=10", NULL}, 5}, /* no MPXS: unchanged */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fk_client_session *s;
    CHECK_EQ(fk_client_session_new(&s, &set), FK_OK);
    fk_client_session_set_max_requests(s, 5);
    CHECK_EQ(fk_client_session_get_values(s, NULL, 0), FK_OK);
    struct vec v = {0};
    vvalues(&v, 0, cases[i].pairs);
    CHECK_EQ(feed_all(s, &v), FK_CLIENT_VALUES);
    CHECK_EQ(fk_client_session_max_requests(s), cases[i].want);
    CHECK(!fk_client_session_want_read(s));
    free(v.d);
    fk_client_session_free(s);
  }
}

/* --- Responses ----------------------------------------------------------- */

static void setup_one(fk_client_session *s) {
  unsigned id;
  CHECK_EQ(fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, NULL, &id),
           FK_OK);
}

static void setup_three(fk_client_session *s) {
  unsigned id;
  fk_client_session_set_max_requests(s, 3);
  for (uintptr_t i = 1; i <= 3; i++)
    CHECK_EQ(
        fk_client_session_begin(s, FK_RESPONDER, FK_KEEP_CONN, (void *)i, &id),
        FK_OK);
  CHECK_EQ(fk_client_session_get_values(s, NULL, 0), FK_OK);
}

static void test_response_simple(void) {
  struct vec v = {0};
  vstream(&v, FK_STDOUT, 1, "Status: 200 OK\r\n");
  vstream(&v, FK_STDOUT, 1, "Content-Type: text/plain\r\n\r\nhello");
  vstream(&v, FK_STDERR, 1, "warning");
  vstream(&v, FK_STDOUT, 1, " world");
  vstream(&v, FK_STDOUT, 1, "");
  vstream(&v, FK_STDERR, 1, "");
  vend(&v, 1, 7, FK_REQUEST_COMPLETE);
  char *t = scan(setup_one, &v);
  CHECK(strcmp(t, "[1 out]Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                  "hello[1 err]warning[1 out] world[1 out-end][1 err-end]"
                  "[1 end 7/0 user=(nil)][eof FK_OK]") == 0);
  free(t);
  free(v.d);
}

/* Three requests interleaved, answered out of order, a long record, Go's
 * empty GET_VALUES_RESULT after the answer, an unknown management type,
 * and a record of a type no version defines (skipped). */
static void test_response_multiplexed(void) {
  struct vec v = {0};
  char *big = malloc(65535);
  memset(big, 'B', 65535);
  big[65534] = '\0';
  vstream(&v, FK_STDOUT, 2, "two ");
  vstream(&v, FK_STDOUT, 1, "one ");
  const char *vals[] = {"FCGI_MAX_CONNS=10", "FCGI_MPXS_CONNS=1",
                        "FCGI_MAX_REQS=50", NULL};
  vvalues(&v, 0, vals);
  vrec(&v, FK_GET_VALUES_RESULT, 0, NULL, 0, 0);
  vrec(&v, 200, 1, "skip me", 7, 1);
  vstream(&v, FK_STDOUT, 3, big);
  vstream(&v, FK_STDOUT, 2, "");
  vend(&v, 2, 0, FK_REQUEST_COMPLETE);
  uint8_t unk[FK_UNKNOWN_TYPE_SIZE];
  fk_encode_unknown_type(unk, 77);
  vput(&v, unk, sizeof unk);
  vstream(&v, FK_STDERR, 3, "e3");
  vend(&v, 1, 1, FK_OVERLOADED);
  vstream(&v, FK_STDOUT, 3, "");
  vstream(&v, FK_STDERR, 3, "");
  vend(&v, 3, 255, FK_REQUEST_COMPLETE);
  char *t = scan(setup_three, &v);
  CHECK(contains(t, "[2 out]two [1 out]one [values FCGI_MAX_CONNS=10 "
                    "FCGI_MPXS_CONNS=1 FCGI_MAX_REQS=50 max=50][3 out]BBB"));
  CHECK(contains(t, "BBB[2 out-end][2 end 0/0 user=0x2][unknown 77]"
                    "[3 err]e3[1 end 1/2 user=0x1][3 out-end][3 err-end]"
                    "[3 end 255/0 user=0x3][eof FK_OK]"));
  free(t);
  free(v.d);
  free(big);
}

/* Refusals end a request with END_REQUEST alone. */
static void test_response_refused(void) {
  struct vec v = {0};
  vend(&v, 1, 0, FK_UNKNOWN_ROLE);
  vend(&v, 3, 0, FK_CANT_MPX_CONN);
  vend(&v, 2, 0, FK_OVERLOADED);
  vvalues(&v, 0, NULL); /* an application that knows none of the names */
  char *t = scan(setup_three, &v);
  CHECK(strcmp(t, "[1 end 0/3 user=0x1][3 end 0/1 user=0x3]"
                  "[2 end 0/2 user=0x2][values max=1][eof FK_OK]") == 0);
  free(t);
  free(v.d);
}

/* --- Errors -------------------------------------------------------------- */

static char *error_of(setup_fn setup, const struct vec *v) {
  char *t = scan(setup, v);
  return t;
}

static void test_errors(void) {
  struct vec v = {0};
  char *t;
  /* A wrong version: at its first byte. */
  vstream(&v, FK_STDOUT, 1, "ok");
  vput(&v, "\x02\x06\x00\x01\x00\x00\x00\x00", 8);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 out]ok[error FK_E_VERSION at 16: a record with a "
                    "version other than 1]"));
  free(t);
  v.len = 0;
  /* END_REQUEST of 7 bytes. */
  vrec(&v, FK_STDOUT, 1, "abc", 3, 5);
  vrec(&v, FK_END_REQUEST, 1, "\0\0\0\0\0\0\0", 7, 1);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 out]abc[error FK_E_RECORD_LENGTH at 16:"));
  free(t);
  v.len = 0;
  /* STDOUT for an id never begun. */
  vstream(&v, FK_STDOUT, 1, "fine");
  vstream(&v, FK_STDOUT, 5, "stray");
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 out]fine[error FK_E_REQUEST_ID at 16: FCGI_STDOUT "
                    "for request 5, which is not in flight]"));
  free(t);
  v.len = 0;
  /* STDOUT after END_REQUEST. */
  vstream(&v, FK_STDOUT, 1, "");
  vend(&v, 1, 0, 0);
  vstream(&v, FK_STDOUT, 1, "late");
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 end 0/0 user=(nil)][error FK_E_REQUEST_ID at 24: "
                    "FCGI_STDOUT for request 1, after its FCGI_END_REQUEST]"));
  free(t);
  v.len = 0;
  /* A second END_REQUEST. */
  vend(&v, 1, 0, 0);
  vend(&v, 1, 0, 0);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_REQUEST_ID at 16: FCGI_END_REQUEST for "
                    "request 1, after"));
  free(t);
  v.len = 0;
  /* Data after the stream's end, and a second end. */
  vstream(&v, FK_STDERR, 1, "");
  vstream(&v, FK_STDERR, 1, "more");
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 err-end][error FK_E_STREAM_ORDER at 8: FCGI_STDERR "
                    "for request 1 after the end of that stream]"));
  free(t);
  v.len = 0;
  vstream(&v, FK_STDOUT, 1, "");
  vstream(&v, FK_STDOUT, 1, "");
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[1 out-end][error FK_E_STREAM_ORDER at 8"));
  free(t);
  v.len = 0;
  /* Record types only a web server sends. */
  vstream(&v, FK_PARAMS, 1, "x");
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_STREAM_ORDER at 0: FCGI_PARAMS from the "
                    "application (only a web server sends it)]"));
  free(t);
  v.len = 0;
  uint8_t begin[FK_BEGIN_REQUEST_SIZE];
  fk_encode_begin_request(begin, 1, 1, 0);
  vput(&v, begin, sizeof begin);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_STREAM_ORDER at 0: FCGI_BEGIN_REQUEST"));
  free(t);
  v.len = 0;
  vrec(&v, FK_ABORT_REQUEST, 1, NULL, 0, 0);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_STREAM_ORDER at 0: FCGI_ABORT_REQUEST"));
  free(t);
  v.len = 0;
  /* Management records with a request id. */
  const char *ok[] = {"FCGI_MPXS_CONNS=1", NULL};
  vvalues(&v, 1, ok);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_REQUEST_ID at 0: FCGI_GET_VALUES_RESULT "
                    "with request id 1"));
  free(t);
  v.len = 0;
  uint8_t unk[FK_UNKNOWN_TYPE_SIZE];
  fk_encode_unknown_type(unk, 40);
  unk[3] = 1;
  vput(&v, unk, sizeof unk);
  t = error_of(setup_one, &v);
  CHECK(contains(t, "[error FK_E_REQUEST_ID at 0: FCGI_UNKNOWN_TYPE"));
  free(t);
  v.len = 0;
  /* A GET_VALUES_RESULT cut inside a pair, and one over the caps. */
  vrec(&v, FK_GET_VALUES_RESULT, 0,
       "\x05\x01"
       "FCGI",
       6, 2);
  t = error_of(setup_three, &v);
  CHECK(contains(t, "[error FK_E_TRUNCATED_PAIR at 0:"));
  free(t);
  v.len = 0;
  struct vec c = {0};
  for (int i = 0; i < 100; i++)
    vpair(&c, "FCGI_MAX_CONNS", "1");
  vrec(&v, FK_GET_VALUES_RESULT, 0, c.d, c.len, fk_padding_for(c.len));
  free(c.d);
  t = error_of(setup_three, &v);
  CHECK(contains(t, "[error FK_E_TOO_MANY_PARAMS at 0:"));
  free(t);
  free(v.d);
}

/* The application closes: cleanly between requests, or not. */
static void test_eof(void) {
  struct vec v = {0};
  char *t;
  vstream(&v, FK_STDOUT, 1, "part");
  t = scan(setup_one, &v);
  CHECK(contains(t, "[1 out]part[eof FK_E_CLOSED]"));
  free(t);
  v.len = 0;
  vstream(&v, FK_STDOUT, 1, "");
  vend(&v, 1, 0, 0);
  v.len -= 3; /* inside END_REQUEST */
  t = scan(setup_one, &v);
  CHECK(contains(t, "[1 out-end][eof FK_E_CLOSED]"));
  free(t);
  free(v.d);

  fk_client_session *s;
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_eof(s), FK_OK);
  CHECK_EQ(fk_client_session_get_values(s, NULL, 0), FK_OK);
  CHECK_EQ(fk_client_session_eof(s), FK_E_CLOSED);
  CHECK(strstr(fk_client_session_error_reason(s), "FCGI_GET_VALUES") != NULL);
  /* Sticky: every call says so now. */
  unsigned id;
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_E_CLOSED);
  CHECK_EQ(fk_client_session_get_values(s, NULL, 0), FK_E_CLOSED);
  fk_client_event ev;
  CHECK_EQ(fk_client_session_recv(s, (const uint8_t *)"x", 1, &ev),
           FK_E_CLOSED);
  CHECK(!fk_client_session_reusable(s));
  fk_client_session_free(s);
}

static void test_abort(void) {
  fk_client_session *s;
  unsigned id;
  struct sent t = {0};
  CHECK_EQ(fk_client_session_new(&s, NULL), FK_OK);
  CHECK_EQ(fk_client_session_abort(s, 1), FK_E_INVAL);
  CHECK_EQ(fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id), FK_OK);
  CHECK_EQ(fk_client_session_param(s, id, "A", 1, "b", 1), FK_OK);
  CHECK_EQ(fk_client_session_abort(s, id), FK_OK);
  CHECK_EQ(fk_client_session_abort(s, id), FK_OK);
  CHECK_EQ(fk_client_session_param(s, id, "C", 1, "d", 1), FK_E_STATE);
  CHECK_EQ(fk_client_session_stream_end(s, id, FK_STDIN), FK_E_STATE);
  take_output(s, &t, 100);
  CHECK(strcmp((char *)t.list.d, "B1 r1 f1;p1;A1;") == 0);
  sent_free(&t);
  /* The request stays in flight until its END_REQUEST. */
  CHECK_EQ(fk_client_session_in_flight(s), 1);
  end_of(s, 1, 0);
  CHECK_EQ(fk_client_session_in_flight(s), 0);
  CHECK_EQ(fk_client_session_abort(s, 1), FK_E_INVAL);
  fk_client_session_free(s);
}

/* --- Allocation failures ------------------------------------------------- */

static long alloc_budget; /* allocations left before they fail; -1 = all ok */
static long alloc_live;

static void *f_malloc(size_t n, void *ud) {
  (void)ud;
  if (alloc_budget == 0)
    return NULL;
  if (alloc_budget > 0)
    alloc_budget--;
  void *p = malloc(n);
  alloc_live += p != NULL;
  return p;
}

static void *f_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (alloc_budget == 0)
    return NULL;
  if (alloc_budget > 0)
    alloc_budget--;
  void *q = realloc(p, n);
  alloc_live += p == NULL && q != NULL;
  return q;
}

static void f_free(void *p, void *ud) {
  (void)ud;
  alloc_live -= p != NULL;
  free(p);
}

/* One scenario; every call may fail with FK_E_NOMEM, nothing else. */
static void scenario(const fk_allocator *a) {
  fk_client_settings set;
  fk_client_settings_init(&set);
  set.allocator = a;
  fk_client_session *s;
  if (fk_client_session_new(&s, &set) != FK_OK)
    return;
  fk_client_session_set_max_requests(s, 8);
  unsigned id;
  for (int i = 0; i < 6; i++) {
    int rc = fk_client_session_begin(s, 1, FK_KEEP_CONN, NULL, &id);
    CHECK(rc == FK_OK || rc == FK_E_NOMEM);
    if (rc != FK_OK)
      continue;
    rc = fk_client_session_param(s, id, "NAME", 4, "value", 5);
    CHECK(rc == FK_OK || rc == FK_E_NOMEM);
    rc = fk_client_session_stream(s, id, FK_STDIN, "x", 1);
    CHECK(rc == FK_OK || rc == FK_E_STATE || rc == FK_E_NOMEM);
  }
  int rc = fk_client_session_get_values(s, NULL, 0);
  CHECK(rc == FK_OK || rc == FK_E_NOMEM);
  struct vec v = {0};
  const char *vals[] = {"FCGI_MPXS_CONNS=1", NULL};
  vvalues(&v, 0, vals);
  rc = feed_all(s, &v);
  CHECK(rc >= 0 || rc == FK_E_NOMEM);
  free(v.d);
  fk_client_session_free(s);
}

static void test_failmalloc(void) {
  fk_allocator a = {f_malloc, f_realloc, f_free, NULL};
  for (long k = 0; k < 40; k++) {
    alloc_budget = k;
    alloc_live = 0;
    scenario(&a);
    CHECK_EQ(alloc_live, 0);
  }
  alloc_budget = -1;
}

int main(void) {
  guard_init();
  RUN(test_send_request);
  RUN(test_send_filter);
  RUN(test_send_long_params);
  RUN(test_params_cap);
  RUN(test_get_values_query);
  RUN(test_ids);
  RUN(test_values_limit);
  RUN(test_response_simple);
  RUN(test_response_multiplexed);
  RUN(test_response_refused);
  RUN(test_errors);
  RUN(test_eof);
  RUN(test_abort);
  RUN(test_failmalloc);
  TEST_EXIT();
}
