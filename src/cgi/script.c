/*
 * Which program a request names, whether it may run, and the environment
 * it runs with.
 *
 * The check works on the real path: every symbolic link followed, every
 * "." and ".." gone. A script is run by that path, so what was checked is
 * what runs, short of someone with write access inside a root swapping
 * files between the check and the exec. Names are never URL-decoded here:
 * SCRIPT_FILENAME and SCRIPT_NAME arrive decoded by the web server, and a
 * "%2F" still in them is three characters of a file name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi.h"

/* --- Finding the program ------------------------------------------------- */

static int in_root(const cgi_config *cfg, const char *path) {
  for (size_t i = 0; i < cfg->nroots; i++) {
    const char *root = cfg->roots[i];
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
      return 1;
    if (strncmp(path, root, n) == 0 && path[n] == '/')
      return 1;
  }
  return 0;
}

static int is_nph(const char *path) {
  const char *base = strrchr(path, '/');
  return strncmp(base ? base + 1 : path, "nph-", 4) == 0;
}

/* The name the request gives: SCRIPT_FILENAME, else DOCUMENT_ROOT and
 * SCRIPT_NAME joined (RFC 3875 leaves the mapping to the server; this is
 * the one every web server's configuration uses). */
static int requested_name(const fk_request *req, char *buf, size_t size,
                          const char **why) {
  size_t len;
  const char *file = fk_param_len(req, "SCRIPT_FILENAME", &len);
  if (file != NULL && len > 0) {
    if (memchr(file, '\0', len) != NULL) {
      *why = "the name contains a NUL byte";
      return 404;
    }
    if (len >= size) {
      *why = "the name is too long";
      return 404;
    }
    memcpy(buf, file, len + 1);
    return 0;
  }
  const char *root = fk_param(req, "DOCUMENT_ROOT");
  const char *script = fk_param(req, "SCRIPT_NAME");
  if (root == NULL || script == NULL || *script == '\0') {
    *why = "neither SCRIPT_FILENAME nor DOCUMENT_ROOT and SCRIPT_NAME given";
    return 500;
  }
  int n =
      snprintf(buf, size, "%s%s%s", root, *script == '/' ? "" : "/", script);
  if (n < 0 || (size_t)n >= size) {
    *why = "the name is too long";
    return 404;
  }
  return 0;
}

/* The "#!" line of a file that is not executable: the interpreter it
 * names may run it if the configuration allows that interpreter. */
