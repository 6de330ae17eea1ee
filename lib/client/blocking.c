/*
 * The blocking client: a session driven over one socket with poll.
 *
 * fk_client_run is a small event loop over the socket, the body's file
 * descriptor and a cancel eventfd, so that sending the body and receiving
 * the output go on together: an application may answer before it has read
 * the whole body, and one that fills the socket with output while the
 * client is still writing must not deadlock it. The body is queued on the
 * session a piece at a time, only when what is queued has been sent, and
 * output goes to the caller's callbacks straight from the read buffer: the
 * client's memory stays bounded whatever the application does.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/internal.h"
#include "unix/unix.h"

/* Body bytes queued on the session at once; more are read only after the
 * queue went below this. */
#define BODY_PIECE (64u << 10)

struct fk_client {
  fk_client_options opt;
  char *address;
  int fd; /* -1 when not connected */
  fk_client_session *session;
  int used;             /* the connection already carried a request */
  uint8_t *rbuf, *bbuf; /* socket reads; body reads */
  int cancelfd;
  atomic_int cancelled;
  char reason[200];
};

void fk_client_options_init(fk_client_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->connect_timeout_ms = 5000;
  opt->abort_timeout_ms = 1000;
  opt->max_params_bytes = 1u << 20;
  opt->read_buffer = 64u << 10;
}

int fk_client_dial(const char *address, unsigned timeout_ms, int *fd) {
  return fk__connect(address, timeout_ms, fd);
}

/* --- The connection ------------------------------------------------------ */

static void disconnect(fk_client *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  fk_client_session_free(c->session);
  c->session = NULL;
  c->used = 0;
}

static int connect_now(fk_client *c) {
  fk_client_settings set;
  fk_client_settings_init(&set);
  set.allocator = c->opt.allocator;
  set.max_params_bytes = c->opt.max_params_bytes;
  int rc = fk_client_session_new(&c->session, &set);
  if (rc != FK_OK)
    return rc;
  rc = fk__connect(c->address, c->opt.connect_timeout_ms, &c->fd);
  if (rc != FK_OK) {
    int saved = errno;
    disconnect(c);
    errno = saved;
  }
  return rc;
}

/* An idle kept connection is good when nothing arrived on it: EOF or
 * bytes while no request is in flight mean the application closed it or
 * broke it. */
static int still_good(const fk_client *c) {
  if (c->fd < 0 || c->session == NULL ||
      !fk_client_session_reusable(c->session) ||
      fk_client_session_in_flight(c->session) > 0)
    return 0;
  struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
  return poll(&pfd, 1, 0) == 0;
}

/* Connects when needed. *reused says whether the connection was kept. */
static int ensure_connected(fk_client *c, int *reused) {
  *reused = 0;
  if (still_good(c)) {
    *reused = c->used;
    return FK_OK;
  }
  disconnect(c);
  return connect_now(c);
}

