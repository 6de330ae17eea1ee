/*
 * fcgikit status: what fcgikitd says about its pools, read from its status
 * socket (status.listen in fcgikitd.conf(5)) and printed as it comes.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fcgikit status [options] SOCKET\n"
          "\n"
          "Prints the state of fcgikitd's pools and workers: the SOCKET is\n"
          "its status.listen. fcgikitd answers it itself, even when every\n"
          "worker is busy.\n"
          "\n"
          "  -t, --timeout SECONDS  wait this long for the answer (default 2)\n"
          "      --json             one JSON object instead of text\n"
          "  -h, --help             this text\n"
          "\n"
          "Exit status: 0 answered; 2 usage; 3 cannot connect; 4 connection\n"
          "lost; 5 no answer in time.\n");
}

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_status(int argc, char **argv) {
  static const struct option longs[] = {
      {"timeout", required_argument, NULL, 't'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  unsigned timeout_ms = 2000;
  int json = 0, ch;
  while ((ch = getopt_long(argc, argv, "t:h", longs, NULL)) != -1) {
    switch (ch) {
    case 't':
      if (opt_seconds(optarg, &timeout_ms) != 0 || timeout_ms == 0) {
        fprintf(stderr, "fcgikit status: bad timeout: %s\n", optarg);
        return EXIT_USAGE;
      }
      break;
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
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(address) >= sizeof sun.sun_path) {
    fprintf(stderr, "fcgikit status: %s: path too long\n", address);
    return EXIT_USAGE;
  }
  strcpy(sun.sun_path, address);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    fprintf(stderr, "fcgikit status: %s: cannot connect: %s\n", address,
            strerror(errno));
    if (fd >= 0)
      close(fd);
    return EXIT_CONNECT;
  }
  const char *req = json ? "json\n" : "text\n";
  if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
    fprintf(stderr, "fcgikit status: %s: %s\n", address, strerror(errno));
    close(fd);
    return EXIT_TRANSPORT;
  }
  int64_t deadline = ms_now() + timeout_ms;
  char buf[16384];
  int status = EXIT_OK;
  for (;;) {
    int64_t left = deadline - ms_now();
    struct pollfd pfd = {fd, POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
      fprintf(stderr, "fcgikit status: %s: no answer in time\n", address);
      status = EXIT_TIMEOUT;
      break;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      fprintf(stderr, "fcgikit status: %s: %s\n", address, strerror(errno));
      status = EXIT_TRANSPORT;
      break;
    }
    if (n == 0)
      break;
    fwrite(buf, 1, (size_t)n, stdout);
  }
  close(fd);
  return status;
}
