/*
 * fcgikitd.conf(5): reading the file, checking every value, and saying
 * where each mistake is.
 *
 * The file is read a line at a time into one section at a time. A value
 * that stands alone (a number, a mode, a signal, a user) is checked when
 * its line is read; rules that tie keys together (the pm.* counts, the
 * command inside a chroot, the listen.* keys that need a Unix socket) when
 * the section ends, since keys come in any order; two pools on one address
 * when the file ends. Nothing is acted on: no socket made, no id changed.
 *
 * Everything built is owned by the parser until the whole file has been
 * found right; only then is it handed to the caller's config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"

enum {
  MAX_ERRORS = 20,
  MAX_LINE = 64 * 1024, /* bytes in a line, its newline not counted */
  MAX_SECONDS = 4000000 /* in milliseconds, still fits 32 bits */
};

/* --- Keys ---------------------------------------------------------------- */

enum key_id {
  K_PID,
  K_ERROR_LOG,
  K_LOG_LEVEL,
  K_STATUS_LISTEN,
  K_CONTROL_TIMEOUT,
  K_COMMAND,
  K_ARGS,
  K_CLEAR_ENV,
  K_LISTEN,
  K_LISTEN_OWNER,
  K_LISTEN_GROUP,
  K_LISTEN_MODE,
  K_LISTEN_BACKLOG,
  K_LISTEN_CLIENTS,
  K_USER,
  K_GROUP,
  K_GROUPS,
  K_CHROOT,
  K_CHDIR,
  K_UMASK,
  K_RLIMIT_FILES,
  K_RLIMIT_CORE,
  K_RLIMIT_AS,
  K_PM,
  K_MAX_CHILDREN,
  K_START_SERVERS,
  K_MIN_SPARE,
  K_MAX_SPARE,
  K_IDLE_TIMEOUT,
  K_MAX_REQUESTS,
  K_REQUEST_TIMEOUT,
  K_STOP_SIGNAL,
  K_CATCH_OUTPUT,
  NKEYS
};

/* How a value is read. The plain kinds store into the field at the key's
 * offset (in the config for [global] keys, in the pool_config otherwise);
 * V_CUSTOM keys have a function of their own. */
enum kind {
  V_BOOL,     /* int: yes/no */
  V_OCTAL,    /* int: 0 to 0777 */
  V_INT,      /* int: min to max */
  V_UINT,     /* unsigned: min to max */
  V_ULONG,    /* unsigned long: min to max */
  V_DURATION, /* unsigned ms: at least min seconds */
  V_RLIMIT,   /* uint64_t: a count, or "unlimited" */
  V_BYTES,    /* uint64_t: bytes with K/M/G, or "unlimited" */
  V_PATH,     /* char *: made absolute */
  V_CUSTOM
};

enum {
  F_GLOBAL = 1, /* a [global] key, not a pool key */
  F_EMPTY = 2,  /* may be empty */
  F_RAW = 4     /* its own quoting: the value is not unquoted */
};

typedef struct parser parser;
typedef struct pool_state pool_state;
typedef int (*custom_fn)(parser *p, pool_state *s, const char *v);

struct key {
  const char *name;
  unsigned char kind, flags;
  size_t off;
  uint64_t min, max;
  custom_fn set;
};

/* --- Parser state -------------------------------------------------------- */

/* A pool while its section is read, with what the checks at the end of the
 * section need and the pool_config does not keep. */
struct pool_state {
  pool_config pc;
  unsigned line[NKEYS];     /* where each key is set; 0 = not set */
  unsigned char bad[NKEYS]; /* set wrongly: checks using it are skipped */
  char **args;              /* "args" split, before the command joins them */
  size_t nargs;
  size_t nenv;
  struct env_name {
    char *name;
    unsigned line;
  } * env_names; /* every env[NAME], also those left out */
  size_t nenv_names;
  gid_t user_gid; /* the user's primary group, when it has an entry */
  int user_has_gid;
  char *tcp_host; /* listen on TCP: host ("" = every address) and port */
  unsigned port;
  int bad_name; /* a section whose name is wrong: checked, then dropped */
};

struct parser {
  const char *file; /* as given */
  char *dir;
  config cfg;                /* [global], and the pools once done */
  unsigned gline[NKEYS];     /* where each [global] key is set */
  unsigned char gbad[NKEYS]; /* a [global] key set wrongly */
  pool_state *pools;
  size_t npools, cap;
  enum { NONE, GLOBAL, POOL, SKIP } in; /* the section lines belong to */
  unsigned global_line;
  unsigned lineno;
  const char *key; /* the key being read, for messages */
  int quoted;      /* its value was in double quotes */
  char *err;
  size_t errcap, errlen;
  unsigned nerrors;
};

/* --- Messages ------------------------------------------------------------ */

/* One message, "FILE:LINE: KEY: what is wrong" (no LINE when 0, no KEY
 * when NULL); past MAX_ERRORS they are counted, not written. */
static void fail(parser *p, unsigned line, const char *key, const char *fmt,
                 ...) {
  if (++p->nerrors > MAX_ERRORS || p->err == NULL || p->errcap == 0)
    return;
  char what[1024], at[16] = "", msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (line)
    snprintf(at, sizeof at, ":%u", line);
  snprintf(msg, sizeof msg, "%s%s%s: %.200s%s%s", p->errlen ? "\n" : "",
           p->file, at, key ? key : "", key ? ": " : "", what);
  size_t room = p->errcap - 1 - p->errlen;
  size_t n = strlen(msg);
  if (n > room)
    n = room;
  memcpy(p->err + p->errlen, msg, n);
  p->errlen += n;
  p->err[p->errlen] = '\0';
}

/* A mistake in the value on the line being read. Returns -1. */
static int invalid(parser *p, const char *fmt, ...) {
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  fail(p, p->lineno, p->key, "%s", what);
  return -1;
}

static int no_memory(parser *p) { return invalid(p, "out of memory"); }

/* --- Values -------------------------------------------------------------- */

static int is_blank(int c) { return c == ' ' || c == '\t'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Decimal digits, nothing else, at most max; *end (when not NULL) is left
 * after the digits and anything may follow them. */
static int parse_number(const char *s, uint64_t max, uint64_t *out,
                        const char **end) {
  uint64_t n = 0;
  const char *c = s;
  if (!is_digit(*c))
    return -1;
  for (; is_digit(*c); c++) {
    unsigned d = (unsigned)(*c - '0');
    if (d > max || n > (max - d) / 10)
      return -1;
    n = n * 10 + d;
  }
  if (end != NULL)
    *end = c;
  else if (*c != '\0')
    return -1;
  *out = n;
  return 0;
}

int config_duration(const char *s, unsigned *ms) {
  uint64_t n, unit = 1;
  const char *c;
  if (s == NULL || parse_number(s, MAX_SECONDS, &n, &c) != 0)
    return -1;
  switch (*c) {
  case '\0': break;
  case 's': unit = 1; break;
  case 'm': unit = 60; break;
  case 'h': unit = 3600; break;
  case 'd': unit = 86400; break;
  default: return -1;
  }
  if (*c != '\0' && c[1] != '\0')
    return -1;
  if (n > MAX_SECONDS / unit)
    return -1;
  *ms = (unsigned)(n * unit * 1000);
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"yes", "true", "on", "1"};
  static const char *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0)
      return *out = 1, 0;
    if (strcasecmp(s, no[i]) == 0)
      return *out = 0, 0;
  }
  return -1;
}

