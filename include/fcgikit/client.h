/*
 * fcgikit client engine: the web-server side of FastCGI.
 *
 * Three layers, each usable alone:
 *
 *   fk_client_session  one connection's protocol state, sans I/O: the
 *                      caller feeds it the bytes the application sent and
 *                      takes from it the bytes to send. No sockets, no
 *                      system calls, no clock; it suits a blocking caller
 *                      and an event loop alike (nghttp2's mem_recv/mem_send
 *                      shape). Several requests may be in flight on it.
 *   fk_cgi             an incremental parser of the CGI response headers at
 *                      the start of a STDOUT stream (RFC 3875 section 6).
 *   fk_client          a blocking client over a socket, built on the
 *                      session (CGI headers are left to the caller, who
 *                      may use fk_cgi): connect, ping with GET_VALUES,
 *                      run a whole request with its body streamed in and
 *                      its output streamed out to callbacks, keep-alive
 *                      reuse, cancel.
 *
 * These functions are in libfcgikit-client (cc ... -lfcgikit-client
 * -lfcgikit, or pkg-config fcgikit-client), apart from the protocol core
 * and the event loop they build on, which are libfcgikit's.
 *
 * Bounded memory against a hostile application: response data is never
 * accumulated by the library. STDOUT and STDERR reach the caller as
 * pointers into the caller's own input buffer; GET_VALUES results and CGI
 * headers are copied, under caps.
 */
#ifndef FCGIKIT_CLIENT_H
#define FCGIKIT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================= */
/* The session: one connection, sans I/O                                     */
/* ========================================================================= */

typedef struct fk_client_session fk_client_session;

/* Session settings: a plain struct. Fill it with fk_client_settings_init(),
 * change what you need; fk_client_session_new() copies it. */
typedef struct fk_client_settings {
  const fk_allocator *allocator; /* every allocation; NULL = libc. Must
                                    outlive the session. */
  size_t max_params_bytes;       /* PARAMS stream bytes of one request (pairs as
                                    encoded, length prefixes included);
                                    0 = no limit */
  unsigned max_requests_cap;     /* the most requests in flight that GET_VALUES
                                    can raise the limit to (1..65535) */
  size_t max_values_bytes;       /* name+value bytes of one GET_VALUES_RESULT */
  size_t max_values;             /* pairs in one GET_VALUES_RESULT */
} fk_client_settings;

/* Defaults: allocator NULL, max_params_bytes 1 MiB, max_requests_cap 256,
 * max_values_bytes 4096, max_values 64. */
void fk_client_settings_init(fk_client_settings *settings);

/* What fk_client_session_recv() reports. */
enum fk_client_event_type {
  FK_CLIENT_NONE = 0,    /* every byte given was used; feed more input */
  FK_CLIENT_STDOUT,      /* STDOUT data: data, len (> 0) */
  FK_CLIENT_STDERR,      /* STDERR data: data, len (> 0) */
  FK_CLIENT_STDOUT_END,  /* the empty record that ends STDOUT */
  FK_CLIENT_STDERR_END,  /* the empty record that ends STDERR */
  FK_CLIENT_END,         /* END_REQUEST: app_status, protocol_status. The
                            request is over and its id free for reuse. */
  FK_CLIENT_VALUES,      /* a GET_VALUES_RESULT: fk_client_session_values() */
  FK_CLIENT_UNKNOWN_TYPE /* UNKNOWN_TYPE: the application does not know the
                            management record type unknown_type */
};

typedef struct fk_client_event {
  int type;            /* enum fk_client_event_type */
  unsigned request_id; /* 0 for VALUES and UNKNOWN_TYPE */
  void *user;          /* what fk_client_session_begin() was given */
  /* FK_CLIENT_STDOUT, FK_CLIENT_STDERR: points into the input given to
   * fk_client_session_recv(), valid as long as that input is. A record's
   * content may arrive as several events; boundaries carry no meaning. */
  const uint8_t *data;
  size_t len;
  uint32_t app_status;      /* FK_CLIENT_END */
  unsigned protocol_status; /* FK_CLIENT_END: enum fk_protocol_status */
  unsigned unknown_type;    /* FK_CLIENT_UNKNOWN_TYPE */
} fk_client_event;

