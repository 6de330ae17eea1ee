/*
 * fcgikit bench: a FastCGI load generator.
 *
 * Each thread runs an epoll loop over its share of the connections; each
 * connection is a sans-I/O client session kept full up to its depth (-m
 * requests in flight). A request's latency runs from the moment its
 * BEGIN_REQUEST is queued to its END_REQUEST. Requests still in flight when
 * the run ends are counted as unanswered, so a backend that hangs shows up
 * instead of vanishing from the figures.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define READ_SIZE (256u << 10)

enum err_kind {
  ERR_CONNECT,
  ERR_CLOSED,
  ERR_PROTOCOL,
  ERR_OVERLOADED,
  ERR_UNKNOWN_ROLE,
  ERR_CANT_MPX,
  ERR_APP_STATUS,
  ERR_KINDS
};
static const char *const err_names[ERR_KINDS] = {
    "connect",      "closed",        "protocol",  "overloaded",
    "unknown_role", "cant_mpx_conn", "app_status"};

typedef struct settings {
  const char *address;
  unsigned conns, depth, threads;
  unsigned duration_ms;
  uint64_t total; /* -n; 0 = run for duration_ms */
  size_t body_size;
  int keepalive, json;
  unsigned grace_ms;    /* how long to wait for in-flight requests at the end */
  unsigned idle_ms;     /* give up when no answer came for this long */
  int duration_given;   /* -d was given: it bounds a -n run too */
  unsigned depth_asked; /* -m as given; depth is what the application takes */
  int ask_values;       /* discover the multiplexing limit first */
  cli_params params;
  char *body;
} settings;

typedef struct bconn {
  int fd;
  fk_client_session *s;
  uint64_t *start_ns; /* by request id, 1..depth */
  uint64_t ended;     /* requests answered on this connection */
  int heard;          /* response bytes came since the last end */
} bconn;

typedef struct worker {
  const settings *cfg;
  pthread_t thread;
  int epfd;
  bconn *conns;
  unsigned nconns;
  uint8_t *rbuf;
  cli_hist hist;
  uint64_t answered, bytes, errors[ERR_KINDS], unanswered, retried;
} worker;

/* Shared by the threads. */
static atomic_ullong issued;     /* requests begun (for -n) */
static atomic_ullong done_count; /* requests ended, any way (progress) */
static atomic_int stopping;      /* no new requests */
static uint64_t deadline_ns;
static atomic_ullong last_answer_ns; /* when a request last ended */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- Connections ---------------------------------------------------------- */

static void conn_drop(worker *w, bconn *c) {
  c->ended = 0;
  c->heard = 0;
  if (c->fd >= 0) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  fk_client_session_free(c->s);
  c->fd = -1;
  c->s = NULL;
}

