/*
 * Internal: sockets, addresses and the event loop. Everything that makes a
 * system call on behalf of the library lives under lib/unix/.
 */
#ifndef FK_UNIX_H
#define FK_UNIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* A resolved socket address. */
typedef struct fk__sockaddr {
  struct sockaddr_storage ss;
  socklen_t len;
} fk__sockaddr;

/* What an address string names. */
enum fk__addr_kind { FK__ADDR_UNIX, FK__ADDR_ABSTRACT, FK__ADDR_TCP };

/* Parses an address string: a path (anything with '/'), "unix:PATH",
 * "@name" (abstract Unix socket), "host:port", "[v6]:port", ":port".
 * For TCP, host and port are copied into the buffers (host may come back
 * empty, meaning every address). Returns the kind, or FK_E_ADDRESS. */
int fk__addr_split(const char *spec, char *host, size_t hostcap, char *port,
                   size_t portcap, const char **path);

/* Fills a Unix socket address for path (abstract when abstract is set).
 * Returns FK_OK or FK_E_ADDRESS when the path does not fit. */
int fk__addr_unix(fk__sockaddr *out, const char *path, int abstract);

/* The list in FCGI_WEB_SERVER_ADDRS (spec 3.2): IPv4 and IPv6 literals,
 * separated by commas, whitespace allowed. */
typedef struct fk__addr_list {
  struct fk__ip {
    int family;
    uint8_t bytes[16];
  } *ips;
  size_t count;
} fk__addr_list;

/* Parses value into list (malloc'd; free with fk__addr_list_free).
 * Returns FK_OK, FK_E_WEB_SERVER_ADDRS or FK_E_NOMEM. */
int fk__addr_list_parse(fk__addr_list *list, const char *value);
void fk__addr_list_free(fk__addr_list *list);

/* Nonzero when the peer address is in the list. A peer that is not on TCP
 * is never in it: the spec refuses non-TCP connections once the variable
 * is set. An IPv4-mapped IPv6 peer matches its IPv4 form. */
int fk__addr_list_allows(const fk__addr_list *list, const struct sockaddr *sa);

/* Listening sockets. On success *fd is a non-blocking, close-on-exec
 * listening socket. fk__listen_unix replaces a stale socket file at path
 * but refuses (FK_E_SYSTEM, errno EADDRINUSE) one that a live process still
 * accepts on; mode < 0 leaves the mode to the umask. */
int fk__listen_unix(const char *path, int mode, int backlog, int *fd);
int fk__listen_tcp(const char *host, const char *port, int backlog, int *fd);

/* The sockets handed over by systemd (LISTEN_FDS for this LISTEN_PID):
 * fills fds (up to cap) and returns how many, 0 when none. The variables are
 * removed from the environment so children do not inherit them. */
int fk__listen_systemd(int *fds, int cap);

/* Connects a stream socket to address (any form fk__addr_split takes;
 * TCP tries every address the name resolves to) within timeout_ms (0 = no
 * bound). On FK_OK *fd is connected, non-blocking and close-on-exec.
 * Returns FK_E_ADDRESS, FK_E_TIMEOUT, or FK_E_SYSTEM with errno set. */
int fk__connect(const char *address, unsigned timeout_ms, int *fd);

/* Starts connecting to the first address of address without waiting:
 * on FK_OK *fd is a non-blocking socket, connected already or, when
 * *in_progress is set, to be watched for writing and then checked with
 * SO_ERROR. Returns FK_E_ADDRESS or FK_E_SYSTEM (errno) otherwise. */
int fk__connect_start(const char *address, int *fd, int *in_progress);

/* Nonzero when fd is a listening socket. */
int fk__is_listening(int fd);

/* Makes fd non-blocking and close-on-exec. Returns 0 or -1 (errno set). */
int fk__fd_prepare(int fd);

/* epoll, with a wake-up eventfd. */
typedef struct fk__loop {
  int epfd;
  int wakefd;
} fk__loop;

int fk__loop_init(fk__loop *loop);
void fk__loop_close(fk__loop *loop);
int fk__loop_add(fk__loop *loop, int fd, uint32_t events, void *ptr);
int fk__loop_mod(fk__loop *loop, int fd, uint32_t events, void *ptr);
int fk__loop_del(fk__loop *loop, int fd);
/* Wakes the loop from another thread or a signal handler. */
void fk__loop_wake(fk__loop *loop);
/* Clears a wake-up once the loop saw it. */
void fk__loop_drain_wake(fk__loop *loop);

/* Deadlines on the monotonic clock: ms from now, and ms left (0 once
 * passed). */
void fk__deadline_in(struct timespec *t, unsigned ms);
int fk__ms_until(const struct timespec *t);

#endif
