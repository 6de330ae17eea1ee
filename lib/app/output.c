/*
 * Handler output: STDOUT and STDERR records encoded in place into the
 * request's output buffer, then queued on the connection.
 *
 * A record is opened by reserving its 8 header bytes; data is copied in
 * behind them; the header and padding are written when the record closes
 * (on a change of stream, a full record, or before the buffer is handed to
 * the socket). So a short response becomes STDOUT, its end and END_REQUEST
 * back to back in one buffer, and leaves in one write.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <time.h>

#include "app/internal.h"

/* Records carry at most this much, a multiple of 8 so full records need no
 * padding. */
#define RECORD_MAX (FK_MAX_CONTENT & ~7u)
/* A handler thread hands its output to the connection in pieces this big. */
#define PUSH_CHUNK (64u << 10)
/* Writes this big, on the I/O thread, go straight from the caller's memory
 * to the socket, DIRECT_RECORDS records per system call. */
#define DIRECT_MIN (64u << 10)
#define DIRECT_RECORDS 8

static int push_threaded(fk_request *r, int final);
static int write_direct(fk_request *r, unsigned type, const uint8_t *p,
                        size_t n);
static int write_direct_threaded(fk_request *r, unsigned type, const uint8_t *p,
                                 size_t n, size_t *sent);

static const fk_allocator *alloc_of(const fk_request *r) {
  return r->conn->worker->server->cfg.allocator;
}

static int on_io_thread(const fk_request *r) { return r->out == &r->conn->out; }

/* open_off is kept relative to out->pos: fk__buf_reserve() may move the
 * pending bytes to the front of the buffer, never reorder them. */
static uint8_t *open_header(fk_request *r) {
  return r->out->data + r->out->pos + r->open_off;
}

static size_t open_content(const fk_request *r) {
  return r->out->len - r->out->pos - r->open_off - FK_HEADER_LEN;
}

void fk__out_close_record(fk_request *r) {
  if (r->open_type == 0)
    return;
  size_t clen = open_content(r);
  if (clen == 0) {
    /* An empty record would end the stream (spec 3.3): drop it. */
    r->out->len -= FK_HEADER_LEN;
  } else {
    size_t pad = fk_padding_for(clen);
    /* fk__out_stream() reserved room for the padding. */
    memset(r->out->data + r->out->len, 0, pad);
    r->out->len += pad;
    fk_header_encode(open_header(r), r->open_type, r->id, clen, pad);
  }
  r->open_type = 0;
}

static int open_record(fk_request *r, unsigned type) {
  fk__out_close_record(r);
  int rc = fk__buf_reserve(r->out, alloc_of(r), FK_HEADER_LEN + 7);
  if (rc != FK_OK)
    return rc;
  r->open_off = r->out->len - r->out->pos;
  r->out->len += FK_HEADER_LEN;
  r->open_type = type;
  return FK_OK;
}

int fk__out_stream(fk_request *r, unsigned type, const void *p, size_t n) {
  const uint8_t *src = p;
  fk_server *s = r->conn->worker->server;
  if (atomic_load(&r->aborted))
    return FK_E_ABORTED;
  if (r->state != FK__REQ_RUNNING)
    return FK_E_STATE;
  if (type == FK_STDOUT && n > 0)
    r->stdout_used = 1;
  if (n >= DIRECT_MIN && on_io_thread(r))
    return write_direct(r, type, src, n);
  if (n >= DIRECT_MIN) {
    size_t sent;
    int rc = write_direct_threaded(r, type, src, n, &sent);
    if (rc != FK_OK || sent == n)
      return rc;
  }
  while (n > 0) {
    int rc;
    if (r->open_type != type || open_content(r) == RECORD_MAX) {
      if ((rc = open_record(r, type)) != FK_OK)
        return rc;
    }
    size_t take = RECORD_MAX - open_content(r);
    if (take > n)
      take = n;
    /* + 7: room for the padding this record may need when it closes. */
    if ((rc = fk__buf_reserve(r->out, s->cfg.allocator, take + 7)) != FK_OK)
      return rc;
    memcpy(r->out->data + r->out->len, src, take);
    r->out->len += take;
    src += take;
    n -= take;
    size_t limit = on_io_thread(r) ? s->cfg.max_output : PUSH_CHUNK;
    if (fk__buf_pending(r->out) >= limit && (rc = fk__out_push(r)) != FK_OK)
      return rc;
  }
  return FK_OK;
}

