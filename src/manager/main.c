/*
 * fcgikitd: persistent FastCGI application pools, owned by a manager
 * rather than by the web server.
 *
 *   fcgikitd [-FRt] [-c FILE]
 *
 * run() is the checklist: read and check the configuration (-t stops
 * there), open the log, take the pid file, leave the terminal, open every
 * pool's socket and start its workers, say ready, then supervise until
 * SIGTERM. Signals reach the loop through a self-pipe; nothing but a
 * write(2) happens in a handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manager.h"

#ifndef FK_VERSION
#define FK_VERSION "0"
#endif
#ifndef FK_SYSCONFDIR
#define FK_SYSCONFDIR "/etc"
#endif

enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

static int sig_pipe[2] = {-1, -1};

int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char c = (unsigned char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) {
    /* the pipe is full: that signal is already pending in it */
  }
  errno = saved;
}

static int setup_signals(void) {
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) < 0)
      return -1;
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: fcgikitd [-FRt] [-c FILE]\n"
      "\n"
      "Runs the FastCGI application pools FILE describes: each pool's\n"
      "listening socket is made here and handed to its workers on fd 0.\n"
      "\n"
      "  -c, --config FILE   the configuration (default %s/fcgikitd.conf)\n"
      "  -t, --test          check the configuration and exit\n"
      "  -F, --foreground    stay in the foreground (systemd, containers)\n"
      "  -R, --allow-root    let pools run their workers as root\n"
      "  -h, --help          this text\n"
      "  -V, --version       print the version\n"
      "\n"
      "Signals: HUP reloads the configuration, TERM or INT stop gracefully,\n"
      "USR1 reopens the log file.\n"
      "\n"
      "Exit status: 0 stopped cleanly (or -t: the file is good); 1 the\n"
      "configuration is wrong or fcgikitd could not start; 2 bad usage.\n"
      "See fcgikitd(8) and fcgikitd.conf(5).\n",
      FK_SYSCONFDIR);
}

/* --- The pid file -------------------------------------------------------- */

static int pid_fd = -1;
static char *pid_path;

/* Locked for as long as we run: a second fcgikitd on the same file is
 * refused, and a stale file from a crash is taken over. */
static int pidfile_take(const char *path) {
  /* Not through a symbolic link: whoever can write in the pid file's
   * directory must not make us truncate another file. */
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    logmsg(LOG_ERR, "pid file %s: %s", path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    char buf[32] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    logmsg(LOG_ERR, "pid file %s: fcgikitd is running already (pid %s)", path,
           buf[0] ? buf : "?");
    close(fd);
    return -1;
  }
  pid_fd = fd;
  pid_path = strdup(path);
  return 0;
}

static void pidfile_write(void) {
  if (pid_fd < 0)
    return;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
  if (ftruncate(pid_fd, 0) < 0 || pwrite(pid_fd, buf, (size_t)n, 0) != n)
    logmsg(LOG_WARNING, "pid file %s: %s", pid_path, strerror(errno));
}

static void pidfile_remove(void) {
  if (pid_fd < 0)
    return;
  unlink(pid_path);
  close(pid_fd);
  pid_fd = -1;
  free(pid_path);
  pid_path = NULL;
}

/* --- Leaving the terminal ------------------------------------------------ */

/* The parent exits only once the daemon says whether it started, with its
 * status: scripts can rely on it. Returns the pipe the daemon writes that
 * byte to. */
static int daemonize(void) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid > 0) {
    close(ready[1]);
    unsigned char status = EXIT_RUN;
    if (read(ready[0], &status, 1) != 1)
      status = EXIT_RUN;
    _exit(status);
  }
  close(ready[0]);
  setsid();
  /* Every path in the configuration is absolute by now. */
  if (chdir("/") < 0)
    return -1;
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    if (null > 1)
      close(null);
  }
  return ready[1];
}

static void report_start(int ready_fd, unsigned char status) {
  if (ready_fd < 0)
    return;
  if (write(ready_fd, &status, 1) < 0) {
    /* the parent is gone: nothing to tell */
  }
  close(ready_fd);
  /* Standard error goes quiet too, now that the log has taken over. */
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) {
    dup2(null, 2);
    close(null);
  }
}

/* --- The loop ------------------------------------------------------------ */

static void apply_globals(manager *m, const config *old) {
  const config *c = &m->cfg;
  if ((old->error_log == NULL) != (c->error_log == NULL) ||
      (c->error_log && strcmp(old->error_log, c->error_log) != 0) ||
      old->log_level != c->log_level) {
    if (log_open(c->error_log, c->log_level) < 0)
      logmsg(LOG_ERR, "error_log %s: %s; logging where it did", c->error_log,
             strerror(errno));
  }
  if ((old->status_listen == NULL) != (c->status_listen == NULL) ||
      (c->status_listen && strcmp(old->status_listen, c->status_listen) != 0)) {
    status_close(m);
    if (c->status_listen)
      status_open(m, c->status_listen);
  }
}

