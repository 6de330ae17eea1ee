/*
 * The client session: the web server's half of one FastCGI connection,
 * without I/O.
 *
 * Sending: each call encodes records into one output buffer. Stream data
 * (PARAMS, STDIN, DATA) goes into an open record at the buffer's end, so
 * that small pieces become one record; the record's header and padding
 * are written when it closes (a change of stream, a full record, or when
 * the caller takes the bytes), as lib/app/output.c does.
 *
 * Receiving: fk_parser_feed turns the bytes into record events; this file
 * decides what they mean for the requests in flight and hands STDOUT and
 * STDERR on as pointers into the caller's input, so that a flood of output
 * costs no memory here. Anything the application may not send ends the
 * session with a reason and the offset of the offending record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/internal.h"

/* Record content at most this big: a multiple of 8, so a full record
 * needs no padding. */
#define RECORD_MAX (FK_MAX_CONTENT & ~7u)
#define MAX_ID 65535u

enum slot_state { SLOT_FREE = 0, SLOT_ACTIVE, SLOT_ENDED };

/* Which input stream a request is sending (spec 6.1: PARAMS, then STDIN,
 * then DATA, each complete before the next). */
enum send_state { SEND_PARAMS = 0, SEND_STDIN, SEND_DATA, SEND_DONE };

/* One request id. ENDED is free for reuse; it is kept apart from FREE only
 * to say "after its END_REQUEST" when the application goes on anyway. */
struct slot {
  int state;
  int send;
  int aborted;
  int out_ended, err_ended;
  size_t params_bytes;
  void *user;
};

struct fk_client_session {
  fk_client_settings set;
  fk_parser parser;
  /* Output. When open_type is not 0 a record of that type for open_id
   * starts at out.pos + open_off (relative to pos: a reserve may move the
   * pending bytes to the front) and runs to out.len. */
  fk__buf out;
  size_t open_off;
  unsigned open_type, open_id;
  /* Request ids 1..nslots; slots[id - 1]. */
  struct slot *slots;
  unsigned nslots;
  unsigned in_flight, max_requests;
  int closing; /* a request went without KEEP_CONN: no more after it */
  /* GET_VALUES */
  unsigned values_wanted; /* queries not yet answered */
  int values_receiving;   /* a GET_VALUES_RESULT's content has started */
  fk_params values;       /* the last result */
  /* Failure */
  int error;
  uint64_t error_offset;
  char reason[160];
};

static const fk_allocator *alloc_of(const fk_client_session *s) {
  return s->set.allocator;
}

void fk_client_settings_init(fk_client_settings *set) {
  memset(set, 0, sizeof *set);
  set->max_params_bytes = 1u << 20;
  set->max_requests_cap = 256;
  set->max_values_bytes = 4096;
  set->max_values = 64;
}

int fk_client_session_new(fk_client_session **out,
                          const fk_client_settings *settings) {
  fk_client_settings def;
  *out = NULL;
  if (settings == NULL) {
    fk_client_settings_init(&def);
    settings = &def;
  }
  if (settings->max_requests_cap == 0 || settings->max_requests_cap > MAX_ID)
    return FK_E_INVAL;
  fk_client_session *s = fk__alloc(settings->allocator, sizeof *s);
  if (s == NULL)
    return FK_E_NOMEM;
  memset(s, 0, sizeof *s);
  s->set = *settings;
  fk_parser_init(&s->parser);
  s->max_requests = 1; /* until the application says it multiplexes */
  fk_params_init(&s->values, s->set.allocator, s->set.max_values_bytes,
                 s->set.max_values);
  *out = s;
  return FK_OK;
}

void fk_client_session_free(fk_client_session *s) {
  if (s == NULL)
    return;
  const fk_allocator *a = alloc_of(s);
  fk_params_free(&s->values);
  fk__buf_free(&s->out, a);
  fk__free(a, s->slots);
  fk__free(a, s);
}

/* --- Failure ------------------------------------------------------------- */

