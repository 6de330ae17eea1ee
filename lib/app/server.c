/*
 * The server: listening sockets, I/O threads (workers), the optional
 * handler pool, signals and the graceful stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/internal.h"

#define MAX_INHERITED 16

/* --- Logging ------------------------------------------------------------- */

void fk__log(const fk_server *s, int level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (s->cfg.log) {
    s->cfg.log(level, msg, s->cfg.log_arg);
    return;
  }
  /* Spec 1: the web server may start us with fd 2 closed. */
  if (level <= FK_LOG_WARNING && fcntl(STDERR_FILENO, F_GETFD) != -1)
    fprintf(stderr, "fcgikit[%ld]: %s\n", (long)getpid(), msg);
}

/* --- Signals ------------------------------------------------------------ */

static fk_server *signal_target;
static struct sigaction saved_term, saved_int, saved_pipe;

static volatile sig_atomic_t signalled;

static void on_signal(int sig) {
  (void)sig;
  signalled = 1;
  if (signal_target)
    fk_server_stop(signal_target);
}

static void install_signals(fk_server *s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  signal_target = s;
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* handlers' own system calls carry on */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &saved_term);
  sigaction(SIGINT, &sa, &saved_int);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, &saved_pipe);
}

/* A process that a signal is stopping keeps the handler, which now does
 * nothing: a second SIGTERM while it exits (a supervisor insisting) must
 * not turn a clean exit into a death by signal. */
static void restore_signals(fk_server *s) {
  if (signal_target != s)
    return;
  signal_target = NULL;
  if (signalled)
    return;
  sigaction(SIGTERM, &saved_term, NULL);
  sigaction(SIGINT, &saved_int, NULL);
  sigaction(SIGPIPE, &saved_pipe, NULL);
}

/* --- Creation and settings ----------------------------------------------- */

int fk_server_new(fk_server **out, const fk_config *cfg) {
  fk_config defaults;
  if (cfg == NULL) {
    fk_config_init(&defaults);
    cfg = &defaults;
  }
  if (cfg->max_conns == 0 || cfg->max_reqs == 0 ||
      cfg->max_reqs_per_conn == 0 || cfg->max_output == 0)
    return FK_E_INVAL;
  /* A streaming handler blocks in fk_read(): never on an I/O thread. */
  if (cfg->stream_body && cfg->handler_threads == 0)
    return FK_E_INVAL;
  fk_server *s = fk__alloc(cfg->allocator, sizeof *s);
  if (s == NULL)
    return FK_E_NOMEM;
  memset(s, 0, sizeof *s);
  s->cfg = *cfg;
  if (s->cfg.threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    s->cfg.threads = n > 0 ? (unsigned)n : 1;
  }
  pthread_mutex_init(&s->queue_lock, NULL);
  pthread_cond_init(&s->queue_cond, NULL);
  /* From here on, not only once it runs: a SIGTERM that arrives while the
   * server is still being set up stops it as soon as it starts. */
  if (s->cfg.handle_signals)
    install_signals(s);
  *out = s;
  return FK_OK;
}

int fk_server_handle(fk_server *s, unsigned role, fk_handler handler,
                     void *arg) {
  if (handler == NULL || role == 0 || role > 0xffff)
    return FK_E_INVAL;
  if (atomic_load(&s->running))
    return FK_E_STATE;
  for (size_t i = 0; i < s->nhandlers; i++) {
    if (s->handlers[i].role == role) {
      s->handlers[i].fn = handler;
      s->handlers[i].arg = arg;
      return FK_OK;
    }
  }
  fk__handler_entry *h = fk__realloc(s->cfg.allocator, s->handlers,
                                     (s->nhandlers + 1) * sizeof *h);
  if (h == NULL)
    return FK_E_NOMEM;
  s->handlers = h;
  s->handlers[s->nhandlers++] = (fk__handler_entry){role, handler, arg};
  return FK_OK;
}

