/*
 * Request bodies: memory up to body_memory, an unlinked temporary file past
 * it, so that a 1 GB upload costs disk rather than memory. Or, with
 * stream_body, a bounded ring the handler reads while the body arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "app/internal.h"

/* Spilled bytes are written in pieces this big. */
#define STAGE_SIZE (256u << 10)
/* A streamed body's ring starts this big at most, then goes straight to
 * its bound: body_memory plus what one read of the socket may add. */
#define RING_FIRST (64u << 10)

void fk__body_init(fk__body *b) {
  memset(b, 0, sizeof *b);
  b->fd = -1;
}

const char *fk__spill_dir(const fk_server *s) {
  const char *dir = s->cfg.tmpdir;
  if (dir == NULL)
    dir = getenv("TMPDIR");
  return dir == NULL || *dir == '\0' ? "/tmp" : dir;
}

/* A file system without O_TMPFILE: create, then unlink at once. Apart,
 * so that its path buffer is on the stack only when it is needed (the
 * check at start-up would otherwise touch a page of every process's
 * stack for nothing). */
static __attribute__((noinline)) int spill_open_named(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/fcgikit-body-XXXXXX", dir) >=
      (int)sizeof path)
    return -1;
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0)
    unlink(path);
  return fd;
}

static int spill_open(const fk_server *s) {
  const char *dir = fk__spill_dir(s);
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
    return fd;
  return spill_open_named(dir);
}

int fk__spill_check(const fk_server *s) {
  int fd = spill_open(s);
  if (fd < 0)
    return FK_E_IO;
  close(fd);
  return FK_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return FK_E_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return FK_OK;
}

/* The stage is taken from the allocator only once a body spills; without
 * it the bytes go to the file as they come. */
static int spill(fk__body *b, const fk_server *s, const uint8_t *p, size_t n) {
  if (b->stage == NULL && n < STAGE_SIZE)
    b->stage = fk__alloc(s->cfg.allocator, STAGE_SIZE);
  if (b->stage == NULL)
    return write_all(b->fd, p, n);
  while (n > 0) {
    if (b->staged == 0 && n >= STAGE_SIZE)
      return write_all(b->fd, p, n);
    size_t take = STAGE_SIZE - b->staged;
    if (take > n)
      take = n;
    memcpy(b->stage + b->staged, p, take);
    b->staged += take;
    p += take;
    n -= take;
    if (b->staged == STAGE_SIZE) {
      b->staged = 0;
      int rc = write_all(b->fd, b->stage, STAGE_SIZE);
      if (rc != FK_OK)
        return rc;
    }
  }
  return FK_OK;
}

int fk__body_append(fk__body *b, const fk_server *s, const uint8_t *p,
                    size_t n) {
  uint64_t max = s->cfg.max_body;
  if (max != 0 && (b->length > max || n > max - b->length))
    return FK_E_BODY_TOO_LARGE;
  size_t room =
      b->mem.len < s->cfg.body_memory ? s->cfg.body_memory - b->mem.len : 0;
  if (b->fd < 0 && room > 0) {
    size_t take = n < room ? n : room;
    int rc = fk__buf_append(&b->mem, s->cfg.allocator, p, take);
    if (rc != FK_OK)
      return rc;
    b->length += take;
    p += take;
    n -= take;
  }
  if (n == 0)
    return FK_OK;
  if (b->fd < 0 && (b->fd = spill_open(s)) < 0)
    return FK_E_IO;
  int rc = spill(b, s, p, n);
  if (rc == FK_OK)
    b->length += n;
  return rc;
}

int fk__body_finish(fk__body *b, const fk_server *s) {
  int rc = FK_OK;
  if (b->staged > 0)
    rc = write_all(b->fd, b->stage, b->staged);
  b->staged = 0;
  fk__free(s->cfg.allocator, b->stage);
  b->stage = NULL;
  return rc;
}

long fk__body_read(fk__body *b, const fk_server *s, void *buf, size_t len) {
  if (len > (size_t)LONG_MAX)
    len = (size_t)LONG_MAX;
  size_t in_mem = b->mem.len;
  if (b->rpos < in_mem) {
    size_t n = in_mem - (size_t)b->rpos;
    if (n > len)
      n = len;
    memcpy(buf, b->mem.data + b->rpos, n);
    b->rpos += n;
    return (long)n;
  }
  if (b->fd < 0 || b->rpos >= b->length)
    return 0;
  /* The file must hold every byte before any is read back. */
  if (b->stage != NULL && fk__body_finish(b, s) != FK_OK)
    return FK_E_IO;
  for (;;) {
    ssize_t r = pread(b->fd, buf, len, (off_t)(b->rpos - in_mem));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return FK_E_IO;
    b->rpos += (uint64_t)r;
    return (long)r;
  }
}