static int fail(fk_client_session *s, int error, uint64_t offset,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(fk_client_session *s, int error, uint64_t offset,
                const char *fmt, ...) {
  va_list ap;
  s->error = error;
  s->error_offset = offset;
  va_start(ap, fmt);
  vsnprintf(s->reason, sizeof s->reason, fmt, ap);
  va_end(ap);
  return error;
}

int fk_client_session_error(const fk_client_session *s) { return s->error; }

uint64_t fk_client_session_error_offset(const fk_client_session *s) {
  return s->error_offset;
}

const char *fk_client_session_error_reason(const fk_client_session *s) {
  return s->reason;
}

/* --- Output records ------------------------------------------------------ */

static uint8_t *open_header(fk_client_session *s) {
  return s->out.data + s->out.pos + s->open_off;
}

static size_t open_content(const fk_client_session *s) {
  return s->out.len - s->out.pos - s->open_off - FK_HEADER_LEN;
}

/* Writes the open record's header and padding. Room for the padding was
 * reserved with the content. */
static void close_record(fk_client_session *s) {
  if (s->open_type == 0)
    return;
  size_t clen = open_content(s);
  if (clen == 0) {
    /* An empty record would end the stream (spec 3.3): drop it. */
    s->out.len -= FK_HEADER_LEN;
  } else {
    size_t pad = fk_padding_for(clen);
    memset(s->out.data + s->out.len, 0, pad);
    s->out.len += pad;
    fk_header_encode(open_header(s), s->open_type, s->open_id, clen, pad);
  }
  s->open_type = 0;
}

/* Room for n content bytes of stream data, whatever records they fall
 * into: a header and up to 7 padding bytes per record, plus a record
 * already open. Reserving it all first makes a write all-or-nothing. */
static int reserve_stream(fk_client_session *s, size_t n) {
  size_t records = n / RECORD_MAX + 2;
  if (n > SIZE_MAX / 2)
    return FK_E_NOMEM;
  return fk__buf_reserve(&s->out, alloc_of(s),
                          n + records * (FK_HEADER_LEN + 7));
}

/* Appends to stream type of request id; the caller reserved the room. */
static void stream_append(fk_client_session *s, unsigned type, unsigned id,
                          const uint8_t *p, size_t n) {
  while (n > 0) {
    if (s->open_type != type || s->open_id != id ||
        open_content(s) == RECORD_MAX) {
      close_record(s);
      s->open_off = s->out.len - s->out.pos;
      s->out.len += FK_HEADER_LEN;
      s->open_type = type;
      s->open_id = id;
    }
    size_t room = RECORD_MAX - open_content(s);
    size_t k = n < room ? n : room;
    memcpy(s->out.data + s->out.len, p, k);
    s->out.len += k;
    p += k;
    n -= k;
  }
}

/* Appends a complete record of fixed size (BEGIN, ABORT, a stream's end). */
static int append_record(fk_client_session *s, const uint8_t *rec, size_t n) {
  close_record(s);
  int rc = fk__buf_reserve(&s->out, alloc_of(s), n);
  if (rc != FK_OK)
    return rc;
  memcpy(s->out.data + s->out.len, rec, n);
  s->out.len += n;
  return FK_OK;
}

size_t fk_client_session_pending(fk_client_session *s, const uint8_t **data) {
  close_record(s);
  *data = s->out.data + s->out.pos;
  return fk__buf_pending(&s->out);
}

void fk_client_session_consume(fk_client_session *s, size_t n) {
  size_t pending = fk__buf_pending(&s->out);
  s->out.pos += n < pending ? n : pending;
  if (s->out.pos == s->out.len)
    s->out.pos = s->out.len = 0;
}

/* --- Requests ------------------------------------------------------------ */

static struct slot *active_slot(fk_client_session *s, unsigned id) {
  if (id == 0 || id > s->nslots || s->slots[id - 1].state != SLOT_ACTIVE)
    return NULL;
  return &s->slots[id - 1];
}

/* The lowest id not in flight, growing the table when all are. */
static int free_id(fk_client_session *s, unsigned *id) {
  for (unsigned i = 0; i < s->nslots; i++) {
    if (s->slots[i].state != SLOT_ACTIVE) {
      *id = i + 1;
      return FK_OK;
    }
  }
  unsigned n = s->nslots ? s->nslots * 2 : 4;
  if (n > MAX_ID)
    n = MAX_ID;
  if (n <= s->nslots)
    return FK_E_BUSY; /* every id is in flight */
  struct slot *t =
      fk__realloc(alloc_of(s), s->slots, n * sizeof *s->slots);
  if (t == NULL)
    return FK_E_NOMEM;
  memset(t + s->nslots, 0, (n - s->nslots) * sizeof *t);
  s->slots = t;
  *id = s->nslots + 1;
  s->nslots = n;
  return FK_OK;
}

int fk_client_session_begin(fk_client_session *s, unsigned role, unsigned flags,
                            void *user, unsigned *id) {
  if (s->error != FK_OK)
    return s->error;
  if (role == 0 || role > 0xffffu || (flags & ~(unsigned)FK_KEEP_CONN))
    return FK_E_INVAL;
  if (s->closing)
    return FK_E_STATE;
  if (s->in_flight >= s->max_requests)
    return FK_E_BUSY;
  unsigned rid;
  int rc = free_id(s, &rid);
  if (rc != FK_OK)
    return rc;
  uint8_t rec[FK_BEGIN_REQUEST_SIZE];
  fk_encode_begin_request(rec, rid, role, flags);
  if ((rc = append_record(s, rec, sizeof rec)) != FK_OK)
    return rc;
  struct slot *sl = &s->slots[rid - 1];
  memset(sl, 0, sizeof *sl);
  sl->state = SLOT_ACTIVE;
  sl->user = user;
  s->in_flight++;
  /* Spec 5.1: without KEEP_CONN the application closes the connection
   * once it has answered this request. */
  if (!(flags & FK_KEEP_CONN))
    s->closing = 1;
  *id = rid;
  return FK_OK;
}

/* A name-value length (spec 3.4): one byte for 0..127, else four bytes,
 * big-endian, with bit 31 set. */
static size_t put_length(uint8_t *out, size_t len) {
  if (len < 128) {
    out[0] = (uint8_t)len;
    return 1;
  }
  out[0] = (uint8_t)(len >> 24 | 0x80u);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
  return 4;
}

/* The slot of a request still sending its input, or an error. */
static int sending_slot(fk_client_session *s, unsigned id, struct slot **out) {
  if (s->error != FK_OK)
    return s->error;
  struct slot *sl = active_slot(s, id);
  if (sl == NULL)
    return FK_E_INVAL;
  if (sl->aborted)
    return FK_E_STATE;
  *out = sl;
  return FK_OK;
}

int fk_client_session_param(fk_client_session *s, unsigned id, const void *name,
                            size_t name_len, const void *value,
                            size_t value_len) {
  struct slot *sl;
  int rc = sending_slot(s, id, &sl);
  if (rc != FK_OK)
    return rc;
  if (sl->send != SEND_PARAMS)
    return FK_E_STATE;
  size_t size = fk_nv_size(name_len, value_len);
  if (size == 0)
    return FK_E_PAIR_TOO_LONG;
  if (s->set.max_params_bytes &&
      size > s->set.max_params_bytes - sl->params_bytes)
    return FK_E_PARAMS_TOO_LARGE;
  if ((rc = reserve_stream(s, size)) != FK_OK)
    return rc;
  uint8_t prefix[8];
  size_t plen = put_length(prefix, name_len);
  plen += put_length(prefix + plen, value_len);
  /* The pair may straddle records: boundaries carry no meaning (3.3). */
  stream_append(s, FK_PARAMS, id, prefix, plen);
  stream_append(s, FK_PARAMS, id, name, name_len);
  stream_append(s, FK_PARAMS, id, value, value_len);
  sl->params_bytes += size;
  return FK_OK;
}

/* Which send state a stream type is sent in. */
static int send_state_of(unsigned type) {
  switch (type) {
  case FK_PARAMS: return SEND_PARAMS;
  case FK_STDIN: return SEND_STDIN;
  case FK_DATA: return SEND_DATA;
  default: return -1;
  }
}

int fk_client_session_stream(fk_client_session *s, unsigned id, unsigned type,
                             const void *data, size_t len) {
  struct slot *sl;
  int rc = sending_slot(s, id, &sl);
  if (rc != FK_OK)
    return rc;
  if (type != FK_STDIN && type != FK_DATA)
    return FK_E_INVAL;
  if (sl->send != send_state_of(type))
    return FK_E_STATE;
  if (len == 0)
    return FK_OK; /* an empty record would end the stream */
  if ((rc = reserve_stream(s, len)) != FK_OK)
    return rc;
  stream_append(s, type, id, data, len);
  return FK_OK;
}

int fk_client_session_stream_end(fk_client_session *s, unsigned id,
                                 unsigned type) {
  struct slot *sl;
  int rc = sending_slot(s, id, &sl);
  if (rc != FK_OK)
    return rc;
  int want = send_state_of(type);
  if (want < 0)
    return FK_E_INVAL;
  if (sl->send > want)
    return FK_E_STATE;
  /* Every stream before this one is ended too: "at least one record of
   * every stream the role uses is always sent, even an empty one" (6.1). */
  close_record(s);
  if ((rc = fk__buf_reserve(&s->out, alloc_of(s), 3 * FK_STREAM_END_SIZE)) !=
      FK_OK)
    return rc;
  static const unsigned types[] = {FK_PARAMS, FK_STDIN, FK_DATA};
  for (int st = sl->send; st <= want; st++) {
    fk_encode_stream_end(s->out.data + s->out.len, types[st], id);
    s->out.len += FK_STREAM_END_SIZE;
  }
  sl->send = want + 1;
  return FK_OK;
}

int fk_client_session_abort(fk_client_session *s, unsigned id) {
  if (s->error != FK_OK)
    return s->error;
  struct slot *sl = active_slot(s, id);
  if (sl == NULL)
    return FK_E_INVAL;
  if (sl->aborted)
    return FK_OK;
  uint8_t rec[FK_ABORT_REQUEST_SIZE];
  fk_encode_abort_request(rec, id);
  int rc = append_record(s, rec, sizeof rec);
  if (rc == FK_OK)
    sl->aborted = 1;
  return rc;
}

int fk_client_session_get_values(fk_client_session *s, const char *const *names,
                                 size_t count) {
  static const char *const standard[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                         "FCGI_MPXS_CONNS"};
  if (s->error != FK_OK)
    return s->error;
  if (names == NULL || count == 0) {
    names = standard;
    count = 3;
  }
  /* Discrete (3.3): the whole query goes in one record, values empty
   * (4.1). */
  size_t content = 0;
  for (size_t i = 0; i < count; i++) {
    size_t n = fk_nv_size(strlen(names[i]), 0);
    if (n == 0 || n > FK_MAX_CONTENT - content)
      return FK_E_INVAL;
    content += n;
  }
  size_t pad = fk_padding_for(content);
  close_record(s);
  int rc =
      fk__buf_reserve(&s->out, alloc_of(s), FK_HEADER_LEN + content + pad);
  if (rc != FK_OK)
    return rc;
  uint8_t *p = s->out.data + s->out.len;
  fk_header_encode(p, FK_GET_VALUES, FK_NULL_REQUEST_ID, content, pad);
  size_t at = FK_HEADER_LEN;
  for (size_t i = 0; i < count; i++)
    at += fk_nv_encode(p + at, names[i], strlen(names[i]), "", 0);
  memset(p + at, 0, pad);
  s->out.len += at + pad;
  s->values_wanted++;
  return FK_OK;
}

/* --- Receiving ----------------------------------------------------------- */

/* Where the record being parsed started in the input stream. The parser
 * reports a record's events before its padding, so the bytes consumed of
 * it are its header and the content handed out so far. */
static uint64_t record_offset(const fk_client_session *s) {
  const fk_parser *p = &s->parser;
  uint64_t seen = FK_HEADER_LEN + (p->h.content_length - p->content_left);
  return p->offset >= seen ? p->offset - seen : 0;
}

/* A record for an id that is not in flight. */
static int not_in_flight(fk_client_session *s, const fk_event *pe) {
  unsigned id = pe->request_id;
  int ended = id > 0 && id <= s->nslots && s->slots[id - 1].state == SLOT_ENDED;
  return fail(s, FK_E_REQUEST_ID, record_offset(s), "%s for request %u, %s",
              fk_type_name(pe->record_type), id,
              ended ? "after its FCGI_END_REQUEST" : "which is not in flight");
}

static int on_output(fk_client_session *s, const fk_event *pe,
                     fk_client_event *ev) {
  struct slot *sl = active_slot(s, pe->request_id);
  if (sl == NULL)
    return not_in_flight(s, pe);
  int is_out = pe->record_type == FK_STDOUT;
  int *ended = is_out ? &sl->out_ended : &sl->err_ended;
  if (*ended)
    return fail(s, FK_E_STREAM_ORDER, record_offset(s),
                "%s for request %u after the end of that stream",
                fk_type_name(pe->record_type), pe->request_id);
  ev->request_id = pe->request_id;
  ev->user = sl->user;
  if (pe->type == FK_EV_STREAM_END) {
    *ended = 1;
    ev->type = is_out ? FK_CLIENT_STDOUT_END : FK_CLIENT_STDERR_END;
  } else {
    ev->type = is_out ? FK_CLIENT_STDOUT : FK_CLIENT_STDERR;
    ev->data = pe->data;
    ev->len = pe->len;
  }
  return FK_OK;
}

static int on_end(fk_client_session *s, const fk_event *pe,
                  fk_client_event *ev) {
  struct slot *sl = active_slot(s, pe->request_id);
  if (sl == NULL)
    return not_in_flight(s, pe);
  ev->type = FK_CLIENT_END;
  ev->request_id = pe->request_id;
  ev->user = sl->user;
  ev->app_status = pe->app_status;
  ev->protocol_status = pe->protocol_status;
  sl->state = SLOT_ENDED;
  s->in_flight--;
  /* Spec 5.5: the application takes one request per connection. */
  if (pe->protocol_status == FK_CANT_MPX_CONN)
    s->max_requests = 1;
  return FK_OK;
}

/* A decimal value of GET_VALUES_RESULT, saturated at max; -1 when it is
 * not a number. */
static long decimal(const char *v, size_t len, long max) {
  long n = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    n = n * 10 + (v[i] - '0');
    if (n > max)
      n = max;
  }
  return n;
}

