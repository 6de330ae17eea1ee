/*
 * Unit tests of fcgikitd's configuration (src/manager/config.c): files
 * written into a temporary directory, loaded, and every value or message
 * compared. A file that must fail must leave the caller's config as it was
 * and name the file, the line and the key.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char tmp[PATH_MAX]; /* the temporary directory, as realpath gives it */

/* --- Files --------------------------------------------------------------- */

static const char *in_tmp(const char *name) {
  static char bufs[4][PATH_MAX + 64];
  static unsigned next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", tmp, name);
  return b;
}

static void put_bytes(const char *name, const void *data, size_t len,
                      mode_t mode) {
  FILE *f = fopen(in_tmp(name), "w");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0 ||
      chmod(in_tmp(name), mode) != 0) {
    perror(name);
    exit(1);
  }
}

static void put(const char *name, const char *text, mode_t mode) {
  put_bytes(name, text, strlen(text), mode);
}

static void make_dir(const char *name) {
  if (mkdir(in_tmp(name), 0755) != 0 && errno != EEXIST) {
    perror(name);
    exit(1);
  }
}

static int load_text(const char *text, config *c, char *err, size_t cap) {
  put("test.conf", text, 0644);
  return config_load(in_tmp("test.conf"), c, err, cap);
}

/* text loads; the messages are shown when it does not. */
static int good(const char *text, config *c) {
  char err[8192];
  int rc = load_text(text, c, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "  unexpected failure:\n%s\n", err);
  return rc == 0;
}

/* Whether err has a line "FILE:LINE: KEY: ..." (no ":LINE" for line 0, no
 * "KEY: " for a NULL key) with what in it. */
static int has_message(const char *err, const char *file, unsigned line,
                       const char *key, const char *what) {
  char prefix[PATH_MAX + 256];
  if (line)
    snprintf(prefix, sizeof prefix, "%s:%u: %s%s", file, line, key ? key : "",
             key ? ": " : "");
  else
    snprintf(prefix, sizeof prefix, "%s: %s%s", file, key ? key : "",
             key ? ": " : "");
  for (const char *l = err; *l;) {
    size_t len = strcspn(l, "\n");
    char *copy = strndup(l, len);
    int ok = strncmp(copy, prefix, strlen(prefix)) == 0 &&
             strstr(copy + strlen(prefix), what) != NULL;
    free(copy);
    if (ok)
      return 1;
    l += len + (l[len] == '\n');
  }
  return 0;
}