const fk__handler_entry *fk__server_handler(const fk_server *s, unsigned role) {
  for (size_t i = 0; i < s->nhandlers; i++)
    if (s->handlers[i].role == role)
      return &s->handlers[i];
  return NULL;
}

unsigned long fk_server_requests(const fk_server *s) {
  return atomic_load(&s->served);
}

/* --- Listening ----------------------------------------------------------- */

static int add_listener(fk_server *s, int fd, const char *unix_path) {
  fk__listener *l = fk__realloc(s->cfg.allocator, s->listeners,
                                (s->nlisteners + 1) * sizeof *l);
  if (l == NULL)
    return FK_E_NOMEM;
  s->listeners = l;
  l = &s->listeners[s->nlisteners];
  memset(l, 0, sizeof *l);
  l->fd = fd;
  if (unix_path) {
    struct stat st;
    size_t len = strlen(unix_path) + 1;
    l->unix_path = fk__alloc(s->cfg.allocator, len);
    if (l->unix_path == NULL)
      return FK_E_NOMEM;
    memcpy(l->unix_path, unix_path, len);
    if (stat(unix_path, &st) == 0) {
      l->dev = st.st_dev;
      l->ino = st.st_ino;
    }
  }
  s->nlisteners++;
  return FK_OK;
}

static int read_web_server_addrs(fk_server *s) {
  const char *v = getenv("FCGI_WEB_SERVER_ADDRS");
  if (v == NULL || s->check_addrs)
    return FK_OK;
  int rc = fk__addr_list_parse(&s->web_server_addrs, v);
  if (rc == FK_OK)
    s->check_addrs = 1;
  return rc;
}

/* Spec 1: fd 1 and 2 are closed when a web server starts us; point them at
 * /dev/null so a stray write cannot land on a connection's socket. */
static void reopen_std_fds(void) {
  for (int fd = 1; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      int n = open("/dev/null", O_RDWR);
      if (n >= 0 && n != fd) {
        dup2(n, fd);
        close(n);
      }
    }
  }
}

static int listen_inherited(fk_server *s) {
  int fds[MAX_INHERITED];
  int n = fk__listen_systemd(fds, MAX_INHERITED);
  for (int i = 0; i < n; i++) {
    int rc = add_listener(s, fds[i], NULL);
    if (rc != FK_OK)
      return rc;
  }
  if (n > 0)
    return FK_OK;
  if (!fk__is_listening(FK_LISTENSOCK_FILENO))
    return FK_E_LISTEN;
  reopen_std_fds();
  if (fk__fd_prepare(FK_LISTENSOCK_FILENO) != 0)
    return FK_E_SYSTEM;
  return add_listener(s, FK_LISTENSOCK_FILENO, NULL);
}

int fk_server_listen(fk_server *s, const char *address) {
  if (atomic_load(&s->running))
    return FK_E_STATE;
  int rc = read_web_server_addrs(s);
  if (rc != FK_OK)
    return rc;
  if (address == NULL || *address == '\0')
    return listen_inherited(s);
  char host[256], port[8];
  const char *path = NULL;
  int kind =
      fk__addr_split(address, host, sizeof host, port, sizeof port, &path);
  int fd = -1;
  switch (kind) {
  case FK__ADDR_UNIX:
    rc = fk__listen_unix(path, s->cfg.socket_mode, s->cfg.backlog, &fd);
    break;
  case FK__ADDR_TCP:
    rc = fk__listen_tcp(host, port, s->cfg.backlog, &fd);
    break;
  default: return FK_E_ADDRESS; /* abstract sockets are for clients */
  }
  if (rc != FK_OK)
    return rc;
  rc = add_listener(s, fd, kind == FK__ADDR_UNIX ? path : NULL);
  if (rc != FK_OK) {
    /* The socket file was made just now, for this socket: it goes too. */
    if (kind == FK__ADDR_UNIX)
      unlink(path);
    close(fd);
  }
  return rc;
}

