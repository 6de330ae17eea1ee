/*
 * The status socket: per pool and per worker, what fcgikitd knows, as
 * plain text or JSON. fcgikitd answers it itself, on its own loop, so it
 * answers when every worker is busy.
 *
 * Protocol: connect, send "text" or "json" and a newline (nothing, or
 * anything else, means text), read until the connection closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager.h"
#include "unix/unix.h"

/* A growing output buffer; on allocation failure it stops growing and the
 * answer is cut short (the client sees invalid JSON, not a crash). */
typedef struct out {
  char *p;
  size_t len, cap;
  int failed;
} out;

static void put(out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n < 0 || o->failed)
      return;
    if (o->p && o->len + (size_t)n < o->cap) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = (o->cap ? o->cap * 2 : 16384) + (size_t)n;
    char *np = realloc(o->p, cap);
    if (np == NULL) {
      o->failed = 1;
      return;
    }
    o->p = np;
    o->cap = cap;
  }
}

/* A JSON string: quotes, backslashes and control bytes escaped; other
 * bytes as they are (URIs arrive percent-encoded). */
static void put_json_str(out *o, const char *s) {
  put(o, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      put(o, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      put(o, "\\u%04x", c);
    else
      put(o, "%c", c);
  }
  put(o, "\"");
}

static void put_time(out *o, time_t t) {
  char buf[32];
  struct tm tm;
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&t, &tm));
  put(o, "%s", buf);
}

static const char *pm_name(const pool *p) {
  if (p->pc == NULL)
    return "removed";
  return p->pc->pm == PM_STATIC    ? "static"
         : p->pc->pm == PM_DYNAMIC ? "dynamic"
                                   : "ondemand";
}

typedef struct totals {
  unsigned workers, idle, busy;
  uint64_t served;
  int reports; /* at least one worker reports: served means something */
} totals;

static totals pool_totals(const manager *m, const pool *p) {
  totals t = {0, 0, 0, p->served_gone, p->served_gone > 0};
  for (const worker *w = p->workers; w; w = w->next) {
    t.workers++;
    const char *st = worker_state(m, w);
    if (strcmp(st, "idle") == 0)
      t.idle++;
    else if (strcmp(st, "busy") == 0)
      t.busy++;
    if (worker_reports(w)) {
      t.reports = 1;
      t.served += atomic_load(&w->sb->served);
    }
  }
  return t;
}

static void render_text(const manager *m, out *o) {
  put(o, "fcgikitd pid %d, configuration %s\n", (int)getpid(), m->cfg.file);
  for (const pool *p = m->pools; p; p = p->next) {
    totals t = pool_totals(m, p);
    put(o, "\npool:                 %s\n", p->name);
    put(o, "listen:               %s\n", p->sock.address);
    put(o, "process manager:      %s\n", pm_name(p));
    put(o, "start time:           ");
    put_time(o, p->start_time);
    put(o, "\nrequests:             ");
    if (t.reports)
      put(o, "%" PRIu64 "\n", t.served);
    else
      put(o, "-\n");
    put(o, "listen queue:         %u\n", p->queued);
    put(o, "max listen queue:     %u\n", p->max_queue);
    put(o, "workers:              %u (idle %u, busy %u)\n", t.workers, t.idle,
        t.busy);
    put(o, "max children:         %u\n", p->pc ? p->pc->max_children : 0);
    put(o, "spawned:              %" PRIu64 "\n", p->spawned);
    put(o, "restarts:             %" PRIu64 "\n", p->restarts);
    put(o, "recycled:             %" PRIu64 "\n", p->recycled);
    put(o, "request timeouts:     %" PRIu64 "\n", p->timeouts);
    put(o, "\n%-8s %-9s %-25s %10s %6s  %s\n", "pid", "state", "started",
        "requests", "conns", "current requests");
    for (const worker *w = p->workers; w; w = w->next) {
      put(o, "%-8d %-9s ", (int)w->pid, worker_state(m, w));
      put_time(o, w->start_time);
      if (!worker_reports(w)) {
        put(o, " %10s %6s\n", "-", "-");
        continue;
      }
      put(o, " %10llu %6u ", (unsigned long long)atomic_load(&w->sb->served),
          atomic_load(&w->sb->conns));
      fk_sb_entry reqs[FK_SB_ENTRIES];
      unsigned n = worker_requests(w, reqs);
      for (unsigned i = 0; i < n; i++)
        put(o, "%s %s %s %.3fs", i ? "," : "", reqs[i].method, reqs[i].uri,
            (double)(m->now_ns - reqs[i].start_ns) / 1e9);
      put(o, "\n");
    }
  }
}

