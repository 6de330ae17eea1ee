/*
 * Listening sockets: Unix paths, TCP, fd 0 and systemd socket activation.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgikit/error.h"
#include "unix/unix.h"

int fk__fd_prepare(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -1;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
    return -1;
  return 0;
}

int fk__is_listening(int fd) {
  int on = 0;
  socklen_t len = sizeof on;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0)
    return 0;
  return on != 0;
}

/* A socket file nobody accepts on is left over from a process that died:
 * replace it. One that answers belongs to a live server: leave it alone. */
static int clear_stale_socket(const char *path, const fk__sockaddr *addr) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? FK_OK : FK_E_SYSTEM;
  if (!S_ISSOCK(st.st_mode)) {
    errno = EEXIST;
    return FK_E_SYSTEM;
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0)
    return FK_E_SYSTEM;
  int live = connect(probe, (const struct sockaddr *)&addr->ss, addr->len) == 0;
  close(probe);
  if (live) {
    errno = EADDRINUSE;
    return FK_E_SYSTEM;
  }
  return unlink(path) == 0 || errno == ENOENT ? FK_OK : FK_E_SYSTEM;
}

int fk__listen_unix(const char *path, int mode, int backlog, int *fd) {
  fk__sockaddr addr;
  int rc = fk__addr_unix(&addr, path, 0);
  if (rc != FK_OK)
    return rc;
  rc = clear_stale_socket(path, &addr);
  if (rc != FK_OK)
    return rc;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0)
    return FK_E_SYSTEM;
  if (bind(s, (struct sockaddr *)&addr.ss, addr.len) < 0)
    goto fail_close;
  if (mode >= 0 && chmod(path, (mode_t)mode) < 0)
    goto fail_unlink;
  if (listen(s, backlog) < 0)
    goto fail_unlink;
  *fd = s;
  return FK_OK;
fail_unlink:;
  int saved = errno;
  unlink(path);
  errno = saved;
fail_close:
  saved = errno;
  close(s);
  errno = saved;
  return FK_E_SYSTEM;
}

/* Binds and listens on the first address that works. */
static int bind_first(const struct addrinfo *res, int backlog, int *fd,
                      int dual_stack) {
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   ai->ai_protocol);
    if (s < 0)
      continue;
    int on = 1, off = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (dual_stack)
      setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, backlog) == 0) {
      *fd = s;
      return FK_OK;
    }
    int saved = errno;
    close(s);
    errno = saved;
  }
  return FK_E_SYSTEM;
}

int fk__listen_tcp(const char *host, const char *port, int backlog, int *fd) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  /* No host: every address, IPv6 and IPv4 on one dual-stack socket where
   * the system has IPv6, else IPv4 only. */
  if (*host == '\0') {
    hints.ai_family = AF_INET6;
    if (getaddrinfo("::", port, &hints, &res) == 0) {
      int rc = bind_first(res, backlog, fd, 1);
      freeaddrinfo(res);
      if (rc == FK_OK)
        return rc;
    }
    host = "0.0.0.0";
    hints.ai_family = AF_INET;
  }
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0)
    return FK_E_ADDRESS;
  int rc = bind_first(res, backlog, fd, 0);
  freeaddrinfo(res);
  return rc;
}

int fk__listen_systemd(int *fds, int cap) {
  const char *pid = getenv("LISTEN_PID");
  const char *nfds = getenv("LISTEN_FDS");
  if (pid == NULL || nfds == NULL)
    return 0;
  char *end;
  long want_pid = strtol(pid, &end, 10);
  if (*end != '\0' || want_pid != (long)getpid())
    return 0;
  long n = strtol(nfds, &end, 10);
  if (*end != '\0' || n <= 0)
    return 0;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  int got = 0;
  /* sd_listen_fds(3): the sockets start at fd 3 (SD_LISTEN_FDS_START). */
  for (long i = 0; i < n && got < cap; i++) {
    int fd = 3 + (int)i;
    if (fk__is_listening(fd) && fk__fd_prepare(fd) == 0)
      fds[got++] = fd;
  }
  return got;
}
