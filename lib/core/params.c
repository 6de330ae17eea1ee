/*
 * An incremental name-value pair decoder (spec 3.4) that keeps the pairs.
 *
 * The stream's record boundaries carry no meaning (3.3), so a pair, or even
 * its length prefix, may be cut anywhere between two feeds. The prefix is
 * gathered in p->prefix; once both lengths are known the limits are checked
 * (64-bit sums, before any allocation for the pair: CVE-2025-23016), and the
 * pair's bytes are then appended to the arena as they arrive. The arena grows
 * with the bytes really received, never with the lengths a peer claims.
 *
 * Most pairs arrive whole: a web server writes the params in one go. When a
 * whole pair lies in the bytes at hand and none is pending, take_pair()
 * stores it in one step, through the same checks; anything else (a pair cut
 * by a feed boundary) goes through the prefix and body steps.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* The index holds 32-bit offsets into the arena. */
#define FK__ARENA_MAX ((uint64_t)UINT32_MAX)
/* First sizes, enough for a typical request's params (a dozen or two pairs,
 * a few hundred bytes) so that it costs one allocation of each, not a chain
 * of reallocs. Both are capped by what the limits allow. */
#define FK__ARENA_MIN 1024u
#define FK__INDEX_MIN 32u

/* --- Allocation ---------------------------------------------------------- */

/* The largest arena the limits allow: name and value bytes plus two NULs a
 * pair; doubling stops there instead of overshooting the limit. */
static uint64_t arena_ceiling(const fk_params *p) {
  uint64_t c;

  if (!p->max_bytes || !p->max_pairs || p->max_bytes >= FK__ARENA_MAX ||
      p->max_pairs >= FK__ARENA_MAX)
    return FK__ARENA_MAX;
  c = (uint64_t)p->max_bytes + 2 * (uint64_t)p->max_pairs;
  return c < FK__ARENA_MAX ? c : FK__ARENA_MAX;
}

/* Grows the arena to hold need bytes, doubling its size. */
static int arena_grow(fk_params *p, uint64_t need) {
  uint64_t cap;
  void *n;

  if (need > FK__ARENA_MAX)
    return FK_E_PARAMS_TOO_LARGE;
  cap = p->arena_cap ? 2 * (uint64_t)p->arena_cap : FK__ARENA_MIN;
  if (cap > arena_ceiling(p))
    cap = arena_ceiling(p);
  if (cap < need)
    cap = need;
  n = fk__realloc(p->alloc, p->arena, (size_t)cap);
  if (!n)
    return FK_E_NOMEM;
  p->arena = n;
  p->arena_cap = (size_t)cap;
  return FK_OK;
}

/* Makes room for extra more bytes in the arena. Inline: the common case,
 * room enough, is one comparison per pair. */
static inline int arena_reserve(fk_params *p, size_t extra) {
  uint64_t need = (uint64_t)p->arena_len + extra;

  return need <= p->arena_cap ? FK_OK : arena_grow(p, need);
}

/* Makes room for one more index entry. */
static int index_reserve(fk_params *p) {
  size_t cap;
  void *n;

  if (p->count < p->index_cap)
    return FK_OK;
  cap = p->index_cap ? 2 * p->index_cap : FK__INDEX_MIN;
  if (p->max_pairs && cap > p->max_pairs)
    cap = p->max_pairs;
  if (cap > SIZE_MAX / sizeof *p->index)
    return FK_E_NOMEM;
  n = fk__realloc(p->alloc, p->index, cap * sizeof *p->index);
  if (!n)
    return FK_E_NOMEM;
  p->index = n;
  p->index_cap = cap;
  return FK_OK;
}

/* --- Life cycle ---------------------------------------------------------- */

static void clear_decoder(fk_params *p) {
  memset(p->prefix, 0, sizeof p->prefix);
  p->prefix_have = 0;
  p->prefix_need = 1;
  p->cur_name_len = p->cur_value_len = 0;
  p->cur_have = p->cur_off = 0;
  p->in_pair = 0;
}

void fk_params_init(fk_params *p, const fk_allocator *alloc, size_t max_bytes,
                    size_t max_pairs) {
  memset(p, 0, sizeof *p);
  p->alloc = alloc;
  p->max_bytes = max_bytes;
  p->max_pairs = max_pairs;
  clear_decoder(p);
}