static int parse_octal(const char *s, int *out) {
  int n = 0;
  if (*s == '\0' || strlen(s) > 4)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '7')
      return -1;
    n = n * 8 + (*s - '0');
  }
  if (n > 0777)
    return -1;
  *out = n;
  return 0;
}

/* The largest limit that is neither RLIM_INFINITY nor RLIMIT_UNSET. */
static uint64_t rlimit_max(void) {
  uint64_t inf = (uint64_t)RLIM_INFINITY;
  return (inf < RLIMIT_UNSET ? inf : RLIMIT_UNSET) - 1;
}

/* "unlimited", or a number; bytes may end in K, M or G (powers of 1024). */
static int parse_rlimit(const char *s, int bytes, uint64_t *out) {
  if (strcasecmp(s, "unlimited") == 0)
    return *out = (uint64_t)RLIM_INFINITY, 0;
  uint64_t n, mult = 1;
  const char *c;
  if (parse_number(s, rlimit_max(), &n, &c) != 0)
    return -1;
  if (bytes && *c != '\0' && c[1] == '\0') {
    const char *units = "KkMmGg";
    const char *u = strchr(units, *c);
    if (u == NULL)
      return -1;
    mult = (uint64_t)1 << (10 * (1 + (u - units) / 2));
    c++;
  }
  if (*c != '\0' || n > rlimit_max() / mult)
    return -1;
  *out = n * mult;
  return 0;
}

/* path made absolute against the file's directory; "./" in front dropped. */
/* Removes "." and ".." components and repeated slashes from an absolute
 * path, in place, so that messages, the status and ss(8) show the path a
 * reader expects. ".." is taken by name: the configuration's directory is
 * already free of symbolic links. */
static void normalize(char *path) {
  char *out = path;
  const char *in = path;
  while (*in) {
    while (*in == '/')
      in++;
    const char *end = strchr(in, '/');
    size_t n = end ? (size_t)(end - in) : strlen(in);
    if (n == 0 || (n == 1 && in[0] == '.')) {
      /* nothing */
    } else if (n == 2 && in[0] == '.' && in[1] == '.') {
      while (out > path && *--out != '/')
        ;
    } else {
      *out++ = '/';
      memmove(out, in, n);
      out += n;
    }
    in += n;
  }
  if (out == path)
    *out++ = '/';
  *out = '\0';
}

static char *absolute(const parser *p, const char *path) {
  size_t dlen = path[0] == '/' ? 0 : strlen(p->dir), plen = strlen(path);
  char *r = malloc(dlen + plen + 2);
  if (r == NULL)
    return NULL;
  memcpy(r, p->dir, dlen);
  r[dlen] = '/';
  memcpy(r + dlen + 1, path, plen + 1);
  normalize(r);
  return r;
}

/* root and path joined: a path inside a chroot, as seen from outside. */
static char *inside(const char *root, const char *path) {
  size_t rlen = strlen(root), plen = strlen(path);
  char *r = malloc(rlen + plen + 1);
  if (r == NULL)
    return NULL;
  while (rlen > 1 && root[rlen - 1] == '/')
    rlen--;
  memcpy(r, root, rlen);
  memcpy(r + (rlen == 1 ? 0 : rlen), path, plen + 1);
  return r;
}

static int set_string(parser *p, char **field, const char *v) {
  char *copy = strdup(v);
  if (copy == NULL)
    return no_memory(p);
  free(*field);
  *field = copy;
  return 0;
}

/* --- Users and groups ---------------------------------------------------- */

/* By name or, when all digits, by number: a number needs no entry in the
 * database (the id is used as it is), a name does. */
static int find_user(const char *name, uid_t *uid, const struct passwd **pw) {
  uint64_t n;
  *pw = getpwnam(name);
  if (*pw != NULL)
    return *uid = (*pw)->pw_uid, 0;
  if (parse_number(name, (uid_t)-1 - 1, &n, NULL) != 0)
    return -1;
  *uid = (uid_t)n;
  *pw = getpwuid(*uid);
  return 0;
}

static int find_group(const char *name, gid_t *gid) {
  uint64_t n;
  struct group *gr = getgrnam(name);
  if (gr != NULL)
    return *gid = gr->gr_gid, 0;
  if (parse_number(name, (gid_t)-1 - 1, &n, NULL) != 0)
    return -1;
  *gid = (gid_t)n;
  return 0;
}

static int set_user(parser *p, pool_state *s, const char *v) {
  const struct passwd *pw;
  uid_t uid;
  if (find_user(v, &uid, &pw) != 0)
    return invalid(p, "%s: no such user", v);
  /* initgroups() wants the name, also when the id was given. */
  if (set_string(p, &s->pc.user, pw != NULL ? pw->pw_name : v) != 0)
    return -1;
  s->pc.uid = uid;
  s->pc.has_user = 1;
  s->user_has_gid = pw != NULL;
  if (pw != NULL)
    s->user_gid = pw->pw_gid;
  return 0;
}

static int set_group(parser *p, pool_state *s, const char *v) {
  gid_t gid;
  if (find_group(v, &gid) != 0)
    return invalid(p, "%s: no such group", v);
  if (set_string(p, &s->pc.group, v) != 0)
    return -1;
  s->pc.gid = gid;
  s->pc.has_group = 1;
  return 0;
}

/* Names or ids, separated by commas or blanks; empty: none at all. */
static int set_groups(parser *p, pool_state *s, const char *v) {
  gid_t *list = malloc((strlen(v) / 2 + 1) * sizeof *list);
  int n = 0;
  if (list == NULL)
    return no_memory(p);
  while (*v) {
    size_t len = strcspn(v, ", \t");
    if (len > 0) {
      char name[256];
      if (len >= sizeof name) {
        free(list);
        return invalid(p, "%.40s...: no such group", v);
      }
      memcpy(name, v, len);
      name[len] = '\0';
      if (find_group(name, &list[n]) != 0) {
        free(list);
        return invalid(p, "%s: no such group", name);
      }
      n++;
    }
    v += len + (v[len] != '\0');
  }
  s->pc.groups = list;
  s->pc.ngroups = n;
  return 0;
}

/* listen.owner and listen.group: checked now, looked up again when the
 * socket is made. */
static int set_listen_owner(parser *p, pool_state *s, const char *v) {
  const struct passwd *pw;
  uid_t uid;
  if (find_user(v, &uid, &pw) != 0)
    return invalid(p, "%s: no such user", v);
  return set_string(p, &s->pc.listen_owner, v);
}

