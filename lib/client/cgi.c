/*
 * CGI response headers (RFC 3875 section 6), parsed as STDOUT arrives.
 *
 * The header section is kept, line by line, in one buffer under a byte cap:
 * each line is checked when its LF arrives (so a response that is not CGI
 * at all fails at its first line) and rewritten in place as "name\0" and
 * "value\0" runs, indexed by offsets. The blank line ends the section and
 * settles the status and the kind of response (6.2).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/internal.h"

#define DEFAULT_MAX_BYTES (16u << 10)
#define DEFAULT_MAX_HEADERS 100u

struct field {
  size_t name_off, name_len, value_off, value_len;
};

struct fk_cgi {
  const fk_allocator *alloc;
  size_t max_bytes, max_headers;
  /* Lines: buf[0..line) hold finished lines, buf[line..len) the line
   * being received; len <= cap. */
  uint8_t *buf;
  size_t len, cap, line;
  struct field *fields;
  size_t count, fields_cap;
  size_t section;       /* bytes of the header section so far, line ends too */
  uint64_t offset;      /* STDOUT bytes consumed */
  uint64_t line_offset; /* where the current line starts in STDOUT */
  int done;
  /* Results: field indexes, -1 when absent. */
  long status_field, type_field, location_field;
  int status, kind;
  int error;
  uint64_t error_offset;
  char reason[128];
};

int fk_cgi_new(fk_cgi **out, const fk_allocator *alloc, size_t max_bytes,
               size_t max_headers) {
  fk_cgi *c = fk__alloc(alloc, sizeof *c);
  *out = NULL;
  if (c == NULL)
    return FK_E_NOMEM;
  memset(c, 0, sizeof *c);
  c->alloc = alloc;
  c->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
  c->max_headers = max_headers ? max_headers : DEFAULT_MAX_HEADERS;
  fk_cgi_reset(c);
  *out = c;
  return FK_OK;
}

void fk_cgi_free(fk_cgi *c) {
  if (c == NULL)
    return;
  fk__free(c->alloc, c->buf);
  fk__free(c->alloc, c->fields);
  fk__free(c->alloc, c);
}

void fk_cgi_reset(fk_cgi *c) {
  c->len = c->line = c->count = c->section = 0;
  c->offset = c->line_offset = 0;
  c->done = 0;
  c->status_field = c->type_field = c->location_field = -1;
  c->status = 0;
  c->kind = 0;
  c->error = FK_OK;
  c->error_offset = 0;
  c->reason[0] = '\0';
}

