/*
 * Unit tests of the protocol core (lib/core): record framing, name-value
 * pairs, the params set and the incremental parser.
 *
 * Every parser vector goes through scan(): fed whole, one byte at a time and
 * split in two at every position, each fragment copied against a PROT_NONE
 * page so that reading past it crashes; the normalised event lists must all
 * be equal.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgikit/protocol.h"
#include "test.h"

/* --- Building inputs ----------------------------------------------------- */

struct vec {
  uint8_t *d;
  size_t len, cap;
};

static void vput(struct vec *v, const void *p, size_t n) {
  if (v->len + n > v->cap) {
    v->cap = (v->len + n) * 2 + 64;
    v->d = realloc(v->d, v->cap);
    if (!v->d)
      abort();
  }
  if (n)
    memcpy(v->d + v->len, p, n);
  v->len += n;
}

static void vbyte(struct vec *v, unsigned b) {
  uint8_t c = (uint8_t)b;

  vput(v, &c, 1);
}

/* A record with any content and padding; padding bytes are not zero, since
 * receivers must discard whatever is there. */
static void vrec(struct vec *v, unsigned type, unsigned id, const void *content,
                 size_t clen, size_t pad) {
  uint8_t h[FK_HEADER_LEN];
  size_t i;

  fk_header_encode(h, type, id, clen, pad);
  vput(v, h, sizeof h);
  vput(v, content, clen);
  for (i = 0; i < pad; i++)
    vbyte(v, 0xa5);
}

static void vpair(struct vec *v, const char *name, const char *value) {
  size_t size = fk_nv_size(strlen(name), strlen(value));
  uint8_t *tmp = malloc(size);
  size_t n = fk_nv_encode(tmp, name, strlen(name), value, strlen(value));

  CHECK(n > 0 && n == size);
  vput(v, tmp, n);
  free(tmp);
}

static void vfree(struct vec *v) {
  free(v->d);
  memset(v, 0, sizeof *v);
}

/* --- Event logs ---------------------------------------------------------- */

struct ev_rec {
  int type;
  unsigned record_type, request_id, role, flags, protocol_status;
  unsigned unknown_type;
  uint32_t app_status;
  uint8_t *data;
  size_t len, cap;
};

struct ev_log {
  struct ev_rec *v;
  size_t n, cap;
  int error;
  uint64_t error_offset, offset;
  int idle;
};

static void log_free(struct ev_log *l) {
  size_t i;

  for (i = 0; i < l->n; i++)
    free(l->v[i].data);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static struct ev_rec *log_push(struct ev_log *l, int type, unsigned rtype,
                               unsigned id) {
  struct ev_rec *e;

  if (l->n == l->cap) {
    l->cap = l->cap * 2 + 16;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v)
      abort();
  }
  e = &l->v[l->n++];
  memset(e, 0, sizeof *e);
  e->type = type;
  e->record_type = rtype;
  e->request_id = id;
  return e;
}

/* Data of STREAM or VALUES events, merged with the previous entry when it
 * continues the same (event, record type, id): where records or input
 * fragments are cut carries no meaning (spec 3.3). */
static void log_data(struct ev_log *l, int type, unsigned rtype, unsigned id,
                     const void *d, size_t n) {
  struct ev_rec *e = l->n ? &l->v[l->n - 1] : NULL;

  if (!e || e->type != type || e->record_type != rtype || e->request_id != id)
    e = log_push(l, type, rtype, id);
  if (e->len + n > e->cap) {
    e->cap = (e->len + n) * 2;
    e->data = realloc(e->data, e->cap);
    if (!e->data)
      abort();
  }
  memcpy(e->data + e->len, d, n);
  e->len += n;
}

static void log_event(struct ev_log *l, const fk_event *ev) {
  struct ev_rec *e;

  if (ev->type == FK_EV_STREAM || ev->type == FK_EV_VALUES) {
    log_data(l, ev->type, ev->record_type, ev->request_id, ev->data, ev->len);
    return;
  }
  e = log_push(l, ev->type, ev->record_type, ev->request_id);
  e->role = ev->role;
  e->flags = ev->flags;
  e->app_status = ev->app_status;
  e->protocol_status = ev->protocol_status;
  e->unknown_type = ev->unknown_type;
}

static int log_eq(const struct ev_log *a, const struct ev_log *b,
                  const char *what, size_t where) {
  size_t i;

  if (a->n != b->n || a->error != b->error ||
      a->error_offset != b->error_offset || a->offset != b->offset ||
      a->idle != b->idle) {
    fprintf(stderr,
            "%s %zu: %zu/%zu events, error %d/%d at %llu/%llu, "
            "offset %llu/%llu, idle %d/%d\n",
            what, where, a->n, b->n, a->error, b->error,
            (unsigned long long)a->error_offset,
            (unsigned long long)b->error_offset, (unsigned long long)a->offset,
            (unsigned long long)b->offset, a->idle, b->idle);
    return 0;
  }
  for (i = 0; i < a->n; i++) {
    const struct ev_rec *x = &a->v[i], *y = &b->v[i];

    if (x->type != y->type || x->record_type != y->record_type ||
        x->request_id != y->request_id || x->role != y->role ||
        x->flags != y->flags || x->app_status != y->app_status ||
        x->protocol_status != y->protocol_status ||
        x->unknown_type != y->unknown_type || x->len != y->len ||
        (x->len && memcmp(x->data, y->data, x->len) != 0)) {
      fprintf(stderr,
              "%s %zu: event %zu differs (type %d/%d, record %u/%u, "
              "id %u/%u, len %zu/%zu)\n",
              what, where, i, x->type, y->type, x->record_type, y->record_type,
              x->request_id, y->request_id, x->len, y->len);
      return 0;
    }
  }
  return 1;
}

/* --- Feeding the parser -------------------------------------------------- */

/* Bytes just below a PROT_NONE page: an input copied there ends at the page,
 * so reading one byte past it faults (picohttpparser's trick). */
static uint8_t *guard_mem;
static size_t guard_len;