static int set_listen_group(parser *p, pool_state *s, const char *v) {
  gid_t gid;
  if (find_group(v, &gid) != 0)
    return invalid(p, "%s: no such group", v);
  return set_string(p, &s->pc.listen_group, v);
}

/* --- Addresses ----------------------------------------------------------- */

static int all_digits(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[i]))
      return 0;
  return 1;
}

/* A listening address: a Unix socket path (anything with a '/', unix:PATH,
 * or a name ending in ".sock"), made absolute; or TCP: host:port,
 * [v6]:port, *:port, :port or a bare port (the last three every address,
 * as a bare port is in php-fpm). *out is the address as fcgikitd will use
 * it: the absolute path, or host:port with no host for every address;
 * *host is NULL for a Unix socket. */
static int parse_address(parser *p, const char *v, char **out, char **host,
                         unsigned *port) {
  size_t len = strlen(v);
  const char *path = NULL;
  if (strncmp(v, "unix:", 5) == 0)
    path = v + 5;
  else if (strchr(v, '/') != NULL ||
           (len > 5 && strcmp(v + len - 5, ".sock") == 0))
    path = v;
  if (path != NULL) {
    if (*path == '\0')
      return invalid(p, "unix: without a path");
    char *abs = absolute(p, path);
    if (abs == NULL)
      return no_memory(p);
    if (strlen(abs) >= sizeof((struct sockaddr_un *)0)->sun_path) {
      invalid(p, "%s: longer than a Unix socket address can be (%zu bytes)",
              abs, sizeof((struct sockaddr_un *)0)->sun_path - 1);
      free(abs);
      return -1;
    }
    *out = abs;
    *host = NULL;
    return 0;
  }

  const char *h = v, *port_str;
  size_t hlen;
  if (all_digits(v, len)) {
    port_str = v; /* a bare port */
    hlen = 0;
  } else if (v[0] == '[') {
    const char *close = strchr(v, ']');
    if (close == NULL || close[1] != ':')
      return invalid(p, "%s: not [IPv6 address]:port", v);
    h = v + 1;
    hlen = (size_t)(close - h);
    port_str = close + 2;
  } else {
    const char *colon = strrchr(v, ':');
    if (colon == NULL)
      return invalid(p,
                     "%s: neither a Unix socket path (one with a '/', "
                     "unix:PATH or NAME.sock) nor host:port",
                     v);
    hlen = (size_t)(colon - v);
    if (memchr(v, ':', hlen) != NULL)
      return invalid(p,
                     "%s: an IPv6 address goes in brackets, "
                     "[ADDRESS]:port",
                     v);
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789.-") < hlen &&
        !(hlen == 1 && v[0] == '*'))
      return invalid(p,
                     "%s: not a host name or IPv4 address before the "
                     "':'",
                     v);
    port_str = colon + 1;
  }
  uint64_t n;
  if (parse_number(port_str, 65535, &n, NULL) != 0 || n == 0)
    return invalid(p, "%s: the port is not a number from 1 to 65535", v);
  if (hlen == 1 && h[0] == '*')
    hlen = 0;
  char hostbuf[256];
  unsigned char addr[16];
  if (hlen >= sizeof hostbuf)
    return invalid(p, "%.40s...: host name too long", v);
  memcpy(hostbuf, h, hlen);
  hostbuf[hlen] = '\0';
  if (v[0] == '[' && inet_pton(AF_INET6, hostbuf, addr) != 1)
    return invalid(p, "%s: not an IPv6 address in the brackets", v);
  *host = strdup(hostbuf);
  *out = malloc(hlen + 16);
  if (*host == NULL || *out == NULL) {
    free(*host);
    free(*out);
    *host = *out = NULL;
    return no_memory(p);
  }
  snprintf(*out, hlen + 16, v[0] == '[' ? "[%s]:%u" : "%s:%u", hostbuf,
           (unsigned)n);
  *port = (unsigned)n;
  return 0;
}

static int set_listen(parser *p, pool_state *s, const char *v) {
  char *addr = NULL, *host = NULL;
  unsigned port = 0;
  if (parse_address(p, v, &addr, &host, &port) != 0)
    return -1;
  s->pc.listen = addr;
  s->pc.listen_is_unix = host == NULL;
  s->tcp_host = host;
  s->port = port;
  return 0;
}

static int set_status_listen(parser *p, pool_state *s, const char *v) {
  char *addr = NULL, *host = NULL;
  unsigned port = 0;
  (void)s;
  if (parse_address(p, v, &addr, &host, &port) != 0)
    return -1;
  if (host != NULL) {
    free(addr);
    free(host);
    return invalid(p,
                   "%s: a Unix socket path only (the status socket is "
                   "not for TCP)",
                   v);
  }
  p->cfg.status_listen = addr;
  return 0;
}

/* The FCGI_WEB_SERVER_ADDRS list: IPv4 and IPv6 literals separated by
 * commas, blanks allowed; kept with the blanks taken out. */
static int set_allowed_clients(parser *p, pool_state *s, const char *v) {
  char *list = malloc(strlen(v) + 1);
  size_t at = 0;
  if (list == NULL)
    return no_memory(p);
  while (*v) {
    size_t len = strcspn(v, ",");
    const char *start = v;
    size_t end = len;
    while (end > 0 && is_blank(start[0]))
      start++, end--;
    while (end > 0 && is_blank(start[end - 1]))
      end--;
    if (end > 0) {
      char ip[INET6_ADDRSTRLEN];
      unsigned char bytes[16];
      if (end >= sizeof ip) {
        free(list);
        return invalid(p, "%.*s: not an IP address", (int)end, start);
      }
      memcpy(ip, start, end);
      ip[end] = '\0';
      if (inet_pton(AF_INET, ip, bytes) != 1 &&
          inet_pton(AF_INET6, ip, bytes) != 1) {
        free(list);
        return invalid(p,
                       "%s: not an IP address (host names are not "
                       "allowed here)",
                       ip);
      }
      if (at > 0)
        list[at++] = ',';
      memcpy(list + at, ip, end);
      at += end;
    }
    v += len + (v[len] == ',');
  }
  list[at] = '\0';
  if (at == 0) {
    free(list);
    return invalid(p, "no address in the list");
  }
  s->pc.listen_allowed_clients = list;
  return 0;
}

/* --- Other pool values --------------------------------------------------- */

static int push(char ***list, size_t *n, char *item) {
  char **l = realloc(*list, (*n + 2) * sizeof *l);
  if (l == NULL)
    return -1;
  l[(*n)++] = item;
  l[*n] = NULL;
  *list = l;
  return 0;
}

static void free_list(char **list) {
  for (size_t i = 0; list != NULL && list[i] != NULL; i++)
    free(list[i]);
  free(list);
}

static int set_command(parser *p, pool_state *s, const char *v) {
  /* Made absolute when the section ends: with a chroot it is a path
   * inside it. */
  return set_string(p, &s->pc.command, v);
}

