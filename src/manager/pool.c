/*
 * Pools: starting them, keeping each at the size its process model asks,
 * replacing workers that die, and moving to a new configuration.
 *
 * Supervision reads each worker's scoreboard page (workers built on
 * libfcgikit fill it): requests in progress and since when, requests
 * served. For other programs it knows what the process level shows: alive
 * or not, and whether it used CPU time lately.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager.h"

#define MS (INT64_C(1000000))
#define QUICK_DEATH_NS (1000 * MS) /* died sooner than this: a crash loop? */
#define BACKOFF_FIRST_NS (100 * MS)
#define BACKOFF_MAX_NS (30000 * MS)
#define SHRINK_EVERY_NS (1000 * MS) /* dynamic: one idle worker a second */
#define CPU_IDLE_NS (1000 * MS)     /* no CPU time for this long: idle */

/* --- What a worker is doing ---------------------------------------------- */

int worker_reports(const worker *w) {
  return w->sb && atomic_load(&w->sb->magic) == FK_SB_MAGIC;
}

/* A consistent copy of entry e, or 0 when it holds no request. The
 * worker writes while we read: its sequence number, unchanged and even
 * around the copy, says the copy is whole. */
static int read_entry(fk_sb_entry *e, fk_sb_entry *copy) {
  for (int tries = 0; tries < 4; tries++) {
    unsigned seq = atomic_load(&e->seq);
    if (atomic_load(&e->busy) != 2 || (seq & 1))
      return 0;
    copy->start_ns = e->start_ns;
    memcpy(copy->method, e->method, sizeof copy->method);
    memcpy(copy->uri, e->uri, sizeof copy->uri);
    copy->method[sizeof copy->method - 1] = '\0';
    copy->uri[sizeof copy->uri - 1] = '\0';
    if (atomic_load(&e->seq) == seq && atomic_load(&e->busy) == 2)
      return 1;
  }
  return 0;
}

unsigned worker_requests(const worker *w, fk_sb_entry out[FK_SB_ENTRIES]) {
  unsigned n = 0;
  if (!worker_reports(w))
    return 0;
  for (unsigned i = 0; i < FK_SB_ENTRIES; i++)
    n += (unsigned)read_entry(&w->sb->entries[i], &out[n]);
  return n;
}

/* CPU time from /proc/PID/stat, for workers that do not report. */
static void update_cpu(manager *m, worker *w) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)w->pid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Fields after the command name, which may hold spaces: utime and stime
   * are the 14th and 15th of the line, the 12th and 13th after ')'. */
  const char *p = strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  if (p == NULL ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &ut, &st) != 2)
    return;
  /* What a program spends starting up is not work: a worker counts as
   * busy only for CPU time used after its first second. */
  if (ut + st != w->cpu_ticks && m->now_ns - w->start_ns >= QUICK_DEATH_NS)
    w->cpu_changed_ns = m->now_ns;
  w->cpu_ticks = ut + st;
}

static int worker_busy(const manager *m, const worker *w) {
  if (worker_reports(w))
    return atomic_load(&w->sb->active) > 0;
  return m->now_ns - w->cpu_changed_ns < CPU_IDLE_NS;
}

/* How long w has had nothing to do. */
static int64_t idle_for(const manager *m, const worker *w) {
  if (worker_reports(w))
    return atomic_load(&w->sb->active) > 0
               ? 0
               : m->now_ns - atomic_load(&w->sb->last_ns);
  return m->now_ns - w->cpu_changed_ns;
}

const char *worker_state(const manager *m, const worker *w) {
  if (w->stopping)
    return "stopping";
  if (worker_reports(w))
    return atomic_load(&w->sb->active) > 0 ? "busy" : "idle";
  if (m->now_ns - w->start_ns < QUICK_DEATH_NS)
    return "starting";
  return worker_busy(m, w) ? "busy" : "idle";
}

static int is_current(const pool *p, const worker *w) {
  return !w->stopping && w->generation == p->generation;
}

static unsigned count_live(const pool *p, unsigned *idle, const manager *m) {
  unsigned n = 0, i = 0;
  for (const worker *w = p->workers; w; w = w->next) {
    if (!is_current(p, w))
      continue;
    n++;
    if (!worker_busy(m, w))
      i++;
  }
  if (idle)
    *idle = i;
  return n;
}

