/*
 * The pools' listening sockets, and sd_notify(3).
 *
 * Making a socket is the library's work (lib/unix/listen.c: stale socket
 * files replaced, live ones refused, SO_REUSEADDR). What a process manager
 * adds is here: a socket the workers can block on, a file owned by the
 * web server's user, systemd's sockets matched to pools by address, and
 * the accept queue as the kernel counts it, for the status page.
 *
 * fcgikitd runs on one thread (manager.h): the static state below is not
 * locked.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "fcgikit/error.h"
#include "sockets.h"
#include "unix/unix.h"

/* More sockets than any unit passes; any beyond are closed at start. */
#define SYSTEMD_MAX 64

/* The sockets systemd passed, until sock_systemd_done(). */
static int sd_fds[SYSTEMD_MAX];
static int sd_claimed[SYSTEMD_MAX];
static int sd_count;
static int sd_taken; /* sock_systemd_init() ran */

/* The sock_diag socket, opened on first use and kept. */
static int diag_fd = -1;
static unsigned diag_seq;

static int fail(char *err, size_t errcap, const pool_config *pc,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "pool NAME: listen ADDRESS: " and the rest. Returns -1. */
static int fail(char *err, size_t errcap, const pool_config *pc,
                const char *fmt, ...) {
  int n = snprintf(err, errcap, "pool %s: listen %s: ", pc->name, pc->listen);
  if (n >= 0 && (size_t)n < errcap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A library error, errno included for FK_E_SYSTEM. */
static int fail_rc(char *err, size_t errcap, const pool_config *pc, int rc,
                   const char *hint) {
  return fail(err, errcap, pc, "%s%s",
              rc == FK_E_SYSTEM ? strerror(errno) : fk_strerror(rc), hint);
}

/* The library's sockets are non-blocking; a pool's is handed to programs
 * that accept on fd 0 in a blocking loop. Close-on-exec stays: the spawner
 * dup2()s the socket onto fd 0, which clears it there. */
static int make_blocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -1;
  return fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* --- systemd ------------------------------------------------------------ */

static int in_list(const int *fds, int n, int fd) {
  for (int i = 0; i < n; i++)
    if (fds[i] == fd)
      return 1;
  return 0;
}

static int is_stream(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
         type == SOCK_STREAM;
}

int sock_systemd_init(void) {
  if (sd_taken)
    return sd_count;
  sd_taken = 1;
  /* How many systemd passed, read before the library removes the
   * variables: whatever it passed that cannot serve a pool (not a listening
   * stream socket, or past SYSTEMD_MAX) is closed, so that it does not
   * reach the workers. */
  const char *env = getenv("LISTEN_FDS");
  long passed = env != NULL ? strtol(env, NULL, 10) : 0;
  int fds[SYSTEMD_MAX];
  int n = fk__listen_systemd(fds, SYSTEMD_MAX);
  if (env == NULL || getenv("LISTEN_FDS") != NULL)
    return 0; /* none, or LISTEN_PID names another process */
  for (int i = 0; i < n; i++) {
    if (is_stream(fds[i]))
      sd_fds[sd_count++] = fds[i];
    else
      close(fds[i]);
  }
  /* sd_listen_fds(3): they start at fd 3. */
  long open_max = sysconf(_SC_OPEN_MAX);
  if (open_max > 0 && passed > open_max)
    passed = open_max;
  for (long fd = 3; fd < 3 + passed; fd++)
    if (!in_list(fds, n, (int)fd))
      close((int)fd);
  return sd_count;
}

void sock_systemd_done(void) {
  for (int i = 0; i < sd_count; i++)
    if (!sd_claimed[i])
      close(sd_fds[i]);
  sd_count = 0;
}

/* Nonzero when fd is bound to the socket file at path. */
static int bound_to_path(int fd, const char *path) {
  struct sockaddr_un sun;
  socklen_t len = sizeof sun;
  const size_t off = offsetof(struct sockaddr_un, sun_path);
  if (getsockname(fd, (struct sockaddr *)&sun, &len) != 0 ||
      sun.sun_family != AF_UNIX || len <= off)
    return 0;
  if (len > sizeof sun)
    len = sizeof sun;
  /* A path may fill sun_path with no NUL after it. */
  size_t n = strnlen(sun.sun_path, len - off);
  return sun.sun_path[0] != '\0' && n == strlen(path) &&
         memcmp(sun.sun_path, path, n) == 0;
}

/* The address bytes and port of an IP socket address; returns the
 * address's length (4 or 16), 0 for another family. */
static size_t inet_parts(const struct sockaddr *sa, const unsigned char **addr,
                         unsigned *port) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    *addr = (const unsigned char *)&in->sin_addr;
    *port = ntohs(in->sin_port);
    return 4;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *addr = in6->sin6_addr.s6_addr;
    *port = ntohs(in6->sin6_port);
    return 16;
  }
  return 0;
}

/* Nonzero when fd is bound to port and one of the addresses in want, or,
 * want NULL (the pool asked for ":port"), to the any-address of either
 * family. */
static int bound_to_tcp(int fd, const struct addrinfo *want, unsigned port) {
  static const unsigned char any[16];
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  const unsigned char *a, *b;
  unsigned p, q;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  size_t alen = inet_parts((struct sockaddr *)&ss, &a, &p);
  if (alen == 0 || p != port)
    return 0;
  if (want == NULL)
    return memcmp(a, any, alen) == 0;
  for (; want != NULL; want = want->ai_next)
    if (want->ai_family == ss.ss_family &&
        inet_parts(want->ai_addr, &b, &q) == alen && memcmp(a, b, alen) == 0)
      return 1;
  return 0;
}

/* The unclaimed inherited socket bound where the pool listens: its index,
 * or -1. path for Unix, else host and port. */
static int systemd_find(const char *path, const char *host, const char *port) {
  int unclaimed = 0;
  for (int i = 0; i < sd_count; i++)
    unclaimed += !sd_claimed[i];
  if (unclaimed == 0)
    return -1;
  struct addrinfo *res = NULL;
  if (path == NULL && *host != '\0') {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    /* A name that does not resolve matches nothing; fk__listen_tcp()
     * reports it. */
    if (getaddrinfo(host, port, &hints, &res) != 0)
      return -1;
  }
  int found = -1;
  for (int i = 0; i < sd_count && found < 0; i++) {
    if (sd_claimed[i])
      continue;
    if (path != NULL ? bound_to_path(sd_fds[i], path)
                     : bound_to_tcp(sd_fds[i], res, (unsigned)atoi(port)))
      found = i;
  }
  if (res != NULL)
    freeaddrinfo(res);
  return found;
}

/* systemd made the socket, with its own mode, owner and backlog
 * (SocketMode=, SocketUser=, Backlog=): those stay as the unit says. */
static int take_systemd(const pool_config *pc, int i, listen_socket *out,
                        char *err, size_t errcap) {
  if (make_blocking(sd_fds[i]) != 0)
    return fail(err, errcap, pc, "socket from systemd: %s", strerror(errno));
  sd_claimed[i] = 1;
  out->fd = sd_fds[i];
  out->from_systemd = 1;
  return 0;
}

/* --- Sockets of our own ------------------------------------------------- */

/* A user or group given as a number, for ids without a name. */
static int numeric_id(const char *s, unsigned *id) {
  if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
    return -1;
  errno = 0;
  unsigned long v = strtoul(s, NULL, 10);
  /* (uid_t)-1 would mean "leave unchanged" to chown(). */
  if (errno != 0 || v >= (unsigned)-1)
    return -1;
  *id = (unsigned)v;
  return 0;
}

/* listen.owner and listen.group as ids; (uid_t)-1 and (gid_t)-1 for the
 * ones not set. */
static int owner_ids(const pool_config *pc, uid_t *uid, gid_t *gid, char *err,
                     size_t errcap) {
  unsigned id;
  *uid = (uid_t)-1;
  *gid = (gid_t)-1;
  if (pc->listen_owner != NULL) {
    struct passwd *pw = getpwnam(pc->listen_owner);
    if (pw != NULL)
      *uid = pw->pw_uid;
    else if (numeric_id(pc->listen_owner, &id) == 0)
      *uid = (uid_t)id;
    else
      return fail(err, errcap, pc, "listen.owner %s: no such user",
                  pc->listen_owner);
  }
  if (pc->listen_group != NULL) {
    struct group *gr = getgrnam(pc->listen_group);
    if (gr != NULL)
      *gid = gr->gr_gid;
    else if (numeric_id(pc->listen_group, &id) == 0)
      *gid = (gid_t)id;
    else
      return fail(err, errcap, pc, "listen.group %s: no such group",
                  pc->listen_group);
  }
  return 0;
}

static void close_unlink(int fd, const char *path) {
  int saved = errno;
  close(fd);
  unlink(path);
  errno = saved;
}

static int open_unix(const pool_config *pc, const char *path, int as_root,
                     listen_socket *out, char *err, size_t errcap) {
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  if (as_root && owner_ids(pc, &uid, &gid, err, errcap) != 0)
    return -1;
  int fd;
  int rc = fk__listen_unix(path, pc->listen_mode, pc->listen_backlog, &fd);
  if (rc != FK_OK) {
    const char *hint = "";
    if (rc == FK_E_SYSTEM && errno == EADDRINUSE)
      hint = " (another process accepts there)";
    else if (rc == FK_E_SYSTEM && errno == EEXIST)
      hint = " (and is not a socket)";
    return fail_rc(err, errcap, pc, rc, hint);
  }
  /* The file as it is now is the one sock_close() may remove. lchown():
   * in a directory others can write to, the name could be a link to
   * something else by now. */
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    close(fd);
    return fail(err, errcap, pc, "the socket file was replaced as it was made");
  }
  if ((uid != (uid_t)-1 || gid != (gid_t)-1) && lchown(path, uid, gid) != 0) {
    close_unlink(fd, path);
    return fail(err, errcap, pc, "chown: %s", strerror(errno));
  }
  if (make_blocking(fd) != 0) {
    close_unlink(fd, path);
    return fail(err, errcap, pc, "%s", strerror(errno));
  }
  out->path = strdup(path);
  if (out->path == NULL) {
    close_unlink(fd, path);
    return fail(err, errcap, pc, "out of memory");
  }
  out->fd = fd;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return 0;
}