/* Words split on blanks; double quotes keep blanks in a word ("" is an
 * empty word); a backslash takes the next character as it is, in quotes
 * too. */
static int set_args(parser *p, pool_state *s, const char *v) {
  char *word = malloc(strlen(v) + 1);
  if (word == NULL)
    return no_memory(p);
  while (*v) {
    while (is_blank(*v))
      v++;
    if (*v == '\0')
      break;
    size_t n = 0;
    int quoted = 0;
    for (; *v && (quoted || !is_blank(*v)); v++) {
      if (*v == '"') {
        quoted = !quoted;
        continue;
      }
      if (*v == '\\' && *++v == '\0') {
        free(word);
        return invalid(p, "a backslash with nothing after it");
      }
      word[n++] = *v;
    }
    if (quoted) {
      free(word);
      return invalid(p, "a double quote is not closed");
    }
    word[n] = '\0';
    char *copy = strdup(word);
    if (copy == NULL || push(&s->args, &s->nargs, copy) != 0) {
      free(copy);
      free(word);
      return no_memory(p);
    }
  }
  free(word);
  return 0;
}

static int valid_env_name(const char *name) {
  if (*name == '\0')
    return 0;
  for (; *name; name++)
    if (*name == '=' || (unsigned char)*name <= ' ')
      return 0;
  return 1;
}

static int is_identifier(const char *s) {
  if (!(*s == '_' || is_alpha(*s)))
    return 0;
  for (; *s; s++)
    if (!(*s == '_' || is_alpha(*s) || is_digit(*s)))
      return 0;
  return 1;
}

/* env[NAME] = VALUE; an unquoted $OTHER is fcgikitd's own OTHER, and the
 * variable is left out when that is unset. */
static int set_env(parser *p, pool_state *s, const char *name, const char *v) {
  if (!valid_env_name(name))
    return invalid(p, "not a variable name");
  for (size_t i = 0; i < s->nenv_names; i++)
    if (strcmp(s->env_names[i].name, name) == 0)
      return invalid(p, "repeated (first set at line %u)",
                     s->env_names[i].line);
  struct env_name *names =
      realloc(s->env_names, (s->nenv_names + 1) * sizeof *names);
  if (names == NULL)
    return no_memory(p);
  s->env_names = names;
  if ((names[s->nenv_names].name = strdup(name)) == NULL)
    return no_memory(p);
  names[s->nenv_names++].line = p->lineno;

  if (!p->quoted && v[0] == '$' && is_identifier(v + 1)) {
    v = getenv(v + 1);
    if (v == NULL)
      return 0;
  }
  size_t nlen = strlen(name), vlen = strlen(v);
  char *var = malloc(nlen + vlen + 2);
  if (var == NULL)
    return no_memory(p);
  memcpy(var, name, nlen);
  var[nlen] = '=';
  memcpy(var + nlen + 1, v, vlen + 1);
  if (push(&s->pc.env, &s->nenv, var) != 0) {
    free(var);
    return no_memory(p);
  }
  return 0;
}

static int set_chroot(parser *p, pool_state *s, const char *v) {
  char *abs = absolute(p, v);
  struct stat st;
  if (abs == NULL)
    return no_memory(p);
  const char *why = NULL;
  if (stat(abs, &st) != 0)
    why = strerror(errno);
  else if (!S_ISDIR(st.st_mode))
    why = "not a directory";
  if (why != NULL) {
    invalid(p, "%s: %s", abs, why);
    free(abs);
    return -1;
  }
  s->pc.chroot = abs;
  return 0;
}

static int set_chdir(parser *p, pool_state *s, const char *v) {
  if (v[0] != '/')
    return invalid(p,
                   "%s: not an absolute path (with chroot, it is a path "
                   "inside it)",
                   v);
  return set_string(p, &s->pc.chdir, v);
}

static int set_pm(parser *p, pool_state *s, const char *v) {
  if (strcmp(v, "static") == 0)
    s->pc.pm = PM_STATIC;
  else if (strcmp(v, "dynamic") == 0)
    s->pc.pm = PM_DYNAMIC;
  else if (strcmp(v, "ondemand") == 0)
    s->pc.pm = PM_ONDEMAND;
  else
    return invalid(p, "%s: not static, dynamic or ondemand", v);
  return 0;
}

static int set_stop_signal(parser *p, pool_state *s, const char *v) {
  static const struct {
    const char *name;
    int sig;
  } sigs[] = {{"TERM", SIGTERM},
              {"QUIT", SIGQUIT},
              {"INT", SIGINT},
              {"USR1", SIGUSR1},
              {"HUP", SIGHUP}};
  const char *name = strncasecmp(v, "SIG", 3) == 0 ? v + 3 : v;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (strcasecmp(name, sigs[i].name) == 0)
      return s->pc.stop_signal = sigs[i].sig, 0;
  return invalid(p, "%s: not TERM, QUIT, INT, USR1 or HUP", v);
}

/* --- [global] values ----------------------------------------------------- */

static int set_error_log(parser *p, pool_state *s, const char *v) {
  (void)s;
  if (strcmp(v, "syslog") == 0)
    return set_string(p, &p->cfg.error_log, v);
  if ((p->cfg.error_log = absolute(p, v)) == NULL)
    return no_memory(p);
  return 0;
}

static int set_log_level(parser *p, pool_state *s, const char *v) {
  static const struct {
    const char *name;
    int level;
  } levels[] = {{"error", LOG_ERR},
                {"warning", LOG_WARNING},
                {"notice", LOG_NOTICE},
                {"info", LOG_INFO},
                {"debug", LOG_DEBUG}};
  (void)s;
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
    if (strcmp(v, levels[i].name) == 0)
      return p->cfg.log_level = levels[i].level, 0;
  return invalid(p, "%s: not error, warning, notice, info or debug", v);
}

/* --- The table ----------------------------------------------------------- */

#define G(field) offsetof(config, field)
#define P(field) offsetof(pool_config, field)

