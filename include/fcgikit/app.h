/*
 * fcgikit application library: serve FastCGI requests.
 *
 * A server owns one or more listening sockets and a number of I/O threads,
 * each running its own event loop over the connections it accepted. When a
 * request's input is complete (PARAMS, then the whole of STDIN, and for a
 * Filter the whole of DATA, held in memory up to a threshold and in an
 * unlinked temporary file past it) the handler registered for its role is
 * called. By default it runs on the I/O thread itself, which is the fast
 * path: no hand-off between threads, one read and one write per short
 * request. A handler that blocks (a database call, a slow computation) must
 * not run there: set handler_threads and every handler runs on a pool of
 * threads of its own, where it may block as long as it likes without
 * delaying any connection.
 *
 * Reading the whole body before the handler runs is deliberate: nginx,
 * Apache mod_fcgid and Caddy stop sending a request body once the response
 * has started, so an application that answers a large POST before reading
 * it deadlocks behind them.
 *
 * An application that consumes a body as it arrives (an upload stored
 * elsewhere, a hash) can set stream_body instead: the handler is called as
 * soon as PARAMS is complete, and fk_read() returns the body's bytes as
 * they come, waiting for more. At most body_memory unread bytes (plus one
 * socket read, 64 KiB) are held per request; past that the connection is
 * not read until the handler has taken half of them. A handler waiting
 * for its body while its request is alone on the connection takes the
 * socket over: fk_read() then reads the records' content straight into
 * its buffer, and gives the socket back to the library for anything else
 * that comes (another request, a management record, an abort), or when
 * the body ends or the handler returns. Consequences:
 *   - read the body before writing a large response: behind the web
 *     servers named above, a handler that writes first waits for a web
 *     server that waits for it, until io_timeout_ms;
 *   - on a multiplexed connection, a request whose handler does not read
 *     holds back the bodies of the others on that connection, and one
 *     still waiting for a handler thread does too: give handler_threads
 *     at least as many threads as requests may stream at once;
 *   - a Filter reads STDIN to its end before fk_read_data().
 */
#ifndef FCGIKIT_APP_H
#define FCGIKIT_APP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fk_server fk_server;
typedef struct fk_request fk_request;

/* A handler serves one request. Everything it needs is reached through req,
 * which is valid until the handler returns. When it returns the library
 * ends the output streams and sends END_REQUEST with the exit status set by
 * fk_set_exit_status() (0 by default). */
typedef void (*fk_handler)(fk_request *req, void *arg);

/* Log levels for fk_config.log. */
enum fk_log_level { FK_LOG_ERROR = 0, FK_LOG_WARNING = 1, FK_LOG_INFO = 2,
                    FK_LOG_DEBUG = 3 };

/* Server settings: a plain struct. Fill it with fk_config_init(), change
 * what you need, pass it to fk_server_new(), which copies it. */
typedef struct fk_config {
  unsigned threads;          /* I/O threads; 0 = one per online CPU */
  unsigned handler_threads;  /* 0 = handlers run on the I/O threads */
  unsigned max_conns;        /* connections at once (FCGI_MAX_CONNS) */
  unsigned max_reqs;         /* requests in flight at once; FCGI_MAX_REQS
                                says the smaller of this and
                                max_reqs_per_conn when multiplexing */
  unsigned max_reqs_per_conn;/* requests in flight on one connection */
  int multiplex;             /* advertise and accept FCGI_MPXS_CONNS=1 */
  size_t max_params_bytes;   /* PARAMS name+value bytes per request */
  size_t max_params;         /* PARAMS pairs per request */
  size_t body_memory;        /* body bytes kept in memory before spilling */
  uint64_t max_body;         /* STDIN (and DATA) bytes; 0 = no limit */
  size_t max_output;         /* queued output per connection before a
                                writer waits for the web server */
  unsigned io_timeout_ms;    /* how long a writer waits for a web server
                                that does not read; 0 = forever */
  unsigned long max_requests;/* serve this many, then stop; 0 = never */
  unsigned stop_timeout_ms;  /* a stop waits this long for requests in
                                flight, then closes their connections;
                                0 = no limit */
  int socket_mode;           /* mode of a Unix socket created; -1 = umask */
  int backlog;               /* listen(2) backlog */
  int handle_signals;        /* SIGTERM/SIGINT stop gracefully, SIGPIPE
                                ignored (on by default) */
  const char *tmpdir;        /* for spilled bodies; NULL = $TMPDIR or /tmp */
  int stream_body;           /* call handlers once PARAMS is complete and
                                let fk_read() wait for the body (see the
                                top of this file); needs handler_threads */
  const fk_allocator *allocator; /* every allocation made while serving;
                                    NULL = libc */
  /* Where the library reports what a peer did wrong and what it could not
   * do. NULL = standard error when it is open. */
  void (*log)(int level, const char *msg, void *arg);
  void *log_arg;
} fk_config;