/* --- Checking a configuration against who we are ------------------------- */

static int check_limit(const pool_config *pc, const char *key, int resource,
                       uint64_t want) {
  struct rlimit rl;
  if (want == RLIMIT_UNSET || getrlimit(resource, &rl) != 0 ||
      rl.rlim_max == RLIM_INFINITY ||
      (want != RLIM_INFINITY && want <= rl.rlim_max))
    return 0;
  logmsg(LOG_ERR, "%s:%u: %s: above the hard limit fcgikitd has (%llu)",
         pc->file, pc->line, key, (unsigned long long)rl.rlim_max);
  return -1;
}

int pools_check(const manager *m, const config *c) {
  int rc = 0;
  for (size_t i = 0; i < c->npools; i++) {
    const pool_config *pc = &c->pools[i];
    if (m->as_root) {
      if ((!pc->has_user || pc->uid == 0) && !m->allow_root) {
        logmsg(LOG_ERR,
               "%s:%u: [%s] workers would run as root: set user, or start "
               "fcgikitd with -R",
               pc->file, pc->line, pc->name);
        rc = -1;
      }
    } else {
      if (pc->chroot) {
        logmsg(LOG_ERR, "%s:%u: [%s] chroot: needs fcgikitd to run as root",
               pc->file, pc->line, pc->name);
        rc = -1;
      }
      if (pc->has_user || pc->has_group || pc->ngroups >= 0 ||
          pc->listen_owner || pc->listen_group)
        logmsg(LOG_NOTICE,
               "[%s] user, group, groups, listen.owner and listen.group are "
               "ignored: fcgikitd is not running as root",
               pc->name);
    }
    rc |= check_limit(pc, "rlimit_files", RLIMIT_NOFILE, pc->rlimit_files);
    rc |= check_limit(pc, "rlimit_core", RLIMIT_CORE, pc->rlimit_core);
    rc |= check_limit(pc, "rlimit_as", RLIMIT_AS, pc->rlimit_as);
  }
  return rc;
}

/* --- Starting and ending pools ------------------------------------------- */

static unsigned initial_workers(const pool_config *pc) {
  switch (pc->pm) {
  case PM_STATIC: return pc->max_children;
  case PM_DYNAMIC: return pc->start_servers;
  default: return 0;
  }
}

static void attach_config(pool *p, pool_config *pc) {
  p->pc = pc;
  p->stop_signal = pc->stop_signal;
  snprintf(p->name, sizeof p->name, "%s", pc->name);
}

static pool *pool_new(manager *m, pool_config *pc) {
  pool *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  attach_config(p, pc);
  p->sock.fd = -1;
  p->start_ns = m->now_ns;
  p->start_time = time(NULL);
  return p;
}

static void pool_free(pool *p) {
  sock_close(&p->sock);
  free(p->sock.address);
  free(p->sock.path);
  while (p->workers) {
    worker *w = p->workers;
    p->workers = w->next;
    worker_free(w);
  }
  free(p);
}

static void spawn_initial(manager *m, pool *p) {
  for (unsigned i = initial_workers(p->pc); i > 0; i--)
    if (spawn_worker(m, p) < 0)
      break;
}

/* Opens the sockets of c's pools into a new list (*out); a pool of *old on
 * the same address goes on in it with its socket, taken out of *old.
 * Returns 0, or -1 with nothing opened and *old as it was when a socket
 * cannot be made. */
