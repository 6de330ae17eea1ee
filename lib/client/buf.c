/*
 * The client engine's byte buffer and allocation through fk_allocator.
 */
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

void *fk__client_alloc(const fk_allocator *a, size_t n) {
  return a ? a->malloc(n, a->ud) : malloc(n);
}

void *fk__client_realloc(const fk_allocator *a, void *p, size_t n) {
  return a ? a->realloc(p, n, a->ud) : realloc(p, n);
}

void fk__client_free(const fk_allocator *a, void *p) {
  if (p == NULL)
    return;
  if (a)
    a->free(p, a->ud);
  else
    free(p);
}

int fk__cbuf_reserve(fk__cbuf *b, const fk_allocator *a, size_t n) {
  if (b->pos == b->len)
    b->pos = b->len = 0;
  if (b->cap - b->len >= n)
    return FK_OK;
  if (b->pos > 0) {
    memmove(b->data, b->data + b->pos, b->len - b->pos);
    b->len -= b->pos;
    b->pos = 0;
    if (b->cap - b->len >= n)
      return FK_OK;
  }
  if (n > SIZE_MAX / 4 - b->len)
    return FK_E_NOMEM;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap - b->len < n)
    cap *= 2;
  uint8_t *d = fk__client_realloc(a, b->data, cap);
  if (d == NULL)
    return FK_E_NOMEM;
  b->data = d;
  b->cap = cap;
  return FK_OK;
}

void fk__cbuf_free(fk__cbuf *b, const fk_allocator *a) {
  fk__client_free(a, b->data);
  memset(b, 0, sizeof *b);
}
