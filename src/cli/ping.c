/*
 * fcgikit ping: a FastCGI health check. Asks FCGI_GET_VALUES (spec 4.1),
 * prints what the application advertises, exits 0 only when it answered
 * in time: a container health check needs nothing else.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: fcgikit ping [options] ADDRESS\n"
      "\n"
      "Asks the FastCGI application at ADDRESS for FCGI_MAX_CONNS,\n"
      "FCGI_MAX_REQS and FCGI_MPXS_CONNS with FCGI_GET_VALUES and prints\n"
      "its answer, one NAME=VALUE per line.\n"
      "\n"
      "  -t, --timeout SECONDS  wait this long for the answer (default 2)\n"
      "  -q, --quiet            print nothing; the exit status says it all\n"
      "      --json             print the answer as one JSON object\n"
      "  -h, --help             this text\n"
      "\n"
      "Exit status: 0 answered; 2 usage; 3 cannot connect; 4 connection\n"
      "lost; 5 no answer in time; 6 protocol error, or the application\n"
      "does not know FCGI_GET_VALUES.\n");
}

static void print_answer(const fk_params *values, int json, double ms) {
  size_t n = fk_params_count(values);
  if (json)
    printf("{\"answered\":true,\"ms\":%.3f", ms);
  for (size_t i = 0; i < n; i++) {
    const char *name, *value;
    size_t nlen, vlen;
    fk_params_at(values, i, &name, &nlen, &value, &vlen);
    if (json) {
      putchar(',');
      json_string(stdout, name, nlen);
      putchar(':');
      json_string(stdout, value, vlen);
    } else {
      printf("%.*s=%.*s\n", (int)nlen, name, (int)vlen, value);
    }
  }
  if (json)
    printf("}\n");
}

int cmd_ping(int argc, char **argv) {
  static const struct option longs[] = {
      {"timeout", required_argument, NULL, 't'},
      {"quiet", no_argument, NULL, 'q'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  unsigned timeout_ms = 2000;
  int quiet = 0, json = 0, ch;
  while ((ch = getopt_long(argc, argv, "t:qh", longs, NULL)) != -1) {
    switch (ch) {
    case 't':
      if (opt_seconds(optarg, &timeout_ms) != 0 || timeout_ms == 0) {
        fprintf(stderr, "fcgikit ping: bad timeout: %s\n", optarg);
        return EXIT_USAGE;
      }
      break;
    case 'q': quiet = 1; break;
    case 'j': json = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (argc - optind != 1) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *address = argv[optind];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fk_client_options opt;
  fk_client_options_init(&opt);
  opt.connect_timeout_ms = timeout_ms;
  fk_client *c = NULL;
  const fk_params *values = NULL;
  int rc = fk_client_open(&c, address, &opt);
  if (rc == FK_OK)
    rc = fk_client_get_values(c, NULL, 0, timeout_ms, &values);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  int status = exit_for_error(rc);
  if (rc == FK_OK) {
    if (!quiet)
      print_answer(values, json, ms);
  } else {
    if (json && !quiet)
      printf("{\"answered\":false,\"error\":\"%s\"}\n", fk_errname(rc));
    if (!quiet)
      print_failure("ping", address, rc,
                    rc == FK_E_STATE
                        ? "the application does not know FCGI_GET_VALUES"
                    : c ? fk_client_error_reason(c)
                        : NULL);
    if (rc == FK_E_STATE)
      status = EXIT_PROTOCOL;
  }
  fk_client_close(c);
  return status;
}
