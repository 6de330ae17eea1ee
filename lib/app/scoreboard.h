/*
 * The scoreboard: how a worker built on libfcgikit tells fcgikitd what it
 * is doing.
 *
 * fcgikitd gives each worker a page of shared memory of its own (a memfd,
 * named by FCGIKIT_SCOREBOARD=FD in the worker's environment). The library
 * maps it when the server starts and keeps it current; the manager only
 * reads. One writer per field, atomics for the counters and a sequence
 * number per request entry, so what the manager reads is never torn:
 * php-fpm's shared counters are updated by several processes without
 * that care, and its status page can be wrong under load.
 *
 * This header is shared by lib/app and src/manager; it is not part of the
 * public API and may change with the library's version, which the magic
 * number carries.
 */
#ifndef FK_SCOREBOARD_H
#define FK_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>

#define FK_SB_ENV "FCGIKIT_SCOREBOARD"
#define FK_SB_MAGIC 0x666b7362u /* "fksb" */
#define FK_SB_VERSION 1u
#define FK_SB_ENTRIES 16
#define FK_SB_METHOD 16
#define FK_SB_URI 200

/* One request in progress. busy is 0 (free), 1 (being claimed or freed by
 * the worker) or 2 (published). seq goes up by one before and after each
 * change, so a reader that sees it odd, or different before and after its
 * copy, reads again. */
typedef struct fk_sb_entry {
  atomic_uint busy;
  atomic_uint seq;
  int64_t start_ns; /* CLOCK_MONOTONIC, which every process shares */
  char method[FK_SB_METHOD];
  char uri[FK_SB_URI];
} fk_sb_entry;

typedef struct fk_sb_slot {
  atomic_uint magic; /* FK_SB_MAGIC once the worker serves */
  uint32_t version;
  atomic_ullong served; /* requests answered */
  atomic_ullong conns_accepted;
  atomic_uint active;    /* requests in progress */
  atomic_uint conns;     /* connections open */
  atomic_llong last_ns;  /* CLOCK_MONOTONIC of the last request start or end */
  uint64_t max_requests; /* written by the manager before the worker
                            starts: stop gracefully after this many
                            (pm.max_requests), 0 = never */
  fk_sb_entry entries[FK_SB_ENTRIES]; /* requests past FK_SB_ENTRIES are
                                         counted in active only */
} fk_sb_slot;

#endif