static int open_tcp(const pool_config *pc, const char *host, const char *port,
                    listen_socket *out, char *err, size_t errcap) {
  int fd;
  int rc = fk__listen_tcp(host, port, pc->listen_backlog, &fd);
  if (rc != FK_OK)
    return fail_rc(err, errcap, pc, rc,
                   rc == FK_E_SYSTEM && errno == EADDRINUSE
                       ? " (another process listens there)"
                       : "");
  if (make_blocking(fd) != 0) {
    int saved = errno;
    close(fd);
    return fail(err, errcap, pc, "%s", strerror(saved));
  }
  out->fd = fd;
  return 0;
}

int sock_open(const pool_config *pc, int as_root, listen_socket *out, char *err,
              size_t errcap) {
  char host[256] = "", port[8] = "", spec[8];
  const char *path = NULL;
  memset(out, 0, sizeof *out);
  out->fd = -1;
  if (pc->listen_is_unix) {
    path = pc->listen;
    if (strncmp(path, "unix:", 5) == 0)
      path += 5;
  } else {
    /* A port alone is every address, as ":port". */
    const char *spec_in = pc->listen;
    size_t digits = strspn(spec_in, "0123456789");
    if (digits > 0 && digits == strlen(spec_in) && digits < sizeof spec - 1) {
      snprintf(spec, sizeof spec, ":%s", pc->listen);
      spec_in = spec;
    }
    int kind =
        fk__addr_split(spec_in, host, sizeof host, port, sizeof port, &path);
    if (kind < 0)
      return fail_rc(err, errcap, pc, kind, "");
    if (kind != FK__ADDR_TCP)
      return fail(err, errcap, pc, "not a TCP address");
    path = NULL;
  }
  out->address = strdup(pc->listen);
  if (out->address == NULL)
    return fail(err, errcap, pc, "out of memory");
  int i = systemd_find(path, host, port);
  int rc = i >= 0 ? take_systemd(pc, i, out, err, errcap)
           : path ? open_unix(pc, path, as_root, out, err, errcap)
                  : open_tcp(pc, host, port, out, err, errcap);
  if (rc != 0) {
    free(out->address);
    out->address = NULL;
  }
  return rc;
}

