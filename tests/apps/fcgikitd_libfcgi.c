/*
 * fcgikitd_libfcgi: a responder built on libfcgi (Debian libfcgi-dev), the
 * FastCGI reference kit, as a worker of an fcgikitd pool: it accepts on
 * the listening socket fcgikitd hands over on fd 0, as every program
 * started by a FastCGI process manager does (FCGX_InitRequest(&r, 0, 0)).
 * tests/interop/fcgikitd_apps.sh compiles it.
 *
 *   fcgikitd_libfcgi        (no arguments)
 *
 * A query string "sleep=MS" makes it wait MS milliseconds (signals do not
 * cut the wait short) after reading the body, before answering: a request
 * still in progress when the worker is asked to stop.
 *
 * The answer has the shape of examples/echo's, which tests/lib.sh reads:
 * "NAME=VALUE" lines (REQUEST_METHOD, QUERY_STRING, CONTENT_LENGTH,
 * BODY_READ: the bytes of body it read, and PID: the process that
 * answered), a line "--", then the body byte for byte. The body is read whole
 * before anything is written: nginx stops sending a body once the response has
 * started. A body that could not be read whole (libfcgi reports a read error)
 * gets a 500.
 *
 * Build: cc -o fcgikitd_libfcgi fcgikitd_libfcgi.c -lfcgi
 */
#include <errno.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *param(FCGX_Request *req, const char *name) {
  const char *v = FCGX_GetParam(name, req->envp);
  return v ? v : "";
}

static void sleep_ms(long ms) {
  struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&left, &left) < 0 && errno == EINTR) {
  }
}

int main(void) {
  if (FCGX_Init() != 0)
    return 1;
  FCGX_Request req;
  if (FCGX_InitRequest(&req, 0, 0) != 0)
    return 1;
  char *body = NULL;
  size_t cap = 0;
  while (FCGX_Accept_r(&req) >= 0) {
    size_t len = 0;
    for (;;) {
      if (cap - len < 65536) {
        size_t ncap = cap ? cap * 2 : 262144;
        char *nb = realloc(body, ncap);
        if (nb == NULL)
          return 1;
        body = nb;
        cap = ncap;
      }
      int n = FCGX_GetStr(body + len, 65536, req.in);
      if (n <= 0)
        break;
      len += (size_t)n;
    }
    if (FCGX_GetError(req.in) != 0) {
      /* libfcgi ends the body at the first failed read(), EINTR included:
       * a signal that arrives while the body comes in cuts it short. */
      FCGX_FPrintF(req.out,
                   "Status: 500 Internal Server Error\r\n"
                   "Content-Type: text/plain\r\n\r\n"
                   "body read error after %lu bytes\n",
                   (unsigned long)len);
      FCGX_Finish_r(&req);
      continue;
    }
    const char *query = param(&req, "QUERY_STRING");
    if (strncmp(query, "sleep=", 6) == 0)
      sleep_ms(atol(query + 6));
    FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
                          "Content-Type: text/plain\r\n"
                          "X-Echo-App: fcgikitd_libfcgi\r\n\r\n");
    FCGX_FPrintF(req.out, "REQUEST_METHOD=%s\n", param(&req, "REQUEST_METHOD"));
    FCGX_FPrintF(req.out, "QUERY_STRING=%s\n", param(&req, "QUERY_STRING"));
    FCGX_FPrintF(req.out, "CONTENT_LENGTH=%s\n", param(&req, "CONTENT_LENGTH"));
    FCGX_FPrintF(req.out, "BODY_READ=%lu\n", (unsigned long)len);
    FCGX_FPrintF(req.out, "PID=%d\n", (int)getpid());
    FCGX_FPrintF(req.out, "--\n");
    if (len > 0)
      FCGX_PutStr(body, (int)len, req.out);
    FCGX_Finish_r(&req);
  }
  free(body);
  return 0;
}
