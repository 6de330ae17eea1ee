/*
 * The incremental record parser (spec 3.3).
 *
 * A small state machine walks header, body and padding of one record after
 * another and stops as soon as it has an event to report, so input may be
 * cut anywhere, down to single bytes. Stream and GET_VALUES content is
 * handed out as pointers into the caller's input (no copy); only the 8-byte
 * header and the 8-byte fixed bodies are gathered in p->buf, because they
 * are decoded field by field and may arrive in pieces.
 *
 * An event is reported the moment the record's content is complete, before
 * its padding: a peer's last record (a lone GET_VALUES probe, an ABORT) must
 * be answered without waiting for bytes the peer may send much later, which
 * is how fcgi2 hangs (protocol facts, section 10 item 3).
 */
#include <string.h>

#include "core.h"

enum parser_state {
  ST_HEADER,     /* gathering the header in buf, have bytes so far */
  ST_FIXED,      /* gathering an 8-byte body in buf */
  ST_CONTENT,    /* handing out stream or GET_VALUES content */
  ST_SKIP,       /* discarding ABORT_REQUEST or unknown-type content */
  ST_VALUES_END, /* GET_VALUES content done; VALUES_END not yet reported */
  ST_PADDING     /* discarding padding */
};

/* BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies (4.2, 5.1, 5.5). */
#define FIXED_BODY_LEN 8u

/* What a step tells the loop in fk_parser_feed. */
enum { STEP_STOP = 0, STEP_AGAIN = 1 };

/* How a record's content is handled, by type (spec 8, appendix A). */
enum record_kind { KIND_FIXED, KIND_STREAM, KIND_VALUES, KIND_SKIP };

/* The unread part of the caller's input. */
struct input {
  const uint8_t *at;
  size_t left;
  size_t used;
};

static enum record_kind record_kind(unsigned type) {
  switch (type) {
  case FK_BEGIN_REQUEST:
  case FK_END_REQUEST:
  case FK_UNKNOWN_TYPE: return KIND_FIXED;
  case FK_PARAMS:
  case FK_STDIN:
  case FK_STDOUT:
  case FK_STDERR:
  case FK_DATA: return KIND_STREAM;
  case FK_GET_VALUES:
  case FK_GET_VALUES_RESULT: return KIND_VALUES;
  default: return KIND_SKIP; /* ABORT_REQUEST and types 0, 12..255 */
  }
}

/* Consumes up to want bytes and returns how many. */
static size_t advance(fk_parser *p, struct input *in, size_t want) {
  size_t n = want < in->left ? want : in->left;

  if (n == 0)
    return 0; /* in->at may be NULL when len is 0 */
  in->at += n;
  in->left -= n;
  in->used += n;
  p->offset += n;
  return n;
}

static int fail(fk_parser *p, int error, uint64_t offset) {
  p->error = error;
  p->error_offset = offset;
  return error;
}

/* Fills the fields every event carries. */
static void event(const fk_parser *p, fk_event *ev, int type) {
  ev->type = type;
  ev->record_type = p->h.type;
  ev->request_id = p->h.request_id;
}

/* The record's content is done: padding next, if any (spec 3.3: receivers
 * must read and discard it). */
static void content_done(fk_parser *p) {
  p->state = p->padding_left ? ST_PADDING : ST_HEADER;
}

/* Reports an event that ends the record's content. */
static int report(fk_parser *p, fk_event *ev, int type) {
  event(p, ev, type);
  content_done(p);
  return STEP_STOP;
}

/* The header is complete: check it and choose how to read the content. */
static int begin_record(fk_parser *p, fk_event *ev) {
  (void)fk_header_decode(&p->h, p->buf); /* version checked on arrival */
  p->content_left = p->h.content_length;
  p->padding_left = p->h.padding_length;
  switch (record_kind(p->h.type)) {
  case KIND_FIXED:
    if (p->content_left != FIXED_BODY_LEN)
      return fail(p, FK_E_RECORD_LENGTH, p->offset - FK_HEADER_LEN);
    p->state = ST_FIXED;
    return STEP_AGAIN;
  case KIND_STREAM: /* 3.3: an empty record ends the stream */
    if (p->content_left == 0)
      return report(p, ev, FK_EV_STREAM_END);
    p->state = ST_CONTENT;
    return STEP_AGAIN;
  case KIND_VALUES: /* discrete (3.3): one record is the whole message */
    if (p->content_left == 0)
      return report(p, ev, FK_EV_VALUES_END);
    p->state = ST_CONTENT;
    return STEP_AGAIN;
  case KIND_SKIP: break;
  }
  p->state = ST_SKIP;
  return STEP_AGAIN;
}

static int step_header(fk_parser *p, struct input *in, fk_event *ev) {
  while (p->have < FK_HEADER_LEN && in->left > 0) {
    /* A wrong version is fatal for the connection (3.3, [practice]); say
     * so at its first byte rather than after the whole header. */
    if (p->have == 0 && in->at[0] != FK_VERSION_1)
      return fail(p, FK_E_VERSION, p->offset);
    p->buf[p->have++] = in->at[0];
    advance(p, in, 1);
  }
  if (p->have < FK_HEADER_LEN)
    return STEP_STOP;
  p->have = 0;
  return begin_record(p, ev);
}

