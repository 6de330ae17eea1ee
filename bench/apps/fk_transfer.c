/*
 * fk_transfer: a large transfer to or from a FastCGI application, with the
 * web server's side doing no more than raw_copy does, so that what is
 * measured is the application's side.
 *
 *   fk_transfer post SOCKET_PATH BYTES
 *   fk_transfer get SOCKET_PATH BYTES
 *
 * post: one POST whose STDIN is BYTES bytes; each record's header and
 * 65528 bytes of content from one static buffer leave in one writev(2),
 * as raw_copy's writer sends its 64 KiB writes. get: one GET with
 * QUERY_STRING=BYTES (fk_bulk answers that many bytes). Either way the
 * answer is read to its end in 64 KiB reads, as raw_copy's reader reads,
 * its records parsed in place and the body thrown away.
 *
 * Prints "BYTES SECONDS GiB/s BODY WORD": BODY the response body's length,
 * WORD its first word (for fk_bulk's answer to a POST, the bytes it read).
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

/* BEGIN_REQUEST and PARAMS, ended; for a GET, the empty STDIN too. */
static int send_head(int fd, int post, uint64_t total) {
  uint8_t rec[1024];
  char length[32];
  snprintf(length, sizeof length, "%llu", (unsigned long long)total);
  size_t n = fk_encode_begin_request(rec, 1, FK_RESPONDER, 0);
  size_t at = n + FK_HEADER_LEN, content = 0;
  content +=
      add_param(rec + at + content, "REQUEST_METHOD", post ? "POST" : "GET");
  content += add_param(rec + at + content, "SCRIPT_NAME", "/");
  content += add_param(rec + at + content, "REQUEST_URI", "/");
  if (post) {
    content += add_param(rec + at + content, "CONTENT_TYPE",
                         "application/octet-stream");
    content += add_param(rec + at + content, "CONTENT_LENGTH", length);
  } else {
    content += add_param(rec + at + content, "QUERY_STRING", length);
  }
  fk_header_encode(rec + n, FK_PARAMS, 1, content, 0);
  n = at + content;
  n += fk_encode_stream_end(rec + n, FK_PARAMS, 1);
  if (!post)
    n += fk_encode_stream_end(rec + n, FK_STDIN, 1);
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

/* Reads to END_REQUEST, counting the STDOUT body (after the CGI headers)
 * in *body and keeping its first word in word. Returns the protocol
 * status, or -1. */
static int read_answer(int fd, uint64_t *body, char word[32]) {
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
      if (*body == 0)
        for (size_t i = 0; i < len && kept < 31 && d[i] > ' '; i++)
          word[kept++] = (char)d[i];
      word[kept] = '\0';
      *body += len;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "post") && strcmp(argv[1], "get"))) {
    fprintf(stderr, "usage: fk_transfer post|get SOCKET_PATH BYTES\n");
    return 2;
  }
  int post = strcmp(argv[1], "post") == 0;
  uint64_t total = strtoull(argv[3], NULL, 10);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(argv[2]) >= sizeof sa.sun_path) {
    fprintf(stderr, "fk_transfer: socket path too long\n");
    return 2;
  }
  strcpy(sa.sun_path, argv[2]);
  memset(body, 'x', sizeof body);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  double start = now();
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("fk_transfer: connect");
    return 1;
  }
  if (send_head(fd, post, total) != 0 || (post && send_body(fd, total) != 0)) {
    perror("fk_transfer: sending");
    return 1;
  }
  uint64_t got = 0;
  char word[32] = "";
  int status = read_answer(fd, &got, word);
  double secs = now() - start;
  if (status != FK_REQUEST_COMPLETE) {
    fprintf(stderr, "fk_transfer: no complete answer\n");
    return 1;
  }
  printf("%llu %.3f %.2f %llu %s\n", (unsigned long long)total, secs,
         (double)total / secs / (1024.0 * 1024 * 1024), (unsigned long long)got,
         word[0] ? word : "-");
  return 0;
}
