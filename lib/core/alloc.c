/*
 * Allocation through fk_allocator, and the byte buffer every layer uses.
 * No system calls: the fuzz targets link this with the rest of the core.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

void *fk__alloc(const fk_allocator *a, size_t n) {
  return a ? a->malloc(n, a->ud) : malloc(n);
}

void *fk__realloc(const fk_allocator *a, void *p, size_t n) {
  if (!a)
    return realloc(p, n);
  /* Hooks never see realloc(NULL, n). */
  return p ? a->realloc(p, n, a->ud) : a->malloc(n, a->ud);
}

void fk__free(const fk_allocator *a, void *p) {
  if (p == NULL)
    return;
  if (a)
    a->free(p, a->ud);
  else
    free(p);
}

int fk__buf_reserve(fk__buf *b, const fk_allocator *a, size_t n) {
  if (b->pos == b->len)
    b->pos = b->len = 0;
  if (b->cap - b->len >= n)
    return FK_OK;
  /* Reclaim consumed space before growing. */
  if (b->pos > 0) {
    memmove(b->data, b->data + b->pos, b->len - b->pos);
    b->len -= b->pos;
    b->pos = 0;
    if (b->cap - b->len >= n)
      return FK_OK;
  }
  if (n > SIZE_MAX / 4 - b->len)
    return FK_E_NOMEM;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < n)
    cap *= 2;
  uint8_t *d = fk__realloc(a, b->data, cap);
  if (d == NULL)
    return FK_E_NOMEM;
  b->data = d;
  b->cap = cap;
  return FK_OK;
}

int fk__buf_append(fk__buf *b, const fk_allocator *a, const void *p, size_t n) {
  int rc = fk__buf_reserve(b, a, n);
  if (rc != FK_OK)
    return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return FK_OK;
}

void fk__buf_free(fk__buf *b, const fk_allocator *a) {
  fk__free(a, b->data);
  memset(b, 0, sizeof *b);
}
