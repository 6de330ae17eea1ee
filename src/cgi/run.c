/*
 * One script's life, on a handler thread of its own: spawn it, feed it the
 * body while relaying its output and its standard error, end it when it
 * runs too long or the web server gives up, and always reap it.
 *
 * Nothing waits on one pipe while another is full: one poll() covers the
 * script's standard input, output and error and its exit, so a script that
 * writes megabytes before reading its body runs as well as one that reads
 * first. Output leaves as it comes, each read passed on and flushed; when
 * the web server reads slowly fk_write() waits, this loop stops reading,
 * and the script blocks on a full pipe: memory stays bounded.
 *
 * The response headers are checked before anything is sent (RFC 3875
 * 6.2-6.3): malformed ones, output that ends inside them, and a body
 * without Content-Type become 502. A local redirect ("Location: /path") is
 * passed on as a 302 for the client to follow, not followed here: which
 * script a URL path maps to is the web server's knowledge, not ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"

#define IO_CHUNK (64 * 1024)
/* How often a waiting script loop looks at fk_aborted(). */
#define TICK_MS 100
/* A stderr line longer than this is logged in pieces. */
#define LOG_LINE 2048

enum ending {
  END_NORMAL,
  END_TIMEOUT,
  END_ABORTED,   /* the web server aborted the request or went away */
  END_BAD_OUTPUT /* malformed headers: the script was told to stop */
};

typedef struct run {
  fk_request *req;
  const cgi_config *cfg;
  const char *name; /* the script as the request named it */
  pid_t pid;
  int pidfd; /* -1 when the kernel has no pidfd_open */
  int in, out, err;
  int exited, status;

  char *inbuf; /* body bytes read, not yet written to the script */
  size_t inpos, inlen;
  int body_done;

  fk_cgi *head;
  int head_done, head_sent, discard;
  uint64_t out_bytes;

  char why[256]; /* what was wrong with the output */
  char errline[LOG_LINE];
  size_t errlen;

  uint64_t started, deadline, kill_at; /* ms; 0 = none */
  int signalled;                       /* 0, SIGTERM or SIGKILL */
  enum ending ending;
} run;

void cgi_log(const char *fmt, ...) {
  char msg[LOG_LINE + 256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fcgikit-cgi[%ld]: %s\n", (long)getpid(), msg);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* --- Answers of our own -------------------------------------------------- */

/* An error answer to a request whose script never ran or whose response
 * has not started; the reason also goes to the web server's error log
 * (FCGI_STDERR) and ours. */
static void answer_error(fk_request *req, int code, const char *name,
                         const char *why) {
  cgi_log("%s: %d %s: %s", name, code, fk_status_reason(code), why);
  fk_eprintf(req, "fcgikit-cgi: %s: %s\n", name, why);
  fk_status(req, code, NULL);
  fk_add_header(req, "Content-Type", "text/plain");
  fk_end_headers(req);
  fk_printf(req, "%d %s\n", code, fk_status_reason(code));
}

/* --- Starting the script ------------------------------------------------- */

static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* The HTTP status for a script that cannot be started. */
static int spawn_status(int err) {
  switch (err) {
  case EACCES:
  case EPERM: return 403;
  case EMFILE:
  case ENFILE:
  case EAGAIN:
  case ENOMEM: return 503;
  default: return 500;
  }
}

static int spawn_script(run *r, const cgi_script *s, char **env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return errno;
  if (pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    close(in[0]), close(in[1]);
    return e;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return e;
  }
  /* The script gets its own session, and so its own process group, for a
   * timeout or an abort to end it and whatever it started; default signal
   * dispositions (the server ignores SIGPIPE; a CGI program must not);
   * nothing blocked; the three pipes as fds 0-2 and nothing else (every
   * other descriptor of ours is close-on-exec). Since the server keeps fds
   * 0-2 open (main.c), the pipes are above 2 and dup2 cannot clobber one
   * with another. */
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addchdir_np(&fa, s->dir);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);

  char *argv[4];
  size_t argc = 0;
  if (s->interp[0] != '\0') {
    argv[argc++] = (char *)s->interp;
    if (s->interp_arg[0] != '\0')
      argv[argc++] = (char *)s->interp_arg;
  }
  argv[argc++] = (char *)s->path;
  argv[argc] = NULL;
  int rc = posix_spawn(&r->pid, argv[0], &fa, &attr, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]), close(out[1]), close(err[1]);
  if (rc != 0) {
    close(in[1]), close(out[0]), close(err[0]);
    return rc;
  }
  r->in = in[1], r->out = out[0], r->err = err[0];
  fcntl(r->in, F_SETFL, O_NONBLOCK);
  fcntl(r->out, F_SETFL, O_NONBLOCK);
  fcntl(r->err, F_SETFL, O_NONBLOCK);
  r->pidfd = open_pidfd(r->pid);
  return 0;
}