static int conn_open(worker *w, bconn *c) {
  const settings *cfg = w->cfg;
  if (fk_client_dial(cfg->address, 5000, &c->fd) != FK_OK) {
    c->fd = -1;
    w->errors[ERR_CONNECT]++;
    return -1;
  }
  if (fk_client_session_new(&c->s, NULL) != FK_OK ||
      fk_client_session_set_max_requests(c->s, cfg->depth) != FK_OK) {
    conn_drop(w, c);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

/* The connection broke with requests in flight. Like an HTTP client, a
 * connection that was reused and closed before any byte of an answer came
 * is one the application closed as idle (a worker stopping, a reload)
 * while the requests were on their way: they are sent again on a new
 * connection, not counted as failed. Anything else is an error. */
static void conn_lost(worker *w, bconn *c) {
  unsigned lost = fk_client_session_in_flight(c->s);
  if (c->ended > 0 && !c->heard && !atomic_load(&stopping)) {
    w->retried += lost;
    if (w->cfg->total)
      atomic_fetch_sub(&issued, lost);
  } else {
    w->errors[ERR_CLOSED] += lost;
    atomic_fetch_add(&done_count, lost);
  }
  conn_drop(w, c);
}

/* Writes what the session has queued; EPOLLOUT while the socket is full. */
static int conn_send(worker *w, bconn *c) {
  const uint8_t *p;
  size_t n;
  while ((n = fk_client_session_pending(c->s, &p)) > 0) {
    ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (k < 0)
      return -1;
    fk_client_session_consume(c->s, (size_t)k);
  }
  struct epoll_event ev = {.events = EPOLLIN | (n ? EPOLLOUT : 0),
                           .data.ptr = c};
  epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

/* Claims one request from the -n budget, or says the run is over. */
static int may_issue(const settings *cfg) {
  if (atomic_load(&stopping))
    return 0;
  if (cfg->total == 0)
    return 1;
  return atomic_fetch_add(&issued, 1) < cfg->total;
}

static int begin_one(worker *w, bconn *c) {
  const settings *cfg = w->cfg;
  unsigned id;
  unsigned flags = cfg->keepalive ? FK_KEEP_CONN : 0;
  if (fk_client_session_begin(c->s, FK_RESPONDER, flags, NULL, &id) != FK_OK)
    return -1;
  for (size_t i = 0; i < cfg->params.count; i++) {
    const fk_client_pair *pr = &cfg->params.pairs[i];
    if (fk_client_session_param(c->s, id, pr->name, strlen(pr->name), pr->value,
                                pr->value_len) != FK_OK)
      return -1;
  }
  if (fk_client_session_stream_end(c->s, id, FK_PARAMS) != FK_OK)
    return -1;
  if (cfg->body_size > 0 &&
      fk_client_session_stream(c->s, id, FK_STDIN, cfg->body, cfg->body_size) !=
          FK_OK)
    return -1;
  if (fk_client_session_stream_end(c->s, id, FK_STDIN) != FK_OK)
    return -1;
  c->start_ns[id] = now_ns();
  return 0;
}

/* Keeps the connection as full as its depth allows. */
/* Nonzero while more requests are to be sent. */
static int budget_left(const settings *cfg) {
  return !atomic_load(&stopping) &&
         (cfg->total == 0 || atomic_load(&issued) < cfg->total);
}

static void conn_fill(worker *w, bconn *c) {
  if (c->s == NULL && (!budget_left(w->cfg) || conn_open(w, c) != 0))
    return;
  while (fk_client_session_can_begin(c->s) && may_issue(w->cfg))
    if (begin_one(w, c) != 0)
      break;
  if (conn_send(w, c) != 0)
    conn_lost(w, c);
}

static void on_end(worker *w, bconn *c, const fk_client_event *ev) {
  c->ended++;
  c->heard = 0;
  atomic_fetch_add(&done_count, 1);
  atomic_store(&last_answer_ns, now_ns());
  switch (ev->protocol_status) {
  case FK_REQUEST_COMPLETE:
    if (ev->app_status != 0) {
      w->errors[ERR_APP_STATUS]++;
      return;
    }
    w->answered++;
    if (ev->request_id <= w->cfg->depth)
      hist_add(&w->hist, (now_ns() - c->start_ns[ev->request_id]) / 1000);
    return;
  case FK_OVERLOADED: w->errors[ERR_OVERLOADED]++; return;
  case FK_UNKNOWN_ROLE: w->errors[ERR_UNKNOWN_ROLE]++; return;
  default: w->errors[ERR_CANT_MPX]++; return;
  }
}

/* Reads and handles what the application sent. A connection that ends or
 * breaks is dropped; its requests in flight count as errors, and the next
 * fill opens a new one. */
static void conn_read(worker *w, bconn *c) {
  ssize_t n = recv(c->fd, w->rbuf, READ_SIZE, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  const uint8_t *p = w->rbuf;
  size_t left = n > 0 ? (size_t)n : 0;
  int broken = n <= 0;
  while (!broken) {
    fk_client_event ev;
    long used = fk_client_session_recv(c->s, p, left, &ev);
    if (used < 0) {
      w->errors[ERR_PROTOCOL] += fk_client_session_in_flight(c->s);
      atomic_fetch_add(&done_count, fk_client_session_in_flight(c->s));
      if (!w->cfg->json)
        fprintf(stderr, "\nfcgikit bench: %s\n",
                fk_client_session_error_reason(c->s));
      conn_drop(w, c);
      return;
    }
    p += used;
    left -= (size_t)used;
    if (ev.type == FK_CLIENT_NONE)
      break;
    if (ev.type == FK_CLIENT_STDOUT)
      w->bytes += ev.len;
    if (ev.type == FK_CLIENT_STDOUT || ev.type == FK_CLIENT_STDERR)
      c->heard = 1;
    else if (ev.type == FK_CLIENT_END)
      on_end(w, c, &ev);
  }
  if (broken) {
    conn_lost(w, c);
  } else if (!fk_client_session_reusable(c->s) &&
             fk_client_session_in_flight(c->s) == 0) {
    conn_drop(w, c); /* no keep-alive: the application closes it */
  }
  if (!atomic_load(&stopping))
    conn_fill(w, c);
}

/* --- Threads -------------------------------------------------------------- */

static unsigned in_flight(const worker *w) {
  unsigned n = 0;
  for (unsigned i = 0; i < w->nconns; i++)
    if (w->conns[i].s)
      n += fk_client_session_in_flight(w->conns[i].s);
  return n;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  for (unsigned i = 0; i < w->nconns; i++)
    conn_fill(w, &w->conns[i]);
  struct epoll_event events[64];
  uint64_t end_wait = 0;
  for (;;) {
    uint64_t now = now_ns();
    if ((w->cfg->total == 0 || w->cfg->duration_given) && now >= deadline_ns)
      atomic_store(&stopping, 1);
    /* A backend that stops answering ends the run: what it holds is
     * reported as unanswered, not waited for for ever. */
    uint64_t last = atomic_load(&last_answer_ns); /* may be after now */
    if (w->cfg->idle_ms && in_flight(w) > 0 && now > last &&
        now - last > (uint64_t)w->cfg->idle_ms * 1000000u)
      atomic_store(&stopping, 1);
    if (atomic_load(&stopping) ||
        (w->cfg->total && atomic_load(&issued) >= w->cfg->total)) {
      if (end_wait == 0)
        end_wait = now + (uint64_t)w->cfg->grace_ms * 1000000u;
      if (in_flight(w) == 0 || now >= end_wait)
        break;
    }
    int n = epoll_wait(w->epfd, events, 64, 50);
    for (int i = 0; i < n; i++) {
      bconn *c = events[i].data.ptr;
      if (c->s && (events[i].events & EPOLLOUT) && conn_send(w, c) != 0)
        conn_lost(w, c);
      if (c->s && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(w, c);
    }
    for (unsigned i = 0; i < w->nconns && !atomic_load(&stopping); i++)
      if (w->conns[i].s == NULL)
        conn_fill(w, &w->conns[i]); /* reconnect what was dropped */
  }
  w->unanswered = in_flight(w);
  for (unsigned i = 0; i < w->nconns; i++)
    conn_drop(w, &w->conns[i]);
  return NULL;
}

/* --- Report --------------------------------------------------------------- */

typedef struct totals {
  cli_hist hist;
  uint64_t answered, bytes, errors, by_kind[ERR_KINDS], unanswered, retried;
  double seconds;
} totals;

static void print_histogram(const cli_hist *h) {
  /* One row per power of two of microseconds that holds samples. */
  uint64_t rows[40] = {0};
  int lo = 40, hi = -1;
  for (size_t i = 0; i < sizeof h->counts / sizeof h->counts[0]; i++) {
    if (h->counts[i] == 0)
      continue;
    uint64_t v = hist_bucket_value(i);
    int row = v ? 63 - __builtin_clzll(v) : 0;
    if (row > 39)
      row = 39;
    rows[row] += h->counts[i];
    lo = row < lo ? row : lo;
    hi = row > hi ? row : hi;
  }
  for (int r = lo; r <= hi; r++) {
    double pct = 100.0 * (double)rows[r] / (double)h->total;
    int bar = (int)(pct / 2 + 0.5);
    printf("    %10.3f ms  %6.2f%%  %.*s\n", (double)(1ull << r) / 1000.0, pct,
           bar, "##################################################");
  }
}

static void report(const settings *cfg, const totals *t) {
  double rps = t->seconds > 0 ? (double)t->answered / t->seconds : 0;
  double bps = t->seconds > 0 ? (double)t->bytes / t->seconds : 0;
  double p50 = (double)hist_quantile(&t->hist, 0.50) / 1000.0;
  double p90 = (double)hist_quantile(&t->hist, 0.90) / 1000.0;
  double p99 = (double)hist_quantile(&t->hist, 0.99) / 1000.0;
  double max = (double)t->hist.max_us / 1000.0;
  double mean = t->hist.total
                    ? (double)t->hist.sum_us / (double)t->hist.total / 1000.0
                    : 0;
  if (cfg->json) {
    printf("{\"address\":");
    json_string(stdout, cfg->address, strlen(cfg->address));
    printf(",\"connections\":%u,\"depth\":%u,\"depth_asked\":%u,"
           "\"threads\":%u,\"keepalive\":%s,"
           "\"duration_s\":%.3f,\"requests\":%llu,\"requests_per_second\":%.1f,"
           "\"bytes\":%llu,\"bytes_per_second\":%.1f,\"errors\":%llu,"
           "\"errors_by_kind\":{",
           cfg->conns, cfg->depth, cfg->depth_asked, cfg->threads,
           cfg->keepalive ? "true" : "false", t->seconds,
           (unsigned long long)t->answered, rps, (unsigned long long)t->bytes,
           bps, (unsigned long long)t->errors);
    for (int k = 0; k < ERR_KINDS; k++)
      printf("%s\"%s\":%llu", k ? "," : "", err_names[k],
             (unsigned long long)t->by_kind[k]);
    printf("},\"unanswered\":%llu,\"retried\":%llu,\"latency_ms\":{"
           "\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
           "\"mean\":%.3f}}\n",
           (unsigned long long)t->unanswered, (unsigned long long)t->retried,
           p50, p90, p99, max, mean);
    return;
  }
  printf("fcgikit bench: %s, %u connection%s x %u in flight, %u thread%s%s\n",
         cfg->address, cfg->conns, cfg->conns == 1 ? "" : "s", cfg->depth,
         cfg->threads, cfg->threads == 1 ? "" : "s",
         cfg->keepalive ? "" : ", no keep-alive");
  printf(
      "  requests     %llu answered in %.2f s, %llu errors, %llu unanswered\n",
      (unsigned long long)t->answered, t->seconds,
      (unsigned long long)t->errors, (unsigned long long)t->unanswered);
  if (t->retried)
    printf("  retried      %llu (sent on a reused connection the application "
           "closed\n               before answering; sent again)\n",
           (unsigned long long)t->retried);
  printf("  throughput   %.1f requests/s, %.2f MB/s\n", rps, bps / 1e6);
  printf("  latency      p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
         p50, p90, p99, max);
  if (t->hist.total) {
    printf("  histogram\n");
    print_histogram(&t->hist);
  }
  if (t->errors) {
    printf("  errors      ");
    for (int k = 0; k < ERR_KINDS; k++)
      if (t->by_kind[k])
        printf(" %s %llu", err_names[k], (unsigned long long)t->by_kind[k]);
    printf("\n");
  }
  if (t->unanswered)
    printf("  warning      %llu requests got no answer before the end\n",
           (unsigned long long)t->unanswered);
}

/* --- Discovering the multiplexing limit -------------------------------------
 */

/* More than one request in flight on a connection needs an application that
 * multiplexes (spec 4.1: FCGI_MPXS_CONNS, FCGI_MAX_REQS); one that does not
 * may drop or refuse the extra requests. So bench asks first and sends no
 * more than the answer allows; an application that does not answer is
 * taken not to multiplex. */
static unsigned discover_depth(const settings *cfg) {
  fk_client_options opt;
  fk_client_options_init(&opt);
  fk_client *c = NULL;
  const fk_params *values = NULL;
  unsigned depth = 1;
  const char *why = "it did not answer FCGI_GET_VALUES";
  int rc = fk_client_open(&c, cfg->address, &opt);
  if (rc == FK_OK)
    rc = fk_client_get_values(c, NULL, 0, 2000, &values);
  if (rc == FK_OK) {
    const char *mpxs = fk_params_get(values, "FCGI_MPXS_CONNS", NULL);
    const char *reqs = fk_params_get(values, "FCGI_MAX_REQS", NULL);
    unsigned long max = reqs ? strtoul(reqs, NULL, 10) : 0;
    if (mpxs == NULL || strcmp(mpxs, "1") != 0) {
      why = "it says FCGI_MPXS_CONNS is not 1";
    } else {
      depth = cfg->depth;
      if (max > 0 && max < depth) {
        depth = (unsigned)max;
        why = "its FCGI_MAX_REQS is lower";
      }
    }
  }
  fk_client_close(c);
  if (depth < cfg->depth)
    fprintf(stderr,
            "fcgikit bench: %u requests in flight per connection instead of "
            "%u: %s (--no-get-values sends %u regardless)\n",
            depth, cfg->depth, why, cfg->depth);
  return depth;
}

/* --- Command line ----------------------------------------------------------
 */

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: fcgikit bench [options] ADDRESS [URI]\n"
      "\n"
      "Sends requests to the FastCGI application at ADDRESS as fast as it\n"
      "answers them, and reports throughput, latency and errors.\n"
      "\n"
      "  -c, --connections N    connections (default 16)\n"
      "  -m, --multiplex N      requests in flight per connection (default 1)\n"
      "  -d, --duration SECONDS run this long (default 10)\n"
      "  -n, --requests N       send N requests instead of running for a time\n"
      "                         (with -d too: whichever ends first)\n"
      "  -t, --threads N        client threads (default 1)\n"
      "  -b, --body BYTES       request body size (a POST); default none "
      "(GET)\n"
      "  -p, --param NAME=VALUE set a param (replaces a default)\n"
      "  -H, --header 'Name: value'  sent as HTTP_NAME\n"
      "      --no-keepalive     a new connection for every request\n"
      "      --no-get-values    with -m, send that many without asking the\n"
      "                         application what it takes (FCGI_GET_VALUES)\n"
      "      --grace SECONDS    wait this long at the end for answers (default "
      "2)\n"
      "      --timeout SECONDS  end the run when no answer came for this long\n"
      "                         while requests wait (default 10; 0 = never)\n"
      "      --json             print one JSON object instead of the report\n"
      "  -h, --help             this text\n"
      "\n"
      "Exit status: 0 every request answered without error; 1 some failed or\n"
      "went unanswered; 2 usage; 3 cannot connect at all.\n");
}

static int parse(int argc, char **argv, settings *cfg, const char **uri) {
  static const struct option longs[] = {
      {"connections", required_argument, NULL, 'c'},
      {"multiplex", required_argument, NULL, 'm'},
      {"duration", required_argument, NULL, 'd'},
      {"requests", required_argument, NULL, 'n'},
      {"threads", required_argument, NULL, 't'},
      {"body", required_argument, NULL, 'b'},
      {"param", required_argument, NULL, 'p'},
      {"header", required_argument, NULL, 'H'},
      {"no-keepalive", no_argument, NULL, 'K'},
      {"grace", required_argument, NULL, 'g'},
      {"timeout", required_argument, NULL, 'T'},
      {"no-get-values", no_argument, NULL, 'V'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  uint64_t v;
  while ((ch = getopt_long(argc, argv, "c:m:d:n:t:b:p:H:h", longs, NULL)) !=
         -1) {
    int bad = 0;
    switch (ch) {
    case 'c':
      bad = opt_number(optarg, 1, 100000, &v);
      cfg->conns = (unsigned)v;
      break;
    case 'm':
      bad = opt_number(optarg, 1, 65535, &v);
      cfg->depth = (unsigned)v;
      break;
    case 't':
      bad = opt_number(optarg, 1, 256, &v);
      cfg->threads = (unsigned)v;
      break;
    case 'n':
      bad = opt_number(optarg, 1, UINT64_MAX, &v);
      cfg->total = v;
      break;
    case 'd':
      bad = opt_seconds(optarg, &cfg->duration_ms) || !cfg->duration_ms;
      cfg->duration_given = 1;
      break;
    case 'g': bad = opt_seconds(optarg, &cfg->grace_ms); break;
    case 'T': bad = opt_seconds(optarg, &cfg->idle_ms); break;
    case 'V': cfg->ask_values = 0; break;
    case 'b':
      bad = opt_number(optarg, 1, 1u << 30, &v);
      cfg->body_size = (size_t)v;
      break;
    case 'p': bad = params_set_assignment(&cfg->params, optarg); break;
    case 'H': bad = params_set_header(&cfg->params, optarg); break;
    case 'K': cfg->keepalive = 0; break;
    case 'j': cfg->json = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
    if (bad) {
      fprintf(stderr, "fcgikit bench: bad value: %s\n", optarg);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc || argc - optind > 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  cfg->address = argv[optind];
  *uri = optind + 1 < argc ? argv[optind + 1] : "/";
  if (cfg->threads > cfg->conns)
    cfg->threads = cfg->conns;
  return -1;
}

/* The defaults first, then what -p and -H said, over them. */
static int build_params(settings *cfg, const char *uri) {
  cli_params extra = cfg->params;
  memset(&cfg->params, 0, sizeof cfg->params);
  cli_request_spec spec = {.uri = uri,
                           .address = cfg->address,
                           .has_body = cfg->body_size > 0,
                           .body_length = cfg->body_size};
  int rc = params_defaults(&cfg->params, &spec);
  for (size_t i = 0; rc == 0 && i < extra.count; i++)
    rc = params_set(&cfg->params, extra.pairs[i].name, extra.pairs[i].value);
  params_free(&extra);
  return rc;
}

static void progress(const settings *cfg, uint64_t start) {
  double s = (double)(now_ns() - start) / 1e9;
  unsigned long long n = atomic_load(&done_count);
  fprintf(stderr, "\r[%5.1fs] %llu requests, %.0f requests/s   ", s, n,
          s > 0 ? (double)n / s : 0.0);
  (void)cfg;
}

int cmd_bench(int argc, char **argv) {
  settings cfg = {.conns = 16,
                  .depth = 1,
                  .threads = 1,
                  .duration_ms = 10000,
                  .keepalive = 1,
                  .grace_ms = 2000,
                  .idle_ms = 10000,
                  .ask_values = 1};
  const char *uri;
  int status = parse(argc, argv, &cfg, &uri);
  if (status >= 0) {
    params_free(&cfg.params);
    return status;
  }
  status = EXIT_LOCAL;
  worker *workers = calloc(cfg.threads, sizeof *workers);
  bconn *conns = calloc(cfg.conns, sizeof *conns);
  cfg.body = malloc(cfg.body_size + 1);
  if (workers == NULL || conns == NULL || cfg.body == NULL ||
      build_params(&cfg, uri) != 0)
    goto out;
  memset(cfg.body, 'x', cfg.body_size);
  for (unsigned i = 0; i < cfg.conns; i++) {
    conns[i].fd = -1;
    conns[i].start_ns = calloc(cfg.depth + 1u, sizeof *conns[i].start_ns);
    if (conns[i].start_ns == NULL)
      goto out;
  }
  /* A first connection says whether there is anything to measure. */
  int probe;
  int rc = fk_client_dial(cfg.address, 5000, &probe);
  if (rc != FK_OK) {
    print_failure("bench", cfg.address, rc, NULL);
    status = EXIT_CONNECT;
    goto out;
  }
  close(probe);
  cfg.depth_asked = cfg.depth;
  if (cfg.depth > 1 && cfg.ask_values)
    cfg.depth = discover_depth(&cfg);

  uint64_t start = now_ns();
  deadline_ns = start + (uint64_t)cfg.duration_ms * 1000000u;
  atomic_store(&last_answer_ns, start);
  for (unsigned t = 0, next = 0; t < cfg.threads; t++) {
    worker *w = &workers[t];
    w->cfg = &cfg;
    w->nconns = cfg.conns / cfg.threads + (t < cfg.conns % cfg.threads);
    w->conns = &conns[next];
    next += w->nconns;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rbuf = malloc(READ_SIZE);
    if (w->epfd < 0 || w->rbuf == NULL ||
        pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      fprintf(stderr, "fcgikit bench: cannot start thread %u\n", t);
      atomic_store(&stopping, 1);
      cfg.threads = t;
      break;
    }
  }
  int tty = isatty(STDERR_FILENO) && !cfg.json;
  totals t;
  memset(&t, 0, sizeof t);
  for (unsigned i = 0; i < cfg.threads; i++) {
    while (tty && pthread_tryjoin_np(workers[i].thread, NULL) == EBUSY) {
      progress(&cfg, start);
      usleep(500000);
    }
    if (!tty)
      pthread_join(workers[i].thread, NULL);
  }
  if (tty)
    fprintf(stderr, "\r%60s\r", "");
  /* The run ends with its last answer: time spent waiting at the end for
   * requests that never came back (--grace) is not serving time, and
   * counting it would understate a backend that leaves some unanswered. */
  uint64_t end = now_ns(), last = atomic_load(&last_answer_ns);
  if (last > start && last < end)
    end = last;
  t.seconds = (double)(end - start) / 1e9;
  for (unsigned i = 0; i < cfg.threads; i++) {
    worker *w = &workers[i];
    hist_merge(&t.hist, &w->hist);
    t.answered += w->answered;
    t.bytes += w->bytes;
    t.unanswered += w->unanswered;
    t.retried += w->retried;
    for (int k = 0; k < ERR_KINDS; k++) {
      t.by_kind[k] += w->errors[k];
      t.errors += w->errors[k];
    }
  }
  report(&cfg, &t);
  status = t.errors || t.unanswered ? 1 : EXIT_OK;
out:
  for (unsigned i = 0; workers && i < cfg.threads; i++) {
    if (workers[i].epfd > 0)
      close(workers[i].epfd);
    free(workers[i].rbuf);
  }
  for (unsigned i = 0; conns && i < cfg.conns; i++)
    free(conns[i].start_ns);
  free(workers);
  free(conns);
  free(cfg.body);
  params_free(&cfg.params);
  return status;
}
