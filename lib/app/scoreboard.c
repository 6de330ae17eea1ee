/*
 * The worker's side of fcgikitd's scoreboard (see scoreboard.h): map the
 * page the manager handed over and keep it current. Without
 * FCGIKIT_SCOREBOARD in the environment every call here is a test of a
 * NULL pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fk__sb_attach(fk_server *s) {
  const char *v = getenv(FK_SB_ENV);
  if (v == NULL)
    return;
  char *end;
  errno = 0;
  long fd = strtol(v, &end, 10);
  unsetenv(FK_SB_ENV); /* not for the application's own children */
  struct stat st;
  if (errno != 0 || end == v || *end != '\0' || fd < 3 || fd > 65535 ||
      fstat((int)fd, &st) != 0 || (size_t)st.st_size < sizeof(fk_sb_slot)) {
    fk__log(s, FK_LOG_WARNING, "%s=%s: not a scoreboard; not reporting",
            FK_SB_ENV, v);
    return;
  }
  void *p = mmap(NULL, sizeof(fk_sb_slot), PROT_READ | PROT_WRITE, MAP_SHARED,
                 (int)fd, 0);
  close((int)fd);
  if (p == MAP_FAILED) {
    fk__log(s, FK_LOG_WARNING, "scoreboard: %s; not reporting",
            strerror(errno));
    return;
  }
  fk_sb_slot *sb = p;
  sb->version = FK_SB_VERSION;
  /* pm.max_requests, kept to the request: the manager only sees the count
   * at its next turn. */
  s->sb_max_requests = sb->max_requests;
  atomic_store(&sb->last_ns, now_ns());
  atomic_store(&sb->magic, FK_SB_MAGIC);
  s->sb = sb;
}

void fk__sb_detach(fk_server *s) {
  if (s->sb)
    munmap(s->sb, sizeof(fk_sb_slot));
  s->sb = NULL;
}

static void copy_field(char *dst, size_t cap, const char *src) {
  size_t n = src ? strnlen(src, cap - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
}

/* Params are complete: the request counts as in progress from here, which
 * is what a request timeout measures. */
void fk__sb_request_start(fk_request *r) {
  fk_sb_slot *sb = r->conn->worker->server->sb;
  if (sb == NULL || r->sb_counted)
    return;
  int64_t now = now_ns();
  r->sb_counted = 1;
  atomic_fetch_add(&sb->active, 1);
  atomic_store(&sb->last_ns, now);
  for (unsigned i = 0; i < FK_SB_ENTRIES; i++) {
    fk_sb_entry *e = &sb->entries[i];
    unsigned expect = 0;
    if (!atomic_compare_exchange_strong(&e->busy, &expect, 1))
      continue;
    atomic_fetch_add(&e->seq, 1);
    e->start_ns = now;
    const char *uri = fk_param(r, "REQUEST_URI");
    copy_field(e->method, sizeof e->method, fk_param(r, "REQUEST_METHOD"));
    copy_field(e->uri, sizeof e->uri, uri ? uri : fk_param(r, "SCRIPT_NAME"));
    atomic_fetch_add(&e->seq, 1);
    atomic_store(&e->busy, 2);
    r->sb_entry = i + 1;
    return;
  }
}

/* The request is released, answered or not. */
void fk__sb_request_end(fk_request *r) {
  fk_sb_slot *sb = r->conn->worker->server->sb;
  if (sb == NULL || !r->sb_counted)
    return;
  if (r->sb_entry) {
    fk_sb_entry *e = &sb->entries[r->sb_entry - 1];
    atomic_store(&e->busy, 1);
    atomic_fetch_add(&e->seq, 2);
    atomic_store(&e->busy, 0);
  }
  atomic_store(&sb->last_ns, now_ns());
  atomic_fetch_sub(&sb->active, 1);
}

void fk__sb_served(fk_server *s) {
  if (s->sb)
    atomic_fetch_add(&s->sb->served, 1);
}

void fk__sb_conn(fk_server *s, int delta) {
  if (s->sb == NULL)
    return;
  if (delta > 0) {
    atomic_fetch_add(&s->sb->conns, 1);
    atomic_fetch_add(&s->sb->conns_accepted, 1);
  } else {
    atomic_fetch_sub(&s->sb->conns, 1);
  }
}
