/*
 * An echo application built on libfcgi (Debian libfcgi-dev), the FastCGI
 * reference kit: a plain FCGX_Accept_r loop, as its users write them.
 *
 *   libfcgi_echo ADDRESS [THREADS]
 *
 * ADDRESS is what FCGX_OpenSocket takes: a Unix socket path, or HOST:PORT
 * (":PORT" for every address).
 * THREADS (default 1) threads each run the loop on the shared socket.
 *
 * The answer depends on SCRIPT_NAME:
 *   /missing  Status: 404 Not Found and a short body
 *   /stderr   a line on the FCGI_STDERR stream, then the echo
 *   /exit3    the echo, ended with application status 3 in END_REQUEST
 *   anything  the echo: "NAME=VALUE" for every param in the order it
 *             arrived, a line "--", then the request body byte for byte
 *             (the format tests/lib.sh's echo_params and echo_body read)
 *
 * Build: cc -o libfcgi_echo libfcgi_echo.c -lfcgi -lpthread
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int listen_fd;

static void answer(FCGX_Request *req) {
  const char *script = FCGX_GetParam("SCRIPT_NAME", req->envp);
  /* libfcgi keeps the last status set on an FCGX_Request for every later
   * request it accepts: reset it. */
  FCGX_SetExitStatus(0, req->out);
  if (script && strcmp(script, "/missing") == 0) {
    FCGX_FPrintF(req->out, "Status: 404 Not Found\r\n"
                           "Content-Type: text/plain\r\n\r\n"
                           "no such page\n");
    return;
  }
  if (script && strcmp(script, "/stderr") == 0)
    FCGX_FPrintF(req->err, "libfcgi_echo: a line for the error log\n");

  FCGX_FPrintF(req->out, "Status: 200 OK\r\n"
                         "Content-Type: text/plain\r\n"
                         "X-Echo-App: libfcgi\r\n\r\n");
  for (char **p = req->envp; *p; p++)
    FCGX_FPrintF(req->out, "%s\n", *p);
  FCGX_FPrintF(req->out, "--\n");
  /* Stream the body back; the client reads while it sends. */
  char buf[16384];
  int n;
  while ((n = FCGX_GetStr(buf, sizeof buf, req->in)) > 0)
    FCGX_PutStr(buf, n, req->out);
  if (script && strcmp(script, "/exit3") == 0)
    FCGX_SetExitStatus(3, req->out);
}

static void *serve(void *unused) {
  (void)unused;
  FCGX_Request req;
  FCGX_InitRequest(&req, listen_fd, 0);
  /* The library serializes accept() itself (FCGX_Accept_r). */
  while (FCGX_Accept_r(&req) >= 0) {
    answer(&req);
    FCGX_Finish_r(&req);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: libfcgi_echo ADDRESS [THREADS]\n");
    return 2;
  }
  int threads = argc == 3 ? atoi(argv[2]) : 1;
  if (threads < 1)
    threads = 1;
  if (FCGX_Init() != 0)
    return 1;
  listen_fd = FCGX_OpenSocket(argv[1], 64);
  if (listen_fd < 0) {
    fprintf(stderr, "libfcgi_echo: cannot listen on %s\n", argv[1]);
    return 1;
  }
  pthread_t *t = calloc((size_t)threads, sizeof *t);
  for (int i = 1; i < threads; i++)
    pthread_create(&t[i], NULL, serve, NULL);
  serve(NULL);
  return 0;
}
