/*
 * fcgikitd's log: one small interface for the manager's own messages and
 * for the lines its workers write. Standard error in the foreground (or
 * when no error_log is set), a file, or syslog; levels are syslog's.
 */
#ifndef FK_MANAGER_LOG_H
#define FK_MANAGER_LOG_H

#include <stddef.h>
#include <syslog.h>

/* Where messages go: NULL = standard error, "syslog", or a file opened for
 * appending. Messages below level (LOG_ERR .. LOG_DEBUG) are dropped.
 * Returns 0, or -1 with errno when the file cannot be opened (the log then
 * stays where it was). */
int log_open(const char *where, int level);

/* SIGUSR1: the file is opened again (it may have been rotated). Returns 0
 * or -1 with errno, in which case the old file stays in use. */
int log_reopen(void);

void logmsg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A worker's output, split into lines. Bytes come in as read; every whole
 * line is logged with prefix. A line longer than LINE_PIECE is logged in
 * pieces, each marked as continued, so nothing is cut off and memory stays
 * bounded. */
#define LINE_PIECE (16 * 1024)

typedef struct linebuf {
  char buf[LINE_PIECE];
  size_t len;
  int continued; /* the line's first piece has been logged */
} linebuf;

void linebuf_feed(linebuf *lb, const char *prefix, const char *p, size_t n);
/* End of the stream: what is left is logged as a line. */
void linebuf_flush(linebuf *lb, const char *prefix);

#endif
