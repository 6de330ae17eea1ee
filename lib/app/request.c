/*
 * Requests: creation, the handler's view of its input, and the end.
 */
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"

fk_request *fk__request_new(fk__conn *c, unsigned id, unsigned role,
                            unsigned flags, const fk__handler_entry *handler) {
  fk_server *s = c->worker->server;
  fk_request *r = fk__alloc(s->cfg.allocator, sizeof *r);
  if (r == NULL)
    return NULL;
  memset(r, 0, sizeof *r);
  r->conn = c;
  r->id = id;
  r->role = role;
  r->flags = flags;
  r->state = FK__REQ_PARAMS;
  r->handler = handler;
  /* Spec 6.3: an Authorizer has no body to stream. */
  r->streaming = s->cfg.stream_body && role != FK_AUTHORIZER;
  r->in_state = FK__REQ_PARAMS;
  fk_params_init(&r->params, s->cfg.allocator, s->cfg.max_params_bytes,
                 s->cfg.max_params);
  fk__body_init(&r->in);
  fk__body_init(&r->data);
  r->out = s->cfg.handler_threads ? &r->own : &c->out;
  atomic_init(&r->aborted, 0);
  return r;
}

void fk__request_free(fk_request *r) {
  fk__sb_request_end(r);
  const fk_allocator *a = r->conn->worker->server->cfg.allocator;
  fk_params_free(&r->params);
  fk__body_free(&r->in, a);
  fk__body_free(&r->data, a);
  fk__buf_free(&r->own, a);
  fk__free(a, r);
}

/* Input complete: run the handler here, or queue it for the pool. */
void fk__request_ready(fk_request *r) {
  fk_server *s = r->conn->worker->server;
  if (s->cfg.handler_threads) {
    r->state = FK__REQ_QUEUED;
    fk__pool_push(s, r);
    return;
  }
  fk__request_run(r);
  fk__conn_release(r->conn, r);
}

/* The request is answered: its id is free and it stops counting against
 * max_reqs (spec 3.3), though its memory goes only when it is released.
 * It counts as served here, when its END_REQUEST is queued on a live
 * connection: a web server that closes the connection as soon as it has
 * read END_REQUEST may do so before the request is released. */
static void mark_done(fk_request *r) {
  fk_server *s = r->conn->worker->server;
  r->state = FK__REQ_DONE;
  atomic_fetch_sub(&s->reqs, 1);
  atomic_fetch_sub(&r->conn->active, 1);
  if (!atomic_load(&r->conn->dead))
    fk__server_count_served(s);
}

/* Runs the handler and queues the end of the request. On a handler thread
 * the request then goes back to its worker to be released; inline, the
 * caller releases it. */
/* After a streaming handler: input that still comes is dropped. A body
 * over max_body that the handler did not answer gets the 413 it would
 * have had without streaming. */
static void stream_end(fk_request *r) {
  fk__conn *c = r->conn;
  pthread_mutex_lock(&c->lock);
  int too_large =
      r->in.err == FK_E_BODY_TOO_LARGE || r->data.err == FK_E_BODY_TOO_LARGE;
  int gave_back = fk__stream_close(r);
  pthread_mutex_unlock(&c->lock);
  if (gave_back)
    fk__worker_post_resume(c->worker, c);
  if (too_large && !r->stdout_used) {
    const char *resp = fk__refusal(FK_E_BODY_TOO_LARGE);
    fk__out_stream(r, FK_STDOUT, resp, strlen(resp));
  }
}

void fk__request_run(fk_request *r) {
  r->state = FK__REQ_RUNNING;
  r->handler->fn(r, r->handler->arg);
  if (r->streaming)
    stream_end(r);
  /* Spec 3.3: the id is free once END_REQUEST is sent, and the web server
   * may reuse it at once, before the worker has released this request:
   * mark it done before the END_REQUEST can leave. */
  mark_done(r);
  fk__out_finish(r);
  if (r->out == &r->own)
    fk__worker_post_done(r->conn->worker, r);
}

void fk__request_end_early(fk_request *r, const char *response,
                           uint32_t app_status) {
  /* Small and bounded, so encoded on the stack and queued as it is. */
  uint8_t msg[1024];
  size_t len = response ? strlen(response) : 0, n = 0;
  if (len > 0)
    n = fk_encode_stream(msg, sizeof msg - 2 * FK_END_REQUEST_SIZE, FK_STDOUT,
                         r->id, response, len);
  n += fk_encode_stream_end(msg + n, FK_STDOUT, r->id);
  n += fk_encode_end_request(msg + n, r->id, app_status, FK_REQUEST_COMPLETE);
  fk__conn_queue(r->conn, msg, n);
  mark_done(r);
  fk__conn_release(r->conn, r);
}

/* --- Public calls -------------------------------------------------------- */

unsigned fk_request_id(const fk_request *req) { return req->id; }
unsigned fk_request_role(const fk_request *req) { return req->role; }
uint64_t fk_request_conn_id(const fk_request *req) { return req->conn->id; }

unsigned fk_request_conn_inflight(const fk_request *req) {
  return atomic_load(&req->conn->active);
}

int fk_request_keep_conn(const fk_request *req) {
  return (req->flags & FK_KEEP_CONN) != 0;
}

const char *fk_param(const fk_request *req, const char *name) {
  return fk_params_get(&req->params, name, NULL);
}

const char *fk_param_len(const fk_request *req, const char *name, size_t *len) {
  return fk_params_get(&req->params, name, len);
}

size_t fk_param_count(const fk_request *req) {
  return fk_params_count(&req->params);
}

int fk_param_at(const fk_request *req, size_t i, const char **name,
                const char **value, size_t *value_len) {
  size_t name_len;
  return fk_params_at(&req->params, i, name, &name_len, value, value_len);
}

/* While a body streams the worker adds to its length: read it under the
 * lock. */
static uint64_t length_of(const fk_request *req, const fk__body *b) {
  if (!req->streaming)
    return b->length;
  pthread_mutex_lock(&req->conn->lock);
  uint64_t n = b->length;
  pthread_mutex_unlock(&req->conn->lock);
  return n;
}

uint64_t fk_body_length(const fk_request *req) {
  return length_of(req, &req->in);
}

uint64_t fk_data_length(const fk_request *req) {
  return length_of(req, &req->data);
}

static long read_body(fk_request *req, fk__body *b, void *buf, size_t len) {
  if (req->streaming)
    return fk__stream_read(req, b, buf, len);
  return fk__body_read(b, req->conn->worker->server, buf, len);
}

long fk_read(fk_request *req, void *buf, size_t len) {
  return read_body(req, &req->in, buf, len);
}

long fk_read_data(fk_request *req, void *buf, size_t len) {
  return read_body(req, &req->data, buf, len);
}

int fk_read_body(fk_request *req, size_t limit, const void **data,
                 size_t *len) {
  if (req->in.rpos != 0 || req->streaming)
    return FK_E_STATE;
  if (req->in.fd >= 0 || req->in.length > limit)
    return FK_E_BODY_TOO_LARGE;
  *data = req->in.mem.data ? req->in.mem.data : (const void *)"";
  *len = (size_t)req->in.length;
  return FK_OK;
}

void fk_set_exit_status(fk_request *req, int status) {
  req->exit_status = status;
}

int fk_aborted(const fk_request *req) { return atomic_load(&req->aborted); }