/* What the answer says about multiplexing (spec 4.1). Names not asked
 * for, or absent, leave the limit alone. */
static void apply_values(fk_client_session *s) {
  size_t len;
  const char *mpxs = fk_params_get(&s->values, "FCGI_MPXS_CONNS", &len);
  if (mpxs == NULL)
    return;
  long cap = (long)s->set.max_requests_cap;
  if (decimal(mpxs, len, 1) != 1) {
    s->max_requests = 1;
    return;
  }
  const char *reqs = fk_params_get(&s->values, "FCGI_MAX_REQS", &len);
  long n = reqs ? decimal(reqs, len, cap) : cap;
  s->max_requests = n >= 1 ? (unsigned)n : 1;
}

static int on_values(fk_client_session *s, const fk_event *pe) {
  if (!s->values_receiving) {
    fk_params_reset(&s->values);
    s->values_receiving = 1;
  }
  int rc = fk_params_feed(&s->values, pe->data, pe->len);
  if (rc != FK_OK)
    return fail(s, rc, record_offset(s),
                "FCGI_GET_VALUES_RESULT over the limits: %s", fk_strerror(rc));
  return FK_OK;
}

/* Returns 1 when the record makes an event, 0 when it is ignored. */
static int on_values_end(fk_client_session *s, fk_client_event *ev) {
  int had_content = s->values_receiving;
  s->values_receiving = 0;
  /* Go's net/http/fcgi follows its answer with an empty record, as if it
   * were a stream (protocol facts, 3): not an answer of its own. */
  if (!had_content && s->values_wanted == 0)
    return 0;
  if (!had_content)
    fk_params_reset(&s->values);
  int rc = fk_params_finish(&s->values);
  if (rc != FK_OK)
    return fail(s, rc, record_offset(s), "FCGI_GET_VALUES_RESULT: %s",
                fk_strerror(rc));
  if (s->values_wanted > 0)
    s->values_wanted--;
  apply_values(s);
  ev->type = FK_CLIENT_VALUES;
  return 1;
}

