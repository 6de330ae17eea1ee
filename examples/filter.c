/*
 * filter: a FastCGI Filter (spec 6.4) that serves the file the web server
 * sends on the FCGI_DATA stream, in upper case.
 *
 *   filter [ADDRESS]
 *
 * The web server checks access to the file and sends it; FCGI_DATA_LENGTH
 * says how long it is and FCGI_DATA_LAST_MOD when it last changed. A file
 * that arrives shorter than announced is an error, not a short answer.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include <fcgikit/fcgikit.h>

static void filter(fk_request *req, void *arg) {
  (void)arg;
  const char *announced = fk_param(req, "FCGI_DATA_LENGTH");
  if (announced && strtoull(announced, NULL, 10) != fk_data_length(req)) {
    fk_status(req, 502, NULL);
    fk_add_header(req, "Content-Type", "text/plain");
    fk_end_headers(req);
    fk_puts(req, "the file arrived incomplete\n");
    fk_eprintf(req, "filter: FCGI_DATA_LENGTH %s, received %llu bytes\n",
               announced, (unsigned long long)fk_data_length(req));
    return;
  }
  fk_add_header(req, "Content-Type", "text/plain");
  const char *mtime = fk_param(req, "FCGI_DATA_LAST_MOD");
  if (mtime)
    fk_add_header(req, "X-Data-Last-Mod", mtime);
  fk_end_headers(req);

  char buf[16 * 1024];
  long n;
  while ((n = fk_read_data(req, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n; i++)
      buf[i] = (char)toupper((unsigned char)buf[i]);
    if (fk_write(req, buf, (size_t)n) != FK_OK)
      return;
  }
}

int main(int argc, char **argv) {
  fk_server *server = NULL;
  int rc = fk_server_new(&server, NULL);
  if (rc == FK_OK)
    rc = fk_server_handle(server, FK_FILTER, filter, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(server, argc > 1 ? argv[1] : NULL);
  if (rc == FK_OK)
    rc = fk_server_run(server);
  if (rc != FK_OK)
    fprintf(stderr, "filter: %s\n", fk_strerror(rc));
  fk_server_free(server);
  return rc == FK_OK ? 0 : 1;
}