/* SIGTERM to the script's process group, SIGKILL after the grace time. */
static void stop_script(run *r, enum ending why) {
  if (r->signalled)
    return;
  if (r->ending == END_NORMAL)
    r->ending = why;
  r->signalled = SIGTERM;
  r->kill_at = now_ms() + r->cfg->grace_ms;
  kill(-r->pid, SIGTERM);
}

/* --- Standard error ------------------------------------------------------ */

static void log_errline(run *r) {
  cgi_log("%s[%ld]: %.*s", r->name, (long)r->pid, (int)r->errlen, r->errline);
  r->errlen = 0;
}

/* Every byte goes to the web server's error log as FCGI_STDERR, and to
 * ours a line at a time, named after the script. */
static void on_stderr(run *r, const char *p, size_t n) {
  if (!r->discard && fk_write_err(r->req, p, n) != FK_OK)
    stop_script(r, END_ABORTED);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      log_errline(r);
      continue;
    }
    if (r->errlen == sizeof r->errline)
      log_errline(r);
    r->errline[r->errlen++] = p[i];
  }
}

/* --- Standard output ----------------------------------------------------- */

static int write_header(fk_request *req, const char *name, size_t nlen,
                        const char *value, size_t vlen) {
  int rc = fk_write(req, name, nlen);
  if (rc == FK_OK)
    rc = fk_write(req, ": ", 2);
  if (rc == FK_OK)
    rc = fk_write(req, value, vlen);
  if (rc == FK_OK)
    rc = fk_write(req, "\r\n", 2);
  return rc;
}

/* The script's headers, passed on with the Status line first. */
static int send_head(run *r) {
  fk_cgi *h = r->head;
  int code = fk_cgi_status(h);
  const char *reason = fk_cgi_reason(h);
  if (fk_cgi_kind(h) == FK_CGI_LOCAL_REDIRECT &&
      fk_cgi_header(h, "Status") == NULL)
    code = 302, reason = "";
  int rc = fk_status(r->req, code, *reason ? reason : NULL);
  for (size_t i = 0; rc == FK_OK && i < fk_cgi_header_count(h); i++) {
    const char *name, *value;
    size_t nlen, vlen;
    fk_cgi_header_at(h, i, &name, &nlen, &value, &vlen);
    if (nlen == 6 && strncasecmp(name, "Status", 6) == 0)
      continue;
    rc = write_header(r->req, name, nlen, value, vlen);
  }
  if (rc == FK_OK)
    rc = fk_end_headers(r->req);
  r->head_sent = 1;
  return rc;
}

/* Nothing of the response is sent yet, and it is not one to pass on: the
 * answer is a 502 once the script has exited (finish() says how), and the
 * script, whose output nobody will see, is stopped if it still runs. */
static void bad_output(run *r, const char *why) {
  snprintf(r->why, sizeof r->why, "%s", why);
  r->head_sent = 1;
  r->discard = 1;
  if (r->out >= 0)
    stop_script(r, END_BAD_OUTPUT);
  else if (r->ending == END_NORMAL)
    r->ending = END_BAD_OUTPUT;
}

static void on_stdout(run *r, const char *p, size_t n) {
  r->out_bytes += n;
  if (r->discard)
    return;
  if (!r->head_done) {
    long used = fk_cgi_feed(r->head, p, n);
    if (used < 0) {
      char why[256];
      snprintf(why, sizeof why, "bad response headers: %s",
               fk_cgi_error_reason(r->head));
      bad_output(r, why);
      return;
    }
    p += used, n -= (size_t)used;
    r->head_done = fk_cgi_done(r->head);
    /* With a Content-Type or a Location the response is what it says it
     * is; without either, whether it is valid depends on whether a body
     * follows, so the head waits for the first body byte or the end. */
    if (r->head_done && (fk_cgi_content_type(r->head) != NULL ||
                         fk_cgi_location(r->head) != NULL)) {
      if (send_head(r) != FK_OK || (n == 0 && fk_flush(r->req) != FK_OK)) {
        stop_script(r, END_ABORTED);
        return;
      }
    }
  }
  if (n == 0)
    return;
  if (!r->head_sent) {
    if (fk_cgi_content_type(r->head) == NULL &&
        fk_cgi_location(r->head) == NULL) {
      bad_output(r, "a response body without Content-Type");
      return;
    }
  }
  int rc = fk_write(r->req, p, n);
  if (rc == FK_OK)
    rc = fk_flush(r->req);
  /* FK_E_TIMEOUT: the web server read nothing for as long as a script
   * may run (main.c sets io_timeout_ms so): the script's time is up. */
  if (rc != FK_OK)
    stop_script(r, rc == FK_E_TIMEOUT ? END_TIMEOUT : END_ABORTED);
}