static int allowed_interpreter(const cgi_config *cfg, cgi_script *s) {
  if (cfg->ninterpreters == 0)
    return 0;
  int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return 0;
  char line[PATH_MAX + 256];
  ssize_t n = read(fd, line, sizeof line - 1);
  close(fd);
  if (n < 3 || line[0] != '#' || line[1] != '!')
    return 0;
  line[n] = '\0';
  char *end = strchr(line, '\n');
  if (end == NULL)
    return 0;
  *end = '\0';
  char *p = line + 2;
  p += strspn(p, " \t");
  size_t ilen = strcspn(p, " \t");
  char *arg = p + ilen;
  arg += strspn(arg, " \t");
  size_t alen = strcspn(arg, "\r");
  while (alen > 0 && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t'))
    alen--;
  if (ilen == 0 || ilen >= sizeof s->interp || alen >= sizeof s->interp_arg)
    return 0;
  for (size_t i = 0; i < cfg->ninterpreters; i++) {
    if (strlen(cfg->interpreters[i]) == ilen &&
        memcmp(cfg->interpreters[i], p, ilen) == 0) {
      memcpy(s->interp, p, ilen);
      s->interp[ilen] = '\0';
      memcpy(s->interp_arg, arg, alen);
      s->interp_arg[alen] = '\0';
      return 1;
    }
  }
  return 0;
}

int cgi_resolve(const cgi_config *cfg, const fk_request *req, cgi_script *out,
                const char **name, const char **why) {
  static __thread char requested[PATH_MAX];
  memset(out, 0, sizeof *out);
  *name = requested;
  int status = requested_name(req, requested, sizeof requested, why);
  if (status != 0) {
    if (status == 500)
      *name = "(none)";
    return status;
  }
  if (requested[0] != '/') {
    *why = "not an absolute path";
    return 404;
  }
  if (realpath(requested, out->path) == NULL) {
    *why = strerror(errno);
    return errno == EACCES ? 403
           : errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ||
                   errno == ELOOP
               ? 404
               : 500;
  }
  if (!in_root(cfg, out->path)) {
    *why = "outside the script roots";
    return 403;
  }
  struct stat st;
  if (stat(out->path, &st) != 0) {
    *why = strerror(errno);
    return 404;
  }
  if (S_ISDIR(st.st_mode)) {
    *why = "a directory";
    return 403;
  }
  if (!S_ISREG(st.st_mode)) {
    *why = "not a regular file";
    return 403;
  }
  if (is_nph(requested) || is_nph(out->path)) {
    *why = "non-parsed-header scripts are not supported";
    return 403;
  }
  if (euidaccess(out->path, X_OK) != 0 && !allowed_interpreter(cfg, out)) {
    *why = cfg->ninterpreters ? "not executable, and no allowed interpreter"
                              : "not executable";
    return 403;
  }
  memcpy(out->dir, out->path, sizeof out->dir);
  char *slash = strrchr(out->dir, '/');
  slash[slash == out->dir ? 1 : 0] = '\0';
  return 0;
}

/* --- The environment ----------------------------------------------------- */

/* A name an environment can hold and a script can look up. */
static int env_name_ok(const char *name) {
  return *name != '\0' && strchr(name, '=') == NULL;
}

static int env_has(char *const *env, size_t n, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
      return 1;
  return 0;
}

/* Strings laid out after the pointer array, in one block. */
typedef struct env_builder {
  char **vars;
  size_t n;
  char *next;
} env_builder;

static void env_add(env_builder *b, const char *name, const char *value,
                    size_t value_len) {
  size_t nlen = strlen(name);
  b->vars[b->n++] = b->next;
  memcpy(b->next, name, nlen);
  b->next[nlen] = '=';
  memcpy(b->next + nlen + 1, value, value_len);
  b->next[nlen + 1 + value_len] = '\0';
  b->next += nlen + value_len + 2;
}

char **cgi_environment(const cgi_config *cfg, const fk_request *req) {
  static const char default_path[] = "/usr/local/bin:/usr/bin:/bin";
  char length[24];
  snprintf(length, sizeof length, "%llu",
           (unsigned long long)fk_body_length(req));

  size_t count = cfg->nextra_env + fk_param_count(req) + 4;
  size_t bytes = sizeof length + sizeof default_path + 64;
  for (size_t i = 0; i < cfg->nextra_env; i++)
    bytes += strlen(cfg->extra_env[i]) + 1;
  for (size_t i = 0; i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    bytes += strlen(name) + len + 2;
  }
  char **vars = malloc(count * sizeof *vars + bytes);
  if (vars == NULL)
    return NULL;
  env_builder b = {vars, 0, (char *)(vars + count)};

  /* The configured variables first: they win over anything the request
   * says, because the first of two equal names is the one getenv finds and
   * the later one is never added. */
  for (size_t i = 0; i < cfg->nextra_env; i++) {
    size_t len = strlen(cfg->extra_env[i]) + 1;
    vars[b.n++] = memcpy(b.next, cfg->extra_env[i], len);
    b.next += len;
  }
  /* The body the script reads is the body received: say its true length
   * (a web server that streamed a chunked body may not have known it). */
  if (!env_has(vars, b.n, "CONTENT_LENGTH") &&
      (fk_body_length(req) > 0 || fk_param(req, "CONTENT_LENGTH") != NULL))
    env_add(&b, "CONTENT_LENGTH", length, strlen(length));
  size_t fixed = b.n;
  for (size_t i = 0; i < fk_param_count(req); i++) {
    const char *name, *value;
    size_t len;
    fk_param_at(req, i, &name, &value, &len);
    /* HTTP_PROXY comes from a client's "Proxy:" header, and many programs
     * take it for their proxy setting ("httpoxy"). */
    if (!env_name_ok(name) || memchr(value, '\0', len) != NULL ||
        strcmp(name, "HTTP_PROXY") == 0 || env_has(vars, fixed, name))
      continue;
    env_add(&b, name, value, len);
  }
  if (!env_has(vars, b.n, "GATEWAY_INTERFACE"))
    env_add(&b, "GATEWAY_INTERFACE", "CGI/1.1", 7);
  if (!env_has(vars, b.n, "PATH"))
    env_add(&b, "PATH", default_path, sizeof default_path - 1);
  vars[b.n] = NULL;
  return vars;
}