/* --- Streamed bodies ----------------------------------------------------- */

/* Makes room for n more unread bytes. The ring grows twice at most (a
 * small first size, then its bound), so a short body costs little and a
 * long one is never held twice over while it moves. */
static int ring_reserve(fk__body *b, const fk_server *s, size_t n) {
  if (b->ring_cap - b->ring_len >= n)
    return FK_OK;
  size_t bound = s->cfg.body_memory + FK__READ_BUFFER;
  size_t cap = b->ring_cap == 0 ? RING_FIRST : bound;
  if (cap < b->ring_len + n)
    cap = b->ring_len + n;
  uint8_t *d = fk__alloc(s->cfg.allocator, cap);
  if (d == NULL)
    return FK_E_NOMEM;
  size_t first = b->ring_cap - b->ring_head;
  if (first > b->ring_len)
    first = b->ring_len;
  if (b->ring_len > 0) {
    memcpy(d, b->ring + b->ring_head, first);
    memcpy(d + first, b->ring, b->ring_len - first);
  }
  fk__free(s->cfg.allocator, b->ring);
  b->ring = d;
  b->ring_cap = cap;
  b->ring_head = 0;
  return FK_OK;
}

static int ring_put(fk__body *b, const fk_server *s, const uint8_t *p,
                    size_t n) {
  int rc = ring_reserve(b, s, n);
  if (rc != FK_OK)
    return rc;
  size_t tail = (b->ring_head + b->ring_len) % b->ring_cap;
  size_t first = b->ring_cap - tail;
  if (first > n)
    first = n;
  memcpy(b->ring + tail, p, first);
  memcpy(b->ring, p + first, n - first);
  b->ring_len += n;
  return FK_OK;
}

static size_t ring_take(fk__body *b, uint8_t *buf, size_t len) {
  size_t n = len < b->ring_len ? len : b->ring_len;
  size_t first = b->ring_cap - b->ring_head;
  if (first > n)
    first = n;
  memcpy(buf, b->ring + b->ring_head, first);
  memcpy(buf + first, b->ring, n - first);
  b->ring_head = (b->ring_head + n) % b->ring_cap;
  b->ring_len -= n;
  if (b->ring_len == 0)
    b->ring_head = 0;
  return n;
}

/* With c->lock held: the request stops or starts holding its connection
 * back. Paused past body_memory, resumed at half of it, so that reading
 * is not switched on and off for every piece the handler takes. */
static void set_over(fk__conn *c, fk__body *b, int over) {
  if (b->over == over)
    return;
  b->over = over;
  if (over)
    c->input_full++;
  else
    c->input_full--;
  if (c->input_full == (over ? 1u : 0u))
    fk__conn_update_events(c);
}

void fk__stream_push(fk_request *r, fk__body *b, const uint8_t *p, size_t n,
                     int end) {
  fk__conn *c = r->conn;
  const fk_server *s = c->worker->server;
  pthread_mutex_lock(&c->lock);
  if (b->closed || b->ended) {
    pthread_mutex_unlock(&c->lock);
    return;
  }
  int rc = FK_OK;
  uint64_t max = s->cfg.max_body;
  if (end)
    b->ended = 1;
  else if (max != 0 && (b->length > max || n > max - b->length))
    rc = FK_E_BODY_TOO_LARGE;
  else if ((rc = ring_put(b, s, p, n)) == FK_OK)
    b->length += n;
  if (rc != FK_OK) {
    fk__log(s, FK_LOG_WARNING, "request %u: %s", r->id, fk_strerror(rc));
    b->ended = 1;
    b->err = rc;
    /* A Filter's DATA would come after this STDIN: it will not. */
    if (b == &r->in && !r->data.ended) {
      r->data.ended = 1;
      r->data.err = rc;
    }
  }
  if (b->ring_len > s->cfg.body_memory)
    set_over(c, b, 1);
  /* The reader is woken once, when the worker has read what it can. */
  c->input_arrived = 1;
  pthread_mutex_unlock(&c->lock);
}

