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
#include <sys/uio.h>
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
 * never interleave inside a line. prefix goes before text ("" for none). */
static void emit(int level, const char *prefix, const char *text, size_t len) {
  if (use_syslog) {
    syslog(level, "%s%.*s", prefix, (int)len, text);
    return;
  }
  char head[64];
  time_t now = time(NULL);
  struct tm tm;
  size_t hn =
      strftime(head, sizeof head, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
  snprintf(head + hn, sizeof head - hn, " [%s] ", level_name(level));
  struct iovec iov[4] = {{head, strlen(head)},
                         {(void *)prefix, strlen(prefix)},
                         {(void *)text, len},
                         {"\n", 1}};
  struct iovec *v = iov;
  int count = 4;
  while (count > 0) {
    ssize_t w = writev(log_fd, v, count);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    /* A short write (a full disk, a pipe): carry on after what went. */
    while (count > 0 && (size_t)w >= v->iov_len) {
      w -= (ssize_t)v->iov_len;
      v++;
      count--;
    }
    if (count > 0) {
      v->iov_base = (char *)v->iov_base + w;
      v->iov_len -= (size_t)w;
    }
  }
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
  emit(level, "", buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void log_piece(const char *prefix, const char *p, size_t n,
                      int continued) {
  if (LOG_NOTICE > max_level)
    return;
  char head[256];
  snprintf(head, sizeof head, "%s%s: ", prefix,
           continued ? " (continued)" : "");
  emit(LOG_NOTICE, head, p, n);
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
