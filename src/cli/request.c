/*
 * fcgikit request: one request, like curl, straight to a FastCGI
 * application.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: fcgikit request [options] ADDRESS [URI]\n"
      "\n"
      "Sends one request to the FastCGI application at ADDRESS and prints\n"
      "the response body (STDOUT) on standard output and its STDERR on\n"
      "standard error. URI defaults to /.\n"
      "\n"
      "  -X, --request METHOD      request method (GET, or POST with a body)\n"
      "  -d, --data DATA           request body: DATA, @FILE, or @- (stdin)\n"
      "  -H, --header 'Name: value'  sent as HTTP_NAME (Content-Type and\n"
      "                            Content-Length as CONTENT_TYPE/LENGTH)\n"
      "  -p, --param NAME=VALUE    set any param (replaces a default)\n"
      "      --role ROLE           responder (default), authorizer or filter\n"
      "      --data-file FILE      the FCGI_DATA stream of a filter\n"
      "  -i, --include             print the response headers too\n"
      "  -v, --verbose             print the records exchanged on stderr\n"
      "  -m, --max-time SECONDS    give up after this long (default 30)\n"
      "      --connect-timeout SECONDS  (default 5)\n"
      "  -f, --fail                exit 1 for an HTTP status of 400 or more,\n"
      "                            8 for a non-zero application exit status\n"
      "  -h, --help                this text\n"
      "\n"
      "Exit status: 0 answered; 2 usage; 3 cannot connect; 4 connection\n"
      "lost; 5 timeout; 6 protocol error; 7 request refused (overloaded,\n"
      "unknown role, cannot multiplex); 9 local error; with --fail, 1 and "
      "8.\n");
}

typedef struct output {
  fk_cgi *cgi;
  int include;
  int broken; /* headers malformed: the rest goes out as it is */
} output;

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int on_stdout(const uint8_t *data, size_t len, void *arg) {
  output *o = arg;
  if (!o->broken && !fk_cgi_done(o->cgi)) {
    long head = fk_cgi_feed(o->cgi, data, len);
    if (head < 0) {
      fprintf(stderr, "fcgikit request: %s; printing the response as it is\n",
              fk_cgi_error_reason(o->cgi));
      o->broken = 1;
    } else {
      if (o->include && write_all(STDOUT_FILENO, data, (size_t)head) != 0)
        return 1;
      data += head;
      len -= (size_t)head;
    }
  }
  return write_all(STDOUT_FILENO, data, len) != 0;
}

static int on_stderr(const uint8_t *data, size_t len, void *arg) {
  (void)arg;
  write_all(STDERR_FILENO, data, len);
  return 0;
}

/* -v: one line per record header, in each direction. */
typedef struct tracer {
  uint8_t hdr[FK_HEADER_LEN];
  size_t have;
  uint64_t skip;
} tracer;

static void trace_bytes(tracer *t, char dir, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (t->skip > 0) {
      size_t k = n < t->skip ? n : (size_t)t->skip;
      t->skip -= k;
      p += k;
      n -= k;
      continue;
    }
    t->hdr[t->have++] = *p++;
    n--;
    if (t->have < FK_HEADER_LEN)
      continue;
    fk_header h;
    fk_header_decode(&h, t->hdr);
    fprintf(stderr, "%c %s id=%u content=%u padding=%u\n", dir,
            fk_type_name(h.type), h.request_id, h.content_length,
            h.padding_length);
    t->have = 0;
    t->skip = (uint64_t)h.content_length + h.padding_length;
  }
}

static tracer sent_trace, received_trace;

static void on_trace(int direction, const uint8_t *data, size_t len,
                     void *arg) {
  (void)arg;
  if (direction == FK_TRACE_SENT)
    trace_bytes(&sent_trace, '>', data, len);
  else
    trace_bytes(&received_trace, '<', data, len);
}

/* A body from -d: literal, @FILE or @- (read whole: a pipe has no length
 * to announce in CONTENT_LENGTH). */
typedef struct body_source {
  fk_client_body body;
  uint64_t length;
  char *memory;
  int fd;
} body_source;

static int read_whole(int fd, body_source *b) {
  size_t cap = 0, len = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      char *m = realloc(b->memory, cap);
      if (m == NULL)
        return -1;
      b->memory = m;
    }
    ssize_t n = read(fd, b->memory + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    len += (size_t)n;
  }
  b->body =
      (fk_client_body){.kind = FK_BODY_MEMORY, .data = b->memory, .len = len};
  b->length = len;
  return 0;
}

