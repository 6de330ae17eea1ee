/*
 * A small blocking FastCGI client for the integration tests: plays the web
 * server against an fcgikit application over a real socket.
 *
 * It is built on the public core API only: records are encoded with
 * fk_encode_* and fk_nv_encode, and what the application sends back is
 * decoded with fk_parser_feed into a list of events (tc_event), in the
 * order they arrived. Stream data of one stream may come as several events;
 * their boundaries carry no meaning (spec 3.3). The empty record that ends
 * a stream is an event of its own, so a test can check that it was sent,
 * and when.
 *
 * Every read waits at most a given time (poll), so a server that does not
 * answer fails the test instead of hanging it. Static inline functions:
 * each test file is one program and uses only some of them.
 */
#ifndef FK_TEST_CLIENT_H
#define FK_TEST_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fcgikit/protocol.h"

/* What an event is. */
enum tc_kind {
  TC_DATA = 1,     /* stream data (type says which stream); len > 0 */
  TC_STREAM_END,   /* the empty record that ends stream `type` */
  TC_END,          /* END_REQUEST: app_status, protocol_status */
  TC_VALUES,       /* one GET_VALUES_RESULT record; data/len its content */
  TC_UNKNOWN_TYPE, /* UNKNOWN_TYPE: unknown_type */
  TC_OTHER,        /* any other record (the application should not send it) */
  TC_BAD,          /* a malformed record: the parser's error in app_status */
  TC_CLOSED        /* the server closed the connection (EOF or reset) */
};

#define TC_ANY_ID 0x10000u /* matches every request id in tc_find/tc_count */

typedef struct tc_event {
  int kind;
  unsigned type; /* record type */
  unsigned id;
  uint8_t *data; /* TC_DATA, TC_VALUES (malloc'd) */
  size_t len, cap;
  uint32_t app_status;
  unsigned protocol_status;
  unsigned unknown_type;
} tc_event;

typedef struct tc_conn {
  int fd;
  fk_parser parser;
  tc_event *ev;
  size_t nev, evcap;
  int closed;      /* a TC_CLOSED event was recorded */
  uint8_t *values; /* GET_VALUES_RESULT content being received */
  size_t values_len;
  char *text; /* tc_text's result */
} tc_conn;

static inline long tc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tc_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static inline void *tc_xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "client: out of memory\n");
    abort();
  }
  return p;
}

/* --- Connecting ---------------------------------------------------------- */

static inline void tc_init(tc_conn *c, int fd) {
  memset(c, 0, sizeof *c);
  c->fd = fd;
  fk_parser_init(&c->parser);
}

