/*
 * fcgikitd's configuration: what fcgikitd.conf(5) says, parsed and checked.
 *
 * The file is INI-shaped like php-fpm's: a [global] section, then one
 * section per pool, "key = value" lines, ';' or '#' comments. Parsing
 * checks everything that can be checked without acting: unknown keys,
 * values out of range, a pool without a command or a listen address, two
 * pools on one address, users and groups that do not exist. Every message
 * names the file, the line and the key.
 */
#ifndef FK_MANAGER_CONFIG_H
#define FK_MANAGER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum pm_model { PM_STATIC, PM_DYNAMIC, PM_ONDEMAND };

/* RLIM_INFINITY stands for "unlimited"; RLIMIT_UNSET for "not set, leave
 * what fcgikitd inherited". */
#define RLIMIT_UNSET ((uint64_t)-2)

typedef struct pool_config {
  char *name;       /* the section name */
  const char *file; /* where the section starts, for messages */
  unsigned line;

  char *command; /* absolute, or made absolute against the file's dir */
  char **argv;   /* argv[0] = command, NULL-terminated; "args" split on
                    blanks, double quotes group, backslash escapes */
  char **env;    /* "NAME=VALUE" strings, NULL-terminated, in file order
                    (env[NAME] = VALUE; env[NAME] = $NAME passes on
                    fcgikitd's own value; a missing one is left out) */
  int clear_env; /* clear_env = yes (default): only env[] and the
                    settings below reach the worker */

  /* listen = PATH | unix:PATH | host:port | [v6]:port | port */
  char *listen; /* as resolved: a Unix path made absolute, or TCP */
  int listen_is_unix;
  char *listen_owner, *listen_group; /* NULL = fcgikitd's own */
  int listen_mode;                   /* default 0660 */
  int listen_backlog;                /* default 511 */
  char *listen_allowed_clients;      /* NULL = any; comma-separated IPs,
                                        checked with the FCGI_WEB_SERVER_ADDRS
                                        rules and passed on in it */

  /* Who the workers run as. user/group resolved to ids at parse time;
   * has_user/has_group say whether they were given. */
  int has_user, has_group;
  char *user, *group;
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* supplementary groups ("groups = a, b"); NULL with
                    ngroups -1 = the user's own (initgroups) */
  int ngroups;
  char *chroot;                                  /* NULL = none */
  char *chdir;                                   /* default "/" */
  int umask;                                     /* default 022 */
  uint64_t rlimit_files, rlimit_core, rlimit_as; /* RLIMIT_UNSET when absent */

  enum pm_model pm;
  unsigned max_children;  /* pm.max_children, required, >= 1 */
  unsigned start_servers; /* dynamic */
  unsigned min_spare, max_spare;
  unsigned idle_timeout_ms;    /* pm.process_idle_timeout, default 10 s */
  unsigned long max_requests;  /* pm.max_requests, 0 = never */
  unsigned request_timeout_ms; /* request_terminate_timeout, 0 = none */
  int stop_signal;             /* stop_signal = TERM (default) | QUIT | INT |
                                  USR1 | HUP */
  int catch_output;            /* catch_workers_output, default yes */
} pool_config;

typedef struct config {
  char *file;          /* as given on the command line */
  char *dir;           /* its directory, absolute: relative paths start here */
  char *pid_file;      /* [global] pid, NULL = none */
  char *error_log;     /* [global] error_log: a path, "syslog" or NULL
                          (standard error) */
  int log_level;       /* [global] log_level: error, warning, notice (default),
                          info, debug -> LOG_ERR .. LOG_DEBUG */
  char *status_listen; /* [global] status.listen: Unix socket path, NULL =
                          none */
  unsigned stop_timeout_ms; /* [global] process_control_timeout: how long a
                               stopping worker has before SIGKILL, default
                               10 s */
  pool_config *pools;
  size_t npools;
} config;

/* Reads and checks path. On success fills *out and returns 0; otherwise
 * writes one message per mistake to err (at most 20), as
 * "FILE:LINE: KEY: what is wrong", and returns -1 with *out untouched. */
int config_load(const char *path, config *out, char *err, size_t errcap);

void config_free(config *c);

/* Durations as php-fpm writes them: a number with an optional s, m, h or d
 * suffix (no suffix = seconds), into milliseconds. Returns 0 or -1. */
int config_duration(const char *s, unsigned *ms);

#endif