static const struct key keys[NKEYS] = {
    [K_PID] = {"pid", V_PATH, F_GLOBAL, G(pid_file), 0, 0, NULL},
    [K_ERROR_LOG] = {"error_log", V_CUSTOM, F_GLOBAL, 0, 0, 0, set_error_log},
    [K_LOG_LEVEL] = {"log_level", V_CUSTOM, F_GLOBAL, 0, 0, 0, set_log_level},
    [K_STATUS_LISTEN] = {"status.listen", V_CUSTOM, F_GLOBAL, 0, 0, 0,
                         set_status_listen},
    [K_CONTROL_TIMEOUT] = {"process_control_timeout", V_DURATION, F_GLOBAL,
                           G(stop_timeout_ms), 1, 0, NULL},
    [K_COMMAND] = {"command", V_CUSTOM, 0, 0, 0, 0, set_command},
    [K_ARGS] = {"args", V_CUSTOM, F_EMPTY | F_RAW, 0, 0, 0, set_args},
    [K_CLEAR_ENV] = {"clear_env", V_BOOL, 0, P(clear_env), 0, 0, NULL},
    [K_LISTEN] = {"listen", V_CUSTOM, 0, 0, 0, 0, set_listen},
    [K_LISTEN_OWNER] = {"listen.owner", V_CUSTOM, 0, 0, 0, 0, set_listen_owner},
    [K_LISTEN_GROUP] = {"listen.group", V_CUSTOM, 0, 0, 0, 0, set_listen_group},
    [K_LISTEN_MODE] = {"listen.mode", V_OCTAL, 0, P(listen_mode), 0, 0, NULL},
    [K_LISTEN_BACKLOG] = {"listen.backlog", V_INT, 0, P(listen_backlog), 1,
                          65535, NULL},
    [K_LISTEN_CLIENTS] = {"listen.allowed_clients", V_CUSTOM, 0, 0, 0, 0,
                          set_allowed_clients},
    [K_USER] = {"user", V_CUSTOM, 0, 0, 0, 0, set_user},
    [K_GROUP] = {"group", V_CUSTOM, 0, 0, 0, 0, set_group},
    [K_GROUPS] = {"groups", V_CUSTOM, F_EMPTY, 0, 0, 0, set_groups},
    [K_CHROOT] = {"chroot", V_CUSTOM, 0, 0, 0, 0, set_chroot},
    [K_CHDIR] = {"chdir", V_CUSTOM, 0, 0, 0, 0, set_chdir},
    [K_UMASK] = {"umask", V_OCTAL, 0, P(umask), 0, 0, NULL},
    [K_RLIMIT_FILES] = {"rlimit_files", V_RLIMIT, 0, P(rlimit_files), 0, 0,
                        NULL},
    [K_RLIMIT_CORE] = {"rlimit_core", V_BYTES, 0, P(rlimit_core), 0, 0, NULL},
    [K_RLIMIT_AS] = {"rlimit_as", V_BYTES, 0, P(rlimit_as), 0, 0, NULL},
    [K_PM] = {"pm", V_CUSTOM, 0, 0, 0, 0, set_pm},
    [K_MAX_CHILDREN] = {"pm.max_children", V_UINT, 0, P(max_children), 1, 10000,
                        NULL},
    [K_START_SERVERS] = {"pm.start_servers", V_UINT, 0, P(start_servers), 0,
                         10000, NULL},
    [K_MIN_SPARE] = {"pm.min_spare_servers", V_UINT, 0, P(min_spare), 0, 10000,
                     NULL},
    [K_MAX_SPARE] = {"pm.max_spare_servers", V_UINT, 0, P(max_spare), 0, 10000,
                     NULL},
    [K_IDLE_TIMEOUT] = {"pm.process_idle_timeout", V_DURATION, 0,
                        P(idle_timeout_ms), 1, 0, NULL},
    /* PHP reads PHP_FCGI_MAX_REQUESTS into an int. */
    [K_MAX_REQUESTS] = {"pm.max_requests", V_ULONG, 0, P(max_requests), 0,
                        INT_MAX, NULL},
    [K_REQUEST_TIMEOUT] = {"request_terminate_timeout", V_DURATION, 0,
                           P(request_timeout_ms), 0, 0, NULL},
    [K_STOP_SIGNAL] = {"stop_signal", V_CUSTOM, 0, 0, 0, 0, set_stop_signal},
    [K_CATCH_OUTPUT] = {"catch_workers_output", V_BOOL, 0, P(catch_output), 0,
                        0, NULL},
};

#undef G
#undef P

/* A value of one of the plain kinds, stored at field. */
static int set_plain(parser *p, const struct key *k, char *field,
                     const char *v) {
  uint64_t n;
  unsigned ms;
  int i;
  switch (k->kind) {
  case V_BOOL:
    if (parse_bool(v, &i) != 0)
      return invalid(p, "%s: not yes or no", v);
    memcpy(field, &i, sizeof i);
    return 0;
  case V_OCTAL:
    if (parse_octal(v, &i) != 0)
      return invalid(p, "%s: not an octal mode from 0 to 0777", v);
    memcpy(field, &i, sizeof i);
    return 0;
  case V_INT:
  case V_UINT:
  case V_ULONG:
    if (parse_number(v, k->max, &n, NULL) != 0 || n < k->min)
      return invalid(p, "%s: not a number from %llu to %llu", v,
                     (unsigned long long)k->min, (unsigned long long)k->max);
    if (k->kind == V_INT) {
      i = (int)n;
      memcpy(field, &i, sizeof i);
    } else if (k->kind == V_UINT) {
      unsigned u = (unsigned)n;
      memcpy(field, &u, sizeof u);
    } else {
      unsigned long ul = (unsigned long)n;
      memcpy(field, &ul, sizeof ul);
    }
    return 0;
  case V_DURATION:
    if (config_duration(v, &ms) != 0)
      return invalid(p,
                     "%s: not a duration (a number of seconds, or with "
                     "s, m, h or d after it; at most 4000000s)",
                     v);
    if (ms < k->min * 1000)
      return invalid(p, "%s: less than %llus", v, (unsigned long long)k->min);
    memcpy(field, &ms, sizeof ms);
    return 0;
  case V_RLIMIT:
  case V_BYTES:
    if (parse_rlimit(v, k->kind == V_BYTES, &n) != 0)
      return invalid(p,
                     k->kind == V_BYTES
                         ? "%s: not a number of bytes (K, M or G may "
                           "follow) or unlimited"
                         : "%s: not a number or unlimited",
                     v);
    memcpy(field, &n, sizeof n);
    return 0;
  case V_PATH: {
    char *abs = absolute(p, v), *old;
    if (abs == NULL)
      return no_memory(p);
    memcpy(&old, field, sizeof old);
    free(old);
    memcpy(field, &abs, sizeof abs);
    return 0;
  }
  }
  return invalid(p, "internal error: no reader for this key");
}

/* --- Sections ------------------------------------------------------------ */

static void pool_free(pool_config *pc) {
  free(pc->name);
  free(pc->command);
  free_list(pc->argv);
  free_list(pc->env);
  free(pc->listen);
  free(pc->listen_owner);
  free(pc->listen_group);
  free(pc->listen_allowed_clients);
  free(pc->user);
  free(pc->group);
  free(pc->groups);
  free(pc->chroot);
  free(pc->chdir);
}

/* What the pool_config does not keep. */
static void state_free_extra(pool_state *s) {
  free_list(s->args);
  s->args = NULL;
  for (size_t i = 0; i < s->nenv_names; i++)
    free(s->env_names[i].name);
  free(s->env_names);
  s->env_names = NULL;
  free(s->tcp_host);
  s->tcp_host = NULL;
}

static int valid_pool_name(const char *name) {
  if (*name == '\0')
    return 0;
  for (; *name; name++)
    if (!(is_alpha(*name) || is_digit(*name) || strchr("-_.", *name) != NULL))
      return 0;
  return 1;
}

