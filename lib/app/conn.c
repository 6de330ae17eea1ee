/*
 * Connections: bytes in, events out, requests driven through their
 * streams; management records answered here, by the library (spec 4.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

#include "app/internal.h"

/* A GET_VALUES record holds at most 65535 bytes: these bound the query. */
#define VALUES_MAX_BYTES FK_MAX_CONTENT
#define VALUES_MAX_PAIRS 1024
/* Reads of one connection at most per readiness event. */
#define READS_IN_A_ROW 4

static const fk_allocator *alloc_of(const fk__conn *c) {
  return c->worker->server->cfg.allocator;
}

fk__conn *fk__conn_new(fk__worker *w, int fd) {
  fk__conn *c = fk__alloc(w->server->cfg.allocator, sizeof *c);
  if (c == NULL)
    return NULL;
  memset(c, 0, sizeof *c);
  c->worker = w;
  c->fd = fd;
  c->id = atomic_fetch_add(&w->server->conn_serial, 1) + 1;
  fk_parser_init(&c->parser);
  if (pthread_mutex_init(&c->lock, NULL) != 0)
    goto fail_free;
  /* fk__conn_wait_room's deadline is on the monotonic clock. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&c->drained, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0)
    goto fail_mutex;
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  w->nconns++;
  return c;
fail_mutex:
  pthread_mutex_destroy(&c->lock);
fail_free:
  fk__free(w->server->cfg.allocator, c);
  return NULL;
}

/* Unlinks c from its worker and closes the socket; the memory goes once
 * the worker has finished the events of this round (fk__conn_free). */
static void conn_close(fk__conn *c) {
  fk__worker *w = c->worker;
  if (c->closed)
    return;
  c->closed = 1;
  if (c->registered)
    fk__loop_del(&w->loop, c->fd);
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  w->nconns--;
  atomic_fetch_sub(&w->server->conns, 1);
  fk__sb_conn(w->server, -1);
  c->next = w->graveyard;
  w->graveyard = c;
}

void fk__conn_free(fk__conn *c) {
  const fk_allocator *a = alloc_of(c);
  if (c->values) {
    fk_params_free(c->values);
    fk__free(a, c->values);
  }
  fk__buf_free(&c->out, a);
  fk__free(a, c->reqs);
  pthread_cond_destroy(&c->drained);
  pthread_mutex_destroy(&c->lock);
  fk__free(a, c);
}

/* --- Output queue -------------------------------------------------------- */

/* With c->lock held: EPOLLIN unless reading is paused (too much output
 * queued, or a streamed body waiting for its handler) or a handler reads
 * the socket itself, EPOLLOUT while output waits for the socket and no
 * handler is writing it. */
static uint32_t events_wanted(const fk__conn *c) {
  return (c->read_paused || c->input_full || c->reader ? 0 : EPOLLIN) |
         (fk__buf_pending(&c->out) && !c->writer ? EPOLLOUT : 0);
}

/* With c->lock held: epoll watches for what events_wanted says. Handler
 * threads call this too, to resume reading. */
void fk__conn_update_events(fk__conn *c) {
  if (c->closed || c->dead || !c->registered)
    return; /* fk__conn_start registers it with what it wants by then */
  uint32_t want = events_wanted(c);
  if (want != c->events && fk__loop_mod(&c->worker->loop, c->fd, want, c) == 0)
    c->events = want;
}

int fk__conn_write_locked(fk__conn *c) {
  fk__buf *b = &c->out;
  if (c->writer != NULL)
    return FK_OK; /* its writer sends the queue when it is done */
  while (fk__buf_pending(b) > 0 && !c->dead) {
    ssize_t n = send(c->fd, b->data + b->pos, fk__buf_pending(b),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      b->pos += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      /* The web server went away. Wake the worker, which cleans up: a
       * handler thread may not touch the connection's lifetime. */
      c->dead = 1;
      shutdown(c->fd, SHUT_RDWR);
      pthread_cond_broadcast(&c->drained);
      return FK_E_ABORTED;
    }
  }
  if (fk__buf_pending(b) == 0)
    b->pos = b->len = 0;
  if (fk__buf_pending(b) <= c->worker->server->cfg.max_output)
    pthread_cond_broadcast(&c->drained);
  fk__conn_update_events(c);
  return FK_OK;
}

int fk__conn_wait_room(fk__conn *c, fk_request *r) {
  const fk_config *cfg = &c->worker->server->cfg;
  struct timespec deadline;
  fk__deadline_in(&deadline, cfg->io_timeout_ms);
  while (!c->dead && !(r && atomic_load(&r->aborted)) &&
         fk__buf_pending(&c->out) > cfg->max_output) {
    if (cfg->io_timeout_ms == 0) {
      pthread_cond_wait(&c->drained, &c->lock);
    } else if (pthread_cond_timedwait(&c->drained, &c->lock, &deadline) ==
               ETIMEDOUT) {
      fk__log(c->worker->server, FK_LOG_WARNING,
              "request %u: web server did not read output for %u ms; "
              "closing the connection",
              r ? r->id : 0, cfg->io_timeout_ms);
      c->dead = 1;
      shutdown(c->fd, SHUT_RDWR);
      return FK_E_TIMEOUT;
    }
  }
  return c->dead || (r && atomic_load(&r->aborted)) ? FK_E_ABORTED : FK_OK;
}

void fk__conn_queue(fk__conn *c, const void *p, size_t n) {
  pthread_mutex_lock(&c->lock);
  if (!c->dead && fk__buf_append(&c->out, alloc_of(c), p, n) != FK_OK) {
    fk__log(c->worker->server, FK_LOG_ERROR,
            "out of memory queueing a reply; closing the connection");
    c->dead = 1;
  }
  pthread_mutex_unlock(&c->lock);
}

void fk__conn_flush(fk__conn *c) {
  const fk_config *cfg = &c->worker->server->cfg;
  pthread_mutex_lock(&c->lock);
  fk__conn_write_locked(c);
  /* A web server that sends requests but does not read the answers must
   * not make the queue grow: stop reading until it catches up. */
  if (!c->read_paused && fk__buf_pending(&c->out) > cfg->max_output) {
    c->read_paused = 1;
    fk__conn_update_events(c);
  }
  pthread_mutex_unlock(&c->lock);
}

void fk__conn_on_writable(fk__conn *c) {
  const fk_config *cfg = &c->worker->server->cfg;
  pthread_mutex_lock(&c->lock);
  fk__conn_write_locked(c);
  if (c->read_paused && fk__buf_pending(&c->out) <= cfg->max_output / 2) {
    c->read_paused = 0;
    fk__conn_update_events(c);
  }
  pthread_mutex_unlock(&c->lock);
  fk__conn_check_idle(c);
}

/* --- Requests in flight -------------------------------------------------- */

/* A request that is done waits for the worker to release it, but its id
 * is no longer active (spec 3.3): it is not found, nor counted. */
static fk_request *find_request(const fk__conn *c, unsigned id) {
  for (unsigned i = 0; i < c->nreqs; i++)
    if (c->reqs[i]->id == id && c->reqs[i]->state != FK__REQ_DONE)
      return c->reqs[i];
  return NULL;
}

static int add_request(fk__conn *c, fk_request *r) {
  if (c->nreqs == c->reqs_cap) {
    unsigned cap = c->reqs_cap ? c->reqs_cap * 2 : 4;
    fk_request **n = fk__realloc(alloc_of(c), c->reqs, cap * sizeof *n);
    if (n == NULL)
      return FK_E_NOMEM;
    c->reqs = n;
    c->reqs_cap = cap;
  }
  c->reqs[c->nreqs++] = r;
  atomic_fetch_add(&c->active, 1);
  return FK_OK;
}

void fk__conn_release(fk__conn *c, fk_request *r) {
  fk_server *s = c->worker->server;
  if (r->streaming) {
    pthread_mutex_lock(&c->lock);
    fk__stream_close(r);
    pthread_mutex_unlock(&c->lock);
  }
  for (unsigned i = 0; i < c->nreqs; i++) {
    if (c->reqs[i] == r) {
      c->reqs[i] = c->reqs[--c->nreqs];
      break;
    }
  }
  int done = r->state == FK__REQ_DONE;
  fk__request_free(r);
  if (!done) { /* a done request was uncounted by mark_done */
    atomic_fetch_sub(&s->reqs, 1);
    atomic_fetch_sub(&c->active, 1);
  }
}

void fk__conn_check_idle(fk__conn *c) {
  if (c->closed || c->in_loop)
    return;
  fk_server *s = c->worker->server;
  if (c->dead) {
    fk__conn_kill(c, FK_OK);
    return;
  }
  if (c->nreqs > 0 || fk__buf_pending(&c->out) > 0)
    return;
  if (c->out.cap > 0) {
    /* Idle connections keep no buffers: thousands of them stay cheap. */
    fk__buf_free(&c->out, alloc_of(c));
  }
  /* Spec 5.1: without FCGI_KEEP_CONN the application closes the
   * connection once it has answered. A stopping server closes idle ones,
   * but a connection it accepted whose first request has not arrived yet
   * gets a moment for it: a web server that just connected has a request
   * on its way, and closing would fail it where a reused connection's
   * close is one web servers retry. */
  if (c->close_when_idle ||
      (atomic_load(&s->stopping) && (c->begun || c->worker->fresh_expired)))
    conn_close(c);
}

void fk__conn_kill(fk__conn *c, int err) {
  if (c->closed)
    return;
  if (err != FK_OK && err != FK_E_CLOSED)
    fk__log(c->worker->server, FK_LOG_WARNING, "closing connection: %s",
            fk_strerror(err));
  pthread_mutex_lock(&c->lock);
  if (!c->dead) {
    c->dead = 1;
    shutdown(c->fd, SHUT_RDWR);
  }
  if (c->registered) {
    fk__loop_del(&c->worker->loop, c->fd);
    c->registered = 0;
  }
  pthread_cond_broadcast(&c->drained);
  pthread_mutex_unlock(&c->lock);
  /* Requests still receiving input are dropped; those in a handler learn
   * of it through fk_aborted() and come back through the done queue. */
  for (unsigned i = c->nreqs; i-- > 0;) {
    fk_request *r = c->reqs[i];
    atomic_store(&r->aborted, 1);
    if (r->state <= FK__REQ_DATA)
      fk__conn_release(c, r);
  }
  if (c->nreqs == 0 && !c->in_loop)
    conn_close(c);
}

/* --- Replies from the library -------------------------------------------- */

static void reply_end(fk__conn *c, unsigned id, unsigned protocol_status) {
  uint8_t rec[FK_END_REQUEST_SIZE];
  fk_encode_end_request(rec, id, 0, protocol_status);
  fk__conn_queue(c, rec, sizeof rec);
}

static void reply_unknown_type(fk__conn *c, unsigned type) {
  uint8_t rec[FK_UNKNOWN_TYPE_SIZE];
  fk_encode_unknown_type(rec, type);
  fk__conn_queue(c, rec, sizeof rec);
}

/* Spec 4.1: one GET_VALUES_RESULT naming each variable asked for that we
 * know, once, however often it was repeated. */
static void reply_values(fk__conn *c) {
  const fk_config *cfg = &c->worker->server->cfg;
  char conns[16], reqs[16];
  snprintf(conns, sizeof conns, "%u", cfg->max_conns);
  /* Web servers that multiplex (HAProxy) take FCGI_MAX_REQS as what one
   * connection may carry: never promise more than a connection takes. */
  unsigned max_reqs = cfg->max_reqs;
  if (cfg->multiplex && cfg->max_reqs_per_conn < max_reqs)
    max_reqs = cfg->max_reqs_per_conn;
  snprintf(reqs, sizeof reqs, "%u", max_reqs);
  const char *names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
  const char *values[] = {conns, reqs, cfg->multiplex ? "1" : "0"};
  int sent[3] = {0, 0, 0};
  uint8_t rec[FK_HEADER_LEN + 3 * 64 + 8];
  size_t len = FK_HEADER_LEN;
  for (size_t i = 0; c->values && i < fk_params_count(c->values); i++) {
    const char *name, *value;
    size_t name_len, value_len;
    fk_params_at(c->values, i, &name, &name_len, &value, &value_len);
    for (int k = 0; k < 3; k++) {
      if (!sent[k] && strlen(names[k]) == name_len &&
          memcmp(names[k], name, name_len) == 0) {
        len += fk_nv_encode(rec + len, names[k], name_len, values[k],
                            strlen(values[k]));
        sent[k] = 1;
      }
    }
  }
  size_t content = len - FK_HEADER_LEN, pad = fk_padding_for(content);
  memset(rec + len, 0, pad);
  fk_header_encode(rec, FK_GET_VALUES_RESULT, 0, content, pad);
  fk__conn_queue(c, rec, len + pad);
  if (c->values)
    fk_params_reset(c->values);
}

static int on_values(fk__conn *c, const fk_event *ev) {
  if (ev->request_id != 0 || ev->record_type != FK_GET_VALUES)
    return FK_OK; /* answered with UNKNOWN_TYPE at the record's end */
  if (c->values == NULL) {
    c->values = fk__alloc(alloc_of(c), sizeof *c->values);
    if (c->values == NULL) {
      /* Answered all the same, naming nothing: the query is not the
       * web server's mistake. */
      fk__log(c->worker->server, FK_LOG_ERROR,
              "out of memory reading FCGI_GET_VALUES");
      return FK_OK;
    }
    fk_params_init(c->values, alloc_of(c), VALUES_MAX_BYTES, VALUES_MAX_PAIRS);
  }
  /* A query over the bounds is answered from the names that fit. */
  fk_params_feed(c->values, ev->data, ev->len);
  return FK_OK;
}

static int on_values_end(fk__conn *c, const fk_event *ev) {
  if (ev->request_id != 0)
    return FK_OK;
  if (ev->record_type == FK_GET_VALUES)
    reply_values(c);
  else
    reply_unknown_type(c, ev->record_type);
  return FK_OK;
}

/* --- Application records ------------------------------------------------- */

static unsigned admit(fk__conn *c, unsigned role,
                      const fk__handler_entry **handler) {
  fk_server *s = c->worker->server;
  *handler = fk__server_handler(s, role);
  if (*handler == NULL)
    return FK_UNKNOWN_ROLE;
  unsigned active = atomic_load(&c->active);
  if (!s->cfg.multiplex && active > 0)
    return FK_CANT_MPX_CONN;
  if (active >= s->cfg.max_reqs_per_conn)
    return FK_OVERLOADED;
  if (atomic_fetch_add(&s->reqs, 1) >= s->cfg.max_reqs) {
    atomic_fetch_sub(&s->reqs, 1);
    return FK_OVERLOADED;
  }
  return FK_REQUEST_COMPLETE;
}

static int on_begin(fk__conn *c, const fk_event *ev) {
  fk_server *s = c->worker->server;
  if (ev->request_id == FK_NULL_REQUEST_ID)
    return FK_E_REQUEST_ID;
  if (find_request(c, ev->request_id) != NULL)
    return FK_E_DUPLICATE_ID;
  c->begun = 1;
  if (!(ev->flags & FK_KEEP_CONN))
    c->close_when_idle = 1;
  const fk__handler_entry *handler;
  unsigned status = admit(c, ev->role, &handler);
  if (status != FK_REQUEST_COMPLETE) {
    fk__log(s, FK_LOG_INFO, "request %u (role %u) refused: %s", ev->request_id,
            ev->role, fk_protocol_status_name(status));
    reply_end(c, ev->request_id, status);
    return FK_OK;
  }
  fk_request *r =
      fk__request_new(c, ev->request_id, ev->role, ev->flags, handler);
  if (r == NULL || add_request(c, r) != FK_OK) {
    if (r)
      fk__request_free(r);
    atomic_fetch_sub(&s->reqs, 1);
    fk__log(s, FK_LOG_ERROR, "request %u: out of memory; FCGI_OVERLOADED",
            ev->request_id);
    reply_end(c, ev->request_id, FK_OVERLOADED);
  }
  return FK_OK;
}

static void on_abort(fk__conn *c, const fk_event *ev) {
  fk_request *r = find_request(c, ev->request_id);
  if (r == NULL)
    return; /* spec 3.3: records for inactive ids are ignored */
  if (r->state <= FK__REQ_DATA) {
    /* The handler never saw it: end it here, with an empty response. */
    fk__request_end_early(r, NULL, 0);
  } else {
    /* A handler thread waiting for output room wakes up and gives up. */
    pthread_mutex_lock(&c->lock);
    atomic_store(&r->aborted, 1);
    pthread_cond_broadcast(&c->drained);
    pthread_mutex_unlock(&c->lock);
  }
}

/* Ends a request whose input broke a limit with an HTTP answer the client
 * can understand, and ignores whatever else the web server sends for it. */
const char *fk__refusal(int err) {
  if (err == FK_E_BODY_TOO_LARGE)
    return "Status: 413 Content Too Large\r\nContent-Type: text/plain\r\n\r\n"
           "request body too large\n";
  if (err == FK_E_PARAMS_TOO_LARGE || err == FK_E_TOO_MANY_PARAMS)
    return "Status: 431 Request Header Fields Too Large\r\n"
           "Content-Type: text/plain\r\n\r\nrequest parameters too large\n";
  return "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
         "\r\nserver error\n";
}

static void refuse(fk_request *r, int err) {
  fk__log(r->conn->worker->server, FK_LOG_WARNING, "request %u refused: %s",
          r->id, fk_strerror(err));
  fk__request_end_early(r, fk__refusal(err), 0);
}

static int on_params(fk_request *r, const fk_event *ev) {
  if (r->state != FK__REQ_PARAMS)
    return FK_OK; /* after the end of PARAMS: ignored */
  if (ev->type == FK_EV_STREAM) {
    int rc = fk_params_feed(&r->params, ev->data, ev->len);
    if (rc != FK_OK)
      refuse(r, rc);
    return FK_OK;
  }
  int rc = fk_params_finish(&r->params);
  if (rc != FK_OK)
    return rc;
  fk__sb_request_start(r);
  /* Spec 6.3: an Authorizer gets no STDIN; one that comes is ignored. */
  if (r->role == FK_AUTHORIZER) {
    fk__request_ready(r);
  } else if (r->streaming) {
    /* The handler starts now and reads the body as it comes. */
    r->in_state = FK__REQ_STDIN;
    fk__request_ready(r);
  } else {
    r->state = FK__REQ_STDIN;
  }
  return FK_OK;
}

/* A streamed body: bytes and its end go to the handler already running. */
static void on_stream_input(fk_request *r, const fk_event *ev, unsigned stream,
                            fk__body *body) {
  int end = ev->type != FK_EV_STREAM;
  fk__stream_push(r, body, ev->data, ev->len, end);
  if (end && stream == FK_STDIN && r->role == FK_FILTER)
    r->in_state = FK__REQ_DATA;
  else if (end || body->err != FK_OK)
    r->in_state = FK__REQ_DONE;
}

static int on_input(fk_request *r, const fk_event *ev, unsigned stream,
                    int state, fk__body *body) {
  int at = r->streaming ? r->in_state : atomic_load(&r->state);
  if (at < state && (stream == FK_STDIN || r->role == FK_FILTER))
    return FK_E_STREAM_ORDER; /* spec 6.1: inputs arrive one after another */
  if (at != state)
    return FK_OK;
  if (r->streaming) {
    on_stream_input(r, ev, stream, body);
    return FK_OK;
  }
  fk_server *s = r->conn->worker->server;
  if (ev->type == FK_EV_STREAM) {
    int rc = fk__body_append(body, s, ev->data, ev->len);
    if (rc != FK_OK)
      refuse(r, rc);
    return FK_OK;
  }
  int rc = fk__body_finish(body, s);
  if (rc != FK_OK) {
    refuse(r, rc);
    return FK_OK;
  }
  if (stream == FK_STDIN && r->role == FK_FILTER)
    r->state = FK__REQ_DATA;
  else
    fk__request_ready(r);
  return FK_OK;
}

static int on_stream(fk__conn *c, const fk_event *ev) {
  fk_request *r = find_request(c, ev->request_id);
  if (r == NULL)
    return FK_OK;
  switch (ev->record_type) {
  case FK_PARAMS: return on_params(r, ev);
  case FK_STDIN: return on_input(r, ev, FK_STDIN, FK__REQ_STDIN, &r->in);
  case FK_DATA: return on_input(r, ev, FK_DATA, FK__REQ_DATA, &r->data);
  default: return FK_OK; /* STDOUT, STDERR: not for an application */
  }
}

static int dispatch(fk__conn *c, const fk_event *ev) {
  switch (ev->type) {
  case FK_EV_BEGIN: return on_begin(c, ev);
  case FK_EV_ABORT:
    if (ev->request_id == 0)
      reply_unknown_type(c, ev->record_type);
    else
      on_abort(c, ev);
    return FK_OK;
  case FK_EV_STREAM:
  case FK_EV_STREAM_END: return on_stream(c, ev);
  case FK_EV_VALUES: return on_values(c, ev);
  case FK_EV_VALUES_END: return on_values_end(c, ev);
  case FK_EV_END:
  case FK_EV_UNKNOWN_RECORD:
    /* Spec 4.2: a management record of a type we do not handle. */
    if (ev->request_id == 0)
      reply_unknown_type(c, ev->record_type);
    return FK_OK;
  default: return FK_OK; /* UNKNOWN_TYPE is an answer, not a question */
  }
}

/* Feeds input to the parser and dispatches the events it completes.
 * Returns 0, or -1 when the connection was killed. */
static int consume(fk__conn *c, const uint8_t *p, size_t left) {
  fk__worker *w = c->worker;
  int err = FK_OK;
  c->in_loop = 1;
  while (!c->dead) {
    fk_event ev;
    long used = fk_parser_feed(&c->parser, p, left, &ev);
    if (used < 0) {
      err = (int)used;
      fk__log(w->server, FK_LOG_WARNING, "malformed record at byte %llu",
              (unsigned long long)fk_parser_error_offset(&c->parser));
      break;
    }
    p += used;
    left -= (size_t)used;
    if (ev.type == FK_EV_NONE)
      break;
    if ((err = dispatch(c, &ev)) != FK_OK) {
      fk__log(w->server, FK_LOG_WARNING, "protocol error near byte %llu",
              (unsigned long long)c->parser.offset);
      break;
    }
  }
  c->in_loop = 0;
  if (err != FK_OK || c->dead) {
    fk__conn_kill(c, err);
    return -1;
  }
  return 0;
}

/* With c->lock held: takes the header a handler read before it gave the
 * socket back, which the parser gets before anything newer. Returns its
 * length (0: none, or the socket is still the handler's). */
static unsigned take_carry(fk__conn *c, uint8_t out[FK_HEADER_LEN]) {
  unsigned n = c->reader == NULL ? c->carry_len : 0;
  if (n > 0) {
    memcpy(out, c->carry, n);
    c->carry_len = 0;
  }
  return n;
}

/* One recv(2) and the records in it. Returns 1 when it filled the read
 * buffer (more is probably waiting), 0 when it did not, -1 when the
 * connection was killed. */
static int read_once(fk__conn *c) {
  fk__worker *w = c->worker;
  /* A worker that has never read holds no buffer: an idle second thread
   * costs no memory for it. */
  if (w->rbuf == NULL &&
      (w->rbuf = fk__alloc(alloc_of(c), w->rbuf_size)) == NULL) {
    fk__log(w->server, FK_LOG_ERROR,
            "out of memory for the read buffer; closing the connection");
    fk__conn_kill(c, FK_OK);
    return -1;
  }
  ssize_t n = recv(c->fd, w->rbuf, w->rbuf_size, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return 0;
  if (n <= 0) {
    if (n == 0 && !fk_parser_idle(&c->parser))
      fk__log(w->server, FK_LOG_INFO,
              "web server closed the connection "
              "in the middle of a record");
    fk__conn_kill(c, n == 0 ? FK_E_CLOSED : FK_E_IO);
    return -1;
  }
  if (consume(c, w->rbuf, (size_t)n) < 0)
    return -1;
  fk__conn_flush(c);
  return (size_t)n == w->rbuf_size;
}

/* Nonzero while reading is paused (output or streamed input). */
static int reading_paused(fk__conn *c) {
  pthread_mutex_lock(&c->lock);
  int paused = c->read_paused || c->input_full > 0;
  pthread_mutex_unlock(&c->lock);
  return paused;
}

/* A streamed body whose handler is waiting for it, alone on its
 * connection, with the parser in its content or between records: the
 * handler takes the socket and reads the rest straight into its buffer,
 * without the copies into the ring and out of it, nor a wake-up for
 * every piece (body.c). */
static void hand_over(fk__conn *c) {
  if (c->nreqs != 1 || c->closed || !c->reqs[0]->streaming)
    return;
  fk_request *r = c->reqs[0];
  pthread_mutex_lock(&c->lock);
  /* A handler reading the socket owns the parser and in_state. */
  fk__body *b = c->reader != NULL || c->carry_len > 0 || c->dead ? NULL
                : r->in_state == FK__REQ_STDIN                   ? &r->in
                : r->in_state == FK__REQ_DATA                    ? &r->data
                                                                 : NULL;
  fk_header h;
  if (b != NULL && b->waiting && !b->ended && !b->closed &&
      (fk_parser_content_left(&c->parser, &h) > 0
           ? h.type == (b == &r->in ? FK_STDIN : FK_DATA) &&
                 h.request_id == r->id
           : fk_parser_until_header(&c->parser) > 0)) {
    c->reader = r;
    fk__conn_update_events(c);
    pthread_cond_broadcast(&c->drained);
  }
  pthread_mutex_unlock(&c->lock);
}

/* The end of a round of input: readers of streamed bodies are woken once,
 * and one may take the socket over. */
static void input_done(fk__conn *c) {
  if (c->input_arrived) {
    c->input_arrived = 0;
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->drained);
    pthread_mutex_unlock(&c->lock);
  }
  hand_over(c);
  fk__conn_check_idle(c);
}

void fk__conn_on_readable(fk__conn *c, uint32_t events) {
  uint8_t carry[FK_HEADER_LEN];
  pthread_mutex_lock(&c->lock);
  unsigned held = c->input_full + (c->reader != NULL);
  unsigned ncarry = take_carry(c, carry);
  pthread_mutex_unlock(&c->lock);
  if (held > 0) {
    /* Not reading, yet here: EPOLLHUP or EPOLLERR, and the web server is
     * gone both ways (reading on would break the bound on streamed input);
     * or readiness found before a handler, earlier in this round, took
     * the socket over. */
    if (events & (EPOLLHUP | EPOLLERR))
      fk__conn_kill(c, FK_E_CLOSED);
    return;
  }
  /* Nobody can give the socket back during this loop: only here, at its
   * end, is it handed over. */
  if (ncarry > 0 && consume(c, carry, ncarry) < 0)
    return;
  /* A connection that fills the read buffer is read a few times in a
   * row: a bulk upload then costs fewer wake-ups, here and for a handler
   * waiting for streamed input, which is woken once, at the end. */
  int rc;
  for (int i = 0; (rc = read_once(c)) > 0 && i < READS_IN_A_ROW - 1; i++)
    if (reading_paused(c))
      break;
  if (rc >= 0)
    input_done(c);
}

/* A new connection is read once before epoll hears of it. A web server
 * that writes its request as soon as it has connected (nginx does) is
 * answered by then, and a connection without FCGI_KEEP_CONN is closed
 * without ever entering the epoll set: two epoll_ctl calls and a wake-up
 * fewer per connection; the cost otherwise is one recv that finds
 * nothing. */
void fk__conn_start(fk__conn *c) {
  fk__conn_on_readable(c, EPOLLIN);
  if (c->closed)
    return;
  int err = 0;
  pthread_mutex_lock(&c->lock);
  /* A dead one waits unwatched for its handlers, as after fk__conn_kill. */
  if (!c->dead) {
    uint32_t want = events_wanted(c);
    if (fk__loop_add(&c->worker->loop, c->fd, want, c) == 0) {
      c->registered = 1;
      c->events = want;
    } else {
      err = errno;
    }
  }
  pthread_mutex_unlock(&c->lock);
  if (err != 0) {
    fk__log(c->worker->server, FK_LOG_ERROR, "epoll_ctl: %s", strerror(err));
    fk__conn_kill(c, FK_OK);
  }
}

void fk__conn_resume(fk__conn *c) {
  if (c->closed)
    return;
  uint8_t carry[FK_HEADER_LEN];
  pthread_mutex_lock(&c->lock);
  unsigned ncarry = take_carry(c, carry);
  pthread_mutex_unlock(&c->lock);
  if (ncarry > 0 && consume(c, carry, ncarry) < 0)
    return;
  fk__conn_flush(c);
  input_done(c);
}