/* Creates a session for one new connection, with a copy of settings (NULL
 * = defaults). It allows one request in flight until told otherwise by
 * fk_client_session_set_max_requests() or a GET_VALUES_RESULT.
 * Returns FK_OK, FK_E_INVAL (max_requests_cap 0 or above 65535),
 * FK_E_NOMEM. */
int fk_client_session_new(fk_client_session **out,
                          const fk_client_settings *settings);

/* Frees the session and everything it holds. s may be NULL. */
void fk_client_session_free(fk_client_session *s);

/* --- Sending ------------------------------------------------------------- */
/* Each call encodes records into the session's output buffer; nothing is
 * sent until the caller takes the bytes with fk_client_session_pending().
 * The buffer grows with what is queued: a caller streaming a large body
 * queues a piece, sends it, then queues the next. After the session failed
 * (fk_client_session_error() is not FK_OK) every call returns that error. */

/* Starts a request with the lowest request id not in flight (spec 3.3:
 * web servers keep ids small) and queues its BEGIN_REQUEST. flags is 0 or
 * FK_KEEP_CONN; without FK_KEEP_CONN the application closes the connection
 * after answering (spec 5.1), so the session refuses any later request.
 * user is handed back in every event of the request. *id receives the id.
 * Returns FK_OK, FK_E_INVAL (role 0 or above 65535, flags other than
 * FK_KEEP_CONN), FK_E_BUSY (as many requests in flight as allowed: see
 * fk_client_session_max_requests()), FK_E_STATE (an earlier request was
 * sent without FK_KEEP_CONN), FK_E_NOMEM. */
int fk_client_session_begin(fk_client_session *s, unsigned role, unsigned flags,
                            void *user, unsigned *id);

/* Queues one name-value pair for request id (spec 3.4, 5.2). Pairs fill
 * PARAMS records of up to 65535 bytes; a long pair continues in the next
 * record. Call before fk_client_session_stream_end(s, id, FK_PARAMS).
 * Returns FK_OK, FK_E_INVAL (id not in flight), FK_E_STATE (PARAMS already
 * ended, or the request was aborted), FK_E_PAIR_TOO_LONG (a length above
 * 2^31-1), FK_E_PARAMS_TOO_LARGE (the request's PARAMS would pass
 * max_params_bytes; nothing of the pair is queued), FK_E_NOMEM. */
int fk_client_session_param(fk_client_session *s, unsigned id, const void *name,
                            size_t name_len, const void *value,
                            size_t value_len);

/* Queues len bytes of the STDIN or DATA stream (type FK_STDIN or FK_DATA)
 * of request id. Streams go in order, as spec 6.1 requires: PARAMS, then
 * STDIN, then DATA; each must have been ended before the next one starts.
 * Returns FK_OK, FK_E_INVAL (id not in flight, type not FK_STDIN or
 * FK_DATA), FK_E_STATE (out of order, the stream ended, or the request was
 * aborted), FK_E_NOMEM. A len of 0 queues nothing (an empty record would
 * end the stream), but the id, type and state are checked first: it
 * returns FK_OK only when len bytes could have been queued, and the
 * errors above otherwise. */
int fk_client_session_stream(fk_client_session *s, unsigned id, unsigned type,
                             const void *data, size_t len);

/* Queues the empty record that ends stream type (FK_PARAMS, FK_STDIN or
 * FK_DATA) of request id. Ending STDIN while PARAMS is open ends PARAMS
 * first, and ending DATA ends STDIN first, so that a caller with no body
 * can simply end the last stream its role uses.
 * Returns FK_OK, FK_E_INVAL (id not in flight, type not a web-server
 * stream), FK_E_STATE (that stream already ended, or the request was
 * aborted), FK_E_NOMEM. */
int fk_client_session_stream_end(fk_client_session *s, unsigned id,
                                 unsigned type);

/* Queues ABORT_REQUEST for request id (spec 5.4). The request stays in
 * flight until the application answers with its END_REQUEST; no more of
 * its input may be queued. A second abort queues nothing.
 * Returns FK_OK, FK_E_INVAL (id not in flight), FK_E_NOMEM. */
int fk_client_session_abort(fk_client_session *s, unsigned id);

