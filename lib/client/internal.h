/*
 * Internal: what the files of the client engine share; the byte buffer and
 * the allocation helpers are the core's (core/core.h).
 *
 *   session.c   fk_client_session: one connection's protocol state
 *   cgi.c       fk_cgi: CGI response headers
 *   blocking.c  fk_client: the session driven over a socket
 *   async.c     fk_client_async: the session driven by fk_loop
 *
 * session.c and cgi.c make no system call, so the fuzz targets
 * link them with the protocol core alone.
 */
#ifndef FK_CLIENT_INTERNAL_H
#define FK_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "fcgikit/client.h"

#endif