int fk_server_listen_fd(fk_server *s, int fd) {
  if (atomic_load(&s->running))
    return FK_E_STATE;
  if (!fk__is_listening(fd) || fk__fd_prepare(fd) != 0)
    return FK_E_INVAL;
  int rc = read_web_server_addrs(s);
  return rc != FK_OK ? rc : add_listener(s, fd, NULL);
}

/* Removes the socket file only if it is still ours: a newer server may have
 * replaced it at the same path. */
static void close_listeners(fk_server *s) {
  for (size_t i = 0; i < s->nlisteners; i++) {
    fk__listener *l = &s->listeners[i];
    if (l->fd >= 0)
      close(l->fd);
    l->fd = -1;
    struct stat st;
    if (l->unix_path && lstat(l->unix_path, &st) == 0 && st.st_dev == l->dev &&
        st.st_ino == l->ino)
      unlink(l->unix_path);
    fk__free(s->cfg.allocator, l->unix_path);
    l->unix_path = NULL;
  }
}

/* --- Accepting ----------------------------------------------------------- */

/* EMFILE: give up the reserve fd, accept and drop one connection so the
 * web server hears of it rather than waiting, then take the reserve back.
 * Without this a level-triggered listener would spin. */
static void shed_connection(fk__worker *w, int lfd) {
  if (w->reserve_fd >= 0) {
    close(w->reserve_fd);
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
      close(fd);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  fk__log(w->server, FK_LOG_ERROR, "out of file descriptors; connection shed");
}

static void on_accept(fk__worker *w, fk__listener *l) {
  fk_server *s = w->server;
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE)
        shed_connection(w, l->fd);
      else if (errno != EAGAIN && errno != EWOULDBLOCK)
        fk__log(s, FK_LOG_ERROR, "accept: %s", strerror(errno));
      return;
    }
    if (s->check_addrs &&
        !fk__addr_list_allows(&s->web_server_addrs, (struct sockaddr *)&ss)) {
      fk__log(s, FK_LOG_WARNING,
              "connection refused: peer not in FCGI_WEB_SERVER_ADDRS");
      close(fd);
      continue;
    }
    if (atomic_fetch_add(&s->conns, 1) >= s->cfg.max_conns) {
      atomic_fetch_sub(&s->conns, 1);
      fk__log(s, FK_LOG_WARNING,
              "connection refused: %u connections open "
              "(FCGI_MAX_CONNS)",
              s->cfg.max_conns);
      close(fd);
      continue;
    }
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
      int on = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    fk__conn *c = fk__conn_new(w, fd);
    if (c == NULL) {
      atomic_fetch_sub(&s->conns, 1);
      close(fd);
      fk__log(s, FK_LOG_ERROR, "out of memory accepting a connection");
      continue;
    }
    fk__sb_conn(s, 1);
    fk__conn_start(c);
  }
}

/* --- Handler pool -------------------------------------------------------- */

void fk__pool_push(fk_server *s, fk_request *r) {
  r->next = NULL;
  pthread_mutex_lock(&s->queue_lock);
  if (s->queue_tail)
    s->queue_tail->next = r;
  else
    s->queue_head = r;
  s->queue_tail = r;
  pthread_cond_signal(&s->queue_cond);
  pthread_mutex_unlock(&s->queue_lock);
}

static void *pool_main(void *arg) {
  fk_server *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->queue_lock);
    while (s->queue_head == NULL && !s->pool_exit)
      pthread_cond_wait(&s->queue_cond, &s->queue_lock);
    fk_request *r = s->queue_head;
    if (r) {
      s->queue_head = r->next;
      if (s->queue_head == NULL)
        s->queue_tail = NULL;
    }
    pthread_mutex_unlock(&s->queue_lock);
    if (r == NULL)
      return NULL;
    fk__request_run(r);
  }
}

void fk__worker_post_done(fk__worker *w, fk_request *r) {
  pthread_mutex_lock(&w->done_lock);
  r->next = w->done;
  w->done = r;
  pthread_mutex_unlock(&w->done_lock);
  fk__loop_wake(&w->loop);
}

