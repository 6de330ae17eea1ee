/*
 * The non-blocking client: a client session driven by the fcgikit event
 * loop. Requests are submitted and the caller goes back to its loop; output
 * reaches the callbacks as it arrives and a done callback ends each
 * request. Up to the session's limit run at once on the connection
 * (multiplexing); more wait in submission order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/internal.h"
#include "fcgikit/loop.h"
#include "unix/unix.h"

/* Body bytes queued on the session while the socket has not taken them. */
#define QUEUE_LIMIT (256u << 10)
#define READ_SIZE (64u << 10)

typedef struct areq {
  fk_client_async *owner;
  fk_client_request req;
  fk_client_done_fn done;
  unsigned handle;
  unsigned id;     /* session id once begun, else 0 */
  int stage;       /* the stream being sent: FK_STDIN, FK_DATA, or 0 = all */
  size_t body_off; /* bytes of the current stream queued */
  int finished;    /* done() called; waiting only for END_REQUEST */
  fk_timer *timer;
  fk_client_result res;
  struct areq *next; /* waiting list */
} areq;

struct fk_client_async {
  fk_loop *loop;
  char *address;
  fk_client_options opt;
  int fd;
  int connecting;
  unsigned watching;
  fk_client_session *s;
  unsigned max_requests;
  uint8_t *rbuf;
  areq *waiting, *waiting_tail;
  areq **active; /* by session id, 1..65535 allocated as needed */
  size_t nactive;
  unsigned next_handle;
  int busy;        /* in a callback: pump once at its end */
  int closing;     /* fk_client_async_close() is running */
  unsigned served; /* requests begun on this connection */
  fk_timer *connect_timer;
};

static void pump(fk_client_async *c);

/* Zeroed memory from the options' allocator. */
static void *zalloc(const fk_allocator *a, size_t n) {
  void *p = fk__alloc(a, n);
  if (p)
    memset(p, 0, n);
  return p;
}

/* --- Ending requests ------------------------------------------------------ */

/* Calls done() once. The request stays in flight until its END_REQUEST
 * when it was begun: the id is not free before (spec 3.3). */
static void finish(areq *r, int err) {
  if (r->finished)
    return;
  r->finished = 1;
  fk_loop_cancel(r->owner->loop, r->timer);
  r->timer = NULL;
  if (r->done)
    r->done(err, &r->res, r->req.arg);
}

static void release(fk_client_async *c, areq *r) {
  if (r->id && r->id < c->nactive)
    c->active[r->id] = NULL;
  fk__free(c->opt.allocator, r);
}

/* The client is put back in its unconnected state before any done() is
 * called: a callback that submits again starts from a clean slate. */