void fk_params_reset(fk_params *p) {
  p->arena_len = 0;
  p->count = 0;
  p->error = FK_OK;
  clear_decoder(p);
}

void fk_params_free(fk_params *p) {
  if (!p)
    return;
  fk__free(p->alloc, p->arena);
  fk__free(p->alloc, p->index);
  p->arena = NULL;
  p->index = NULL;
  p->arena_cap = p->index_cap = 0;
  fk_params_reset(p);
}

/* --- Decoding ------------------------------------------------------------ */

/* How many prefix bytes the pair needs, as far as the bytes seen tell. */
static unsigned prefix_need(const fk_params *p) {
  unsigned name_w, value_w;

  if (p->prefix_have == 0)
    return 1;
  name_w = FK__NV_WIDTH(p->prefix[0]);
  if (p->prefix_have <= name_w)
    return name_w + 1; /* up to the first byte of the value length */
  value_w = FK__NV_WIDTH(p->prefix[name_w]);
  return name_w + value_w;
}

/* Appends up to want bytes of the current pair from the input. */
static void copy_part(fk_params *p, const uint8_t **data, size_t *len,
                      size_t want) {
  size_t k = want < *len ? want : *len;

  if (k == 0)
    return; /* *data may be NULL: no arithmetic on it */
  memcpy(p->arena + p->arena_len, *data, k);
  p->arena_len += k;
  p->cur_have += k;
  *data += k;
  *len -= k;
}

/* Indexes the complete pair stored at off ("name\0value\0"); the entry was
 * reserved by admit_pair(). */
static void index_pair(fk_params *p, size_t off, uint32_t name_len,
                       uint32_t value_len) {
  struct fk__pair *e = &p->index[p->count++];

  e->name_off = (uint32_t)off;
  e->name_len = name_len;
  e->value_off = (uint32_t)(off + name_len + 1);
  e->value_len = value_len;
}

static void finish_pair(fk_params *p) {
  p->arena[p->arena_len++] = 0; /* the value's NUL */
  index_pair(p, p->cur_off, p->cur_name_len, p->cur_value_len);
  clear_decoder(p);
}

/* Takes name and value bytes of the current pair; called with len 0 for a
 * pair that has nothing left to receive (empty name and value). */
static int take_body(fk_params *p, const uint8_t **data, size_t *len) {
  size_t total = (size_t)p->cur_name_len + p->cur_value_len;
  size_t left = total - p->cur_have;
  int r;

  /* The bytes this call can take plus the two NULs: all writes below
   * stay inside the reservation. */
  r = arena_reserve(p, (left < *len ? left : *len) + 2);
  if (r != FK_OK)
    return r;
  if (p->cur_have < p->cur_name_len)
    copy_part(p, data, len, p->cur_name_len - p->cur_have);
  /* The name is complete and its NUL not yet written. */
  if (p->cur_have == p->cur_name_len &&
      p->arena_len - p->cur_off == p->cur_name_len)
    p->arena[p->arena_len++] = 0;
  if (p->cur_have >= p->cur_name_len)
    copy_part(p, data, len, total - p->cur_have);
  if (p->cur_have == total)
    finish_pair(p);
  return FK_OK;
}

/* Both lengths of a new pair are known (each below 2^31): checks the limits
 * in 64 bits, then reserves its index entry. Both paths come through here,
 * so a pair is refused for the same reason however it was cut. */
static inline int admit_pair(fk_params *p, uint64_t name_len,
                             uint64_t value_len) {
  /* arena_len is where the new pair starts: every byte before belongs to a
   * complete pair, two of them NULs. */
  uint64_t stored = (uint64_t)p->arena_len - 2 * (uint64_t)p->count;

  if (p->max_pairs && p->count >= p->max_pairs)
    return FK_E_TOO_MANY_PARAMS;
  if (p->max_bytes && stored + name_len + value_len > p->max_bytes)
    return FK_E_PARAMS_TOO_LARGE;
  if (p->arena_len + name_len + value_len + 2 > FK__ARENA_MAX)
    return FK_E_PARAMS_TOO_LARGE;
  return index_reserve(p);
}

