/*
 * Internal: the application runtime's objects and how they relate.
 *
 *   fk_server  settings, handlers, listening sockets, workers, handler pool
 *   worker     one I/O thread: an epoll loop over the connections it
 *              accepted, and a read buffer all of them share
 *   conn       one connection from a web server: parser, output queue,
 *              the requests in flight on it (multiplexing)
 *   request    one FastCGI request: params, body, output state
 *
 * Ownership: a worker owns its connections; a connection owns its
 * requests. Only the worker's thread creates, releases or frees them. A
 * handler thread (handler_threads > 0) touches a connection only under
 * conn->lock, to queue output, and hands a finished request back to the
 * worker through its done queue.
 */
#ifndef FK_APP_INTERNAL_H
#define FK_APP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/core.h"
#include "fcgikit/app.h"
#include "unix/unix.h"
#include "scoreboard.h"

/* --- A request body (STDIN or DATA) -------------------------------------- */

/* The worker's read buffer: what one recv(2) takes from a connection. */
#define FK__READ_BUFFER (64u << 10)

/* Whole bodies: the first body_memory bytes stay in mem; the rest goes to
 * an unlinked temporary file, gathered in stage first so that the file
 * sees a few large writes rather than one per STDIN record. Reading never
 * blocks on the network.
 *
 * Streamed bodies (stream_body): the bytes not yet read wait in a ring;
 * the worker adds, the handler takes, both with conn->lock held. When more
 * than body_memory is waiting the request is `over` and its connection is
 * not read (conn->input_full counts such requests) until the handler has
 * taken enough.
 *
 * A handler that waits for its body while its request is alone on the
 * connection gets the socket itself (conn->reader): from then on it reads
 * the records' content straight into its own buffer, and the worker
 * neither reads nor parses until the handler gives the socket back (the
 * body ended, another record came, or the handler returned). */
typedef struct fk__body {
  fk__buf mem;
  int fd;          /* spill file, -1 until needed */
  uint64_t length; /* bytes received */
  uint64_t rpos;   /* bytes handed to the reader */
  uint8_t *stage;  /* spill bytes not yet written, NULL until spilling */
  size_t staged;
  /* streaming */
  uint8_t *ring;
  size_t ring_cap, ring_head, ring_len; /* unread: ring_len from ring_head */
  int ended;   /* the stream's empty record came, or input failed */
  int err;     /* why input failed: what the reader gets after the bytes */
  int over;    /* counted in conn->input_full */
  int closed;  /* the handler returned: what comes is dropped */
  int waiting; /* the handler has waited for input: it reads as it comes */
} fk__body;

void fk__body_init(fk__body *b);
int fk__body_append(fk__body *b, const fk_server *s, const uint8_t *p,
                    size_t n);
/* The end of a whole body: staged bytes go to the file. */
int fk__body_finish(fk__body *b, const fk_server *s);
long fk__body_read(fk__body *b, const fk_server *s, void *buf, size_t len);
void fk__body_free(fk__body *b, const fk_allocator *a);
/* Where bodies spill (cfg.tmpdir, $TMPDIR or /tmp), and whether a spill
 * file can be made there now (FK_OK, or FK_E_IO with errno set). */
const char *fk__spill_dir(const fk_server *s);
int fk__spill_check(const fk_server *s);

/* --- Requests ------------------------------------------------------------ */

enum fk__req_state {
  FK__REQ_PARAMS,  /* receiving PARAMS */
  FK__REQ_STDIN,   /* receiving STDIN */
  FK__REQ_DATA,    /* receiving DATA (Filter) */
  FK__REQ_QUEUED,  /* waiting for a handler thread */
  FK__REQ_RUNNING, /* in its handler */
  FK__REQ_DONE     /* END_REQUEST queued; waiting to be released */
};

struct fk__conn;
struct fk__handler_entry;

struct fk_request {
  struct fk__conn *conn;
  unsigned id, role, flags;
  atomic_int state; /* a handler thread sets RUNNING and DONE */
  const struct fk__handler_entry *handler;
  fk_params params;
  fk__body in, data;
  /* Output: records are encoded straight into *out, which is conn->out
   * for handlers on the I/O thread and own for handler threads. The record
   * being filled starts at open_off (when open_type is not 0). */
  fk__buf *out;
  fk__buf own;
  size_t open_off;
  unsigned open_type;
  int stderr_used;
  int stdout_used;
  int exit_status;
  /* stream_body: the handler runs while input arrives. in_state says what
   * is being received (FK__REQ_STDIN, FK__REQ_DATA, then FK__REQ_DONE);
   * the worker alone uses it. */
  int streaming;
  int in_state;
  atomic_int aborted;
  int sb_counted;          /* counted in the scoreboard as in progress */
  unsigned sb_entry;       /* its scoreboard entry + 1, or 0 */
  struct fk_request *next; /* handler queue or done queue */
};

