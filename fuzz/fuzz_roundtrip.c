/*
 * Encode-then-decode round trip over the whole core.
 *
 * Input: 4 settings bytes (request id, fragment seed, two values for the
 * fixed records), then bytes read as name-value pairs (spec 3.4).
 *  1. Pairs are decoded with fk_nv_decode and re-encoded with fk_nv_encode:
 *     the canonical form is never longer, decodes to the same pair and
 *     re-encodes to itself.
 *  2. The canonical pairs travel as a PARAMS stream (fk_encode_stream,
 *     then the empty record) and, when short enough, as one GET_VALUES
 *     record; the parser, fed in fragments, hands the content to fk_params,
 *     which must yield the original pairs.
 *  3. BEGIN_REQUEST, END_REQUEST, ABORT_REQUEST and UNKNOWN_TYPE records
 *     built from the settings bytes parse back to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgikit/protocol.h"

#define REQUIRE(c) ((c) ? (void)0 : abort())
#define MAX_PAIRS 1024

struct pairs {
  fk_nv v[MAX_PAIRS];
  size_t n;
};

/* Step 1: decode, re-encode canonically; returns the canonical stream. */
static uint8_t *canonical(const uint8_t *in, size_t len, struct pairs *ps,
                          size_t *out_len) {
  uint8_t *out = malloc(len ? len : 1);
  size_t pos = 0, w = 0;
  long r;

  REQUIRE(out != NULL);
  ps->n = 0;
  while (ps->n < MAX_PAIRS &&
         (r = fk_nv_decode(in + pos, len - pos, &ps->v[ps->n])) > 0) {
    const fk_nv *p = &ps->v[ps->n];
    size_t size = fk_nv_size(p->name_len, p->value_len);
    fk_nv again;

    REQUIRE(size > 0 && size <= (size_t)r && (size_t)r <= len - pos);
    REQUIRE(fk_nv_encode(out + w, p->name, p->name_len, p->value,
                         p->value_len) == size);
    REQUIRE(fk_nv_decode(out + w, size, &again) == (long)size);
    REQUIRE(again.name_len == p->name_len && again.value_len == p->value_len);
    REQUIRE(memcmp(again.name, p->name, p->name_len) == 0);
    REQUIRE(memcmp(again.value, p->value, p->value_len) == 0);
    REQUIRE(fk_nv_decode(out + w, size - 1, &again) == 0);
    w += size;
    pos += (size_t)r;
    ps->n++;
  }
  *out_len = w;
  return out;
}

static void same_pairs(const fk_params *set, const struct pairs *ps) {
  size_t i;

  REQUIRE(fk_params_count(set) == ps->n);
  for (i = 0; i < ps->n; i++) {
    const char *name, *value;
    size_t nl, vl;

    REQUIRE(fk_params_at(set, i, &name, &nl, &value, &vl) == FK_OK);
    REQUIRE(nl == ps->v[i].name_len && vl == ps->v[i].value_len);
    REQUIRE(memcmp(name, ps->v[i].name, nl) == 0);
    REQUIRE(memcmp(value, ps->v[i].value, vl) == 0);
  }
}

/* The set re-encoded gives the canonical stream back. */
static void same_encoding(const fk_params *set, const uint8_t *canon,
                          size_t len) {
  uint8_t *out = malloc(len ? len : 1);
  size_t i, w = 0;

  REQUIRE(out != NULL);
  for (i = 0; i < fk_params_count(set); i++) {
    const char *name, *value;
    size_t nl, vl;

    REQUIRE(fk_params_at(set, i, &name, &nl, &value, &vl) == FK_OK);
    REQUIRE(w + fk_nv_size(nl, vl) <= len);
    w += fk_nv_encode(out + w, name, nl, value, vl);
  }
  REQUIRE(w == len && memcmp(out, canon, len) == 0);
  free(out);
}

/* Parses wire in fragments; stream or values content of the expected
 * record type goes to set; returns a bit set of the events seen. */
static unsigned parse(const uint8_t *wire, size_t len, unsigned seed,
                      unsigned type, unsigned id, fk_params *set,
                      fk_event *last_fixed) {
  fk_parser p;
  size_t pos = 0;
  unsigned seen = 0;

  fk_parser_init(&p);
  while (pos < len) {
    size_t k = 1 + (seed >> 4) % 4096, left;
    const uint8_t *in = wire + pos;
    fk_event ev;
    long r;

    seed = seed * 1103515245u + 12345u;
    k = k < len - pos ? k : len - pos;
    left = k;
    do {
      r = fk_parser_feed(&p, in, left, &ev);
      REQUIRE(r >= 0 && (size_t)r <= left);
      if (ev.type != FK_EV_NONE) {
        REQUIRE(ev.record_type == type && ev.request_id == id);
        seen |= 1u << ev.type;
      }
      if (ev.type == FK_EV_STREAM || ev.type == FK_EV_VALUES)
        REQUIRE(fk_params_feed(set, ev.data, ev.len) == FK_OK);
      if (ev.type == FK_EV_BEGIN || ev.type == FK_EV_END ||
          ev.type == FK_EV_UNKNOWN_TYPE || ev.type == FK_EV_ABORT)
        *last_fixed = ev;
      in += r;
      left -= (size_t)r;
    } while (ev.type != FK_EV_NONE);
    pos += k;
  }
  REQUIRE(fk_parser_idle(&p) && p.offset == len);
  return seen;
}