static unsigned count_lines(const char *s) {
  unsigned n = *s != '\0';
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* text fails with that message, and the config is left alone. */
#define BAD(text, line, key, what) bad(__LINE__, text, line, key, what)

static void bad(int at, const char *text, unsigned line, const char *key,
                const char *what) {
  config c, before;
  char err[8192];
  memset(&c, 0x5a, sizeof c);
  before = c;
  int rc = load_text(text, &c, err, sizeof err);
  int untouched = memcmp(&c, &before, sizeof c) == 0;
  if (rc != -1 || !untouched ||
      !has_message(err, in_tmp("test.conf"), line, key, what)) {
    fprintf(stderr,
            "%s:%d: expected line %u, key %s: \"%s\"; rc %d, %s, got:\n%s\n",
            __FILE__, at, line, key ? key : "(none)", what, rc,
            untouched ? "untouched" : "CONFIG CHANGED", err);
    fk_test_failures++;
  }
  if (rc == 0)
    config_free(&c);
}

/* Four lines that make a pool; whatever follows is line 5 on. */
#define BASE "[p]\ncommand = worker\nlisten = 9000\npm.max_children = 1\n"

/* --- Durations ----------------------------------------------------------- */

static void test_durations(void) {
  static const struct {
    const char *s;
    int rc;
    unsigned ms;
  } v[] = {
      {"0", 0, 0},
      {"10", 0, 10000},
      {"10s", 0, 10000},
      {"5m", 0, 300000},
      {"1h", 0, 3600000},
      {"1d", 0, 86400000},
      {"0d", 0, 0},
      {"007", 0, 7000},
      {"4000000", 0, 4000000000u},
      {"4000000s", 0, 4000000000u},
      {"66666m", 0, 3999960000u},
      {"46d", 0, 3974400000u},
      {"4000001", -1, 0},
      {"66667m", -1, 0},
      {"1112h", -1, 0},
      {"47d", -1, 0},
      {"99999999999999999999999", -1, 0},
      {"18446744073709551617", -1, 0},
      {"", -1, 0},
      {"s", -1, 0},
      {"-1", -1, 0},
      {"+1", -1, 0},
      {" 1", -1, 0},
      {"1 ", -1, 0},
      {"1.5", -1, 0},
      {"1ms", -1, 0},
      {"1S", -1, 0},
      {"1w", -1, 0},
      {"1ss", -1, 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    unsigned ms = 12345;
    int rc = config_duration(v[i].s, &ms);
    if (rc != v[i].rc || (rc == 0 && ms != v[i].ms) ||
        (rc != 0 && ms != 12345)) {
      fprintf(stderr, "  duration \"%s\": rc %d ms %u\n", v[i].s, rc, ms);
      fk_test_failures++;
    }
  }
  unsigned ms;
  CHECK_EQ(config_duration(NULL, &ms), -1);
}

/* --- Whole files --------------------------------------------------------- */

static void test_full(void) {
  setenv("FK_TEST_HOME", "/home/fk", 1);
  unsetenv("FK_TEST_UNSET");
  const char *text = "; fcgikitd.conf with every key\n"
                     "  # a comment after blanks\n"
                     "[global]\n"
                     "pid = /run/fcgikitd.pid\n"
                     "error_log = syslog\n"
                     "log_level = debug\n"
                     "status.listen = unix:/run/fcgikitd-status.sock\n"
                     "process_control_timeout = 1m\n"
                     "\n"
                     "[www]\n"
                     "command = /bin/worker\n"
                     "args = -c \"/etc/php 1.ini\" a\\\"b \"\" x\\ y\n"
                     "env[PATH] = /usr/bin:/bin\n"
                     "env[HOME] = $FK_TEST_HOME\n"
                     "env[GONE] = $FK_TEST_UNSET\n"
                     "env[LITERAL] = \"$FK_TEST_HOME\"\n"
                     "env[SEMI] = a;b # not a comment\n"
                     "env[EMPTY] =\n"
                     "env[BLANKS] = \"  padded  \"\n"
                     "clear_env = no\n"
                     "listen = /run/www.sock\n"
                     "listen.owner = nobody\n"
                     "listen.group = nogroup\n"
                     "listen.mode = 0600\n"
                     "listen.backlog = 128\n"
                     "user = nobody\n"
                     "group = nogroup\n"
                     "groups = nogroup, 0\n"
                     "chroot = " /* absolute here; relative in test_relative */
                     "%s\n"
                     "chdir = /bin\n"
                     "umask = 027\n"
                     "rlimit_files = 4096\n"
                     "rlimit_core = unlimited\n"
                     "rlimit_as = 512M\n"
                     "pm = dynamic\n"
                     "pm.max_children = 20\n"
                     "pm.start_servers = 4\n"
                     "pm.min_spare_servers = 2\n"
                     "pm.max_spare_servers = 6\n"
                     "pm.process_idle_timeout = 30s\n"
                     "pm.max_requests = 500\n"
                     "request_terminate_timeout = 2m\n"
                     "stop_signal = SIGQUIT\n"
                     "catch_workers_output = off\n"
                     "\n"
                     "[api.v2_x-y]\n"
                     "command = worker\n"
                     "listen = 127.0.0.1:9000\n"
                     "listen.allowed_clients = 127.0.0.1 , ::1\n"
                     "pm = ondemand\n"
                     "pm.max_children = 5\n"
                     "stop_signal = usr1\n";
  char buf[4096];
  snprintf(buf, sizeof buf, text, in_tmp("jail"));
  config c;
  if (!good(buf, &c))
    return;

  CHECK(strcmp(c.file, in_tmp("test.conf")) == 0);
  CHECK(strcmp(c.dir, tmp) == 0);
  CHECK(strcmp(c.pid_file, "/run/fcgikitd.pid") == 0);
  CHECK(strcmp(c.error_log, "syslog") == 0);
  CHECK_EQ(c.log_level, LOG_DEBUG);
  CHECK(strcmp(c.status_listen, "/run/fcgikitd-status.sock") == 0);
  CHECK_EQ(c.stop_timeout_ms, 60000);
  CHECK_EQ(c.npools, 2);

  pool_config *w = &c.pools[0];
  CHECK(strcmp(w->name, "www") == 0);
  CHECK(w->file == c.file);
  CHECK_EQ(w->line, 10);
  CHECK(strcmp(w->command, "/bin/worker") == 0);
  static const char *const argv[] = {"/bin/worker", "-c", "/etc/php 1.ini",
                                     "a\"b",        "",   "x y"};
  for (size_t i = 0; i < 6; i++)
    CHECK(w->argv[i] != NULL && strcmp(w->argv[i], argv[i]) == 0);
  CHECK(w->argv[6] == NULL);
  static const char *const env[] = {
      "PATH=/usr/bin:/bin",       "HOME=/home/fk", "LITERAL=$FK_TEST_HOME",
      "SEMI=a;b # not a comment", "EMPTY=",        "BLANKS=  padded  "};
  for (size_t i = 0; i < 6; i++)
    CHECK(w->env[i] != NULL && strcmp(w->env[i], env[i]) == 0);
  CHECK(w->env[6] == NULL);
  CHECK_EQ(w->clear_env, 0);
  CHECK(strcmp(w->listen, "/run/www.sock") == 0);
  CHECK_EQ(w->listen_is_unix, 1);
  CHECK(strcmp(w->listen_owner, "nobody") == 0);
  CHECK(strcmp(w->listen_group, "nogroup") == 0);
  CHECK_EQ(w->listen_mode, 0600);
  CHECK_EQ(w->listen_backlog, 128);
  CHECK(w->listen_allowed_clients == NULL);
  CHECK_EQ(w->has_user, 1);
  CHECK_EQ(w->has_group, 1);
  CHECK(strcmp(w->user, "nobody") == 0);
  CHECK(strcmp(w->group, "nogroup") == 0);
  CHECK_EQ(w->uid, 65534);
  CHECK_EQ(w->gid, 65534);
  CHECK_EQ(w->ngroups, 2);
  CHECK_EQ(w->groups[0], 65534);
  CHECK_EQ(w->groups[1], 0);
  CHECK(strcmp(w->chroot, in_tmp("jail")) == 0);
  CHECK(strcmp(w->chdir, "/bin") == 0);
  CHECK_EQ(w->umask, 027);
  CHECK_EQ(w->rlimit_files, 4096);
  CHECK(w->rlimit_core == (uint64_t)RLIM_INFINITY);
  CHECK_EQ(w->rlimit_as, 512ull << 20);
  CHECK_EQ(w->pm, PM_DYNAMIC);
  CHECK_EQ(w->max_children, 20);
  CHECK_EQ(w->start_servers, 4);
  CHECK_EQ(w->min_spare, 2);
  CHECK_EQ(w->max_spare, 6);
  CHECK_EQ(w->idle_timeout_ms, 30000);
  CHECK_EQ(w->max_requests, 500);
  CHECK_EQ(w->request_timeout_ms, 120000);
  CHECK_EQ(w->stop_signal, SIGQUIT);
  CHECK_EQ(w->catch_output, 0);

  pool_config *a = &c.pools[1];
  CHECK(strcmp(a->name, "api.v2_x-y") == 0);
  CHECK_EQ(a->line, 46);
  CHECK(strcmp(a->command, in_tmp("worker")) == 0);
  CHECK(strcmp(a->argv[0], in_tmp("worker")) == 0 && a->argv[1] == NULL);
  CHECK(a->env != NULL && a->env[0] == NULL);
  CHECK(strcmp(a->listen, "127.0.0.1:9000") == 0);
  CHECK_EQ(a->listen_is_unix, 0);
  CHECK(strcmp(a->listen_allowed_clients, "127.0.0.1,::1") == 0);
  CHECK_EQ(a->pm, PM_ONDEMAND);
  CHECK_EQ(a->start_servers, 0);
  CHECK_EQ(a->stop_signal, SIGUSR1);
  config_free(&c);
  CHECK(c.pools == NULL && c.npools == 0 && c.file == NULL);
  config_free(&c); /* twice is harmless */
  config_free(NULL);
}

static void test_defaults(void) {
  config c;
  if (!good(BASE, &c))
    return;
  CHECK(c.pid_file == NULL);
  CHECK(c.error_log == NULL);
  CHECK_EQ(c.log_level, LOG_NOTICE);
  CHECK(c.status_listen == NULL);
  CHECK_EQ(c.stop_timeout_ms, 10000);
  CHECK_EQ(c.npools, 1);
  pool_config *p = &c.pools[0];
  CHECK(strcmp(p->name, "p") == 0);
  CHECK_EQ(p->line, 1);
  CHECK(p->argv[0] != NULL && p->argv[1] == NULL);
  CHECK(p->env != NULL && p->env[0] == NULL);
  CHECK_EQ(p->clear_env, 1);
  CHECK(strcmp(p->listen, ":9000") == 0);
  CHECK_EQ(p->listen_is_unix, 0);
  CHECK(p->listen_owner == NULL && p->listen_group == NULL);
  CHECK_EQ(p->listen_mode, 0660);
  CHECK_EQ(p->listen_backlog, 511);
  CHECK(p->listen_allowed_clients == NULL);
  CHECK_EQ(p->has_user, 0);
  CHECK_EQ(p->has_group, 0);
  CHECK(p->user == NULL && p->group == NULL);
  CHECK(p->uid == (uid_t)-1 && p->gid == (gid_t)-1);
  CHECK(p->groups == NULL);
  CHECK_EQ(p->ngroups, -1);
  CHECK(p->chroot == NULL);
  CHECK(strcmp(p->chdir, "/") == 0);
  CHECK_EQ(p->umask, 022);
  CHECK(p->rlimit_files == RLIMIT_UNSET);
  CHECK(p->rlimit_core == RLIMIT_UNSET);
  CHECK(p->rlimit_as == RLIMIT_UNSET);
  CHECK_EQ(p->pm, PM_STATIC);
  CHECK_EQ(p->max_children, 1);
  CHECK_EQ(p->start_servers, 1); /* static starts them all */
  CHECK_EQ(p->idle_timeout_ms, 10000);
  CHECK_EQ(p->max_requests, 0);
  CHECK_EQ(p->request_timeout_ms, 0);
  CHECK_EQ(p->stop_signal, SIGTERM);
  CHECK_EQ(p->catch_output, 1);
  config_free(&c);
}

/* Relative paths start at the file's directory, however the file itself
 * was named. */
static void test_relative(void) {
  char cwd[PATH_MAX];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  put("rel.conf",
      "[global]\n"
      "pid = run/fcgikitd.pid\n"
      "error_log = ./log/error.log\n"
      "status.listen = status.sock\n"
      "[a]\n"
      "command = ./worker\n"
      "listen = www.sock\n"
      "pm.max_children = 1\n"
      "[b]\n"
      "command = sub/../worker\n"
      "listen = unix:sock/b\n"
      "pm.max_children = 1\n"
      "[c]\n"
      "command = /bin/worker\n"
      "chroot = jail\n"
      "listen = sock/c.sock\n"
      "pm.max_children = 1\n",
      0644);
  CHECK_EQ(chdir(tmp), 0);
  config c;
  char err[4096];
  int rc = config_load("rel.conf", &c, err, sizeof err);
  CHECK_EQ(chdir(cwd), 0);
  CHECK_EQ(rc, 0);
  if (rc != 0) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  CHECK(strcmp(c.file, "rel.conf") == 0);
  CHECK(c.pools[0].file == c.file);
  CHECK(strcmp(c.dir, tmp) == 0);
  CHECK(strcmp(c.pid_file, in_tmp("run/fcgikitd.pid")) == 0);
  CHECK(strcmp(c.error_log, in_tmp("log/error.log")) == 0);
  CHECK(strcmp(c.status_listen, in_tmp("status.sock")) == 0);
  CHECK(strcmp(c.pools[0].command, in_tmp("worker")) == 0);
  CHECK(strcmp(c.pools[0].argv[0], in_tmp("worker")) == 0);
  CHECK(strcmp(c.pools[0].listen, in_tmp("www.sock")) == 0);
  CHECK_EQ(c.pools[0].listen_is_unix, 1);
  /* Paths are normalised: no "." or ".." left. */
  CHECK(strcmp(c.pools[1].command, in_tmp("worker")) == 0);
  CHECK(strcmp(c.pools[1].listen, in_tmp("sock/b")) == 0);
  /* Inside a chroot the command stays as written. */
  CHECK(strcmp(c.pools[2].command, "/bin/worker") == 0);
  CHECK(strcmp(c.pools[2].chroot, in_tmp("jail")) == 0);
  CHECK(strcmp(c.pools[2].listen, in_tmp("sock/c.sock")) == 0);
  config_free(&c);

  /* A file named through another directory. */
  put("sub/nested.conf",
      "[n]\ncommand = ../worker\nlisten = n.sock\npm.max_children = 1\n", 0644);
  rc = config_load(in_tmp("sub/../sub/nested.conf"), &c, err, sizeof err);
  CHECK_EQ(rc, 0);
  if (rc == 0) {
    CHECK(strcmp(c.dir, in_tmp("sub")) == 0);
    CHECK(strcmp(c.pools[0].command, in_tmp("worker")) == 0);
    CHECK(strcmp(c.pools[0].listen, in_tmp("sub/n.sock")) == 0);
    config_free(&c);
  }
}

static void test_listen_forms(void) {
  static const struct {
    const char *in, *out; /* out NULL: in the temporary directory */
    int is_unix;
  } v[] = {
      {"9000", ":9000", 0},
      {"*:9000", ":9000", 0},
      {":9000", ":9000", 0},
      {"127.0.0.1:9000", "127.0.0.1:9000", 0},
      {"localhost:65535", "localhost:65535", 0},
      {"[::1]:9000", "[::1]:9000", 0},
      {"[::]:1", "[::]:1", 0},
      {"/run/x.sock", "/run/x.sock", 1},
      {"/run/x", "/run/x", 1},
      {"unix:/run/y", "/run/y", 1},
      {"\"/run/quoted.sock\"", "/run/quoted.sock", 1},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char text[512];
    config c;
    snprintf(text, sizeof text,
             "[p]\ncommand = worker\npm.max_children = 1\nlisten = %s\n",
             v[i].in);
    if (!good(text, &c)) {
      fprintf(stderr, "  listen = %s\n", v[i].in);
      fk_test_failures++;
      continue;
    }
    if (strcmp(c.pools[0].listen, v[i].out) != 0 ||
        c.pools[0].listen_is_unix != v[i].is_unix) {
      fprintf(stderr, "  listen = %s: got %s (unix %d)\n", v[i].in,
              c.pools[0].listen, c.pools[0].listen_is_unix);
      fk_test_failures++;
    }
    config_free(&c);
  }

  BAD(BASE "[q]\ncommand = worker\npm.max_children = 1\nlisten = ::1:9000\n", 8,
      "listen", "brackets");
#define LISTEN_BAD(addr, what)                                                 \
  BAD("[p]\ncommand = worker\npm.max_children = 1\nlisten = " addr "\n", 4,    \
      "listen", what)
  LISTEN_BAD("host", "neither a Unix socket path");
  LISTEN_BAD("host:0", "not a number from 1 to 65535");
  LISTEN_BAD("host:65536", "not a number from 1 to 65535");
  LISTEN_BAD("host:", "not a number from 1 to 65535");
  LISTEN_BAD("host:90x", "not a number from 1 to 65535");
  LISTEN_BAD("0", "not a number from 1 to 65535");
  LISTEN_BAD("[::1]9000", "not [IPv6 address]:port");
  LISTEN_BAD("[::1:9000", "not [IPv6 address]:port");
  LISTEN_BAD("[nope]:9000", "not an IPv6 address");
  LISTEN_BAD("my host:9000", "not a host name");
  LISTEN_BAD("unix:", "without a path");
  LISTEN_BAD("/run/"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "longer than a Unix socket address");
#undef LISTEN_BAD
}

static void test_users(void) {
  config c;
  if (good(BASE "user = nobody\n", &c)) {
    CHECK_EQ(c.pools[0].has_user, 1);
    CHECK_EQ(c.pools[0].has_group, 0);
    CHECK_EQ(c.pools[0].uid, 65534);
    CHECK_EQ(c.pools[0].gid, 65534); /* nobody's own group */
    CHECK(c.pools[0].group == NULL);
    CHECK(c.pools[0].groups == NULL && c.pools[0].ngroups == -1);
    config_free(&c);
  }
  if (good(BASE "user = 0\ngroup = nogroup\ngroups =\n", &c)) {
    CHECK(strcmp(c.pools[0].user, "root") == 0); /* the name, for initgroups */
    CHECK_EQ(c.pools[0].uid, 0);
    CHECK_EQ(c.pools[0].gid, 65534);
    CHECK_EQ(c.pools[0].has_group, 1);
    CHECK(c.pools[0].groups != NULL && c.pools[0].ngroups == 0);
    config_free(&c);
  }
  if (good(BASE "group = 65534\ngroups = nogroup 0,,65534\n", &c)) {
    CHECK_EQ(c.pools[0].has_user, 0);
    CHECK(c.pools[0].uid == (uid_t)-1);
    CHECK_EQ(c.pools[0].gid, 65534);
    CHECK_EQ(c.pools[0].ngroups, 3);
    config_free(&c);
  }
  /* An id with no entry is taken as it is, but then has no group. */
  if (good(BASE "user = 4000000000\ngroup = 4000000001\n", &c)) {
    CHECK_EQ(c.pools[0].uid, 4000000000u);
    CHECK_EQ(c.pools[0].gid, 4000000001u);
    config_free(&c);
  }
  BAD(BASE "user = 4000000000\n", 5, "user", "needs group too");
  BAD(BASE "user = fk-no-such-user\n", 5, "user",
      "fk-no-such-user: no such user");
  BAD(BASE "group = fk-no-such-group\n", 5, "group", "no such group");
  BAD(BASE "groups = nogroup, fk-no-such-group\n", 5, "groups",
      "fk-no-such-group: no such group");
  BAD(BASE "listen = /run/x.sock\n", 5, "listen", "repeated");
  BAD("[p]\ncommand = worker\nlisten = /run/x.sock\npm.max_children = 1\n"
      "listen.owner = fk-no-such-user\n",
      5, "listen.owner", "no such user");
  BAD("[p]\ncommand = worker\nlisten = /run/x.sock\npm.max_children = 1\n"
      "listen.group = fk-no-such-group\n",
      5, "listen.group", "no such group");
  BAD(BASE "user = 4294967295\n", 5, "user", "no such user");
}

static void test_dynamic(void) {
  static const struct {
    const char *keys;
    unsigned start, min, max;
  } ok[] = {
      {"pm.max_children = 10\n", 2, 1, 3},
      {"pm.max_children = 2\n", 1, 1, 2},
      {"pm.max_children = 1\n", 1, 1, 1},
      {"pm.max_children = 10\npm.min_spare_servers = 5\n", 5, 5, 5},
      {"pm.max_children = 10\npm.max_spare_servers = 9\n", 5, 1, 9},
      {"pm.max_children = 10\npm.min_spare_servers = 2\n"
       "pm.max_spare_servers = 8\n",
       5, 2, 8},
      {"pm.max_children = 10\npm.start_servers = 3\n", 3, 1, 3},
      {"pm.max_children = 10\npm.start_servers = 1\n", 1, 1, 3},
      {"pm.max_children = 10\npm.min_spare_servers = 10\n"
       "pm.max_spare_servers = 10\npm.start_servers = 10\n",
       10, 10, 10},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char text[512];
    config c;
    snprintf(text, sizeof text,
             "[p]\ncommand = worker\nlisten = 9000\npm = dynamic\n%s",
             ok[i].keys);
    if (!good(text, &c)) {
      fk_test_failures++;
      continue;
    }
    pool_config *p = &c.pools[0];
    if (p->start_servers != ok[i].start || p->min_spare != ok[i].min ||
        p->max_spare != ok[i].max) {
      fprintf(stderr, "  dynamic %zu: start %u min %u max %u\n", i,
              p->start_servers, p->min_spare, p->max_spare);
      fk_test_failures++;
    }
    config_free(&c);
  }

#define DYN "[p]\ncommand = worker\nlisten = 9000\npm = dynamic\n"
  BAD(DYN "pm.max_children = 5\npm.min_spare_servers = 0\n", 6,
      "pm.min_spare_servers", "at least 1");
  BAD(DYN "pm.max_children = 5\npm.min_spare_servers = 6\n", 6,
      "pm.min_spare_servers", "6 is more than pm.max_children (5)");
  BAD(DYN "pm.max_children = 5\npm.max_spare_servers = 6\n", 6,
      "pm.max_spare_servers", "6 is more than pm.max_children (5)");
  BAD(DYN "pm.max_children = 5\npm.min_spare_servers = 3\n"
          "pm.max_spare_servers = 2\n",
      7, "pm.max_spare_servers", "2 is less than pm.min_spare_servers (3)");
  BAD(DYN "pm.max_children = 5\npm.start_servers = 4\n", 6, "pm.start_servers",
      "4 is not from pm.min_spare_servers (1) to pm.max_spare_servers (3)");
  BAD(DYN "pm.start_servers = 0\npm.max_children = 5\n"
          "pm.min_spare_servers = 2\n",
      5, "pm.start_servers", "0 is not from");
  BAD(DYN "pm.max_children = 5\npm.max_spare_servers = 10001\n", 6,
      "pm.max_spare_servers", "not a number from 0 to 10000");
#undef DYN

  /* The dynamic counts are read, then ignored, with the other models. */
  config c;
  if (good(BASE "pm.min_spare_servers = 7\npm.start_servers = 9\n", &c)) {
    CHECK_EQ(c.pools[0].start_servers, 1);
    CHECK_EQ(c.pools[0].min_spare, 0);
    config_free(&c);
  }
}

static void test_duplicate_listen(void) {
  BAD("[a]\ncommand = worker\nlisten = /run/x.sock\npm.max_children = 1\n"
      "[b]\ncommand = worker\npm.max_children = 1\nlisten = unix:/run/x.sock\n",
      8, "listen", "/run/x.sock: pool a listens there already (line 3)");
  BAD("[a]\ncommand = worker\nlisten = 9000\npm.max_children = 1\n"
      "[b]\ncommand = worker\npm.max_children = 1\nlisten = 127.0.0.1:9000\n",
      8, "listen", "pool a listens there already");
  BAD("[a]\ncommand = worker\nlisten = localhost:9000\npm.max_children = 1\n"
      "[b]\ncommand = worker\npm.max_children = 1\nlisten = LOCALHOST:9000\n",
      8, "listen", "pool a listens there already");
  BAD("[a]\ncommand = worker\nlisten = [::]:9000\npm.max_children = 1\n"
      "[b]\ncommand = worker\npm.max_children = 1\nlisten = [::1]:9000\n",
      8, "listen", "pool a listens there already");
  BAD("[a]\ncommand = worker\nlisten = 0.0.0.0:9000\npm.max_children = 1\n"
      "[b]\ncommand = worker\npm.max_children = 1\nlisten = localhost:9000\n",
      8, "listen", "pool a listens there already");
  BAD("[a]\ncommand = worker\nlisten = a.sock\npm.max_children = 1\n"
      "[global]\nstatus.listen = a.sock\n",
      6, "status.listen", "pool a listens there already (line 3)");
  BAD("[global]\nstatus.listen = a.sock\n"
      "[a]\ncommand = worker\nlisten = a.sock\npm.max_children = 1\n",
      5, "listen", "status.listen is there already (line 2)");
  /* Different ports, hosts or paths are fine. */
  config c;
  if (good("[a]\ncommand = worker\nlisten = 127.0.0.1:9000\n"
           "pm.max_children = 1\n"
           "[b]\ncommand = worker\nlisten = 127.0.0.2:9000\n"
           "pm.max_children = 1\n"
           "[c]\ncommand = worker\nlisten = 9001\npm.max_children = 1\n"
           "[c6]\ncommand = worker\nlisten = [::1]:9002\npm.max_children = 1\n"
           "[c4]\ncommand = worker\nlisten = 0.0.0.0:9002\n"
           "pm.max_children = 1\n"
           "[d]\ncommand = worker\nlisten = d.sock\npm.max_children = 1\n"
           "[e]\ncommand = worker\nlisten = e.sock\npm.max_children = 1\n",
           &c)) {
    CHECK_EQ(c.npools, 7);
    config_free(&c);
  }
}

/* --- Mistakes ------------------------------------------------------------ */

static void test_syntax(void) {
  BAD(BASE "foo = 1\n", 5, "foo", "unknown key");
  BAD(BASE "pid = x\n", 5, "pid", "a [global] key, not a pool one");
  BAD("[global]\npm = static\n" BASE, 2, "pm", "a pool key");
  BAD("[global]\nenv[A] = b\n" BASE, 2, "env[A]", "a pool key");
  BAD("[global]\nfoo = 1\n" BASE, 2, "foo", "unknown key");
  BAD(BASE "garbage here\n", 5, "garbage here", "not a key = value line");
  BAD(BASE " = 1\n", 5, NULL, "no key before the '='");
  BAD("pid = x\n" BASE, 1, "pid", "outside any section");
  BAD(BASE "listen = 9001\n", 5, "listen", "repeated (first set at line 3)");
  BAD(BASE "env[A] = 1\nenv[B] = 2\nenv[A] = 3\n", 7, "env[A]",
      "repeated (first set at line 5)");
  BAD(BASE "env[] = 1\n", 5, "env[]", "not a variable name");
  BAD(BASE "env[A B] = 1\n", 5, "env[A B]", "not a variable name");
  BAD(BASE "env[A=B] = 1\n", 5, "env[A", "unknown key");
  BAD("[global]\npid = a\npid = b\n" BASE, 3, "pid", "repeated");
  BAD(BASE "user =\n", 5, "user", "no value");
  BAD(BASE "user = \"\"\n", 5, "user", "no value");
  BAD(BASE "user = \"nobody\n", 5, "user", "closing quote");
  BAD(BASE "user = \"\n", 5, "user", "closing quote");
  BAD(BASE "args = a \"b c\n", 5, "args", "a double quote is not closed");
  BAD(BASE "args = a\\\n", 5, "args", "a backslash with nothing after it");

  /* Sections. */
  BAD("[bad name]\ncommand = worker\n", 1, "[bad name]", "a pool name is");
  BAD("[a/b]\n", 1, "[a/b]", "a pool name is");
  BAD("[]\n", 1, "[]", "a pool name is");
  BAD("[Global]\n" BASE, 1, "[Global]", "reserved");
  BAD(BASE "[p]\ncommand = worker\n", 5, "[p]",
      "a second pool of that name (the first is at line 1)");
  BAD("[global]\n[global]\n" BASE, 2, "[global]", "a second [global]");
  BAD(BASE "[q\n", 5, "[q", "no ']'");
  BAD(BASE "[q] x\n", 5, "[q] x", "text after the section name");
  /* Lines under a broken header are not blamed on the pool before it. */
  {
    config c;
    char err[4096];
    CHECK_EQ(load_text(BASE "[q\nfoo = 1\n", &c, err, sizeof err), -1);
    CHECK_EQ(count_lines(err), 1);
  }

  /* Missing keys, at the section's line. */
  BAD("[global]\n[p]\nlisten = 9000\npm.max_children = 1\n", 2, "command",
      "required");
  BAD("[p]\ncommand = worker\npm.max_children = 1\n", 1, "listen", "required");
  BAD("[p]\ncommand = worker\nlisten = 9000\n", 1, "pm.max_children",
      "required");
  BAD("", 0, NULL, "no pool");
  BAD("; nothing\n[global]\npid = x\n", 0, NULL, "no pool");

  /* Comments only on their own line; blanks, CR and a byte order mark. */
  config c;
  if (good("\xef\xbb\xbf[p]\r\n\tcommand\t=\tworker \r\n"
           "   ; listen = 1\r\n"
           "listen=9000\r\n"
           "pm.max_children = 1\r\n"
           "# end",
           &c))
    config_free(&c);
  BAD(BASE "pm.max_children = 1 ; one\n", 5, "pm.max_children", "repeated");
  BAD("[p]\ncommand = worker\nlisten = 9000\npm.max_children = 1 ; one\n", 4,
      "pm.max_children", "1 ; one: not a number");
}

static void test_values(void) {
  BAD(BASE "clear_env = maybe\n", 5, "clear_env", "maybe: not yes or no");
  BAD(BASE "catch_workers_output = 2\n", 5, "catch_workers_output",
      "not yes or no");
  BAD("[p]\ncommand = worker\nlisten = a.sock\npm.max_children = 1\n"
      "listen.mode = 0800\n",
      5, "listen.mode", "not an octal mode");
  BAD("[p]\ncommand = worker\nlisten = a.sock\npm.max_children = 1\n"
      "listen.mode = 1777\n",
      5, "listen.mode", "not an octal mode");
  BAD(BASE "umask = -1\n", 5, "umask", "not an octal mode");
  BAD(BASE "listen.backlog = 0\n", 5, "listen.backlog",
      "not a number from 1 to 65535");
  BAD(BASE "listen.backlog = 65536\n", 5, "listen.backlog", "not a number");
  BAD("[p]\ncommand = worker\nlisten = 9000\npm.max_children = 0\n", 4,
      "pm.max_children", "0: not a number from 1 to 10000");
  BAD("[p]\ncommand = worker\nlisten = 9000\npm.max_children = 10001\n", 4,
      "pm.max_children", "not a number from 1 to 10000");
  BAD("[p]\ncommand = worker\nlisten = 9000\npm.max_children = -1\n", 4,
      "pm.max_children", "not a number");
  BAD(BASE "pm = fancy\n", 5, "pm", "fancy: not static, dynamic or ondemand");
  BAD(BASE "pm = Static\n", 5, "pm", "not static");
  BAD(BASE "stop_signal = KILL\n", 5, "stop_signal",
      "KILL: not TERM, QUIT, INT, USR1 or HUP");
  BAD(BASE "stop_signal = SIG\n", 5, "stop_signal", "not TERM");
  BAD(BASE "request_terminate_timeout = 5x\n", 5, "request_terminate_timeout",
      "5x: not a duration");
  BAD(BASE "pm.process_idle_timeout = 0\n", 5, "pm.process_idle_timeout",
      "less than 1s");
  BAD("[global]\nprocess_control_timeout = 0s\n" BASE, 2,
      "process_control_timeout", "less than 1s");
  BAD(BASE "pm.max_requests = 2147483648\n", 5, "pm.max_requests",
      "not a number from 0 to 2147483647");
  BAD(BASE "rlimit_files = 10K\n", 5, "rlimit_files",
      "not a number or unlimited");
  BAD(BASE "rlimit_as = 1T\n", 5, "rlimit_as", "not a number of bytes");
  BAD(BASE "rlimit_as = 17179869184G\n", 5, "rlimit_as",
      "not a number of bytes");
  BAD(BASE "rlimit_core = 18446744073709551615\n", 5, "rlimit_core",
      "not a number of bytes");
  BAD("[global]\nlog_level = loud\n" BASE, 2, "log_level",
      "loud: not error, warning, notice, info or debug");
  BAD("[global]\nstatus.listen = 127.0.0.1:9001\n" BASE, 2, "status.listen",
      "a Unix socket path only");
  BAD(BASE "listen.allowed_clients = 127.0.0.1, example.com\n", 5,
      "listen.allowed_clients", "example.com: not an IP address");
  BAD(BASE "listen.allowed_clients = ,\n", 5, "listen.allowed_clients",
      "no address");
  BAD("[p]\ncommand = worker\nlisten = a.sock\npm.max_children = 1\n"
      "listen.allowed_clients = 127.0.0.1\n",
      5, "listen.allowed_clients", "only for TCP");
  BAD(BASE "listen.mode = 0600\n", 5, "listen.mode", "only for a Unix socket");
  BAD(BASE "listen.owner = nobody\n", 5, "listen.owner",
      "only for a Unix socket");
  BAD(BASE "listen.group = nogroup\n", 5, "listen.group",
      "only for a Unix socket");

  config c;
  if (good(BASE "rlimit_files = unlimited\nrlimit_core = 0\n"
                "rlimit_as = 3g\numask = 0\nclear_env = TRUE\n",
           &c)) {
    CHECK(c.pools[0].rlimit_files == (uint64_t)RLIM_INFINITY);
    CHECK_EQ(c.pools[0].rlimit_core, 0);
    CHECK_EQ(c.pools[0].rlimit_as, 3ull << 30);
    CHECK_EQ(c.pools[0].umask, 0);
    CHECK_EQ(c.pools[0].clear_env, 1);
    config_free(&c);
  }
}

static void test_command(void) {
  BAD("[p]\ncommand = nope\nlisten = 9000\npm.max_children = 1\n", 2, "command",
      "No such file or directory (commands are not looked up");
  BAD("[p]\ncommand = noexec\nlisten = 9000\npm.max_children = 1\n", 2,
      "command", "noexec: not executable");
  BAD("[p]\ncommand = jail\nlisten = 9000\npm.max_children = 1\n", 2, "command",
      "jail: not a regular file");
  BAD("[p]\ncommand = /bin/nope\nchroot = jail\nlisten = 9000\n"
      "pm.max_children = 1\n",
      2, "command", "/bin/nope: No such file or directory");
  BAD("[p]\ncommand = bin/worker\nchroot = jail\nlisten = 9000\n"
      "pm.max_children = 1\n",
      2, "command", "not an absolute path inside chroot");
  BAD("[p]\ncommand = worker\nchroot = nojail\nlisten = 9000\n"
      "pm.max_children = 1\n",
      3, "chroot", "nojail: No such file or directory");
  BAD("[p]\ncommand = worker\nchroot = worker\nlisten = 9000\n"
      "pm.max_children = 1\n",
      3, "chroot", "not a directory");
  BAD(BASE "chdir = srv\n", 5, "chdir", "not an absolute path");
  BAD("[p]\ncommand = /bin/worker\nchroot = jail\nlisten = 9000\n"
      "pm.max_children = 1\nchdir = /srv\n",
      6, "chdir", "jail/srv: No such file or directory");
  BAD("[p]\ncommand = /bin/worker\nchroot = jail\nlisten = 9000\n"
      "pm.max_children = 1\nchdir = /bin/worker\n",
      6, "chdir", "jail/bin/worker: not a directory");
  /* Without a chroot the directory is not checked: fcgikitd may not see
   * what the workers will. */
  config c;
  if (good(BASE "chdir = /nonexistent\n", &c))
    config_free(&c);
}

static void test_limits(void) {
  char err[8192];
  config c;

  /* At most 20 messages. */
  char text[4096] = BASE;
  for (int i = 0; i < 30; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "k%d = 1\n", i);
  CHECK_EQ(load_text(text, &c, err, sizeof err), -1);
  CHECK_EQ(count_lines(err), 20);
  CHECK(has_message(err, in_tmp("test.conf"), 5, "k0", "unknown key"));
  CHECK(has_message(err, in_tmp("test.conf"), 24, "k19", "unknown key"));

  /* A small buffer: cut, still a string. */
  char small[16];
  memset(small, 'x', sizeof small);
  CHECK_EQ(load_text(text, &c, small, sizeof small), -1);
  CHECK(memchr(small, '\0', sizeof small) != NULL);
  CHECK_EQ(load_text(text, &c, NULL, 0), -1);

  /* Lines of 64 KiB pass, longer ones do not. */
  size_t big = 64 * 1024;
  char *line = malloc(big + 64);
  strcpy(line, BASE "env[X] = ");
  size_t at = strlen(line), start = strlen(BASE);
  memset(line + at, 'v', big - (at - start));
  strcpy(line + start + big, "\n");
  if (good(line, &c)) {
    CHECK_EQ(strlen(c.pools[0].env[0]), big - strlen("env[X] = ") + 2);
    config_free(&c);
  } else {
    fk_test_failures++;
  }
  strcpy(line + start + big, "v\n");
  BAD(line, 5, NULL, "a line longer than 65536 bytes");
  free(line);

  put_bytes("test.conf", BASE "env[A] = a\0b\n", strlen(BASE) + 14, 0644);
  CHECK_EQ(config_load(in_tmp("test.conf"), &c, err, sizeof err), -1);
  CHECK(has_message(err, in_tmp("test.conf"), 5, NULL, "a NUL byte"));
}

static void test_open(void) {
  config c, before;
  char err[1024], want[PATH_MAX + 128];
  memset(&c, 0x5a, sizeof c);
  before = c;
  CHECK_EQ(config_load(in_tmp("missing.conf"), &c, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s: cannot open: %s", in_tmp("missing.conf"),
           strerror(ENOENT));
  CHECK(strcmp(err, want) == 0);
  CHECK(memcmp(&c, &before, sizeof c) == 0);
  CHECK_EQ(config_load(tmp, &c, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s: cannot open: %s", tmp, strerror(EISDIR));
  CHECK(strcmp(err, want) == 0);
}

static void test_env(void) {
  setenv("FK_TEST_A", "from fcgikitd", 1);
  unsetenv("FK_TEST_B");
  config c;
  if (!good(BASE "env[A] = $FK_TEST_A\nenv[B] = $FK_TEST_B\n"
                 "env[C] = $FK_TEST_A/x\nenv[D] = $\nenv[E] = a $FK_TEST_A\n"
                 "env[F] = \"$FK_TEST_A\"\n",
            &c))
    return;
  char **e = c.pools[0].env;
  CHECK(e[0] && strcmp(e[0], "A=from fcgikitd") == 0);
  CHECK(e[1] && strcmp(e[1], "C=$FK_TEST_A/x") == 0);
  CHECK(e[2] && strcmp(e[2], "D=$") == 0);
  CHECK(e[3] && strcmp(e[3], "E=a $FK_TEST_A") == 0);
  CHECK(e[4] && strcmp(e[4], "F=$FK_TEST_A") == 0);
  CHECK(e[5] == NULL);
  config_free(&c);
  /* A variable left out still counts as set. */
  BAD(BASE "env[B] = $FK_TEST_B\nenv[B] = 1\n", 6, "env[B]", "repeated");
}

/* --- Setup --------------------------------------------------------------- */

static void cleanup(void) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
}

int main(void) {
  char templ[] = "/tmp/fk-config-XXXXXX";
  if (mkdtemp(templ) == NULL || realpath(templ, tmp) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  atexit(cleanup);
  const char *script = "#!/bin/sh\nexit 0\n";
  put("worker", script, 0755);
  put("noexec", script, 0644);
  make_dir("sub");
  make_dir("jail");
  make_dir("jail/bin");
  put("jail/bin/worker", script, 0755);

  RUN(test_durations);
  RUN(test_full);
  RUN(test_defaults);
  RUN(test_relative);
  RUN(test_listen_forms);
  RUN(test_users);
  RUN(test_dynamic);
  RUN(test_duplicate_listen);
  RUN(test_syntax);
  RUN(test_values);
  RUN(test_command);
  RUN(test_limits);
  RUN(test_open);
  RUN(test_env);
  TEST_EXIT();
}
