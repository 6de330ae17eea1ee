/*
 * The pools' listening sockets, and what fcgikitd tells systemd.
 *
 * A pool's socket belongs to fcgikitd: it is made (or taken over from
 * systemd) once, kept open across reloads and worker restarts, and handed
 * to every worker as its fd 0. It is a blocking socket, so that programs
 * that accept on fd 0 in a plain loop (libfcgi, php-cgi) work unchanged.
 */
#ifndef FK_MANAGER_SOCKETS_H
#define FK_MANAGER_SOCKETS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

typedef struct listen_socket {
  int fd;        /* -1 when closed */
  char *address; /* pc->listen, as resolved */
  char *path;    /* a Unix socket file fcgikitd made, removed at close */
  dev_t dev;     /* ... if it is still that file */
  ino_t ino;
  int from_systemd;
} listen_socket;

/* Takes the sockets systemd passed (LISTEN_FDS/LISTEN_PID), once, at start;
 * they are matched to pools by address in sock_open. Returns how many. */
int sock_systemd_init(void);

/* Opens pc's socket: one systemd passed with the same address, or a new
 * one: Unix (a stale socket file replaced, a live one refused) with
 * listen.mode and, when as_root, listen.owner/listen.group; or TCP with
 * SO_REUSEADDR. listen.backlog either way. The descriptor is blocking and
 * close-on-exec. Returns 0, or -1 with a message in err naming the pool
 * and the address. */
int sock_open(const pool_config *pc, int as_root, listen_socket *out, char *err,
              size_t errcap);

/* Closes s and removes the socket file it made. s->fd -1 is a no-op. */
void sock_close(listen_socket *s);

/* Connections waiting to be accepted, and the backlog: from sock_diag for
 * Unix sockets, TCP_INFO for TCP. Returns 0, or -1 when the kernel does not
 * tell. */
int sock_queue(const listen_socket *s, unsigned *queued, unsigned *backlog);

/* The systemd sockets that no pool claimed at start, closed. */
void sock_systemd_done(void);

/* sd_notify(3): sends state ("READY=1", "STATUS=...", ...) to
 * $NOTIFY_SOCKET when it is set (a path, or '@' for the abstract
 * namespace). Silent when unset; returns 0 or -1. */
int notify(const char *state);

#endif
