/*
 * fcgikit-cgi: run plain CGI programs behind any FastCGI web server.
 *
 *   fcgikit-cgi [options] [ADDRESS]
 *
 * main() is the checklist a daemon follows: read the options, listen,
 * size the descriptor budget, confine (chroot, then the unprivileged user),
 * check the script roots from inside the confinement, serve.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi.h"
#include "opt.h"

enum { EXIT_FAILURE_RUN = 1, EXIT_USAGE = 2 };

typedef struct options {
  cgi_config cfg;
  const char *address;
  const char *user, *group, *chroot_dir;
  unsigned concurrency, queue, max_conns, io_threads;
  uint64_t max_body;
  int socket_mode;
} options;

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: fcgikit-cgi [options] [ADDRESS]\n"
      "\n"
      "Runs the CGI program each FastCGI request names (SCRIPT_FILENAME, or\n"
      "DOCUMENT_ROOT + SCRIPT_NAME) and relays its response.\n"
      "\n"
      "ADDRESS: a Unix socket path (anything with '/'), unix:PATH, host:port "
      "or\n"
      "[v6addr]:port; absent: the sockets systemd passes (LISTEN_FDS), else "
      "the\n"
      "listening socket on fd 0 (spawn-fcgi, fcgikitd).\n"
      "\n"
      "  -r, --root DIR         scripts may come from DIR (repeatable; "
      "required)\n"
      "  -t, --timeout SECONDS  a script's run time limit (default 60; 0 = "
      "none)\n"
      "  -c, --concurrency N    scripts running at once (default 16)\n"
      "  -q, --queue N          requests waiting for a free slot (default "
      "64);\n"
      "                         past that, FCGI_OVERLOADED\n"
      "  -e, --env NAME=VALUE   add to every script's environment "
      "(repeatable);\n"
      "                         -e NAME passes NAME from our own environment\n"
      "  -i, --interpreter PATH run scripts without the execute bit whose #!\n"
      "                         line names PATH (repeatable)\n"
      "  -u, --user USER        run as USER (and, without -g, USER's group)\n"
      "  -g, --group GROUP      run as GROUP\n"
      "      --chroot DIR       confine to DIR (roots are then inside it)\n"
      "      --max-body BYTES   refuse larger request bodies with 413 "
      "(default: no\n"
      "                         limit; bodies past 1 MiB wait in a temporary "
      "file)\n"
      "      --grace SECONDS    between SIGTERM and SIGKILL (default 5)\n"
      "      --max-conns N      web server connections at once (default 256)\n"
      "      --threads N        I/O threads (default 1)\n"
      "  -m, --mode MODE        mode of a Unix socket created (octal, e.g. "
      "660)\n"
      "  -v, --verbose          log every script's exit\n"
      "  -h, --help             this text\n"
      "  -V, --version          print the version\n"
      "\n"
      "Exit status: 0 stopped by SIGTERM or SIGINT; 1 could not start or "
      "serve;\n"
      "2 bad command line. See fcgikit-cgi(8).\n");
}

static int fail_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "fcgikit-cgi: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(fcgikit-cgi --help lists the options)\n");
  return EXIT_USAGE;
}

static int push(char ***list, size_t *n, char *item) {
  char **l = realloc(*list, (*n + 1) * sizeof *l);
  if (l == NULL)
    return -1;
  l[(*n)++] = item;
  *list = l;
  return 0;
}

/* -e NAME=VALUE, or -e NAME for our own NAME (left out when unset). */
static int add_env(options *o, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == arg || *arg == '\0')
    return fail_usage("-e %s: no variable name", arg);
  char *var;
  if (eq != NULL) {
    var = strdup(arg);
  } else {
    const char *value = getenv(arg);
    if (value == NULL)
      return 0;
    var = malloc(strlen(arg) + strlen(value) + 2);
    if (var != NULL)
      sprintf(var, "%s=%s", arg, value);
  }
  if (var == NULL || push(&o->cfg.extra_env, &o->cfg.nextra_env, var) != 0)
    return fail_usage("%s", "out of memory");
  return 0;
}