static void drop_connection(fk_client_async *c, int err) {
  fk_loop_cancel(c->loop, c->connect_timer);
  c->connect_timer = NULL;
  if (c->fd >= 0) {
    fk_loop_watch(c->loop, c->fd, 0, NULL, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->watching = 0;
  c->connecting = 0;
  c->served = 0;
  fk_client_session_free(c->s);
  c->s = NULL;
  areq **active = c->active;
  size_t nactive = c->nactive;
  c->active = NULL;
  c->nactive = 0;
  int busy = c->busy;
  c->busy = 1;
  for (size_t i = 0; i < nactive; i++) {
    if (active[i]) {
      finish(active[i], err);
      fk__free(c->opt.allocator, active[i]);
    }
  }
  c->busy = busy;
  fk__free(c->opt.allocator, active);
}

/* Nothing can be sent: every request still waiting fails. */
static void fail_waiting(fk_client_async *c, int err) {
  areq *r = c->waiting;
  c->waiting = c->waiting_tail = NULL;
  int busy = c->busy;
  c->busy = 1;
  while (r) {
    areq *next = r->next;
    finish(r, err);
    fk__free(c->opt.allocator, r);
    r = next;
  }
  c->busy = busy;
}

static void on_connect_timeout(fk_loop *loop, void *arg) {
  (void)loop;
  fk_client_async *c = arg;
  c->connect_timer = NULL;
  drop_connection(c, FK_E_TIMEOUT);
  fail_waiting(c, FK_E_TIMEOUT);
}

/* --- Sending ---------------------------------------------------------------
 */

static const fk_client_body *stage_body(const areq *r) {
  return r->stage == FK_DATA ? &r->req.data : &r->req.body;
}

/* Queues more of r's body, within QUEUE_LIMIT, and ends each stream. */
static int feed(fk_client_async *c, areq *r) {
  while (r->stage != 0 && !r->finished) {
    const fk_client_body *b = stage_body(r);
    size_t len = b->kind == FK_BODY_MEMORY ? b->len : 0;
    const uint8_t *p;
    size_t queued = fk_client_session_pending(c->s, &p);
    if (r->body_off < len) {
      if (queued >= QUEUE_LIMIT)
        return FK_OK; /* more when the socket has taken some */
      size_t n = len - r->body_off;
      if (n > QUEUE_LIMIT - queued)
        n = QUEUE_LIMIT - queued;
      int rc =
          fk_client_session_stream(c->s, r->id, (unsigned)r->stage,
                                   (const uint8_t *)b->data + r->body_off, n);
      if (rc != FK_OK)
        return rc;
      r->body_off += n;
      continue;
    }
    int rc = fk_client_session_stream_end(c->s, r->id, (unsigned)r->stage);
    if (rc != FK_OK)
      return rc;
    r->body_off = 0;
    r->stage = r->stage == FK_STDIN && r->req.role == FK_FILTER ? FK_DATA : 0;
  }
  return FK_OK;
}

static void on_timeout(fk_loop *loop, void *arg) {
  (void)loop;
  areq *r = arg;
  r->timer = NULL;
  /* The application is told (spec 5.4); the caller hears of it now. */
  if (r->id && fk_client_session_abort(r->owner->s, r->id) == FK_OK)
    r->res.aborted = 1;
  finish(r, FK_E_TIMEOUT);
  if (!r->owner->busy)
    pump(r->owner);
}

static int begin(fk_client_async *c, areq *r) {
  const fk_client_request *q = &r->req;
  int rc = fk_client_session_begin(c->s, q->role ? q->role : FK_RESPONDER,
                                   q->flags, r, &r->id);
  if (rc != FK_OK)
    return rc;
  if (r->id >= c->nactive) {
    size_t n = r->id + 16u;
    areq **a = fk__realloc(c->opt.allocator, c->active, n * sizeof *a);
    if (a == NULL)
      return FK_E_NOMEM;
    memset(a + c->nactive, 0, (n - c->nactive) * sizeof *a);
    c->active = a;
    c->nactive = n;
  }
  c->active[r->id] = r;
  r->res.request_id = r->id;
  r->res.reused = c->served++ > 0;
  for (size_t i = 0; i < q->nparams; i++) {
    const fk_client_pair *p = &q->params[i];
    size_t vlen = p->value_len ? p->value_len : p->value ? strlen(p->value) : 0;
    rc = fk_client_session_param(c->s, r->id, p->name, strlen(p->name),
                                 p->value ? p->value : "", vlen);
    if (rc != FK_OK)
      return rc;
  }
  if ((rc = fk_client_session_stream_end(c->s, r->id, FK_PARAMS)) != FK_OK)
    return rc;
  r->stage = q->role == FK_AUTHORIZER ? 0 : FK_STDIN;
  if (r->stage == 0)
    rc = fk_client_session_stream_end(c->s, r->id, FK_STDIN);
  if (rc == FK_OK && q->timeout_ms)
    rc = fk_loop_timer(c->loop, q->timeout_ms, on_timeout, r, &r->timer);
  return rc;
}

static void on_io(fk_loop *loop, int fd, unsigned ready, void *arg);

/* Nonzero while some request still has body to queue. */
static int body_left(const fk_client_async *c) {
  for (size_t i = 0; i < c->nactive; i++)
    if (c->active[i] && c->active[i]->stage && !c->active[i]->finished)
      return 1;
  return 0;
}

/* Writing is watched while bytes wait for the socket, and while bodies
 * wait to be queued: writability is what lets more of them in. */
static void set_watch(fk_client_async *c) {
  const uint8_t *p;
  unsigned want = FK_LOOP_READ;
  if (c->connecting || fk_client_session_pending(c->s, &p) > 0 || body_left(c))
    want |= FK_LOOP_WRITE;
  if (want != c->watching &&
      fk_loop_watch(c->loop, c->fd, want, on_io, c) == FK_OK)
    c->watching = want;
}

static int send_some(fk_client_async *c) {
  const uint8_t *p;
  size_t n;
  while ((n = fk_client_session_pending(c->s, &p)) > 0) {
    ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return FK_OK;
    if (k < 0)
      return FK_E_IO;
    fk_client_session_consume(c->s, (size_t)k);
  }
  return FK_OK;
}

/* Connects when needed, begins what the limit allows, feeds bodies,
 * writes, and watches for what comes next. */
static void pump(fk_client_async *c) {
  int rc = FK_OK;
  if (c->fd < 0 && c->waiting) {
    int in_progress = 0;
    fk_client_settings st;
    fk_client_settings_init(&st);
    st.allocator = c->opt.allocator;
    st.max_params_bytes = c->opt.max_params_bytes;
    rc = fk__connect_start(c->address, &c->fd, &in_progress);
    if (rc == FK_OK)
      rc = fk_client_session_new(&c->s, &st);
    if (rc == FK_OK)
      rc = fk_client_session_set_max_requests(c->s, c->max_requests);
    if (rc == FK_OK && in_progress && c->opt.connect_timeout_ms)
      rc = fk_loop_timer(c->loop, c->opt.connect_timeout_ms, on_connect_timeout,
                         c, &c->connect_timer);
    if (rc != FK_OK) {
      int saved = errno;
      drop_connection(c, rc);
      errno = saved;
      fail_waiting(c, rc);
      return;
    }
    c->connecting = in_progress;
  }
  if (c->fd < 0 || c->connecting) {
    if (c->fd >= 0)
      set_watch(c);
    return;
  }
  while (rc == FK_OK && c->waiting && fk_client_session_can_begin(c->s)) {
    areq *r = c->waiting;
    c->waiting = r->next;
    if (c->waiting == NULL)
      c->waiting_tail = NULL;
    rc = begin(c, r);
    if (rc != FK_OK && r->id == 0) {
      finish(r, rc);
      fk__free(c->opt.allocator, r);
      rc = FK_OK; /* that request only */
    } else if (rc != FK_OK && rc != FK_E_NOMEM) {
      /* Begun, then refused while queueing: the application is told to
       * drop it (spec 5.4), the caller hears why; the others go on. */
      r->stage = 0;
      if (fk_client_session_abort(c->s, r->id) == FK_OK)
        r->res.aborted = 1;
      finish(r, rc);
      rc = FK_OK;
    }
  }
  for (size_t i = 0; rc == FK_OK && i < c->nactive; i++)
    if (c->active[i] && c->active[i]->stage)
      rc = feed(c, c->active[i]);
  if (rc == FK_OK)
    rc = send_some(c);
  if (rc != FK_OK) {
    drop_connection(c, rc);
    if (c->waiting)
      pump(c);
    return;
  }
  set_watch(c);
}

/* --- Receiving -------------------------------------------------------------
 */

static int deliver(fk_client_async *c, const fk_client_event *ev) {
  areq *r = ev->user;
  if (r == NULL)
    return FK_OK;
  switch (ev->type) {
  case FK_CLIENT_STDOUT:
  case FK_CLIENT_STDERR: {
    int out = ev->type == FK_CLIENT_STDOUT;
    (out ? &r->res.stdout_bytes : &r->res.stderr_bytes)[0] += ev->len;
    fk_client_output_fn fn = out ? r->req.on_stdout : r->req.on_stderr;
    if (!r->finished && fn && fn(ev->data, ev->len, r->req.arg) != 0) {
      if (fk_client_session_abort(c->s, r->id) == FK_OK)
        r->res.aborted = 1;
      finish(r, FK_E_ABORTED);
    }
    return FK_OK;
  }
  case FK_CLIENT_END:
    r->res.ended = 1;
    r->res.app_status = ev->app_status;
    r->res.protocol_status = ev->protocol_status;
    finish(r, FK_OK);
    release(c, r);
    return FK_OK;
  default: return FK_OK;
  }
}

static void receive(fk_client_async *c) {
  ssize_t n = recv(c->fd, c->rbuf, READ_SIZE, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    int clean = n == 0 && fk_client_session_eof(c->s) == FK_OK;
    drop_connection(c, clean ? FK_OK : n == 0 ? FK_E_CLOSED : FK_E_IO);
    return;
  }
  const uint8_t *p = c->rbuf;
  size_t left = (size_t)n;
  for (;;) {
    fk_client_event ev;
    long used = fk_client_session_recv(c->s, p, left, &ev);
    if (used < 0) {
      drop_connection(c, (int)used);
      return;
    }
    p += used;
    left -= (size_t)used;
    if (ev.type == FK_CLIENT_NONE)
      break;
    deliver(c, &ev);
  }
  /* Without FCGI_KEEP_CONN the application closes the connection once it
   * has answered (spec 5.1); the next request needs a new one. */
  if (!fk_client_session_reusable(c->s) &&
      fk_client_session_in_flight(c->s) == 0)
    drop_connection(c, FK_OK);
}

static void on_io(fk_loop *loop, int fd, unsigned ready, void *arg) {
  (void)loop;
  (void)fd;
  fk_client_async *c = arg;
  if (c->connecting && (ready & FK_LOOP_WRITE)) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      drop_connection(c, FK_E_SYSTEM);
      errno = err;
      fail_waiting(c, FK_E_SYSTEM);
      return;
    }
    c->connecting = 0;
    fk_loop_cancel(c->loop, c->connect_timer);
    c->connect_timer = NULL;
  }
  c->busy = 1;
  if (c->fd >= 0 && (ready & FK_LOOP_READ) && !c->connecting)
    receive(c);
  c->busy = 0;
  pump(c);
}

