/*
 * Deadlines on the monotonic clock, for the application library and the
 * client alike.
 */
#include <limits.h>
#include <time.h>

#include "unix/unix.h"

void fk__deadline_in(struct timespec *t, unsigned ms) {
  clock_gettime(CLOCK_MONOTONIC, t);
  t->tv_sec += ms / 1000;
  t->tv_nsec += (long)(ms % 1000) * 1000000;
  if (t->tv_nsec >= 1000000000) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000;
  }
}

int fk__ms_until(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  /* Rounded up: a wait of this long never ends before t. */
  long long ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000 +
                 (t->tv_nsec - now.tv_nsec);
  long long ms = ns <= 0 ? 0 : (ns + 999999) / 1000000;
  return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}
