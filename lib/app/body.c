/*
 * Request bodies: memory up to body_memory, an unlinked temporary file past
 * it, so that a 1 GB upload costs disk rather than memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/internal.h"

void fk__body_init(fk__body *b) {
  memset(b, 0, sizeof *b);
  b->fd = -1;
}

static int spill_open(const fk_server *s) {
  const char *dir = s->cfg.tmpdir;
  if (dir == NULL)
    dir = getenv("TMPDIR");
  if (dir == NULL || *dir == '\0')
    dir = "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
    return fd;
  /* A file system without O_TMPFILE: create, then unlink at once. */
  char path[4096];
  if (snprintf(path, sizeof path, "%s/fcgikit-body-XXXXXX", dir) >=
      (int)sizeof path)
    return -1;
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0)
    unlink(path);
  return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return FK_E_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return FK_OK;
}

int fk__body_append(fk__body *b, const fk_server *s, const uint8_t *p,
                    size_t n) {
  uint64_t max = s->cfg.max_body;
  if (max != 0 && (b->length > max || n > max - b->length))
    return FK_E_BODY_TOO_LARGE;
  size_t room = b->mem.len < s->cfg.body_memory
                    ? s->cfg.body_memory - b->mem.len
                    : 0;
  if (b->fd < 0 && room > 0) {
    size_t take = n < room ? n : room;
    int rc = fk__buf_append(&b->mem, s->cfg.allocator, p, take);
    if (rc != FK_OK)
      return rc;
    b->length += take;
    p += take;
    n -= take;
  }
  if (n == 0)
    return FK_OK;
  if (b->fd < 0 && (b->fd = spill_open(s)) < 0)
    return FK_E_IO;
  int rc = write_all(b->fd, p, n);
  if (rc == FK_OK)
    b->length += n;
  return rc;
}

long fk__body_read(fk__body *b, void *buf, size_t len) {
  if (len > (size_t)LONG_MAX)
    len = (size_t)LONG_MAX;
  size_t in_mem = b->mem.len;
  if (b->rpos < in_mem) {
    size_t n = in_mem - (size_t)b->rpos;
    if (n > len)
      n = len;
    memcpy(buf, b->mem.data + b->rpos, n);
    b->rpos += n;
    return (long)n;
  }
  if (b->fd < 0 || b->rpos >= b->length)
    return 0;
  for (;;) {
    ssize_t r = pread(b->fd, buf, len, (off_t)(b->rpos - in_mem));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return FK_E_IO;
    b->rpos += (uint64_t)r;
    return (long)r;
  }
}

void fk__body_free(fk__body *b, const fk_allocator *a) {
  fk__buf_free(&b->mem, a);
  if (b->fd >= 0)
    close(b->fd);
  b->fd = -1;
}