/* --- Public calls ------------------------------------------------------------
 */

int fk_client_async_open(fk_client_async **out, fk_loop *loop,
                         const char *address, const fk_client_options *opt) {
  fk_client_options o;
  *out = NULL;
  if (loop == NULL || address == NULL)
    return FK_E_INVAL;
  if (opt == NULL)
    fk_client_options_init(&o);
  fk_client_async *c = zalloc(opt ? opt->allocator : NULL, sizeof *c);
  if (c == NULL)
    return FK_E_NOMEM;
  c->opt = opt ? *opt : o;
  c->loop = loop;
  c->fd = -1;
  c->max_requests = 1;
  size_t len = strlen(address) + 1;
  c->address = fk__alloc(c->opt.allocator, len);
  c->rbuf = fk__alloc(c->opt.allocator, READ_SIZE);
  if (c->address == NULL || c->rbuf == NULL) {
    fk_client_async_close(c);
    return FK_E_NOMEM;
  }
  memcpy(c->address, address, len);
  *out = c;
  return FK_OK;
}

int fk_client_async_set_max_requests(fk_client_async *c, unsigned max) {
  if (max == 0 || max > 65535)
    return FK_E_INVAL;
  c->max_requests = max;
  return c->s ? fk_client_session_set_max_requests(c->s, max) : FK_OK;
}

