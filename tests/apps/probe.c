/*
 * probe: a FastCGI responder for fcgikitd's tests. It reports what a
 * worker sees and does what the query string asks, one action per
 * request:
 *
 *   ?id          uid, gid, supplementary groups, umask, cwd
 *   ?env         the environment, one NAME=VALUE a line
 *   ?limits      RLIMIT_NOFILE, RLIMIT_CORE, RLIMIT_AS (soft/hard)
 *   ?read=PATH   "ok" and the first line of PATH, or "error: why"
 *   ?sleep=MS    answers after MS milliseconds
 *   ?stderr=N    writes one line of N 'x' to standard error, then answers
 *   ?exit=N      exits the process with status N without answering
 *   anything     "pid PID" (which worker answered)
 *
 * It listens where fk_serve() does with no address: the socket on fd 0
 * that fcgikitd hands over. Handlers run on a pool of threads, so that a
 * sleeping request does not hold the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcgikit/fcgikit.h>

extern char **environ;

static const char *arg_of(const char *q, const char *name) {
  size_t n = strlen(name);
  return strncmp(q, name, n) == 0 && q[n] == '=' ? q + n + 1 : NULL;
}

static void show_limit(fk_request *req, const char *name, int resource) {
  struct rlimit rl;
  getrlimit(resource, &rl);
  fk_printf(req, "%s ", name);
  if (rl.rlim_cur == RLIM_INFINITY)
    fk_puts(req, "unlimited/");
  else
    fk_printf(req, "%llu/", (unsigned long long)rl.rlim_cur);
  if (rl.rlim_max == RLIM_INFINITY)
    fk_puts(req, "unlimited\n");
  else
    fk_printf(req, "%llu\n", (unsigned long long)rl.rlim_max);
}

static void show_id(fk_request *req) {
  gid_t groups[64];
  int n = getgroups(64, groups);
  mode_t mask = umask(0);
  umask(mask);
  char cwd[4096];
  fk_printf(req, "uid %d euid %d gid %d egid %d\ngroups", (int)getuid(),
            (int)geteuid(), (int)getgid(), (int)getegid());
  for (int i = 0; i < n; i++)
    fk_printf(req, " %d", (int)groups[i]);
  fk_printf(req, "\numask %03o\ncwd %s\n", (unsigned)mask,
            getcwd(cwd, sizeof cwd) ? cwd : "?");
}

static void read_file(fk_request *req, const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fk_printf(req, "error: %s\n", strerror(errno));
    return;
  }
  char line[512] = "";
  if (fgets(line, sizeof line, f) == NULL)
    line[0] = '\0';
  fclose(f);
  fk_printf(req, "ok %s", line);
}

static void probe(fk_request *req, void *arg) {
  (void)arg;
  const char *q = fk_param(req, "QUERY_STRING");
  const char *v;
  q = q ? q : "";
  if ((v = arg_of(q, "exit")) != NULL)
    _exit(atoi(v));
  if ((v = arg_of(q, "sleep")) != NULL) {
    long ms = atol(v);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  fk_status(req, 200, NULL);
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  if (strcmp(q, "id") == 0) {
    show_id(req);
  } else if (strcmp(q, "env") == 0) {
    for (char **e = environ; *e; e++)
      fk_printf(req, "%s\n", *e);
  } else if (strcmp(q, "limits") == 0) {
    show_limit(req, "nofile", RLIMIT_NOFILE);
    show_limit(req, "core", RLIMIT_CORE);
    show_limit(req, "as", RLIMIT_AS);
  } else if ((v = arg_of(q, "read")) != NULL) {
    read_file(req, v);
  } else if ((v = arg_of(q, "stderr")) != NULL) {
    size_t n = (size_t)atol(v);
    char *line = malloc(n + 1);
    if (line) {
      memset(line, 'x', n);
      line[n] = '\n';
      fwrite(line, 1, n + 1, stderr);
      fflush(stderr);
      free(line);
    }
    fk_printf(req, "wrote %zu\n", n);
  } else {
    fk_printf(req, "pid %d\n", (int)getpid());
  }
}

int main(void) {
  fk_config cfg;
  fk_config_init(&cfg);
  cfg.threads = 1;
  cfg.handler_threads = 8;
  cfg.stop_timeout_ms = 20000;
  fk_server *s;
  int rc = fk_server_new(&s, &cfg);
  if (rc == FK_OK)
    rc = fk_server_handle(s, FK_RESPONDER, probe, NULL);
  if (rc == FK_OK)
    rc = fk_server_listen(s, NULL);
  if (rc == FK_OK)
    rc = fk_server_run(s);
  if (rc != FK_OK)
    fprintf(stderr, "probe: %s\n", fk_strerror(rc));
  fk_server_free(s);
  return rc == FK_OK ? 0 : 1;
}
