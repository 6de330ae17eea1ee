#include <errno.h>
#include <stdlib.h>

#include "opt.h"

int opt_seconds(const char *s, unsigned *ms) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0) || v > 4000000)
    return -1;
  *ms = (unsigned)(v * 1000 + 0.5);
  return 0;
}

int opt_number(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > '9') /* strtoull would take "-1" and " 1" */
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || errno != 0 || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}
