/*
 * Fuzz target for the record parser (lib/core/parser.c).
 *
 * Input: byte 0's low 4 bits give n, the count of fragment-size bytes that
 * follow; the rest is the wire stream. The stream is parsed three ways:
 * whole, in fragments of sizes[i % n] bytes (a size 0 makes a call with no
 * input), each copied to a heap block of its exact size so ASan sees any
 * read past it, and by a simple reference walk over the whole buffer.
 * With fragments, once more the way a caller reading content in place
 * does: stream content taken past the parser (fk_parser_skip_content),
 * exactly fk_parser_until_header bytes fed between records. The
 * normalised event lists (stream data concatenated per record type
 * and id) must be equal, and every call must keep the feed contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgikit/protocol.h"

#define REQUIRE(c) ((c) ? (void)0 : abort())

struct entry {
  int type;
  unsigned record_type, request_id, role, flags, protocol_status;
  unsigned unknown_type;
  uint32_t app_status;
  size_t data_off, len; /* into log.data */
};

struct log {
  struct entry *v;
  size_t n, cap;
  uint8_t *data;
  size_t data_len, data_cap;
  int error, idle;
  uint64_t error_offset, offset;
};

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return p;
  *cap = need * 2 + 16;
  p = realloc(p, *cap * elem);
  REQUIRE(p != NULL);
  return p;
}

static struct entry *push(struct log *l, int type, unsigned rtype,
                          unsigned id) {
  struct entry *e;

  l->v = grow(l->v, &l->cap, l->n + 1, sizeof *l->v);
  e = &l->v[l->n++];
  memset(e, 0, sizeof *e);
  e->type = type;
  e->record_type = rtype;
  e->request_id = id;
  e->data_off = l->data_len;
  return e;
}

/* Appends content, merged into the previous entry when it continues it. */
static void add_data(struct log *l, int type, unsigned rtype, unsigned id,
                     const uint8_t *d, size_t n) {
  struct entry *e = l->n ? &l->v[l->n - 1] : NULL;

  if (!e || e->type != type || e->record_type != rtype || e->request_id != id)
    e = push(l, type, rtype, id);
  l->data = grow(l->data, &l->data_cap, l->data_len + n, 1);
  memcpy(l->data + l->data_len, d, n);
  l->data_len += n;
  e->len += n;
}

static void add_event(struct log *l, const fk_event *ev) {
  struct entry *e;

  if (ev->type == FK_EV_STREAM || ev->type == FK_EV_VALUES) {
    add_data(l, ev->type, ev->record_type, ev->request_id, ev->data, ev->len);
    return;
  }
  e = push(l, ev->type, ev->record_type, ev->request_id);
  e->role = ev->role;
  e->flags = ev->flags;
  e->app_status = ev->app_status;
  e->protocol_status = ev->protocol_status;
  e->unknown_type = ev->unknown_type;
}

static void free_log(struct log *l) {
  free(l->v);
  free(l->data);
}

static void require_equal(const struct log *a, const struct log *b) {
  size_t i;

  REQUIRE(a->n == b->n);
  REQUIRE(a->error == b->error);
  REQUIRE(a->error_offset == b->error_offset);
  REQUIRE(a->offset == b->offset);
  REQUIRE(a->idle == b->idle);
  for (i = 0; i < a->n; i++) {
    const struct entry *x = &a->v[i], *y = &b->v[i];

    REQUIRE(x->type == y->type && x->record_type == y->record_type);
    REQUIRE(x->request_id == y->request_id && x->role == y->role);
    REQUIRE(x->flags == y->flags && x->app_status == y->app_status);
    REQUIRE(x->protocol_status == y->protocol_status);
    REQUIRE(x->unknown_type == y->unknown_type && x->len == y->len);
    REQUIRE(x->len == 0 ||
            memcmp(a->data + x->data_off, b->data + y->data_off, x->len) == 0);
  }
}

static int is_stream(unsigned t) { return t >= FK_PARAMS && t <= FK_DATA; }

static int is_values(unsigned t) {
  return t == FK_GET_VALUES || t == FK_GET_VALUES_RESULT;
}