static void reload(manager *m) {
  notify("RELOADING=1");
  /* pools_reload replaces m->cfg on success; keep the globals to compare. */
  config old = {0};
  old.error_log = m->cfg.error_log ? strdup(m->cfg.error_log) : NULL;
  old.status_listen =
      m->cfg.status_listen ? strdup(m->cfg.status_listen) : NULL;
  old.log_level = m->cfg.log_level;
  pools_reload(m);
  apply_globals(m, &old);
  free(old.error_log);
  free(old.status_listen);
  notify("READY=1\nSTATUS=configuration reloaded");
}

static void handle_signals(manager *m) {
  unsigned char sigs[64];
  ssize_t n;
  while ((n = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      m->now_ns = mono_ns();
      switch (sigs[i]) {
      case SIGCHLD: {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
          pools_reaped(m, pid, status);
        break;
      }
      case SIGHUP:
        if (!m->stopping) {
          logmsg(LOG_NOTICE, "SIGHUP: reloading %s", m->cfg.file);
          reload(m);
        }
        break;
      case SIGUSR1:
        if (log_reopen() < 0)
          logmsg(LOG_ERR, "reopening the log: %s", strerror(errno));
        else
          logmsg(LOG_NOTICE, "log reopened");
        break;
      default: /* TERM, INT, QUIT */
        if (!m->stopping) {
          logmsg(LOG_NOTICE, "%s: stopping", strsignal(sigs[i]));
          notify("STOPPING=1");
          m->stopping = 1;
          pools_stop(m);
        }
        break;
      }
    }
  }
}

typedef struct pollset {
  struct pollfd *fds;
  worker **owners; /* the worker of a pipe, NULL for the others */
  pool **pools;    /* the pool of a listening socket */
  size_t n, cap;
} pollset;

static int pollset_add(pollset *ps, int fd, worker *w, pool *p) {
  if (ps->n == ps->cap) {
    size_t cap = ps->cap ? ps->cap * 2 : 64;
    struct pollfd *f = realloc(ps->fds, cap * sizeof *f);
    if (f)
      ps->fds = f;
    worker **o = realloc(ps->owners, cap * sizeof *o);
    if (o)
      ps->owners = o;
    pool **pl = realloc(ps->pools, cap * sizeof *pl);
    if (pl)
      ps->pools = pl;
    if (!f || !o || !pl)
      return -1;
    ps->cap = cap;
  }
  ps->fds[ps->n] = (struct pollfd){fd, POLLIN, 0};
  ps->owners[ps->n] = w;
  ps->pools[ps->n] = p;
  ps->n++;
  return 0;
}

static void build_pollset(manager *m, pollset *ps) {
  ps->n = 0;
  pollset_add(ps, sig_pipe[0], NULL, NULL);
  if (m->status_fd >= 0)
    pollset_add(ps, m->status_fd, NULL, NULL);
  for (pool *p = m->pools; p; p = p->next) {
    int live = 0;
    for (worker *w = p->workers; w; w = w->next) {
      for (int i = 0; i < 2; i++)
        if (w->out_fd[i] >= 0)
          pollset_add(ps, w->out_fd[i], w, NULL);
      live += !w->stopping;
    }
    /* ondemand: the first connection starts a worker; not while its
     * start is held back, or poll would report the same connection in a
     * loop. */
    if (p->pc && p->pc->pm == PM_ONDEMAND && live == 0 && !m->stopping &&
        m->now_ns >= p->next_spawn_ns)
      pollset_add(ps, p->sock.fd, NULL, p);
  }
}