/* Defaults: threads 0 (one per CPU), handler_threads 0, max_conns 1024,
 * max_reqs 1024, max_reqs_per_conn 64, multiplex 1, max_params_bytes 1 MiB,
 * max_params 4096, body_memory 1 MiB, max_body 0, max_output 256 KiB,
 * io_timeout_ms 60000, max_requests 0, stop_timeout_ms 30000,
 * socket_mode -1, backlog 1024,
 * handle_signals 1, stream_body 0, everything else NULL. */
void fk_config_init(fk_config *cfg);

/* --- The server ---------------------------------------------------------- */

/* Creates a server with a copy of cfg (NULL = defaults).
 * Returns FK_OK, FK_E_INVAL for an impossible setting (a zero count or
 * max_output; stream_body with handler_threads 0), FK_E_NOMEM. */
int fk_server_new(fk_server **out, const fk_config *cfg);

/* Registers handler for role (FK_RESPONDER, FK_AUTHORIZER, FK_FILTER or any
 * other role number). Requests for a role without a handler are answered
 * with FCGI_UNKNOWN_ROLE. Call before fk_server_run().
 * Returns FK_OK, FK_E_INVAL (handler NULL or role 0), FK_E_STATE (running),
 * FK_E_NOMEM. */
int fk_server_handle(fk_server *s, unsigned role, fk_handler handler,
                     void *arg);

/* Listens where address says:
 *   contains a '/', or starts "unix:"  a Unix socket at that path (a stale
 *                                      socket file there is replaced);
 *   "host:port", "[v6addr]:port"       TCP, IPv4 or IPv6 (":port" = all);
 *   NULL or ""                         the sockets systemd passed
 *                                      (LISTEN_FDS, LISTEN_PID), or else
 *                                      the listening socket on fd 0 that
 *                                      spawn-fcgi, mod_fcgid and lighttpd
 *                                      hand over.
 * May be called several times to listen in several places.
 * FCGI_WEB_SERVER_ADDRS, when set, is read here and applies to every
 * connection accepted: a peer not in the list, or not on TCP, is refused.
 * Returns FK_OK, FK_E_ADDRESS, FK_E_LISTEN (nothing inherited),
 * FK_E_WEB_SERVER_ADDRS, FK_E_SYSTEM (errno says why), FK_E_STATE,
 * FK_E_NOMEM. */
int fk_server_listen(fk_server *s, const char *address);

/* Serves on a listening socket the caller made. The server closes it when
 * it stops (or is freed without running). Returns FK_OK, FK_E_INVAL (not a
 * listening socket), FK_E_WEB_SERVER_ADDRS, FK_E_STATE, FK_E_NOMEM. */
int fk_server_listen_fd(fk_server *s, int fd);

/* Serves until stopped: by fk_server_stop(), by SIGTERM or SIGINT when
 * handle_signals is set, or after max_requests requests. A stop is graceful:
 * listening sockets close at once, requests in flight finish and are
 * answered, then connections close and the call returns FK_OK.
 * When whole bodies can spill (see body_memory) and no temporary file can
 * be made where they would go, it logs a warning at once.
 * A server runs once: afterwards it can only be freed.
 * Returns FK_E_LISTEN when there is nothing to listen on, FK_E_STATE when
 * it already ran, FK_E_NOMEM or FK_E_SYSTEM (errno says why) when threads
 * or event loops cannot be set up. */
int fk_server_run(fk_server *s);

/* Asks a running server to stop gracefully. Safe from any thread and from a
 * signal handler. */
void fk_server_stop(fk_server *s);

/* Frees a server that is not running; closes its listening sockets and
 * removes the Unix socket files it created. s may be NULL. */
void fk_server_free(fk_server *s);

/* Requests answered since the server started (completed END_REQUESTs). */
unsigned long fk_server_requests(const fk_server *s);

/* A convenience for small programs: a server with default settings, one
 * handler for FK_RESPONDER, listening on address (see fk_server_listen),
 * run until SIGTERM. Returns a process exit status: 0 after a clean stop,
 * 1 with a message on standard error otherwise. */
int fk_serve(const char *address, fk_handler handler, void *arg);

/* --- The request --------------------------------------------------------- */

unsigned fk_request_id(const fk_request *req);
unsigned fk_request_role(const fk_request *req);
int fk_request_keep_conn(const fk_request *req);