static uint32_t get_u32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

/* BEGIN_REQUEST (5.1), END_REQUEST (5.5) or UNKNOWN_TYPE (4.2) bodies. */
static int step_fixed(fk_parser *p, struct input *in, fk_event *ev) {
  size_t n = FIXED_BODY_LEN - p->have;

  n = n < in->left ? n : in->left;
  if (n > 0)
    memcpy(p->buf + p->have, in->at, n);
  p->have += (unsigned)advance(p, in, n);
  if (p->have < FIXED_BODY_LEN)
    return STEP_STOP;
  p->have = 0;
  p->content_left = 0;
  if (p->h.type == FK_BEGIN_REQUEST) {
    ev->role = (unsigned)p->buf[0] << 8 | p->buf[1];
    ev->flags = p->buf[2];
    return report(p, ev, FK_EV_BEGIN);
  }
  if (p->h.type == FK_END_REQUEST) {
    ev->app_status = get_u32(p->buf);
    ev->protocol_status = p->buf[4];
    return report(p, ev, FK_EV_END);
  }
  ev->unknown_type = p->buf[0];
  return report(p, ev, FK_EV_UNKNOWN_TYPE);
}

/* Hands out as much content as this input holds, without copying it. */
static int step_content(fk_parser *p, struct input *in, fk_event *ev) {
  int values = record_kind(p->h.type) == KIND_VALUES;
  const uint8_t *at = in->at;
  size_t n = advance(p, in, p->content_left);

  if (n == 0)
    return STEP_STOP;
  event(p, ev, values ? FK_EV_VALUES : FK_EV_STREAM);
  ev->data = at;
  ev->len = n;
  p->content_left -= n;
  if (p->content_left == 0) {
    if (values)
      p->state = ST_VALUES_END; /* one event per call: report it next */
    else
      content_done(p);
  }
  return STEP_STOP;
}

/* ABORT_REQUEST has no body (5.4) and unknown types have none we could
 * read; their content is discarded before the event. */
static int step_skip(fk_parser *p, struct input *in, fk_event *ev) {
  p->content_left -= advance(p, in, p->content_left);
  if (p->content_left > 0)
    return STEP_STOP;
  if (p->h.type == FK_ABORT_REQUEST)
    return report(p, ev, FK_EV_ABORT);
  return report(p, ev, FK_EV_UNKNOWN_RECORD);
}

static int step_padding(fk_parser *p, struct input *in) {
  p->padding_left -= advance(p, in, p->padding_left);
  if (p->padding_left > 0)
    return STEP_STOP;
  p->state = ST_HEADER;
  return STEP_AGAIN;
}

static int step(fk_parser *p, struct input *in, fk_event *ev) {
  switch (p->state) {
  case ST_HEADER: return step_header(p, in, ev);
  case ST_FIXED: return step_fixed(p, in, ev);
  case ST_CONTENT: return step_content(p, in, ev);
  case ST_SKIP: return step_skip(p, in, ev);
  case ST_VALUES_END: return report(p, ev, FK_EV_VALUES_END);
  case ST_PADDING: return step_padding(p, in);
  }
  return fail(p, FK_E_STATE, p->offset); /* unreachable: corrupted state */
}

void fk_parser_init(fk_parser *p) {
  memset(p, 0, sizeof *p);
  p->state = ST_HEADER;
  p->error = FK_OK;
}

long fk_parser_feed(fk_parser *p, const uint8_t *in, size_t len, fk_event *ev) {
  struct input cur = {in, len, 0};
  int r;

  memset(ev, 0, sizeof *ev);
  ev->type = FK_EV_NONE;
  if (p->error != FK_OK)
    return p->error;
  do
    r = step(p, &cur, ev);
  while (r == STEP_AGAIN);
  if (r < 0)
    return r;
  /* At most one record's padding, header and content: far below LONG_MAX. */
  return (long)cur.used;
}

int fk_parser_error(const fk_parser *p) { return p->error; }

uint64_t fk_parser_error_offset(const fk_parser *p) { return p->error_offset; }

int fk_parser_idle(const fk_parser *p) {
  return p->error == FK_OK && p->state == ST_HEADER && p->have == 0;
}

size_t fk_parser_content_left(const fk_parser *p, fk_header *h) {
  if (p->error != FK_OK || p->state != ST_CONTENT ||
      record_kind(p->h.type) != KIND_STREAM)
    return 0;
  *h = p->h;
  return p->content_left;
}

void fk_parser_skip_content(fk_parser *p, size_t n) {
  fk_header h;
  if (n > fk_parser_content_left(p, &h))
    n = 0; /* not in stream content, or past it: a caller's mistake */
  p->content_left -= n;
  p->offset += n;
  if (n > 0 && p->content_left == 0)
    content_done(p);
}

size_t fk_parser_until_header(const fk_parser *p) {
  if (p->error != FK_OK)
    return 0;
  if (p->state == ST_PADDING)
    return p->padding_left + FK_HEADER_LEN;
  if (p->state == ST_HEADER && p->have == 0)
    return FK_HEADER_LEN;
  return 0;
}
