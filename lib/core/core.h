/*
 * Internal declarations shared by the files of the protocol core.
 * Nothing here is part of the public API; names are fk__.
 */
#ifndef FK_CORE_CORE_H
#define FK_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "fcgikit/protocol.h"

/* Name-value length prefixes (spec 3.4): a first byte with bit 7 clear is
 * the whole length (0..127); with bit 7 set the length takes 4 bytes,
 * big-endian, bit 31 masked off. */
#define FK__NV_WIDTH(first) (((first)&0x80u) ? 4u : 1u)

/* Reads one length prefix of FK__NV_WIDTH(b[0]) bytes. Inline: the params
 * decoder reads two for every pair. */
static inline uint32_t fk__nv_read_length(const uint8_t *b) {
  if (!(b[0] & 0x80u))
    return b[0];
  return (uint32_t)(b[0] & 0x7fu) << 24 | (uint32_t)b[1] << 16 |
         (uint32_t)b[2] << 8 | b[3];
}

/* Frames the pair at in[0..len) without reading past len. When both length
 * prefixes and every name and value byte are there, stores the lengths and
 * returns the width of the two prefixes (2..8); otherwise returns 0 (need
 * more). Each length is below 2^31, so their 64-bit sum cannot wrap. */
static inline unsigned fk__nv_frame(const uint8_t *in, size_t len,
                                    uint32_t *name_len, uint32_t *value_len) {
  unsigned name_w, value_w;

  if (len < 1)
    return 0;
  name_w = FK__NV_WIDTH(in[0]);
  if (len < name_w + 1)
    return 0;
  value_w = FK__NV_WIDTH(in[name_w]);
  if (len < name_w + value_w)
    return 0;
  *name_len = fk__nv_read_length(in);
  *value_len = fk__nv_read_length(in + name_w);
  if ((uint64_t)name_w + value_w + *name_len + *value_len > len)
    return 0;
  return name_w + value_w;
}

/* Allocation through an fk_allocator (NULL = libc). */
void *fk__alloc(const fk_allocator *a, size_t n);
void *fk__realloc(const fk_allocator *a, void *p, size_t n);
void fk__free(const fk_allocator *a, void *p);

/* A byte buffer: bytes data[pos..len) are pending; pos <= len <= cap. */
typedef struct fk__buf {
  uint8_t *data;
  size_t pos, len, cap;
} fk__buf;

/* Makes room for n more bytes at data + len, first moving the pending
 * bytes to the front (in order). Returns FK_OK or FK_E_NOMEM. */
int fk__buf_reserve(fk__buf *b, const fk_allocator *a, size_t n);
int fk__buf_append(fk__buf *b, const fk_allocator *a, const void *p, size_t n);
void fk__buf_free(fk__buf *b, const fk_allocator *a);
static inline size_t fk__buf_pending(const fk__buf *b) {
  return b->len - b->pos;
}

#endif
