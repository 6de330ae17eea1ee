/*
 * fk_hello: examples/hello with the number of I/O threads chosen.
 *
 *   fk_hello SOCKET_PATH THREADS [MAX_CONNS]
 *
 * examples/hello serves with fk_serve(), which takes one I/O thread per
 * CPU; the benchmarks compare one and two threads, and hold ten thousand
 * idle connections, more than the default max_conns (1024). Everything
 * else is left at its default, and the response is the same bytes as
 * hello's.
 */
#include <stdio.h>
#include <stdlib.h>

#include <fcgikit/fcgikit.h>

static void hello(fk_request *req, void *arg) {
  (void)arg;
  fk_puts(req, "Content-Type: text/plain\r\n\r\nHello, world!\n");
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: fk_hello SOCKET_PATH THREADS [MAX_CONNS]\n");
    return 2;
  }
  fk_config cfg;
  fk_config_init(&cfg);
  cfg.threads = (unsigned)strtoul(argv[2], NULL, 10);
  if (argc > 3)
    cfg.max_conns = (unsigned)strtoul(argv[3], NULL, 10);
  fk_server *s = NULL;
  int rc = fk_server_new(&s, &cfg);
  if (rc == FK_OK)
    rc = fk_server_handle(s, FK_RESPONDER, hello, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(s, argv[1]);
  if (rc == FK_OK)
    rc = fk_server_run(s);
  if (rc != FK_OK)
    fprintf(stderr, "fk_hello: %s\n", fk_strerror(rc));
  fk_server_free(s);
  return rc == FK_OK ? 0 : 1;
}