/* Standard output ended. */
static void on_stdout_end(run *r) {
  if (r->discard || r->head_sent || r->ending != END_NORMAL)
    return;
  if (!r->head_done) {
    fk_cgi_finish(r->head);
    bad_output(r,
               r->out_bytes == 0 ? "no output" : fk_cgi_error_reason(r->head));
    return;
  }
  if (send_head(r) != FK_OK)
    stop_script(r, END_ABORTED);
}

/* --- The loop ------------------------------------------------------------ */

/* Moves body bytes to the script's standard input as it takes them. */
static void feed_stdin(run *r) {
  for (;;) {
    if (r->inpos == r->inlen) {
      if (r->body_done)
        break;
      long n = fk_read(r->req, r->inbuf, IO_CHUNK);
      if (n <= 0) {
        if (n < 0)
          cgi_log("%s: reading the request body: %s", r->name,
                  fk_strerror((int)n));
        r->body_done = 1;
        break;
      }
      r->inpos = 0, r->inlen = (size_t)n;
    }
    ssize_t w = write(r->in, r->inbuf + r->inpos, r->inlen - r->inpos);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR)
        return;
      /* EPIPE: the script closed its input; the rest is not wanted. */
      r->body_done = 1;
      r->inpos = r->inlen;
      break;
    }
    r->inpos += (size_t)w;
  }
  close_fd(&r->in); /* end of input for the script */
}

