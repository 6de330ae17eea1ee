/*
 * hello: the smallest fcgikit application.
 *
 *   hello [ADDRESS]
 *
 * ADDRESS is a Unix socket path (anything with a '/'), host:port, or
 * nothing to serve on the listening socket inherited on fd 0 (spawn-fcgi,
 * mod_fcgid, lighttpd's bin-path) or from systemd.
 */
#include <fcgikit/fcgikit.h>

static void hello(fk_request *req, void *arg) {
  (void)arg;
  fk_puts(req, "Content-Type: text/plain\r\n\r\nHello, world!\n");
}

int main(int argc, char **argv) {
  /* Runs until SIGTERM, then finishes what is in flight and returns 0. */
  return fk_serve(argc > 1 ? argv[1] : NULL, hello, NULL);
}
