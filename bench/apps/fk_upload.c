/*
 * fk_upload: a large upload to a FastCGI application, sent the way a web
 * server sends a body it holds in memory, so that what is measured is the
 * application's side.
 *
 *   fk_upload SOCKET_PATH BYTES
 *
 * One POST whose STDIN is BYTES bytes: each record's header and 65528
 * bytes of content from one static buffer leave in one writev(2), as
 * raw_copy's writer sends its 64 KiB writes. The answer is read to the
 * end. Prints "BYTES SECONDS GiB/s ANSWER" on one line, ANSWER being the
 * first word of the response body (for fk_bulk, the bytes it read).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgikit/protocol.h>

/* The largest record content that needs no padding. */
#define CONTENT (FK_MAX_CONTENT & ~7u)

static uint8_t body[CONTENT];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    size_t sent = (size_t)w;
    for (; n > 0 && sent >= iov->iov_len; n--, iov++)
      sent -= iov->iov_len;
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + sent;
      iov->iov_len -= sent;
    }
  }
  return 0;
}

static size_t add_param(uint8_t *out, const char *name, const char *value) {
  return fk_nv_encode(out, name, strlen(name), value, strlen(value));
}

/* BEGIN_REQUEST and PARAMS, ended. */
static int send_head(int fd, uint64_t total) {
  uint8_t rec[1024];
  char length[32];
  snprintf(length, sizeof length, "%llu", (unsigned long long)total);
  size_t n = fk_encode_begin_request(rec, 1, FK_RESPONDER, 0);
  size_t at = n + FK_HEADER_LEN, content = 0;
  content += add_param(rec + at + content, "REQUEST_METHOD", "POST");
  content += add_param(rec + at + content, "SCRIPT_NAME", "/");
  content += add_param(rec + at + content, "REQUEST_URI", "/");
  content +=
      add_param(rec + at + content, "CONTENT_TYPE", "application/octet-stream");
  content += add_param(rec + at + content, "CONTENT_LENGTH", length);
  fk_header_encode(rec + n, FK_PARAMS, 1, content, 0);
  n = at + content;
  n += fk_encode_stream_end(rec + n, FK_PARAMS, 1);
  struct iovec iov = {rec, n};
  return send_all(fd, &iov, 1);
}

static int send_body(int fd, uint64_t total) {
  uint8_t header[FK_HEADER_LEN];
  while (total > 0) {
    size_t k = total < CONTENT ? (size_t)total : CONTENT;
    fk_header_encode(header, FK_STDIN, 1, k, 0);
    struct iovec iov[2] = {{header, sizeof header}, {body, k}};
    if (send_all(fd, iov, 2) != 0)
      return -1;
    total -= k;
  }
  uint8_t end[FK_STREAM_END_SIZE];
  fk_encode_stream_end(end, FK_STDIN, 1);
  struct iovec iov = {end, sizeof end};
  return send_all(fd, &iov, 1);
}

/* Reads to END_REQUEST, keeping the start of the STDOUT body (after the
 * CGI headers) in answer. Returns the protocol status, or -1. */
static int read_answer(int fd, char answer[32]) {
  size_t kept = 0;
  static uint8_t in[64 * 1024];
  fk_parser p;
  fk_parser_init(&p);
  int in_body = 0;
  for (;;) {
    ssize_t n = read(fd, in, sizeof in);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    const uint8_t *at = in;
    size_t left = (size_t)n;
    for (;;) {
      fk_event ev;
      long used = fk_parser_feed(&p, at, left, &ev);
      if (used < 0)
        return -1;
      at += used;
      left -= (size_t)used;
      if (ev.type == FK_EV_NONE)
        break;
      if (ev.type == FK_EV_END)
        return (int)ev.protocol_status;
      if (ev.type != FK_EV_STREAM || ev.record_type != FK_STDOUT)
        continue;
      const uint8_t *d = ev.data;
      size_t len = ev.len;
      if (!in_body) { /* the CGI headers end with an empty line */
        const uint8_t *e = memmem(d, len, "\r\n\r\n", 4);
        size_t skip = 4;
        if (e == NULL)
          e = memmem(d, len, "\n\n", 2), skip = 2;
        if (e == NULL)
          continue;
        in_body = 1;
        len -= (size_t)(e + skip - d);
        d = e + skip;
      }
      for (size_t i = 0; i < len && kept < 31 && d[i] > ' '; i++)
        answer[kept++] = (char)d[i];
      answer[kept] = '\0';
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fk_upload SOCKET_PATH BYTES\n");
    return 2;
  }
  uint64_t total = strtoull(argv[2], NULL, 10);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof sa.sun_path) {
    fprintf(stderr, "fk_upload: socket path too long\n");
    return 2;
  }
  strcpy(sa.sun_path, argv[1]);
  memset(body, 'x', sizeof body);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  double start = now();
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("fk_upload: connect");
    return 1;
  }
  if (send_head(fd, total) != 0 || send_body(fd, total) != 0) {
    perror("fk_upload: sending");
    return 1;
  }
  char answer[32] = "";
  int status = read_answer(fd, answer);
  double secs = now() - start;
  if (status != FK_REQUEST_COMPLETE) {
    fprintf(stderr, "fk_upload: no complete answer\n");
    return 1;
  }
  printf("%llu %.3f %.2f %s\n", (unsigned long long)total, secs,
         (double)total / secs / (1024.0 * 1024 * 1024), answer);
  return 0;
}
