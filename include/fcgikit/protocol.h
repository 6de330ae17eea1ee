/*
 * fcgikit protocol core: a sans-I/O FastCGI 1.0 codec.
 *
 * Nothing here reads or writes a socket, sleeps, logs or keeps global state.
 * The caller hands bytes in and gets events out (fk_parser), and asks for
 * records to be encoded into buffers it owns (fk_encode_*). The same core
 * serves the application side and the web-server side: the parser accepts
 * every record type in either direction and leaves the decision of what a
 * record means to its caller.
 *
 * Only fk_params allocates, through the allocator it is given.
 */
#ifndef FCGIKIT_PROTOCOL_H
#define FCGIKIT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Constants (spec section 8) ------------------------------------------ */

#define FK_VERSION_1 1
#define FK_HEADER_LEN 8
#define FK_MAX_CONTENT 65535u
#define FK_MAX_PADDING 255u
#define FK_NULL_REQUEST_ID 0
#define FK_LISTENSOCK_FILENO 0
#define FK_MAX_PAIR_LENGTH 0x7fffffffu /* a 4-byte length has bit 31 masked */

enum fk_record_type {
  FK_BEGIN_REQUEST = 1,
  FK_ABORT_REQUEST = 2,
  FK_END_REQUEST = 3,
  FK_PARAMS = 4,
  FK_STDIN = 5,
  FK_STDOUT = 6,
  FK_STDERR = 7,
  FK_DATA = 8,
  FK_GET_VALUES = 9,
  FK_GET_VALUES_RESULT = 10,
  FK_UNKNOWN_TYPE = 11
};
#define FK_MAXTYPE 11

enum fk_role { FK_RESPONDER = 1, FK_AUTHORIZER = 2, FK_FILTER = 3 };

#define FK_KEEP_CONN 1 /* BEGIN_REQUEST flags bit 0 */

enum fk_protocol_status {
  FK_REQUEST_COMPLETE = 0,
  FK_CANT_MPX_CONN = 1,
  FK_OVERLOADED = 2,
  FK_UNKNOWN_ROLE = 3
};

/* The name of a record type ("FCGI_STDOUT"), role or protocol status, for
 * logs and traces; "UNKNOWN" for values outside the spec. Static strings. */
const char *fk_type_name(unsigned type);
const char *fk_role_name(unsigned role);
const char *fk_protocol_status_name(unsigned status);

/* --- Allocation hook ----------------------------------------------------- */

/* Every allocation fcgikit makes goes through one of these. A NULL allocator
 * pointer anywhere means the C library's malloc, realloc and free. */
typedef struct fk_allocator {
  void *(*malloc)(size_t size, void *ud);
  void *(*realloc)(void *ptr, size_t size, void *ud);
  void (*free)(void *ptr, void *ud);
  void *ud;
} fk_allocator;

/* --- Record header ------------------------------------------------------- */

typedef struct fk_header {
  uint8_t version;
  uint8_t type;
  uint16_t request_id;
  uint16_t content_length;
  uint8_t padding_length;
} fk_header;

/* Writes the 8 header bytes for a record. content_length must be at most
 * FK_MAX_CONTENT and padding_length at most FK_MAX_PADDING; larger values
 * are a caller bug and are truncated to their low bits. */
void fk_header_encode(uint8_t out[FK_HEADER_LEN], unsigned type,
                      unsigned request_id, size_t content_length,
                      size_t padding_length);

/* Decodes 8 header bytes. Returns FK_OK, or FK_E_VERSION when the version
 * byte is not FK_VERSION_1 (h is filled in either case). The reserved byte
 * is ignored. */
int fk_header_decode(fk_header *h, const uint8_t in[FK_HEADER_LEN]);

/* The padding that brings a record of content_length bytes to an 8-byte
 * boundary: (-content_length) & 7. */
size_t fk_padding_for(size_t content_length);

/* --- Encoding whole records ---------------------------------------------- */
/* Each writes a complete record (header, body, padding to 8 bytes) into out
 * and returns the number of bytes written, which is the size given. */

#define FK_BEGIN_REQUEST_SIZE 16
#define FK_END_REQUEST_SIZE 16
#define FK_ABORT_REQUEST_SIZE 8
#define FK_UNKNOWN_TYPE_SIZE 16
#define FK_STREAM_END_SIZE 8

size_t fk_encode_begin_request(uint8_t out[FK_BEGIN_REQUEST_SIZE],
                               unsigned request_id, unsigned role,
                               unsigned flags);
size_t fk_encode_end_request(uint8_t out[FK_END_REQUEST_SIZE],
                             unsigned request_id, uint32_t app_status,
                             unsigned protocol_status);
size_t fk_encode_abort_request(uint8_t out[FK_ABORT_REQUEST_SIZE],
                               unsigned request_id);
