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

/* Reads one length prefix of FK__NV_WIDTH(b[0]) bytes. */
uint32_t fk__nv_read_length(const uint8_t *b);

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