/* The connection req came on: a number unique among the server's
 * connections (1, 2, ...), and how many requests are in flight on it now,
 * req included. Together they show whether a web server reuses and
 * multiplexes its connections. */
uint64_t fk_request_conn_id(const fk_request *req);
unsigned fk_request_conn_inflight(const fk_request *req);

/* The value of param name, or NULL. Valid until the handler returns. */
const char *fk_param(const fk_request *req, const char *name);

/* Like fk_param(), with the value's length (values may contain NUL). */
const char *fk_param_len(const fk_request *req, const char *name,
                         size_t *len);

/* Params in the order received: count, and pair i. Valid until the handler
 * returns. Returns FK_OK or FK_E_INVAL for i out of range. */
size_t fk_param_count(const fk_request *req);
int fk_param_at(const fk_request *req, size_t i, const char **name,
                const char **value, size_t *value_len);

/* The whole of STDIN, length known before reading: the number of body bytes
 * the web server sent. With stream_body: the bytes received so far. */
uint64_t fk_body_length(const fk_request *req);

/* Reads up to len bytes of the body into buf. Returns the bytes read, 0 at
 * the end of the body, or a negative fk_error (FK_E_IO if the spill file
 * cannot be read). Never blocks on the network: the body is all here.
 * With stream_body it waits until bytes arrive or the body ends, at most
 * io_timeout_ms between bytes, and also returns FK_E_ABORTED (the web
 * server aborted the request or closed the connection), FK_E_TIMEOUT,
 * FK_E_BODY_TOO_LARGE (the body passed max_body; the bytes before the
 * limit came first), FK_E_NOMEM. After FK_E_BODY_TOO_LARGE a handler that
 * returns without writing to STDOUT is answered with a 413 by the
 * library. */
long fk_read(fk_request *req, void *buf, size_t len);

/* The whole body in one piece: *data points at body bytes (valid until the
 * handler returns), *len their count. Returns FK_OK, FK_E_BODY_TOO_LARGE
 * when the body is longer than limit or lies beyond body_memory (read it
 * with fk_read() instead), FK_E_STATE after fk_read() has been used, and
 * always with stream_body (the body is not all here). */
int fk_read_body(fk_request *req, size_t limit, const void **data,
                 size_t *len);

/* For a Filter: the FCGI_DATA stream, as fk_read() and fk_body_length().
 * With stream_body, fk_read_data() waits for DATA, which comes after the
 * whole of STDIN: read STDIN to its end first. */
long fk_read_data(fk_request *req, void *buf, size_t len);
uint64_t fk_data_length(const fk_request *req);

/* Writes len bytes to STDOUT. Output is buffered and leaves in records of
 * up to 64 KiB; when more than max_output is queued for the web server the
 * call waits until it reads (bounded by io_timeout_ms). A write of 64 KiB
 * or more goes from buf to the socket without a copy when nothing else is
 * queued on the connection.
 * Returns FK_OK, FK_E_ABORTED (the web server aborted the request or went
 * away: stop producing output), FK_E_TIMEOUT, FK_E_NOMEM; the printf
 * family also FK_E_INVAL for a format the C library cannot expand. */
int fk_write(fk_request *req, const void *buf, size_t len);
int fk_puts(fk_request *req, const char *s);
int fk_printf(fk_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fk_vprintf(fk_request *req, const char *fmt, va_list ap);

/* Writes to STDERR, the web server's error log. Same returns as fk_write. */
int fk_write_err(fk_request *req, const void *buf, size_t len);
int fk_eprintf(fk_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends what is buffered now instead of when it fills or the handler ends. */
int fk_flush(fk_request *req);

/* Response helpers. They write CGI response lines to STDOUT and are meant
 * to be called before the body: "Status: 404 Not Found", "Name: value",
 * and the empty line that ends the headers. reason NULL picks the standard
 * phrase. Same returns as fk_write. */
int fk_status(fk_request *req, int code, const char *reason);
int fk_add_header(fk_request *req, const char *name, const char *value);
int fk_end_headers(fk_request *req);

/* The standard reason phrase for an HTTP status code ("Not Found"), or
 * "Unknown". Static string. */
const char *fk_status_reason(int code);

/* The appStatus sent in END_REQUEST: for Responder and Filter, what a CGI
 * program passes to exit(). */
void fk_set_exit_status(fk_request *req, int status);

/* Nonzero once the web server sent ABORT_REQUEST for this request or closed
 * its connection. Output written after that is discarded. */
int fk_aborted(const fk_request *req);

#ifdef __cplusplus
}
#endif
#endif
