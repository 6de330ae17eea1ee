/*
 * authorizer: a FastCGI Authorizer (spec 6.3) checking HTTP Basic
 * credentials.
 *
 *   authorizer [ADDRESS [USER:PASSWORD]]      (default fcgikit:secret)
 *
 * No credentials: 401 with a WWW-Authenticate challenge. Wrong ones: 403.
 * Right ones: 200 with Variable- headers, which the web server turns into
 * params (AUTH_USER, AUTH_METHOD) for whatever serves the request next.
 * The web server sends a denial to the client unchanged and ignores the
 * body of a grant.
 */
#include <stdio.h>
#include <string.h>

#include <fcgikit/fcgikit.h>

/* Decodes base64 into out (NUL-terminated). Returns 0, or -1 on bad input. */
static int base64_decode(const char *in, char *out, size_t cap) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned acc = 0, bits = 0;
  size_t n = 0;
  for (; *in && *in != '='; in++) {
    const char *p = strchr(alphabet, *in);
    if (p == NULL || *in == '\0')
      return -1;
    acc = (acc << 6) | (unsigned)(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= cap)
        return -1;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[n] = '\0';
  return 0;
}

static void deny(fk_request *req, int status) {
  fk_status(req, status, NULL);
  fk_add_header(req, "Content-Type", "text/plain");
  if (status == 401)
    fk_add_header(req, "WWW-Authenticate", "Basic realm=\"fcgikit\"");
  fk_end_headers(req);
  fk_printf(req, "%d %s\n", status, fk_status_reason(status));
}

static void authorize(fk_request *req, void *arg) {
  const char *credentials = arg;
  const char *auth = fk_param(req, "HTTP_AUTHORIZATION");
  char decoded[256];
  if (auth == NULL || strncmp(auth, "Basic ", 6) != 0) {
    deny(req, 401);
    return;
  }
  if (base64_decode(auth + 6, decoded, sizeof decoded) != 0 ||
      strcmp(decoded, credentials) != 0) {
    deny(req, 403);
    return;
  }
  *strchr(decoded, ':') = '\0';
  fk_status(req, 200, NULL);
  fk_add_header(req, "Variable-AUTH_USER", decoded);
  fk_add_header(req, "Variable-AUTH_METHOD", "basic");
  fk_end_headers(req);
}

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : NULL;
  char *credentials = argc > 2 ? argv[2] : "fcgikit:secret";
  if (strchr(credentials, ':') == NULL) {
    fprintf(stderr, "usage: authorizer [ADDRESS [USER:PASSWORD]]\n");
    return 2;
  }
  fk_server *server = NULL;
  int rc = fk_server_new(&server, NULL);
  if (rc == FK_OK)
    rc = fk_server_handle(server, FK_AUTHORIZER, authorize, credentials);
  if (rc == FK_OK)
    rc = fk_server_listen(server, address);
  if (rc == FK_OK)
    rc = fk_server_run(server);
  if (rc != FK_OK)
    fprintf(stderr, "authorizer: %s\n", fk_strerror(rc));
  fk_server_free(server);
  return rc == FK_OK ? 0 : 1;
}