static void begin_pool(parser *p, const char *name, const char *header) {
  int bad_name = 0;
  if (!valid_pool_name(name)) {
    fail(p, p->lineno, header,
         "a pool name is letters, digits, '-', '_' and '.'");
    bad_name = 1;
  } else if (strcasecmp(name, "global") == 0) {
    fail(p, p->lineno, header, "\"global\" is reserved: write [global]");
    bad_name = 1;
  }
  for (size_t i = 0; i < p->npools && !bad_name; i++)
    if (strcmp(p->pools[i].pc.name, name) == 0) {
      fail(p, p->lineno, header,
           "a second pool of that name (the first is "
           "at line %u)",
           p->pools[i].pc.line);
      bad_name = 1;
    }
  if (p->npools == p->cap) {
    size_t cap = p->cap * 2 + 4;
    pool_state *pools = realloc(p->pools, cap * sizeof *pools);
    if (pools == NULL) {
      fail(p, p->lineno, header, "out of memory");
      p->in = SKIP;
      return;
    }
    p->pools = pools;
    p->cap = cap;
  }
  pool_state *s = &p->pools[p->npools];
  memset(s, 0, sizeof *s);
  s->pc.name = strdup(name);
  if (s->pc.name == NULL) {
    fail(p, p->lineno, header, "out of memory");
    p->in = SKIP;
    return;
  }
  p->npools++;
  s->bad_name = bad_name;
  s->pc.file = p->file; /* repointed to config.file when handed over */
  s->pc.line = p->lineno;
  s->pc.clear_env = 1;
  s->pc.listen_mode = 0660;
  s->pc.listen_backlog = 511;
  s->pc.uid = (uid_t)-1;
  s->pc.gid = (gid_t)-1;
  s->pc.ngroups = -1;
  s->pc.umask = 022;
  s->pc.rlimit_files = s->pc.rlimit_core = s->pc.rlimit_as = RLIMIT_UNSET;
  s->pc.pm = PM_STATIC;
  s->pc.idle_timeout_ms = 10000;
  s->pc.stop_signal = SIGTERM;
  s->pc.catch_output = 1;
  p->in = POOL;
}

/* Where a message about key k goes: its line, or the section's when the
 * value is a default. */
static unsigned where(const pool_state *s, enum key_id k) {
  return s->line[k] ? s->line[k] : s->pc.line;
}

/* The command: absolute, a regular file, executable (inside the chroot
 * when there is one); then argv. */
static void finish_command(parser *p, pool_state *s) {
  pool_config *pc = &s->pc;
  unsigned line = s->line[K_COMMAND];
  int bare = strchr(pc->command, '/') == NULL;
  char *path;
  if (pc->chroot != NULL) {
    if (pc->command[0] != '/') {
      fail(p, line, "command", "%s: not an absolute path inside chroot %s",
           pc->command, pc->chroot);
      return;
    }
    path = inside(pc->chroot, pc->command);
  } else {
    path = absolute(p, pc->command);
    if (path != NULL) {
      free(pc->command);
      pc->command = strdup(path);
    }
  }
  if (path == NULL || pc->command == NULL) {
    fail(p, line, "command", "out of memory");
    free(path);
    return;
  }
  struct stat st;
  const char *why = NULL;
  int missing = 0;
  if (stat(path, &st) != 0) {
    missing = errno == ENOENT;
    why = strerror(errno);
  } else if (!S_ISREG(st.st_mode))
    why = "not a regular file";
  else if (access(path, X_OK) != 0)
    why = "not executable";
  if (why != NULL)
    fail(p, line, "command", "%s: %s%s", path, why,
         bare && missing ? " (commands are not looked up in PATH)" : "");
  free(path);

  size_t n = 0;
  char **argv = NULL;
  char *arg0 = strdup(pc->command);
  if (arg0 == NULL || push(&argv, &n, arg0) != 0) {
    free(arg0);
    fail(p, line, "command", "out of memory");
    return;
  }
  for (size_t i = 0; i < s->nargs; i++) {
    if (push(&argv, &n, s->args[i]) != 0) {
      free_list(argv);
      fail(p, line, "args", "out of memory");
      return;
    }
    s->args[i] = NULL; /* now argv's */
  }
  pc->argv = argv;
}

/* php-fpm's rules for pm = dynamic (fpm_conf.c), with defaults for the
 * counts it requires: 1 spare at least, 3 at most (never more than
 * max_children, never fewer than min), half-way between to start with. */
static void finish_dynamic(parser *p, pool_state *s) {
  pool_config *pc = &s->pc;
  if (s->bad[K_MIN_SPARE] || s->bad[K_MAX_SPARE] || s->bad[K_START_SERVERS])
    return;
  if (!s->line[K_MIN_SPARE])
    pc->min_spare = 1;
  if (!s->line[K_MAX_SPARE]) {
    pc->max_spare = pc->max_children < 3 ? pc->max_children : 3;
    if (pc->max_spare < pc->min_spare)
      pc->max_spare = pc->min_spare;
  }
  if (pc->min_spare < 1) {
    fail(p, where(s, K_MIN_SPARE), "pm.min_spare_servers",
         "must be at least 1");
    return;
  }
  if (pc->min_spare > pc->max_children) {
    fail(p, where(s, K_MIN_SPARE), "pm.min_spare_servers",
         "%u is more than pm.max_children (%u)", pc->min_spare,
         pc->max_children);
    return;
  }
  if (pc->max_spare > pc->max_children) {
    fail(p, where(s, K_MAX_SPARE), "pm.max_spare_servers",
         "%u is more than pm.max_children (%u)", pc->max_spare,
         pc->max_children);
    return;
  }
  if (pc->max_spare < pc->min_spare) {
    fail(p, where(s, K_MAX_SPARE), "pm.max_spare_servers",
         "%u is less than pm.min_spare_servers (%u)", pc->max_spare,
         pc->min_spare);
    return;
  }
  if (!s->line[K_START_SERVERS])
    pc->start_servers = pc->min_spare + (pc->max_spare - pc->min_spare) / 2;
  if (pc->start_servers < pc->min_spare || pc->start_servers > pc->max_spare)
    fail(p, where(s, K_START_SERVERS), "pm.start_servers",
         "%u is not from pm.min_spare_servers (%u) to pm.max_spare_servers "
         "(%u)",
         pc->start_servers, pc->min_spare, pc->max_spare);
}

