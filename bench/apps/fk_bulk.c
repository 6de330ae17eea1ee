/*
 * fk_bulk: large transfers through libfcgikit.
 *
 *   fk_bulk SOCKET_PATH
 *
 * GET /?N answers N bytes of body (text/plain, 'x' repeated), written 64 KiB
 * at a time from one static buffer. POST reads the body with fk_read() as
 * it arrives (stream_body: the handler starts once PARAMS is complete, and
 * at most body_memory unread bytes are held) and throws it away, then
 * answers the number of bytes read. One I/O thread and one handler
 * thread; everything else at its defaults.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgikit/fcgikit.h>

#define CHUNK (64 * 1024)

static char chunk[CHUNK];

static void send_bytes(fk_request *req, uint64_t n) {
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  while (n > 0) {
    size_t k = n < CHUNK ? (size_t)n : CHUNK;
    if (fk_write(req, chunk, k) != FK_OK)
      return; /* the web server went away */
    n -= k;
  }
}

static void count_body(fk_request *req) {
  char buf[CHUNK];
  uint64_t total = 0;
  long n;
  while ((n = fk_read(req, buf, sizeof buf)) > 0)
    total += (uint64_t)n;
  if (n < 0) {
    fk_status(req, 500, NULL);
    fk_end_headers(req);
    return;
  }
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  fk_printf(req, "%" PRIu64 "\n", total);
}

static void bulk(fk_request *req, void *arg) {
  (void)arg;
  const char *method = fk_param(req, "REQUEST_METHOD");
  if (method && strcmp(method, "POST") == 0) {
    count_body(req);
    return;
  }
  const char *q = fk_param(req, "QUERY_STRING");
  send_bytes(req, q ? strtoull(q, NULL, 10) : 0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fk_bulk SOCKET_PATH\n");
    return 2;
  }
  memset(chunk, 'x', sizeof chunk);
  fk_config cfg;
  fk_config_init(&cfg);
  cfg.threads = 1;
  cfg.handler_threads = 1;
  cfg.stream_body = 1;
  fk_server *s = NULL;
  int rc = fk_server_new(&s, &cfg);
  if (rc == FK_OK)
    rc = fk_server_handle(s, FK_RESPONDER, bulk, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(s, argv[1]);
  if (rc == FK_OK)
    rc = fk_server_run(s);
  if (rc != FK_OK)
    fprintf(stderr, "fk_bulk: %s\n", fk_strerror(rc));
  fk_server_free(s);
  return rc == FK_OK ? 0 : 1;
}
