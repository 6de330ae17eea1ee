/*
 * Starting and stopping one worker.
 *
 * The child sets itself up in the order a careful daemon drops privileges:
 * descriptors (the pool's socket on fd 0, the log pipes on 1 and 2, the
 * scoreboard on 3, nothing else), a session of its own, umask and resource
 * limits, supplementary groups (read outside the jail), chroot, group,
 * user, then the working directory and exec. A step that fails is reported to
 * the manager through a close-on-exec pipe, so that the log names the step and
 * the reason rather than an exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager.h"

extern char **environ;

enum { SB_FD = 3 };

/* --- In the child ------------------------------------------------------- */

/* Reports step and errno to the manager and exits. */
static void child_fail(int errfd, const char *step) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "%s: %s", step, strerror(errno));
  if (n > 0 && write(errfd, msg, (size_t)n) < 0) {
    /* nothing more to do */
  }
  _exit(127);
}

static int set_limit(int resource, uint64_t value) {
  if (value == RLIMIT_UNSET)
    return 0;
  struct rlimit rl = {(rlim_t)value, (rlim_t)value};
  return setrlimit(resource, &rl);
}

static void close_range_from(unsigned first, unsigned last) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, last, 0) == 0)
    return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max <= 0)
    max = 65536;
  for (unsigned fd = first; fd <= last && fd < (unsigned)max; fd++)
    close((int)fd);
}

static void child(const manager *m, const pool_config *pc, int listen_fd,
                  int out_w, int err_w, int sb_fd, int errfd, char **envp) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++)
    signal(sig, SIG_DFL);

  /* Above every target first, so that no dup2 overwrites a source. */
  int hi[4] = {listen_fd, out_w, err_w, sb_fd};
  for (int i = 0; i < 4; i++) {
    hi[i] = fcntl(hi[i], F_DUPFD_CLOEXEC, 10);
    if (hi[i] < 0)
      child_fail(errfd, "fcntl");
  }
  if (errfd < 10) {
    int e = fcntl(errfd, F_DUPFD_CLOEXEC, 10);
    if (e >= 0)
      errfd = e;
  }
  for (int i = 0; i < 4; i++)
    if (dup2(hi[i], i) < 0)
      child_fail(errfd, "dup2");
  /* Descriptors 0-3 are the worker's; every other one but the error pipe
   * closes here. */
  if (errfd > 4)
    close_range_from(4, errfd - 1);
  close_range_from(errfd + 1, ~0u);

  if (setsid() < 0)
    child_fail(errfd, "setsid");
  umask((mode_t)pc->umask);
  if (set_limit(RLIMIT_NOFILE, pc->rlimit_files) < 0)
    child_fail(errfd, "rlimit_files");
  if (set_limit(RLIMIT_CORE, pc->rlimit_core) < 0)
    child_fail(errfd, "rlimit_core");
  if (set_limit(RLIMIT_AS, pc->rlimit_as) < 0)
    child_fail(errfd, "rlimit_as");
  /* Supplementary groups before the chroot: initgroups() reads the group
   * database, which inside the jail is whatever its owner wrote. */
  gid_t gid = pc->gid;
  if (m->as_root) {
    if (pc->ngroups >= 0) {
      if (setgroups((size_t)pc->ngroups, pc->groups) < 0)
        child_fail(errfd, "setgroups");
    } else if (pc->has_user) {
      if (initgroups(pc->user, gid) < 0)
        child_fail(errfd, "initgroups");
    } else if (setgroups(0, NULL) < 0) {
      child_fail(errfd, "setgroups");
    }
  }
  if (pc->chroot) {
    if (chroot(pc->chroot) < 0)
      child_fail(errfd, "chroot");
    if (chdir("/") < 0)
      child_fail(errfd, "chdir /");
  }
  if (m->as_root) {
    if ((pc->has_user || pc->has_group) && setresgid(gid, gid, gid) < 0)
      child_fail(errfd, "setresgid");
    if (pc->has_user && setresuid(pc->uid, pc->uid, pc->uid) < 0)
      child_fail(errfd, "setresuid");
    /* No way back: a worker that could become root again would keep the
     * privileges it was started to shed. */
    if (pc->has_user && pc->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
      errno = EPERM;
      child_fail(errfd, "dropping privileges");
    }
  }
  if (chdir(pc->chdir) < 0)
    child_fail(errfd, "chdir");
  execve(pc->command, pc->argv, envp);
  child_fail(errfd, "exec");
}

/* --- In the manager ----------------------------------------------------- */