static int fail(fk_cgi *c, int error, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(fk_cgi *c, int error, uint64_t offset, const char *fmt, ...) {
  va_list ap;
  c->error = error;
  c->error_offset = offset;
  va_start(ap, fmt);
  vsnprintf(c->reason, sizeof c->reason, fmt, ap);
  va_end(ap);
  return error;
}

/* --- One line ------------------------------------------------------------ */

/* RFC 3875 6.3 field-name = token (RFC 2616 2.2): CHARs that are neither
 * controls nor separators. */
static int is_token_char(uint8_t ch) {
  if (ch <= 32 || ch >= 127)
    return 0;
  return strchr("()<>@,;:\\\"/[]?={}", ch) == NULL;
}

static int is_blank(uint8_t ch) { return ch == ' ' || ch == '\t'; }

static const char *str_at(const fk_cgi *c, size_t off) {
  return (const char *)c->buf + off;
}

/* "Status: 404 Not Found" (6.3.3): three digits, then a space and a reason
 * phrase, or nothing. */
static int parse_status(fk_cgi *c, const struct field *f) {
  const char *v = str_at(c, f->value_off);
  if (f->value_len < 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' ||
      v[1] > '9' || v[2] < '0' || v[2] > '9' ||
      (f->value_len > 3 && v[3] != ' '))
    return fail(c, FK_E_CGI_HEADER, c->line_offset,
                "malformed Status (want three digits and a reason phrase)");
  c->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
  return FK_OK;
}

/* Status, Content-Type and Location may each appear once (6.3). */
static int note_cgi_field(fk_cgi *c, const struct field *f, long index) {
  const char *name = str_at(c, f->name_off);
  long *slot = NULL;
  if (strcasecmp(name, "Status") == 0)
    slot = &c->status_field;
  else if (strcasecmp(name, "Content-Type") == 0)
    slot = &c->type_field;
  else if (strcasecmp(name, "Location") == 0)
    slot = &c->location_field;
  if (slot == NULL)
    return FK_OK;
  if (*slot >= 0)
    return fail(c, FK_E_CGI_HEADER, c->line_offset, "%s given twice", name);
  *slot = index;
  if (slot == &c->status_field)
    return parse_status(c, f);
  if (slot == &c->location_field && f->value_len == 0)
    return fail(c, FK_E_CGI_HEADER, c->line_offset, "empty Location");
  return FK_OK;
}

static int add_field(fk_cgi *c, const struct field *f) {
  if (c->count == c->max_headers)
    return fail(c, FK_E_HEADERS_TOO_LARGE, c->line_offset,
                "more than %zu header fields", c->max_headers);
  if (c->count == c->fields_cap) {
    size_t n = c->fields_cap ? c->fields_cap * 2 : 16;
    if (n > c->max_headers)
      n = c->max_headers;
    struct field *t = fk__realloc(c->alloc, c->fields, n * sizeof *t);
    if (t == NULL)
      return fail(c, FK_E_NOMEM, c->line_offset, "out of memory");
    c->fields = t;
    c->fields_cap = n;
  }
  c->fields[c->count] = *f;
  return note_cgi_field(c, f, (long)c->count++);
}

/* Checks the line buf[line..line+n) (its line end removed) and rewrites
 * it in place as name NUL value NUL; buf has room for one byte past it. */
static int parse_line(fk_cgi *c, size_t n) {
  uint8_t *p = c->buf + c->line;
  if (is_blank(p[0]))
    return fail(c, FK_E_CGI_HEADER, c->line_offset,
                "a line starting with a blank (folded lines are not "
                "allowed)");
  for (size_t i = 0; i < n; i++)
    if (p[i] == '\0' || p[i] == '\r')
      return fail(c, FK_E_CGI_HEADER, c->line_offset + i,
                  p[i] ? "a CR inside a header line"
                       : "a NUL byte in the "
                         "headers");
  uint8_t *colon = memchr(p, ':', n);
  if (colon == NULL)
    return fail(c, FK_E_CGI_HEADER, c->line_offset,
                "a header line without ':'");
  size_t name_len = (size_t)(colon - p);
  if (name_len == 0)
    return fail(c, FK_E_CGI_HEADER, c->line_offset, "an empty field name");
  for (size_t i = 0; i < name_len; i++)
    if (!is_token_char(p[i]))
      return fail(c, FK_E_CGI_HEADER, c->line_offset + i,
                  "a field name with a character not allowed in a token");
  size_t v = name_len + 1, end = n;
  while (v < end && is_blank(p[v]))
    v++;
  while (end > v && is_blank(p[end - 1]))
    end--;
  *colon = '\0';
  p[end] = '\0';
  struct field f = {c->line, name_len, c->line + v, end - v};
  return add_field(c, &f);
}

/* --- The end of the section ---------------------------------------------- */

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
static int is_absolute_uri(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
    return 0;
  for (s++; *s && *s != ':'; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))
      return 0;
  return *s == ':';
}

/* 6.2: a Location that is a local path (starting with '/') asks the
 * server to reprocess the request; any other Location is a client
 * redirect, 302 unless Status says otherwise (6.2.3, 6.2.4). A relative
 * reference is treated as a client redirect, as web servers do. Without
 * Location the response is a document, 200 unless Status says otherwise
 * (6.3.3). */
static int finish_section(fk_cgi *c) {
  if (c->count == 0)
    return fail(c, FK_E_CGI_HEADER, c->line_offset,
                "no header field before the blank line (RFC 3875 6.2)");
  c->done = 1;
  int has_status = c->status_field >= 0;
  if (c->location_field < 0) {
    c->kind = FK_CGI_DOCUMENT;
    if (!has_status)
      c->status = 200;
    return FK_OK;
  }
  const char *loc = fk_cgi_location(c);
  if (loc[0] == '/' && !is_absolute_uri(loc)) {
    c->kind = FK_CGI_LOCAL_REDIRECT;
    if (!has_status)
      c->status = 200;
    return FK_OK;
  }
  size_t others = c->count - 1 - (size_t)has_status;
  c->kind = others > 0 || c->type_field >= 0 ? FK_CGI_CLIENT_REDIRECT_DOC
                                             : FK_CGI_CLIENT_REDIRECT;
  if (!has_status)
    c->status = 302;
  return FK_OK;
}

