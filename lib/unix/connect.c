/*
 * Connecting to an application: every address kind fk__addr_split knows,
 * within one deadline.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgikit/error.h"
#include "unix/unix.h"

/* Milliseconds left before t, -1 for no deadline (poll's "forever"). */
static int left(const struct timespec *t) {
  return t == NULL ? -1 : fk__ms_until(t);
}

/* Waits for a non-blocking connect to finish. Returns FK_OK, FK_E_TIMEOUT
 * or FK_E_SYSTEM (errno set to the connect error). */
static int finish_connect(int fd, const struct timespec *deadline) {
  for (;;) {
    int ms = left(deadline);
    if (ms == 0)
      return FK_E_TIMEOUT;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n = poll(&pfd, 1, ms);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return FK_E_SYSTEM;
    if (n == 0)
      continue; /* the deadline check above ends it */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      return FK_E_SYSTEM;
    if (err == 0)
      return FK_OK;
    errno = err;
    return FK_E_SYSTEM;
  }
}

/* One attempt at one address. On FK_OK *out is the connected socket. */
static int connect_one(const struct sockaddr *sa, socklen_t salen,
                       const struct timespec *deadline, int *out) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return FK_E_SYSTEM;
  int rc = FK_OK;
  for (;;) {
    if (connect(fd, sa, salen) == 0)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EINPROGRESS) {
      rc = finish_connect(fd, deadline);
      break;
    }
    /* A Unix socket whose backlog is full says EAGAIN at once instead of
     * waiting (unix(7)): try again until the deadline. */
    if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
      int ms = left(deadline);
      if (ms == 0) {
        rc = FK_E_TIMEOUT;
        break;
      }
      struct timespec nap = {0, 5 * 1000000L};
      nanosleep(&nap, NULL);
      continue;
    }
    rc = FK_E_SYSTEM;
    break;
  }
  if (rc != FK_OK) {
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
  }
  if (sa->sa_family != AF_UNIX) {
    int on = 1; /* requests are small and answered at once: no Nagle delay */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  *out = fd;
  return FK_OK;
}

/* Every address the name resolves to, in order, until one answers. */
static int connect_tcp(const char *host, const char *port,
                       const struct timespec *deadline, int *out) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  /* An empty host (":port") is this machine: getaddrinfo's NULL node
   * without AI_PASSIVE gives the loopback addresses. */
  if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0)
    return FK_E_ADDRESS;
  int rc = FK_E_ADDRESS, saved = 0;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    rc = connect_one(ai->ai_addr, ai->ai_addrlen, deadline, out);
    saved = errno;
    if (rc == FK_OK || rc == FK_E_TIMEOUT)
      break;
  }
  freeaddrinfo(res);
  errno = saved;
  return rc;
}

int fk__connect(const char *address, unsigned timeout_ms, int *fd) {
  char host[256], port[16];
  const char *path = NULL;
  struct timespec t, *deadline = NULL;
  int kind =
      fk__addr_split(address, host, sizeof host, port, sizeof port, &path);
  if (kind < 0)
    return kind;
  if (timeout_ms > 0) {
    fk__deadline_in(&t, timeout_ms);
    deadline = &t;
  }
  if (kind == FK__ADDR_TCP)
    return connect_tcp(host, port, deadline, fd);
  fk__sockaddr sa;
  int rc = fk__addr_unix(&sa, path, kind == FK__ADDR_ABSTRACT);
  if (rc != FK_OK)
    return rc;
  return connect_one((const struct sockaddr *)&sa.ss, sa.len, deadline, fd);
}

/* The first address a string names: the path of a Unix socket, or the
 * first result of the name's resolution. */
static int resolve_first(const char *address, fk__sockaddr *out) {
  char host[256], port[16];
  const char *path = NULL;
  int kind =
      fk__addr_split(address, host, sizeof host, port, sizeof port, &path);
  if (kind < 0)
    return kind;
  if (kind != FK__ADDR_TCP)
    return fk__addr_unix(out, path, kind == FK__ADDR_ABSTRACT);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0 || res == NULL)
    return FK_E_ADDRESS;
  memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  freeaddrinfo(res);
  return FK_OK;
}

int fk__connect_start(const char *address, int *fd, int *in_progress) {
  fk__sockaddr sa;
  int rc = resolve_first(address, &sa);
  if (rc != FK_OK)
    return rc;
  int s = socket(sa.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0)
    return FK_E_SYSTEM;
  int r;
  while ((r = connect(s, (struct sockaddr *)&sa.ss, sa.len)) != 0 &&
         errno == EINTR)
    ;
  if (r != 0 && errno != EINPROGRESS) {
    int saved = errno;
    close(s);
    errno = saved;
    return FK_E_SYSTEM;
  }
  if (sa.ss.ss_family != AF_UNIX) {
    int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  *in_progress = r != 0;
  *fd = s;
  return FK_OK;
}
