/*
 * fuzz_manager_config: fcgikitd's configuration parser on any bytes.
 *
 * config_load() reads a file, so each input is written to one file in a
 * private directory first. Whatever the bytes, it must return 0 with a
 * configuration that frees cleanly, or -1 with a message, and never read
 * or write out of bounds or leak.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static char dir[] = "/tmp/fuzz-config.XXXXXX";

static void remove_dir(void) {
  unlink(path);
  rmdir(dir);
}

static int write_input(const uint8_t *data, size_t size) {
  if (path[0] == '\0') {
    if (mkdtemp(dir) == NULL)
      return -1;
    snprintf(path, sizeof path, "%s/fcgikitd.conf", dir);
    atexit(remove_dir);
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  ssize_t n = size ? write(fd, data, size) : 0;
  close(fd);
  return n == (ssize_t)size ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256 * 1024 || write_input(data, size) != 0)
    return 0;
  config c;
  char err[4096];
  err[0] = '\0';
  if (config_load(path, &c, err, sizeof err) == 0) {
    if (c.npools == 0 || c.pools[0].command == NULL ||
        c.pools[0].listen == NULL)
      abort(); /* a configuration without a pool or its keys is refused */
    config_free(&c);
  } else if (err[0] == '\0') {
    abort(); /* a refusal always says why */
  }
  return 0;
}