void sock_close(listen_socket *s) {
  if (s->fd < 0)
    return;
  /* Only the file made for this socket: a newer fcgikitd may have replaced
   * it at the same path since. */
  struct stat st;
  if (s->path != NULL && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
      st.st_ino == s->ino)
    unlink(s->path);
  close(s->fd);
  free(s->path);
  free(s->address);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

/* --- The accept queue --------------------------------------------------- */

/* For a listening TCP socket Linux puts the accept queue's length and its
 * limit in these two fields (tcp_get_info(): sk_ack_backlog and
 * sk_max_ack_backlog). */
static int tcp_queue(int fd, unsigned *queued, unsigned *backlog) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
      len < offsetof(struct tcp_info, tcpi_sacked) + sizeof ti.tcpi_sacked ||
      ti.tcpi_state != TCP_LISTEN)
    return -1;
  *queued = ti.tcpi_unacked;
  *backlog = ti.tcpi_sacked;
  return 0;
}

static int diag_open(void) {
  if (diag_fd < 0)
    diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  return diag_fd;
}

static void diag_reset(void) {
  if (diag_fd >= 0)
    close(diag_fd);
  diag_fd = -1;
}

/* The UNIX_DIAG_RQLEN attribute of one answer about socket ino. For a
 * listening socket the kernel reports the connections waiting in its
 * receive queue and its sk_max_ack_backlog (unix_diag.c, sk_diag_show_rqlen).
 * Returns 1 when found, 0 when the message is about something else, -1 on
 * a malformed one. */