static int append_end_records(fk_request *r) {
  uint8_t tail[FK_STREAM_END_SIZE * 2 + FK_END_REQUEST_SIZE];
  size_t n = fk_encode_stream_end(tail, FK_STDOUT, r->id);
  if (r->stderr_used)
    n += fk_encode_stream_end(tail + n, FK_STDERR, r->id);
  n += fk_encode_end_request(tail + n, r->id, (uint32_t)r->exit_status,
                             FK_REQUEST_COMPLETE);
  return fk__buf_append(r->out, alloc_of(r), tail, n);
}

/* Spec 6.1 rule 3: every stream the role uses ends with an empty record,
 * even when nothing was written; STDERR only when it was used. Then
 * END_REQUEST, after which nothing more is sent for this id. */
int fk__out_finish(fk_request *r) {
  fk__out_close_record(r);
  int rc = append_end_records(r);
  /* From a handler thread the end still has to join the connection's
   * queue, which may need memory too. push_threaded's other failures
   * have killed the connection already. */
  if (rc == FK_OK && !on_io_thread(r))
    rc = push_threaded(r, 1);
  if (rc == FK_E_NOMEM) {
    /* Without memory for 40 bytes the request cannot be ended properly;
     * the connection is the only thing left to close. */
    fk__log(r->conn->worker->server, FK_LOG_ERROR,
            "request %u: out of memory ending it; closing the connection",
            r->id);
    pthread_mutex_lock(&r->conn->lock);
    r->conn->dead = 1;
    pthread_mutex_unlock(&r->conn->lock);
  }
  return rc;
}

/* On the I/O thread nobody else can drain the queue, so waiting for room
 * means waiting on the socket itself. With c->lock held. */
static int wait_writable(fk_request *r, const struct timespec *deadline) {
  fk__conn *c = r->conn;
  unsigned timeout = c->worker->server->cfg.io_timeout_ms;
  struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
  int n = poll(&pfd, 1, timeout ? fk__ms_until(deadline) : -1);
  if (n > 0 || (n < 0 && errno == EINTR))
    return FK_OK;
  if (n == 0)
    fk__log(c->worker->server, FK_LOG_WARNING,
            "request %u: web server did not read output for %u ms; "
            "closing the connection",
            r->id, timeout);
  c->dead = 1;
  return n == 0 ? FK_E_TIMEOUT : FK_E_ABORTED;
}

static int inline_result(fk_request *r, int rc) {
  if (r->conn->dead) {
    atomic_store(&r->aborted, 1);
    return rc == FK_E_TIMEOUT ? rc : FK_E_ABORTED;
  }
  return rc;
}

/* Writes until at most `room` bytes stay queued. */
static int drain_inline(fk_request *r, size_t room) {
  fk__conn *c = r->conn;
  struct timespec deadline;
  fk__deadline_in(&deadline, c->worker->server->cfg.io_timeout_ms);
  pthread_mutex_lock(&c->lock);
  int rc = fk__conn_write_locked(c);
  while (rc == FK_OK && !c->dead && fk__buf_pending(&c->out) > room)
    if ((rc = wait_writable(r, &deadline)) == FK_OK)
      rc = fk__conn_write_locked(c);
  pthread_mutex_unlock(&c->lock);
  return inline_result(r, rc);
}

static int push_inline(fk_request *r) {
  return drain_inline(r, r->conn->worker->server->cfg.max_output);
}

/* Moves past n bytes of the vector; returns the entries left. */
static int iov_advance(struct iovec **iov, int cnt, size_t n) {
  while (cnt > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    (*iov)++;
    cnt--;
  }
  if (cnt > 0) {
    (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
    (*iov)->iov_len -= n;
  }
  return cnt;
}

/* Sends every byte the vector names, waiting on the socket as needed. */
static int send_all(fk_request *r, struct iovec *iov, int cnt) {
  fk__conn *c = r->conn;
  struct timespec deadline;
  fk__deadline_in(&deadline, c->worker->server->cfg.io_timeout_ms);
  int rc = FK_OK;
  pthread_mutex_lock(&c->lock);
  while (cnt > 0 && rc == FK_OK && !c->dead) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        rc = wait_writable(r, &deadline);
      else if (errno != EINTR)
        c->dead = 1;
      continue;
    }
    cnt = iov_advance(&iov, cnt, (size_t)w);
  }
  pthread_mutex_unlock(&c->lock);
  return inline_result(r, rc);
}