/* Queues a GET_VALUES record (spec 4.1) asking for the variables named
 * (NUL-terminated strings); names NULL or count 0 asks for FCGI_MAX_CONNS,
 * FCGI_MAX_REQS and FCGI_MPXS_CONNS. The answer arrives as a
 * FK_CLIENT_VALUES event (or FK_CLIENT_UNKNOWN_TYPE from an application
 * that does not know GET_VALUES). Returns FK_OK, FK_E_INVAL (the query
 * does not fit one record: 65535 bytes), FK_E_NOMEM. */
int fk_client_session_get_values(fk_client_session *s, const char *const *names,
                                 size_t count);

/* The bytes to send: *data points at them (valid until the next call on
 * the session) and the count is returned; 0 when there is nothing. */
size_t fk_client_session_pending(fk_client_session *s, const uint8_t **data);

/* Marks n of the pending bytes as sent (n at most the count returned by
 * fk_client_session_pending()). */
void fk_client_session_consume(fk_client_session *s, size_t n);

/* --- Receiving ----------------------------------------------------------- */

/* Consumes bytes the application sent and reports at most one event.
 * Returns the number of bytes consumed (0..len) and fills *ev; ev->type is
 * FK_CLIENT_NONE once every byte given was consumed without completing an
 * event. Call repeatedly, advancing the input by the return value, until
 * it returns FK_CLIENT_NONE.
 *
 * Returns a negative fk_error when the application broke the protocol; the
 * error is sticky and the connection must be closed:
 *   FK_E_VERSION          a record version other than 1
 *   FK_E_RECORD_LENGTH    an END_REQUEST or UNKNOWN_TYPE body not 8 bytes
 *   FK_E_REQUEST_ID       a record for an id not in flight (never begun,
 *                         or already ended), or a management record with
 *                         a non-zero id
 *   FK_E_STREAM_ORDER     STDOUT or STDERR data after its empty record, or
 *                         a record type only a web server sends
 *   FK_E_TRUNCATED_PAIR   a GET_VALUES_RESULT that ends inside a pair
 *   FK_E_PARAMS_TOO_LARGE, FK_E_TOO_MANY_PARAMS
 *                         a GET_VALUES_RESULT over max_values_bytes or
 *                         max_values
 *   FK_E_NOMEM            no memory for a GET_VALUES_RESULT
 * fk_client_session_error_offset() and fk_client_session_error_reason()
 * say where and why. Records of type 0 and of types above 11 are skipped
 * (a later protocol version may define them). */
long fk_client_session_recv(fk_client_session *s, const uint8_t *in, size_t len,
                            fk_client_event *ev);

/* Tells the session that the application closed the connection. Returns
 * FK_OK when that was a clean place to close (no request in flight, no
 * GET_VALUES query unanswered, no record cut short), FK_E_CLOSED otherwise
 * (the error becomes sticky), or the sticky error of an earlier failure. */
int fk_client_session_eof(fk_client_session *s);

/* The pairs of the last GET_VALUES_RESULT, valid until the next call of
 * fk_client_session_recv() or fk_client_session_free(). Never NULL. */
const fk_params *fk_client_session_values(const fk_client_session *s);

/* --- State --------------------------------------------------------------- */

/* Requests in flight: begun, END_REQUEST not yet received. */
unsigned fk_client_session_in_flight(const fk_client_session *s);

/* Nonzero when the session expects bytes from the application: requests
 * in flight or GET_VALUES queries unanswered. */
int fk_client_session_want_read(const fk_client_session *s);

/* How many requests may be in flight at once. Starts at 1. A
 * GET_VALUES_RESULT sets it: FCGI_MPXS_CONNS "0" makes it 1, "1" makes it
 * FCGI_MAX_REQS (when given) capped at max_requests_cap. An END_REQUEST
 * with FCGI_CANT_MPX_CONN makes it 1. */
unsigned fk_client_session_max_requests(const fk_client_session *s);

/* Sets the limit by hand (for an application known to multiplex).
 * Returns FK_OK or FK_E_INVAL (0 or above 65535). Requests already in
 * flight are not affected. */
int fk_client_session_set_max_requests(fk_client_session *s, unsigned max);

/* Nonzero when another request can be begun now. */
int fk_client_session_can_begin(const fk_client_session *s);

/* Nonzero when the connection can carry another request after the ones in
 * flight: no error, and every request so far was sent with FK_KEEP_CONN. */