/* --- Connections --------------------------------------------------------- */

struct fk__worker;

typedef struct fk__conn {
  struct fk__worker *worker;
  int fd;
  uint64_t id;        /* serial number, for fk_request_conn_id() */
  atomic_uint active; /* requests in flight, done ones not counted */
  fk_parser parser;
  pthread_mutex_t lock; /* out, dead, events, streamed input: shared with
                          handlers */
  /* Broadcast when out falls below max_output, streamed input arrives, a
   * request is aborted or the connection dies: writers waiting for room
   * and readers waiting for input both wait here. */
  pthread_cond_t drained;
  fk__buf out;
  fk_request **reqs; /* in flight, unordered */
  unsigned nreqs, reqs_cap;
  fk_params *values;   /* a GET_VALUES query being received */
  atomic_int dead;     /* transport gone or protocol error: no more I/O */
  int close_when_idle; /* a request without KEEP_CONN was seen */
  int begun;           /* a BEGIN_REQUEST came: no longer a fresh one */
  uint32_t events;     /* what epoll watches for now */
  int registered;      /* in the worker's epoll set (fk__conn_start) */
  int read_paused;     /* EPOLLIN off: too much output queued */
  unsigned input_full; /* streamed requests over body_memory: EPOLLIN off */
  int input_arrived;   /* streamed input this round: wake readers at its end */
  int in_loop;         /* the worker is dispatching its input right now */
  int closed;          /* socket closed; memory freed after this round */
  /* The request whose handler reads the socket itself (see fk__body), or
   * NULL. While it is set the parser is the handler's, and carry holds
   * the bytes of a header it read that were not for it: the worker feeds
   * them to the parser before anything else once it has the socket back. */
  fk_request *reader;
  /* The request whose handler thread is writing a large write straight
   * from its memory to the socket, or NULL: meanwhile nobody else writes
   * the socket, output of others waits in out, and the writer sends it
   * when it is done (output.c). Under lock. */
  fk_request *writer;
  uint8_t carry[FK_HEADER_LEN];
  unsigned carry_len;
  struct fk__conn *resume_next; /* worker's resumed list, under done_lock */
  int resume_posted;
  struct fk__conn *prev, *next;
} fk__conn;

/* --- Workers and the server ---------------------------------------------- */

typedef struct fk__worker {
  fk_server *server;
  unsigned index;
  pthread_t thread;
  fk__loop loop;
  uint8_t *rbuf;
  size_t rbuf_size;
  fk__conn *conns;     /* list of live connections */
  fk__conn *graveyard; /* closed this round, freed at its end */
  unsigned nconns;
  int stop_seen;
  struct timespec stop_deadline;
  int stop_forced; /* the deadline passed and connections were closed */
  struct timespec fresh_deadline; /* until then a stop spares fresh ones */
  int fresh_expired;
  int reserve_fd; /* spare fd given up to shed a connection on EMFILE */
  pthread_mutex_t done_lock;
  fk_request *done;  /* finished on handler threads, to release here */
  fk__conn *resumed; /* sockets given back by handlers, to read again */
} fk__worker;

typedef struct fk__handler_entry {
  unsigned role;
  fk_handler fn;
  void *arg;
} fk__handler_entry;

typedef struct fk__listener {
  int fd;
  char *unix_path; /* socket file to remove at the end, or NULL */
  dev_t dev;       /* ... if it is still the one we made */
  ino_t ino;
} fk__listener;

