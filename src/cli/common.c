/*
 * What the subcommands share: exit statuses, CGI params, the
 * latency histogram.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int exit_for_error(int err) {
  switch (err) {
  case FK_OK: return EXIT_OK;
  case FK_E_ADDRESS:
  case FK_E_SYSTEM: return EXIT_CONNECT;
  case FK_E_TIMEOUT: return EXIT_TIMEOUT;
  case FK_E_CLOSED:
  case FK_E_IO:
  case FK_E_ABORTED: return EXIT_TRANSPORT;
  case FK_E_NOMEM:
  case FK_E_INVAL:
  case FK_E_PARAMS_TOO_LARGE:
  case FK_E_PAIR_TOO_LONG: return EXIT_LOCAL;
  default: return EXIT_PROTOCOL;
  }
}

void print_failure(const char *cmd, const char *address, int rc,
                   const char *why) {
  const char *what =
      rc == FK_E_SYSTEM || rc == FK_E_IO ? strerror(errno) : fk_strerror(rc);
  fprintf(stderr, "fcgikit %s: %s: %s%s%s%s\n", cmd, address, what,
          why && *why ? " (" : "", why ? why : "", why && *why ? ")" : "");
}

/* --- Params -------------------------------------------------------------- */

static char *own(cli_params *p, const char *s, size_t len) {
  char **o = realloc(p->owned, (p->nowned + 1) * sizeof *o);
  if (o == NULL)
    return NULL;
  p->owned = o;
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, s, len);
  copy[len] = '\0';
  p->owned[p->nowned++] = copy;
  return copy;
}

static int set_n(cli_params *p, const char *name, size_t name_len,
                 const char *value) {
  char *n = own(p, name, name_len);
  char *v = n ? own(p, value, strlen(value)) : NULL;
  if (v == NULL)
    return -1;
  for (size_t i = 0; i < p->count; i++) {
    if (strcmp(p->pairs[i].name, n) == 0) {
      p->pairs[i].value = v;
      p->pairs[i].value_len = strlen(v);
      return 0;
    }
  }
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 32;
    fk_client_pair *np = realloc(p->pairs, cap * sizeof *np);
    if (np == NULL)
      return -1;
    p->pairs = np;
    p->cap = cap;
  }
  p->pairs[p->count++] = (fk_client_pair){n, v, strlen(v)};
  return 0;
}

int params_set(cli_params *p, const char *name, const char *value) {
  return set_n(p, name, strlen(name), value);
}

int params_set_assignment(cli_params *p, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  if (eq == NULL || eq == assignment)
    return -1;
  return set_n(p, assignment, (size_t)(eq - assignment), eq + 1);
}

int params_set_header(cli_params *p, const char *header) {
  const char *colon = strchr(header, ':');
  if (colon == NULL || colon == header)
    return -1;
  size_t len = (size_t)(colon - header);
  char name[256];
  /* RFC 3875 4.1.18: HTTP_ + the name in upper case, '-' as '_'; the
   * body's type and length have CGI names of their own. */
  if (len + 5 >= sizeof name)
    return -1;
  memcpy(name, "HTTP_", 5);
  for (size_t i = 0; i < len; i++)
    name[5 + i] =
        header[i] == '-' ? '_' : (char)toupper((unsigned char)header[i]);
  name[5 + len] = '\0';
  const char *value = colon + 1;
  while (*value == ' ' || *value == '\t')
    value++;
  if (strcmp(name, "HTTP_CONTENT_TYPE") == 0 ||
      strcmp(name, "HTTP_CONTENT_LENGTH") == 0)
    return params_set(p, name + 5, value);
  return params_set(p, name, value);
}

int params_defaults(cli_params *p, const cli_request_spec *spec) {
  const char *uri = spec->uri ? spec->uri : "/";
  const char *q = strchr(uri, '?');
  size_t path_len = q ? (size_t)(q - uri) : strlen(uri);
  char path[4096];
  if (path_len >= sizeof path)
    return -1;
  memcpy(path, uri, path_len);
  path[path_len] = '\0';
  const char *method = spec->method     ? spec->method
                       : spec->has_body ? "POST"
                                        : "GET";
  char length[32];
  snprintf(length, sizeof length, "%llu",
           (unsigned long long)spec->body_length);
  int rc = 0;
  rc |= params_set(p, "GATEWAY_INTERFACE", "CGI/1.1");
  rc |= params_set(p, "SERVER_SOFTWARE", "fcgikit/" FK_VERSION_STRING);
  rc |= params_set(p, "SERVER_PROTOCOL", "HTTP/1.1");
  rc |= params_set(p, "SERVER_NAME", "localhost");
  rc |= params_set(p, "SERVER_ADDR", "127.0.0.1");
  rc |= params_set(p, "SERVER_PORT", "80");
  rc |= params_set(p, "REMOTE_ADDR", "127.0.0.1");
  rc |= params_set(p, "REMOTE_PORT", "0");
  rc |= params_set(p, "REQUEST_METHOD", method);
  rc |= params_set(p, "REQUEST_URI", uri);
  rc |= params_set(p, "SCRIPT_NAME", path);
  rc |= params_set(p, "QUERY_STRING", q ? q + 1 : "");
  rc |= params_set(p, "HTTP_HOST", "localhost");
  if (spec->has_body) {
    rc |= params_set(p, "CONTENT_LENGTH", length);
    rc |= params_set(p, "CONTENT_TYPE",
                     spec->content_type ? spec->content_type
                                        : "application/x-www-form-urlencoded");
  }
  return rc ? -1 : 0;
}

void params_free(cli_params *p) {
  for (size_t i = 0; i < p->nowned; i++)
    free(p->owned[i]);
  free(p->owned);
  free(p->pairs);
  memset(p, 0, sizeof *p);
}

void json_string(FILE *out, const char *s, size_t len) {
  putc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      fprintf(out, "\\u%04x", ch);
    else
      putc(ch, out);
  }
  putc('"', out);
}

/* --- Latency histogram ---------------------------------------------------- */

/* Values below 64 have a bucket each; above, 32 buckets per power of two. */
static size_t bucket_of(uint64_t us) {
  if (us < 64)
    return (size_t)us;
  unsigned e = 63u - (unsigned)__builtin_clzll(us); /* 6..63 */
  size_t sub = (size_t)(us >> (e - 5)) & 31u;
  return 64 + (size_t)(e - 6) * 32 + sub;
}

uint64_t hist_bucket_value(size_t i) {
  if (i < 64)
    return i;
  unsigned e = (unsigned)((i - 64) / 32) + 6;
  uint64_t sub = (i - 64) % 32;
  uint64_t low = (32 + sub) << (e - 5);
  return low + ((uint64_t)1 << (e - 5)) / 2; /* the middle of the bucket */
}

void hist_add(cli_hist *h, uint64_t us) {
  h->counts[bucket_of(us)]++;
  h->total++;
  h->sum_us += us;
  if (us > h->max_us)
    h->max_us = us;
}

void hist_merge(cli_hist *into, const cli_hist *from) {
  for (size_t i = 0; i < sizeof into->counts / sizeof into->counts[0]; i++)
    into->counts[i] += from->counts[i];
  into->total += from->total;
  into->sum_us += from->sum_us;
  if (from->max_us > into->max_us)
    into->max_us = from->max_us;
}

uint64_t hist_quantile(const cli_hist *h, double q) {
  if (h->total == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)h->total + 0.5);
  if (rank < 1)
    rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < sizeof h->counts / sizeof h->counts[0]; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = hist_bucket_value(i);
      return v > h->max_us ? h->max_us : v;
    }
  }
  return h->max_us;
}
