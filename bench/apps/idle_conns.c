/*
 * idle_conns: opens many keep-alive connections to a FastCGI application,
 * sends one request on each, reads the answers, then holds them open.
 *
 *   idle_conns SOCKET_PATH N [SCRIPT_FILENAME]
 *
 * When the listen backlog stays full for a second (the application does
 * not accept) it stops opening more. Answers are awaited until every request is
 * answered or none came for 3 seconds; an application that serves one
 * connection at a time (libfcgi, php-fpm) answers only a few. Then it
 * prints one line, "connected C answered A closed X of N" (X: closed by
 * the application), and holds every connection until SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HEADER_LEN 8
#define END_REQUEST 3
#define QUIET_MS 3000

typedef struct conn {
  int fd;
  int answered;
  int settled; /* answered or closed: nothing more to wait for */
  uint8_t hdr[HEADER_LEN];
  size_t nhdr;
  uint32_t skip;
} conn;

static uint8_t request[1024];
static size_t request_len;

static void put_header(uint8_t *p, unsigned type, size_t len) {
  uint8_t h[HEADER_LEN] = {
      1, (uint8_t)type, 0, 1, (uint8_t)(len >> 8), (uint8_t)len, 0, 0};
  memcpy(p, h, sizeof h);
}

static size_t put_pair(uint8_t *p, const char *name, const char *value) {
  size_t n = strlen(name), v = strlen(value);
  p[0] = (uint8_t)n;
  p[1] = (uint8_t)v;
  memcpy(p + 2, name, n);
  memcpy(p + 2 + n, value, v);
  return 2 + n + v;
}

/* BEGIN_REQUEST (responder, KEEP_CONN), the params a web server sends
 * for GET /, the end of PARAMS, the end of STDIN. Names and values are
 * under 128 bytes: one-byte lengths. */
static void build_request(const char *script) {
  uint8_t *p = request;
  put_header(p, 1, 8);
  uint8_t begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
  memcpy(p + HEADER_LEN, begin, 8);
  p += 16;
  uint8_t *params = p;
  p += HEADER_LEN;
  p += put_pair(p, "GATEWAY_INTERFACE", "CGI/1.1");
  p += put_pair(p, "SERVER_PROTOCOL", "HTTP/1.1");
  p += put_pair(p, "REQUEST_METHOD", "GET");
  p += put_pair(p, "REQUEST_URI", "/");
  p += put_pair(p, "SCRIPT_NAME", "/");
  p += put_pair(p, "QUERY_STRING", "");
  p += put_pair(p, "SERVER_NAME", "localhost");
  p += put_pair(p, "HTTP_HOST", "localhost");
  p += put_pair(p, "SCRIPT_FILENAME", script);
  put_header(params, 4, (size_t)(p - params - HEADER_LEN));
  put_header(p, 4, 0);
  p += HEADER_LEN;
  put_header(p, 5, 0);
  p += HEADER_LEN;
  request_len = (size_t)(p - request);
}

/* A full listen backlog refuses a non-blocking connect with EAGAIN: give
 * the application a second to accept before counting it as refused. */
static int dial(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  for (int tries = 0; tries < 1000; tries++) {
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
      return fd;
    if (errno != EAGAIN)
      break;
    usleep(1000);
  }
  close(fd);
  return -1;
}

/* Reads what is there; marks the connection answered at END_REQUEST. */
static int on_readable(conn *c) {
  uint8_t buf[4096];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0)
    return -1;
  for (ssize_t i = 0; i < n;) {
    if (c->skip > 0) {
      size_t k = (size_t)(n - i) < c->skip ? (size_t)(n - i) : c->skip;
      i += (ssize_t)k;
      c->skip -= (uint32_t)k;
      continue;
    }
    c->hdr[c->nhdr++] = buf[i++];
    if (c->nhdr < HEADER_LEN)
      continue;
    c->nhdr = 0;
    c->skip = ((uint32_t)c->hdr[4] << 8 | c->hdr[5]) + c->hdr[6];
    if (c->hdr[1] == END_REQUEST)
      c->answered = 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: idle_conns SOCKET_PATH N [SCRIPT_FILENAME]\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (n < 1 || n > 1000000) {
    fprintf(stderr, "idle_conns: N must be 1 to 1000000\n");
    return 2;
  }
  build_request(argc > 3 ? argv[3] : "/hello");
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)n + 16) {
    fprintf(stderr, "idle_conns: %ld connections need ulimit -n %ld\n", n,
            n + 16);
    return 1;
  }

  conn *conns = calloc((size_t)n, sizeof *conns);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (conns == NULL || epfd < 0)
    return 1;
  long connected = 0, answered = 0, closed = 0;
  for (long i = 0; i < n; i++) {
    conn *c = &conns[connected];
    if ((c->fd = dial(argv[1])) < 0)
      break; /* the backlog stays full: the application is not accepting */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    /* A request this small fits any socket buffer: one write. */
    if (write(c->fd, request, request_len) != (ssize_t)request_len ||
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      close(c->fd);
      continue;
    }
    connected++;
  }
  struct epoll_event events[256];
  long settled = 0;
  while (settled < connected) {
    int k = epoll_wait(epfd, events, 256, QUIET_MS);
    if (k <= 0)
      break;
    for (int i = 0; i < k; i++) {
      conn *c = events[i].data.ptr;
      int was = c->answered;
      if (on_readable(c) != 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        closed++;
        settled += !c->settled;
        c->settled = 1;
        continue;
      }
      if (c->answered && !was) {
        answered++;
        settled += !c->settled;
        c->settled = 1;
      }
    }
  }
  printf("connected %ld answered %ld closed %ld of %ld\n", connected, answered,
         closed, n);
  fflush(stdout);
  for (;;)
    pause();
}