void fk__worker_post_resume(fk__worker *w, fk__conn *c) {
  pthread_mutex_lock(&w->done_lock);
  if (!c->resume_posted) {
    c->resume_posted = 1;
    c->resume_next = w->resumed;
    w->resumed = c;
  }
  pthread_mutex_unlock(&w->done_lock);
  fk__loop_wake(&w->loop);
}

/* Sockets given back come first: a connection is freed only once its
 * last request is released, and a handler gives its socket back before
 * its request is done. */
static void release_done(fk__worker *w) {
  pthread_mutex_lock(&w->done_lock);
  fk_request *r = w->done;
  w->done = NULL;
  pthread_mutex_unlock(&w->done_lock);
  for (;;) {
    pthread_mutex_lock(&w->done_lock);
    fk__conn *c = w->resumed;
    if (c) {
      w->resumed = c->resume_next;
      c->resume_posted = 0;
    }
    pthread_mutex_unlock(&w->done_lock);
    if (c == NULL)
      break;
    fk__conn_resume(c);
  }
  while (r) {
    fk_request *next = r->next;
    fk__conn *c = r->conn;
    fk__conn_release(c, r);
    fk__conn_check_idle(c);
    r = next;
  }
}

/* --- Stopping ------------------------------------------------------------ */

void fk__server_count_served(fk_server *s) {
  unsigned long n = atomic_fetch_add(&s->served, 1) + 1;
  fk__sb_served(s);
  if ((s->cfg.max_requests && n == s->cfg.max_requests) ||
      (s->sb_max_requests && n == s->sb_max_requests))
    fk_server_stop(s);
}

/* Async-signal-safe: atomics and write(2) only. Workers not yet wakeable
 * see `stopping` before they first wait. */
void fk_server_stop(fk_server *s) {
  atomic_store(&s->stopping, 1);
  atomic_fetch_add(&s->waking, 1);
  unsigned n = atomic_load(&s->wakeable);
  for (unsigned i = 0; i < n; i++)
    fk__loop_wake(&s->workers[i].loop);
  atomic_fetch_sub(&s->waking, 1);
}

/* How long a stop waits for the first request of a connection it accepted
 * just before. */
#define FRESH_GRACE_MS 1000

/* The worker stops listening, closes its idle connections, and carries on
 * until the last request in flight has been answered. */
static void worker_begin_stop(fk__worker *w) {
  fk_server *s = w->server;
  w->stop_seen = 1;
  fk__deadline_in(&w->stop_deadline, s->cfg.stop_timeout_ms);
  fk__deadline_in(&w->fresh_deadline, FRESH_GRACE_MS);
  for (size_t i = 0; i < s->nlisteners; i++)
    fk__loop_del(&w->loop, s->listeners[i].fd);
  if (atomic_fetch_add(&s->workers_unlistened, 1) + 1 == s->nworkers)
    close_listeners(s);
  for (fk__conn *c = w->conns, *next; c; c = next) {
    next = c->next;
    fk__conn_check_idle(c);
  }
}

/* How long epoll may sleep: for ever, or until the stop deadline. A web
 * server that never finishes sending a request must not hold a stop up
 * for ever: past the deadline its connections are closed. */
static int wait_ms(fk__worker *w) {
  if (!w->stop_seen)
    return -1;
  if (!w->fresh_expired) {
    int ms = fk__ms_until(&w->fresh_deadline);
    if (ms > 0)
      return ms;
    w->fresh_expired = 1;
    for (fk__conn *c = w->conns, *next; c; c = next) {
      next = c->next;
      fk__conn_check_idle(c);
    }
  }
  if (w->server->cfg.stop_timeout_ms == 0)
    return -1;
  int ms = fk__ms_until(&w->stop_deadline);
  if (ms > 0)
    return ms;
  if (w->conns != NULL && !w->stop_forced) {
    w->stop_forced = 1;
    fk__log(w->server, FK_LOG_WARNING,
            "stop: %u connection(s) still busy "
            "after %u ms; closing them",
            w->nconns, w->server->cfg.stop_timeout_ms);
    for (fk__conn *c = w->conns, *next; c; c = next) {
      next = c->next;
      fk__conn_kill(c, FK_OK);
    }
  }
  return 100; /* handlers still running on the pool come back soon */
}

