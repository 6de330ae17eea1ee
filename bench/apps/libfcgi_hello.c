/*
 * libfcgi_hello: hello world on the reference FastCGI library (libfcgi,
 * Debian's libfcgi-dev), for comparison.
 *
 *   libfcgi_hello SOCKET_PATH THREADS
 *
 * THREADS threads each loop on FCGX_Accept_r() over one listening socket,
 * the way libfcgi's own threaded example does (without its accept lock,
 * which Linux does not need). The response is the same bytes as
 * examples/hello's.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <fcgiapp.h>

static int listen_fd;

static void *serve(void *arg) {
  (void)arg;
  FCGX_Request req;
  if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
    return NULL;
  while (FCGX_Accept_r(&req) >= 0)
    FCGX_PutS("Content-Type: text/plain\r\n\r\nHello, world!\n", req.out);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: libfcgi_hello SOCKET_PATH THREADS\n");
    return 2;
  }
  int n = atoi(argv[2]);
  if (n < 1 || n > 64) {
    fprintf(stderr, "libfcgi_hello: THREADS must be 1 to 64\n");
    return 2;
  }
  if (FCGX_Init() != 0 || (listen_fd = FCGX_OpenSocket(argv[1], 4096)) < 0) {
    fprintf(stderr, "libfcgi_hello: cannot listen on %s\n", argv[1]);
    return 1;
  }
  pthread_t threads[64];
  for (int i = 1; i < n; i++)
    pthread_create(&threads[i], NULL, serve, NULL);
  serve(NULL);
  return 0;
}
