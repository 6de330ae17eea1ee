/*
 * Fuzz target for the client session (lib/client/session.c) and the CGI
 * header parser (lib/client/cgi.c): bytes from a hostile application.
 *
 * Input: byte 0's low 4 bits give n, the count of fragment-size bytes that
 * follow; its bit 4 asks for a GET_VALUES query before the stream, bit 5
 * lets GET_VALUES_RESULT raise the request limit past 3. The rest is what
 * the application sends. A session with three requests in flight is fed
 * the stream twice: whole, and in fragments of sizes[i % n] bytes, each
 * copied to a heap block of its exact size so ASan sees a read past it.
 * Every request's STDOUT goes through a CGI header parser. Whenever a
 * request ends another is begun, so ids are reused. Both runs must tell
 * the same story (a digest of the events, the error and its offset), and
 * every call must keep its contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgikit/client.h"

#define REQUIRE(c) ((c) ? (void)0 : abort())
#define MAX_ID 8

struct run {
  fk_client_session *s;
  fk_cgi *cgi[MAX_ID + 1];
  uint64_t digest;    /* of the story, the same however the input is cut */
  unsigned events;    /* other than stream data */
  uint64_t last_data; /* (id, type) of the stream data run going on */
  int error;
  uint64_t error_offset;
};

static void mix(struct run *r, uint64_t v) {
  r->digest = (r->digest ^ v) * 0x100000001b3ull;
}

static void begin_one(struct run *r) {
  unsigned id;
  if (!fk_client_session_can_begin(r->s))
    return;
  int rc = fk_client_session_begin(r->s, FK_RESPONDER, FK_KEEP_CONN, r, &id);
  REQUIRE(rc == FK_OK || rc == FK_E_NOMEM);
  if (rc != FK_OK)
    return;
  REQUIRE(id >= 1 && id <= fk_client_session_max_requests(r->s));
  fk_client_session_param(r->s, id, "SCRIPT_NAME", 11, "/x", 2);
  fk_client_session_stream_end(r->s, id, FK_STDIN);
  if (id <= MAX_ID) {
    if (r->cgi[id] == NULL)
      REQUIRE(fk_cgi_new(&r->cgi[id], NULL, 512, 8) == FK_OK);
    else
      fk_cgi_reset(r->cgi[id]);
  }
}

static void setup(struct run *r, unsigned flags) {
  fk_client_settings set;
  fk_client_settings_init(&set);
  set.max_values_bytes = 256;
  set.max_values = 8;
  set.max_requests_cap = flags & 0x20 ? MAX_ID : 3;
  memset(r, 0, sizeof *r);
  r->digest = 0xcbf29ce484222325ull;
  REQUIRE(fk_client_session_new(&r->s, &set) == FK_OK);
  REQUIRE(fk_client_session_set_max_requests(r->s, 3) == FK_OK);
  for (int i = 0; i < 3; i++)
    begin_one(r);
  REQUIRE(fk_client_session_in_flight(r->s) == 3);
  if (flags & 0x10)
    REQUIRE(fk_client_session_get_values(r->s, NULL, 0) == FK_OK);
}

/* Takes the output as a socket would, so the buffer does not grow. */
static void drain(struct run *r) {
  const uint8_t *p;
  size_t n = fk_client_session_pending(r->s, &p);
  fk_client_session_consume(r->s, n);
}

/* What the header parser makes of a STDOUT piece; its verdict enters the
 * digest at the stream's end, where it no longer depends on the cuts. */
static void on_stdout(struct run *r, const fk_client_event *ev) {
  fk_cgi *c = ev->request_id <= MAX_ID ? r->cgi[ev->request_id] : NULL;
  if (c == NULL)
    return;
  int was_done = fk_cgi_done(c);
  long n = fk_cgi_feed(c, ev->data, ev->len);
  REQUIRE(n < 0 || (size_t)n <= ev->len);
  REQUIRE(n >= 0 || fk_cgi_error(c) == n);
  REQUIRE(!was_done || n == 0);
  REQUIRE(n < 0 || fk_cgi_done(c) || (size_t)n == ev->len);
}

static void cgi_verdict(struct run *r, unsigned id) {
  fk_cgi *c = id <= MAX_ID ? r->cgi[id] : NULL;
  if (c == NULL)
    return;
  mix(r, (uint64_t)fk_cgi_finish(c));
  mix(r, fk_cgi_error_offset(c));
  mix(r, (uint64_t)fk_cgi_status(c));
  mix(r, fk_cgi_header_count(c));
  for (size_t i = 0; i < fk_cgi_header_count(c); i++) {
    const char *name, *value;
    size_t nl, vl;
    REQUIRE(fk_cgi_header_at(c, i, &name, &nl, &value, &vl) == FK_OK);
    REQUIRE(strlen(name) == nl && nl > 0);
    mix(r, vl);
  }
}

