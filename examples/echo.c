/*
 * echo: answers every request with what it received.
 *
 *   echo [ADDRESS]
 *
 * The response is status 200, Content-Type: text/plain, then one
 * NAME=VALUE line per param in the order received, a line "--", and the
 * request body byte for byte. Tests and interop checks rely on exactly
 * this shape. Two more headers tell which connection the request came on
 * and how many requests were in flight on it (X-Fcgikit-Conn,
 * X-Fcgikit-Inflight): evidence that a web server keeps its connections
 * alive and multiplexes them.
 *
 * The library has read the whole body before the handler runs (kept in
 * memory up to body_memory, in a temporary file past it), so echoing a
 * 1 GB POST needs no more memory than a small one, and no web server can
 * deadlock waiting for us to read while we write.
 */
#include <stdio.h>
#include <string.h>

#include <fcgikit/fcgikit.h>

static void echo(fk_request *req, void *arg) {
  (void)arg;
  fk_status(req, 200, NULL);
  fk_add_header(req, "Content-Type", "text/plain");
  fk_printf(req, "X-Fcgikit-Conn: %llu\r\nX-Fcgikit-Inflight: %u\r\n",
            (unsigned long long)fk_request_conn_id(req),
            fk_request_conn_inflight(req));
  fk_end_headers(req);

  for (size_t i = 0; i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    fk_puts(req, name);
    fk_write(req, "=", 1);
    fk_write(req, value, len);
    fk_write(req, "\n", 1);
  }
  fk_puts(req, "--\n");

  char buf[64 * 1024];
  long n;
  while ((n = fk_read(req, buf, sizeof buf)) > 0) {
    /* FK_E_ABORTED: the web server gave up on this request; stop early. */
    if (fk_write(req, buf, (size_t)n) != FK_OK)
      return;
  }
  if (n < 0)
    fk_eprintf(req, "echo: reading the body: %s\n", fk_strerror((int)n));
}

int main(int argc, char **argv) {
  return fk_serve(argc > 1 ? argv[1] : NULL, echo, NULL);
}
