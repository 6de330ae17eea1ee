/*
 * Fuzz target for the params set (lib/core/params.c).
 *
 * Input: 4 settings bytes, then a name-value stream (spec 3.4).
 *   byte 0  max_bytes = byte * 4 (0 = no limit)
 *   byte 1  max_pairs = byte % 32 (0 = no limit)
 *   byte 2  seed of the fragment sizes (1..32 bytes each)
 *   byte 3  0 = allocations never fail, else the allocation numbered
 *           byte - 1 fails
 * The stream is fed in fragments, each in a heap block of its exact size,
 * and the result compared with a plain model of the stream: pairs, limits,
 * the sticky error, truncation at the end and first-match lookups.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgikit/protocol.h"

#define REQUIRE(c) ((c) ? (void)0 : abort())
#define MAX_MODEL_PAIRS 4096

struct alloc_state {
  size_t calls, fail_at, live;
};

static void *f_malloc(size_t n, void *ud) {
  struct alloc_state *a = ud;
  void *p;

  if (a->calls++ == a->fail_at)
    return NULL;
  p = malloc(n);
  a->live += p != NULL;
  return p;
}

static void *f_realloc(void *ptr, size_t n, void *ud) {
  struct alloc_state *a = ud;

  REQUIRE(ptr != NULL);
  if (a->calls++ == a->fail_at)
    return NULL;
  return realloc(ptr, n);
}

static void f_free(void *ptr, void *ud) {
  struct alloc_state *a = ud;

  REQUIRE(ptr != NULL && a->live > 0);
  a->live--;
  free(ptr);
}

struct pair {
  const uint8_t *name, *value;
  uint32_t name_len, value_len;
};

struct model {
  struct pair pairs[MAX_MODEL_PAIRS];
  size_t count;
  int feed_error;   /* what fk_params_feed must end with */
  int finish_error; /* what fk_params_finish must say */
};

/* An independent reading of the stream, in the order fk_params checks
 * things: lengths known, then pair count, then byte limit, then the
 * arena's 32-bit reach; then the bytes. */
static void model_run(struct model *m, const uint8_t *b, size_t n,
                      uint64_t max_bytes, uint64_t max_pairs) {
  size_t pos = 0;
  uint64_t bytes = 0;

  m->count = 0;
  m->feed_error = m->finish_error = FK_OK;
  while (pos < n) {
    size_t nw = b[pos] >> 7 ? 4 : 1, vw;
    uint64_t nl, vl;

    if (n - pos < nw + 1)
      goto truncated;
    vw = b[pos + nw] >> 7 ? 4 : 1;
    if (n - pos < nw + vw)
      goto truncated;
    nl = nw == 1
             ? b[pos]
             : ((uint64_t)(b[pos] & 0x7f) << 24 | (uint64_t)b[pos + 1] << 16 |
                (uint64_t)b[pos + 2] << 8 | b[pos + 3]);
    pos += nw;
    vl = vw == 1
             ? b[pos]
             : ((uint64_t)(b[pos] & 0x7f) << 24 | (uint64_t)b[pos + 1] << 16 |
                (uint64_t)b[pos + 2] << 8 | b[pos + 3]);
    pos += vw;
    if (max_pairs && m->count >= max_pairs) {
      m->feed_error = m->finish_error = FK_E_TOO_MANY_PARAMS;
      return;
    }
    if ((max_bytes && bytes + nl + vl > max_bytes) ||
        bytes + 2 * m->count + nl + vl + 2 > UINT32_MAX) {
      m->feed_error = m->finish_error = FK_E_PARAMS_TOO_LARGE;
      return;
    }
    if (n - pos < nl + vl)
      goto truncated;
    REQUIRE(m->count < MAX_MODEL_PAIRS);
    m->pairs[m->count].name = b + pos;
    m->pairs[m->count].name_len = (uint32_t)nl;
    m->pairs[m->count].value = b + pos + nl;
    m->pairs[m->count].value_len = (uint32_t)vl;
    m->count++;
    bytes += nl + vl;
    pos += (size_t)(nl + vl);
  }
  return;
truncated:
  m->finish_error = FK_E_TRUNCATED_PAIR;
}