size_t fk_encode_unknown_type(uint8_t out[FK_UNKNOWN_TYPE_SIZE],
                              unsigned unknown_type);
/* The empty record that ends a stream of the given type. */
size_t fk_encode_stream_end(uint8_t out[FK_STREAM_END_SIZE], unsigned type,
                            unsigned request_id);

/* Bytes needed to carry len bytes of stream data as records of at most
 * FK_MAX_CONTENT bytes each, headers and padding included, without the
 * terminating empty record. 0 for len 0. Saturates at SIZE_MAX. */
size_t fk_stream_size(size_t len);

/* Encodes len bytes of data as stream records of the given type (split at
 * FK_MAX_CONTENT, each padded to 8 bytes). Writes nothing and returns 0
 * when cap < fk_stream_size(len); otherwise returns fk_stream_size(len).
 * Does not write the terminating empty record. */
size_t fk_encode_stream(uint8_t *out, size_t cap, unsigned type,
                        unsigned request_id, const void *data, size_t len);

/* --- Name-value pairs (spec 3.4) ----------------------------------------- */

/* Bytes one pair takes on the wire (1- or 4-byte lengths chosen as the spec
 * says: 1 byte for 0..127, else 4). Returns 0 when a length exceeds
 * FK_MAX_PAIR_LENGTH or the sum overflows. */
size_t fk_nv_size(size_t name_len, size_t value_len);

/* Writes one pair into out, which must hold fk_nv_size() bytes. Returns the
 * bytes written, or 0 when fk_nv_size() would be 0. */
size_t fk_nv_encode(uint8_t *out, const void *name, size_t name_len,
                    const void *value, size_t value_len);

/* Stateless decode of one pair that lies whole in in[0..len).
 * Returns the bytes the pair takes (> 0) and points name/value into in;
 * 0 when in holds only part of a pair (need more). It cannot fail otherwise:
 * a 4-byte length is at most FK_MAX_PAIR_LENGTH by construction, and the
 * caller compares lengths with what it is willing to accept. */
typedef struct fk_nv {
  const uint8_t *name;
  size_t name_len;
  const uint8_t *value;
  size_t value_len;
} fk_nv;
long fk_nv_decode(const uint8_t *in, size_t len, fk_nv *pair);

/* --- A set of name-value pairs, built incrementally ---------------------- */

/* Collects the pairs of one name-value stream (PARAMS, GET_VALUES or
 * GET_VALUES_RESULT content) fed to it in chunks that may split a pair, or
 * its length prefix, anywhere. Names and values are copied into one arena;
 * each is followed by a NUL byte (not counted in its length) so that C code
 * can use them as strings when they contain no NUL themselves.
 *
 * Limits are checked before anything is allocated for a pair, in 64-bit
 * arithmetic: max_bytes bounds name and value bytes together over the whole
 * set, max_pairs bounds the count. Fields are private; use the functions. */
typedef struct fk_params {
  /* arena of "name\0value\0" runs; arena_len <= arena_cap */
  uint8_t *arena;
  size_t arena_len, arena_cap;
  /* index of complete pairs; count <= index_cap */
  struct fk__pair {
    uint32_t name_off, name_len, value_off, value_len;
  } *index;
  size_t count, index_cap;
  /* limits */
  size_t max_bytes, max_pairs;
  const fk_allocator *alloc;
  /* decoder state for the pair being received */
  uint8_t prefix[8];
  unsigned prefix_have, prefix_need;
  uint32_t cur_name_len, cur_value_len;
  size_t cur_have; /* name+value bytes of the current pair received */
  size_t cur_off;  /* where the current pair starts in the arena */
  int in_pair;
  int error; /* sticky fk_params_feed error; FK_OK while healthy */
} fk_params;

/* Prepares an empty set. alloc may be NULL (libc); it is kept, not copied,
 * and must outlive the set. max_bytes and max_pairs of 0 mean "no limit" and
 * are meant for trusted input only; even then the arena stays below 4 GiB
 * (its index holds 32-bit offsets) and feeding past that fails with
 * FK_E_PARAMS_TOO_LARGE. */
void fk_params_init(fk_params *p, const fk_allocator *alloc, size_t max_bytes,
                    size_t max_pairs);

/* Releases the memory of the set; p may then be initialised again. */
void fk_params_free(fk_params *p);

/* Empties the set, keeping its memory for reuse. */
void fk_params_reset(fk_params *p);

/* Feeds len bytes of stream content. Returns FK_OK, or FK_E_PARAMS_TOO_LARGE,
 * FK_E_TOO_MANY_PARAMS or FK_E_NOMEM; after an error the set keeps the
 * pairs completed so far and refuses further input with the same error. */
int fk_params_feed(fk_params *p, const uint8_t *data, size_t len);

/* Marks the end of the stream. Returns FK_OK, or FK_E_TRUNCATED_PAIR when
 * the stream ended inside a pair, or the sticky error of an earlier
 * fk_params_feed. */
