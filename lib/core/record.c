/*
 * Record framing (spec 3.3, 8): the 8-byte header and the fixed bodies of
 * BEGIN_REQUEST (5.1), END_REQUEST (5.5) and UNKNOWN_TYPE (4.2), and stream
 * data split into records. All numbers are big-endian bytes, written one by
 * one so the host's byte order and struct layout never matter.
 */
#include <string.h>

#include "fcgikit/protocol.h"

/* A record carrying FK_MAX_CONTENT bytes: header, content, 1 byte of padding
 * (65535 + 1 is a multiple of 8). */
#define FK__FULL_RECORD (FK_HEADER_LEN + FK_MAX_CONTENT + 1u)

static void put_u16(uint8_t *out, unsigned v) {
  out[0] = (uint8_t)(v >> 8);
  out[1] = (uint8_t)v;
}

static void put_u32(uint8_t *out, uint32_t v) {
  out[0] = (uint8_t)(v >> 24);
  out[1] = (uint8_t)(v >> 16);
  out[2] = (uint8_t)(v >> 8);
  out[3] = (uint8_t)v;
}

void fk_header_encode(uint8_t out[FK_HEADER_LEN], unsigned type,
                      unsigned request_id, size_t content_length,
                      size_t padding_length) {
  out[0] = FK_VERSION_1;
  out[1] = (uint8_t)type;
  put_u16(out + 2, request_id & 0xffffu);
  put_u16(out + 4, (unsigned)(content_length & 0xffffu));
  out[6] = (uint8_t)padding_length;
  out[7] = 0; /* reserved: "send 0" */
}

int fk_header_decode(fk_header *h, const uint8_t in[FK_HEADER_LEN]) {
  h->version = in[0];
  h->type = in[1];
  h->request_id = (uint16_t)(in[2] << 8 | in[3]);
  h->content_length = (uint16_t)(in[4] << 8 | in[5]);
  h->padding_length = in[6];
  /* in[7] is reserved and ignored on receipt. */
  return h->version == FK_VERSION_1 ? FK_OK : FK_E_VERSION;
}

size_t fk_padding_for(size_t content_length) {
  return (0u - content_length) & 7u;
}

/* Header plus an 8-byte body whose first bytes are given; the rest of the
 * body is the reserved zeros. */
static size_t fixed_record(uint8_t out[16], unsigned type, unsigned request_id,
                           const uint8_t *body, size_t body_len) {
  fk_header_encode(out, type, request_id, 8, 0);
  memset(out + FK_HEADER_LEN, 0, 8);
  memcpy(out + FK_HEADER_LEN, body, body_len);
  return 16;
}

size_t fk_encode_begin_request(uint8_t out[FK_BEGIN_REQUEST_SIZE],
                               unsigned request_id, unsigned role,
                               unsigned flags) {
  uint8_t body[3];

  put_u16(body, role & 0xffffu);
  body[2] = (uint8_t)flags;
  return fixed_record(out, FK_BEGIN_REQUEST, request_id, body, sizeof body);
}

/* Byte layout per spec 5.5: appStatus first, then protocolStatus (the
 * spec's brace notation disagrees with itself; the struct is authoritative). */
size_t fk_encode_end_request(uint8_t out[FK_END_REQUEST_SIZE],
                             unsigned request_id, uint32_t app_status,
                             unsigned protocol_status) {
  uint8_t body[5];

  put_u32(body, app_status);
  body[4] = (uint8_t)protocol_status;
  return fixed_record(out, FK_END_REQUEST, request_id, body, sizeof body);
}

size_t fk_encode_abort_request(uint8_t out[FK_ABORT_REQUEST_SIZE],
                               unsigned request_id) {
  fk_header_encode(out, FK_ABORT_REQUEST, request_id, 0, 0);
  return FK_ABORT_REQUEST_SIZE;
}

/* A management record: request id 0 (spec 4.2). */
size_t fk_encode_unknown_type(uint8_t out[FK_UNKNOWN_TYPE_SIZE],
                              unsigned unknown_type) {
  uint8_t body[1];

  body[0] = (uint8_t)unknown_type;
  return fixed_record(out, FK_UNKNOWN_TYPE, FK_NULL_REQUEST_ID, body, 1);
}

size_t fk_encode_stream_end(uint8_t out[FK_STREAM_END_SIZE], unsigned type,
                            unsigned request_id) {
  fk_header_encode(out, type, request_id, 0, 0);
  return FK_STREAM_END_SIZE;
}

size_t fk_stream_size(size_t len) {
  size_t full = len / FK_MAX_CONTENT, rest = len % FK_MAX_CONTENT;
  size_t tail = rest ? FK_HEADER_LEN + rest + fk_padding_for(rest) : 0;

  if (full > (SIZE_MAX - tail) / FK__FULL_RECORD)
    return SIZE_MAX;
  return full * FK__FULL_RECORD + tail;
}

size_t fk_encode_stream(uint8_t *out, size_t cap, unsigned type,
                        unsigned request_id, const void *data, size_t len) {
  const uint8_t *src = data;
  size_t need = fk_stream_size(len), pos = 0;

  /* A saturated size is not a real size: no buffer can hold it. */
  if (need == SIZE_MAX || cap < need)
    return 0;
  while (len > 0) {
    size_t n = len < FK_MAX_CONTENT ? len : FK_MAX_CONTENT;
    size_t pad = fk_padding_for(n);

    fk_header_encode(out + pos, type, request_id, n, pad);
    memcpy(out + pos + FK_HEADER_LEN, src, n);
    memset(out + pos + FK_HEADER_LEN + n, 0, pad);
    pos += FK_HEADER_LEN + n + pad;
    src += n;
    len -= n;
  }
  return pos;
}
