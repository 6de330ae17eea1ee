/*
 * fcgikit: FastCGI for C. Include this one header.
 *
 *   fcgikit/protocol.h  the sans-I/O codec (records, name-value pairs)
 *   fcgikit/app.h       the application library (serve requests)
 *   fcgikit/client.h    the client engine (the web server's side)
 *   fcgikit/loop.h      the event loop the non-blocking client runs on
 *   fcgikit/error.h     error codes shared by all of them
 */
#ifndef FCGIKIT_H
#define FCGIKIT_H

#define FK_VERSION_STRING "0.1.0"
#define FK_VERSION_MAJOR 0
#define FK_VERSION_MINOR 1
#define FK_VERSION_PATCH 0

#include "error.h"
#include "protocol.h"
#include "app.h"
#include "client.h"
#include "loop.h"

#endif
