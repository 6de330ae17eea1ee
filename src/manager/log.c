/*
 * The log (see log.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fd = 2; /* standard error, or the file */
static char *log_path; /* the file, for log_reopen */
static int use_syslog;
static int max_level = LOG_NOTICE;

static const char *level_name(int level) {
  static const char *names[] = {"emerg",   "alert",  "crit", "error",
                                "warning", "notice", "info", "debug"};
  return level >= 0 && level <= LOG_DEBUG ? names[level] : "?";
}

int log_open(const char *where, int level) {
  max_level = level;
  if (where == NULL) {
    if (log_fd > 2)
      close(log_fd);
    log_fd = 2;
    use_syslog = 0;
    free(log_path);
    log_path = NULL;
    return 0;
  }
  if (strcmp(where, "syslog") == 0) {
    openlog("fcgikitd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    use_syslog = 1;
    return 0;
  }
  int fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return -1;
  char *copy = strdup(where);
  if (copy == NULL) {
    close(fd);
    return -1;
  }
  if (log_fd > 2)
    close(log_fd);
  free(log_path);
  log_fd = fd;
  log_path = copy;
  use_syslog = 0;
  return 0;
}

int log_reopen(void) {
  if (log_path == NULL)
    return 0;
  int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return -1;
  close(log_fd);
  log_fd = fd;
  return 0;
}

/* One write per message, so that lines from the manager and its workers
 * never interleave inside a line. */
static void emit(int level, const char *text, size_t len) {
  if (use_syslog) {
    syslog(level, "%.*s", (int)len, text);
    return;
  }
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
  char head[64];
  int hn = snprintf(head, sizeof head, "%s [%s] ", stamp, level_name(level));
  char *line = malloc((size_t)hn + len + 1);
  if (line == NULL)
    return;
  memcpy(line, head, (size_t)hn);
  memcpy(line + hn, text, len);
  line[(size_t)hn + len] = '\n';
  size_t total = (size_t)hn + len + 1, off = 0;
  while (off < total) {
    ssize_t w = write(log_fd, line + off, total - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  free(line);
}

void logmsg(int level, const char *fmt, ...) {
  if (level > max_level)
    return;
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  emit(level, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void log_piece(const char *prefix, const char *p, size_t n,
                      int continued) {
  size_t plen = strlen(prefix);
  const char *mark = continued ? " (continued)" : "";
  size_t mlen = strlen(mark);
  char *line = malloc(plen + mlen + 2 + n);
  if (line == NULL)
    return;
  memcpy(line, prefix, plen);
  memcpy(line + plen, mark, mlen);
  memcpy(line + plen + mlen, ": ", 2);
  memcpy(line + plen + mlen + 2, p, n);
  if (LOG_NOTICE <= max_level)
    emit(LOG_NOTICE, line, plen + mlen + 2 + n);
  free(line);
}

void linebuf_feed(linebuf *lb, const char *prefix, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    size_t room = sizeof lb->buf - lb->len;
    if (take > room)
      take = room;
    memcpy(lb->buf + lb->len, p, take);
    lb->len += take;
    p += take;
    n -= take;
    if (n > 0 && *p == '\n') { /* a whole line */
      log_piece(prefix, lb->buf, lb->len, lb->continued);
      lb->len = 0;
      lb->continued = 0;
      p++;
      n--;
    } else if (lb->len == sizeof lb->buf) { /* a long line: one piece */
      log_piece(prefix, lb->buf, lb->len, lb->continued);
      lb->len = 0;
      lb->continued = 1;
    }
  }
}

void linebuf_flush(linebuf *lb, const char *prefix) {
  if (lb->len > 0)
    log_piece(prefix, lb->buf, lb->len, lb->continued);
  lb->len = 0;
  lb->continued = 0;
}