static int parse_options(options *o, int argc, char **argv) {
  enum {
    OPT_CHROOT = 256,
    OPT_MAX_BODY,
    OPT_GRACE,
    OPT_MAX_CONNS,
    OPT_THREADS
  };
  static const struct option longopts[] = {
      {"root", required_argument, NULL, 'r'},
      {"timeout", required_argument, NULL, 't'},
      {"concurrency", required_argument, NULL, 'c'},
      {"queue", required_argument, NULL, 'q'},
      {"env", required_argument, NULL, 'e'},
      {"interpreter", required_argument, NULL, 'i'},
      {"user", required_argument, NULL, 'u'},
      {"group", required_argument, NULL, 'g'},
      {"chroot", required_argument, NULL, OPT_CHROOT},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"grace", required_argument, NULL, OPT_GRACE},
      {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
      {"threads", required_argument, NULL, OPT_THREADS},
      {"mode", required_argument, NULL, 'm'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  uint64_t v;
  int c;
  while ((c = getopt_long(argc, argv, "r:t:c:q:e:i:u:g:m:vhV", longopts,
                          NULL)) != -1) {
    switch (c) {
    case 'r':
      if (push(&o->cfg.roots, &o->cfg.nroots, strdup(optarg)) != 0 ||
          o->cfg.roots[o->cfg.nroots - 1] == NULL)
        return fail_usage("%s", "out of memory");
      break;
    case 't':
      if (opt_seconds(optarg, &o->cfg.timeout_ms) != 0)
        return fail_usage("-t %s: not a number of seconds", optarg);
      break;
    case OPT_GRACE:
      if (opt_seconds(optarg, &o->cfg.grace_ms) != 0)
        return fail_usage("--grace %s: not a number of seconds", optarg);
      break;
    case 'c':
      if (opt_number(optarg, 1, 65536, &v) != 0)
        return fail_usage("-c %s: not a number from 1 to 65536", optarg);
      o->concurrency = (unsigned)v;
      break;
    case 'q':
      if (opt_number(optarg, 0, 1u << 20, &v) != 0)
        return fail_usage("-q %s: not a number from 0 to 1048576", optarg);
      o->queue = (unsigned)v;
      break;
    case OPT_MAX_CONNS:
      if (opt_number(optarg, 1, 1u << 20, &v) != 0)
        return fail_usage("--max-conns %s: not a number from 1", optarg);
      o->max_conns = (unsigned)v;
      break;
    case OPT_THREADS:
      if (opt_number(optarg, 1, 256, &v) != 0)
        return fail_usage("--threads %s: not a number from 1 to 256", optarg);
      o->io_threads = (unsigned)v;
      break;
    case OPT_MAX_BODY:
      if (opt_number(optarg, 0, UINT64_MAX, &o->max_body) != 0)
        return fail_usage("--max-body %s: not a number of bytes", optarg);
      break;
    case 'e':
      if (add_env(o, optarg) != 0)
        return EXIT_USAGE;
      break;
    case 'i':
      if (optarg[0] != '/')
        return fail_usage("-i %s: not an absolute path", optarg);
      if (push(&o->cfg.interpreters, &o->cfg.ninterpreters, optarg) != 0)
        return fail_usage("%s", "out of memory");
      break;
    case 'u': o->user = optarg; break;
    case 'g': o->group = optarg; break;
    case OPT_CHROOT: o->chroot_dir = optarg; break;
    case 'm': {
      char *end;
      long mode = strtol(optarg, &end, 8);
      if (end == optarg || *end != '\0' || mode < 0 || mode > 0777)
        return fail_usage("-m %s: not an octal mode", optarg);
      o->socket_mode = (int)mode;
      break;
    }
    case 'v': o->cfg.verbose = 1; break;
    case 'h': usage(stdout); exit(0);
    case 'V': printf("fcgikit-cgi %s\n", FK_VERSION_STRING); exit(0);
    default: return EXIT_USAGE;
    }
  }
  if (optind < argc)
    o->address = argv[optind++];
  if (optind < argc)
    return fail_usage("unexpected argument '%s'", argv[optind]);
  if (o->cfg.nroots == 0)
    return fail_usage("%s", "no script root: give -r DIR (-r / allows every "
                            "program on the system)");
  return 0;
}

/* --- Setting up ---------------------------------------------------------- */

/* A web server may start us with fd 0, 1 or 2 closed. Filling them keeps
 * the pipes to scripts above 2, and a script's dup2 from clobbering one
 * pipe end with another. */
static void fill_std_fds(void) {
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) < 0)
      break;
}

/* The descriptors serving can need at once: per connection one; per
 * request admitted, a body spilled to a temporary file; per running script
 * three pipes and a pidfd; a reserve for listening sockets, event loops and
 * logs. The soft limit is raised to fit, within the hard one. */