static int open_pools(manager *m, config *c, pool **old, pool **out) {
  pool *list = NULL, **tail = &list;
  for (size_t i = 0; i < c->npools; i++) {
    pool_config *pc = &c->pools[i];
    pool *p = NULL;
    for (pool **q = old; *q; q = &(*q)->next) {
      if ((*q)->pc && (*q)->sock.fd >= 0 &&
          strcmp((*q)->sock.address, pc->listen) == 0) {
        p = *q;
        *q = p->next;
        break;
      }
    }
    if (p) { /* the same socket: the pool goes on, once all is open */
      p->pending = pc;
    } else {
      char err[512];
      if ((p = pool_new(m, pc)) == NULL ||
          sock_open(pc, m->as_root, &p->sock, err, sizeof err) < 0) {
        logmsg(LOG_ERR, "%s", p ? err : "out of memory");
        if (p)
          pool_free(p);
        goto fail;
      }
    }
    p->next = NULL;
    *tail = p;
    tail = &p->next;
  }
  /* Everything is open: the pools that go on take their new
   * configuration and generation. */
  for (pool *p = list; p; p = p->next) {
    if (p->pending) {
      attach_config(p, p->pending);
      p->pending = NULL;
      p->generation++;
    }
  }
  *out = list;
  return 0;
fail:
  /* Give back, as they were, the pools taken from old; close the new. */
  while (list) {
    pool *p = list;
    list = p->next;
    if (p->pending) {
      p->pending = NULL;
      p->next = *old;
      *old = p;
    } else {
      pool_free(p);
    }
  }
  return -1;
}

int pools_start(manager *m) {
  pool *none = NULL;
  if (open_pools(m, &m->cfg, &none, &m->pools) < 0)
    return -1;
  for (pool *p = m->pools; p; p = p->next) {
    logmsg(LOG_NOTICE, "[pool %s] listening on %s (%s, %u max)", p->name,
           p->sock.address,
           p->pc->pm == PM_STATIC    ? "static"
           : p->pc->pm == PM_DYNAMIC ? "dynamic"
                                     : "ondemand",
           p->pc->max_children);
    spawn_initial(m, p);
  }
  return 0;
}

void pools_reload(manager *m) {
  config next;
  char err[8192];
  if (config_load(m->config_path, &next, err, sizeof err) < 0) {
    logmsg(LOG_ERR, "reload refused, the running configuration stays:\n%s",
           err);
    return;
  }
  if (pools_check(m, &next) < 0) {
    logmsg(LOG_ERR, "reload refused, the running configuration stays");
    config_free(&next);
    return;
  }
  /* Pools that reuse a socket are taken out of m->pools; what remains
   * there has left the configuration. */
  pool *fresh;
  if (open_pools(m, &next, &m->pools, &fresh) < 0) {
    logmsg(LOG_ERR, "reload refused, the running configuration stays");
    config_free(&next);
    return;
  }
  /* New workers first, then the old ones stop: the socket never closes, so
   * connections that arrive meanwhile wait in its queue. */
  pool **tail = &fresh;
  for (pool *p = fresh; p; p = p->next) {
    spawn_initial(m, p);
    p->quick_deaths = 0;
    p->next_spawn_ns = 0;
    for (worker *w = p->workers; w; w = w->next)
      if (w->generation != p->generation)
        stop_worker(m, w, "reload");
    tail = &p->next;
  }
  /* What is left of the old list has left the configuration. Such a pool
   * stays on the list until its last worker is gone. */
  while (m->pools) {
    pool *p = m->pools;
    m->pools = p->next;
    logmsg(LOG_NOTICE, "[pool %s] removed", p->name);
    p->pc = NULL;
    p->next = NULL;
    if (p->workers == NULL) {
      pool_free(p);
      continue;
    }
    for (worker *w = p->workers; w; w = w->next)
      stop_worker(m, w, "pool removed");
    *tail = p;
    tail = &p->next;
  }
  m->pools = fresh;
  config_free(&m->cfg);
  m->cfg = next;
  logmsg(LOG_NOTICE, "configuration reloaded from %s", m->cfg.file);
}

void pools_stop(manager *m) {
  for (pool *p = m->pools; p; p = p->next)
    for (worker *w = p->workers; w; w = w->next)
      stop_worker(m, w, "fcgikitd stopping");
}

int pools_alive(const manager *m) {
  int n = 0;
  for (const pool *p = m->pools; p; p = p->next)
    for (const worker *w = p->workers; w; w = w->next)
      n++;
  return n;
}

void pools_free(manager *m) {
  while (m->pools) {
    pool *p = m->pools;
    m->pools = p->next;
    pool_free(p);
  }
}

/* --- Deaths -------------------------------------------------------------- */

static void describe_exit(int status, char *buf, size_t cap) {
  if (WIFEXITED(status))
    snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, cap, "killed by signal %d (%s)%s", WTERMSIG(status),
             strsignal(WTERMSIG(status)),
             WCOREDUMP(status) ? ", core dumped" : "");
  else
    snprintf(buf, cap, "ended (status %#x)", status);
}