/* --- A streamed body read from the socket by its handler ----------------- */

/* What direct_read returns when the socket went back to the worker: look
 * at the body again (it may have ended or failed) and wait as usual. */
#define GIVEN_BACK (-1000L)

/* With c->lock held: the worker reads the socket again. */
static void give_back(fk__conn *c) {
  c->reader = NULL;
  fk__conn_update_events(c);
}

/* A body that ended or failed while its handler read the socket: what
 * the worker does in on_stream_input for the bytes it parses. */
static void direct_end(fk_request *r, fk__body *b, int err) {
  b->ended = 1;
  b->err = err;
  if (err != FK_OK && b == &r->in && !r->data.ended) {
    r->data.ended = 1; /* a Filter's DATA would come after this STDIN */
    r->data.err = err;
  }
  r->in_state = b == &r->in && r->role == FK_FILTER && err == FK_OK
                    ? FK__REQ_DATA
                    : FK__REQ_DONE;
}

static int timed_out(const fk_request *r) {
  const fk_server *s = r->conn->worker->server;
  fk__log(s, FK_LOG_WARNING, "request %u: web server sent no body for %u ms",
          r->id, s->cfg.io_timeout_ms);
  return FK_E_TIMEOUT;
}

/* Waits until the socket has bytes, at most until the deadline. */
static int wait_readable(fk_request *r, const struct timespec *deadline) {
  const fk_server *s = r->conn->worker->server;
  struct pollfd pfd = {.fd = r->conn->fd, .events = POLLIN};
  for (;;) {
    int ms = s->cfg.io_timeout_ms == 0 ? -1 : fk__ms_until(deadline);
    if (ms == 0)
      return timed_out(r);
    int n = poll(&pfd, 1, ms);
    if (n > 0 || (n < 0 && errno != EINTR))
      return FK_OK; /* what is wrong, reading will tell */
  }
}

/* Bytes read past a record's content: the rest of its padding goes to the
 * parser, the next header to c->carry until it is whole. */
static void take_tail(fk__conn *c, const uint8_t *t, size_t n) {
  size_t pad = fk_parser_until_header(&c->parser);
  pad = pad > FK_HEADER_LEN ? pad - FK_HEADER_LEN : 0;
  if (pad > n)
    pad = n;
  if (pad > 0) {
    fk_event ev; /* padding completes no event */
    fk_parser_feed(&c->parser, t, pad, &ev);
  }
  memcpy(c->carry + c->carry_len, t + pad, n - pad);
  c->carry_len += (unsigned)(n - pad);
}

/* A whole header in c->carry: the next record of this body goes to the
 * parser and reading goes on (or the body ends, with an empty one);
 * anything else stays in carry and the socket goes back to the worker.
 * With c->lock held. Returns nonzero when reading goes on. */
static int own_header(fk_request *r, fk__body *b) {
  fk__conn *c = r->conn;
  fk_header h;
  unsigned type = b == &r->in ? FK_STDIN : FK_DATA;
  if (fk_header_decode(&h, c->carry) != FK_OK || h.type != type ||
      h.request_id != r->id) {
    give_back(c);
    return 0;
  }
  fk_event ev;
  fk_parser_feed(&c->parser, c->carry, FK_HEADER_LEN, &ev);
  c->carry_len = 0;
  if (ev.type != FK_EV_STREAM_END)
    return 1;
  direct_end(r, b, FK_OK);
  give_back(c);
  return 0;
}

/* Counts n bytes read into the body. With c->lock held. */
static int direct_count(fk_request *r, fk__body *b, size_t n) {
  fk__conn *c = r->conn;
  uint64_t max = c->worker->server->cfg.max_body;
  if (max != 0 && (b->length > max || n > max - b->length)) {
    fk__log(c->worker->server, FK_LOG_WARNING, "request %u: %s", r->id,
            fk_strerror(FK_E_BODY_TOO_LARGE));
    direct_end(r, b, FK_E_BODY_TOO_LARGE);
    give_back(c);
    return FK_E_BODY_TOO_LARGE;
  }
  b->length += n;
  return FK_OK;
}

/* Reads the body straight from the socket: a record's content into buf
 * with readv(2), and when buf takes the rest of the record, its padding
 * and the next header in the same call. Only the reader calls this, without
 * c->lock: the socket and the parser are its own until it gives them back.
 * Returns the bytes read, FK_E_TIMEOUT, or GIVEN_BACK. */
