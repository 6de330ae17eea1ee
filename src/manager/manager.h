/*
 * fcgikitd's state: pools of workers, and the calls between its modules.
 *
 * Everything runs on one thread, in one poll(2) loop (main.c): signals
 * arrive through a self-pipe, children are reaped with waitpid(WNOHANG),
 * and supervise() runs at every turn and at least every TICK_MS.
 */
#ifndef FK_MANAGER_H
#define FK_MANAGER_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "app/scoreboard.h"
#include "config.h"
#include "log.h"
#include "sockets.h"

#define TICK_MS 100

typedef struct pool pool;

typedef struct worker {
  pool *pool;
  pid_t pid;
  unsigned generation; /* the pool's generation it was started in */
  int out_fd[2];       /* its stdout and stderr, -1 once closed */
  linebuf *lines[2];
  char prefix[96];   /* "[pool NAME] pid N" */
  fk_sb_slot *sb;    /* its scoreboard page (mapped by us) */
  int64_t start_ns;  /* monotonic */
  time_t start_time; /* wall clock, for the status */
  int stopping;      /* asked to stop: no longer counts */
  const char *stop_reason;
  int64_t kill_ns;        /* SIGKILL at this time when still alive */
  uint64_t cpu_ticks;     /* for workers that do not report: CPU time seen */
  int64_t cpu_changed_ns; /* ... and when it last changed */
  struct worker *next;
} worker;

struct pool {
  char name[64];
  pool_config *pc;      /* NULL once the pool left the configuration */
  pool_config *pending; /* during a reload: its next configuration */
  listen_socket sock;
  int stop_signal; /* kept from the last configuration */
  worker *workers;
  unsigned generation;
  int64_t start_ns;
  time_t start_time;
  /* Supervision. */
  unsigned quick_deaths; /* workers in a row that died soon after start */
  int64_t next_spawn_ns; /* no spawn before this (backoff) */
  uint64_t spawned;      /* workers started */
  uint64_t restarts;     /* workers that died unasked and were replaced */
  uint64_t recycled;     /* stopped after pm.max_requests */
  uint64_t timeouts;     /* killed by request_terminate_timeout */
  uint64_t served_gone;  /* requests served by workers no longer alive */
  unsigned max_queue;    /* longest listen queue seen */
  int64_t last_shrink_ns;
  int64_t window_ns; /* the current second of spawn_rate() */
  unsigned window_spawns;
  int rate_logged;
  int accept_ready; /* ondemand: poll saw a connection waiting */
  unsigned queued;  /* listen queue at the last turn */
  pool *next;
};

typedef struct manager {
  config cfg;
  char *config_path; /* -c made absolute: reloads happen after chdir */
  pool *pools;
  int as_root;    /* fcgikitd runs as root: users, chroot apply */
  int allow_root; /* -R: workers may run as root */
  int stopping;
  int64_t stop_deadline_ns;
  int status_fd; /* status.listen socket, or -1 */
  char *status_path;
  int64_t now_ns;
} manager;

int64_t mono_ns(void);

/* spawn.c: starts one worker of p. Returns 0, or -1 (logged). */
int spawn_worker(manager *m, pool *p);
/* Asks w to stop (the pool's stop_signal), with a SIGKILL deadline. */
void stop_worker(manager *m, worker *w, const char *reason);
/* Frees w's pipes and scoreboard page; the pid is reaped already. */
void worker_free(worker *w);

/* pool.c */
/* Checks what a configuration asks against who we are: users and chroot
 * need root, workers as root need -R. Returns 0, or -1 with messages on
 * the log. */
int pools_check(const manager *m, const config *c);
/* Opens every pool's socket and starts its workers. Returns 0, or -1
 * (logged), with nothing left open. */
int pools_start(manager *m);
/* SIGHUP: load the file again and move to it without closing a socket
 * that stays. On any error the running configuration stays. */
void pools_reload(manager *m);
/* One turn of supervision: timeouts, recycling, process models. */
void supervise(manager *m);
/* A child has exited. */
void pools_reaped(manager *m, pid_t pid, int status);
/* SIGTERM: stop every worker. */
void pools_stop(manager *m);
/* Every worker of every pool, for the poll set. */
int pools_alive(const manager *m);
/* Closes every socket, frees the pools. */
void pools_free(manager *m);
/* A worker's state as the status shows it. */
const char *worker_state(const manager *m, const worker *w);
int worker_reports(const worker *w);
/* The requests w has in progress, each copied whole from its scoreboard
 * (none for a worker that does not report). Returns how many. */
unsigned worker_requests(const worker *w, fk_sb_entry out[FK_SB_ENTRIES]);

/* status.c */
int status_open(manager *m, const char *path);
void status_close(manager *m);
/* A client connected to the status socket: answer it. */
void status_serve(manager *m);

#endif