/* The record type each event may come from. */
static void check_event(const fk_event *ev, const uint8_t *in, long r) {
  unsigned t = ev->record_type;

  switch (ev->type) {
  case FK_EV_BEGIN: REQUIRE(t == FK_BEGIN_REQUEST); break;
  case FK_EV_ABORT: REQUIRE(t == FK_ABORT_REQUEST); break;
  case FK_EV_END: REQUIRE(t == FK_END_REQUEST); break;
  case FK_EV_UNKNOWN_TYPE: REQUIRE(t == FK_UNKNOWN_TYPE); break;
  case FK_EV_STREAM_END: REQUIRE(is_stream(t)); break;
  case FK_EV_VALUES_END: REQUIRE(is_values(t)); break;
  case FK_EV_UNKNOWN_RECORD: REQUIRE(t == 0 || t > FK_MAXTYPE); break;
  case FK_EV_STREAM:
  case FK_EV_VALUES:
    REQUIRE(ev->type == FK_EV_STREAM ? is_stream(t) : is_values(t));
    REQUIRE(ev->len > 0 && ev->len <= FK_MAX_CONTENT);
    REQUIRE(ev->data >= in && ev->data + ev->len <= in + r);
    break;
  default: abort();
  }
  REQUIRE(t <= 255 && ev->request_id <= 0xffff);
}

/* Feeds one fragment until the parser wants more. */
static void feed(fk_parser *p, struct log *l, const uint8_t *in, size_t len) {
  fk_event ev;

  for (;;) {
    uint64_t before = p->offset;
    long r = fk_parser_feed(p, in, len, &ev);

    if (r < 0) {
      REQUIRE(r == FK_E_VERSION || r == FK_E_RECORD_LENGTH);
      REQUIRE(r == fk_parser_error(p) && ev.type == FK_EV_NONE);
      REQUIRE(fk_parser_feed(p, in, len, &ev) == r); /* sticky */
      return;
    }
    REQUIRE((size_t)r <= len);
    REQUIRE(p->offset == before + (uint64_t)r);
    if (ev.type == FK_EV_NONE) {
      REQUIRE((size_t)r == len);
      return;
    }
    check_event(&ev, in, r);
    add_event(l, &ev);
    in += r;
    len -= (size_t)r;
  }
}

static void finish(const fk_parser *p, struct log *l) {
  l->error = fk_parser_error(p);
  l->error_offset = fk_parser_error_offset(p);
  l->offset = p->offset;
  l->idle = fk_parser_idle(p);
  REQUIRE(l->error == FK_OK || l->error_offset <= l->offset);
  REQUIRE(!l->idle || l->error == FK_OK);
}

static void parse_fragments(const uint8_t *buf, size_t len,
                            const uint8_t *sizes, size_t nsizes,
                            struct log *l) {
  fk_parser p;
  size_t pos = 0, i = 0, zeros = 0;

  fk_parser_init(&p);
  while (pos < len) {
    size_t n = sizes[i++ % nsizes];
    uint8_t *copy;

    if (n == 0 && ++zeros > nsizes)
      n = 1; /* all sizes zero: still make progress */
    if (n > len - pos)
      n = len - pos;
    copy = malloc(n ? n : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, buf + pos, n);
    feed(&p, l, copy, n);
    free(copy);
    pos += n;
    if (n)
      zeros = 0;
  }
  finish(&p, l);
}

/* Stream content is taken by the caller, as if read straight into its
 * own buffer; between records no byte past the next header is fed. */
static void parse_in_place(const uint8_t *buf, size_t len, const uint8_t *sizes,
                           size_t nsizes, struct log *l) {
  fk_parser p;
  size_t pos = 0, i = 0;

  fk_parser_init(&p);
  while (pos < len && fk_parser_error(&p) == FK_OK) {
    size_t n = sizes[i++ % nsizes], left, until;
    fk_header h;

    if (n == 0)
      n = 1;
    if (n > len - pos)
      n = len - pos;
    left = fk_parser_content_left(&p, &h);
    until = fk_parser_until_header(&p);
    REQUIRE(left == 0 || until == 0);
    REQUIRE(until == 0 || (until >= FK_HEADER_LEN &&
                           until <= FK_HEADER_LEN + FK_MAX_PADDING));
    if (left > 0) {
      uint64_t before = p.offset;

      REQUIRE(is_stream(h.type) && left <= h.content_length);
      if (n > left)
        n = left;
      add_data(l, FK_EV_STREAM, h.type, h.request_id, buf + pos, n);
      fk_parser_skip_content(&p, n);
      REQUIRE(p.offset == before + n);
    } else {
      if (until > 0 && n > until)
        n = until;
      feed(&p, l, buf + pos, n);
    }
    pos += n;
  }
  finish(&p, l);
}

