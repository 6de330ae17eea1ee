/*
 * Internal: what the files of the client engine share. Nothing here is
 * public; names are fk__client_ or fk__cbuf_.
 *
 *   session.c   fk_client_session: one connection's protocol state
 *   cgi.c       fk_cgi: CGI response headers
 *   blocking.c  fk_client: the session driven over a socket
 *   buf.c       the byte buffer and allocation helpers below
 *
 * session.c, cgi.c and buf.c make no system call, so the fuzz targets
 * link them with the protocol core alone.
 */
#ifndef FK_CLIENT_INTERNAL_H
#define FK_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fcgikit/client.h"

/* Bytes data[pos..len) are pending; pos <= len <= cap. */
typedef struct fk__cbuf {
  uint8_t *data;
  size_t pos, len, cap;
} fk__cbuf;

/* Makes room for n more bytes at data + len, first reclaiming the space
 * before pos (pending bytes move to the front, in order). Returns FK_OK or
 * FK_E_NOMEM. */
int fk__cbuf_reserve(fk__cbuf *b, const fk_allocator *a, size_t n);
void fk__cbuf_free(fk__cbuf *b, const fk_allocator *a);
static inline size_t fk__cbuf_pending(const fk__cbuf *b) {
  return b->len - b->pos;
}

void *fk__client_alloc(const fk_allocator *a, size_t n);
void *fk__client_realloc(const fk_allocator *a, void *p, size_t n);
void fk__client_free(const fk_allocator *a, void *p);

#endif