/* A whole line arrived in buf[line..len); its LF is not stored. */
static int end_line(fk_cgi *c) {
  size_t n = c->len - c->line;
  if (n > 0 && c->buf[c->len - 1] == '\r')
    n--; /* CRLF or LF: both end a line */
  if (n == 0) {
    c->len = c->line;
    return finish_section(c);
  }
  int rc = parse_line(c, n);
  if (rc != FK_OK)
    return rc;
  c->len = c->line + n + 1; /* keep the NUL written after the value */
  c->line = c->len;
  return FK_OK;
}

/* Room for n more bytes plus the NUL that ends a value. */
static int reserve(fk_cgi *c, size_t n) {
  if (c->cap - c->len > n)
    return FK_OK;
  size_t cap = c->cap ? c->cap : 256;
  while (cap - c->len <= n)
    cap *= 2;
  uint8_t *b = fk__realloc(c->alloc, c->buf, cap);
  if (b == NULL)
    return fail(c, FK_E_NOMEM, c->offset, "out of memory");
  c->buf = b;
  c->cap = cap;
  return FK_OK;
}

long fk_cgi_feed(fk_cgi *c, const void *in, size_t len) {
  const uint8_t *p = in;
  size_t used = 0;
  if (c->error != FK_OK)
    return c->error;
  while (used < len && !c->done) {
    const uint8_t *nl = memchr(p + used, '\n', len - used);
    size_t n = nl ? (size_t)(nl - (p + used)) : len - used;
    size_t take = n + (nl != NULL);
    if (take > c->max_bytes - c->section) /* at the first byte too many */
      return fail(c, FK_E_HEADERS_TOO_LARGE,
                  c->offset + (c->max_bytes - c->section),
                  "the header section is longer than %zu bytes", c->max_bytes);
    int rc = reserve(c, n);
    if (rc != FK_OK)
      return rc;
    memcpy(c->buf + c->len, p + used, n);
    c->len += n;
    c->section += take;
    c->offset += take;
    used += take;
    if (nl == NULL)
      break;
    if ((rc = end_line(c)) != FK_OK)
      return rc;
    c->line_offset = c->offset;
  }
  return (long)used;
}

int fk_cgi_done(const fk_cgi *c) { return c->done; }

int fk_cgi_finish(fk_cgi *c) {
  if (c->error != FK_OK)
    return c->error;
  if (!c->done)
    return fail(c, FK_E_CGI_HEADER, c->offset,
                "the response ended inside its headers");
  return FK_OK;
}

/* --- Results ------------------------------------------------------------- */

static const char *field_value(const fk_cgi *c, long i) {
  return i < 0 ? NULL : str_at(c, c->fields[i].value_off);
}

int fk_cgi_status(const fk_cgi *c) { return c->status; }

/* The reason phrase follows "DDD " in Status's value (parse_status),
 * without the blanks that may come before it. */
const char *fk_cgi_reason(const fk_cgi *c) {
  if (c->status_field < 0 || c->fields[c->status_field].value_len <= 4)
    return "";
  const char *r = str_at(c, c->fields[c->status_field].value_off + 4);
  while (*r == ' ' || *r == '\t')
    r++;
  return r;
}
int fk_cgi_kind(const fk_cgi *c) { return c->kind; }

const char *fk_cgi_content_type(const fk_cgi *c) {
  return field_value(c, c->type_field);
}

const char *fk_cgi_location(const fk_cgi *c) {
  return field_value(c, c->location_field);
}

size_t fk_cgi_header_count(const fk_cgi *c) { return c->count; }

int fk_cgi_header_at(const fk_cgi *c, size_t i, const char **name,
                     size_t *name_len, const char **value, size_t *value_len) {
  if (i >= c->count)
    return FK_E_INVAL;
  const struct field *f = &c->fields[i];
  if (name)
    *name = str_at(c, f->name_off);
  if (name_len)
    *name_len = f->name_len;
  if (value)
    *value = str_at(c, f->value_off);
  if (value_len)
    *value_len = f->value_len;
  return FK_OK;
}

const char *fk_cgi_header(const fk_cgi *c, const char *name) {
  for (size_t i = 0; i < c->count; i++)
    if (strcasecmp(str_at(c, c->fields[i].name_off), name) == 0)
      return str_at(c, c->fields[i].value_off);
  return NULL;
}

int fk_cgi_error(const fk_cgi *c) { return c->error; }
uint64_t fk_cgi_error_offset(const fk_cgi *c) { return c->error_offset; }
const char *fk_cgi_error_reason(const fk_cgi *c) { return c->reason; }