static void render_json(const manager *m, out *o) {
  put(o, "{\"pid\":%d,\"config\":", (int)getpid());
  put_json_str(o, m->cfg.file);
  put(o, ",\"pools\":[");
  for (const pool *p = m->pools; p; p = p->next) {
    totals t = pool_totals(m, p);
    put(o, "%s{\"name\":", p == m->pools ? "" : ",");
    put_json_str(o, p->name);
    put(o, ",\"listen\":");
    put_json_str(o, p->sock.address);
    put(o, ",\"pm\":\"%s\",\"start_time\":\"", pm_name(p));
    put_time(o, p->start_time);
    put(o, "\",\"requests\":");
    if (t.reports)
      put(o, "%" PRIu64, t.served);
    else
      put(o, "null");
    put(o,
        ",\"listen_queue\":%u,\"max_listen_queue\":%u,\"workers\":%u,"
        "\"idle\":%u,\"busy\":%u,\"max_children\":%u,\"spawned\":%" PRIu64
        ",\"restarts\":%" PRIu64 ",\"recycled\":%" PRIu64
        ",\"request_timeouts\":%" PRIu64 ",\"processes\":[",
        p->queued, p->max_queue, t.workers, t.idle, t.busy,
        p->pc ? p->pc->max_children : 0, p->spawned, p->restarts, p->recycled,
        p->timeouts);
    for (const worker *w = p->workers; w; w = w->next) {
      put(o, "%s{\"pid\":%d,\"state\":\"%s\",\"start_time\":\"",
          w == p->workers ? "" : ",", (int)w->pid, worker_state(m, w));
      put_time(o, w->start_time);
      put(o, "\",\"reports\":%s", worker_reports(w) ? "true" : "false");
      if (!worker_reports(w)) {
        put(o, ",\"requests\":null,\"connections\":null,\"current\":[]}");
        continue;
      }
      put(o, ",\"requests\":%llu,\"connections\":%u,\"current\":[",
          (unsigned long long)atomic_load(&w->sb->served),
          atomic_load(&w->sb->conns));
      fk_sb_entry reqs[FK_SB_ENTRIES];
      unsigned n = worker_requests(w, reqs);
      for (unsigned i = 0; i < n; i++) {
        put(o, "%s{\"method\":", i ? "," : "");
        put_json_str(o, reqs[i].method);
        put(o, ",\"uri\":");
        put_json_str(o, reqs[i].uri);
        put(o, ",\"duration_ms\":%lld}",
            (long long)((m->now_ns - reqs[i].start_ns) / 1000000));
      }
      put(o, "]}");
    }
    put(o, "]}");
  }
  put(o, "]}\n");
}

int status_open(manager *m, const char *path) {
  int fd;
  if (fk__listen_unix(path, 0660, 16, &fd) != 0) {
    logmsg(LOG_ERR, "status.listen %s: %s", path, strerror(errno));
    return -1;
  }
  m->status_fd = fd;
  m->status_path = strdup(path);
  return 0;
}

void status_close(manager *m) {
  if (m->status_fd < 0)
    return;
  close(m->status_fd);
  m->status_fd = -1;
  if (m->status_path)
    unlink(m->status_path);
  free(m->status_path);
  m->status_path = NULL;
}

/* One client at a time, briefly: the request is a word, the answer fits
 * the socket's buffer. A client that sends nothing within 200 ms gets the
 * text form; one that does not read gets what fitted. */
void status_serve(manager *m) {
  int fd = accept4(m->status_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return;
  char req[64] = "";
  struct pollfd pfd = {fd, POLLIN, 0};
  if (poll(&pfd, 1, 200) == 1) {
    ssize_t n = recv(fd, req, sizeof req - 1, MSG_DONTWAIT);
    req[n > 0 ? n : 0] = '\0';
  }
  out o = {0};
  m->now_ns = mono_ns();
  if (strncmp(req, "json", 4) == 0)
    render_json(m, &o);
  else
    render_text(m, &o);
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  size_t off = 0;
  while (o.p && off < o.len) {
    ssize_t n = send(fd, o.p + off, o.len - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  free(o.p);
  close(fd);
}