static void params_stream(const uint8_t *canon, size_t len,
                          const struct pairs *ps, unsigned id, unsigned seed) {
  size_t size = fk_stream_size(len);
  uint8_t *wire = malloc(size + FK_STREAM_END_SIZE);
  fk_params set;
  fk_event fixed;
  unsigned seen;

  REQUIRE(wire != NULL);
  REQUIRE(fk_encode_stream(wire, size, FK_PARAMS, id, canon, len) == size);
  if (size > 0)
    REQUIRE(fk_encode_stream(wire, size - 1, FK_PARAMS, id, canon, len) == 0);
  fk_encode_stream_end(wire + size, FK_PARAMS, id);
  fk_params_init(&set, NULL, 0, 0);
  seen =
      parse(wire, size + FK_STREAM_END_SIZE, seed, FK_PARAMS, id, &set, &fixed);
  REQUIRE(seen & 1u << FK_EV_STREAM_END);
  REQUIRE(fk_params_finish(&set) == FK_OK);
  same_pairs(&set, ps);
  same_encoding(&set, canon, len);
  fk_params_free(&set);
  free(wire);
}

static void values_record(const uint8_t *canon, size_t len,
                          const struct pairs *ps, unsigned seed) {
  size_t pad = fk_padding_for(len);
  uint8_t *wire = malloc(FK_HEADER_LEN + len + pad);
  fk_params set;
  fk_event fixed;
  unsigned seen;

  REQUIRE(wire != NULL);
  fk_header_encode(wire, FK_GET_VALUES, 0, len, pad);
  memcpy(wire + FK_HEADER_LEN, canon, len);
  memset(wire + FK_HEADER_LEN + len, 0, pad);
  fk_params_init(&set, NULL, 0, 0);
  seen = parse(wire, FK_HEADER_LEN + len + pad, seed, FK_GET_VALUES, 0, &set,
               &fixed);
  REQUIRE(seen & 1u << FK_EV_VALUES_END);
  REQUIRE(fk_params_finish(&set) == FK_OK);
  same_pairs(&set, ps);
  fk_params_free(&set);
  free(wire);
}

static void fixed_records(const uint8_t *s) {
  unsigned id = (unsigned)s[0] << 8 | s[1];
  uint32_t status =
      (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
  uint8_t rec[16];
  fk_event ev;

  memset(&ev, 0, sizeof ev);
  fk_encode_begin_request(rec, id, (unsigned)s[2] << 8 | s[3], s[1]);
  parse(rec, 16, s[2], FK_BEGIN_REQUEST, id, NULL, &ev);
  REQUIRE(ev.type == FK_EV_BEGIN && ev.flags == s[1]);
  REQUIRE(ev.role == ((unsigned)s[2] << 8 | s[3]));
  fk_encode_end_request(rec, id, status, s[3]);
  parse(rec, 16, s[3], FK_END_REQUEST, id, NULL, &ev);
  REQUIRE(ev.type == FK_EV_END && ev.app_status == status);
  REQUIRE(ev.protocol_status == s[3]);
  fk_encode_unknown_type(rec, s[2]);
  parse(rec, 16, s[1], FK_UNKNOWN_TYPE, 0, NULL, &ev);
  REQUIRE(ev.type == FK_EV_UNKNOWN_TYPE && ev.unknown_type == s[2]);
  fk_encode_abort_request(rec, id);
  parse(rec, 8, s[0], FK_ABORT_REQUEST, id, NULL, &ev);
  REQUIRE(ev.type == FK_EV_ABORT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct pairs ps;
  uint8_t *canon;
  size_t len;
  unsigned id, seed;

  if (size < 4)
    return 0;
  fixed_records(data);
  id = (unsigned)data[0] << 8 | data[1];
  seed = (unsigned)data[2] << 8 | data[3];
  canon = canonical(data + 4, size - 4, &ps, &len);
  params_stream(canon, len, &ps, id, seed);
  if (len <= FK_MAX_CONTENT)
    values_record(canon, len, &ps, seed);
  free(canon);
  return 0;
}
