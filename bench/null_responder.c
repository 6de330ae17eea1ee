/*
 * null_responder: the least work a FastCGI responder can do, as a ceiling
 * for the benchmarks.
 *
 *   null_responder SOCKET_PATH [THREADS]
 *
 * It listens on a Unix socket and answers every request with the same
 * bytes: STDOUT "Status: 200 OK", "Content-Type: text/plain", an empty
 * line and "Hello, world!\n", then the empty STDOUT record and
 * END_REQUEST, all in one write. It reads only record headers (and the
 * eight bytes of BEGIN_REQUEST's body, for its flags); params and body are
 * skipped unread. It keeps connections alive when asked (FCGI_KEEP_CONN),
 * takes any number of requests at once on one connection, and answers
 * FCGI_GET_VALUES, so a client that asks first will multiplex it.
 *
 * THREADS (default 1) threads each run their own epoll loop and accept on
 * the one listening socket (Unix sockets have no SO_REUSEPORT). SIGTERM or
 * SIGINT prints how many connections and requests each thread served on
 * standard error and exits.
 *
 * Not a general application: no params, no body, no roles, no limits
 * beyond what keeps memory bounded. Nothing here is shared with libfcgikit.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* FastCGI 1.0, sections 3.3, 5 and 8. */
#define HEADER_LEN 8
#define BEGIN_REQUEST 1
#define STDIN 5
#define GET_VALUES 9
#define GET_VALUES_RESULT 10
#define KEEP_CONN 1

/* One read sees at most IN_SIZE new bytes and a carried piece shorter than
 * two headers; every reply answers a record of at least one header, so no
 * read can ask for more replies than OUT_SIZE holds. */
#define IN_SIZE (16 * 1024)
#define MAX_REPLY 128
#define OUT_SIZE ((IN_SIZE + 2 * HEADER_LEN) / HEADER_LEN * MAX_REPLY)

static const char body[] = "Status: 200 OK\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "Hello, world!\n";
#define BODY_LEN (sizeof body - 1)
#define BODY_PAD ((8 - BODY_LEN % 8) % 8)

/* The three values every client asks about (spec 4.1); sent whatever the
 * query names, which no client minds. */
static const char values[] = "\x0e\x04"
                             "FCGI_MAX_CONNS"
                             "4096"
                             "\x0d\x04"
                             "FCGI_MAX_REQS"
                             "4096"
                             "\x0f\x01"
                             "FCGI_MPXS_CONNS"
                             "1";
#define VALUES_LEN (sizeof values - 1)

typedef struct conn {
  int fd;
  uint8_t carry[2 * HEADER_LEN]; /* a header (and BEGIN body) cut short */
  size_t ncarry;
  uint32_t skip;     /* content and padding of the current record left */
  unsigned close_id; /* a request sent without KEEP_CONN: close after it */
  int closing;       /* that request is answered: close once sent */
  uint8_t *pending;  /* output the socket did not take, or NULL */
  size_t npending;
} conn;

typedef struct worker {
  pthread_t thread;
  int lfd, epfd;
  atomic_ulong conns, requests;
  uint8_t in[2 * HEADER_LEN + IN_SIZE];
  uint8_t out[OUT_SIZE];
} worker;

static void put_header(uint8_t *p, unsigned type, unsigned id, size_t len,
                       size_t pad) {
  p[0] = 1;
  p[1] = (uint8_t)type;
  p[2] = (uint8_t)(id >> 8);
  p[3] = (uint8_t)id;
  p[4] = (uint8_t)(len >> 8);
  p[5] = (uint8_t)len;
  p[6] = (uint8_t)pad;
  p[7] = 0;
}

/* STDOUT with the body, the empty STDOUT, END_REQUEST (complete, 0). */
static size_t put_response(uint8_t *p, unsigned id) {
  uint8_t *start = p;
  put_header(p, 6, id, BODY_LEN, BODY_PAD);
  memcpy(p + HEADER_LEN, body, BODY_LEN);
  memset(p + HEADER_LEN + BODY_LEN, 0, BODY_PAD);
  p += HEADER_LEN + BODY_LEN + BODY_PAD;
  put_header(p, 6, id, 0, 0);
  p += HEADER_LEN;
  put_header(p, 3, id, 8, 0);
  memset(p + HEADER_LEN, 0, 8);
  return (size_t)(p + 2 * HEADER_LEN - start);
}

static size_t put_values(uint8_t *p) {
  put_header(p, GET_VALUES_RESULT, 0, VALUES_LEN, 0);
  memcpy(p + HEADER_LEN, values, VALUES_LEN);
  return HEADER_LEN + VALUES_LEN;
}

static void conn_close(worker *w, conn *c) {
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pending);
  free(c);
}

/* Writes out; keeps what the socket did not take and waits for EPOLLOUT
 * (not reading meanwhile, so a client that does not read cannot make the
 * queue grow). Returns -1 when the connection is gone. */