int fk_params_finish(const fk_params *p);

/* The number of complete pairs. */
size_t fk_params_count(const fk_params *p);

/* Pair i (0-based, in the order received). Returns FK_OK or FK_E_INVAL.
 * Pointers are valid until the set is reset, freed or fed again. */
int fk_params_at(const fk_params *p, size_t i, const char **name,
                 size_t *name_len, const char **value, size_t *value_len);

/* The value of the first pair whose name equals name (NUL-terminated, exact
 * byte comparison), or NULL. value_len may be NULL. Same lifetime as above. */
const char *fk_params_get(const fk_params *p, const char *name,
                          size_t *value_len);

/* --- The incremental record parser --------------------------------------- */

enum fk_event_type {
  FK_EV_NONE = 0,      /* need more input */
  FK_EV_BEGIN,         /* role, flags */
  FK_EV_ABORT,         /* ABORT_REQUEST */
  FK_EV_END,           /* END_REQUEST: app_status, protocol_status */
  FK_EV_STREAM,        /* data of PARAMS/STDIN/STDOUT/STDERR/DATA; len > 0 */
  FK_EV_STREAM_END,    /* an empty record of a stream type */
  FK_EV_VALUES,        /* content of GET_VALUES(_RESULT); len > 0 */
  FK_EV_VALUES_END,    /* end of a GET_VALUES(_RESULT) record */
  FK_EV_UNKNOWN_TYPE,  /* UNKNOWN_TYPE: unknown_type */
  FK_EV_UNKNOWN_RECORD /* a record of a type outside 1..11; content skipped */
};

typedef struct fk_event {
  int type;                /* enum fk_event_type */
  unsigned record_type;    /* type byte of the record the event comes from */
  unsigned request_id;
  /* FK_EV_STREAM, FK_EV_VALUES: points into the caller's input; valid as
   * long as that input is. A record's content may arrive as several events
   * when the input is fragmented. */
  const uint8_t *data;
  size_t len;
  unsigned role, flags;           /* FK_EV_BEGIN */
  uint32_t app_status;            /* FK_EV_END */
  unsigned protocol_status;       /* FK_EV_END */
  unsigned unknown_type;          /* FK_EV_UNKNOWN_TYPE */
} fk_event;

/* Parser state. Plain data: embed it, no allocation, no destructor. */
typedef struct fk_parser {
  int state;
  fk_header h;
  uint8_t buf[FK_HEADER_LEN]; /* partial header or fixed 8-byte body */
  unsigned have;
  size_t content_left, padding_left;
  uint64_t offset;       /* input bytes consumed so far */
  int error;             /* sticky; FK_OK while healthy */
  uint64_t error_offset; /* where the error was found */
} fk_parser;

void fk_parser_init(fk_parser *p);

/* Consumes input and reports at most one event.
 * Returns the number of bytes consumed (0..len) and fills *ev; ev->type is
 * FK_EV_NONE when every byte given was consumed without completing an event
 * (call again with more input). Call repeatedly, advancing the input by the
 * return value, until it returns 0 with FK_EV_NONE.
 * Returns a negative fk_error on a malformed record (FK_E_VERSION,
 * FK_E_RECORD_LENGTH); the error is sticky, and fk_parser_error_offset()
 * says at which input byte it was found.
 *
 * Checks made here: version; BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE
 * content of exactly 8 bytes. The meaning of request ids and of stream
 * order is the caller's business (a session knows which ids are active). */
long fk_parser_feed(fk_parser *p, const uint8_t *in, size_t len, fk_event *ev);

/* The sticky error (FK_OK if none) and the input offset it was found at. */
int fk_parser_error(const fk_parser *p);
uint64_t fk_parser_error_offset(const fk_parser *p);

/* Nonzero when the parser is between records (a clean place for the peer to
 * close the connection). */
int fk_parser_idle(const fk_parser *p);

/* Reading content in place. A caller that wants a stream record's content
 * in its own buffer, rather than copied out of the input it feeds, reads it
 * from its source itself and tells the parser; padding and headers are fed
 * as usual.
 *
 * fk_parser_content_left: inside the content of a stream record, how many
 * of its bytes are still to come (with the record's header in *h); 0
 * anywhere else. fk_parser_skip_content: the caller took the next n of
 * them (n at most that; anything else is ignored). fk_parser_until_header:
 * between records, how many input bytes complete the next header (the
 * rest of the last record's padding included), so that reading exactly
 * that many never takes a byte past it; 0 inside a record or a header. */
size_t fk_parser_content_left(const fk_parser *p, fk_header *h);
void fk_parser_skip_content(fk_parser *p, size_t n);
size_t fk_parser_until_header(const fk_parser *p);

#ifdef __cplusplus
}
#endif
#endif
