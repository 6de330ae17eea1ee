/*
 * fetch: the smallest fcgikit client, the web server's side.
 *
 *   fetch ADDRESS [SCRIPT_NAME]
 *
 * Sends one GET for SCRIPT_NAME (default "/") to the FastCGI application
 * at ADDRESS (a Unix socket path, host:port or @abstract) and copies what
 * it answers on STDOUT, CGI headers and all, to standard output. Exits 0
 * when the application completed the request with status 0, 1 otherwise.
 * Link with libfcgikit-client: cc fetch.c $(pkg-config --cflags --libs
 * fcgikit-client).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fcgikit/fcgikit.h>

static int copy_out(const uint8_t *data, size_t len, void *arg) {
  return fwrite(data, 1, len, arg) == len ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: fetch ADDRESS [SCRIPT_NAME]\n");
    return 2;
  }
  const char *script = argc > 2 ? argv[2] : "/";
  fk_client_pair params[] = {
      {"REQUEST_METHOD", "GET", 0},       {"SCRIPT_NAME", script, 0},
      {"REQUEST_URI", script, 0},         {"QUERY_STRING", "", 0},
      {"SERVER_PROTOCOL", "HTTP/1.1", 0},
  };
  fk_client_request req = {
      .params = params,
      .nparams = sizeof params / sizeof params[0],
      .on_stdout = copy_out,
      .arg = stdout,
      .timeout_ms = 30000,
  };
  fk_client *c = NULL;
  fk_client_result res;
  int rc = fk_client_open(&c, argv[1], NULL);
  if (rc == FK_OK)
    rc = fk_client_run(c, &req, &res);
  if (rc == FK_E_SYSTEM || rc == FK_E_IO) {
    fprintf(stderr, "fetch: %s: %s\n", argv[1], strerror(errno));
  } else if (rc != FK_OK) {
    const char *why = c ? fk_client_error_reason(c) : "";
    fprintf(stderr, "fetch: %s: %s%s%s\n", argv[1], fk_strerror(rc),
            *why ? ": " : "", why);
  } else if (res.protocol_status != FK_REQUEST_COMPLETE || res.app_status) {
    fprintf(stderr, "fetch: protocol status %u, application status %u\n",
            res.protocol_status, (unsigned)res.app_status);
    rc = FK_E_IO;
  }
  fk_client_close(c);
  return fflush(stdout) == 0 && rc == FK_OK ? 0 : 1;
}