static void read_output(worker *w, int fd) {
  int i = fd == w->out_fd[1];
  char buf[8192], prefix[128];
  snprintf(prefix, sizeof prefix, "%s %s", w->prefix, i ? "stderr" : "stdout");
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    linebuf_feed(w->lines[i], prefix, buf, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  linebuf_flush(w->lines[i], prefix);
  close(fd);
  w->out_fd[i] = -1;
}

static int serve(manager *m) {
  pollset ps = {0};
  int64_t next_tick = 0;
  for (;;) {
    m->now_ns = mono_ns();
    if (m->now_ns >= next_tick) {
      supervise(m);
      next_tick = m->now_ns + (int64_t)TICK_MS * 1000000;
    }
    if (m->stopping && pools_alive(m) == 0)
      break;
    build_pollset(m, &ps);
    int timeout = (int)((next_tick - m->now_ns) / 1000000) + 1;
    int n = poll(ps.fds, ps.n, timeout);
    if (n < 0 && errno != EINTR) {
      logmsg(LOG_ERR, "poll: %s", strerror(errno));
      break;
    }
    for (size_t i = 0; n > 0 && i < ps.n; i++) {
      if (ps.fds[i].revents == 0)
        continue;
      int fd = ps.fds[i].fd;
      if (fd == sig_pipe[0]) {
        handle_signals(m);
        /* A worker that exited is replaced now, not at the next tick:
         * under load a recycled php-cgi is missed within milliseconds. */
        next_tick = 0;
        break; /* reaped workers' pipes are closed: poll anew */
      } else if (fd == m->status_fd) {
        status_serve(m);
      } else if (ps.owners[i]) {
        read_output(ps.owners[i], fd);
      } else if (ps.pools[i]) {
        ps.pools[i]->accept_ready = 1;
        next_tick = 0; /* supervise now */
      }
    }
  }
  free(ps.fds);
  free(ps.owners);
  free(ps.pools);
  return 0;
}

/* Steps 1 to 4 of the checklist; main() frees what they leave. */
static int run(manager *m, const char *file, int test, int foreground) {
  /* 1. The configuration, checked against who we are. */
  static char err[8192];
  if (config_load(file, &m->cfg, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    fprintf(stderr, "fcgikitd: configuration %s is not valid\n", file);
    return EXIT_RUN;
  }
  m->config_path = realpath(file, NULL);
  if (m->config_path == NULL) {
    fprintf(stderr, "fcgikitd: %s: %s\n", file, strerror(errno));
    return EXIT_RUN;
  }
  m->as_root = geteuid() == 0;
  log_open(NULL, m->cfg.log_level);
  if (pools_check(m, &m->cfg) < 0) {
    fprintf(stderr, "fcgikitd: configuration %s is not valid\n", file);
    return EXIT_RUN;
  }
  if (test) {
    printf("fcgikitd: configuration %s is valid (%zu pool%s)\n", file,
           m->cfg.npools, m->cfg.npools == 1 ? "" : "s");
    return 0;
  }

  /* 2. The log and the pid file, still on the terminal, so that a mistake
   * in either is seen. */
  const char *log_to = m->cfg.error_log;
  if (log_to == NULL && !foreground)
    log_to = "syslog";
  if (log_open(log_to, m->cfg.log_level) < 0) {
    fprintf(stderr, "fcgikitd: error_log %s: %s\n", log_to, strerror(errno));
    return EXIT_RUN;
  }
  if (m->cfg.pid_file && pidfile_take(m->cfg.pid_file) < 0) {
    fprintf(stderr, "fcgikitd: cannot take the pid file %s\n", m->cfg.pid_file);
    return EXIT_RUN;
  }
  if (setup_signals() < 0) {
    fprintf(stderr, "fcgikitd: signals: %s\n", strerror(errno));
    return EXIT_RUN;
  }
  sock_systemd_init();

  /* 3. Away from the terminal, then the pools. */
  int ready_fd = foreground ? -1 : daemonize();
  m->now_ns = mono_ns();
  if (pools_start(m) < 0 ||
      (m->cfg.status_listen && status_open(m, m->cfg.status_listen) < 0)) {
    fprintf(stderr, "fcgikitd: could not start; see the log\n");
    m->stopping = 1;
    pools_stop(m);
    serve(m); /* reaps what started */
    pools_free(m);
    pidfile_remove();
    report_start(ready_fd, EXIT_RUN);
    return EXIT_RUN;
  }
  sock_systemd_done();
  pidfile_write();
  logmsg(LOG_NOTICE, "fcgikitd %s started, pid %d, %zu pool%s", FK_VERSION,
         (int)getpid(), m->cfg.npools, m->cfg.npools == 1 ? "" : "s");
  notify("READY=1\nSTATUS=serving");
  report_start(ready_fd, 0);

  /* 4. Supervise until stopped. */
  serve(m);
  status_close(m);
  pools_free(m);
  logmsg(LOG_NOTICE, "fcgikitd stopped");
  pidfile_remove();
  return 0;
}

/* --- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  const char *file = FK_SYSCONFDIR "/fcgikitd.conf";
  int test = 0, foreground = 0;
  manager m = {.status_fd = -1};
  static const struct option longs[] = {
      {"config", required_argument, NULL, 'c'},
      {"test", no_argument, NULL, 't'},
      {"foreground", no_argument, NULL, 'F'},
      {"allow-root", no_argument, NULL, 'R'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "c:tFRhV", longs, NULL)) != -1) {
    switch (c) {
    case 'c': file = optarg; break;
    case 't': test = 1; break;
    case 'F': foreground = 1; break;
    case 'R': m.allow_root = 1; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("fcgikitd %s\n", FK_VERSION); return 0;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "fcgikitd: unexpected argument: %s\n", argv[optind]);
    usage(stderr);
    return EXIT_USAGE;
  }

  int status = run(&m, file, test, foreground);
  config_free(&m.cfg);
  free(m.config_path);
  return status;
}