/* The checks that need the whole section. */
static void finish_pool(parser *p, pool_state *s) {
  pool_config *pc = &s->pc;
  static const enum key_id required[] = {K_COMMAND, K_LISTEN, K_MAX_CHILDREN};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!s->line[required[i]])
      fail(p, pc->line, keys[required[i]].name, "required in every pool");

  if (pc->command != NULL && !s->bad[K_CHROOT])
    finish_command(p, s);

  if (pc->has_user && !pc->has_group && s->user_has_gid)
    pc->gid = s->user_gid;
  else if (pc->has_user && !pc->has_group)
    fail(p, s->line[K_USER], "user",
         "%s: a user id without an entry needs group too", pc->user);

  if (pc->listen != NULL && !pc->listen_is_unix) {
    static const enum key_id unix_only[] = {K_LISTEN_OWNER, K_LISTEN_GROUP,
                                            K_LISTEN_MODE};
    for (size_t i = 0; i < sizeof unix_only / sizeof unix_only[0]; i++)
      if (s->line[unix_only[i]])
        fail(p, s->line[unix_only[i]], keys[unix_only[i]].name,
             "only for a Unix socket, and listen is TCP (%s)", pc->listen);
  }
  if (pc->listen != NULL && pc->listen_is_unix && s->line[K_LISTEN_CLIENTS])
    fail(p, s->line[K_LISTEN_CLIENTS], "listen.allowed_clients",
         "only for TCP: on a Unix socket it would refuse every connection");

  if (pc->chdir == NULL && (pc->chdir = strdup("/")) == NULL)
    fail(p, pc->line, "chdir", "out of memory");
  else if (pc->chroot != NULL && s->line[K_CHDIR]) {
    /* Only a path that surely is not there is a mistake: fcgikitd may not
     * see what the workers' user will. */
    char *path = inside(pc->chroot, pc->chdir);
    struct stat st;
    if (path == NULL) {
      fail(p, s->line[K_CHDIR], "chdir", "out of memory");
    } else if (stat(path, &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        fail(p, s->line[K_CHDIR], "chdir", "%s: not a directory", path);
    } else if (errno == ENOENT || errno == ENOTDIR) {
      fail(p, s->line[K_CHDIR], "chdir", "%s: %s", path, strerror(errno));
    }
    free(path);
  }

  if (pc->env == NULL && (pc->env = calloc(1, sizeof *pc->env)) == NULL)
    fail(p, pc->line, "env", "out of memory");

  if (s->line[K_MAX_CHILDREN] && !s->bad[K_MAX_CHILDREN]) {
    if (pc->pm == PM_DYNAMIC) {
      finish_dynamic(p, s);
    } else {
      /* The counts only pm = dynamic reads are ignored, as in php-fpm, and
       * start_servers says how many the model starts with. */
      pc->start_servers = pc->pm == PM_STATIC ? pc->max_children : 0;
      pc->min_spare = pc->max_spare = 0;
    }
  }
}

/* An endpoint fcgikitd listens on, for the duplicate check. */
struct endpoint {
  const char *addr, *host; /* host NULL: a Unix path in addr */
  unsigned port, line;
  const char *owner; /* the pool's name, NULL for status.listen */
};

/* Whether a socket bound to host a keeps one on the same port from binding
 * to host b: the same host, or a wildcard that takes it in (every address
 * and "::" take both families, Linux's bindv6only being 0 by default;
 * "0.0.0.0" IPv4 addresses and names). Names are not resolved. */
static int covers(const char *a, const char *b) {
  if (*a == '\0' || strcmp(a, "::") == 0)
    return 1;
  if (strcmp(a, "0.0.0.0") == 0)
    return strchr(b, ':') == NULL;
  return strcasecmp(a, b) == 0;
}

static int same_endpoint(const struct endpoint *a, const struct endpoint *b) {
  if ((a->host == NULL) != (b->host == NULL))
    return 0;
  if (a->host == NULL)
    return strcmp(a->addr, b->addr) == 0;
  return a->port == b->port &&
         (covers(a->host, b->host) || covers(b->host, a->host));
}

/* Two pools, or a pool and the status socket, on one address: the second
 * bind would fail, or take the first one's socket file away. */
static void check_addresses(parser *p) {
  struct endpoint *e = calloc(p->npools + 1, sizeof *e);
  size_t n = 0;
  if (e == NULL) {
    fail(p, 0, NULL, "out of memory");
    return;
  }
  for (size_t i = 0; i < p->npools; i++) {
    const pool_state *s = &p->pools[i];
    if (s->pc.listen != NULL && !s->bad_name)
      e[n++] = (struct endpoint){s->pc.listen, s->tcp_host, s->port,
                                 s->line[K_LISTEN], s->pc.name};
  }
  if (p->cfg.status_listen != NULL)
    e[n++] = (struct endpoint){p->cfg.status_listen, NULL, 0,
                               p->gline[K_STATUS_LISTEN], NULL};
  for (size_t j = 1; j < n; j++)
    for (size_t i = 0; i < j; i++) {
      if (!same_endpoint(&e[i], &e[j]))
        continue;
      const struct endpoint *first = e[i].line < e[j].line ? &e[i] : &e[j];
      const struct endpoint *second = first == &e[i] ? &e[j] : &e[i];
      if (first->owner != NULL)
        fail(p, second->line, second->owner ? "listen" : "status.listen",
             "%s: pool %s listens there already (line %u)", second->addr,
             first->owner, first->line);
      else
        fail(p, second->line, "listen",
             "%s: status.listen is there already (line %u)", second->addr,
             first->line);
      break;
    }
  free(e);
}

static void end_section(parser *p) {
  if (p->in == POOL)
    finish_pool(p, &p->pools[p->npools - 1]);
  p->in = NONE;
}

/* "[name]" */
static void section_line(parser *p, char *line) {
  char *close = strchr(line, ']');
  end_section(p);
  p->in = SKIP; /* until the header is found right */
  if (close == NULL) {
    fail(p, p->lineno, NULL, "%.60s: no ']' to end the section name", line);
    return;
  }
  char *rest = close + 1;
  while (is_blank(*rest))
    rest++;
  if (*rest != '\0') {
    fail(p, p->lineno, NULL, "%.60s: text after the section name", line);
    return;
  }
  *close = '\0';
  const char *name = line + 1;
  char header[300];
  snprintf(header, sizeof header, "[%.256s]", name);
  if (strcmp(name, "global") == 0) {
    if (p->global_line) {
      fail(p, p->lineno, header, "a second [global] (the first is at line %u)",
           p->global_line);
      return;
    }
    p->global_line = p->lineno;
    p->in = GLOBAL;
    return;
  }
  begin_pool(p, name, header);
}

/* Removes the double quotes around a value; the rest is taken as it is. */
static int unquote(parser *p, char **v) {
  size_t len = strlen(*v);
  p->quoted = 0;
  if ((*v)[0] != '"')
    return 0;
  if (len < 2 || (*v)[len - 1] != '"')
    return invalid(p, "a quoted value must end with its closing quote");
  (*v)[len - 1] = '\0';
  (*v)++;
  p->quoted = 1;
  return 0;
}

static int find_key(const char *name) {
  for (int k = 0; k < NKEYS; k++)
    if (strcmp(keys[k].name, name) == 0)
      return k;
  return -1;
}

