/*
 * fcgikit: talk FastCGI from the command line.
 *
 *   fcgikit request ADDRESS [URI]   send one request, like curl
 *   fcgikit ping ADDRESS            FCGI_GET_VALUES health check
 *   fcgikit bench ADDRESS [URI]     load generator
 *   fcgikit status SOCKET           fcgikitd's pools and workers
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fcgikit COMMAND ADDRESS [options]\n"
          "\n"
          "commands:\n"
          "  request ADDRESS [URI]  send one request and print the response\n"
          "  ping ADDRESS           ask FCGI_GET_VALUES; exit 0 if answered\n"
          "  bench ADDRESS [URI]    put an application under load\n"
          "  status SOCKET          fcgikitd's pools and workers\n"
          "\n"
          "ADDRESS: a Unix socket path (anything with '/'), unix:PATH,\n"
          "host:port, [v6addr]:port, or @name (abstract Unix socket).\n"
          "`fcgikit COMMAND --help` says more; see also fcgikit(1).\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  /* getopt names the program in its messages: "fcgikit request: ...". */
  char name[32];
  snprintf(name, sizeof name, "fcgikit %s", cmd);
  argv[1] = name;
  if (strcmp(cmd, "request") == 0)
    return cmd_request(argc - 1, argv + 1);
  if (strcmp(cmd, "ping") == 0)
    return cmd_ping(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "status") == 0)
    return cmd_status(argc - 1, argv + 1);
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("fcgikit %s\n", FK_VERSION_STRING);
    return EXIT_OK;
  }
  fprintf(stderr, "fcgikit: unknown command '%s'\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