/* Encodes up to DIRECT_RECORDS records of p into iov (headers in hdr).
 * Returns the number of entries; *took gets the bytes of p used. */
static int direct_records(fk_request *r, unsigned type, const uint8_t *p,
                          size_t n, uint8_t hdr[][FK_HEADER_LEN],
                          struct iovec *iov, size_t *took) {
  static const uint8_t zeros[8];
  int cnt = 0;
  *took = 0;
  for (int k = 0; k < DIRECT_RECORDS && n > 0; k++) {
    size_t take = n < RECORD_MAX ? n : RECORD_MAX;
    size_t pad = fk_padding_for(take);
    fk_header_encode(hdr[k], type, r->id, take, pad);
    iov[cnt++] = (struct iovec){hdr[k], FK_HEADER_LEN};
    iov[cnt++] = (struct iovec){(void *)p, take};
    if (pad)
      iov[cnt++] = (struct iovec){(void *)zeros, pad};
    p += take;
    n -= take;
    *took += take;
  }
  return cnt;
}

/* Large writes on the I/O thread skip the output buffer: once what was
 * queued before them has left, their records go from the caller's memory
 * to the socket, several per system call. */
static int write_direct(fk_request *r, unsigned type, const uint8_t *p,
                        size_t n) {
  fk__out_close_record(r);
  int rc = drain_inline(r, 0);
  while (rc == FK_OK && n > 0) {
    uint8_t hdr[DIRECT_RECORDS][FK_HEADER_LEN];
    struct iovec iov[DIRECT_RECORDS * 3];
    size_t took;
    int cnt = direct_records(r, type, p, n, hdr, iov, &took);
    p += took;
    n -= took;
    rc = send_all(r, iov, cnt);
  }
  return rc;
}

/* How long a writer waits on the socket before it looks for an abort. */
#define WRITER_POLL_MS 100

/* The socket of a connection whose writer the caller is: sends the whole
 * vector, waiting on the socket itself (without c->lock) when it is full.
 * Returns FK_OK; FK_E_ABORTED when the request was aborted before any of
 * the vector left, or the connection failed; FK_E_TIMEOUT, or FK_E_IO when
 * an abort came with a record half sent: the connection cannot go on. */
static int writer_send(fk_request *r, struct iovec *iov, int cnt) {
  fk__conn *c = r->conn;
  unsigned timeout = c->worker->server->cfg.io_timeout_ms;
  struct timespec deadline;
  fk__deadline_in(&deadline, timeout);
  int started = 0;
  while (cnt > 0) {
    if (atomic_load(&c->dead))
      return FK_E_ABORTED;
    if (atomic_load(&r->aborted))
      return started ? FK_E_IO : FK_E_ABORTED;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
      int ms = timeout ? fk__ms_until(&deadline) : WRITER_POLL_MS;
      if (ms > WRITER_POLL_MS || (ms == 0 && timeout == 0))
        ms = WRITER_POLL_MS;
      if (ms != 0) {
        poll(&pfd, 1, ms);
        continue;
      }
      fk__log(c->worker->server, FK_LOG_WARNING,
              "request %u: web server did not read output for %u ms; "
              "closing the connection",
              r->id, timeout);
      return FK_E_TIMEOUT;
    }
    if (w < 0)
      return started ? FK_E_IO : FK_E_ABORTED;
    started = 1;
    cnt = iov_advance(&iov, cnt, (size_t)w);
    fk__deadline_in(&deadline, timeout); /* it reads: wait afresh */
  }
  return FK_OK;
}

/* Large writes on a handler thread: while nothing else is queued, the
 * handler becomes the connection's writer (c->writer) for a few records
 * at a time, which go from the caller's memory to the socket, waiting on
 * the socket itself when it is full: no copy, no hand-off to the I/O
 * thread. Output of other requests queues meanwhile and is sent between
 * those batches; once some is left queued, the rest of p goes the usual
 * way. *sent is the bytes of p dealt with. */