int fk_client_session_reusable(const fk_client_session *s);

/* The user pointer of request id, or NULL when it is not in flight. */
void *fk_client_session_user(const fk_client_session *s, unsigned id);

/* The sticky error (FK_OK if none); the offset in the received byte stream
 * of the record that caused it (the byte at which the record's header
 * starts, or for a truncated stream the end of the input); and a sentence
 * saying what was wrong ("" when healthy). The reason is valid until the
 * session is freed. */
int fk_client_session_error(const fk_client_session *s);
uint64_t fk_client_session_error_offset(const fk_client_session *s);
const char *fk_client_session_error_reason(const fk_client_session *s);

/* ========================================================================= */
/* CGI response headers (RFC 3875 section 6)                                 */
/* ========================================================================= */

typedef struct fk_cgi fk_cgi;

/* What the script's headers make of the response (RFC 3875 6.2). */
enum fk_cgi_kind {
  FK_CGI_DOCUMENT = 1,       /* 6.2.1: a document (status from Status:) */
  FK_CGI_LOCAL_REDIRECT,     /* 6.2.2: any Location beginning with '/' (other
                                fields may come with it); the server
                                reprocesses the request */
  FK_CGI_CLIENT_REDIRECT,    /* 6.2.3: any other Location (an absolute URI;
                                a relative one counts too), no field but
                                Status with it; 302 */
  FK_CGI_CLIENT_REDIRECT_DOC /* 6.2.4: the same with other fields: a
                                document */
};

/* Creates a header parser. max_bytes bounds the header section (field
 * lines and line ends; 0 = 16 KiB), max_headers the number of fields
 * (0 = 100). alloc NULL = libc; it must outlive the parser.
 * Returns FK_OK or FK_E_NOMEM. */
int fk_cgi_new(fk_cgi **out, const fk_allocator *alloc, size_t max_bytes,
               size_t max_headers);

/* Frees the parser. c may be NULL. */
void fk_cgi_free(fk_cgi *c);

/* Makes the parser ready for another response, keeping its memory. */
void fk_cgi_reset(fk_cgi *c);

/* Feeds the next len bytes of STDOUT, split anywhere. Returns how many of
 * them belong to the header section (0..len); once fk_cgi_done() is true
 * the bytes after those are the body (and later calls return 0: all body).
 * Lines may end in LF or CRLF.
 * Returns FK_E_CGI_HEADER for a malformed section (a line without ':', a
 * name that is not an RFC 3875 token, a bare CR or NUL, a folded line, a
 * malformed or repeated Status, a repeated Location or Content-Type, an
 * empty Location, no field before the blank line), FK_E_HEADERS_TOO_LARGE
 * past max_bytes or max_headers, FK_E_NOMEM. Errors are sticky;
 * fk_cgi_error_reason() and fk_cgi_error_offset() (an offset in the STDOUT
 * stream) say more. */
long fk_cgi_feed(fk_cgi *c, const void *in, size_t len);

/* Nonzero once the blank line that ends the headers was seen. */
int fk_cgi_done(const fk_cgi *c);

/* Tells the parser STDOUT ended. Returns FK_OK when the headers were
 * complete, else FK_E_CGI_HEADER ("the response ended inside its headers")
 * or the earlier sticky error. */
int fk_cgi_finish(fk_cgi *c);

/* The results, once fk_cgi_done(). Strings are NUL-terminated and valid
 * until the parser is reset or freed.
 * fk_cgi_status: from Status:, else 302 for a client redirect, else 200
 * (RFC 3875 6.3.3); fk_cgi_reason: Status's reason phrase, "" when none;
 * fk_cgi_content_type, fk_cgi_location: NULL when absent. */
int fk_cgi_status(const fk_cgi *c);
const char *fk_cgi_reason(const fk_cgi *c);
int fk_cgi_kind(const fk_cgi *c);
const char *fk_cgi_content_type(const fk_cgi *c);
const char *fk_cgi_location(const fk_cgi *c);

/* Every header field in the order received, Status, Content-Type and
 * Location included; values without surrounding blanks. Returns FK_OK or
 * FK_E_INVAL for i out of range. Same lifetime as above. */