static int management(fk_client_session *s, const fk_event *pe,
                      fk_client_event *ev) {
  if (pe->request_id != FK_NULL_REQUEST_ID)
    return fail(s, FK_E_REQUEST_ID, record_offset(s),
                "%s with request id %u (a management record has id 0)",
                fk_type_name(pe->record_type), pe->request_id);
  if (pe->type == FK_EV_VALUES)
    return on_values(s, pe);
  if (pe->type == FK_EV_VALUES_END)
    return on_values_end(s, ev) < 0 ? s->error : FK_OK;
  /* FK_EV_UNKNOWN_TYPE (4.2) */
  if (pe->unknown_type == FK_GET_VALUES && s->values_wanted > 0)
    s->values_wanted--;
  ev->type = FK_CLIENT_UNKNOWN_TYPE;
  ev->unknown_type = pe->unknown_type;
  return FK_OK;
}

/* Decides what one parser event means; fills ev when it makes a client
 * event. Returns FK_OK or the session's new error. */
static int dispatch(fk_client_session *s, const fk_event *pe,
                    fk_client_event *ev) {
  switch (pe->record_type) {
  case FK_STDOUT:
  case FK_STDERR: return on_output(s, pe, ev);
  case FK_END_REQUEST: return on_end(s, pe, ev);
  case FK_GET_VALUES_RESULT:
  case FK_UNKNOWN_TYPE: return management(s, pe, ev);
  case FK_BEGIN_REQUEST:
  case FK_ABORT_REQUEST:
  case FK_PARAMS:
  case FK_STDIN:
  case FK_DATA:
  case FK_GET_VALUES:
    return fail(s, FK_E_STREAM_ORDER, record_offset(s),
                "%s from the application (only a web server sends it)",
                fk_type_name(pe->record_type));
  default: return FK_OK; /* types above 11: skipped, see fk_parser_feed */
  }
}