static int fd_budget(const options *o) {
  rlim_t need = 64 + (rlim_t)o->max_conns +
                (rlim_t)(o->concurrency + o->queue) +
                4 * (rlim_t)o->concurrency;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
      cgi_log("%llu descriptors needed for --max-conns %u, -c %u and -q %u, "
              "but the limit is %llu: lower those or raise `ulimit -Hn`",
              (unsigned long long)need, o->max_conns, o->concurrency, o->queue,
              (unsigned long long)rl.rlim_max);
      return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      cgi_log("raising the descriptor limit to %llu: %s",
              (unsigned long long)need, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* Looks up the user and group before a chroot hides /etc. */
static int lookup_ids(const options *o, uid_t *uid, gid_t *gid) {
  if (o->user != NULL) {
    struct passwd *pw = getpwnam(o->user);
    if (pw == NULL) {
      cgi_log("-u %s: no such user", o->user);
      return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
  }
  if (o->group != NULL) {
    struct group *gr = getgrnam(o->group);
    if (gr == NULL) {
      cgi_log("-g %s: no such group", o->group);
      return -1;
    }
    *gid = gr->gr_gid;
  }
  return 0;
}

/* chroot, then the user: supplementary groups, group, user, in that order,
 * and a check that root cannot be had back. */
static int confine(const options *o) {
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  if (lookup_ids(o, &uid, &gid) != 0)
    return -1;
  if (o->chroot_dir != NULL &&
      (chroot(o->chroot_dir) != 0 || chdir("/") != 0)) {
    cgi_log("--chroot %s: %s", o->chroot_dir, strerror(errno));
    return -1;
  }
  if (gid != (gid_t)-1) {
    int rc = o->user != NULL ? initgroups(o->user, gid) : setgroups(1, &gid);
    if (rc != 0 || setresgid(gid, gid, gid) != 0) {
      cgi_log("switching to group %lu: %s", (unsigned long)gid,
              strerror(errno));
      return -1;
    }
  }
  if (uid != (uid_t)-1) {
    if (setresuid(uid, uid, uid) != 0) {
      cgi_log("switching to user %s: %s", o->user, strerror(errno));
      return -1;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
      cgi_log("%s", "privileges could not be dropped for good");
      return -1;
    }
  }
  if (geteuid() == 0)
    cgi_log("%s", "warning: scripts run as root; -u USER runs them as an "
                  "unprivileged user");
  return 0;
}

/* Each root, as the real path the checks compare with. */
static int resolve_roots(cgi_config *cfg) {
  for (size_t i = 0; i < cfg->nroots; i++) {
    char *real = realpath(cfg->roots[i], NULL);
    struct stat st;
    if (real == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
      cgi_log("-r %s: %s", cfg->roots[i],
              real == NULL ? strerror(errno) : "not a directory");
      free(real);
      return -1;
    }
    free(cfg->roots[i]);
    cfg->roots[i] = real;
  }
  return 0;
}

static void free_options(options *o) {
  for (size_t i = 0; i < o->cfg.nroots; i++)
    free(o->cfg.roots[i]);
  for (size_t i = 0; i < o->cfg.nextra_env; i++)
    free(o->cfg.extra_env[i]);
  free(o->cfg.roots);
  free(o->cfg.extra_env);
  free(o->cfg.interpreters);
}

static void library_log(int level, const char *msg, void *arg) {
  const options *o = arg;
  if (level <= FK_LOG_WARNING || o->cfg.verbose)
    cgi_log("%s", msg);
}

int main(int argc, char **argv) {
  options o = {.concurrency = 16,
               .queue = 64,
               .max_conns = 256,
               .io_threads = 1,
               .socket_mode = -1};
  o.cfg.timeout_ms = 60000;
  o.cfg.grace_ms = 5000;
  o.cfg.header_max = 64 * 1024;
  int rc = parse_options(&o, argc, argv);
  if (rc != 0) {
    free_options(&o);
    return rc;
  }
  fill_std_fds();

  fk_config fc;
  fk_config_init(&fc);
  fc.threads = o.io_threads;
  fc.handler_threads = o.concurrency;
  fc.max_reqs = o.concurrency + o.queue;
  fc.max_conns = o.max_conns;
  fc.max_body = o.max_body;
  fc.socket_mode = o.socket_mode;
  /* On SIGTERM, scripts running get their full time before the server
   * closes connections (which stops them). */
  if (o.cfg.timeout_ms)
    fc.stop_timeout_ms = o.cfg.timeout_ms + o.cfg.grace_ms + 1000;
  /* A script waiting for a web server that does not read its output is
   * still running: it may wait no longer than it may run. */
  if (o.cfg.timeout_ms)
    fc.io_timeout_ms = o.cfg.timeout_ms;
  fc.log = library_log;
  fc.log_arg = &o;

  fk_server *server = NULL;
  rc = fk_server_new(&server, &fc);
  if (rc == FK_OK)
    rc = fk_server_handle(server, FK_RESPONDER, cgi_serve, &o.cfg);
  if (rc == FK_OK)
    rc = fk_server_listen(server, o.address);
  if (rc != FK_OK) {
    cgi_log("%s: %s%s%s", o.address ? o.address : "(inherited socket)",
            fk_strerror(rc), rc == FK_E_SYSTEM ? ": " : "",
            rc == FK_E_SYSTEM ? strerror(errno) : "");
    fk_server_free(server);
    free_options(&o);
    return EXIT_FAILURE_RUN;
  }
  if (fd_budget(&o) != 0 || confine(&o) != 0 || resolve_roots(&o.cfg) != 0) {
    fk_server_free(server);
    free_options(&o);
    return EXIT_FAILURE_RUN;
  }
  rc = fk_server_run(server);
  fk_server_free(server);
  free_options(&o);
  if (rc != FK_OK) {
    cgi_log("serving: %s", fk_strerror(rc));
    return EXIT_FAILURE_RUN;
  }
  return 0;
}