size_t fk_cgi_header_count(const fk_cgi *c);
int fk_cgi_header_at(const fk_cgi *c, size_t i, const char **name,
                     size_t *name_len, const char **value, size_t *value_len);

/* The value of the first field named name (compared without regard to
 * case, as field names are), or NULL. */
const char *fk_cgi_header(const fk_cgi *c, const char *name);

/* The sticky error (FK_OK if none), where in the STDOUT stream it was
 * found, and why ("" when healthy; valid until reset or free). */
int fk_cgi_error(const fk_cgi *c);
uint64_t fk_cgi_error_offset(const fk_cgi *c);
const char *fk_cgi_error_reason(const fk_cgi *c);

/* ========================================================================= */
/* The blocking client                                                       */
/* ========================================================================= */

/* Connects a stream socket to address: a Unix socket path (anything with a
 * '/'), "unix:PATH", "@name" (an abstract Unix socket), "host:port" or
 * "[v6addr]:port" (each address the name resolves to is tried in turn).
 * timeout_ms bounds the whole attempt (0 = no bound). On success *fd is a
 * connected, non-blocking, close-on-exec socket the caller owns.
 * Returns FK_OK, FK_E_ADDRESS (unparsable or unresolvable), FK_E_TIMEOUT,
 * FK_E_SYSTEM (errno says why: ECONNREFUSED, ENOENT, ...). */
int fk_client_dial(const char *address, unsigned timeout_ms, int *fd);

typedef struct fk_client fk_client;

/* Directions for fk_client_options.trace. */
enum fk_trace_direction { FK_TRACE_SENT = 1, FK_TRACE_RECEIVED = 2 };

/* Client settings: a plain struct; fk_client_open() copies it. */
typedef struct fk_client_options {
  const fk_allocator *allocator; /* NULL = libc; must outlive the client */
  unsigned connect_timeout_ms;   /* 0 = no bound */
  unsigned abort_timeout_ms;     /* after a cancel or a timeout, how long to
                                    wait for the END_REQUEST before closing
                                    the connection */
  size_t max_params_bytes;       /* as in fk_client_settings */
  size_t read_buffer;            /* bytes read from the socket at once */
  /* When set, called with every byte the client sends (FK_TRACE_SENT) or
   * receives (FK_TRACE_RECEIVED) on the connection, in order, as it goes
   * (a record may be cut anywhere); data is valid only during the call.
   * For "-v" traces and debugging. */
  void (*trace)(int direction, const uint8_t *data, size_t len, void *arg);
  void *trace_arg;
} fk_client_options;

/* Defaults: allocator NULL, connect_timeout_ms 5000, abort_timeout_ms 1000,
 * max_params_bytes 1 MiB, read_buffer 64 KiB, trace NULL. */
void fk_client_options_init(fk_client_options *opt);

/* Creates a client for address (see fk_client_dial) and connects it.
 * address is copied. opt NULL = defaults. On failure *out is NULL.
 * Returns FK_OK, FK_E_INVAL (address NULL, read_buffer 0), FK_E_NOMEM,
 * FK_E_SYSTEM, and what fk_client_dial() returns. */
int fk_client_open(fk_client **out, const char *address,
                   const fk_client_options *opt);

/* Closes the connection and frees the client. c may be NULL. */
void fk_client_close(fk_client *c);

/* Nonzero while the client holds an open connection. */
int fk_client_connected(const fk_client *c);

/* Asks FCGI_GET_VALUES (the three standard names when names is NULL) and
 * waits at most timeout_ms (0 = no bound) for the answer. Connects again
 * first when the connection was closed. On FK_OK *values holds the pairs
 * the application advertised, valid until the next call on the client.
 * Returns FK_OK, FK_E_STATE (the application answered UNKNOWN_TYPE: it
 * does not know GET_VALUES), FK_E_TIMEOUT, FK_E_CLOSED, FK_E_IO (errno),
 * FK_E_INVAL (the query does not fit one record: 65535 bytes),
 * FK_E_NOMEM, a protocol error (see fk_client_session_recv) with
 * fk_client_error_reason(), or what fk_client_dial() returns. After an
 * error the connection is closed. */
int fk_client_get_values(fk_client *c, const char *const *names, size_t count,
                         unsigned timeout_ms, const fk_params **values);

