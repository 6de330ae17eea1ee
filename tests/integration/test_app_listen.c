/*
 * Integration tests of the application library: where it listens. Each
 * server runs in a child process, so that its environment (LISTEN_FDS,
 * FCGI_WEB_SERVER_ADDRS), its fds 0 and 3 and its signal handlers stay
 * there; the parent is the web server.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "integration/harness.h"

/* What the child does before it creates its server. */
typedef struct child_setup {
  const char *addrs[3]; /* fk_server_listen() for each; NULL entries end */
  int listen_null;      /* fk_server_listen(s, NULL) */
  int listen_fd;        /* fk_server_listen_fd(s, fd) */
  int fd;               /* a listening socket to move ... */
  int to_fd;            /* ... to this fd (0 or 3), or -1 */
  int systemd;          /* set LISTEN_FDS=1 and LISTEN_PID */
  const char *web_server_addrs; /* FCGI_WEB_SERVER_ADDRS, or NULL */
  int socket_mode;
  unsigned long max_requests;
} child_setup;

/* Exit statuses of the child. */
enum {
  CHILD_OK = 0,
  CHILD_SETUP = 2,
  CHILD_LISTEN = 3,
  CHILD_RUN = 4,
  CHILD_ENV = 5
};

static void child_main(const child_setup *cs) {
  alarm(20); /* whatever happens, the child does not outlive the test */
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("FCGI_WEB_SERVER_ADDRS");
  if (cs->to_fd >= 0 && cs->fd != cs->to_fd) {
    if (dup2(cs->fd, cs->to_fd) < 0)
      _exit(CHILD_SETUP);
    close(cs->fd);
  }
  if (cs->systemd) {
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", pid, 1);
  }
  if (cs->web_server_addrs)
    setenv("FCGI_WEB_SERVER_ADDRS", cs->web_server_addrs, 1);
  umask(022);

  fk_config cfg;
  fk_config_init(&cfg);
  cfg.threads = 1;
  cfg.max_requests = cs->max_requests;
  cfg.socket_mode = cs->socket_mode;
  cfg.log = ts_log;
  /* handle_signals stays on: the parent stops servers with SIGTERM. */
  fk_server *s;
  if (fk_server_new(&s, &cfg) != FK_OK ||
      fk_server_handle(s, FK_RESPONDER, ts_app, NULL) != FK_OK)
    _exit(CHILD_SETUP);
  for (int i = 0; i < 3 && cs->addrs[i]; i++)
    if (fk_server_listen(s, cs->addrs[i]) != FK_OK)
      _exit(CHILD_LISTEN);
  if (cs->listen_null && fk_server_listen(s, NULL) != FK_OK)
    _exit(CHILD_LISTEN);
  if (cs->listen_fd && fk_server_listen_fd(s, cs->fd) != FK_OK)
    _exit(CHILD_LISTEN);
  /* systemd's variables are consumed, not passed on to children. */
  if (getenv("LISTEN_FDS") || getenv("LISTEN_PID"))
    _exit(CHILD_ENV);
  int rc = fk_server_run(s);
  fk_server_free(s);
  _exit(rc == FK_OK ? CHILD_OK : CHILD_RUN);
}

static pid_t spawn(const child_setup *cs) {
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0)
    child_main(cs);
  if (cs->to_fd >= 0 || cs->listen_fd)
    close(cs->fd); /* the child accepts; the parent only connects */
  return pid;
}

/* The child's exit status, or -1 when it did not exit within timeout_ms
 * (it is killed then). */
static int reap(pid_t pid, long timeout_ms) {
  long deadline = tc_now_ms() + timeout_ms;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 || tc_now_ms() > deadline)
      break;
    tc_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  fprintf(stderr, "  child %ld did not exit in time\n", (long)pid);
  return -1;
}

/* Connects to a Unix path or a TCP address (port > 0), retrying while the
 * child is still setting up. */
static int connect_retry(tc_conn *c, const char *host_or_path, int port) {
  long deadline = tc_now_ms() + TS_WAIT;
  for (;;) {
    int rc = port ? tc_connect_tcp(c, host_or_path, port)
                  : tc_connect_unix(c, host_or_path);
    if (rc == 0)
      return 1;
    if (tc_now_ms() > deadline) {
      fprintf(stderr, "  connect %s %d: %s\n", host_or_path, port,
              strerror(errno));
      return 0;
    }
    tc_sleep_ms(10);
  }
}

/* One echo request on a fresh connection, answered exactly, then closed. */
static int served(const char *host_or_path, int port) {
  tc_conn c;
  if (!connect_retry(&c, host_or_path, port))
    return 0;
  int ok = ts_echo_ok(&c, 1, 0) && tc_wait_closed(&c, TS_WAIT);
  tc_close(&c);
  return ok;
}

/* The connection is accepted, then closed without a byte of answer. */
static int refused(const char *host_or_path, int port) {
  tc_conn c;
  if (!connect_retry(&c, host_or_path, port))
    return 0;
  const char *pairs[] = {"T=echo", NULL};
  (void)tc_request(&c, 1, FK_RESPONDER, 0, pairs, "x", 1);
  int ok = tc_wait_closed(&c, TS_WAIT) && c.nev == 1;
  if (!ok)
    tc_dump(&c, "a connection that should have been refused");
  tc_close(&c);
  return ok;
}