/* "key = value" in the current section. */
static void key_line(parser *p, char *line) {
  char *eq = strchr(line, '=');
  if (eq == NULL) {
    fail(p, p->lineno, NULL, "%.60s%s: not a key = value line", line,
         strlen(line) > 60 ? "..." : "");
    return;
  }
  char *key = line, *v = eq + 1;
  char *kend = eq;
  while (kend > key && is_blank(kend[-1]))
    kend--;
  *kend = '\0';
  while (is_blank(*v))
    v++;
  p->key = key;
  if (*key == '\0') {
    fail(p, p->lineno, NULL, "no key before the '='");
    return;
  }
  if (p->in == NONE) {
    invalid(p, "outside any section ([global] or [POOL] comes first)");
    return;
  }
  if (p->in == SKIP)
    return;

  size_t klen = strlen(key);
  if (strncmp(key, "env[", 4) == 0 && key[klen - 1] == ']') {
    if (p->in == GLOBAL)
      return (void)invalid(p, "a pool key, not a [global] one");
    char *name = strndup(key + 4, klen - 5);
    if (name == NULL)
      return (void)no_memory(p);
    if (unquote(p, &v) == 0)
      set_env(p, &p->pools[p->npools - 1], name, v);
    free(name);
    return;
  }

  int k = find_key(key);
  if (k < 0)
    return (void)invalid(p, "unknown key");
  const struct key *def = &keys[k];
  int global = p->in == GLOBAL;
  if (global && !(def->flags & F_GLOBAL))
    return (void)invalid(p, "a pool key, not a [global] one");
  if (!global && (def->flags & F_GLOBAL))
    return (void)invalid(p, "a [global] key, not a pool one");

  pool_state *s = global ? NULL : &p->pools[p->npools - 1];
  unsigned *lines = global ? p->gline : s->line;
  unsigned char *bad = global ? p->gbad : s->bad;
  if (lines[k])
    return (void)invalid(p, "repeated (first set at line %u)", lines[k]);
  lines[k] = p->lineno;

  p->quoted = 0;
  if (!(def->flags & F_RAW) && unquote(p, &v) != 0) {
    bad[k] = 1;
    return;
  }
  if (*v == '\0' && !(def->flags & F_EMPTY)) {
    bad[k] = 1;
    invalid(p, "no value");
    return;
  }
  int rc;
  if (def->kind == V_CUSTOM)
    rc = def->set(p, s, v);
  else
    rc = set_plain(
        p, def, global ? (char *)&p->cfg + def->off : (char *)&s->pc + def->off,
        v);
  if (rc != 0)
    bad[k] = 1;
}

static void parse_line(parser *p, char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r')
    line[--len] = '\0';
  while (len > 0 && is_blank(line[len - 1]))
    line[--len] = '\0';
  while (is_blank(*line))
    line++;
  p->key = NULL;
  if (*line == '\0' || *line == ';' || *line == '#')
    return;
  if (*line == '[')
    section_line(p, line);
  else
    key_line(p, line);
}

/* --- Reading the file ---------------------------------------------------- */

/* One line into buf (MAX_LINE + 2 bytes), without its newline. Returns its
 * length, MAX_LINE + 1 when it was longer (the rest is skipped), or -1 at
 * the end of the file. */
static long read_line(FILE *f, char *buf) {
  size_t n = 0;
  int c;
  while ((c = getc(f)) != EOF && c != '\n')
    if (n <= MAX_LINE)
      buf[n++] = (char)c;
  if (c == EOF && n == 0)
    return -1;
  buf[n] = '\0';
  return (long)n;
}

static void read_file(parser *p, FILE *f) {
  char *buf = malloc(MAX_LINE + 2);
  long n;
  if (buf == NULL) {
    fail(p, 0, NULL, "out of memory");
    return;
  }
  while ((n = read_line(f, buf)) >= 0) {
    p->lineno++;
    if (p->lineno == 1 && n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
      memmove(buf, buf + 3, (size_t)n - 2); /* a UTF-8 byte order mark */
      n -= 3;
    }
    if (n > MAX_LINE)
      fail(p, p->lineno, NULL, "a line longer than %d bytes", MAX_LINE);
    else if (strlen(buf) != (size_t)n)
      fail(p, p->lineno, NULL, "a NUL byte in the line");
    else
      parse_line(p, buf, (size_t)n);
  }
  if (ferror(f))
    fail(p, 0, NULL, "reading: %s", strerror(errno));
  end_section(p);
  free(buf);
}

/* The absolute directory of path, which names a file that exists. */
static char *directory_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    return realpath(".", NULL);
  if (slash == path)
    return realpath("/", NULL);
  char *dir = strndup(path, (size_t)(slash - path));
  if (dir == NULL)
    return NULL;
  char *real = realpath(dir, NULL);
  free(dir);
  return real;
}

static void parser_free(parser *p) {
  for (size_t i = 0; i < p->npools; i++) {
    pool_free(&p->pools[i].pc);
    state_free_extra(&p->pools[i]);
  }
  free(p->pools);
  free(p->dir);
  free(p->cfg.pid_file);
  free(p->cfg.error_log);
  free(p->cfg.status_listen);
}

/* The config, once found right, handed to out; the parser keeps nothing. */
static int hand_over(parser *p, config *out) {
  config c = p->cfg;
  c.file = strdup(p->file);
  c.pools = malloc(p->npools * sizeof *c.pools);
  if (c.file == NULL || c.pools == NULL) {
    free(c.file);
    free(c.pools);
    fail(p, 0, NULL, "out of memory");
    return -1;
  }
  c.dir = p->dir;
  c.npools = p->npools;
  for (size_t i = 0; i < p->npools; i++) {
    c.pools[i] = p->pools[i].pc;
    c.pools[i].file = c.file;
    state_free_extra(&p->pools[i]);
  }
  free(p->pools);
  *out = c;
  return 0;
}

int config_load(const char *path, config *out, char *err, size_t errcap) {
  parser p = {.file = path, .err = err, .errcap = errcap};
  if (err != NULL && errcap > 0)
    err[0] = '\0';
  p.cfg.log_level = LOG_NOTICE;
  p.cfg.stop_timeout_ms = 10000;

  FILE *f = fopen(path, "re");
  struct stat st;
  if (f == NULL || (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))) {
    fail(&p, 0, NULL, "cannot open: %s",
         f == NULL ? strerror(errno) : strerror(EISDIR));
    if (f != NULL)
      fclose(f);
    return -1;
  }
  if ((p.dir = directory_of(path)) == NULL) {
    fail(&p, 0, NULL, "cannot find its directory: %s", strerror(errno));
    fclose(f);
    return -1;
  }
  read_file(&p, f);
  fclose(f);
  if (p.npools == 0 && p.nerrors == 0)
    fail(&p, 0, NULL,
         "no pool: a [NAME] section with command, listen and "
         "pm.max_children is needed");
  if (p.nerrors == 0)
    check_addresses(&p);
  if (p.nerrors == 0 && hand_over(&p, out) == 0)
    return 0;
  parser_free(&p);
  return -1;
}

void config_free(config *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->npools; i++)
    pool_free(&c->pools[i]);
  free(c->pools);
  free(c->file);
  free(c->dir);
  free(c->pid_file);
  free(c->error_log);
  free(c->status_listen);
  memset(c, 0, sizeof *c);
}