/* One name-value pair of a request. name is a C string; value has
 * value_len bytes (0 = strlen(value); value may be NULL for empty). */
typedef struct fk_client_pair {
  const char *name;
  const char *value;
  size_t value_len;
} fk_client_pair;

/* Where a body (STDIN, or Filter's DATA) comes from. A zeroed struct is
 * an empty body. */
enum fk_client_body_kind {
  FK_BODY_NONE = 0,
  FK_BODY_MEMORY,  /* data, len: the caller's memory, not copied whole */
  FK_BODY_FD,      /* fd, read to its end (a file, pipe or socket; the
                      client waits for it with poll, within the timeout) */
  FK_BODY_CALLBACK /* read(buf, cap, arg) returns bytes (> 0), 0 at the
                      end, or -1 to fail the request with FK_E_IO */
};

typedef struct fk_client_body {
  int kind; /* enum fk_client_body_kind */
  const void *data;
  size_t len;
  int fd;
  long (*read)(void *buf, size_t cap, void *arg);
  void *arg;
} fk_client_body;

/* Receives output as it arrives; data is valid only during the call.
 * Returns 0 to go on, non-zero to cancel the request (as fk_client_cancel). */
typedef int (*fk_client_output_fn)(const uint8_t *data, size_t len, void *arg);

typedef struct fk_client_request {
  unsigned role;  /* 0 = FK_RESPONDER */
  unsigned flags; /* FK_KEEP_CONN keeps the connection for the next call */
  const fk_client_pair *params;
  size_t nparams;
  fk_client_body body; /* STDIN */
  fk_client_body data; /* DATA, sent after STDIN when role is FK_FILTER */
  fk_client_output_fn on_stdout, on_stderr; /* NULL = discard */
  void *arg;                                /* passed to both */
  unsigned timeout_ms; /* the whole request; 0 = no bound */
} fk_client_request;

typedef struct fk_client_result {
  unsigned request_id;
  int ended;                /* END_REQUEST received */
  uint32_t app_status;      /* from END_REQUEST */
  unsigned protocol_status; /* from END_REQUEST */
  uint64_t stdout_bytes, stderr_bytes;
  int aborted; /* ABORT_REQUEST was sent (cancel or timeout) */
  int reused;  /* ran on a connection kept from an earlier call */
} fk_client_result;

/* Runs one request on the client's connection (connecting first when
 * there is none, or the last one was not kept): sends BEGIN_REQUEST, the
 * params, the body and, for a Filter, the data, while output is handed to
 * on_stdout and on_stderr as it arrives; returns once END_REQUEST came.
 * If the application answers before it has read the whole body, the rest
 * is not sent. Without FK_KEEP_CONN, or after any error, the connection is
 * closed on return. res (may be NULL) is filled in every case.
 *
 * Returns FK_OK when END_REQUEST arrived: the application's verdict is in
 * res->protocol_status (FK_REQUEST_COMPLETE, FK_CANT_MPX_CONN,
 * FK_OVERLOADED, FK_UNKNOWN_ROLE) and res->app_status.
 * Otherwise: FK_E_ABORTED (cancelled by fk_client_cancel() or a callback;
 * ABORT_REQUEST was sent and its END_REQUEST awaited for abort_timeout_ms:
 * res->ended says whether it came), FK_E_TIMEOUT (timeout_ms passed; the
 * request was aborted the same way), FK_E_CLOSED (the application closed
 * the connection before END_REQUEST), FK_E_IO (a socket or body error,
 * errno says which, or a body callback failed), FK_E_INVAL,
 * FK_E_PARAMS_TOO_LARGE, FK_E_PAIR_TOO_LONG, FK_E_NOMEM, a protocol error
 * (see fk_client_session_recv) with fk_client_error_reason(), or what
 * fk_client_dial() returns.
 *
 * FK_E_INVAL is an invalid request, refused before the client connects or
 * touches a kept connection, which stays open: req NULL, params NULL with
 * nparams > 0, a pair with a NULL name, role above 65535, flags other than
 * FK_KEEP_CONN, a body of an unknown kind, a memory body with NULL data and
 * len > 0, a descriptor body with a negative fd, a callback body without
 * read. */
int fk_client_run(fk_client *c, const fk_client_request *req,
                  fk_client_result *res);