long fk_client_session_recv(fk_client_session *s, const uint8_t *in, size_t len,
                            fk_client_event *ev) {
  size_t used = 0;
  memset(ev, 0, sizeof *ev);
  if (s->error != FK_OK)
    return s->error;
  for (;;) {
    fk_event pe;
    long n = fk_parser_feed(&s->parser, in + used, len - used, &pe);
    if (n < 0)
      return fail(s, (int)n, fk_parser_error_offset(&s->parser),
                  n == FK_E_VERSION
                      ? "a record with a version other than 1"
                      : "a record whose content length is wrong for its "
                        "type");
    used += (size_t)n;
    if (pe.type == FK_EV_NONE)
      return (long)used;
    int rc = dispatch(s, &pe, ev);
    if (rc != FK_OK)
      return rc;
    if (ev->type != FK_CLIENT_NONE)
      return (long)used;
  }
}

int fk_client_session_eof(fk_client_session *s) {
  if (s->error != FK_OK)
    return s->error;
  uint64_t at = s->parser.offset;
  if (!fk_parser_idle(&s->parser))
    return fail(s, FK_E_CLOSED, at,
                "the application closed the connection inside a record");
  if (s->in_flight > 0)
    return fail(s, FK_E_CLOSED, at,
                "the application closed the connection with %u request(s) "
                "unanswered",
                s->in_flight);
  if (s->values_wanted > 0)
    return fail(s, FK_E_CLOSED, at,
                "the application closed the connection without answering "
                "FCGI_GET_VALUES");
  return FK_OK;
}

const fk_params *fk_client_session_values(const fk_client_session *s) {
  return &s->values;
}

/* --- State --------------------------------------------------------------- */

unsigned fk_client_session_in_flight(const fk_client_session *s) {
  return s->in_flight;
}

int fk_client_session_want_read(const fk_client_session *s) {
  return s->in_flight > 0 || s->values_wanted > 0;
}

unsigned fk_client_session_max_requests(const fk_client_session *s) {
  return s->max_requests;
}

int fk_client_session_set_max_requests(fk_client_session *s, unsigned max) {
  if (max == 0 || max > MAX_ID)
    return FK_E_INVAL;
  s->max_requests = max;
  return FK_OK;
}

int fk_client_session_can_begin(const fk_client_session *s) {
  return s->error == FK_OK && !s->closing && s->in_flight < s->max_requests;
}

int fk_client_session_reusable(const fk_client_session *s) {
  return s->error == FK_OK && !s->closing;
}

void *fk_client_session_user(const fk_client_session *s, unsigned id) {
  if (id == 0 || id > s->nslots || s->slots[id - 1].state != SLOT_ACTIVE)
    return NULL;
  return s->slots[id - 1].user;
}