/* --- The event loop ------------------------------------------------------ */

static int is_listener(const fk_server *s, const void *p) {
  return p >= (const void *)s->listeners &&
         p < (const void *)(s->listeners + s->nlisteners);
}

static void bury_closed(fk__worker *w) {
  while (w->graveyard) {
    fk__conn *c = w->graveyard;
    w->graveyard = c->next;
    fk__conn_free(c);
  }
}

static void *worker_main(void *arg) {
  fk__worker *w = arg;
  fk_server *s = w->server;
  struct epoll_event events[64];
  for (;;) {
    if (atomic_load(&s->stopping) && !w->stop_seen)
      worker_begin_stop(w);
    if (w->stop_seen && w->nconns == 0)
      break;
    int n = epoll_wait(w->loop.epfd, events, 64, wait_ms(w));
    for (int i = 0; i < n; i++) {
      void *p = events[i].data.ptr;
      if (p == NULL) {
        fk__loop_drain_wake(&w->loop);
        release_done(w);
      } else if (is_listener(s, p)) {
        if (!w->stop_seen)
          on_accept(w, p);
      } else {
        fk__conn *c = p;
        if (!c->closed && (events[i].events & EPOLLOUT))
          fk__conn_on_writable(c);
        if (!c->closed && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
          fk__conn_on_readable(c, events[i].events);
      }
    }
    bury_closed(w);
  }
  bury_closed(w); /* those worker_begin_stop closed just before the break */
  return NULL;
}

static int worker_init(fk_server *s, fk__worker *w, unsigned index) {
  memset(w, 0, sizeof *w);
  /* worker_destroy runs after a failure here too: no fd 0 to close. */
  w->loop.epfd = w->loop.wakefd = -1;
  w->server = s;
  w->index = index;
  w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pthread_mutex_init(&w->done_lock, NULL);
  w->rbuf_size = FK__READ_BUFFER; /* allocated at the first read */
  int rc = fk__loop_init(&w->loop);
  if (rc != FK_OK)
    return rc;
  for (size_t i = 0; i < s->nlisteners; i++) {
    /* EPOLLEXCLUSIVE: one worker wakes per connection, not all of them. */
    if (fk__loop_add(&w->loop, s->listeners[i].fd, EPOLLIN | EPOLLEXCLUSIVE,
                     &s->listeners[i]) != 0)
      return FK_E_SYSTEM;
  }
  return FK_OK;
}

static void worker_destroy(fk_server *s, fk__worker *w) {
  fk__loop_close(&w->loop);
  fk__free(s->cfg.allocator, w->rbuf);
  if (w->reserve_fd >= 0)
    close(w->reserve_fd);
  pthread_mutex_destroy(&w->done_lock);
}

static void stop_pool(fk_server *s) {
  pthread_mutex_lock(&s->queue_lock);
  s->pool_exit = 1;
  pthread_cond_broadcast(&s->queue_cond);
  pthread_mutex_unlock(&s->queue_lock);
  for (unsigned i = 0; i < s->npool; i++)
    pthread_join(s->pool[i], NULL);
  s->npool = 0;
}

/* Thousands of connections need thousands of descriptors; the soft limit
 * is often 1024 while the hard one allows more. */
static void raise_fd_limit(const fk_server *s) {
  struct rlimit rl;
  rlim_t want = (rlim_t)s->cfg.max_conns + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
    return;
  rl.rlim_cur =
      rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* Whole bodies past body_memory wait in a temporary file: say at start, not
 * at the first large POST, that none can be made there (a chroot without
 * /tmp, a user who cannot write to it). */
static void check_spill(const fk_server *s) {
  const fk_config *cfg = &s->cfg;
  if (cfg->stream_body ||
      (cfg->max_body != 0 && cfg->max_body <= cfg->body_memory))
    return;
  if (fk__spill_check(s) != FK_OK)
    fk__log(s, FK_LOG_WARNING,
            "cannot create a temporary file in %s (%s): request bodies over "
            "%zu bytes will be refused",
            fk__spill_dir(s), strerror(errno), cfg->body_memory);
}

int fk_server_run(fk_server *s) {
  if (s->nlisteners == 0)
    return FK_E_LISTEN;
  raise_fd_limit(s);
  if (atomic_exchange(&s->running, 1))
    return FK_E_STATE;
  check_spill(s);
  fk__sb_attach(s);
  int rc = FK_OK;
  unsigned started = 0;
  s->workers = fk__alloc(s->cfg.allocator, s->cfg.threads * sizeof *s->workers);
  s->pool = fk__alloc(s->cfg.allocator,
                      (s->cfg.handler_threads + 1) * sizeof *s->pool);
  if (s->workers == NULL || s->pool == NULL) {
    rc = FK_E_NOMEM;
    goto out;
  }
  for (s->nworkers = 0; s->nworkers < s->cfg.threads; s->nworkers++) {
    rc = worker_init(s, &s->workers[s->nworkers], s->nworkers);
    if (rc != FK_OK) {
      s->nworkers++;
      goto out_workers;
    }
  }
  for (; s->npool < s->cfg.handler_threads; s->npool++) {
    int err = pthread_create(&s->pool[s->npool], NULL, pool_main, s);
    if (err != 0) {
      errno = err;
      rc = FK_E_SYSTEM;
      goto out_pool;
    }
  }
  atomic_store(&s->wakeable, s->nworkers);
  /* Worker 0 runs on the calling thread. */
  for (started = 1; started < s->nworkers; started++) {
    int err = pthread_create(&s->workers[started].thread, NULL, worker_main,
                             &s->workers[started]);
    if (err != 0) {
      fk_server_stop(s);
      errno = err;
      rc = FK_E_SYSTEM;
      break;
    }
  }
  worker_main(&s->workers[0]);
  for (unsigned i = 1; i < started; i++)
    pthread_join(s->workers[i].thread, NULL);
out_pool:
  stop_pool(s);
out_workers:
  /* No stop may be writing to a wake-up descriptor being closed. */
  atomic_store(&s->wakeable, 0);
  while (atomic_load(&s->waking) > 0)
    sched_yield();
  for (unsigned i = 0; i < s->nworkers; i++)
    worker_destroy(s, &s->workers[i]);
out:
  fk__free(s->cfg.allocator, s->workers);
  fk__free(s->cfg.allocator, s->pool);
  s->workers = NULL;
  s->pool = NULL;
  s->nworkers = 0;
  close_listeners(s);
  fk__sb_detach(s);
  return rc;
}

void fk_server_free(fk_server *s) {
  if (s == NULL)
    return;
  restore_signals(s);
  close_listeners(s);
  fk__free(s->cfg.allocator, s->listeners);
  fk__free(s->cfg.allocator, s->handlers);
  fk__addr_list_free(&s->web_server_addrs);
  pthread_mutex_destroy(&s->queue_lock);
  pthread_cond_destroy(&s->queue_cond);
  fk__free(s->cfg.allocator, s);
}

int fk_serve(const char *address, fk_handler handler, void *arg) {
  fk_server *s = NULL;
  int rc = fk_server_new(&s, NULL);
  if (rc == FK_OK &&
      (rc = fk_server_handle(s, FK_RESPONDER, handler, arg)) == FK_OK &&
      (rc = fk_server_listen(s, address)) == FK_OK)
    rc = fk_server_run(s);
  if (rc != FK_OK)
    fprintf(stderr, "fcgikit: %s: %s%s%s\n",
            address && *address ? address : "inherited socket", fk_strerror(rc),
            rc == FK_E_SYSTEM ? ": " : "",
            rc == FK_E_SYSTEM ? strerror(errno) : "");
  fk_server_free(s);
  return rc == FK_OK ? 0 : 1;
}
