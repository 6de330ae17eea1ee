/*
 * fcgikit event loop: file descriptors and timers, one thread.
 *
 * The loop the non-blocking client runs on (fk_client_async_open), small
 * enough to host a program of its own: watch descriptors for reading and
 * writing, set one-shot timers, run until stopped. Callbacks run on the
 * thread that called fk_loop_run(); only fk_loop_stop() may be called from
 * another thread or a signal handler.
 */
#ifndef FCGIKIT_LOOP_H
#define FCGIKIT_LOOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fk_loop fk_loop;
typedef struct fk_timer fk_timer;

enum { FK_LOOP_READ = 1, FK_LOOP_WRITE = 2 };

/* Called with what the descriptor is ready for (FK_LOOP_READ and/or
 * FK_LOOP_WRITE; an error or hang-up reports both). */
typedef void (*fk_io_fn)(fk_loop *loop, int fd, unsigned ready, void *arg);
typedef void (*fk_timer_fn)(fk_loop *loop, void *arg);

/* Creates a loop. Returns FK_OK, FK_E_NOMEM, FK_E_SYSTEM (errno). */
int fk_loop_new(fk_loop **out);

/* Frees a loop that is not running; watchers and timers left are dropped
 * (their descriptors are not closed). loop may be NULL. */
void fk_loop_free(fk_loop *loop);

/* Watches fd for events (FK_LOOP_READ | FK_LOOP_WRITE), calling fn; a
 * second call for the same fd changes the events and callback, events 0
 * stops watching it. Returns FK_OK, FK_E_INVAL (fd < 0), FK_E_NOMEM,
 * FK_E_SYSTEM (errno). Stop watching a descriptor before closing it. */
int fk_loop_watch(fk_loop *loop, int fd, unsigned events, fk_io_fn fn,
                  void *arg);

/* Calls fn once, ms milliseconds from now. *out (may be NULL) identifies
 * the timer for fk_loop_cancel() until it fires or is cancelled.
 * Returns FK_OK or FK_E_NOMEM. */
int fk_loop_timer(fk_loop *loop, unsigned ms, fk_timer_fn fn, void *arg,
                  fk_timer **out);

/* Cancels a timer that has not fired. t may be NULL. */
void fk_loop_cancel(fk_loop *loop, fk_timer *t);

/* Runs callbacks until fk_loop_stop() is called or nothing is left to
 * wait for (no descriptor watched, no timer set). Returns FK_OK, or
 * FK_E_SYSTEM (errno) when waiting failed. */
int fk_loop_run(fk_loop *loop);

/* Makes fk_loop_run() return after the callback running now; a stop while
 * the loop is not running is forgotten when it next runs. Safe from any
 * thread and from a signal handler. */
void fk_loop_stop(fk_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