static void on_event(struct run *r, const fk_client_event *ev,
                     const uint8_t *frag, size_t len) {
  uint64_t key = (uint64_t)ev->type << 32 | ev->request_id;
  if (ev->type == FK_CLIENT_STDOUT || ev->type == FK_CLIENT_STDERR) {
    /* A run of data of one stream counts once, whatever its pieces. */
    REQUIRE(ev->len > 0 && ev->data >= frag &&
            ev->data + ev->len <= frag + len);
    REQUIRE(ev->user == r);
    if (key != r->last_data)
      mix(r, key);
    r->last_data = key;
    if (ev->type == FK_CLIENT_STDOUT)
      on_stdout(r, ev);
    for (size_t i = 0; i < ev->len; i++)
      mix(r, ev->data[i]);
    return;
  }
  r->events++;
  r->last_data = 0;
  mix(r, key);
  switch (ev->type) {
  case FK_CLIENT_STDOUT_END: cgi_verdict(r, ev->request_id); break;
  case FK_CLIENT_STDERR_END: break;
  case FK_CLIENT_END:
    REQUIRE(ev->user == r);
    REQUIRE(fk_client_session_user(r->s, ev->request_id) == NULL);
    mix(r, ev->app_status);
    mix(r, ev->protocol_status);
    begin_one(r); /* the freed id is the lowest free one */
    break;
  case FK_CLIENT_VALUES:
    mix(r, fk_params_count(fk_client_session_values(r->s)));
    mix(r, fk_client_session_max_requests(r->s));
    break;
  case FK_CLIENT_UNKNOWN_TYPE: mix(r, ev->unknown_type); break;
  default: REQUIRE(0);
  }
  REQUIRE(fk_client_session_in_flight(r->s) <= MAX_ID);
}

static void feed(struct run *r, const uint8_t *frag, size_t len) {
  size_t off = 0;
  if (r->error != FK_OK)
    return;
  for (;;) {
    fk_client_event ev;
    long n = fk_client_session_recv(r->s, frag + off, len - off, &ev);
    if (n < 0) {
      REQUIRE(fk_client_session_error(r->s) == n);
      REQUIRE(fk_client_session_error_reason(r->s)[0] != '\0');
      r->error = (int)n;
      r->error_offset = fk_client_session_error_offset(r->s);
      /* Sticky. */
      REQUIRE(fk_client_session_recv(r->s, frag, len, &ev) == n);
      return;
    }
    REQUIRE((size_t)n <= len - off);
    off += (size_t)n;
    if (ev.type == FK_CLIENT_NONE) {
      REQUIRE(off == len);
      break;
    }
    on_event(r, &ev, frag, len);
  }
  drain(r);
}

static void finish(struct run *r) {
  if (r->error == FK_OK)
    mix(r, (uint64_t)fk_client_session_eof(r->s));
  fk_client_session_free(r->s);
  for (int i = 0; i <= MAX_ID; i++)
    fk_cgi_free(r->cgi[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned flags = data[0], n = data[0] & 15u;
  if (size < 1 + n)
    return 0;
  const uint8_t *sizes = data + 1;
  const uint8_t *in = data + 1 + n;
  size_t len = size - 1 - n;

  struct run whole, parts;
  setup(&whole, flags);
  uint8_t *copy = malloc(len ? len : 1);
  REQUIRE(copy != NULL);
  memcpy(copy, in, len);
  feed(&whole, copy, len);
  free(copy);

  setup(&parts, flags);
  /* Fragments of the sizes given (0 makes a call with no input); what a
   * run of zero sizes leaves over goes in one piece. */
  size_t off = 0;
  for (unsigned i = 0; i <= len + 16 && parts.error == FK_OK; i++) {
    size_t k = n ? sizes[i % n] : len;
    if (k > len - off)
      k = len - off;
    uint8_t *frag = malloc(k ? k : 1);
    REQUIRE(frag != NULL);
    memcpy(frag, in + off, k);
    feed(&parts, frag, k);
    free(frag);
    off += k;
    if (off == len && (n == 0 || i + 1 >= n))
      break;
  }
  if (off < len && parts.error == FK_OK) {
    uint8_t *rest = malloc(len - off);
    REQUIRE(rest != NULL);
    memcpy(rest, in + off, len - off);
    feed(&parts, rest, len - off);
    free(rest);
  }

  REQUIRE(whole.error == parts.error);
  REQUIRE(whole.error_offset == parts.error_offset);
  if (whole.error == FK_OK) {
    REQUIRE(whole.digest == parts.digest);
    REQUIRE(whole.events == parts.events);
  }
  finish(&whole);
  finish(&parts);
  return 0;
}