static int valid_body(const fk_client_body *b) {
  return b->kind == FK_BODY_NONE ||
         (b->kind == FK_BODY_MEMORY && (b->data != NULL || b->len == 0));
}

/* What would only fail once on the wire is refused here, before anything
 * is queued: the other requests on the connection are not disturbed. */
static int valid_request(const fk_client_request *q) {
  if (q == NULL || q->role > 0xffff || (q->flags & ~(unsigned)FK_KEEP_CONN) ||
      !valid_body(&q->body) || !valid_body(&q->data) ||
      (q->nparams > 0 && q->params == NULL))
    return 0;
  for (size_t i = 0; i < q->nparams; i++)
    if (q->params[i].name == NULL)
      return 0;
  return 1;
}

int fk_client_async_submit(fk_client_async *c, const fk_client_request *req,
                           fk_client_done_fn done, unsigned *handle) {
  if (c->closing)
    return FK_E_STATE;
  if (!valid_request(req))
    return FK_E_INVAL;
  areq *r = zalloc(c->opt.allocator, sizeof *r);
  if (r == NULL)
    return FK_E_NOMEM;
  r->owner = c;
  r->req = *req;
  r->done = done;
  r->handle = ++c->next_handle ? c->next_handle : ++c->next_handle;
  if (c->waiting_tail)
    c->waiting_tail->next = r;
  else
    c->waiting = r;
  c->waiting_tail = r;
  if (handle)
    *handle = r->handle;
  if (!c->busy) /* from a callback, on_io pumps when it is done */
    pump(c);
  return FK_OK;
}

int fk_client_async_cancel(fk_client_async *c, unsigned handle) {
  for (areq **pp = &c->waiting; *pp; pp = &(*pp)->next) {
    areq *r = *pp;
    if (r->handle == handle) {
      *pp = r->next;
      if (c->waiting_tail == r) {
        c->waiting_tail = NULL;
        for (areq *t = c->waiting; t; t = t->next)
          c->waiting_tail = t;
      }
      finish(r, FK_E_ABORTED);
      fk__free(c->opt.allocator, r);
      return FK_OK;
    }
  }
  for (size_t i = 0; i < c->nactive; i++) {
    areq *r = c->active[i];
    if (r && r->handle == handle && !r->finished) {
      if (fk_client_session_abort(c->s, r->id) == FK_OK)
        r->res.aborted = 1;
      finish(r, FK_E_ABORTED);
      if (!c->busy)
        pump(c);
      return FK_OK;
    }
  }
  return FK_E_INVAL;
}

unsigned fk_client_async_in_flight(const fk_client_async *c) {
  unsigned n = 0;
  for (const areq *r = c->waiting; r; r = r->next)
    n++;
  return n + (c->s ? fk_client_session_in_flight(c->s) : 0);
}

void fk_client_async_close(fk_client_async *c) {
  if (c == NULL)
    return;
  const fk_allocator *a = c->opt.allocator;
  c->closing = 1; /* a done() called from here may not submit again */
  drop_connection(c, FK_E_ABORTED);
  fail_waiting(c, FK_E_ABORTED);
  fk__free(a, c->active);
  fk__free(a, c->rbuf);
  fk__free(a, c->address);
  fk__free(a, c);
}
