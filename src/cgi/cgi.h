/*
 * fcgikit-cgi: run CGI programs for a FastCGI web server.
 *
 * main.c    options, listening, privileges, the fd budget
 * script.c  which program a request names, whether it may run, its
 *           environment
 * run.c     one script's life: spawn, feed the body, relay the output,
 *           time it out, reap it
 */
#ifndef FK_CGI_H
#define FK_CGI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <fcgikit/fcgikit.h>

/* Everything the options decide; read-only once serving starts. */
typedef struct cgi_config {
  char **roots; /* real paths of the directories scripts may be in */
  size_t nroots;
  char **interpreters; /* #! interpreters allowed for non-executables */
  size_t ninterpreters;
  char **extra_env; /* "NAME=VALUE" added to every script's environment */
  size_t nextra_env;
  unsigned timeout_ms; /* a script's run time; 0 = no limit */
  unsigned grace_ms;   /* SIGTERM, then this long, then SIGKILL */
  size_t header_max;   /* bytes of CGI response headers */
  int verbose;
} cgi_config;

/* A program a request may run, once checked. */
typedef struct cgi_script {
  char path[PATH_MAX];   /* the real path of the script */
  char dir[PATH_MAX];    /* its directory: the script's working directory */
  char interp[PATH_MAX]; /* "" or the allowed #! interpreter to run it with */
  char interp_arg[256];  /* "" or the one argument on the #! line */
} cgi_script;

/* Finds the program req names (SCRIPT_FILENAME, else DOCUMENT_ROOT +
 * SCRIPT_NAME) and checks it may run: inside a root once every symbolic
 * link is followed, a regular file, executable or started by an allowed
 * interpreter, not a non-parsed-header script. *name is set to the name
 * the request gave (for log lines; valid while req is). Returns 0, or the
 * HTTP status to answer (403, 404, 500) with *why set to a static reason. */
int cgi_resolve(const cgi_config *cfg, const fk_request *req, cgi_script *out,
                const char **name, const char **why);

/* The script's environment: the request's params (less HTTP_PROXY and
 * names no environment can hold), CONTENT_LENGTH from the body really
 * received, GATEWAY_INTERFACE and PATH when absent, the configured extra
 * variables over all of them. One allocation: free() the result. NULL when
 * out of memory. */
char **cgi_environment(const cgi_config *cfg, const fk_request *req);

/* The handler: runs the script a request names and relays its response.
 * arg is the cgi_config. */
void cgi_serve(fk_request *req, void *arg);

/* One line on standard error: "fcgikit-cgi[PID]: message". */
void cgi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