/* Reads what is left in w's pipes: a worker's last words come before the
 * news of its death. */
static void drain_output(worker *w) {
  char buf[4096];
  for (int i = 0; i < 2; i++) {
    if (w->out_fd[i] < 0)
      continue;
    ssize_t n;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s %s", w->prefix,
             i ? "stderr" : "stdout");
    while ((n = read(w->out_fd[i], buf, sizeof buf)) > 0)
      linebuf_feed(w->lines[i], prefix, buf, (size_t)n);
    linebuf_flush(w->lines[i], prefix);
  }
}

void pools_reaped(manager *m, pid_t pid, int status) {
  for (pool **pp = &m->pools; *pp; pp = &(*pp)->next) {
    pool *p = *pp;
    for (worker **ww = &p->workers; *ww; ww = &(*ww)->next) {
      worker *w = *ww;
      if (w->pid != pid)
        continue;
      *ww = w->next;
      drain_output(w);
      if (worker_reports(w))
        p->served_gone += atomic_load(&w->sb->served);
      char how[128];
      describe_exit(status, how, sizeof how);
      int64_t lived = m->now_ns - w->start_ns;
      if (w->stopping) {
        logmsg(LOG_INFO, "%s %s (%s)", w->prefix, how, w->stop_reason);
      } else if (p->pc && !m->stopping && WIFEXITED(status) &&
                 WEXITSTATUS(status) == 0) {
        /* A program that ends itself cleanly is recycling (php-cgi after
         * PHP_FCGI_MAX_REQUESTS), however soon: replaced at once, within
         * the pool's spawn rate. */
        p->recycled++;
        logmsg(LOG_INFO, "%s %s; replacing it", w->prefix, how);
      } else if (p->pc && !m->stopping) {
        p->restarts++;
        if (lived < QUICK_DEATH_NS) {
          p->quick_deaths++;
          unsigned shift = p->quick_deaths - 1 < 20 ? p->quick_deaths - 1 : 20;
          int64_t delay = BACKOFF_FIRST_NS << shift;
          if (delay > BACKOFF_MAX_NS)
            delay = BACKOFF_MAX_NS;
          p->next_spawn_ns = m->now_ns + delay;
          logmsg(LOG_WARNING,
                 "%s %s %.1f s after it started; the next start waits %.1f s",
                 w->prefix, how, (double)lived / 1e9, (double)delay / 1e9);
        } else {
          p->quick_deaths = 0;
          logmsg(LOG_WARNING, "%s %s; replacing it", w->prefix, how);
        }
      } else {
        logmsg(LOG_INFO, "%s %s", w->prefix, how);
      }
      worker_free(w);
      if (p->pc == NULL && p->workers == NULL) { /* a removed pool's last */
        *pp = p->next;
        pool_free(p);
      }
      return;
    }
  }
}

/* --- Supervision --------------------------------------------------------- */

/* A request past request_terminate_timeout: the worker is killed, as the
 * only way to end a request stuck in application code. */
static int check_timeouts(manager *m, pool *p, worker *w) {
  unsigned limit = p->pc->request_timeout_ms;
  if (limit == 0)
    return 0;
  fk_sb_entry reqs[FK_SB_ENTRIES];
  unsigned n = worker_requests(w, reqs);
  for (unsigned i = 0; i < n; i++) {
    int64_t ran = m->now_ns - reqs[i].start_ns;
    if (ran <= (int64_t)limit * MS)
      continue;
    logmsg(LOG_WARNING,
           "%s: request \"%s %s\" running for %.1f s "
           "(request_terminate_timeout): killed",
           w->prefix, reqs[i].method, reqs[i].uri, (double)ran / 1e9);
    p->timeouts++;
    stop_worker(m, w, "request_terminate_timeout");
    kill(w->pid, SIGKILL);
    return 1;
  }
  return 0;
}

