/*
 * A thin layer over epoll with an eventfd for wake-ups.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fcgikit/error.h"
#include "unix/unix.h"

int fk__loop_init(fk__loop *loop) {
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (loop->epfd < 0)
    return FK_E_SYSTEM;
  loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wakefd < 0)
    goto fail_epoll;
  /* The wake-up fd is registered with a NULL pointer: the loop tells it
   * from connections and listeners that way. */
  if (fk__loop_add(loop, loop->wakefd, EPOLLIN, NULL) != 0)
    goto fail_wake;
  return FK_OK;
fail_wake:
  close(loop->wakefd);
fail_epoll:
  close(loop->epfd);
  loop->epfd = loop->wakefd = -1;
  return FK_E_SYSTEM;
}

void fk__loop_close(fk__loop *loop) {
  if (loop->wakefd >= 0)
    close(loop->wakefd);
  if (loop->epfd >= 0)
    close(loop->epfd);
  loop->epfd = loop->wakefd = -1;
}

int fk__loop_add(fk__loop *loop, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int fk__loop_mod(fk__loop *loop, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

int fk__loop_del(fk__loop *loop, int fd) {
  return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Async-signal-safe: one write(2), errno preserved. */
void fk__loop_wake(fk__loop *loop) {
  int saved = errno;
  uint64_t one = 1;
  ssize_t n = write(loop->wakefd, &one, sizeof one);
  (void)n; /* EAGAIN means a wake-up is already pending */
  errno = saved;
}

void fk__loop_drain_wake(fk__loop *loop) {
  uint64_t v;
  ssize_t n = read(loop->wakefd, &v, sizeof v);
  (void)n;
}