static int conn_write(worker *w, conn *c, const uint8_t *out, size_t n) {
  while (n > 0) {
    ssize_t k = send(c->fd, out, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno == EAGAIN)
      break;
    if (k < 0)
      return -1;
    out += k;
    n -= (size_t)k;
  }
  if (n == 0)
    return 0;
  if ((c->pending = malloc(n)) == NULL)
    return -1;
  memcpy(c->pending, out, n);
  c->npending = n;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  return epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int conn_flush_pending(worker *w, conn *c) {
  uint8_t *p = c->pending;
  size_t n = c->npending;
  c->pending = NULL;
  c->npending = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  int rc = epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  if (rc == 0)
    rc = conn_write(w, c, p, n);
  free(p);
  return rc == 0 && c->closing && c->pending == NULL ? -1 : rc;
}

/* Reads once, walks the record headers, answers what is complete.
 * Returns -1 when the connection is to be closed. */
static int conn_read(worker *w, conn *c) {
  uint8_t *buf = w->in;
  memcpy(buf, c->carry, c->ncarry);
  ssize_t n = recv(c->fd, buf + c->ncarry, IN_SIZE, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0)
    return -1;
  size_t len = c->ncarry + (size_t)n, pos = 0, out = 0;
  c->ncarry = 0;
  while (pos < len) {
    if (c->skip > 0) {
      size_t k = len - pos < c->skip ? len - pos : c->skip;
      pos += k;
      c->skip -= (uint32_t)k;
      continue;
    }
    const uint8_t *h = buf + pos;
    if (len - pos < HEADER_LEN)
      break;
    if (h[0] != 1)
      return -1;
    unsigned type = h[1], id = (unsigned)h[2] << 8 | h[3];
    uint32_t clen = (uint32_t)h[4] << 8 | h[5];
    if (type == BEGIN_REQUEST) {
      if (clen != 8)
        return -1;
      if (len - pos < 2 * HEADER_LEN)
        break;
      if (!(h[HEADER_LEN + 2] & KEEP_CONN))
        c->close_id = id;
      pos += 2 * HEADER_LEN;
      c->skip = h[6];
      continue;
    }
    pos += HEADER_LEN;
    c->skip = clen + h[6];
    if (type == STDIN && clen == 0) {
      out += put_response(w->out + out, id);
      atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
      if (id == c->close_id) {
        c->closing = 1;
        break;
      }
    } else if (type == GET_VALUES) {
      out += put_values(w->out + out);
    }
  }
  if (!c->closing) {
    c->ncarry = len - pos; /* < 2 headers: see the breaks above */
    memcpy(c->carry, buf + pos, c->ncarry);
  }
  if (out > 0 && conn_write(w, c, w->out, out) != 0)
    return -1;
  return c->closing && c->pending == NULL ? -1 : 0;
}

/* EPOLLEXCLUSIVE wakes one thread per new connection, and it accepts one:
 * the listener stays readable while more wait, so a burst of connections
 * spreads over the threads that are free to take them. */
static void on_accept(worker *w) {
  int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  conn *c = calloc(1, sizeof *c);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (c == NULL || epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    free(c);
    close(fd);
    return;
  }
  c->fd = fd;
  atomic_fetch_add_explicit(&w->conns, 1, memory_order_relaxed);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(w->epfd, events, 64, -1);
    for (int i = 0; i < n; i++) {
      conn *c = events[i].data.ptr;
      if (c == NULL) {
        on_accept(w);
        continue;
      }
      int rc = 0;
      if (c->pending)
        rc = conn_flush_pending(w, c);
      else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        rc = conn_read(w, c);
      if (rc != 0)
        conn_close(w, c);
    }
  }
  return NULL;
}

static int listen_unix(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "null_responder: socket path too long\n");
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 4096) != 0) {
    fprintf(stderr, "null_responder: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: null_responder SOCKET_PATH [THREADS]\n");
    return 2;
  }
  int nthreads = argc > 2 ? atoi(argv[2]) : 1;
  if (nthreads < 1 || nthreads > 64) {
    fprintf(stderr, "null_responder: THREADS must be 1 to 64\n");
    return 2;
  }
  /* The threads inherit the mask; only main takes the signals. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = listen_unix(argv[1]);
  if (lfd < 0)
    return 1;
  worker *workers = calloc((size_t)nthreads, sizeof *workers);
  if (workers == NULL)
    return 1;
  for (int i = 0; i < nthreads; i++) {
    worker *w = &workers[i];
    w->lfd = lfd;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                             .data.ptr = NULL};
    if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, lfd, &ev) != 0 ||
        pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      fprintf(stderr, "null_responder: cannot start thread %d\n", i);
      return 1;
    }
  }
  int sig;
  sigwait(&set, &sig);
  for (int i = 0; i < nthreads; i++)
    fprintf(stderr,
            "null_responder: thread %d: %lu connections, %lu requests\n", i,
            atomic_load(&workers[i].conns), atomic_load(&workers[i].requests));
  unlink(argv[1]);
  return 0;
}