/* A port that was free a moment ago on the loopback address. */
static int free_port(int family) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *in;
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    len = sizeof *in6;
  }
  int fd = socket(family, SOCK_STREAM, 0), port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0 &&
      getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
    port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                   : ((struct sockaddr_in6 *)&ss)->sin6_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* A listening Unix socket made by the "web server". */
static int unix_listener(const char *path) {
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
      listen(fd, 16) != 0) {
    perror("unix_listener");
    exit(1);
  }
  return fd;
}

static char dir[] = "/tmp/fk-listen-XXXXXX";
static char path[64];

static child_setup setup(void) {
  child_setup cs;
  memset(&cs, 0, sizeof cs);
  cs.to_fd = -1;
  cs.socket_mode = -1;
  return cs;
}

/* --- 13. Listen modes ---------------------------------------------------- */

static void test_unix_mode(void) {
  child_setup cs = setup();
  cs.addrs[0] = path;
  cs.socket_mode = 0600;
  cs.max_requests = 1;
  pid_t pid = spawn(&cs);
  tc_conn c;
  CHECK(connect_retry(&c, path, 0));
  tc_close(&c);
  struct stat st;
  CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
  CHECK_EQ(st.st_mode & 0777, 0600);
  CHECK(served(path, 0));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
  CHECK(stat(path, &st) != 0 && errno == ENOENT); /* removed at the end */
}

static void test_tcp4(void) {
  int port = free_port(AF_INET);
  CHECK(port > 0);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  child_setup cs = setup();
  cs.addrs[0] = addr;
  cs.max_requests = 2;
  pid_t pid = spawn(&cs);
  CHECK(served("127.0.0.1", port));
  CHECK(served("127.0.0.1", port));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
}

static void test_tcp6(void) {
  int port = free_port(AF_INET6);
  if (port == 0) {
    fprintf(stderr, "  skipped: no IPv6 loopback on this machine\n");
    return;
  }
  char addr[64];
  snprintf(addr, sizeof addr, "[::1]:%d", port);
  child_setup cs = setup();
  cs.addrs[0] = addr;
  cs.max_requests = 1;
  pid_t pid = spawn(&cs);
  CHECK(served("::1", port));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
}

/* A listening socket the application made itself, on a port the kernel
 * chose; fk_server_listen_fd refuses a socket that does not listen. */
static void test_listen_fd(void) {
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&in, len) == 0 &&
        listen(fd, 16) == 0 &&
        getsockname(fd, (struct sockaddr *)&in, &len) == 0);
  int port = ntohs(in.sin_port);

  fk_server *s;
  int pair[2];
  CHECK_EQ(fk_server_new(&s, NULL), FK_OK);
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  CHECK_EQ(fk_server_listen_fd(s, pair[0]), FK_E_INVAL);
  CHECK_EQ(fk_server_run(s), FK_E_LISTEN); /* nothing to listen on */
  fk_server_free(s);
  close(pair[0]);
  close(pair[1]);

  child_setup cs = setup();
  cs.fd = fd;
  cs.listen_fd = 1;
  cs.max_requests = 1;
  pid_t pid = spawn(&cs);
  CHECK(served("127.0.0.1", port));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
}

/* spawn-fcgi, mod_fcgid and lighttpd hand the socket over on fd 0. */
static void test_fd0(void) {
  child_setup cs = setup();
  cs.fd = unix_listener(path);
  cs.to_fd = 0;
  cs.listen_null = 1;
  cs.max_requests = 1;
  pid_t pid = spawn(&cs);
  CHECK(served(path, 0));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
  unlink(path);
}

static void test_systemd(void) {
  child_setup cs = setup();
  cs.fd = unix_listener(path);
  cs.to_fd = 3;
  cs.systemd = 1;
  cs.listen_null = 1;
  cs.max_requests = 1;
  pid_t pid = spawn(&cs);
  CHECK(served(path, 0));
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);
  unlink(path);
}

/* Spec 3.2: with FCGI_WEB_SERVER_ADDRS set, only the listed addresses are
 * served, and a connection that is not TCP/IP is refused. */
static void test_web_server_addrs(void) {
  int port = free_port(AF_INET);
  CHECK(port > 0);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

  child_setup cs = setup();
  cs.addrs[0] = addr;
  cs.addrs[1] = path;
  cs.web_server_addrs = "127.0.0.1";
  pid_t pid = spawn(&cs);
  CHECK(served("127.0.0.1", port));
  CHECK(refused(path, 0));
  CHECK(served("127.0.0.1", port));
  kill(pid, SIGTERM); /* a graceful stop, exit status 0 */
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);

  port = free_port(AF_INET);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  cs.web_server_addrs = "10.9.8.7";
  pid = spawn(&cs);
  CHECK(refused("127.0.0.1", port));
  CHECK(refused(path, 0));
  kill(pid, SIGTERM);
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_OK);

  /* A malformed list is an error of fk_server_listen, not a crash. */
  cs.web_server_addrs = "127.0.0.1,not-an-address";
  cs.addrs[1] = NULL;
  pid = spawn(&cs);
  CHECK_EQ(reap(pid, TS_WAIT), CHILD_LISTEN);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/app.sock", dir);
  RUN(test_unix_mode);
  RUN(test_tcp4);
  RUN(test_tcp6);
  RUN(test_listen_fd);
  RUN(test_fd0);
  RUN(test_systemd);
  RUN(test_web_server_addrs);
  unlink(path);
  CHECK_EQ(rmdir(dir), 0);
  TEST_EXIT();
}