/* A file to send: a regular file streams from its descriptor, with its
 * size as the length; anything else is read whole first. */
static int open_file(const char *path, body_source *b, struct stat *st) {
  b->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (b->fd < 0 || fstat(b->fd, st) != 0) {
    fprintf(stderr, "fcgikit request: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st->st_mode))
    return read_whole(b->fd, b);
  b->body = (fk_client_body){.kind = FK_BODY_FD, .fd = b->fd};
  b->length = (uint64_t)st->st_size;
  return 0;
}

static int open_body(const char *spec, body_source *b, struct stat *st) {
  if (spec[0] != '@') {
    b->body = (fk_client_body){
        .kind = FK_BODY_MEMORY, .data = spec, .len = strlen(spec)};
    b->length = strlen(spec);
    return 0;
  }
  if (strcmp(spec, "@-") == 0)
    return read_whole(STDIN_FILENO, b);
  return open_file(spec + 1, b, st);
}

static void close_body(body_source *b) {
  free(b->memory);
  if (b->fd >= 0)
    close(b->fd);
}

static int parse_role(const char *s, unsigned *role) {
  if (strcmp(s, "responder") == 0)
    *role = FK_RESPONDER;
  else if (strcmp(s, "authorizer") == 0)
    *role = FK_AUTHORIZER;
  else if (strcmp(s, "filter") == 0)
    *role = FK_FILTER;
  else
    return -1;
  return 0;
}

typedef struct options {
  cli_request_spec spec;
  const char *data, *data_file;
  unsigned role;
  int include, verbose, fail;
  unsigned timeout_ms, connect_timeout_ms;
  cli_params extra; /* -p and -H, applied over the defaults in order */
} options;

static int parse(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"request", required_argument, NULL, 'X'},
      {"data", required_argument, NULL, 'd'},
      {"header", required_argument, NULL, 'H'},
      {"param", required_argument, NULL, 'p'},
      {"role", required_argument, NULL, 'r'},
      {"data-file", required_argument, NULL, 'D'},
      {"include", no_argument, NULL, 'i'},
      {"verbose", no_argument, NULL, 'v'},
      {"max-time", required_argument, NULL, 'm'},
      {"connect-timeout", required_argument, NULL, 'c'},
      {"fail", no_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  o->role = FK_RESPONDER;
  o->timeout_ms = 30000;
  o->connect_timeout_ms = 5000;
  while ((ch = getopt_long(argc, argv, "X:d:H:p:ivm:fh", longs, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'X': o->spec.method = optarg; break;
    case 'd': o->data = optarg; break;
    case 'H': bad = params_set_header(&o->extra, optarg); break;
    case 'p': bad = params_set_assignment(&o->extra, optarg); break;
    case 'r': bad = parse_role(optarg, &o->role); break;
    case 'D': o->data_file = optarg; break;
    case 'i': o->include = 1; break;
    case 'v': o->verbose = 1; break;
    case 'm': bad = opt_seconds(optarg, &o->timeout_ms); break;
    case 'c': bad = opt_seconds(optarg, &o->connect_timeout_ms); break;
    case 'f': o->fail = 1; break;
    case 'h': usage(stdout); return EXIT_OK + 100;
    default: usage(stderr); return EXIT_USAGE;
    }
    if (bad) {
      fprintf(stderr, "fcgikit request: bad value: %s\n", optarg);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc || argc - optind > 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  o->spec.address = argv[optind];
  o->spec.uri = optind + 1 < argc ? argv[optind + 1] : "/";
  if (o->data_file && o->role != FK_FILTER) {
    fprintf(stderr, "fcgikit request: --data-file needs --role filter\n");
    return EXIT_USAGE;
  }
  return -1;
}

/* The defaults, then the Filter's data params, then -p and -H in order. */
static int build_params(cli_params *p, const options *o,
                        const body_source *data, const struct stat *data_st) {
  if (params_defaults(p, &o->spec) != 0)
    return -1;
  if (o->role == FK_AUTHORIZER) {
    /* Spec 6.3: an Authorizer gets no body and none of these. */
    for (size_t i = 0; i < p->count; i++) {
      const char *n = p->pairs[i].name;
      if (strcmp(n, "CONTENT_LENGTH") == 0 || strcmp(n, "SCRIPT_NAME") == 0 ||
          strcmp(n, "CONTENT_TYPE") == 0)
        p->pairs[i--] = p->pairs[--p->count];
    }
  }
  if (data_st) {
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)data->length);
    if (params_set(p, "FCGI_DATA_LENGTH", v) != 0)
      return -1;
    snprintf(v, sizeof v, "%lld", (long long)data_st->st_mtime);
    if (params_set(p, "FCGI_DATA_LAST_MOD", v) != 0)
      return -1;
  }
  for (size_t i = 0; i < o->extra.count; i++)
    if (params_set(p, o->extra.pairs[i].name, o->extra.pairs[i].value) != 0)
      return -1;
  return 0;
}

static int verdict(const options *o, int rc, const fk_client_result *res,
                   const output *out, fk_client *client) {
  if (rc != FK_OK) {
    print_failure("request", o->spec.address, rc,
                  client ? fk_client_error_reason(client) : NULL);
    return exit_for_error(rc);
  }
  if (o->verbose)
    fprintf(stderr, "* END_REQUEST appStatus=%u protocolStatus=%s\n",
            res->app_status, fk_protocol_status_name(res->protocol_status));
  if (res->protocol_status != FK_REQUEST_COMPLETE) {
    fprintf(stderr,
            "fcgikit request: the application refused the request: %s\n",
            fk_protocol_status_name(res->protocol_status));
    return EXIT_REFUSED;
  }
  if (!out->broken && fk_cgi_finish(out->cgi) != FK_OK && res->stdout_bytes > 0)
    fprintf(stderr, "fcgikit request: %s\n", fk_cgi_error_reason(out->cgi));
  if (o->fail && fk_cgi_done(out->cgi) && fk_cgi_status(out->cgi) >= 400) {
    fprintf(stderr, "fcgikit request: HTTP status %d\n",
            fk_cgi_status(out->cgi));
    return EXIT_HTTP;
  }
  if (o->fail && res->app_status != 0) {
    fprintf(stderr, "fcgikit request: application exit status %u\n",
            res->app_status);
    return EXIT_APP;
  }
  return EXIT_OK;
}

int cmd_request(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  int status = parse(argc, argv, &o);
  body_source body = {.fd = -1}, data = {.fd = -1};
  struct stat body_st, data_st;
  cli_params params = {0};
  output out = {.include = 0};
  fk_client *client = NULL;
  if (status >= 0) {
    status = status == EXIT_OK + 100 ? EXIT_OK : status;
    goto done;
  }
  status = EXIT_LOCAL;
  if (o.data && open_body(o.data, &body, &body_st) != 0)
    goto done;
  if (o.data_file && open_file(o.data_file, &data, &data_st) != 0)
    goto done;
  o.spec.has_body = o.data != NULL;
  o.spec.body_length = body.length;
  if (build_params(&params, &o, &data, o.data_file ? &data_st : NULL) != 0 ||
      fk_cgi_new(&out.cgi, NULL, 0, 0) != FK_OK)
    goto done;
  out.include = o.include;

  fk_client_options copt;
  fk_client_options_init(&copt);
  copt.connect_timeout_ms = o.connect_timeout_ms;
  /* Four records a read: a large response costs a quarter of the reads,
   * and arrives in whole records, each one write to standard output. */
  copt.read_buffer = 256u << 10;
  if (o.verbose) {
    copt.trace = on_trace;
    fprintf(stderr, "* connecting to %s\n", o.spec.address);
  }
  int rc = fk_client_open(&client, o.spec.address, &copt);
  fk_client_result res;
  memset(&res, 0, sizeof res);
  if (rc == FK_OK) {
    fk_client_request req = {
        .role = o.role,
        .params = params.pairs,
        .nparams = params.count,
        .body = body.body,
        .data = data.body,
        .on_stdout = on_stdout,
        .on_stderr = on_stderr,
        .arg = &out,
        .timeout_ms = o.timeout_ms,
    };
    rc = fk_client_run(client, &req, &res);
  }
  status = verdict(&o, rc, &res, &out, client);
done:
  fk_client_close(client);
  fk_cgi_free(out.cgi);
  params_free(&params);
  params_free(&o.extra);
  close_body(&body);
  close_body(&data);
  return status;
}
