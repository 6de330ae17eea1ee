/*
 * upload: takes a request body as it arrives, without holding it.
 *
 *   upload ADDRESS
 *
 * The handler runs as soon as the params are in (stream_body) and reads
 * the body with fk_read() while the web server is still sending it; here
 * it only counts the bytes and computes the POSIX cksum(1) CRC of them,
 * where a real application would store them elsewhere. The answer is one
 * line, "CRC LENGTH", as `cksum` prints it for the same bytes. However
 * large the upload, the process holds at most body_memory of it.
 */
#include <stdint.h>
#include <stdio.h>

#include <fcgikit/fcgikit.h>

/* The CRC of cksum(1): polynomial 0x04C11DB7, most significant bit first,
 * over the bytes and then the length (least significant byte first, as
 * few bytes as it takes), complemented. */
static uint32_t crc_byte(uint32_t crc, uint8_t b) {
  crc ^= (uint32_t)b << 24;
  for (int i = 0; i < 8; i++)
    crc = crc & 0x80000000u ? crc << 1 ^ 0x04C11DB7u : crc << 1;
  return crc;
}

static void upload(fk_request *req, void *arg) {
  (void)arg;
  uint8_t buf[64 * 1024];
  uint64_t length = 0;
  uint32_t crc = 0;
  long n;
  while ((n = fk_read(req, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n; i++)
      crc = crc_byte(crc, buf[i]);
    length += (uint64_t)n;
  }
  if (n < 0) { /* aborted, too large, or the web server stopped sending */
    fk_status(req, n == FK_E_BODY_TOO_LARGE ? 413 : 400, NULL);
    fk_add_header(req, "Content-Type", "text/plain");
    fk_end_headers(req);
    fk_printf(req, "%s\n", fk_strerror((int)n));
    return;
  }
  for (uint64_t v = length; v != 0; v >>= 8)
    crc = crc_byte(crc, (uint8_t)v);
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  fk_printf(req, "%lu %llu\n", (unsigned long)~crc, (unsigned long long)length);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: upload ADDRESS\n");
    return 2;
  }
  fk_config cfg;
  fk_config_init(&cfg);
  cfg.stream_body = 1;
  cfg.handler_threads = 4; /* one per upload in progress */
  fk_server *s = NULL;
  int rc = fk_server_new(&s, &cfg);
  if (rc == FK_OK)
    rc = fk_server_handle(s, FK_RESPONDER, upload, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(s, argv[1]);
  if (rc == FK_OK)
    rc = fk_server_run(s);
  if (rc != FK_OK)
    fprintf(stderr, "upload: %s\n", fk_strerror(rc));
  fk_server_free(s);
  return rc == FK_OK ? 0 : 1;
}