static int diag_parse(const struct nlmsghdr *nh, uint32_t ino, unsigned *queued,
                      unsigned *backlog) {
  struct unix_diag_msg udm;
  if (nh->nlmsg_len < NLMSG_LENGTH(sizeof udm))
    return -1;
  memcpy(&udm, NLMSG_DATA(nh), sizeof udm);
  if (udm.udiag_ino != ino)
    return 0;
  const char *attrs = (const char *)NLMSG_DATA(nh) + NLMSG_ALIGN(sizeof udm);
  const struct rtattr *rta = (const struct rtattr *)attrs;
  int left = (int)(nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof udm)));
  for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
    struct unix_diag_rqlen rq;
    if (rta->rta_type != UNIX_DIAG_RQLEN || RTA_PAYLOAD(rta) < sizeof rq)
      continue;
    memcpy(&rq, RTA_DATA(rta), sizeof rq);
    *queued = rq.udiag_rqueue;
    *backlog = rq.udiag_wqueue;
    return 1;
  }
  return -1;
}

/* The messages in one datagram from the kernel: 1 when the answer about
 * ino is among them, -1 when the kernel said no, 0 to read on. Answers to
 * an earlier call that gave up are skipped by their sequence number. */
static int diag_answer(const char *buf, size_t n, uint32_t ino,
                       unsigned *queued, unsigned *backlog) {
  const struct nlmsghdr *nh;
  for (size_t off = 0; off + sizeof *nh <= n;
       off += NLMSG_ALIGN(nh->nlmsg_len)) {
    nh = (const struct nlmsghdr *)(buf + off);
    if (nh->nlmsg_len < sizeof *nh || nh->nlmsg_len > n - off)
      return -1;
    if (nh->nlmsg_seq != diag_seq)
      continue;
    if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE)
      return -1; /* no such socket, or no unix_diag in this kernel */
    if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
      continue;
    int rc = diag_parse(nh, ino, queued, backlog);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* sock_diag(7), asking about one socket by inode: with NLM_F_REQUEST and
 * no NLM_F_DUMP the kernel looks up udiag_ino (udiag_states applies to
 * dumps only) and answers before sendto() returns, so the answer is read
 * without waiting. */
static int unix_queue(int fd, unsigned *queued, unsigned *backlog) {
  struct stat st;
  if (fstat(fd, &st) != 0 || diag_open() < 0)
    return -1;
  struct {
    struct nlmsghdr nh;
    struct unix_diag_req req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nh.nlmsg_len = sizeof msg;
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST;
  msg.nh.nlmsg_seq = ++diag_seq;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = 1u << TCP_LISTEN;
  msg.req.udiag_ino = (uint32_t)st.st_ino;
  msg.req.udiag_show = UDIAG_SHOW_RQLEN;
  msg.req.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(diag_fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel,
             sizeof kernel) != (ssize_t)sizeof msg) {
    diag_reset();
    return -1;
  }
  union {
    struct nlmsghdr nh; /* aligns the buffer for the headers */
    char bytes[8192];
  } buf;
  for (;;) {
    ssize_t n = recv(diag_fd, &buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR)
        diag_reset();
      return -1;
    }
    int rc =
        diag_answer(buf.bytes, (size_t)n, msg.req.udiag_ino, queued, backlog);
    if (rc != 0)
      return rc > 0 ? 0 : -1;
  }
}

int sock_queue(const listen_socket *s, unsigned *queued, unsigned *backlog) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (s->fd < 0 || getsockopt(s->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    return -1;
  if (domain == AF_UNIX)
    return unix_queue(s->fd, queued, backlog);
  if (domain == AF_INET || domain == AF_INET6)
    return tcp_queue(s->fd, queued, backlog);
  return -1;
}

/* --- sd_notify ---------------------------------------------------------- */

int notify(const char *state) {
  const char *where = getenv("NOTIFY_SOCKET");
  if (where == NULL || *where == '\0')
    return 0;
  /* A path, or '@' for the abstract namespace (whose names start with a
   * NUL byte). Other forms (vsock:) are not for a local service. */
  int abstract = where[0] == '@';
  fk__sockaddr addr;
  if ((!abstract && where[0] != '/') ||
      fk__addr_unix(&addr, where + abstract, abstract) != FK_OK)
    return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  size_t len = strlen(state);
  ssize_t n = sendto(fd, state, len, MSG_NOSIGNAL,
                     (const struct sockaddr *)&addr.ss, addr.len);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)len ? 0 : -1;
}