/* Cancels the request fk_client_run() is running, from another thread or
 * a signal handler (async-signal-safe). A cancel that arrives between
 * requests is forgotten when the next one starts. */
void fk_client_cancel(fk_client *c);

/* Why the last call failed, as a sentence, after a protocol error, after
 * FK_E_CLOSED (the session's account of where the application closed the
 * connection; fk_client_get_values gives none when it was the sending of
 * its query that failed) and after FK_E_IO from a body that could not be
 * read; "" after any other outcome. Valid until the next call on the
 * client. */
const char *fk_client_error_reason(const fk_client *c);

/* ========================================================================= */
/* The non-blocking client                                                   */
/* ========================================================================= */

/* The same requests as fk_client_run(), on the fcgikit event loop
 * (fcgikit/loop.h): submitting one returns at once, output reaches
 * on_stdout and on_stderr as it arrives while the loop runs, and done is
 * called once when the request ends. Up to the connection's limit run at
 * once on it (multiplexing, see fk_client_async_set_max_requests); more
 * wait, in the order submitted. The connection is made (without blocking,
 * apart from resolving a host name) when the first request is submitted,
 * and again when the application closed it.
 *
 * Callbacks run on the loop's thread. From inside one, a caller may submit
 * and cancel, but must not close the client. */

typedef struct fk_client_async fk_client_async;
struct fk_loop;

/* Ends a request: err is FK_OK when END_REQUEST arrived (the verdict is in
 * res->protocol_status and res->app_status), FK_E_TIMEOUT (timeout_ms
 * passed; ABORT_REQUEST was sent), FK_E_ABORTED (cancelled, by
 * fk_client_async_cancel(), an output callback or fk_client_async_close()),
 * FK_E_CLOSED or FK_E_IO (the connection was lost), FK_E_SYSTEM (could not
 * connect; errno), FK_E_ADDRESS, FK_E_NOMEM, FK_E_PARAMS_TOO_LARGE, or a
 * protocol error of the application (see fk_client_session_recv). res is
 * valid during the call; arg is the request's arg. */
typedef void (*fk_client_done_fn)(int err, const fk_client_result *res,
                                  void *arg);

/* Creates a client for address (see fk_client_dial; copied) on loop.
 * Nothing is connected yet. opt NULL = defaults; allocator,
 * connect_timeout_ms and max_params_bytes apply.
 * Returns FK_OK or FK_E_NOMEM. */
int fk_client_async_open(fk_client_async **out, struct fk_loop *loop,
                         const char *address, const fk_client_options *opt);

/* How many requests may run at once on the connection (1 by default: an
 * application that does not multiplex answers a second one with
 * FCGI_CANT_MPX_CONN). Returns FK_OK or FK_E_INVAL (0 or above 65535). */
int fk_client_async_set_max_requests(fk_client_async *c, unsigned max);

/* Submits a request. req is copied, but what it points to (params, bodies)
 * must stay valid until done is called. Bodies must be FK_BODY_NONE or
 * FK_BODY_MEMORY. *handle (may be NULL) identifies the request for
 * fk_client_async_cancel(). Returns FK_OK; FK_E_INVAL (req NULL, role
 * above 65535, flags other than FK_KEEP_CONN, another body kind, a memory
 * body with NULL data and a length, params NULL with nparams, a pair with
 * a NULL name); FK_E_STATE (fk_client_async_close() is running);
 * FK_E_NOMEM. Every other failure comes through done, for this request
 * alone. */
int fk_client_async_submit(fk_client_async *c, const fk_client_request *req,
                           fk_client_done_fn done, unsigned *handle);

/* Cancels a request: one still waiting is dropped, one running gets
 * ABORT_REQUEST (spec 5.4); done is called with FK_E_ABORTED. Returns
 * FK_OK, or FK_E_INVAL when no such request is pending. */
int fk_client_async_cancel(fk_client_async *c, unsigned handle);

/* Requests submitted and not yet ended by their END_REQUEST. */
unsigned fk_client_async_in_flight(const fk_client_async *c);

/* Closes the connection and frees the client; every request not yet done
 * gets done(FK_E_ABORTED). c may be NULL. */
void fk_client_async_close(fk_client_async *c);

#ifdef __cplusplus
}
#endif
#endif