static void check_worker(manager *m, pool *p, worker *w) {
  if (w->stopping) {
    if (m->now_ns >= w->kill_ns && w->kill_ns) {
      logmsg(LOG_WARNING,
             "%s: still running %.1f s after it was asked to stop; "
             "killed",
             w->prefix, (double)m->cfg.stop_timeout_ms / 1000);
      kill(w->pid, SIGKILL);
      w->kill_ns = 0;
    }
    return;
  }
  if (!worker_reports(w)) {
    update_cpu(m, w);
    return;
  }
  if (p->pc == NULL || check_timeouts(m, p, w))
    return;
  unsigned long max = p->pc->max_requests;
  if (max && atomic_load(&w->sb->served) >= max) {
    p->recycled++;
    stop_worker(m, w, "pm.max_requests");
  }
}

/* Whatever the reason, a pool starts at most this many workers a second:
 * a program that exits cleanly at once must not fork-bomb the host
 * either. */
static unsigned spawn_rate(const pool *p) {
  return 4 * p->pc->max_children + 8;
}

static int may_spawn(manager *m, pool *p) {
  if (m->stopping || p->pc == NULL || m->now_ns < p->next_spawn_ns)
    return 0;
  if (m->now_ns - p->window_ns >= 1000 * MS) {
    p->window_ns = m->now_ns;
    p->window_spawns = 0;
  }
  if (p->window_spawns >= spawn_rate(p)) {
    if (!p->rate_logged)
      logmsg(LOG_WARNING,
             "[pool %s] %u workers started within a second: "
             "waiting",
             p->name, p->window_spawns);
    p->rate_logged = 1;
    return 0;
  }
  p->rate_logged = 0;
  return 1;
}

/* After deaths at start, one worker per backoff step, not all at once. */
static int spawn_one(manager *m, pool *p) {
  p->window_spawns++;
  if (spawn_worker(m, p) < 0)
    return -1;
  if (p->quick_deaths > 0)
    p->next_spawn_ns = m->now_ns + BACKOFF_FIRST_NS;
  return 0;
}

static void shrink_one(manager *m, pool *p, int64_t min_idle_ns,
                       const char *why) {
  worker *best = NULL;
  int64_t best_idle = -1;
  for (worker *w = p->workers; w; w = w->next) {
    int64_t idle = is_current(p, w) && !worker_busy(m, w) ? idle_for(m, w) : -1;
    if (idle >= min_idle_ns && idle > best_idle) {
      best = w;
      best_idle = idle;
    }
  }
  if (best)
    stop_worker(m, best, why);
}

static void keep_size(manager *m, pool *p) {
  const pool_config *pc = p->pc;
  unsigned idle, live = count_live(p, &idle, m), queued = 0, backlog = 0;
  if (sock_queue(&p->sock, &queued, &backlog) == 0 && queued > p->max_queue)
    p->max_queue = queued;
  p->queued = queued;
  if (p->quick_deaths > 0) { /* healthy again once one lived long enough */
    for (worker *w = p->workers; w; w = w->next)
      if (is_current(p, w) && m->now_ns - w->start_ns >= QUICK_DEATH_NS)
        p->quick_deaths = 0;
  }
  switch (pc->pm) {
  case PM_STATIC:
    while (live < pc->max_children && may_spawn(m, p) && spawn_one(m, p) == 0)
      live++;
    break;
  case PM_DYNAMIC:
    while (live < pc->max_children && may_spawn(m, p) &&
           (idle < pc->min_spare || (queued > 0 && idle == 0)) &&
           spawn_one(m, p) == 0) {
      live++;
      idle++;
    }
    if (idle > pc->max_spare &&
        m->now_ns - p->last_shrink_ns >= SHRINK_EVERY_NS) {
      p->last_shrink_ns = m->now_ns;
      shrink_one(m, p, 0, "more idle workers than pm.max_spare_servers");
    }
    break;
  case PM_ONDEMAND:
    /* accept_ready: poll saw a connection waiting while none ran, for
     * kernels that do not tell the queue's length. */
    if (live < pc->max_children &&
        (queued > 0 || (p->accept_ready && live == 0)) && may_spawn(m, p))
      spawn_one(m, p);
    p->accept_ready = 0;
    shrink_one(m, p, (int64_t)pc->idle_timeout_ms * MS,
               "idle for pm.process_idle_timeout");
    break;
  }
}

void supervise(manager *m) {
  for (pool *p = m->pools; p; p = p->next) {
    for (worker *w = p->workers; w; w = w->next)
      check_worker(m, p, w);
    if (p->pc)
      keep_size(m, p);
  }
}