static void guard_init(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *m;

  guard_len = 512 * 1024;
  m = mmap(NULL, guard_len + page, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    abort();
  guard_mem = m;
  if (mprotect(guard_mem + guard_len, page, PROT_NONE) != 0)
    abort();
}

static const uint8_t *guarded(const uint8_t *src, size_t n) {
  uint8_t *dst;

  if (n > guard_len)
    return src;
  dst = guard_mem + guard_len - n;
  if (n)
    memmove(dst, src, n);
  return dst;
}

/* Feeds one fragment, calling again after every event until the parser
 * wants more input; checks the feed contract on every call. */
static void feed_part(fk_parser *p, struct ev_log *l, const uint8_t *src,
                      size_t n) {
  const uint8_t *in = guarded(src, n);
  size_t left = n, rounds = 0;
  fk_event ev;

  for (;;) {
    long r = fk_parser_feed(p, in, left, &ev);

    if (r < 0) {
      CHECK_EQ(r, fk_parser_error(p));
      CHECK_EQ(ev.type, FK_EV_NONE);
      return;
    }
    CHECK((size_t)r <= left);
    if ((size_t)r > left)
      return;
    if (ev.type == FK_EV_STREAM || ev.type == FK_EV_VALUES) {
      CHECK(ev.len > 0);
      CHECK(ev.data >= in && ev.data + ev.len <= in + r);
    }
    if (ev.type == FK_EV_NONE) {
      CHECK_EQ(r, left); /* NONE means every byte was consumed */
      return;
    }
    log_event(l, &ev);
    in += r;
    left -= (size_t)r;
    if (++rounds > 2 * n + 16) {
      CHECK(!"parser keeps reporting events");
      return;
    }
  }
}

static void log_finish(const fk_parser *p, struct ev_log *l) {
  l->error = fk_parser_error(p);
  l->error_offset = fk_parser_error_offset(p);
  l->offset = p->offset;
  l->idle = fk_parser_idle(p);
}

static void parse_split(const uint8_t *buf, size_t n, size_t k,
                        struct ev_log *l) {
  fk_parser p;

  fk_parser_init(&p);
  feed_part(&p, l, buf, k);
  feed_part(&p, l, buf + k, n - k);
  log_finish(&p, l);
}

static void parse_bytewise(const uint8_t *buf, size_t n, struct ev_log *l) {
  fk_parser p;
  size_t i;

  fk_parser_init(&p);
  for (i = 0; i < n; i++)
    feed_part(&p, l, buf + i, 1);
  log_finish(&p, l);
}

/* Parses buf whole into out, then byte by byte and split at every position
 * (at a stride for long inputs), requiring the same events every time. */
static void scan(const uint8_t *buf, size_t n, struct ev_log *out) {
  struct ev_log l = {0};
  size_t k, step = n <= 4096 ? 1 : 997;

  parse_split(buf, n, n, out);
  parse_bytewise(buf, n, &l);
  CHECK(log_eq(out, &l, "bytewise", 0));
  log_free(&l);
  for (k = 0; k <= n; k += (k < 16 || n - k < 16) ? 1 : step) {
    parse_split(buf, n, k, &l);
    if (!log_eq(out, &l, "split at", k)) {
      CHECK(!"split result differs");
      log_free(&l);
      break;
    }
    log_free(&l);
  }
}

static struct ev_rec *expect(struct ev_log *l, int type, unsigned rtype,
                             unsigned id) {
  return log_push(l, type, rtype, id);
}

static void expect_data(struct ev_log *l, int type, unsigned rtype, unsigned id,
                        const void *d, size_t n) {
  log_data(l, type, rtype, id, d, n);
}

/* The whole-input result must equal the expected list; a clean end. */
static void check_scan(const struct vec *v, struct ev_log *want) {
  struct ev_log got = {0};

  want->offset = v->len;
  want->idle = 1;
  scan(v->d, v->len, &got);
  CHECK(log_eq(want, &got, "expected", 0));
  log_free(&got);
  log_free(want);
}

/* --- Errors and names ---------------------------------------------------- */

static void test_errors(void) {
#define T_ERR(name, value, msg)                                                \
  CHECK(strcmp(fk_strerror(value), msg) == 0);                                 \
  CHECK(strcmp(fk_errname(value), #name) == 0);                                \
  CHECK_EQ(fk_error_is_fatal(value), (value) <= -10 && (value) >= -15);
  FK_ERRNO_MAP(T_ERR)
#undef T_ERR
  CHECK(strcmp(fk_strerror(-9999), "unknown error") == 0);
  CHECK(strcmp(fk_errname(-9999), "FK_E_UNKNOWN") == 0);
  CHECK(strcmp(fk_strerror(1), "unknown error") == 0);
  CHECK(strcmp(fk_errname(-4), "FK_E_UNKNOWN") == 0);
  CHECK(!fk_error_is_fatal(-9999));
  CHECK(fk_error_is_fatal(FK_E_VERSION));
  CHECK(fk_error_is_fatal(FK_E_TRUNCATED_PAIR));
  CHECK(!fk_error_is_fatal(FK_E_PARAMS_TOO_LARGE));
  CHECK(!fk_error_is_fatal(FK_OK));
}

static void test_names(void) {
  static const char *const types[] = {"UNKNOWN",
                                      "FCGI_BEGIN_REQUEST",
                                      "FCGI_ABORT_REQUEST",
                                      "FCGI_END_REQUEST",
                                      "FCGI_PARAMS",
                                      "FCGI_STDIN",
                                      "FCGI_STDOUT",
                                      "FCGI_STDERR",
                                      "FCGI_DATA",
                                      "FCGI_GET_VALUES",
                                      "FCGI_GET_VALUES_RESULT",
                                      "FCGI_UNKNOWN_TYPE",
                                      "UNKNOWN"};
  unsigned i;

  for (i = 0; i < 13; i++)
    CHECK(strcmp(fk_type_name(i), types[i]) == 0);
  CHECK(strcmp(fk_type_name(255), "UNKNOWN") == 0);
  CHECK(strcmp(fk_type_name(~0u), "UNKNOWN") == 0);
  CHECK(strcmp(fk_role_name(FK_RESPONDER), "RESPONDER") == 0);
  CHECK(strcmp(fk_role_name(FK_AUTHORIZER), "AUTHORIZER") == 0);
  CHECK(strcmp(fk_role_name(FK_FILTER), "FILTER") == 0);
  CHECK(strcmp(fk_role_name(0), "UNKNOWN") == 0);
  CHECK(strcmp(fk_role_name(4), "UNKNOWN") == 0);
  CHECK(strcmp(fk_protocol_status_name(FK_REQUEST_COMPLETE),
               "FCGI_REQUEST_COMPLETE") == 0);
  CHECK(strcmp(fk_protocol_status_name(FK_CANT_MPX_CONN),
               "FCGI_CANT_MPX_CONN") == 0);
  CHECK(strcmp(fk_protocol_status_name(FK_OVERLOADED), "FCGI_OVERLOADED") == 0);
  CHECK(strcmp(fk_protocol_status_name(FK_UNKNOWN_ROLE), "FCGI_UNKNOWN_ROLE") ==
        0);
  CHECK(strcmp(fk_protocol_status_name(4), "UNKNOWN") == 0);
}

/* --- Record framing ------------------------------------------------------ */

static void test_header(void) {
  static const uint8_t want[8] = {1, 6, 0x12, 0x34, 0xff, 0xfe, 0xff, 0};
  uint8_t h[8];
  fk_header d;

  fk_header_encode(h, FK_STDOUT, 0x1234, 0xfffe, 255);
  CHECK_MEM(h, want, 8);
  CHECK_EQ(fk_header_decode(&d, h), FK_OK);
  CHECK_EQ(d.version, 1);
  CHECK_EQ(d.type, FK_STDOUT);
  CHECK_EQ(d.request_id, 0x1234);
  CHECK_EQ(d.content_length, 0xfffe);
  CHECK_EQ(d.padding_length, 255);
  /* Out-of-range values are truncated to their low bits. */
  fk_header_encode(h, 0x104, 0x10002, 0x12345, 0x107);
  CHECK_EQ(h[1], 4);
  CHECK_EQ(h[2] << 8 | h[3], 2);
  CHECK_EQ(h[4] << 8 | h[5], 0x2345);
  CHECK_EQ(h[6], 7);
  /* Reserved byte ignored; wrong version reported with h filled in. */
  h[7] = 0x99;
  CHECK_EQ(fk_header_decode(&d, h), FK_OK);
  h[0] = 2;
  CHECK_EQ(fk_header_decode(&d, h), FK_E_VERSION);
  CHECK_EQ(d.version, 2);
  CHECK_EQ(d.content_length, 0x2345);
}

static void test_padding_for(void) {
  size_t n;

  for (n = 0; n < 64; n++) {
    CHECK_EQ((n + fk_padding_for(n)) % 8, 0);
    CHECK(fk_padding_for(n) < 8);
  }
  CHECK_EQ(fk_padding_for(0), 0);
  CHECK_EQ(fk_padding_for(1), 7);
  CHECK_EQ(fk_padding_for(17), 7);
  CHECK_EQ(fk_padding_for(18), 6);
  CHECK_EQ(fk_padding_for(65535), 1);
}

static void test_fixed_records(void) {
  static const uint8_t begin[16] = {1, 1, 0, 7, 0, 8, 0, 0,
                                    0, 3, 1, 0, 0, 0, 0, 0};
  static const uint8_t end[16] = {1,    3,    1,    2,    0, 8, 0, 0,
                                  0xde, 0xad, 0xbe, 0xef, 2, 0, 0, 0};
  static const uint8_t abort_[8] = {1, 2, 0xff, 0xff, 0, 0, 0, 0};
  static const uint8_t unknown[16] = {1,   11, 0, 0, 0, 8, 0, 0,
                                      200, 0,  0, 0, 0, 0, 0, 0};
  static const uint8_t stdout_end[8] = {1, 6, 0, 9, 0, 0, 0, 0};
  uint8_t out[16];

  memset(out, 0xee, sizeof out);
  CHECK_EQ(fk_encode_begin_request(out, 7, FK_FILTER, FK_KEEP_CONN), 16);
  CHECK_MEM(out, begin, 16);
  memset(out, 0xee, sizeof out);
  CHECK_EQ(fk_encode_end_request(out, 0x102, 0xdeadbeef, FK_OVERLOADED), 16);
  CHECK_MEM(out, end, 16);
  CHECK_EQ(fk_encode_abort_request(out, 0xffff), 8);
  CHECK_MEM(out, abort_, 8);
  memset(out, 0xee, sizeof out);
  CHECK_EQ(fk_encode_unknown_type(out, 200), 16);
  CHECK_MEM(out, unknown, 16);
  CHECK_EQ(fk_encode_stream_end(out, FK_STDOUT, 9), 8);
  CHECK_MEM(out, stdout_end, 8);
}

static void test_stream_size(void) {
  CHECK_EQ(fk_stream_size(0), 0);
  CHECK_EQ(fk_stream_size(1), 16);
  CHECK_EQ(fk_stream_size(8), 16);
  CHECK_EQ(fk_stream_size(9), 24);
  CHECK_EQ(fk_stream_size(65535), 65544);
  CHECK_EQ(fk_stream_size(65536), 65544 + 16);
  CHECK_EQ(fk_stream_size(200000), 3 * 65544 + 8 + 3395 + 5);
  CHECK(fk_stream_size(SIZE_MAX) == SIZE_MAX);
  CHECK(fk_stream_size(SIZE_MAX - 65535) == SIZE_MAX);
}

/* Output records are padded to 8 bytes (spec 3.3 recommendation). */
static void test_output_padding(void) {
  uint8_t data[300], out[400];
  size_t n, i;

  for (i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 7);
  for (n = 1; n <= sizeof data; n++) {
    size_t w = fk_encode_stream(out, sizeof out, FK_STDERR, 3, data, n);

    CHECK_EQ(w, fk_stream_size(n));
    CHECK_EQ(w % 8, 0);
    CHECK_EQ(w, 8 + n + fk_padding_for(n));
    CHECK_EQ(out[6], fk_padding_for(n));
    CHECK_EQ(out[4] << 8 | out[5], n);
    CHECK_MEM(out + 8, data, n);
    for (i = 8 + n; i < w; i++)
      CHECK_EQ(out[i], 0);
  }
  CHECK_EQ(fk_encode_stream(out, sizeof out, FK_STDOUT, 1, data, 0), 0);
}

static void test_stream_split(void) {
  size_t n = 200000, cap = fk_stream_size(n), pos = 0, i, records = 0;
  uint8_t *data = malloc(n), *out = malloc(cap);
  struct ev_log want = {0};
  struct vec v = {0};

  for (i = 0; i < n; i++)
    data[i] = (uint8_t)(i * 31 + (i >> 9));
  CHECK_EQ(fk_encode_stream(out, cap, FK_STDOUT, 1, data, n), cap);
  while (pos < cap) {
    size_t clen = (size_t)out[pos + 4] << 8 | out[pos + 5];

    CHECK_EQ(out[pos], 1);
    CHECK_EQ(out[pos + 1], FK_STDOUT);
    CHECK_EQ(clen, records < 3 ? 65535 : 3395);
    CHECK_EQ(out[pos + 6], fk_padding_for(clen));
    pos += 8 + clen + out[pos + 6];
    CHECK_EQ(pos % 8, 0);
    records++;
  }
  CHECK_EQ(records, 4);
  CHECK_EQ(pos, cap);
  /* Parsed back: one stream of the same bytes. */
  vput(&v, out, cap);
  vrec(&v, FK_STDOUT, 1, NULL, 0, 0);
  expect_data(&want, FK_EV_STREAM, FK_STDOUT, 1, data, n);
  expect(&want, FK_EV_STREAM_END, FK_STDOUT, 1);
  check_scan(&v, &want);
  vfree(&v);
  free(data);
  free(out);
}

static void test_stream_cap(void) {
  uint8_t data[100] = {1, 2, 3}, out[200];
  size_t need = fk_stream_size(sizeof data), i;

  memset(out, 0xee, sizeof out);
  CHECK_EQ(fk_encode_stream(out, need - 1, FK_STDIN, 1, data, sizeof data), 0);
  CHECK_EQ(fk_encode_stream(out, 0, FK_STDIN, 1, data, sizeof data), 0);
  for (i = 0; i < sizeof out; i++)
    CHECK_EQ(out[i], 0xee);
  CHECK_EQ(fk_encode_stream(out, need, FK_STDIN, 1, data, sizeof data), need);
  CHECK_EQ(out[need], 0xee);
}

/* --- The parser ---------------------------------------------------------- */

/* Each of the 11 record types encoded, then parsed back. */
static void test_roundtrip_all_types(void) {
  struct vec v = {0}, pairs = {0}, result = {0};
  struct ev_log want = {0};
  struct ev_rec *e;
  uint8_t rec[FK_BEGIN_REQUEST_SIZE], out[256];
  size_t n;

  fk_encode_begin_request(rec, 1, FK_FILTER, FK_KEEP_CONN | 0x80);
  vput(&v, rec, sizeof rec);
  e = expect(&want, FK_EV_BEGIN, FK_BEGIN_REQUEST, 1);
  e->role = FK_FILTER;
  e->flags = FK_KEEP_CONN | 0x80;

  vpair(&pairs, "REQUEST_METHOD", "POST");
  vpair(&pairs, "CONTENT_LENGTH", "5");
  n = fk_encode_stream(out, sizeof out, FK_PARAMS, 1, pairs.d, pairs.len);
  vput(&v, out, n);
  vput(&v, rec, fk_encode_stream_end(rec, FK_PARAMS, 1));
  expect_data(&want, FK_EV_STREAM, FK_PARAMS, 1, pairs.d, pairs.len);
  expect(&want, FK_EV_STREAM_END, FK_PARAMS, 1);

  vput(&v, out, fk_encode_stream(out, sizeof out, FK_STDIN, 1, "hello", 5));
  vput(&v, rec, fk_encode_stream_end(rec, FK_STDIN, 1));
  expect_data(&want, FK_EV_STREAM, FK_STDIN, 1, "hello", 5);
  expect(&want, FK_EV_STREAM_END, FK_STDIN, 1);

  vput(&v, out, fk_encode_stream(out, sizeof out, FK_DATA, 1, "file", 4));
  vput(&v, rec, fk_encode_stream_end(rec, FK_DATA, 1));
  expect_data(&want, FK_EV_STREAM, FK_DATA, 1, "file", 4);
  expect(&want, FK_EV_STREAM_END, FK_DATA, 1);

  vput(&v, rec, fk_encode_abort_request(rec, 1));
  expect(&want, FK_EV_ABORT, FK_ABORT_REQUEST, 1);

  vput(&v, out, fk_encode_stream(out, sizeof out, FK_STDOUT, 1, "out", 3));
  vput(&v, out, fk_encode_stream(out, sizeof out, FK_STDERR, 1, "err", 3));
  vput(&v, rec, fk_encode_stream_end(rec, FK_STDOUT, 1));
  vput(&v, rec, fk_encode_stream_end(rec, FK_STDERR, 1));
  expect_data(&want, FK_EV_STREAM, FK_STDOUT, 1, "out", 3);
  expect_data(&want, FK_EV_STREAM, FK_STDERR, 1, "err", 3);
  expect(&want, FK_EV_STREAM_END, FK_STDOUT, 1);
  expect(&want, FK_EV_STREAM_END, FK_STDERR, 1);

  vput(&v, rec, fk_encode_end_request(rec, 1, 938, FK_REQUEST_COMPLETE));
  e = expect(&want, FK_EV_END, FK_END_REQUEST, 1);
  e->app_status = 938;
  e->protocol_status = FK_REQUEST_COMPLETE;

  vfree(&pairs);
  vpair(&pairs, "FCGI_MAX_CONNS", "");
  vpair(&pairs, "FCGI_MPXS_CONNS", "");
  vrec(&v, FK_GET_VALUES, 0, pairs.d, pairs.len, fk_padding_for(pairs.len));
  expect_data(&want, FK_EV_VALUES, FK_GET_VALUES, 0, pairs.d, pairs.len);
  expect(&want, FK_EV_VALUES_END, FK_GET_VALUES, 0);

  vpair(&result, "FCGI_MAX_CONNS", "10");
  vrec(&v, FK_GET_VALUES_RESULT, 0, result.d, result.len,
       fk_padding_for(result.len));
  expect_data(&want, FK_EV_VALUES, FK_GET_VALUES_RESULT, 0, result.d,
              result.len);
  expect(&want, FK_EV_VALUES_END, FK_GET_VALUES_RESULT, 0);

  vput(&v, rec, fk_encode_unknown_type(rec, 77));
  e = expect(&want, FK_EV_UNKNOWN_TYPE, FK_UNKNOWN_TYPE, 0);
  e->unknown_type = 77;

  check_scan(&v, &want);
  vfree(&v);
  vfree(&pairs);
  vfree(&result);
}

/* Section 9 of the protocol facts (spec appendix B), byte for byte. */
static void test_section9_examples(void) {
  static const uint8_t begin[16] = {0x01, 0x01, 0x00, 0x01, 0x00, 0x08,
                                    0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00};
  static const uint8_t params_end[8] = {1, 4, 0, 1, 0, 0, 0, 0};
  static const uint8_t stdin_end[8] = {1, 5, 0, 1, 0, 0, 0, 0};
  static const uint8_t stdout_end[8] = {1, 6, 0, 1, 0, 0, 0, 0};
  static const uint8_t end[16] = {
      0x01, 0x03, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t probe[32] = "\x01\x09\x00\x00\x00\x11\x07\x00"
                                   "\x0f\x00"
                                   "FCGI_MPXS_CONNS"
                                   "\0\0\0\0\0\0\0";
  static const uint8_t reply[32] = "\x01\x0a\x00\x00\x00\x12\x06\x00"
                                   "\x0f\x01"
                                   "FCGI_MPXS_CONNS"
                                   "0"
                                   "\0\0\0\0\0\0";
  uint8_t out[64];
  struct vec v = {0};
  struct ev_log want = {0};
  struct ev_rec *e;
  fk_params ps;
  size_t n;

  CHECK_EQ(fk_encode_begin_request(out, 1, FK_RESPONDER, 0), 16);
  CHECK_MEM(out, begin, 16);
  CHECK_EQ(fk_encode_stream_end(out, FK_PARAMS, 1), 8);
  CHECK_MEM(out, params_end, 8);
  CHECK_EQ(fk_encode_stream_end(out, FK_STDIN, 1), 8);
  CHECK_MEM(out, stdin_end, 8);
  CHECK_EQ(fk_encode_stream_end(out, FK_STDOUT, 1), 8);
  CHECK_MEM(out, stdout_end, 8);
  CHECK_EQ(fk_encode_end_request(out, 1, 0, FK_REQUEST_COMPLETE), 16);
  CHECK_MEM(out, end, 16);

  /* The GET_VALUES probe: 17 content bytes padded to 24. */
  n = fk_nv_encode(out + 8, "FCGI_MPXS_CONNS", 15, "", 0);
  CHECK_EQ(n, 17);
  fk_header_encode(out, FK_GET_VALUES, 0, n, fk_padding_for(n));
  memset(out + 8 + n, 0, fk_padding_for(n));
  CHECK_MEM(out, probe, 32);
  /* The reply: 18 content bytes padded to 24. */
  n = fk_nv_encode(out + 8, "FCGI_MPXS_CONNS", 15, "0", 1);
  CHECK_EQ(n, 18);
  fk_header_encode(out, FK_GET_VALUES_RESULT, 0, n, fk_padding_for(n));
  memset(out + 8 + n, 0, fk_padding_for(n));
  CHECK_MEM(out, reply, 32);

  /* The whole minimal exchange parses as expected. */
  vput(&v, begin, 16);
  vput(&v, params_end, 8);
  vput(&v, stdin_end, 8);
  vput(&v, probe, 32);
  vput(&v, stdout_end, 8);
  vput(&v, end, 16);
  e = expect(&want, FK_EV_BEGIN, FK_BEGIN_REQUEST, 1);
  e->role = FK_RESPONDER;
  expect(&want, FK_EV_STREAM_END, FK_PARAMS, 1);
  expect(&want, FK_EV_STREAM_END, FK_STDIN, 1);
  expect_data(&want, FK_EV_VALUES, FK_GET_VALUES, 0, probe + 8, 17);
  expect(&want, FK_EV_VALUES_END, FK_GET_VALUES, 0);
  expect(&want, FK_EV_STREAM_END, FK_STDOUT, 1);
  expect(&want, FK_EV_END, FK_END_REQUEST, 1);
  check_scan(&v, &want);
  vfree(&v);

  /* The probe's content is one name with an empty value. */
  fk_params_init(&ps, NULL, 1024, 16);
  CHECK_EQ(fk_params_feed(&ps, probe + 8, 17), FK_OK);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  CHECK_EQ(fk_params_count(&ps), 1);
  CHECK(fk_params_get(&ps, "FCGI_MPXS_CONNS", &n) != NULL);
  CHECK_EQ(n, 0);
  fk_params_free(&ps);
}

/* Receivers must accept and discard any padding 0..255 (spec 3.3). */
static void test_input_padding(void) {
  unsigned pad;

  for (pad = 0; pad <= 255; pad++) {
    static const uint8_t begin_body[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    static const uint8_t end_body[8] = {0, 0, 0, 5, 3, 0, 0, 0};
    struct vec v = {0};
    struct ev_log want = {0};
    struct ev_rec *e;

    vrec(&v, FK_BEGIN_REQUEST, 1, begin_body, 8, pad);
    vrec(&v, FK_STDIN, 1, "abc", 3, pad);
    vrec(&v, FK_STDIN, 1, NULL, 0, pad);
    vrec(&v, FK_GET_VALUES, 0, "\x01\x00X", 3, pad);
    vrec(&v, FK_END_REQUEST, 1, end_body, 8, pad);
    e = expect(&want, FK_EV_BEGIN, FK_BEGIN_REQUEST, 1);
    e->role = FK_RESPONDER;
    expect_data(&want, FK_EV_STREAM, FK_STDIN, 1, "abc", 3);
    expect(&want, FK_EV_STREAM_END, FK_STDIN, 1);
    expect_data(&want, FK_EV_VALUES, FK_GET_VALUES, 0, "\x01\x00X", 3);
    expect(&want, FK_EV_VALUES_END, FK_GET_VALUES, 0);
    e = expect(&want, FK_EV_END, FK_END_REQUEST, 1);
    e->app_status = 5;
    e->protocol_status = FK_UNKNOWN_ROLE;
    check_scan(&v, &want);
    vfree(&v);
  }
}

/* Two records of the same stream merge in the log, so check the parser
 * reports one STREAM event per record when fed whole. */
static void test_stream_events(void) {
  struct vec v = {0};
  fk_parser p;
  fk_event ev;
  long r;
  size_t off = 0;

  vrec(&v, FK_STDIN, 1, "ab", 2, 6);
  vrec(&v, FK_STDIN, 1, "cde", 3, 0);
  fk_parser_init(&p);
  r = fk_parser_feed(&p, v.d, v.len, &ev);
  CHECK_EQ(r, 10);
  CHECK_EQ(ev.type, FK_EV_STREAM);
  CHECK(ev.data == v.d + 8);
  CHECK_EQ(ev.len, 2);
  off += (size_t)r;
  r = fk_parser_feed(&p, v.d + off, v.len - off, &ev);
  CHECK_EQ(r, 6 + 8 + 3);
  CHECK_EQ(ev.type, FK_EV_STREAM);
  CHECK(ev.data == v.d + 24);
  CHECK_EQ(ev.len, 3);
  off += (size_t)r;
  CHECK_EQ(off, v.len);
  r = fk_parser_feed(&p, v.d + off, 0, &ev);
  CHECK_EQ(r, 0);
  CHECK_EQ(ev.type, FK_EV_NONE);
  CHECK(fk_parser_idle(&p));
  vfree(&v);
}

/* Events come as soon as the content is complete, before the padding: a
 * peer's last record is answered without waiting for more input. */
static void test_events_before_padding(void) {
  static const struct {
    unsigned type, id;
    const char *content;
    size_t clen;
    int events[2];
  } cases[] = {
      {FK_BEGIN_REQUEST, 1, "\0\1\1\0\0\0\0\0", 8, {FK_EV_BEGIN, 0}},
      {FK_END_REQUEST, 1, "\0\0\0\0\0\0\0\0", 8, {FK_EV_END, 0}},
      {FK_UNKNOWN_TYPE, 0, "\x63\0\0\0\0\0\0\0", 8, {FK_EV_UNKNOWN_TYPE, 0}},
      {FK_ABORT_REQUEST, 1, "", 0, {FK_EV_ABORT, 0}},
      {FK_ABORT_REQUEST, 1, "xyz", 3, {FK_EV_ABORT, 0}},
      {FK_PARAMS, 1, "", 0, {FK_EV_STREAM_END, 0}},
      {FK_STDIN, 1, "in", 2, {FK_EV_STREAM, 0}},
      {FK_GET_VALUES, 0, "", 0, {FK_EV_VALUES_END, 0}},
      {FK_GET_VALUES,
       0,
       "\016\000FCGI_MAX_CONNS",
       16,
       {FK_EV_VALUES, FK_EV_VALUES_END}},
      {0, 1, "abc", 3, {FK_EV_UNKNOWN_RECORD, 0}},
      {200, 0, "", 0, {FK_EV_UNKNOWN_RECORD, 0}},
  };
  size_t i;

  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vec v = {0};
    fk_parser p;
    fk_event ev;
    size_t off = 0, k;
    long r;

    vrec(&v, cases[i].type, cases[i].id, cases[i].content, cases[i].clen, 5);
    fk_parser_init(&p);
    for (k = 0; k < 2 && cases[i].events[k]; k++) {
      r = fk_parser_feed(&p, v.d + off, v.len - 5 - off, &ev);
      CHECK(r >= 0);
      CHECK_EQ(ev.type, cases[i].events[k]);
      CHECK_EQ(ev.record_type, cases[i].type);
      CHECK_EQ(ev.request_id, cases[i].id);
      off += r > 0 ? (size_t)r : 0;
    }
    CHECK_EQ(off, v.len - 5);
    r = fk_parser_feed(&p, v.d + off, 0, &ev);
    CHECK_EQ(r, 0);
    CHECK_EQ(ev.type, FK_EV_NONE);
    CHECK(!fk_parser_idle(&p));
    r = fk_parser_feed(&p, v.d + off, 5, &ev);
    CHECK_EQ(r, 5);
    CHECK_EQ(ev.type, FK_EV_NONE);
    CHECK(fk_parser_idle(&p));
    vfree(&v);
  }
}

/* Types 0 and 12..255 are reported and their content skipped (spec 4.2:
 * the caller answers UNKNOWN_TYPE for management records). */
static void test_unknown_types(void) {
  static const unsigned types[] = {0, 12, 255};
  struct vec v = {0};
  struct ev_log want = {0};
  uint8_t big[300];
  size_t i;

  memset(big, 0x01, sizeof big); /* looks like headers if not skipped */
  for (i = 0; i < 3; i++) {
    vrec(&v, types[i], (unsigned)i, big, 100 + i * 50, i * 3);
    expect(&want, FK_EV_UNKNOWN_RECORD, types[i], (unsigned)i);
    vrec(&v, types[i], 9, NULL, 0, 0);
    expect(&want, FK_EV_UNKNOWN_RECORD, types[i], 9);
  }
  vrec(&v, FK_STDIN, 1, "ok", 2, 0);
  expect_data(&want, FK_EV_STREAM, FK_STDIN, 1, "ok", 2);
  check_scan(&v, &want);
  vfree(&v);
}

/* ABORT_REQUEST should be empty; content is skipped, not an error. */
static void test_abort_with_content(void) {
  struct vec v = {0};
  struct ev_log want = {0};

  vrec(&v, FK_ABORT_REQUEST, 3, "\x01\x01\x00\x01\x00\x08\x00\x00", 8, 8);
  expect(&want, FK_EV_ABORT, FK_ABORT_REQUEST, 3);
  vrec(&v, FK_ABORT_REQUEST, 4, NULL, 0, 0);
  expect(&want, FK_EV_ABORT, FK_ABORT_REQUEST, 4);
  check_scan(&v, &want);
  vfree(&v);
}

/* A malformed record: the scan must end in error at the given offset, with
 * the given events first; the error stays. */
static void check_error(const struct vec *v, struct ev_log *want, int error,
                        uint64_t error_offset) {
  struct ev_log got = {0};
  fk_parser p;
  fk_event ev;
  size_t off = 0;
  long r;

  want->error = error;
  want->error_offset = error_offset;
  scan(v->d, v->len, &got);
  /* A bad version is found at its own byte, before consuming it; a bad
   * length once the whole header is in. */
  want->offset = error_offset + (error == FK_E_VERSION ? 0 : FK_HEADER_LEN);
  CHECK(log_eq(want, &got, "error", 0));
  log_free(&got);
  /* Sticky: later calls fail at once, with nothing consumed. */
  fk_parser_init(&p);
  for (;;) {
    r = fk_parser_feed(&p, v->d + off, v->len - off, &ev);
    if (r < 0 || ev.type == FK_EV_NONE)
      break;
    off += (size_t)r;
  }
  CHECK_EQ(r, error);
  CHECK_EQ(fk_parser_feed(&p, v->d, v->len, &ev), error);
  CHECK_EQ(ev.type, FK_EV_NONE);
  CHECK_EQ(fk_parser_feed(&p, NULL, 0, &ev), error);
  CHECK_EQ(p.offset, want->offset);
  log_free(want);
  CHECK_EQ(fk_parser_error(&p), error);
  CHECK_EQ(fk_parser_error_offset(&p), error_offset);
  CHECK(!fk_parser_idle(&p));
}

static void test_bad_version(void) {
  static const uint8_t body[8] = {0, 1, 0, 0, 0, 0, 0, 0};
  struct vec v = {0};
  struct ev_log want = {0};
  struct ev_rec *e;
  uint8_t h[8];

  /* First byte of the stream. */
  vbyte(&v, 0);
  vput(&v, "\x01\x00\x01\x00\x00\x00\x00", 7);
  check_error(&v, &want, FK_E_VERSION, 0);
  vfree(&v);

  /* After a record and some padding: the bad header's first byte. */
  vrec(&v, FK_BEGIN_REQUEST, 1, body, 8, 0);
  vrec(&v, FK_STDIN, 1, "hello", 5, 3);
  fk_header_encode(h, FK_STDIN, 1, 0, 0);
  h[0] = 2;
  vput(&v, h, 8);
  e = expect(&want, FK_EV_BEGIN, FK_BEGIN_REQUEST, 1);
  e->role = FK_RESPONDER;
  expect_data(&want, FK_EV_STREAM, FK_STDIN, 1, "hello", 5);
  check_error(&v, &want, FK_E_VERSION, 32);
  vfree(&v);

  /* An HTTP request sent to a FastCGI port. */
  vput(&v, "GET / HTTP/1.1\r\n\r\n", 18);
  check_error(&v, &want, FK_E_VERSION, 0);
  vfree(&v);
}

/* BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies are exactly 8 bytes
 * (spec 4.2, 5.1, 5.5). */
static void test_bad_lengths(void) {
  static const struct {
    unsigned type;
    size_t clen;
  } cases[] = {
      {FK_BEGIN_REQUEST, 7},    {FK_BEGIN_REQUEST, 9}, {FK_BEGIN_REQUEST, 0},
      {FK_END_REQUEST, 0},      {FK_END_REQUEST, 16},  {FK_UNKNOWN_TYPE, 7},
      {FK_UNKNOWN_TYPE, 65535},
  };
  uint8_t body[16] = {0};
  size_t i;

  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vec v = {0};
    struct ev_log want = {0};
    uint8_t h[8];

    vrec(&v, FK_STDOUT, 1, "x", 1, 7);
    expect_data(&want, FK_EV_STREAM, FK_STDOUT, 1, "x", 1);
    fk_header_encode(h, cases[i].type, 1, cases[i].clen, 0);
    vput(&v, h, 8);
    vput(&v, body, cases[i].clen < 16 ? cases[i].clen : 16);
    check_error(&v, &want, FK_E_RECORD_LENGTH, 16);
    vfree(&v);
  }
}

static void test_parser_idle(void) {
  uint8_t rec[16];
  fk_parser p;
  fk_event ev;

  fk_parser_init(&p);
  CHECK(fk_parser_idle(&p));
  fk_encode_begin_request(rec, 1, FK_RESPONDER, 0);
  CHECK_EQ(fk_parser_feed(&p, rec, 3, &ev), 3);
  CHECK(!fk_parser_idle(&p));
  CHECK_EQ(fk_parser_feed(&p, rec + 3, 7, &ev), 7);
  CHECK_EQ(ev.type, FK_EV_NONE);
  CHECK(!fk_parser_idle(&p));
  CHECK_EQ(fk_parser_feed(&p, rec + 10, 6, &ev), 6);
  CHECK_EQ(ev.type, FK_EV_BEGIN);
  CHECK(fk_parser_idle(&p));
  CHECK_EQ(p.offset, 16);
  /* In a stream record's content. */
  fk_encode_stream(rec, sizeof rec, FK_STDIN, 1, "ab", 2);
  CHECK_EQ(fk_parser_feed(&p, rec, 9, &ev), 9);
  CHECK_EQ(ev.type, FK_EV_STREAM);
  CHECK(!fk_parser_idle(&p));
  CHECK_EQ(fk_parser_feed(&p, rec + 9, 1, &ev), 1);
  CHECK(!fk_parser_idle(&p)); /* padding left */
  CHECK_EQ(fk_parser_feed(&p, rec + 10, 6, &ev), 6);
  CHECK(fk_parser_idle(&p));
  CHECK_EQ(fk_parser_error(&p), FK_OK);
}

/* Content read in place: the caller takes a stream record's content past
 * the parser, which goes on with the padding and the next header. */
static void test_parser_in_place(void) {
  uint8_t rec[64];
  fk_parser p;
  fk_event ev;
  fk_header h;

  fk_parser_init(&p);
  CHECK_EQ(fk_parser_until_header(&p), FK_HEADER_LEN);
  CHECK_EQ(fk_parser_content_left(&p, &h), 0);
  size_t n = fk_encode_stream(rec, sizeof rec, FK_STDIN, 7, "0123456789", 10);
  CHECK_EQ(n, FK_HEADER_LEN + 16); /* 6 bytes of padding */
  CHECK_EQ(fk_parser_feed(&p, rec, FK_HEADER_LEN, &ev), FK_HEADER_LEN);
  CHECK_EQ(ev.type, FK_EV_NONE);
  CHECK_EQ(fk_parser_until_header(&p), 0);
  CHECK_EQ(fk_parser_content_left(&p, &h), 10);
  CHECK(h.type == FK_STDIN && h.request_id == 7 && h.padding_length == 6);
  fk_parser_skip_content(&p, 4);
  CHECK_EQ(fk_parser_content_left(&p, &h), 6);
  fk_parser_skip_content(&p, 7); /* more than is left: ignored */
  CHECK_EQ(fk_parser_content_left(&p, &h), 6);
  fk_parser_skip_content(&p, 6);
  CHECK_EQ(fk_parser_content_left(&p, &h), 0);
  CHECK_EQ(p.offset, FK_HEADER_LEN + 10);
  CHECK_EQ(fk_parser_until_header(&p), 6 + FK_HEADER_LEN);
  CHECK(!fk_parser_idle(&p));
  CHECK_EQ(fk_parser_feed(&p, rec + FK_HEADER_LEN + 10, 6, &ev), 6);
  CHECK(fk_parser_idle(&p));
  /* The stream's end, fed whole, is reported as usual. */
  n = fk_encode_stream_end(rec, FK_STDIN, 7);
  CHECK_EQ(fk_parser_feed(&p, rec, 3, &ev), 3);
  CHECK_EQ(fk_parser_until_header(&p), 0); /* a header half read */
  CHECK_EQ(fk_parser_feed(&p, rec + 3, n - 3, &ev), (long)(n - 3));
  CHECK_EQ(ev.type, FK_EV_STREAM_END);
  /* GET_VALUES content is not stream content. */
  uint8_t q[] = {1, FK_GET_VALUES, 0, 0, 0, 2, 0, 0, 'a', 'b'};
  CHECK_EQ(fk_parser_feed(&p, q, FK_HEADER_LEN, &ev), FK_HEADER_LEN);
  CHECK_EQ(fk_parser_content_left(&p, &h), 0);
  fk_parser_skip_content(&p, 1); /* ignored */
  CHECK_EQ(fk_parser_feed(&p, q + FK_HEADER_LEN, 2, &ev), 2);
  CHECK_EQ(ev.type, FK_EV_VALUES);
  CHECK_EQ(ev.len, 2);
  CHECK_EQ(fk_parser_error(&p), FK_OK);
}

/* Inputs that end exactly at a PROT_NONE page: any read past the end of
 * the input faults. (scan() does this for every fragment too.) */
static void test_guard_page(void) {
  static const uint8_t probe[24] = "\x01\x09\x00\x00\x00\x10\x00\x00"
                                   "\x0e\x00"
                                   "FCGI_MAX_CONNS";
  const uint8_t *g;
  fk_parser p;
  fk_event ev;
  fk_params ps;
  fk_header h;
  fk_nv nv;
  long r;
  size_t i;

  /* A lone GET_VALUES probe ending at the page, whole and in pieces. */
  for (i = 0; i <= 24; i++) {
    fk_parser_init(&p);
    g = guarded(probe, i);
    r = fk_parser_feed(&p, g, i, &ev);
    CHECK(r >= 0);
    if (i > 8) {
      CHECK_EQ(ev.type, FK_EV_VALUES);
      CHECK_EQ(ev.len, i - 8);
      CHECK(ev.data + ev.len == guard_mem + guard_len);
    }
    if (i == 24) {
      CHECK_EQ(fk_parser_feed(&p, g + r, 0, &ev), 0);
      CHECK_EQ(ev.type, FK_EV_VALUES_END);
      CHECK(fk_parser_idle(&p));
    }
  }
  g = guarded(probe, 8);
  CHECK_EQ(fk_header_decode(&h, g), FK_OK);
  g = guarded(probe + 8, 16);
  CHECK_EQ(fk_nv_decode(g, 16, &nv), 16);
  for (i = 0; i < 16; i++)
    CHECK_EQ(fk_nv_decode(guarded(probe + 8, i), i, &nv), 0);
  fk_params_init(&ps, NULL, 100, 10);
  for (i = 0; i < 16; i++)
    CHECK_EQ(fk_params_feed(&ps, guarded(probe + 8 + i, 1), 1), FK_OK);
  CHECK_EQ(fk_params_count(&ps), 1);
  fk_params_free(&ps);
}

/* --- Name-value pairs ---------------------------------------------------- */

static void test_nv_combinations(void) {
  static const size_t lens[][2] = {{5, 3}, {5, 300},   {300, 5},  {300, 300},
                                   {0, 0}, {127, 128}, {128, 127}};
  static uint8_t name[300], value[300], out[700];
  size_t i;

  memset(name, 'N', sizeof name);
  memset(value, 0, sizeof value); /* binary values are fine (3.4) */
  value[1] = 0xff;
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t nl = lens[i][0], vl = lens[i][1];
    size_t nw = nl > 127 ? 4 : 1, vw = vl > 127 ? 4 : 1;
    size_t size = fk_nv_size(nl, vl);
    fk_nv nv;

    CHECK_EQ(size, nw + vw + nl + vl);
    CHECK_EQ(fk_nv_encode(out, name, nl, value, vl), size);
    if (nw == 4) {
      CHECK_EQ(out[0], 0x80);
      CHECK_EQ(out[3], nl & 0xff);
    } else {
      CHECK_EQ(out[0], nl);
    }
    CHECK_EQ(out[nw] & 0x80, vw == 4 ? 0x80 : 0);
    CHECK_EQ(fk_nv_decode(out, size, &nv), size);
    CHECK_EQ(nv.name_len, nl);
    CHECK_EQ(nv.value_len, vl);
    CHECK(nv.name == out + nw + vw);
    CHECK_MEM(nv.name, name, nl);
    CHECK_MEM(nv.value, value, vl);
    /* Any shorter input is "need more". */
    CHECK_EQ(fk_nv_decode(out, size - 1, &nv), 0);
    CHECK_EQ(fk_nv_decode(out, 1, &nv), 0);
  }
}

/* A sender may use the 4-byte form for short lengths (3.4). */
static void test_nv_small_4byte(void) {
  static const uint8_t in[] = {0x80, 0,   0,   3,   0x80, 0,  0,
                               2,    'a', 'b', 'c', 'd',  'e'};
  fk_nv nv;
  fk_params ps;
  size_t vl;

  CHECK_EQ(fk_nv_decode(in, sizeof in, &nv), sizeof in);
  CHECK_EQ(nv.name_len, 3);
  CHECK_EQ(nv.value_len, 2);
  CHECK_MEM(nv.name, "abc", 3);
  CHECK_MEM(nv.value, "de", 2);
  fk_params_init(&ps, NULL, 64, 4);
  CHECK_EQ(fk_params_feed(&ps, in, sizeof in), FK_OK);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  CHECK(strcmp(fk_params_get(&ps, "abc", &vl), "de") == 0);
  CHECK_EQ(vl, 2);
  fk_params_free(&ps);
  /* Bit 31 is masked off (3.4). */
  {
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x00};

    CHECK_EQ(fk_nv_decode(big, sizeof big, &nv), 0);
    CHECK_EQ(fk_nv_size(0x7fffffff, 0), 5 + (size_t)0x7fffffff);
  }
}

static void test_nv_size_overflow(void) {
  uint8_t out[8] = {0};

  CHECK_EQ(fk_nv_size((size_t)FK_MAX_PAIR_LENGTH + 1, 0), 0);
  CHECK_EQ(fk_nv_size(0, (size_t)FK_MAX_PAIR_LENGTH + 1), 0);
  CHECK_EQ(fk_nv_size(SIZE_MAX, SIZE_MAX), 0);
  CHECK_EQ(fk_nv_size(SIZE_MAX, 1), 0);
  if (SIZE_MAX > 0xffffffffu)
    CHECK(fk_nv_size(FK_MAX_PAIR_LENGTH, FK_MAX_PAIR_LENGTH) ==
          8 + 2 * (size_t)FK_MAX_PAIR_LENGTH);
  else
    CHECK_EQ(fk_nv_size(FK_MAX_PAIR_LENGTH, FK_MAX_PAIR_LENGTH), 0);
  CHECK_EQ(fk_nv_encode(out, "", (size_t)FK_MAX_PAIR_LENGTH + 1, "", 0), 0);
  CHECK_EQ(out[0], 0); /* nothing written */
  CHECK_EQ(fk_nv_size(0, 0), 2);
  CHECK_EQ(fk_nv_encode(out, NULL, 0, NULL, 0), 2);
}

/* --- The params set ------------------------------------------------------ */

/* A stream of pairs with every length form, including 4-byte encodings of
 * small lengths and empty names and values. */
static void build_pairs(struct vec *v) {
  static const uint8_t small4[] = {0x80, 0, 0, 1, 0x01, 'K', 'V'};
  static char longval[300];

  memset(longval, 'L', sizeof longval - 1);
  vpair(v, "SCRIPT_NAME", "/x");
  vput(v, small4, sizeof small4);
  vpair(v, "LONG", longval);
  vpair(v, longval + 100, "short");
  vpair(v, "", "");
  vpair(v, "EMPTY", "");
  vpair(v, "SCRIPT_NAME", "/second");
}

static void check_pairs(const fk_params *ps) {
  const char *name, *value;
  size_t nl, vl;

  CHECK_EQ(fk_params_count(ps), 7);
  CHECK_EQ(fk_params_at(ps, 0, &name, &nl, &value, &vl), FK_OK);
  CHECK(nl == 11 && strcmp(name, "SCRIPT_NAME") == 0);
  CHECK(vl == 2 && strcmp(value, "/x") == 0);
  CHECK_EQ(fk_params_at(ps, 1, &name, &nl, &value, &vl), FK_OK);
  CHECK(nl == 1 && strcmp(name, "K") == 0 && vl == 1 && value[0] == 'V');
  CHECK_EQ(fk_params_at(ps, 2, &name, &nl, &value, &vl), FK_OK);
  CHECK(nl == 4 && vl == 299 && strlen(value) == 299);
  CHECK_EQ(fk_params_at(ps, 3, &name, &nl, &value, &vl), FK_OK);
  CHECK(nl == 199 && strlen(name) == 199 && vl == 5);
  CHECK_EQ(fk_params_at(ps, 4, &name, &nl, &value, &vl), FK_OK);
  CHECK(nl == 0 && vl == 0 && name[0] == 0 && value[0] == 0);
  CHECK(strcmp(fk_params_get(ps, "SCRIPT_NAME", &vl), "/x") == 0);
  CHECK(fk_params_get(ps, "EMPTY", NULL) != NULL);
  CHECK(fk_params_get(ps, "", &vl) != NULL && vl == 0);
  CHECK(fk_params_get(ps, "MISSING", NULL) == NULL);
  CHECK(fk_params_get(ps, "SCRIPT_NAM", NULL) == NULL);
  CHECK_EQ(fk_params_at(ps, 7, &name, &nl, &value, &vl), FK_E_INVAL);
}

/* A pair, or a length prefix, split across feeds at every position. */
static void test_params_split(void) {
  struct vec v = {0};
  fk_params ps;
  size_t k, j;

  build_pairs(&v);
  for (k = 0; k <= v.len; k++) {
    fk_params_init(&ps, NULL, 4096, 16);
    CHECK_EQ(fk_params_feed(&ps, guarded(v.d, k), k), FK_OK);
    CHECK_EQ(fk_params_feed(&ps, guarded(v.d + k, v.len - k), v.len - k),
             FK_OK);
    CHECK_EQ(fk_params_finish(&ps), FK_OK);
    check_pairs(&ps);
    fk_params_free(&ps);
  }
  /* Three pieces around each length prefix; and one byte at a time. */
  for (k = 0; k + 8 <= v.len; k += 3) {
    fk_params_init(&ps, NULL, 4096, 16);
    for (j = 0; j < 3; j++) {
      size_t from = j == 0 ? 0 : k + (j - 1) * 4,
             to = j == 2 ? v.len : k + j * 4;

      CHECK_EQ(fk_params_feed(&ps, v.d + from, to - from), FK_OK);
    }
    CHECK_EQ(fk_params_finish(&ps), FK_OK);
    check_pairs(&ps);
    fk_params_free(&ps);
  }
  fk_params_init(&ps, NULL, 0, 0);
  for (k = 0; k < v.len; k++)
    CHECK_EQ(fk_params_feed(&ps, guarded(v.d + k, 1), 1), FK_OK);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  check_pairs(&ps);
  fk_params_free(&ps);
  vfree(&v);
}

static void test_params_first_match(void) {
  struct vec v = {0};
  fk_params ps;
  size_t vl = 0;

  vpair(&v, "A", "first");
  vpair(&v, "B", "b");
  vpair(&v, "A", "second");
  fk_params_init(&ps, NULL, 0, 0);
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
  CHECK(strcmp(fk_params_get(&ps, "A", &vl), "first") == 0);
  CHECK_EQ(vl, 5);
  fk_params_free(&ps);
  vfree(&v);
}

/* Counts and optionally fails allocations; remembers the largest. */
struct counting {
  size_t calls, fail_at, live, biggest;
};

static void *c_malloc(size_t n, void *ud) {
  struct counting *c = ud;
  void *p;

  if (c->calls++ == c->fail_at)
    return NULL;
  p = malloc(n);
  if (p)
    c->live++;
  if (n > c->biggest)
    c->biggest = n;
  return p;
}

static void *c_realloc(void *ptr, size_t n, void *ud) {
  struct counting *c = ud;

  CHECK(ptr != NULL); /* the library never asks for realloc(NULL, n) */
  if (c->calls++ == c->fail_at)
    return NULL;
  if (n > c->biggest)
    c->biggest = n;
  return realloc(ptr, n);
}

static void c_free(void *ptr, void *ud) {
  struct counting *c = ud;

  CHECK(ptr != NULL);
  c->live--;
  free(ptr);
}

static fk_allocator counting_allocator(struct counting *c) {
  fk_allocator a = {c_malloc, c_realloc, c_free, c};

  memset(c, 0, sizeof *c);
  c->fail_at = SIZE_MAX;
  return a;
}

static void test_params_limit_bytes(void) {
  struct vec v = {0};
  fk_params ps;
  size_t total;

  vpair(&v, "AB", "cd");   /* 4 bytes */
  vpair(&v, "EFG", "hij"); /* 6 bytes */
  total = 10;
  /* Exactly at the limit: fine. */
  fk_params_init(&ps, NULL, total, 0);
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  CHECK_EQ(fk_params_count(&ps), 2);
  fk_params_free(&ps);
  /* One byte less: the second pair is refused as soon as its lengths are
   * known, the first is kept, and the error stays. */
  fk_params_init(&ps, NULL, total - 1, 0);
  CHECK_EQ(fk_params_feed(&ps, v.d, 9), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(fk_params_count(&ps), 1);
  CHECK(strcmp(fk_params_get(&ps, "AB", NULL), "cd") == 0);
  CHECK_EQ(fk_params_feed(&ps, v.d + 9, v.len - 9), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(fk_params_finish(&ps), FK_E_PARAMS_TOO_LARGE);
  /* Reset clears the error. */
  fk_params_reset(&ps);
  CHECK_EQ(fk_params_count(&ps), 0);
  CHECK_EQ(fk_params_feed(&ps, v.d, 6), FK_OK);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  CHECK_EQ(fk_params_count(&ps), 1);
  fk_params_free(&ps);
  fk_params_free(NULL);
  vfree(&v);
}

/* A crafted length far beyond the limit fails before anything is
 * allocated for it (CVE-2025-23016), and without a limit memory follows the
 * bytes received, not the length claimed. */
static void test_params_crafted_length(void) {
  static const uint8_t crafted[] = {0x80 | 0x7f, 0xff, 0xff, 0xf0,
                                    0x00,        'a',  'b',  'c'};
  static const uint8_t both[] = {0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff};
  static uint8_t chunk[1000];
  struct counting c;
  fk_allocator a = counting_allocator(&c);
  fk_params ps;
  int i;

  fk_params_init(&ps, &a, 1024, 64);
  CHECK_EQ(fk_params_feed(&ps, crafted, sizeof crafted), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(c.calls, 0);
  fk_params_free(&ps);
  CHECK_EQ(c.live, 0);

  fk_params_init(&ps, &a, 0, 0);
  CHECK_EQ(fk_params_feed(&ps, crafted, sizeof crafted), FK_OK);
  for (i = 0; i < 10; i++)
    CHECK_EQ(fk_params_feed(&ps, chunk, sizeof chunk), FK_OK);
  CHECK(c.biggest <= 32 * 1024);
  CHECK_EQ(fk_params_finish(&ps), FK_E_TRUNCATED_PAIR);
  CHECK_EQ(fk_params_count(&ps), 0);
  fk_params_free(&ps);
  CHECK_EQ(c.live, 0);

  /* Two maximal lengths pass no user limit but would overflow 32-bit
   * offsets: refused. */
  fk_params_init(&ps, &a, 0, 0);
  CHECK_EQ(fk_params_feed(&ps, both, sizeof both), FK_E_PARAMS_TOO_LARGE);
  fk_params_free(&ps);
  /* A limit near SIZE_MAX must not wrap in the check. */
  fk_params_init(&ps, &a, SIZE_MAX, SIZE_MAX);
  CHECK_EQ(fk_params_feed(&ps, both, sizeof both), FK_E_PARAMS_TOO_LARGE);
  fk_params_free(&ps);
  CHECK_EQ(c.live, 0);
}

static void test_params_too_many(void) {
  struct vec v = {0};
  fk_params ps;
  int i;

  for (i = 0; i < 5; i++)
    vpair(&v, "N", "");
  fk_params_init(&ps, NULL, 0, 3);
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_E_TOO_MANY_PARAMS);
  CHECK_EQ(fk_params_count(&ps), 3);
  CHECK_EQ(fk_params_feed(&ps, v.d, 1), FK_E_TOO_MANY_PARAMS);
  CHECK_EQ(fk_params_finish(&ps), FK_E_TOO_MANY_PARAMS);
  fk_params_free(&ps);
  fk_params_init(&ps, NULL, 0, 5);
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
  CHECK_EQ(fk_params_count(&ps), 5);
  fk_params_free(&ps);
  vfree(&v);
}

static void test_params_truncated(void) {
  struct vec v = {0};
  fk_params ps;
  size_t k;

  vpair(&v, "NAME", "value");
  vput(&v,
       "\x80\x00\x00\x02\x80\x00\x00\x01"
       "ABc",
       11);
  for (k = 0; k <= v.len; k++) {
    int ends_pair = k == 0 || k == 11 || k == v.len;

    fk_params_init(&ps, NULL, 100, 10);
    CHECK_EQ(fk_params_feed(&ps, v.d, k), FK_OK);
    CHECK_EQ(fk_params_finish(&ps), ends_pair ? FK_OK : FK_E_TRUNCATED_PAIR);
    fk_params_free(&ps);
  }
  vfree(&v);
}

/* Fail the Nth allocation for N = 0, 1, 2, ... until a run succeeds: every
 * run returns FK_E_NOMEM or succeeds, and frees everything. */
static void test_params_nomem(void) {
  struct vec v = {0};
  struct counting c;
  fk_allocator a = counting_allocator(&c);
  fk_params ps;
  size_t n, i, allocs = 0;
  char name[16];
  static char value[600];

  memset(value, 'v', sizeof value - 1);
  for (i = 0; i < 40; i++) {
    snprintf(name, sizeof name, "P%zu", i);
    vpair(&v, name, value + sizeof value - 1 - i * 13);
  }
  for (n = 0; n < 1000; n++) {
    int r = FK_OK;

    counting_allocator(&c);
    c.fail_at = n;
    fk_params_init(&ps, &a, 0, 0);
    for (i = 0; i < v.len && r == FK_OK; i += 97)
      r = fk_params_feed(&ps, v.d + i, v.len - i < 97 ? v.len - i : 97);
    if (r == FK_OK) {
      CHECK(c.calls <= n); /* no failure was injected */
      CHECK_EQ(fk_params_finish(&ps), FK_OK);
      CHECK_EQ(fk_params_count(&ps), 40);
      CHECK(strcmp(fk_params_get(&ps, "P39", NULL),
                   value + sizeof value - 1 - 39 * 13) == 0);
      allocs = c.calls;
    } else {
      CHECK_EQ(r, FK_E_NOMEM);
      CHECK_EQ(fk_params_finish(&ps), FK_E_NOMEM);
      CHECK(fk_params_count(&ps) < 40);
    }
    fk_params_free(&ps);
    CHECK_EQ(c.live, 0);
    if (r == FK_OK)
      break;
  }
  CHECK(n > 2 && n < 1000);
  CHECK_EQ(allocs, n);
  vfree(&v);
}

/* The arena ends exactly where a pair's bytes end, so the NULs need room
 * of their own: under ASan (exact-size blocks) a missing byte faults. */
static void test_params_arena_edges(void) {
  static char name[300], value[300];
  size_t first, k;

  memset(name, 'n', sizeof name - 1);
  memset(value, 'v', sizeof value - 1);
  for (first = 200; first < 300; first++) {
    for (k = 0; k < 4; k++) {
      struct vec v = {0};
      fk_params ps;
      size_t nl = first / 2, vl = first - first / 2;

      /* name\0value\0 of the first pair takes first + 2 bytes. */
      vpair(&v, name + sizeof name - 1 - nl, value + sizeof value - 1 - vl);
      vpair(&v, k & 1 ? "x" : "", k & 2 ? "y" : "");
      fk_params_init(&ps, NULL, k == 3 ? first + 2 : 0, k == 3 ? 2 : 0);
      CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
      CHECK_EQ(fk_params_count(&ps), 2);
      CHECK(strcmp(fk_params_get(&ps, k & 1 ? "x" : "", NULL),
                   k & 2 ? "y" : "") == 0);
      fk_params_free(&ps);
      vfree(&v);
    }
  }
}

static void test_params_reuse(void) {
  struct vec v = {0};
  struct counting c;
  fk_allocator a = counting_allocator(&c);
  fk_params ps;
  size_t calls;
  int i;

  build_pairs(&v);
  fk_params_init(&ps, &a, 0, 0);
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
  check_pairs(&ps);
  calls = c.calls;
  for (i = 0; i < 3; i++) {
    fk_params_reset(&ps);
    CHECK_EQ(fk_params_count(&ps), 0);
    CHECK(fk_params_get(&ps, "SCRIPT_NAME", NULL) == NULL);
    CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_OK);
    CHECK_EQ(fk_params_finish(&ps), FK_OK);
    check_pairs(&ps);
  }
  CHECK_EQ(c.calls, calls); /* memory kept across resets */
  fk_params_free(&ps);
  CHECK_EQ(c.live, 0);
  /* Initialised again after free. */
  fk_params_init(&ps, NULL, 0, 0);
  CHECK_EQ(fk_params_count(&ps), 0);
  CHECK_EQ(fk_params_finish(&ps), FK_OK);
  CHECK_EQ(fk_params_feed(&ps, NULL, 0), FK_OK);
  fk_params_free(&ps);
  vfree(&v);
}

/* --- Whole pairs and cut pairs ------------------------------------------ */
/* A pair that lies whole in one feed is stored in one step, a cut one a
 * prefix byte at a time. Whichever way a stream is cut, the set, the error
 * and the feed that reports it must be the same. */

struct params_run {
  fk_params ps;
  int error;         /* the first error fk_params_feed returned, or FK_OK */
  size_t error_from; /* the bytes of the feed that returned it */
  size_t error_to;
};

/* Feeds v cut after each offset in ends[0..n) (ascending, the last one
 * v->len), every fragment against the guard page. After an error every
 * later feed must return that same error. Leaves run->ps to the caller. */
static void params_run(struct params_run *run, const struct vec *v,
                       const size_t *ends, size_t n, size_t max_bytes,
                       size_t max_pairs) {
  size_t i, from = 0;

  fk_params_init(&run->ps, NULL, max_bytes, max_pairs);
  run->error = FK_OK;
  run->error_from = run->error_to = 0;
  for (i = 0; i < n; i++) {
    int r = fk_params_feed(&run->ps, guarded(v->d + from, ends[i] - from),
                           ends[i] - from);

    if (run->error != FK_OK) {
      CHECK_EQ(r, run->error);
    } else if (r != FK_OK) {
      run->error = r;
      run->error_from = from;
      run->error_to = ends[i];
    }
    from = ends[i];
  }
  CHECK_EQ(from, v->len);
}

static void check_same_params(const fk_params *a, const fk_params *b) {
  size_t i;

  CHECK_EQ(fk_params_count(a), fk_params_count(b));
  CHECK_EQ(fk_params_finish(a), fk_params_finish(b));
  for (i = 0; i < fk_params_count(a) && i < fk_params_count(b); i++) {
    const char *an, *av, *bn, *bv;
    size_t anl, avl, bnl, bvl;

    CHECK_EQ(fk_params_at(a, i, &an, &anl, &av, &avl), FK_OK);
    CHECK_EQ(fk_params_at(b, i, &bn, &bnl, &bv, &bvl), FK_OK);
    CHECK(anl == bnl && avl == bvl);
    CHECK(memcmp(an, bn, anl) == 0 && an[anl] == 0 && bn[bnl] == 0);
    CHECK(memcmp(av, bv, avl) == 0 && av[avl] == 0 && bv[bvl] == 0);
  }
}

struct cut_case {
  const char *what;
  size_t max_bytes, max_pairs;
  int error, finish; /* expected from fk_params_feed and fk_params_finish */
  size_t count;
};

static void build_cut_case(struct vec *v, size_t which) {
  static const uint8_t four[] = {0x80, 0,   0,   3,   0x80, 0,  0,
                                 2,    'a', 'b', 'c', 'd',  'e'};
  static const uint8_t huge_name[] = {0xff, 0xff, 0xff, 0xff, 0x00, 'a'};
  static const uint8_t both_max[] = {0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff};
  static char value[120];
  char name[16];
  size_t i;

  memset(value, 'v', sizeof value - 1);
  switch (which) {
  case 0:
  case 1: build_pairs(v); break;
  case 2: /* a 4-byte name length cut short */
    vpair(v, "NAME", "value");
    vput(v, "\x80\x00", 2);
    break;
  case 3: /* a 4-byte value length cut short */
    vpair(v, "NAME", "value");
    vput(v, "\x03\x80\x00\x00", 4);
    break;
  case 4: /* both lengths, part of the bytes */
    vpair(v, "NAME", "value");
    vput(v,
         "\x03\x05"
         "ab",
         4);
    break;
  case 5: /* 4-byte lengths (bit 7 set) of small values */
    vput(v, four, sizeof four);
    vpair(v, "X", "y");
    vput(v, four, sizeof four);
    break;
  case 6: /* 2^31 - 1 claimed under a limit */
  case 7: /* the same with no limit: truncated, nothing allocated for it */
  case 8: /* two maximal lengths: past the arena's 32-bit reach */
  case 9: /* ... under limits near SIZE_MAX too */
    vpair(v, "A", "b");
    if (which == 8 || which == 9)
      vput(v, both_max, sizeof both_max);
    else
      vput(v, huge_name, sizeof huge_name);
    break;
  case 10: /* one byte over max_bytes at the second pair */
  case 11: /* exactly at it */
    vpair(v, "AB", "cd");
    vpair(v, "EFG", "hij");
    vpair(v, "", "");
    break;
  case 12: /* one pair more than max_pairs */
  case 13: /* exactly max_pairs */
    for (i = 0; i < 5; i++)
      vpair(v, "N", i & 1 ? "" : "v");
    break;
  default: /* enough to grow the arena and the index past their first size */
    for (i = 0; i < 60; i++) {
      snprintf(name, sizeof name, "P%zu", i);
      vpair(v, name, value + (i * 7) % sizeof value);
    }
    break;
  }
}

static const struct cut_case cut_cases[] = {
    {"all length forms", 4096, 16, FK_OK, FK_OK, 7},
    {"all length forms, no limits", 0, 0, FK_OK, FK_OK, 7},
    {"name length cut", 100, 10, FK_OK, FK_E_TRUNCATED_PAIR, 1},
    {"value length cut", 100, 10, FK_OK, FK_E_TRUNCATED_PAIR, 1},
    {"bytes cut", 100, 10, FK_OK, FK_E_TRUNCATED_PAIR, 1},
    {"4-byte lengths", 100, 10, FK_OK, FK_OK, 3},
    {"2^31 - 1 over the limit", 1024, 64, FK_E_PARAMS_TOO_LARGE,
     FK_E_PARAMS_TOO_LARGE, 1},
    {"2^31 - 1, no limit", 0, 0, FK_OK, FK_E_TRUNCATED_PAIR, 1},
    {"two maximal lengths", 0, 0, FK_E_PARAMS_TOO_LARGE, FK_E_PARAMS_TOO_LARGE,
     1},
    {"two maximal lengths, limits near SIZE_MAX", SIZE_MAX, SIZE_MAX,
     FK_E_PARAMS_TOO_LARGE, FK_E_PARAMS_TOO_LARGE, 1},
    {"over max_bytes", 9, 0, FK_E_PARAMS_TOO_LARGE, FK_E_PARAMS_TOO_LARGE, 1},
    {"at max_bytes", 10, 0, FK_OK, FK_OK, 3},
    {"over max_pairs", 0, 4, FK_E_TOO_MANY_PARAMS, FK_E_TOO_MANY_PARAMS, 4},
    {"at max_pairs", 0, 5, FK_OK, FK_OK, 5},
    {"many pairs", 0, 0, FK_OK, FK_OK, 60},
};

static void test_params_cuts_agree(void) {
  size_t c;

  for (c = 0; c < sizeof cut_cases / sizeof cut_cases[0]; c++) {
    const struct cut_case *cc = &cut_cases[c];
    struct params_run whole, bytes, other;
    struct vec v = {0};
    size_t *ends, i, k, seed;

    build_cut_case(&v, c);
    ends = malloc((v.len + 1) * sizeof *ends);
    CHECK(ends != NULL);
    /* Whole: every pair that is there takes the one-step path. */
    ends[0] = v.len;
    params_run(&whole, &v, ends, 1, cc->max_bytes, cc->max_pairs);
    if (whole.error != cc->error || fk_params_count(&whole.ps) != cc->count ||
        fk_params_finish(&whole.ps) != cc->finish)
      fprintf(stderr, "params cut case: %s\n", cc->what);
    CHECK_EQ(whole.error, cc->error);
    CHECK_EQ(fk_params_finish(&whole.ps), cc->finish);
    CHECK_EQ(fk_params_count(&whole.ps), cc->count);
    if (c <= 1)
      check_pairs(&whole.ps);
    /* One byte at a time: no pair is ever whole. The feed that reports an
     * error is the one carrying the last byte of the pair's lengths. */
    for (i = 0; i < v.len; i++)
      ends[i] = i + 1;
    params_run(&bytes, &v, ends, v.len, cc->max_bytes, cc->max_pairs);
    CHECK_EQ(bytes.error, cc->error);
    check_same_params(&whole.ps, &bytes.ps);
    /* Cut in two at every position, then at random. */
    for (k = 0; k <= v.len + 40; k++) {
      size_t n = 0;

      if (k <= v.len) {
        if (k > 0 && k < v.len)
          ends[n++] = k;
        ends[n++] = v.len;
      } else {
        size_t pos = 0;

        seed = k * 2654435761u;
        while (pos < v.len) {
          seed = seed * 1103515245u + 12345u;
          pos += 1 + (seed >> 8) % (k & 1 ? 9 : 64);
          ends[n++] = pos < v.len ? pos : v.len;
        }
      }
      params_run(&other, &v, ends, n, cc->max_bytes, cc->max_pairs);
      CHECK_EQ(other.error, cc->error);
      if (other.error != FK_OK)
        CHECK(other.error_from <= bytes.error_from &&
              bytes.error_from < other.error_to);
      check_same_params(&whole.ps, &other.ps);
      fk_params_free(&other.ps);
    }
    fk_params_free(&whole.ps);
    fk_params_free(&bytes.ps);
    free(ends);
    vfree(&v);
  }
}

/* A typical request's params cost one allocation for the arena and one for
 * the index, whole or cut, and none when the set is reused. */
static void test_params_first_sizes(void) {
  struct vec v = {0};
  struct counting c;
  fk_allocator a = counting_allocator(&c);
  fk_params ps;
  size_t i, k;

  for (i = 0; i < 13; i++)
    vpair(&v, "HTTP_SOMETHING", "a value of about twenty bytes");
  for (k = 1; k <= v.len; k += v.len - 1) {
    counting_allocator(&c);
    fk_params_init(&ps, &a, 65536, 1000);
    for (i = 0; i < v.len; i += k)
      CHECK_EQ(fk_params_feed(&ps, v.d + i, v.len - i < k ? v.len - i : k),
               FK_OK);
    CHECK_EQ(fk_params_count(&ps), 13);
    CHECK_EQ(c.calls, 2);
    fk_params_free(&ps);
    CHECK_EQ(c.live, 0);
  }
  /* The first sizes stay within what small limits allow. */
  counting_allocator(&c);
  fk_params_init(&ps, &a, 100, 3); /* two pairs of 43 bytes fit */
  CHECK_EQ(fk_params_feed(&ps, v.d, v.len), FK_E_PARAMS_TOO_LARGE);
  CHECK_EQ(fk_params_count(&ps), 2);
  CHECK(c.biggest <= 100 + 2 * 3);
  fk_params_free(&ps);
  CHECK_EQ(c.live, 0);
  vfree(&v);
}

int main(void) {
  guard_init();
  RUN(test_errors);
  RUN(test_names);
  RUN(test_header);
  RUN(test_padding_for);
  RUN(test_fixed_records);
  RUN(test_stream_size);
  RUN(test_output_padding);
  RUN(test_stream_split);
  RUN(test_stream_cap);
  RUN(test_roundtrip_all_types);
  RUN(test_section9_examples);
  RUN(test_input_padding);
  RUN(test_stream_events);
  RUN(test_events_before_padding);
  RUN(test_unknown_types);
  RUN(test_abort_with_content);
  RUN(test_bad_version);
  RUN(test_bad_lengths);
  RUN(test_parser_idle);
  RUN(test_parser_in_place);
  RUN(test_guard_page);
  RUN(test_nv_combinations);
  RUN(test_nv_small_4byte);
  RUN(test_nv_size_overflow);
  RUN(test_params_split);
  RUN(test_params_first_match);
  RUN(test_params_limit_bytes);
  RUN(test_params_crafted_length);
  RUN(test_params_too_many);
  RUN(test_params_truncated);
  RUN(test_params_nomem);
  RUN(test_params_arena_edges);
  RUN(test_params_reuse);
  RUN(test_params_cuts_agree);
  RUN(test_params_first_sizes);
  TEST_EXIT();
}