static inline void tc_close(tc_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  for (size_t i = 0; i < c->nev; i++)
    free(c->ev[i].data);
  free(c->ev);
  free(c->values);
  free(c->text);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

/* Returns 0, or -1 with errno set (c->fd is then -1). */
static inline int tc_connect_unix(tc_conn *c, const char *path) {
  struct sockaddr_un sun;
  tc_init(c, -1);
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sun.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sun.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  c->fd = fd;
  return 0;
}

/* host is an IPv4 or IPv6 literal. Returns 0, or -1 with errno set. */
static inline int tc_connect_tcp(tc_conn *c, const char *host, int port) {
  struct sockaddr_storage ss;
  socklen_t len;
  tc_init(c, -1);
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    len = sizeof *in;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof *in6;
  } else {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  c->fd = fd;
  return 0;
}

/* --- Sending ------------------------------------------------------------- */

/* Sends all n bytes, waiting at most 10 s for the socket to take them.
 * Returns 0, or -1 (the server closed the connection, or did not read). */
static inline int tc_send(tc_conn *c, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
    if (poll(&pfd, 1, 10000) <= 0)
      return -1;
    ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A record of any type with any content, padded to 8 bytes. */
static inline int tc_record(tc_conn *c, unsigned type, unsigned id,
                            const void *content, size_t len) {
  uint8_t rec[FK_HEADER_LEN + FK_MAX_CONTENT + 8];
  size_t pad = fk_padding_for(len);
  fk_header_encode(rec, type, id, len, pad);
  if (len)
    memcpy(rec + FK_HEADER_LEN, content, len);
  memset(rec + FK_HEADER_LEN + len, 0, pad);
  return tc_send(c, rec, FK_HEADER_LEN + len + pad);
}

static inline int tc_begin(tc_conn *c, unsigned id, unsigned role,
                           unsigned flags) {
  uint8_t rec[FK_BEGIN_REQUEST_SIZE];
  return tc_send(c, rec, fk_encode_begin_request(rec, id, role, flags));
}

static inline int tc_abort(tc_conn *c, unsigned id) {
  uint8_t rec[FK_ABORT_REQUEST_SIZE];
  return tc_send(c, rec, fk_encode_abort_request(rec, id));
}

/* Stream data as records of up to 64 KiB, without the terminator. */
static inline int tc_stream(tc_conn *c, unsigned type, unsigned id,
                            const void *p, size_t n) {
  if (n == 0)
    return 0;
  size_t size = fk_stream_size(n);
  uint8_t *buf = tc_xrealloc(NULL, size);
  int rc = -1;
  if (fk_encode_stream(buf, size, type, id, p, n) == size)
    rc = tc_send(c, buf, size);
  free(buf);
  return rc;
}

/* The empty record that ends a stream. */
static inline int tc_stream_end(tc_conn *c, unsigned type, unsigned id) {
  uint8_t rec[FK_STREAM_END_SIZE];
  return tc_send(c, rec, fk_encode_stream_end(rec, type, id));
}

static inline int tc_stdin(tc_conn *c, unsigned id, const void *p, size_t n) {
  if (tc_stream(c, FK_STDIN, id, p, n) != 0)
    return -1;
  return tc_stream_end(c, FK_STDIN, id);
}

/* Encodes "NAME=VALUE" strings (NULL-terminated list; a string without '='
 * is a name with an empty value) as name-value pairs into a malloc'd
 * buffer; *len gets its size. */
static inline uint8_t *tc_pairs(const char *const *pairs, size_t *len) {
  uint8_t *buf = NULL;
  size_t n = 0;
  for (size_t i = 0; pairs && pairs[i]; i++) {
    const char *eq = strchr(pairs[i], '=');
    size_t name_len = eq ? (size_t)(eq - pairs[i]) : strlen(pairs[i]);
    const char *value = eq ? eq + 1 : "";
    size_t size = fk_nv_size(name_len, strlen(value));
    buf = tc_xrealloc(buf, n + size);
    n += fk_nv_encode(buf + n, pairs[i], name_len, value, strlen(value));
  }
  *len = n;
  return buf;
}

/* The whole PARAMS stream of a request, terminator included. */
static inline int tc_params(tc_conn *c, unsigned id, const char *const *pairs) {
  size_t len;
  uint8_t *buf = tc_pairs(pairs, &len);
  int rc = tc_stream(c, FK_PARAMS, id, buf, len);
  free(buf);
  return rc == 0 ? tc_stream_end(c, FK_PARAMS, id) : -1;
}

/* BEGIN_REQUEST, PARAMS and STDIN of a whole request. */
static inline int tc_request(tc_conn *c, unsigned id, unsigned role,
                             unsigned flags, const char *const *pairs,
                             const void *body, size_t body_len) {
  if (tc_begin(c, id, role, flags) != 0 || tc_params(c, id, pairs) != 0)
    return -1;
  return tc_stdin(c, id, body, body_len);
}

/* One GET_VALUES record asking for the names given (NULL-terminated). */
static inline int tc_get_values(tc_conn *c, const char *const *names) {
  size_t len;
  uint8_t *buf = tc_pairs(names, &len);
  int rc = tc_record(c, FK_GET_VALUES, 0, buf, len);
  free(buf);
  return rc;
}

/* --- Receiving ----------------------------------------------------------- */

static inline tc_event *tc__push(tc_conn *c, int kind, const fk_event *ev) {
  if (c->nev == c->evcap) {
    c->evcap = c->evcap ? 2 * c->evcap : 16;
    c->ev = tc_xrealloc(c->ev, c->evcap * sizeof *c->ev);
  }
  tc_event *e = &c->ev[c->nev++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  if (ev) {
    e->type = ev->record_type;
    e->id = ev->request_id;
    e->app_status = ev->app_status;
    e->protocol_status = ev->protocol_status;
    e->unknown_type = ev->unknown_type;
  }
  return e;
}

static inline void tc__append(tc_event *e, const uint8_t *p, size_t n) {
  if (e->len + n > e->cap) {
    e->cap = (e->len + n) * 2;
    e->data = tc_xrealloc(e->data, e->cap);
  }
  memcpy(e->data + e->len, p, n);
  e->len += n;
}

static inline void tc__on_event(tc_conn *c, const fk_event *ev) {
  tc_event *last = c->nev ? &c->ev[c->nev - 1] : NULL;
  switch (ev->type) {
  case FK_EV_STREAM:
    /* The rest of the same record, or the next record of the same stream:
     * one event, since boundaries carry no meaning. */
    if (last == NULL || last->kind != TC_DATA ||
        last->type != ev->record_type || last->id != ev->request_id)
      last = tc__push(c, TC_DATA, ev);
    tc__append(last, ev->data, ev->len);
    break;
  case FK_EV_STREAM_END: tc__push(c, TC_STREAM_END, ev); break;
  case FK_EV_VALUES:
    c->values = tc_xrealloc(c->values, c->values_len + ev->len);
    memcpy(c->values + c->values_len, ev->data, ev->len);
    c->values_len += ev->len;
    break;
  case FK_EV_VALUES_END:
    last = tc__push(
        c, ev->record_type == FK_GET_VALUES_RESULT ? TC_VALUES : TC_OTHER, ev);
    last->data = c->values;
    last->len = last->cap = c->values_len;
    c->values = NULL;
    c->values_len = 0;
    break;
  case FK_EV_END: tc__push(c, TC_END, ev); break;
  case FK_EV_UNKNOWN_TYPE: tc__push(c, TC_UNKNOWN_TYPE, ev); break;
  default: tc__push(c, TC_OTHER, ev); break;
  }
}

static inline void tc__feed(tc_conn *c, const uint8_t *p, size_t n) {
  for (;;) {
    fk_event ev;
    long used = fk_parser_feed(&c->parser, p, n, &ev);
    if (used < 0) {
      if (c->nev == 0 || c->ev[c->nev - 1].kind != TC_BAD)
        tc__push(c, TC_BAD, NULL)->app_status = (uint32_t)used;
      return;
    }
    p += used;
    n -= (size_t)used;
    if (ev.type == FK_EV_NONE)
      return;
    tc__on_event(c, &ev);
  }
}

/* Waits up to timeout_ms for bytes, then reads at most max of them.
 * Returns the bytes read, 0 when the connection is closed (a TC_CLOSED
 * event is recorded once), -1 when nothing came in time. */
static inline long tc_read(tc_conn *c, size_t max, int timeout_ms) {
  uint8_t buf[64 * 1024];
  if (c->closed)
    return 0;
  if (max > sizeof buf)
    max = sizeof buf;
  struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
  int n = poll(&pfd, 1, timeout_ms);
  if (n < 0 && errno == EINTR)
    return -1;
  if (n <= 0)
    return -1;
  ssize_t r = recv(c->fd, buf, max, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR))
    return -1;
  if (r <= 0) {
    /* EOF, or a reset (a TCP peer that closed with our bytes unread). */
    c->closed = 1;
    tc__push(c, TC_CLOSED, NULL);
    return 0;
  }
  tc__feed(c, buf, (size_t)r);
  return r;
}

/* Index of the first event at or after `from` of kind (and of request id,
 * unless TC_ANY_ID), or -1. */
static inline long tc_find(const tc_conn *c, int kind, unsigned id,
                           size_t from) {
  for (size_t i = from; i < c->nev; i++)
    if (c->ev[i].kind == kind && (id == TC_ANY_ID || c->ev[i].id == id))
      return (long)i;
  return -1;
}

static inline size_t tc_count(const tc_conn *c, int kind, unsigned id) {
  size_t n = 0;
  for (size_t i = 0; i < c->nev; i++)
    n += c->ev[i].kind == kind && (id == TC_ANY_ID || c->ev[i].id == id);
  return n;
}

/* Reads until an event of kind (and id) at or after `from` has arrived.
 * Returns its index, or -1 when the connection closed or timeout_ms
 * passed first. */
static inline long tc_wait_from(tc_conn *c, int kind, unsigned id, size_t from,
                                int timeout_ms) {
  long deadline = tc_now_ms() + timeout_ms;
  for (;;) {
    long i = tc_find(c, kind, id, from);
    if (i >= 0)
      return i;
    long left = deadline - tc_now_ms();
    if (c->closed || left <= 0)
      return -1;
    tc_read(c, SIZE_MAX, (int)left);
  }
}

static inline long tc_wait(tc_conn *c, int kind, unsigned id, int timeout_ms) {
  return tc_wait_from(c, kind, id, 0, timeout_ms);
}

/* The END_REQUEST of request id; NULL when it did not come in time. */
static inline const tc_event *tc_wait_end(tc_conn *c, unsigned id,
                                          int timeout_ms) {
  long i = tc_wait(c, TC_END, id, timeout_ms);
  return i < 0 ? NULL : &c->ev[i];
}

/* Nonzero once the server closed the connection, within timeout_ms. */
static inline int tc_wait_closed(tc_conn *c, int timeout_ms) {
  return tc_wait(c, TC_CLOSED, TC_ANY_ID, timeout_ms) >= 0;
}

/* A round trip: an empty GET_VALUES, answered by an empty
 * GET_VALUES_RESULT. Whatever the server's I/O thread had queued on this
 * connection before it read the probe arrives before the answer. Returns
 * nonzero when the answer came. */
static inline int tc_ping(tc_conn *c, int timeout_ms) {
  size_t from = c->nev;
  if (tc_record(c, FK_GET_VALUES, 0, NULL, 0) != 0)
    return 0;
  return tc_wait_from(c, TC_VALUES, 0, from, timeout_ms) >= 0;
}

/* The data of stream type for request id in the events from index `from`
 * on, concatenated and NUL-terminated (*len, if given, gets its length).
 * Valid until the next call. */
static inline const char *tc_text(tc_conn *c, unsigned type, unsigned id,
                                  size_t from, size_t *len) {
  size_t n = 0;
  for (size_t i = from; i < c->nev; i++)
    if (c->ev[i].kind == TC_DATA && c->ev[i].type == type && c->ev[i].id == id)
      n += c->ev[i].len;
  c->text = tc_xrealloc(c->text, n + 1);
  n = 0;
  for (size_t i = from; i < c->nev; i++) {
    const tc_event *e = &c->ev[i];
    if (e->kind == TC_DATA && e->type == type && e->id == id) {
      memcpy(c->text + n, e->data, e->len);
      n += e->len;
    }
  }
  c->text[n] = '\0';
  if (len)
    *len = n;
  return c->text;
}

static inline const char *tc_stdout(tc_conn *c, unsigned id) {
  return tc_text(c, FK_STDOUT, id, 0, NULL);
}

/* The pairs of a TC_VALUES event: the number of pairs, or -1 when the
 * content is not a whole number of pairs. When name is given, *found gets
 * how often it occurs and value (cap bytes) its first value. */
static inline int tc_values(const tc_event *e, const char *name, int *found,
                            char *value, size_t cap) {
  int count = 0;
  size_t off = 0;
  if (found)
    *found = 0;
  if (value && cap)
    value[0] = '\0';
  while (off < e->len) {
    fk_nv nv;
    long used = fk_nv_decode(e->data + off, e->len - off, &nv);
    if (used <= 0)
      return -1;
    if (name && nv.name_len == strlen(name) &&
        memcmp(nv.name, name, nv.name_len) == 0) {
      if (found && (*found)++ == 0 && value && nv.value_len < cap) {
        memcpy(value, nv.value, nv.value_len);
        value[nv.value_len] = '\0';
      }
    }
    off += (size_t)used;
    count++;
  }
  return count;
}

/* Prints the events, for a failing test's diagnosis. */
static inline void tc_dump(const tc_conn *c, const char *label) {
  static const char *kinds[] = {"?",     "DATA",   "STREAM_END",
                                "END",   "VALUES", "UNKNOWN_TYPE",
                                "OTHER", "BAD",    "CLOSED"};
  fprintf(stderr, "  events on %s:\n", label);
  for (size_t i = 0; i < c->nev; i++) {
    const tc_event *e = &c->ev[i];
    fprintf(stderr, "    %zu %s %s id=%u len=%zu", i, kinds[e->kind],
            fk_type_name(e->type), e->id, e->len);
    if (e->kind == TC_END)
      fprintf(stderr, " app=%u proto=%u", e->app_status, e->protocol_status);
    if (e->kind == TC_UNKNOWN_TYPE)
      fprintf(stderr, " unknown_type=%u", e->unknown_type);
    if (e->kind == TC_DATA)
      fprintf(stderr, " \"%.*s\"", e->len > 60 ? 60 : (int)e->len,
              (const char *)e->data);
    fprintf(stderr, "\n");
  }
}

#endif