int fk_client_open(fk_client **out, const char *address,
                   const fk_client_options *opt) {
  fk_client_options def;
  *out = NULL;
  if (opt == NULL) {
    fk_client_options_init(&def);
    opt = &def;
  }
  if (address == NULL || opt->read_buffer == 0)
    return FK_E_INVAL;
  const fk_allocator *a = opt->allocator;
  fk_client *c = fk__alloc(a, sizeof *c);
  if (c == NULL)
    return FK_E_NOMEM;
  memset(c, 0, sizeof *c);
  c->opt = *opt;
  c->fd = c->cancelfd = -1;
  size_t alen = strlen(address) + 1;
  int rc = FK_E_NOMEM;
  if ((c->address = fk__alloc(a, alen)) == NULL)
    goto fail;
  memcpy(c->address, address, alen);
  if ((c->rbuf = fk__alloc(a, opt->read_buffer)) == NULL)
    goto fail;
  rc = FK_E_SYSTEM;
  if ((c->cancelfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    goto fail;
  if ((rc = connect_now(c)) != FK_OK)
    goto fail;
  *out = c;
  return FK_OK;
fail:;
  int saved = errno;
  fk_client_close(c);
  errno = saved;
  return rc;
}

void fk_client_close(fk_client *c) {
  if (c == NULL)
    return;
  const fk_allocator *a = c->opt.allocator;
  disconnect(c);
  if (c->cancelfd >= 0)
    close(c->cancelfd);
  fk__free(a, c->address);
  fk__free(a, c->rbuf);
  fk__free(a, c->bbuf);
  fk__free(a, c);
}

int fk_client_connected(const fk_client *c) { return c->fd >= 0; }

const char *fk_client_error_reason(const fk_client *c) { return c->reason; }

/* Async-signal-safe: an atomic store and one write(2). */
void fk_client_cancel(fk_client *c) {
  int saved = errno;
  uint64_t one = 1;
  atomic_store(&c->cancelled, 1);
  ssize_t n = write(c->cancelfd, &one, sizeof one);
  (void)n; /* EAGAIN: a wake-up is pending already */
  errno = saved;
}

static void clear_cancel(fk_client *c) {
  uint64_t v;
  ssize_t n = read(c->cancelfd, &v, sizeof v);
  (void)n;
  atomic_store(&c->cancelled, 0);
}

/* Keeps the session's reason for the caller when a call fails on it. */
static int session_failed(fk_client *c, int rc) {
  if (c->session && fk_client_session_error(c->session) == rc)
    snprintf(c->reason, sizeof c->reason, "%s (at byte %llu)",
             fk_client_session_error_reason(c->session),
             (unsigned long long)fk_client_session_error_offset(c->session));
  return rc;
}

/* --- Socket I/O ---------------------------------------------------------- */

/* Sends what the session has queued, as much as the socket takes now.
 * Returns FK_OK or FK_E_IO. A peer that closed (EPIPE, ECONNRESET) is
 * FK_E_CLOSED: its answer may still be waiting to be read. */
static int send_some(fk_client *c) {
  const uint8_t *p;
  size_t n;
  while ((n = fk_client_session_pending(c->session, &p)) > 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return FK_OK;
    if (w < 0)
      return errno == EPIPE || errno == ECONNRESET ? FK_E_CLOSED : FK_E_IO;
    if (c->opt.trace)
      c->opt.trace(FK_TRACE_SENT, p, (size_t)w, c->opt.trace_arg);
    fk_client_session_consume(c->session, (size_t)w);
  }
  return FK_OK;
}

/* Reads once. Returns bytes (> 0), 0 when nothing is there yet,
 * FK_E_CLOSED at EOF or reset, FK_E_IO. */
static long read_some(fk_client *c) {
  for (;;) {
    ssize_t n = recv(c->fd, c->rbuf, c->opt.read_buffer, MSG_DONTWAIT);
    if (n > 0 && c->opt.trace)
      c->opt.trace(FK_TRACE_RECEIVED, c->rbuf, (size_t)n, c->opt.trace_arg);
    if (n > 0)
      return (long)n;
    if (n == 0)
      return FK_E_CLOSED;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return errno == ECONNRESET ? FK_E_CLOSED : FK_E_IO;
  }
}

/* --- One request --------------------------------------------------------- */

/* Which body is being sent: STDIN, then DATA for a Filter. */
enum body_stage { STAGE_STDIN, STAGE_DATA, STAGE_DONE };

struct run {
  fk_client *c;
  const fk_client_request *req;
  fk_client_result *res;
  unsigned id;
  int stage;
  size_t mem_off;   /* FK_BODY_MEMORY: bytes of it queued */
  int body_waits;   /* FK_BODY_FD: the fd has to be polled before reading */
  int write_closed; /* the application stopped reading */
  int cancelled;    /* by the caller */
  int timed_out;
  struct timespec deadline, abort_deadline;
  int has_deadline;
};

static const fk_client_body *current_body(const struct run *r) {
  return r->stage == STAGE_STDIN ? &r->req->body : &r->req->data;
}

static unsigned stage_type(const struct run *r) {
  return r->stage == STAGE_STDIN ? FK_STDIN : FK_DATA;
}

/* The stream in progress is over: end it and go to the next one. */
static int end_stage(struct run *r) {
  int rc = fk_client_session_stream_end(r->c->session, r->id, stage_type(r));
  if (rc != FK_OK)
    return rc;
  r->mem_off = 0;
  if (r->stage == STAGE_STDIN && r->req->role == FK_FILTER)
    r->stage = STAGE_DATA;
  else
    r->stage = STAGE_DONE;
  return FK_OK;
}

static int ensure_bbuf(fk_client *c) {
  if (c->bbuf == NULL)
    c->bbuf = fk__alloc(c->opt.allocator, c->opt.read_buffer);
  return c->bbuf ? FK_OK : FK_E_NOMEM;
}

/* Queues the next piece of the body, or its end. fd_ready says poll found
 * the body's fd readable. */
static int feed_body(struct run *r, int fd_ready) {
  fk_client *c = r->c;
  const fk_client_body *b = current_body(r);
  long n;
  switch (b->kind) {
  case FK_BODY_NONE: return end_stage(r);
  case FK_BODY_MEMORY: {
    size_t left = b->len - r->mem_off;
    if (left == 0)
      return end_stage(r);
    size_t k = left < BODY_PIECE ? left : BODY_PIECE;
    int rc = fk_client_session_stream(c->session, r->id, stage_type(r),
                                      (const uint8_t *)b->data + r->mem_off, k);
    r->mem_off += k;
    return rc;
  }
  case FK_BODY_FD:
    if (!fd_ready) {
      r->body_waits = 1;
      return FK_OK;
    }
    r->body_waits = 0;
    if (ensure_bbuf(c) != FK_OK)
      return FK_E_NOMEM;
    do
      n = read(b->fd, c->bbuf, c->opt.read_buffer);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return FK_OK;
    break;
  case FK_BODY_CALLBACK:
    if (ensure_bbuf(c) != FK_OK)
      return FK_E_NOMEM;
    n = b->read(c->bbuf, c->opt.read_buffer, b->arg);
    break;
  default: return FK_E_INVAL;
  }
  if (n < 0) {
    snprintf(c->reason, sizeof c->reason, "reading the %s body failed",
             r->stage == STAGE_STDIN ? "request" : "FCGI_DATA");
    return FK_E_IO;
  }
  if (n == 0)
    return end_stage(r);
  return fk_client_session_stream(c->session, r->id, stage_type(r), c->bbuf,
                                  (size_t)n);
}

/* Nonzero while body bytes may be queued now. */
static int body_wanted(const struct run *r) {
  const uint8_t *p;
  return r->stage != STAGE_DONE && !r->cancelled && !r->timed_out &&
         !r->write_closed && !r->res->ended &&
         fk_client_session_pending(r->c->session, &p) < BODY_PIECE;
}

static int start_abort(struct run *r) {
  int rc = fk_client_session_abort(r->c->session, r->id);
  r->res->aborted = 1;
  fk__deadline_in(&r->abort_deadline, r->c->opt.abort_timeout_ms);
  return rc;
}

static int cancel(struct run *r) {
  if (r->cancelled || r->timed_out || r->res->ended)
    return FK_OK;
  r->cancelled = 1;
  return start_abort(r);
}

/* Hands one session event to the caller. */
static int on_event(struct run *r, const fk_client_event *ev) {
  const fk_client_request *q = r->req;
  fk_client_result *res = r->res;
  switch (ev->type) {
  case FK_CLIENT_STDOUT:
    res->stdout_bytes += ev->len;
    if (q->on_stdout && !r->cancelled &&
        q->on_stdout(ev->data, ev->len, q->arg))
      return cancel(r);
    return FK_OK;
  case FK_CLIENT_STDERR:
    res->stderr_bytes += ev->len;
    if (q->on_stderr && !r->cancelled &&
        q->on_stderr(ev->data, ev->len, q->arg))
      return cancel(r);
    return FK_OK;
  case FK_CLIENT_END:
    res->ended = 1;
    res->app_status = ev->app_status;
    res->protocol_status = ev->protocol_status;
    return FK_OK;
  default: return FK_OK; /* stream ends, stray management answers */
  }
}

/* Reads what is there and dispatches every event in it, the bytes after
 * END_REQUEST too (the session rejects anything more for this request).
 * A read that filled the buffer says more is probably waiting: read again
 * at once instead of asking poll, a few times, so a large response costs
 * one system call per buffer rather than two. */
static int receive(struct run *r) {
  fk_client *c = r->c;
  for (int again = 0; again < 8 && !r->res->ended; again++) {
    long n = read_some(c);
    if (n == FK_E_CLOSED) {
      if (r->res->ended)
        return FK_OK; /* without KEEP_CONN the application closes now */
      int rc = fk_client_session_eof(c->session);
      return session_failed(c, rc == FK_OK ? FK_E_CLOSED : rc);
    }
    if (n <= 0)
      return (int)n;
    for (size_t off = 0; off < (size_t)n;) {
      fk_client_event ev;
      long k = fk_client_session_recv(c->session, c->rbuf + off,
                                      (size_t)n - off, &ev);
      if (k < 0)
        return session_failed(c, (int)k);
      off += (size_t)k;
      if (ev.type == FK_CLIENT_NONE)
        break;
      int rc = on_event(r, &ev);
      if (rc != FK_OK)
        return rc;
    }
    if ((size_t)n < c->opt.read_buffer)
      break;
  }
  return FK_OK;
}

/* How long poll may wait: until the request's deadline, or the abort's. */
static int wait_ms(const struct run *r) {
  if (r->res->aborted)
    return fk__ms_until(&r->abort_deadline);
  return r->has_deadline ? fk__ms_until(&r->deadline) : -1;
}

/* The deadline that passed, if any: the request's starts an abort, the
 * abort's ends the wait. Returns FK_OK to go on, or the final error. */
static int check_deadlines(struct run *r) {
  if (r->res->aborted) {
    if (fk__ms_until(&r->abort_deadline) > 0)
      return FK_OK;
    return r->timed_out ? FK_E_TIMEOUT : FK_E_ABORTED;
  }
  if (r->has_deadline && fk__ms_until(&r->deadline) == 0) {
    r->timed_out = 1;
    int rc = start_abort(r);
    return rc != FK_OK ? rc : check_deadlines(r);
  }
  return FK_OK;
}

/* One round: queue body, wait, write, read. */
static int step(struct run *r) {
  fk_client *c = r->c;
  int rc;
  while (body_wanted(r) && !r->body_waits)
    if ((rc = feed_body(r, 0)) != FK_OK)
      return rc;
  const uint8_t *p;
  int want_write =
      !r->write_closed && fk_client_session_pending(c->session, &p) > 0;
  const fk_client_body *b = current_body(r);
  int poll_body = body_wanted(r) && r->body_waits && b->kind == FK_BODY_FD;
  struct pollfd pfd[3] = {
      {.fd = c->fd, .events = POLLIN | (want_write ? POLLOUT : 0)},
      {.fd = c->cancelfd, .events = POLLIN},
      {.fd = poll_body ? b->fd : -1, .events = POLLIN}};
  int n = poll(pfd, 3, wait_ms(r));
  if (n < 0 && errno != EINTR)
    return FK_E_IO;
  if (n <= 0)
    return check_deadlines(r);
  if ((pfd[1].revents & POLLIN) || atomic_load(&c->cancelled)) {
    clear_cancel(c);
    if ((rc = cancel(r)) != FK_OK)
      return rc;
  }
  if (pfd[2].revents && body_wanted(r) && (rc = feed_body(r, 1)) != FK_OK)
    return rc;
  if (pfd[0].revents & (POLLOUT | POLLERR)) {
    rc = send_some(c);
    if (rc == FK_E_CLOSED)
      r->write_closed = 1; /* read on: the answer may be there */
    else if (rc != FK_OK)
      return rc;
  }
  if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
    if ((rc = receive(r)) != FK_OK)
      return rc;
  return check_deadlines(r);
}

/* Queues BEGIN_REQUEST and the params. */
static int start(struct run *r) {
  fk_client *c = r->c;
  const fk_client_request *q = r->req;
  unsigned role = q->role ? q->role : FK_RESPONDER;
  int rc = fk_client_session_begin(c->session, role, q->flags, NULL, &r->id);
  if (rc != FK_OK)
    return rc;
  r->res->request_id = r->id;
  for (size_t i = 0; i < q->nparams; i++) {
    const fk_client_pair *pr = &q->params[i];
    if (pr->name == NULL)
      return FK_E_INVAL;
    const char *v = pr->value ? pr->value : "";
    size_t vlen = pr->value_len ? pr->value_len : strlen(v);
    rc = fk_client_session_param(c->session, r->id, pr->name, strlen(pr->name),
                                 v, vlen);
    if (rc != FK_OK)
      return rc;
  }
  return fk_client_session_stream_end(c->session, r->id, FK_PARAMS);
}

static int valid_request(const fk_client_request *q) {
  if (q == NULL || (q->nparams > 0 && q->params == NULL) || q->role > 0xffff ||
      (q->flags & ~(unsigned)FK_KEEP_CONN))
    return 0;
  for (size_t i = 0; i < q->nparams; i++)
    if (q->params[i].name == NULL)
      return 0;
  const fk_client_body *b[2] = {&q->body, &q->data};
  for (int i = 0; i < 2; i++) {
    if (b[i]->kind < FK_BODY_NONE || b[i]->kind > FK_BODY_CALLBACK)
      return 0;
    if ((b[i]->kind == FK_BODY_MEMORY && b[i]->data == NULL && b[i]->len) ||
        (b[i]->kind == FK_BODY_FD && b[i]->fd < 0) ||
        (b[i]->kind == FK_BODY_CALLBACK && b[i]->read == NULL))
      return 0;
  }
  return 1;
}

int fk_client_run(fk_client *c, const fk_client_request *req,
                  fk_client_result *res) {
  fk_client_result spare;
  if (res == NULL)
    res = &spare;
  memset(res, 0, sizeof *res);
  c->reason[0] = '\0';
  if (!valid_request(req))
    return FK_E_INVAL;
  clear_cancel(c);
  int reused;
  int rc = ensure_connected(c, &reused);
  if (rc != FK_OK)
    return rc;
  res->reused = reused;
  c->used = 1;
  struct run r = {.c = c, .req = req, .res = res};
  if (req->timeout_ms > 0) {
    fk__deadline_in(&r.deadline, req->timeout_ms);
    r.has_deadline = 1;
  }
  rc = start(&r);
  while (rc == FK_OK && !res->ended)
    rc = step(&r);
  if (rc == FK_OK && (r.cancelled || r.timed_out))
    rc = r.timed_out ? FK_E_TIMEOUT : FK_E_ABORTED;
  /* A connection is kept only in a clean state: the request ended (after
   * an abort too), the session healthy, and no output queued (it would
   * belong to a request that is over; a record may be cut in half). */
  const uint8_t *p;
  if (!(req->flags & FK_KEEP_CONN) || !res->ended ||
      !fk_client_session_reusable(c->session) ||
      fk_client_session_pending(c->session, &p) > 0)
    disconnect(c);
  return rc;
}

/* --- GET_VALUES ---------------------------------------------------------- */

/* Waits for the answer to one query. */
static int await_values(fk_client *c, unsigned timeout_ms) {
  struct timespec deadline;
  fk__deadline_in(&deadline, timeout_ms);
  for (;;) {
    const uint8_t *p;
    int want_write = fk_client_session_pending(c->session, &p) > 0;
    struct pollfd pfd = {.fd = c->fd,
                         .events = POLLIN | (want_write ? POLLOUT : 0)};
    int n = poll(&pfd, 1, timeout_ms ? fk__ms_until(&deadline) : -1);
    if (n < 0 && errno != EINTR)
      return FK_E_IO;
    if (n == 0 || (timeout_ms && fk__ms_until(&deadline) == 0))
      return FK_E_TIMEOUT;
    if (n < 0)
      continue;
    int rc;
    if ((pfd.revents & POLLOUT) && (rc = send_some(c)) != FK_OK)
      return rc;
    if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    long got = read_some(c);
    if (got == FK_E_CLOSED)
      return session_failed(c, fk_client_session_eof(c->session));
    if (got < 0)
      return (int)got;
    /* The whole read is dispatched: Go's empty GET_VALUES_RESULT may
     * follow the answer in it (the session skips that one). */
    int answer = 0;
    for (size_t off = 0; off < (size_t)got;) {
      fk_client_event ev;
      long k = fk_client_session_recv(c->session, c->rbuf + off,
                                      (size_t)got - off, &ev);
      if (k < 0)
        return session_failed(c, (int)k);
      off += (size_t)k;
      if (ev.type == FK_CLIENT_VALUES)
        answer = FK_CLIENT_VALUES;
      else if (ev.type == FK_CLIENT_UNKNOWN_TYPE &&
               ev.unknown_type == FK_GET_VALUES)
        answer = FK_CLIENT_UNKNOWN_TYPE;
      else if (ev.type == FK_CLIENT_NONE)
        break;
    }
    if (answer)
      return answer == FK_CLIENT_VALUES ? FK_OK : FK_E_STATE;
  }
}

int fk_client_get_values(fk_client *c, const char *const *names, size_t count,
                         unsigned timeout_ms, const fk_params **values) {
  c->reason[0] = '\0';
  int reused;
  int rc = ensure_connected(c, &reused);
  if (rc == FK_OK)
    rc = fk_client_session_get_values(c->session, names, count);
  if (rc == FK_OK)
    rc = await_values(c, timeout_ms);
  if (rc != FK_OK) {
    disconnect(c);
    return rc;
  }
  *values = fk_client_session_values(c->session);
  return FK_OK;
}
