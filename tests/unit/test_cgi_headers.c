/*
 * Unit tests of the CGI response-header parser (lib/client/cgi.c).
 *
 * Every response is fed whole, one byte at a time and split in two at
 * every position, each piece copied against a PROT_NONE page; each run
 * gives a transcript (the results, then the body as the caller saw it, or
 * the error) and all runs of one response must agree.
 */
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgikit/client.h"
#include "test.h"

static uint8_t *guard_mem;
static size_t guard_len;

static void guard_init(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  guard_len = 256 * 1024;
  uint8_t *m = mmap(NULL, guard_len + page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    abort();
  guard_mem = m;
  if (mprotect(guard_mem + guard_len, page, PROT_NONE) != 0)
    abort();
}

static const uint8_t *guarded(const void *src, size_t n) {
  uint8_t *dst = guard_mem + guard_len - n;
  if (n)
    memcpy(dst, src, n);
  return dst;
}

struct out {
  char s[8192];
  size_t len;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->s + o->len, sizeof o->s - o->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->len +=
        (size_t)n < sizeof o->s - o->len ? (size_t)n : sizeof o->s - o->len - 1;
}

static void results(fk_cgi *c, struct out *o) {
  put(o, "status=%d reason=[%s] kind=%d type=%s location=%s n=%zu",
      fk_cgi_status(c), fk_cgi_reason(c), fk_cgi_kind(c),
      fk_cgi_content_type(c) ? fk_cgi_content_type(c) : "-",
      fk_cgi_location(c) ? fk_cgi_location(c) : "-", fk_cgi_header_count(c));
  for (size_t i = 0; i < fk_cgi_header_count(c); i++) {
    const char *n, *v;
    size_t nl, vl;
    fk_cgi_header_at(c, i, &n, &nl, &v, &vl);
    CHECK_EQ(strlen(n), nl);
    CHECK_EQ(strlen(v), vl);
    put(o, " {%s|%s}", n, v);
  }
  put(o, " body=");
}

/* Feeds one piece; the body part (once the headers are done) is appended
 * to the transcript. */
static void feed(fk_cgi *c, struct out *o, const char *in, size_t len,
                 int *reported) {
  if (fk_cgi_error(c) != FK_OK)
    return;
  const uint8_t *p = guarded(in, len);
  long n = fk_cgi_feed(c, p, len);
  if (n < 0) {
    put(o, "error %s at %llu: %s", fk_errname((int)n),
        (unsigned long long)fk_cgi_error_offset(c), fk_cgi_error_reason(c));
    return;
  }
  CHECK((size_t)n <= len);
  if (!fk_cgi_done(c)) {
    CHECK_EQ(n, len);
    return;
  }
  if (!*reported) {
    results(c, o);
    *reported = 1;
  }
  put(o, "%.*s", (int)(len - (size_t)n), (const char *)p + n);
}

static char *run(const char *in, size_t len, size_t piece, size_t cut,
                 size_t max_bytes, size_t max_headers) {
  fk_cgi *c;
  struct out o = {{0}, 0};
  int reported = 0;
  CHECK_EQ(fk_cgi_new(&c, NULL, max_bytes, max_headers), FK_OK);
  if (cut != (size_t)-1) {
    feed(c, &o, in, cut, &reported);
    feed(c, &o, in + cut, len - cut, &reported);
  } else {
    for (size_t off = 0; off < len; off += piece)
      feed(c, &o, in + off, len - off < piece ? len - off : piece, &reported);
  }
  if (fk_cgi_error(c) == FK_OK) {
    int rc = fk_cgi_finish(c);
    if (rc != FK_OK)
      put(&o, "finish %s: %s", fk_errname(rc), fk_cgi_error_reason(c));
  }
  fk_cgi_free(c);
  return strdup(o.s);
}

static char *scan_limits(const char *in, size_t max_bytes, size_t max_headers) {
  size_t len = strlen(in);
  char *whole = run(in, len, len ? len : 1, (size_t)-1, max_bytes, max_headers);
  char *bytes = run(in, len, 1, (size_t)-1, max_bytes, max_headers);
  if (strcmp(whole, bytes) != 0) {
    fprintf(stderr, "  whole: %s\n  bytes: %s\n", whole, bytes);
    CHECK(0);
  }
  free(bytes);
  for (size_t cut = 0; cut <= len; cut++) {
    char *split = run(in, len, 0, cut, max_bytes, max_headers);
    if (strcmp(whole, split) != 0) {
      fprintf(stderr, "  cut %zu: %s\n  whole: %s\n", cut, split, whole);
      CHECK(0);
      free(split);
      break;
    }
    free(split);
  }
  return whole;
}

static char *scan(const char *in) { return scan_limits(in, 0, 0); }

static int same(char *got, const char *want) {
  int ok = strcmp(got, want) == 0;
  if (!ok)
    fprintf(stderr, "  got  %s\n  want %s\n", got, want);
  free(got);
  return ok;
}

static int starts(char *got, const char *want) {
  int ok = strncmp(got, want, strlen(want)) == 0;
  if (!ok)
    fprintf(stderr, "  got  %s\n  want %s...\n", got, want);
  free(got);
  return ok;
}

static void test_document(void) {
  CHECK(same(scan("Status: 404 Not Found\r\nContent-Type: text/html\r\n"
                  "X-Thing:  spaced value \t\r\n\r\n<h1>gone</h1>\r\n\r\n"),
             "status=404 reason=[Not Found] kind=1 type=text/html "
             "location=- n=3 {Status|404 Not Found} {Content-Type|text/html} "
             "{X-Thing|spaced value} body=<h1>gone</h1>\r\n\r\n"));
  /* LF line ends, no Status: 200 (RFC 3875 6.3.3); case-insensitive
   * names; an empty value. */
  CHECK(same(scan("content-TYPE: text/plain\nX-Empty:\n\nbody"),
             "status=200 reason=[] kind=1 type=text/plain location=- n=2 "
             "{content-TYPE|text/plain} {X-Empty|} body=body"));
  /* Mixed line ends; Status without a reason; an empty body. */
  CHECK(same(scan("Status: 204\nX-A: 1\r\n\n"),
             "status=204 reason=[] kind=1 type=- location=- n=2 "
             "{Status|204} {X-A|1} body="));
  /* Blanks before the reason phrase are not part of it. */
  CHECK(same(scan("Status: 404  \tNot Found\n\n"),
             "status=404 reason=[Not Found] kind=1 type=- location=- n=1 "
             "{Status|404  \tNot Found} body="));
  /* The blank line may be CRLF after LF lines. */
  CHECK(same(scan("A: b\n\r\nrest\n"),
             "status=200 reason=[] kind=1 type=- location=- n=1 {A|b} "
             "body=rest\n"));
}

static void test_redirects(void) {
  /* 6.2.3: an absolute Location alone: 302. */
  CHECK(same(scan("Location: https://example.com/x?y=1\r\n\r\n"),
             "status=302 reason=[] kind=3 type=- "
             "location=https://example.com/x?y=1 n=1 "
             "{Location|https://example.com/x?y=1} body="));
  /* 6.2.4: with a document. */
  CHECK(same(scan("Status: 301 Moved\r\nLocation: http://a/\r\n"
                  "Content-Type: text/html\r\n\r\n<a>"),
             "status=301 reason=[Moved] kind=4 type=text/html "
             "location=http://a/ n=3 {Status|301 Moved} {Location|http://a/} "
             "{Content-Type|text/html} body=<a>"));
  CHECK(same(scan("Location: http://a/\r\nX-Other: 1\r\n\r\n"),
             "status=302 reason=[] kind=4 type=- location=http://a/ n=2 "
             "{Location|http://a/} {X-Other|1} body="));
  /* 6.2.2: a local path: the server reprocesses; no HTTP status of its
   * own. */
  CHECK(same(scan("Location: /other?q\r\n\r\n"),
             "status=200 reason=[] kind=2 type=- location=/other?q n=1 "
             "{Location|/other?q} body="));
  /* A relative reference: a client redirect, as servers treat it. */
  CHECK(same(scan("Location: page.php\n\n"),
             "status=302 reason=[] kind=3 type=- location=page.php n=1 "
             "{Location|page.php} body="));
}

static void test_malformed(void) {
  CHECK(starts(scan("HTTP/1.1 200 OK\r\n\r\n"),
               "error FK_E_CGI_HEADER at 0: a header line without ':'"));
  CHECK(starts(scan("A: 1\r\nBad Name: x\r\n\r\n"),
               "error FK_E_CGI_HEADER at 9: a field name with a character "
               "not allowed in a token"));
  CHECK(starts(scan(": x\n\n"), "error FK_E_CGI_HEADER at 0: an empty field "
                                "name"));
  CHECK(starts(scan("A: 1\n folded\n\n"),
               "error FK_E_CGI_HEADER at 5: a line starting with a blank"));
  CHECK(starts(scan("A: 1\rB: 2\n\n"),
               "error FK_E_CGI_HEADER at 4: a CR inside a header line"));
  CHECK(starts(scan("\r\nbody"),
               "error FK_E_CGI_HEADER at 0: no header field before the "
               "blank line"));
  CHECK(starts(scan("Status: 20\n\n"), "error FK_E_CGI_HEADER at 0: "
                                       "malformed Status"));
  CHECK(starts(scan("Status: 2000 x\n\n"), "error FK_E_CGI_HEADER at 0: "
                                           "malformed Status"));
  CHECK(starts(scan("Status: 099 x\n\n"), "error FK_E_CGI_HEADER at 0: "
                                          "malformed Status"));
  CHECK(starts(scan("Status: OK\n\n"), "error FK_E_CGI_HEADER"));
  CHECK(starts(scan("Status: 200\nstatus: 404\n\n"),
               "error FK_E_CGI_HEADER at 12: status given twice"));
  CHECK(starts(scan("Location: /a\nLocation: /b\n\n"),
               "error FK_E_CGI_HEADER at 13: Location given twice"));
  CHECK(starts(scan("Content-Type: a\ncontent-type: b\n\n"),
               "error FK_E_CGI_HEADER"));
  CHECK(starts(scan("Location:  \n\n"),
               "error FK_E_CGI_HEADER at 0: empty Location"));
  /* Cut short: the stream ended inside the headers. */
  CHECK(same(scan("Content-Type: text/plain\r\n"),
             "finish FK_E_CGI_HEADER: the response ended inside its "
             "headers"));
  CHECK(same(scan(""), "finish FK_E_CGI_HEADER: the response ended inside "
                       "its headers"));
  /* A NUL byte: fed by hand, strlen would stop at it. */
  fk_cgi *c;
  CHECK_EQ(fk_cgi_new(&c, NULL, 0, 0), FK_OK);
  CHECK_EQ(fk_cgi_feed(c, "A: x\0y\n\n", 8), FK_E_CGI_HEADER);
  CHECK(strstr(fk_cgi_error_reason(c), "NUL") != NULL);
  CHECK_EQ(fk_cgi_error_offset(c), 4);
  CHECK_EQ(fk_cgi_feed(c, "A: 1\n\n", 6), FK_E_CGI_HEADER); /* sticky */
  CHECK_EQ(fk_cgi_finish(c), FK_E_CGI_HEADER);
  /* A reset makes it new again. */
  fk_cgi_reset(c);
  CHECK_EQ(fk_cgi_feed(c, "A: 1\n\nB", 7), 6);
  CHECK(fk_cgi_done(c));
  CHECK_EQ(fk_cgi_feed(c, "more body", 9), 0);
  CHECK(strcmp(fk_cgi_header(c, "a"), "1") == 0);
  CHECK(fk_cgi_header(c, "B") == NULL);
  const char *n;
  CHECK_EQ(fk_cgi_header_at(c, 1, &n, NULL, NULL, NULL), FK_E_INVAL);
  CHECK_EQ(fk_cgi_finish(c), FK_OK);
  fk_cgi_free(c);
  fk_cgi_free(NULL);
}

static void test_limits(void) {
  /* 30 bytes of header section at most: 30 fit, 31 do not. */
  CHECK(starts(scan_limits("A: 12345678901234567890123\r\n\r\n", 30, 0),
               "status=200"));
  CHECK(starts(scan_limits("A: 123456789012345678901234\r\n\r\n", 30, 0),
               "error FK_E_HEADERS_TOO_LARGE at 30: the header section is "
               "longer than 30 bytes"));
  CHECK(starts(scan_limits("A: 1\nB: 2\nC: 3\n\n", 0, 3), "status=200"));
  CHECK(starts(scan_limits("A: 1\nB: 2\nC: 3\nD: 4\n\n", 0, 3),
               "error FK_E_HEADERS_TOO_LARGE at 15: more than 3 header "
               "fields"));
  /* A flood without a line end stops at the cap: memory stays bounded. */
  fk_cgi *c;
  CHECK_EQ(fk_cgi_new(&c, NULL, 1000, 0), FK_OK);
  char junk[512];
  memset(junk, 'x', sizeof junk);
  CHECK_EQ(fk_cgi_feed(c, junk, sizeof junk), 512);
  CHECK_EQ(fk_cgi_feed(c, junk, sizeof junk), FK_E_HEADERS_TOO_LARGE);
  fk_cgi_free(c);
  /* Many fields: the index grows. */
  char many[4000] = "";
  for (int i = 0; i < 90; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "H%d: v%d\n", i,
             i);
  strcat(many, "\nB");
  CHECK_EQ(fk_cgi_new(&c, NULL, 0, 0), FK_OK);
  CHECK_EQ(fk_cgi_feed(c, many, strlen(many)), (long)strlen(many) - 1);
  CHECK_EQ(fk_cgi_header_count(c), 90);
  CHECK(strcmp(fk_cgi_header(c, "h89"), "v89") == 0);
  fk_cgi_free(c);
}

int main(void) {
  guard_init();
  RUN(test_document);
  RUN(test_redirects);
  RUN(test_malformed);
  RUN(test_limits);
  TEST_EXIT();
}