/* The prefix is complete: admit the pair, then start storing. */
static int start_pair(fk_params *p) {
  unsigned name_w = FK__NV_WIDTH(p->prefix[0]);
  uint64_t name_len = fk__nv_read_length(p->prefix);
  uint64_t value_len = fk__nv_read_length(p->prefix + name_w);
  const uint8_t *none = NULL;
  size_t zero = 0;
  int r;

  r = admit_pair(p, name_len, value_len);
  if (r != FK_OK)
    return r;
  p->cur_name_len = (uint32_t)name_len;
  p->cur_value_len = (uint32_t)value_len;
  p->cur_have = 0;
  p->cur_off = p->arena_len;
  p->in_pair = 1;
  return take_body(p, &none, &zero);
}

static int take_prefix(fk_params *p, const uint8_t **data, size_t *len) {
  while (*len > 0 && p->prefix_have < p->prefix_need) {
    p->prefix[p->prefix_have++] = **data;
    (*data)++;
    (*len)--;
    p->prefix_need = prefix_need(p);
  }
  if (p->prefix_have < p->prefix_need)
    return FK_OK; /* the rest of the prefix is in a later feed */
  return start_pair(p);
}

/* At the start of a pair (in_pair clear): stores it in one step when it lies
 * whole in the input and no part of its prefix came in an earlier feed;
 * otherwise hands the bytes to the prefix step. fk__nv_frame compared both
 * lengths with the bytes there; admit_pair makes the checks start_pair
 * makes, in the same order. */
static int take_pair(fk_params *p, const uint8_t **data, size_t *len) {
  uint32_t name_len, value_len;
  unsigned w;
  uint8_t *dst;
  size_t size;
  int r;

  if (p->prefix_have > 0 ||
      (w = fk__nv_frame(*data, *len, &name_len, &value_len)) == 0)
    return take_prefix(p, data, len);
  r = admit_pair(p, name_len, value_len);
  if (r != FK_OK)
    return r;
  /* admit_pair kept arena_len + size below 2^32: no wrap in size_t. */
  size = (size_t)name_len + value_len + 2;
  r = arena_reserve(p, size);
  if (r != FK_OK)
    return r;
  dst = p->arena + p->arena_len;
  memcpy(dst, *data + w, name_len);
  dst[name_len] = 0;
  memcpy(dst + name_len + 1, *data + w + name_len, value_len);
  dst[size - 1] = 0;
  index_pair(p, p->arena_len, name_len, value_len);
  p->arena_len += size;
  *data += w + size - 2;
  *len -= w + size - 2;
  return FK_OK;
}

int fk_params_feed(fk_params *p, const uint8_t *data, size_t len) {
  int r = p->error;

  while (r == FK_OK && len > 0)
    r = p->in_pair ? take_body(p, &data, &len) : take_pair(p, &data, &len);
  p->error = r;
  return r;
}

int fk_params_finish(const fk_params *p) {
  if (p->error != FK_OK)
    return p->error;
  if (p->in_pair || p->prefix_have > 0)
    return FK_E_TRUNCATED_PAIR;
  return FK_OK;
}

/* --- Lookup -------------------------------------------------------------- */

size_t fk_params_count(const fk_params *p) { return p->count; }

int fk_params_at(const fk_params *p, size_t i, const char **name,
                 size_t *name_len, const char **value, size_t *value_len) {
  const struct fk__pair *e;

  if (i >= p->count)
    return FK_E_INVAL;
  e = &p->index[i];
  if (name)
    *name = (const char *)p->arena + e->name_off;
  if (name_len)
    *name_len = e->name_len;
  if (value)
    *value = (const char *)p->arena + e->value_off;
  if (value_len)
    *value_len = e->value_len;
  return FK_OK;
}

/* Duplicates are not addressed by the spec (3.4); the first one wins, as in
 * fcgi2's FCGX_GetParam. */
const char *fk_params_get(const fk_params *p, const char *name,
                          size_t *value_len) {
  size_t n = strlen(name), i;

  for (i = 0; i < p->count; i++) {
    const struct fk__pair *e = &p->index[i];

    if (e->name_len == n && memcmp(p->arena + e->name_off, name, n) == 0) {
      if (value_len)
        *value_len = e->value_len;
      return (const char *)p->arena + e->value_off;
    }
  }
  return NULL;
}