struct fk_server {
  fk_config cfg;
  fk__handler_entry *handlers;
  size_t nhandlers;
  fk__listener *listeners;
  size_t nlisteners;
  fk__addr_list web_server_addrs;
  int check_addrs;
  fk__worker *workers;
  unsigned nworkers;
  atomic_int running;
  atomic_int stopping;
  /* fk_server_stop() may run on any thread or in a signal handler while
   * fk_server_run() sets up or tears down: it wakes the first `wakeable`
   * workers, and the teardown waits until no stop is waking any. */
  atomic_uint wakeable;
  atomic_int waking;
  atomic_uint conns;
  atomic_uint reqs;
  atomic_ulong served;
  atomic_uint workers_unlistened;
  atomic_ullong conn_serial;
  /* handler pool */
  pthread_t *pool;
  unsigned npool;
  pthread_mutex_t queue_lock;
  pthread_cond_t queue_cond;
  fk_request *queue_head, *queue_tail;
  int pool_exit;
  fk_sb_slot *sb;           /* fcgikitd's scoreboard page, or NULL */
  uint64_t sb_max_requests; /* the manager's pm.max_requests, 0 = none */
};

/* --- Cross-module calls -------------------------------------------------- */

/* scoreboard.c: reporting to fcgikitd (no-ops without its scoreboard). */
void fk__sb_attach(fk_server *s);
void fk__sb_detach(fk_server *s);
void fk__sb_request_start(fk_request *r);
void fk__sb_request_end(fk_request *r);
void fk__sb_served(fk_server *s);
void fk__sb_conn(fk_server *s, int delta);

void fk__log(const fk_server *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const fk__handler_entry *fk__server_handler(const fk_server *s, unsigned role);

/* conn.c */
fk__conn *fk__conn_new(fk__worker *w, int fd);
void fk__conn_start(fk__conn *c);
void fk__conn_on_readable(fk__conn *c, uint32_t events);
void fk__conn_on_writable(fk__conn *c);
void fk__conn_flush(fk__conn *c);
void fk__conn_release(fk__conn *c, fk_request *r);
void fk__conn_check_idle(fk__conn *c);
void fk__conn_kill(fk__conn *c, int err);
/* On the worker, once a handler has given the socket back: what it read
 * past its body is parsed, and reading goes on. */
void fk__conn_resume(fk__conn *c);
/* With c->lock held: sets what epoll watches from read_paused,
 * input_full, reader and the output queue. */
void fk__conn_update_events(fk__conn *c);
/* The response that ends a request refused for err (413, 431, 500). */
const char *fk__refusal(int err);
void fk__conn_free(fk__conn *c);
/* On a handler thread, with c->lock held: waits until c->out has room for
 * r's output (r NULL: for the end of a request, which is sent even after
 * an abort). Returns FK_OK, FK_E_ABORTED (connection gone or r aborted)
 * or FK_E_TIMEOUT. */
int fk__conn_wait_room(fk__conn *c, fk_request *r);
/* Queues bytes on c->out (takes c->lock). For the worker's own small
 * replies: management records, rejections. */
void fk__conn_queue(fk__conn *c, const void *p, size_t n);
/* Writes what it can of c->out without blocking; with c->lock held. */
int fk__conn_write_locked(fk__conn *c);

/* request.c */
fk_request *fk__request_new(fk__conn *c, unsigned id, unsigned role,
                            unsigned flags, const fk__handler_entry *handler);
void fk__request_free(fk_request *r);
void fk__request_ready(fk_request *r);
void fk__request_run(fk_request *r);
/* Ends a request that never reached its handler (abort, limit): an empty
 * STDOUT, optional message, END_REQUEST; then releases it. */
void fk__request_end_early(fk_request *r, const char *response,
                           uint32_t app_status);

/* body.c, streaming. On the worker: adds n bytes to a streamed body, or
 * ends it (end set); wakes its reader. */
void fk__stream_push(fk_request *r, fk__body *b, const uint8_t *p, size_t n,
                     int end);
/* On the handler thread: waits for bytes, the end or an abort. */
long fk__stream_read(fk_request *r, fk__body *b, void *buf, size_t len);
/* The handler returned, or the request is released: input for it is
 * dropped and no longer holds its connection back; a socket the handler
 * was reading goes back to the worker. With c->lock held. Returns nonzero
 * when it did: the worker is then told (fk__worker_post_resume), from the
 * handler thread, once the lock is released. */
int fk__stream_close(fk_request *r);

/* output.c */
int fk__out_stream(fk_request *r, unsigned type, const void *p, size_t n);
void fk__out_close_record(fk_request *r);
int fk__out_finish(fk_request *r);
int fk__out_push(fk_request *r);

/* server.c */
void fk__pool_push(fk_server *s, fk_request *r);
void fk__worker_post_done(fk__worker *w, fk_request *r);
void fk__worker_post_resume(fk__worker *w, fk__conn *c);
void fk__server_count_served(fk_server *s);

#endif
