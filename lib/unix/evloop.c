/*
 * The public event loop (fcgikit/loop.h): epoll for descriptors, a binary
 * heap for timers, an eventfd so fk_loop_stop() works from anywhere.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "fcgikit/error.h"
#include "fcgikit/loop.h"
#include "unix/unix.h"

typedef struct watch {
  unsigned events; /* 0: not watched */
  fk_io_fn fn;
  void *arg;
} watch;

struct fk_timer {
  struct timespec due;
  fk_timer_fn fn;
  void *arg;
  size_t slot; /* index in the heap */
};

struct fk_loop {
  fk__loop base;
  watch *watches; /* indexed by fd */
  size_t nwatches;
  size_t watched;
  fk_timer **heap; /* heap[0] is due first; count <= cap */
  size_t count, cap;
  atomic_int stop;
};

int fk_loop_new(fk_loop **out) {
  *out = NULL;
  fk_loop *l = calloc(1, sizeof *l);
  if (l == NULL)
    return FK_E_NOMEM;
  int rc = fk__loop_init(&l->base);
  if (rc != FK_OK) {
    free(l);
    return rc;
  }
  *out = l;
  return FK_OK;
}

void fk_loop_free(fk_loop *l) {
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->count; i++)
    free(l->heap[i]);
  free(l->heap);
  free(l->watches);
  fk__loop_close(&l->base);
  free(l);
}

static uint32_t epoll_events(unsigned events) {
  return ((events & FK_LOOP_READ) ? EPOLLIN : 0) |
         ((events & FK_LOOP_WRITE) ? EPOLLOUT : 0);
}

int fk_loop_watch(fk_loop *l, int fd, unsigned events, fk_io_fn fn, void *arg) {
  if (fd < 0)
    return FK_E_INVAL;
  if ((size_t)fd >= l->nwatches) {
    if (events == 0)
      return FK_OK;
    size_t n = (size_t)fd + 64;
    watch *w = realloc(l->watches, n * sizeof *w);
    if (w == NULL)
      return FK_E_NOMEM;
    memset(w + l->nwatches, 0, (n - l->nwatches) * sizeof *w);
    l->watches = w;
    l->nwatches = n;
  }
  watch *w = &l->watches[fd];
  /* The epoll data is fd + 1: 0 is the wake-up descriptor's. */
  struct epoll_event ev = {.events = epoll_events(events),
                           .data.u64 = (uint64_t)fd + 1};
  int op = w->events == 0 ? EPOLL_CTL_ADD
           : events == 0  ? EPOLL_CTL_DEL
                          : EPOLL_CTL_MOD;
  if (w->events == 0 && events == 0)
    return FK_OK;
  if (epoll_ctl(l->base.epfd, op, fd, &ev) != 0)
    return FK_E_SYSTEM;
  l->watched += (w->events == 0) - (events == 0);
  *w = (watch){events, fn, arg};
  return FK_OK;
}

/* --- Timers: a binary heap ordered by due time -------------------------- */

static int earlier(const fk_timer *a, const fk_timer *b) {
  return a->due.tv_sec != b->due.tv_sec ? a->due.tv_sec < b->due.tv_sec
                                        : a->due.tv_nsec < b->due.tv_nsec;
}

static void place(fk_loop *l, fk_timer *t, size_t i) {
  l->heap[i] = t;
  t->slot = i;
}

static void sift_up(fk_loop *l, size_t i) {
  fk_timer *t = l->heap[i];
  while (i > 0 && earlier(t, l->heap[(i - 1) / 2])) {
    place(l, l->heap[(i - 1) / 2], i);
    i = (i - 1) / 2;
  }
  place(l, t, i);
}

static void sift_down(fk_loop *l, size_t i) {
  fk_timer *t = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->count)
      break;
    if (c + 1 < l->count && earlier(l->heap[c + 1], l->heap[c]))
      c++;
    if (!earlier(l->heap[c], t))
      break;
    place(l, l->heap[c], i);
    i = c;
  }
  place(l, t, i);
}

static void heap_remove(fk_loop *l, size_t i) {
  fk_timer *last = l->heap[--l->count];
  if (i == l->count)
    return;
  place(l, last, i);
  sift_down(l, i);
  sift_up(l, last->slot);
}

int fk_loop_timer(fk_loop *l, unsigned ms, fk_timer_fn fn, void *arg,
                  fk_timer **out) {
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    fk_timer **h = realloc(l->heap, cap * sizeof *h);
    if (h == NULL)
      return FK_E_NOMEM;
    l->heap = h;
    l->cap = cap;
  }
  fk_timer *t = malloc(sizeof *t);
  if (t == NULL)
    return FK_E_NOMEM;
  fk__deadline_in(&t->due, ms);
  t->fn = fn;
  t->arg = arg;
  l->heap[l->count] = t;
  sift_up(l, l->count++);
  if (out)
    *out = t;
  return FK_OK;
}

void fk_loop_cancel(fk_loop *l, fk_timer *t) {
  if (t == NULL)
    return;
  heap_remove(l, t->slot);
  free(t);
}

/* Fires the timers due by now; one a callback sets for later is left for
 * the next round, after the descriptors have had their turn. */
static void fire_timers(fk_loop *l) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  fk_timer probe = {.due = now};
  while (l->count > 0 && !atomic_load(&l->stop) &&
         !earlier(&probe, l->heap[0])) {
    fk_timer *t = l->heap[0];
    heap_remove(l, 0);
    fk_timer_fn fn = t->fn;
    void *arg = t->arg;
    free(t); /* before the call: the callback may set new timers */
    fn(l, arg);
  }
}

/* --- Running -------------------------------------------------------------- */

int fk_loop_run(fk_loop *l) {
  struct epoll_event evs[64];
  atomic_store(&l->stop, 0);
  while (!atomic_load(&l->stop) && (l->watched > 0 || l->count > 0)) {
    int timeout = l->count ? fk__ms_until(&l->heap[0]->due) : -1;
    int n = epoll_wait(l->base.epfd, evs, 64, timeout);
    if (n < 0 && errno != EINTR)
      return FK_E_SYSTEM;
    for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
      if (evs[i].data.u64 == 0) {
        fk__loop_drain_wake(&l->base);
        continue;
      }
      int fd = (int)(evs[i].data.u64 - 1);
      /* An earlier callback of this round may have stopped watching it. */
      if ((size_t)fd >= l->nwatches || l->watches[fd].events == 0)
        continue;
      watch w = l->watches[fd];
      unsigned ready = 0;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        ready |= FK_LOOP_READ;
      if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= FK_LOOP_WRITE;
      ready &= w.events | ((evs[i].events & (EPOLLHUP | EPOLLERR)) ? 3u : 0u);
      if (ready)
        w.fn(l, fd, ready, w.arg);
    }
    fire_timers(l);
  }
  return FK_OK;
}

void fk_loop_stop(fk_loop *l) {
  atomic_store(&l->stop, 1);
  fk__loop_wake(&l->base);
}
