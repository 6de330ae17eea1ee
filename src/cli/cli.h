/*
 * The fcgikit command: what its subcommands share.
 */
#ifndef FK_CLI_H
#define FK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <fcgikit/fcgikit.h>

#include "opt.h"

/* Exit statuses, the same for every subcommand (fcgikit(1), EXIT STATUS). */
enum {
  EXIT_OK = 0,
  EXIT_HTTP = 1,      /* request --fail: the response status was 400 or more */
  EXIT_USAGE = 2,     /* bad command line */
  EXIT_CONNECT = 3,   /* could not connect */
  EXIT_TRANSPORT = 4, /* connection lost, I/O error */
  EXIT_TIMEOUT = 5,   /* no answer in time */
  EXIT_PROTOCOL = 6,  /* the application broke the protocol */
  EXIT_REFUSED = 7, /* FCGI_OVERLOADED, FCGI_UNKNOWN_ROLE, FCGI_CANT_MPX_CONN */
  EXIT_APP = 8,     /* request --fail: non-zero appStatus */
  EXIT_LOCAL = 9    /* a local file or out of memory */
};

int cmd_request(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* The exit status an fk_error from the client engine maps to. */
int exit_for_error(int err);

/* Reports a failed call on standard error, one line: "fcgikit CMD:
 * ADDRESS: what happened (why)". errno is read for FK_E_SYSTEM and FK_E_IO;
 * why may be NULL or "". */
void print_failure(const char *cmd, const char *address, int rc,
                   const char *why);

/* The params of a request, built from defaults and options. */
typedef struct cli_params {
  fk_client_pair *pairs;
  size_t count, cap;
  char **owned; /* strings allocated for pairs */
  size_t nowned;
} cli_params;

/* What a request looks like, from the command line. */
typedef struct cli_request_spec {
  const char *method; /* NULL: GET, or POST with a body */
  const char *uri;    /* "/" when NULL */
  const char *address;
  uint64_t body_length;
  int has_body;
  const char *content_type; /* NULL: the default for a body */
} cli_request_spec;

/* Adds (or, when name is already there, replaces) one pair; the strings
 * are copied. Returns 0 or -1 (out of memory). */
int params_set(cli_params *p, const char *name, const char *value);

/* "NAME=VALUE" as given to -p. Returns 0 or -1 (no '=', or no memory). */
int params_set_assignment(cli_params *p, const char *assignment);

/* "Name: value" as given to -H, set as HTTP_NAME (and CONTENT_TYPE,
 * CONTENT_LENGTH for those two names, as CGI says). Returns 0 or -1. */
int params_set_header(cli_params *p, const char *header);

/* The CGI params a web server such as nginx sends for spec (method, URI,
 * query string, script name, server and remote address, body length and
 * type). Returns 0 or -1. */
int params_defaults(cli_params *p, const cli_request_spec *spec);

void params_free(cli_params *p);

/* Prints len bytes as a JSON string, quoted and escaped. */
void json_string(FILE *out, const char *s, size_t len);

/* A latency histogram: microseconds, log-linear buckets (about 1.5%
 * relative error), from 1 us to more than an hour. */
typedef struct cli_hist {
  uint64_t counts[64 * 32];
  uint64_t total, max_us, sum_us;
} cli_hist;

void hist_add(cli_hist *h, uint64_t us);
void hist_merge(cli_hist *into, const cli_hist *from);
/* The middle of bucket i, in us. */
uint64_t hist_bucket_value(size_t i);
/* The value below which fraction q (0..1) of the samples fall, in us. */
uint64_t hist_quantile(const cli_hist *h, double q);

#endif