static void check_pair(const fk_params *ps, size_t i, const struct pair *want) {
  const char *name, *value;
  size_t nl, vl;

  REQUIRE(fk_params_at(ps, i, &name, &nl, &value, &vl) == FK_OK);
  REQUIRE(nl == want->name_len && vl == want->value_len);
  REQUIRE(memcmp(name, want->name, nl) == 0 && name[nl] == '\0');
  REQUIRE(memcmp(value, want->value, vl) == 0 && value[vl] == '\0');
}

/* fk_params_get must return the first pair of that name. */
static void check_lookup(const fk_params *ps, const struct model *m, size_t i) {
  const struct pair *p = &m->pairs[i];
  char name[64];
  const char *got;
  size_t j, vl;

  if (p->name_len >= sizeof name || memchr(p->name, 0, p->name_len))
    return;
  memcpy(name, p->name, p->name_len);
  name[p->name_len] = '\0';
  for (j = 0; j < i; j++)
    if (m->pairs[j].name_len == p->name_len &&
        memcmp(m->pairs[j].name, p->name, p->name_len) == 0)
      break;
  got = fk_params_get(ps, name, &vl);
  REQUIRE(got != NULL && vl == m->pairs[j].value_len);
  REQUIRE(memcmp(got, m->pairs[j].value, vl) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct model m;
  struct alloc_state as = {0, SIZE_MAX, 0};
  fk_allocator a = {f_malloc, f_realloc, f_free, &as};
  fk_params ps;
  const uint8_t *b;
  size_t n, pos = 0, i;
  unsigned seed;
  int r = FK_OK;

  if (size < 4)
    return 0;
  b = data + 4;
  n = size - 4;
  seed = data[2];
  if (data[3])
    as.fail_at = data[3] - 1u;
  model_run(&m, b, n, (uint64_t)data[0] * 4, data[1] % 32u);
  fk_params_init(&ps, &a, (size_t)data[0] * 4, data[1] % 32u);
  while (pos < n && r == FK_OK) {
    size_t k = 1 + (seed >> 3) % 32;
    uint8_t *copy;

    seed = seed * 1103515245u + 12345u;
    if (k > n - pos)
      k = n - pos;
    copy = malloc(k);
    REQUIRE(copy != NULL);
    memcpy(copy, b + pos, k);
    r = fk_params_feed(&ps, copy, k);
    free(copy);
    pos += k;
  }
  if (r == FK_E_NOMEM) {
    /* Injected failure: the pairs completed before it are all correct. */
    REQUIRE(as.calls > as.fail_at);
    REQUIRE(fk_params_count(&ps) <= m.count);
    REQUIRE(fk_params_finish(&ps) == FK_E_NOMEM);
    REQUIRE(fk_params_feed(&ps, b, n) == FK_E_NOMEM);
  } else {
    REQUIRE(r == m.feed_error);
    REQUIRE(fk_params_finish(&ps) == m.finish_error);
    REQUIRE(fk_params_count(&ps) == m.count);
    for (i = 0; i < m.count; i++)
      check_lookup(&ps, &m, i);
  }
  for (i = 0; i < fk_params_count(&ps); i++)
    check_pair(&ps, i, &m.pairs[i]);
  REQUIRE(fk_params_at(&ps, fk_params_count(&ps), NULL, NULL, NULL, NULL) ==
          FK_E_INVAL);
  /* Reset empties and keeps working. */
  fk_params_reset(&ps);
  REQUIRE(fk_params_count(&ps) == 0 && fk_params_finish(&ps) == FK_OK);
  fk_params_free(&ps);
  REQUIRE(as.live == 0);
  return 0;
}