static size_t count(char **v) {
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

static int same_name(const char *a, const char *b) {
  size_t n = strcspn(a, "=");
  return strncmp(a, b, n) == 0 && b[n] == '=';
}

/* An inherited variable that env[] or our own settings set again. */
static int overridden(const pool_config *pc, char *extra[3], const char *var) {
  for (char **e = pc->env; e && *e; e++)
    if (same_name(*e, var))
      return 1;
  for (int i = 0; i < 3; i++)
    if (extra[i] && same_name(extra[i], var))
      return 1;
  return 0;
}

/* The worker's environment: env[] (and, without clear_env, ours), the
 * scoreboard, and the settings other FastCGI programs read. Strings are
 * the configuration's or ours; only the vector and three values are
 * allocated, freed by the caller with free_env. */
static char **build_env(const pool_config *pc, char *extra[3]) {
  size_t n = count(pc->env) + (pc->clear_env ? 0 : count(environ)) + 4;
  char **env = calloc(n, sizeof *env);
  if (env == NULL)
    return NULL;
  size_t k = 0;
  if (!pc->clear_env)
    for (char **e = environ; *e; e++)
      if (strncmp(*e, "LISTEN_", 7) != 0 &&
          strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && !overridden(pc, extra, *e))
        env[k++] = *e;
  for (char **e = pc->env; e && *e; e++)
    env[k++] = *e;
  for (int i = 0; i < 3; i++)
    if (extra[i])
      env[k++] = extra[i];
  env[k] = NULL;
  return env;
}

static int has_env(const pool_config *pc, const char *name) {
  size_t len = strlen(name);
  for (char **e = pc->env; e && *e; e++)
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
      return 1;
  return 0;
}

static int new_scoreboard(fk_sb_slot **out) {
  int fd = memfd_create("fcgikitd-scoreboard", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  if (ftruncate(fd, (off_t)sizeof(fk_sb_slot)) < 0) {
    close(fd);
    return -1;
  }
  void *p =
      mmap(NULL, sizeof(fk_sb_slot), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return -1;
  }
  *out = p;
  return fd;
}

static int open_pipe(int fds[2], int catch_output) {
  if (!catch_output) {
    fds[0] = -1;
    fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return fds[1] < 0 ? -1 : 0;
  }
  if (pipe2(fds, O_CLOEXEC) < 0)
    return -1;
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  return 0;
}

void worker_free(worker *w) {
  for (int i = 0; i < 2; i++) {
    if (w->out_fd[i] >= 0)
      close(w->out_fd[i]);
    free(w->lines[i]);
  }
  if (w->sb)
    munmap(w->sb, sizeof(fk_sb_slot));
  free(w);
}

/* Reads what the child said before exec, if anything: "" when exec
 * happened (the pipe closed with nothing in it). */
static void read_child_error(int fd, char *msg, size_t cap) {
  size_t off = 0;
  for (;;) {
    ssize_t n = read(fd, msg + off, cap - 1 - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || (off += (size_t)n) == cap - 1)
      break;
  }
  msg[off] = '\0';
}

int spawn_worker(manager *m, pool *p) {
  const pool_config *pc = p->pc;
  worker *w = calloc(1, sizeof *w);
  int out[2] = {-1, -1}, err[2] = {-1, -1}, errpipe[2] = {-1, -1}, sb_fd = -1;
  char *extra[3] = {NULL, NULL, NULL};
  char **envp = NULL;
  const char *step = "memory";
  if (w == NULL)
    goto fail;
  w->out_fd[0] = w->out_fd[1] = -1;
  step = "pipe";
  if (open_pipe(out, pc->catch_output) < 0 ||
      open_pipe(err, pc->catch_output) < 0 || pipe2(errpipe, O_CLOEXEC) < 0)
    goto fail;
  step = "scoreboard";
  if ((sb_fd = new_scoreboard(&w->sb)) < 0)
    goto fail;
  w->sb->max_requests = pc->max_requests;
  step = "memory";
  if (asprintf(&extra[0], "%s=%d", FK_SB_ENV, SB_FD) < 0) {
    extra[0] = NULL;
    goto fail;
  }
  if (pc->listen_allowed_clients &&
      asprintf(&extra[1], "FCGI_WEB_SERVER_ADDRS=%s",
               pc->listen_allowed_clients) < 0) {
    extra[1] = NULL;
    goto fail;
  }
  if (pc->max_requests && !has_env(pc, "PHP_FCGI_MAX_REQUESTS") &&
      asprintf(&extra[2], "PHP_FCGI_MAX_REQUESTS=%lu", pc->max_requests) < 0) {
    extra[2] = NULL;
    goto fail;
  }
  if ((envp = build_env(pc, extra)) == NULL)
    goto fail;
  if (pc->catch_output)
    for (int i = 0; i < 2; i++)
      if ((w->lines[i] = calloc(1, sizeof *w->lines[i])) == NULL)
        goto fail;

  step = "fork";
  pid_t pid = fork();
  if (pid < 0)
    goto fail;
  if (pid == 0)
    child(m, pc, p->sock.fd, out[1], err[1], sb_fd, errpipe[1], envp);

  close(errpipe[1]);
  errpipe[1] = -1;
  char msg[256];
  read_child_error(errpipe[0], msg, sizeof msg);
  w->pool = p;
  w->pid = pid;
  w->generation = p->generation;
  w->out_fd[0] = out[0];
  w->out_fd[1] = err[0];
  out[0] = err[0] = -1;
  w->start_ns = m->now_ns;
  w->start_time = time(NULL);
  w->cpu_changed_ns = m->now_ns - 1000000000; /* idle until it works */
  snprintf(w->prefix, sizeof w->prefix, "[pool %s] pid %d", p->name, (int)pid);
  w->next = p->workers;
  p->workers = w;
  p->spawned++;
  if (msg[0]) {
    /* It exits with 127; the reaper counts it as a death at start, which
     * is what backs the next spawns off. */
    logmsg(LOG_ERR, "[pool %s] cannot start %s: %s", p->name, pc->command, msg);
  } else {
    logmsg(LOG_INFO, "[pool %s] started worker pid %d", p->name, (int)pid);
  }
  step = NULL;
fail:
  if (step) {
    logmsg(LOG_ERR, "[pool %s] cannot start a worker: %s: %s", p->name, step,
           strerror(errno));
    if (w)
      worker_free(w);
  }
  int fds[] = {out[0], out[1], err[0], err[1], errpipe[0], errpipe[1], sb_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  for (int i = 0; i < 3; i++)
    free(extra[i]);
  free(envp);
  return step ? -1 : 0;
}

void stop_worker(manager *m, worker *w, const char *reason) {
  if (w->stopping)
    return;
  w->stopping = 1;
  w->stop_reason = reason;
  w->kill_ns = m->now_ns + (int64_t)m->cfg.stop_timeout_ms * 1000000;
  logmsg(LOG_INFO, "%s: stopping (%s)", w->prefix, reason);
  kill(w->pid, w->pool->stop_signal);
}
