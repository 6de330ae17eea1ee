/*
 * fcgikit: error codes shared by every layer.
 *
 * Every fallible call returns 0 (FK_OK) or one of the negative codes below.
 * The table is the single source of the enum, the names and the messages.
 */
#ifndef FCGIKIT_ERROR_H
#define FCGIKIT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(enum, value, message) */
#define FK_ERRNO_MAP(X)                                                       \
  X(FK_OK, 0, "success")                                                      \
  X(FK_E_NOMEM, -1, "out of memory")                                          \
  X(FK_E_INVAL, -2, "invalid argument")                                       \
  X(FK_E_STATE, -3, "call not allowed in this state")                         \
  X(FK_E_VERSION, -10, "unsupported FastCGI protocol version")                \
  X(FK_E_RECORD_LENGTH, -11, "record content length wrong for its type")     \
  X(FK_E_REQUEST_ID, -12, "request id not allowed for this record type")      \
  X(FK_E_DUPLICATE_ID, -13, "BEGIN_REQUEST for a request id already active")  \
  X(FK_E_STREAM_ORDER, -14, "stream record out of order")                     \
  X(FK_E_TRUNCATED_PAIR, -15, "name-value pair cut short by end of stream")   \
  X(FK_E_PARAMS_TOO_LARGE, -16, "name-value pairs exceed the byte limit")     \
  X(FK_E_TOO_MANY_PARAMS, -17, "name-value pairs exceed the count limit")     \
  X(FK_E_PAIR_TOO_LONG, -18, "name or value longer than 2^31-1 bytes")        \
  X(FK_E_BODY_TOO_LARGE, -19, "request body exceeds the limit")               \
  X(FK_E_ABORTED, -30, "request aborted by the web server")                   \
  X(FK_E_CLOSED, -31, "connection closed by the peer")                        \
  X(FK_E_IO, -32, "input/output error (see errno)")                           \
  X(FK_E_TIMEOUT, -33, "operation timed out")                                 \
  X(FK_E_ADDRESS, -40, "cannot parse or resolve the address")                 \
  X(FK_E_LISTEN, -41, "no listening socket")                                  \
  X(FK_E_WEB_SERVER_ADDRS, -42, "FCGI_WEB_SERVER_ADDRS is malformed")         \
  X(FK_E_SYSTEM, -43, "system call failed (see errno)")                      \
  X(FK_E_BUSY, -50, "as many requests in flight as the connection allows")   \
  X(FK_E_CGI_HEADER, -51, "malformed CGI response header")                   \
  X(FK_E_HEADERS_TOO_LARGE, -52, "CGI response headers exceed the limit")

typedef enum fk_error {
#define FK__ERR_ENUM(name, value, msg) name = value,
  FK_ERRNO_MAP(FK__ERR_ENUM)
#undef FK__ERR_ENUM
} fk_error;

/* Nonzero when code is a protocol violation by the peer (-10 .. -15): the
 * connection it happened on cannot be trusted any further and is closed.
 * Resource limits (-16 .. -19) end only the request concerned. */
int fk_error_is_fatal(int code);

/* A human-readable message for code; "unknown error" for a value not in the
 * table. The string is static. */
const char *fk_strerror(int code);

/* The enum name of code ("FK_E_VERSION"); "FK_E_UNKNOWN" if not in the table.
 * The string is static. */
const char *fk_errname(int code);

#ifdef __cplusplus
}
#endif
#endif