static long direct_read(fk_request *r, fk__body *b, uint8_t *buf, size_t len,
                        const struct timespec *deadline) {
  fk__conn *c = r->conn;
  fk_parser *p = &c->parser;
  uint8_t tail[FK_MAX_PADDING + FK_HEADER_LEN];
  for (;;) {
    fk_header h;
    size_t left = fk_parser_content_left(p, &h);
    size_t want = left < len ? left : len;
    struct iovec iov[2] = {{buf, want}, {tail, 0}};
    if (left == 0) /* between records: padding, then a header */
      iov[0] = (struct iovec){tail, fk_parser_until_header(p) - c->carry_len};
    else if (want == left)
      iov[1].iov_len = h.padding_length + FK_HEADER_LEN;
    ssize_t n = atomic_load(&c->dead) || atomic_load(&r->aborted)
                    ? 0
                    : readv(c->fd, iov, iov[1].iov_len > 0 ? 2 : 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int rc = wait_readable(r, deadline);
      if (rc != FK_OK)
        return rc;
      continue;
    }
    pthread_mutex_lock(&c->lock);
    if (n <= 0) {
      /* The end of the connection, or an error: the worker, reading
       * again, finds it and cleans up. */
      give_back(c);
      pthread_mutex_unlock(&c->lock);
      return GIVEN_BACK;
    }
    size_t got = (size_t)n, content = left == 0 ? 0 : got < want ? got : want;
    fk_parser_skip_content(p, content);
    take_tail(c, tail, got - content);
    int rc = content > 0 ? direct_count(r, b, content) : FK_OK;
    if (rc == FK_OK && c->carry_len == FK_HEADER_LEN)
      own_header(r, b);
    int still = c->reader == r;
    pthread_mutex_unlock(&c->lock);
    if (rc != FK_OK)
      return GIVEN_BACK;
    if (content > 0)
      return (long)content;
    if (!still)
      return GIVEN_BACK;
  }
}

long fk__stream_read(fk_request *r, fk__body *b, void *buf, size_t len) {
  fk__conn *c = r->conn;
  const fk_server *s = c->worker->server;
  if (len > (size_t)LONG_MAX)
    len = (size_t)LONG_MAX;
  if (len == 0)
    return 0;
  struct timespec deadline;
  fk__deadline_in(&deadline, s->cfg.io_timeout_ms);
  long n;
  pthread_mutex_lock(&c->lock);
  for (;;) {
    if (c->dead || atomic_load(&r->aborted)) {
      n = FK_E_ABORTED;
      break;
    }
    if (b->ring_len > 0) {
      n = (long)ring_take(b, buf, len);
      break;
    }
    if (b->ended) {
      n = b->err;
      break;
    }
    if (c->reader == r) {
      pthread_mutex_unlock(&c->lock);
      n = direct_read(r, b, buf, len, &deadline);
      pthread_mutex_lock(&c->lock);
      if (n != GIVEN_BACK)
        break;
      pthread_mutex_unlock(&c->lock);
      fk__worker_post_resume(c->worker, c);
      pthread_mutex_lock(&c->lock);
      continue;
    }
    b->waiting = 1;
    if (s->cfg.io_timeout_ms == 0) {
      pthread_cond_wait(&c->drained, &c->lock);
    } else if (pthread_cond_timedwait(&c->drained, &c->lock, &deadline) ==
               ETIMEDOUT) {
      n = timed_out(r);
      break;
    }
  }
  if (b->ring_len <= s->cfg.body_memory / 2)
    set_over(c, b, 0);
  pthread_mutex_unlock(&c->lock);
  return n;
}

int fk__stream_close(fk_request *r) {
  fk__body *bodies[2] = {&r->in, &r->data};
  for (int i = 0; i < 2; i++) {
    bodies[i]->closed = 1;
    set_over(r->conn, bodies[i], 0);
  }
  if (r->conn->reader != r)
    return 0;
  give_back(r->conn);
  return 1;
}

void fk__body_free(fk__body *b, const fk_allocator *a) {
  fk__buf_free(&b->mem, a);
  fk__free(a, b->stage);
  fk__free(a, b->ring);
  b->stage = b->ring = NULL;
  if (b->fd >= 0)
    close(b->fd);
  b->fd = -1;
}