/* --- Reference: a plain walk over the whole buffer (spec 3.3) ------------ */

static void reference(const uint8_t *b, size_t n, struct log *l) {
  size_t pos = 0;

  l->idle = 1;
  while (pos < n) {
    unsigned type, id;
    size_t clen, plen, hdr = pos, avail;
    struct entry *e;

    l->idle = 0;
    if (b[pos] != FK_VERSION_1) {
      l->error = FK_E_VERSION;
      l->error_offset = l->offset = pos;
      return;
    }
    if (n - pos < FK_HEADER_LEN) {
      l->offset = n;
      return;
    }
    type = b[pos + 1];
    id = (unsigned)b[pos + 2] << 8 | b[pos + 3];
    clen = (size_t)b[pos + 4] << 8 | b[pos + 5];
    plen = b[pos + 6];
    pos += FK_HEADER_LEN;
    avail = n - pos < clen ? n - pos : clen;
    if (type == FK_BEGIN_REQUEST || type == FK_END_REQUEST ||
        type == FK_UNKNOWN_TYPE) {
      if (clen != 8) {
        l->error = FK_E_RECORD_LENGTH;
        l->error_offset = hdr;
        l->offset = pos;
        return;
      }
      if (avail < 8)
        break;
      if (type == FK_BEGIN_REQUEST) {
        e = push(l, FK_EV_BEGIN, type, id);
        e->role = (unsigned)b[pos] << 8 | b[pos + 1];
        e->flags = b[pos + 2];
      } else if (type == FK_END_REQUEST) {
        e = push(l, FK_EV_END, type, id);
        e->app_status = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 |
                        (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        e->protocol_status = b[pos + 4];
      } else {
        e = push(l, FK_EV_UNKNOWN_TYPE, type, id);
        e->unknown_type = b[pos];
      }
    } else if (is_stream(type) || is_values(type)) {
      int data_ev = is_stream(type) ? FK_EV_STREAM : FK_EV_VALUES;

      if (avail)
        add_data(l, data_ev, type, id, b + pos, avail);
      if (avail < clen)
        break;
      if (clen == 0 && is_stream(type))
        push(l, FK_EV_STREAM_END, type, id);
      else if (is_values(type))
        push(l, FK_EV_VALUES_END, type, id);
    } else {
      if (avail < clen)
        break;
      push(l, type == FK_ABORT_REQUEST ? FK_EV_ABORT : FK_EV_UNKNOWN_RECORD,
           type, id);
    }
    pos += clen;
    if (n - pos < plen)
      break;
    pos += plen;
    l->idle = 1;
  }
  l->offset = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct log whole = {0}, frag = {0}, in_place = {0}, ref = {0};
  size_t nsizes;
  const uint8_t *sizes, *wire;
  size_t wire_len;
  uint8_t *copy;

  if (size < 1)
    return 0;
  nsizes = data[0] & 15u;
  if (size < 1 + nsizes)
    return 0;
  sizes = data + 1;
  wire = data + 1 + nsizes;
  wire_len = size - 1 - nsizes;

  copy = malloc(wire_len ? wire_len : 1);
  REQUIRE(copy != NULL);
  memcpy(copy, wire, wire_len);
  {
    fk_parser p;

    fk_parser_init(&p);
    feed(&p, &whole, copy, wire_len);
    finish(&p, &whole);
  }
  free(copy);
  if (nsizes > 0) {
    parse_fragments(wire, wire_len, sizes, nsizes, &frag);
    require_equal(&whole, &frag);
    parse_in_place(wire, wire_len, sizes, nsizes, &in_place);
    require_equal(&whole, &in_place);
  }
  reference(wire, wire_len, &ref);
  require_equal(&whole, &ref);
  free_log(&whole);
  free_log(&frag);
  free_log(&in_place);
  free_log(&ref);
  return 0;
}
