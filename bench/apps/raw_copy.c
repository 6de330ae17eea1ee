/*
 * raw_copy: the rate at which this machine moves bytes through a Unix
 * socket, the ceiling for a large FastCGI transfer.
 *
 *   raw_copy BYTES
 *
 * A socketpair; a child writes BYTES in 64 KiB writes from one static
 * buffer, the parent reads them in 64 KiB reads and throws them away.
 * Prints "BYTES SECONDS GiB/s" on one line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static char buf[CHUNK];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, uint64_t n) {
  while (n > 0) {
    size_t k = n < CHUNK ? (size_t)n : CHUNK;
    ssize_t w = write(fd, buf, k);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    n -= (uint64_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: raw_copy BYTES\n");
    return 2;
  }
  uint64_t total = strtoull(argv[1], NULL, 10);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    perror("raw_copy: socketpair");
    return 1;
  }
  memset(buf, 'x', sizeof buf);
  double start = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("raw_copy: fork");
    return 1;
  }
  if (pid == 0) {
    close(sv[0]);
    _exit(write_all(sv[1], total) == 0 ? 0 : 1);
  }
  close(sv[1]);
  uint64_t got = 0;
  for (;;) {
    ssize_t r = read(sv[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (uint64_t)r;
  }
  double secs = now() - start;
  int status;
  waitpid(pid, &status, 0);
  if (got != total) {
    fprintf(stderr, "raw_copy: read %llu of %llu bytes\n",
            (unsigned long long)got, (unsigned long long)total);
    return 1;
  }
  printf("%llu %.3f %.2f\n", (unsigned long long)total, secs,
         (double)total / secs / (1024.0 * 1024 * 1024));
  return 0;
}