/* Reads what is there from *fd; at the end, closes it. */
static void drain(run *r, int *fd, void (*take)(run *, const char *, size_t),
                  char *buf) {
  for (int reads = 0; reads < 4; reads++) {
    ssize_t n = read(*fd, buf, IO_CHUNK);
    if (n > 0) {
      take(r, buf, (size_t)n);
      if ((size_t)n < IO_CHUNK)
        return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    close_fd(fd);
    if (take == on_stdout)
      on_stdout_end(r);
    return;
  }
}

static void reap(run *r, int block) {
  int status;
  if (waitpid(r->pid, &status, block ? 0 : WNOHANG) == r->pid) {
    r->exited = 1;
    r->status = status;
  }
}

/* The next moment something must happen without input: a tick to look for
 * an abort, the deadline, the SIGKILL after a SIGTERM. */
static int poll_timeout(const run *r, uint64_t now) {
  uint64_t wake = now + TICK_MS;
  if (r->deadline && !r->signalled && r->deadline < wake)
    wake = r->deadline;
  if (r->signalled && r->kill_at < wake)
    wake = r->kill_at;
  if (r->pidfd < 0 && !r->exited && r->out < 0 && r->err < 0 && now + 5 < wake)
    wake = now + 5; /* no pidfd: look for the exit every few ms */
  return wake > now ? (int)(wake - now) : 0;
}

static void check_time(run *r, uint64_t now) {
  if (fk_aborted(r->req))
    stop_script(r, END_ABORTED);
  if (r->deadline && now >= r->deadline)
    stop_script(r, END_TIMEOUT);
  if (r->signalled == SIGTERM && now >= r->kill_at) {
    r->signalled = SIGKILL;
    r->kill_at = now + r->cfg->grace_ms;
    kill(-r->pid, SIGKILL);
  } else if (r->signalled == SIGKILL && now >= r->kill_at) {
    /* Killed, and still something holds the pipes open: a process that
     * left the script's session. Stop listening to it. */
    close_fd(&r->in);
    close_fd(&r->out);
    close_fd(&r->err);
  }
}

static void pump(run *r, char *buf) {
  while (r->in >= 0 || r->out >= 0 || r->err >= 0 || !r->exited) {
    uint64_t now = now_ms();
    check_time(r, now);
    if (r->in >= 0)
      feed_stdin(r);
    struct pollfd p[4];
    int np = 0, iin = -1, iout = -1, ierr = -1, ipid = -1;
    if (r->in >= 0)
      iin = np, p[np++] = (struct pollfd){r->in, POLLOUT, 0};
    if (r->out >= 0)
      iout = np, p[np++] = (struct pollfd){r->out, POLLIN, 0};
    if (r->err >= 0)
      ierr = np, p[np++] = (struct pollfd){r->err, POLLIN, 0};
    if (!r->exited && r->pidfd >= 0)
      ipid = np, p[np++] = (struct pollfd){r->pidfd, POLLIN, 0};
    int n = poll(p, (nfds_t)np, poll_timeout(r, now));
    if (n < 0 && errno != EINTR) {
      cgi_log("%s: poll: %s", r->name, strerror(errno));
      stop_script(r, END_ABORTED);
      break;
    }
    if (n <= 0) {
      if (r->pidfd < 0 && !r->exited)
        reap(r, 0);
      continue;
    }
    if (iin >= 0 && p[iin].revents)
      feed_stdin(r);
    if (iout >= 0 && p[iout].revents)
      drain(r, &r->out, on_stdout, buf);
    if (ierr >= 0 && p[ierr].revents)
      drain(r, &r->err, on_stderr, buf);
    if (ipid >= 0 && p[ipid].revents)
      reap(r, 0);
  }
  /* Whatever the script left running in its group after a timeout or an
   * abort goes with it. */
  if (r->signalled)
    kill(-r->pid, SIGKILL);
  if (!r->exited)
    reap(r, 1);
}

/* --- The handler --------------------------------------------------------- */

static void finish(run *r) {
  if (r->errlen > 0)
    log_errline(r);
  int code = WIFEXITED(r->status)     ? WEXITSTATUS(r->status)
             : WIFSIGNALED(r->status) ? 128 + WTERMSIG(r->status)
                                      : 255;
  fk_set_exit_status(r->req, code);
  uint64_t took = now_ms() - r->started;
  switch (r->ending) {
  case END_TIMEOUT:
    if (!r->head_sent)
      answer_error(r->req, 504, r->name, "timed out; killed");
    else
      cgi_log("%s[%ld]: timed out after %llu ms; killed, response cut short",
              r->name, (long)r->pid, (unsigned long long)took);
    break;
  case END_ABORTED:
    cgi_log("%s[%ld]: request aborted by the web server; script stopped",
            r->name, (long)r->pid);
    break;
  case END_BAD_OUTPUT: {
    char why[400];
    if (r->signalled)
      snprintf(why, sizeof why, "%s; script stopped", r->why);
    else if (WIFSIGNALED(r->status))
      snprintf(why, sizeof why, "%s; killed by signal %d", r->why,
               WTERMSIG(r->status));
    else
      snprintf(why, sizeof why, "%s; exit %d", r->why, code);
    answer_error(r->req, 502, r->name, why);
    break;
  }
  case END_NORMAL:
    if (WIFSIGNALED(r->status))
      cgi_log("%s[%ld]: killed by signal %d", r->name, (long)r->pid,
              WTERMSIG(r->status));
    else if (r->cfg->verbose)
      cgi_log("%s[%ld]: exit %d after %llu ms", r->name, (long)r->pid, code,
              (unsigned long long)took);
    break;
  }
}

void cgi_serve(fk_request *req, void *arg) {
  const cgi_config *cfg = arg;
  cgi_script script;
  const char *name, *why;
  /* Aborted while it waited for a free slot: nobody wants the answer. */
  if (fk_aborted(req))
    return;
  int code = cgi_resolve(cfg, req, &script, &name, &why);
  if (code != 0) {
    answer_error(req, code, name, why);
    return;
  }
  run r = {.req = req,
           .cfg = cfg,
           .name = name,
           .pidfd = -1,
           .in = -1,
           .out = -1,
           .err = -1};
  char **env = cgi_environment(cfg, req);
  char *bufs = malloc(2 * IO_CHUNK);
  if (env == NULL || bufs == NULL ||
      fk_cgi_new(&r.head, NULL, cfg->header_max, 0) != FK_OK) {
    answer_error(req, 503, name, "out of memory");
    goto out;
  }
  r.inbuf = bufs;
  r.started = now_ms();
  r.deadline = cfg->timeout_ms ? r.started + cfg->timeout_ms : 0;
  int rc = spawn_script(&r, &script, env);
  if (rc != 0) {
    char reason[128];
    snprintf(reason, sizeof reason, "cannot run it: %s", strerror(rc));
    answer_error(req, spawn_status(rc), name, reason);
    goto out;
  }
  pump(&r, bufs + IO_CHUNK);
  finish(&r);
  close_fd(&r.pidfd);
out:
  fk_cgi_free(r.head);
  free(bufs);
  free(env);
}