static int write_direct_threaded(fk_request *r, unsigned type, const uint8_t *p,
                                 size_t n, size_t *sent) {
  fk__conn *c = r->conn;
  *sent = 0;
  int rc = fk__out_push(r);
  while (rc == FK_OK && *sent < n) {
    pthread_mutex_lock(&c->lock);
    int mine = c->writer == NULL && !c->dead && fk__buf_pending(&c->out) == 0 &&
               !atomic_load(&r->aborted);
    if (mine)
      c->writer = r;
    pthread_mutex_unlock(&c->lock);
    if (!mine)
      break;
    uint8_t hdr[DIRECT_RECORDS][FK_HEADER_LEN];
    struct iovec iov[DIRECT_RECORDS * 3];
    size_t took;
    int cnt = direct_records(r, type, p + *sent, n - *sent, hdr, iov, &took);
    if ((rc = writer_send(r, iov, cnt)) == FK_OK)
      *sent += took;
    pthread_mutex_lock(&c->lock);
    c->writer = NULL;
    if (rc != FK_OK && !c->dead && rc != FK_E_ABORTED) {
      /* A record cut short: the connection cannot go on. The worker
       * cleans up. */
      c->dead = 1;
      shutdown(c->fd, SHUT_RDWR);
    }
    if (c->dead)
      pthread_cond_broadcast(&c->drained);
    else
      fk__conn_write_locked(c); /* what others queued meanwhile */
    pthread_mutex_unlock(&c->lock);
  }
  if (rc == FK_OK && (atomic_load(&c->dead) || atomic_load(&r->aborted)))
    rc = FK_E_ABORTED;
  if (rc != FK_OK) {
    atomic_store(&r->aborted, 1);
    if (rc == FK_E_IO)
      rc = FK_E_ABORTED; /* aborted with a record half sent */
  }
  return rc;
}

/* From a handler thread: wait until the connection's queue has room, move
 * this request's buffer into it, and write what the socket takes now. */
static int push_threaded(fk_request *r, int final) {
  fk__conn *c = r->conn;
  pthread_mutex_lock(&c->lock);
  int rc = fk__conn_wait_room(c, final ? NULL : r);
  if (rc == FK_OK) {
    if (fk__buf_pending(&c->out) == 0) {
      /* Nothing queued: take the request's buffer as the queue. */
      fk__buf t = c->out;
      c->out = r->own;
      r->own = t;
      r->own.pos = r->own.len = 0;
    } else {
      rc = fk__buf_append(&c->out, alloc_of(r), r->own.data + r->own.pos,
                          fk__buf_pending(&r->own));
      r->own.pos = r->own.len = 0;
    }
    if (rc == FK_OK && !(c->events & EPOLLOUT))
      rc = fk__conn_write_locked(c);
  }
  pthread_mutex_unlock(&c->lock);
  if (rc != FK_OK) {
    atomic_store(&r->aborted, 1);
    r->own.pos = r->own.len = 0;
  }
  return rc;
}

int fk__out_push(fk_request *r) {
  fk__out_close_record(r);
  return on_io_thread(r) ? push_inline(r) : push_threaded(r, 0);
}

/* --- Public calls -------------------------------------------------------- */

int fk_write(fk_request *req, const void *buf, size_t len) {
  return fk__out_stream(req, FK_STDOUT, buf, len);
}

int fk_puts(fk_request *req, const char *s) {
  return fk__out_stream(req, FK_STDOUT, s, strlen(s));
}

static int vformat(fk_request *req, unsigned type, const char *fmt,
                   va_list ap) {
  char small[1024];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  int rc;
  if (n < 0) {
    rc = FK_E_INVAL;
  } else if ((size_t)n < sizeof small) {
    rc = fk__out_stream(req, type, small, (size_t)n);
  } else {
    char *big = fk__alloc(alloc_of(req), (size_t)n + 1);
    if (big == NULL) {
      rc = FK_E_NOMEM;
    } else {
      vsnprintf(big, (size_t)n + 1, fmt, again);
      rc = fk__out_stream(req, type, big, (size_t)n);
      fk__free(alloc_of(req), big);
    }
  }
  va_end(again);
  return rc;
}

int fk_vprintf(fk_request *req, const char *fmt, va_list ap) {
  return vformat(req, FK_STDOUT, fmt, ap);
}

int fk_printf(fk_request *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vformat(req, FK_STDOUT, fmt, ap);
  va_end(ap);
  return rc;
}

int fk_write_err(fk_request *req, const void *buf, size_t len) {
  if (len > 0)
    req->stderr_used = 1;
  return fk__out_stream(req, FK_STDERR, buf, len);
}

int fk_eprintf(fk_request *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  req->stderr_used = 1;
  int rc = vformat(req, FK_STDERR, fmt, ap);
  va_end(ap);
  return rc;
}

int fk_flush(fk_request *req) {
  if (atomic_load(&req->aborted))
    return FK_E_ABORTED;
  if (req->state != FK__REQ_RUNNING)
    return FK_E_STATE;
  return fk__out_push(req);
}
