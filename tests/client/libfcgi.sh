#!/usr/bin/env bash
# The client engine and the fcgikit command against a program built on
# libfcgi (Debian libfcgi-dev), the FastCGI reference kit:
# tests/client/apps/libfcgi_echo.c, compiled here, two threads running
# FCGX_Accept_r loops on a Unix socket, and one thread on 127.0.0.1:PORT.
#
#   ping: libfcgi never answers a lone FCGI_GET_VALUES (it waits for more
#     bytes), so "ping -t 1" must give up: exit 5 (timeout), quickly;
#   request: GET with a query string, -H and -p (Unix socket and TCP);
#     -i; a 1 MB POST from a file echoed byte for byte; 404 with and
#     without --fail (exit 1 / 0); the FCGI_STDERR line on stderr; an
#     application status of 3: exit 0, and 8 with --fail;
#   bench -d 2 -c 2 (one connection per thread): answers, no error;
#   bench -c 4 against the two threads: libfcgi keeps serving the first two
#     kept-alive connections and never accepts the others, whose requests
#     must come out as unanswered (exactly 2), not vanish; exit 1;
#   bench -m 4 (requests sent back to back on one connection): libfcgi
#     answers the first, and the ones it had already read into its buffer
#     are dropped without a word when that request ends (no END_REQUEST,
#     no FCGI_CANT_MPX_CONN, the connection stays open); the run must end
#     anyway, exit 1, the lost requests counted as unanswered, while the
#     connections go on serving one request at a time.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
require_cmd cc build-essential
if ! [ -r /usr/include/fcgiapp.h ]; then
  [ "${CI:-}" = "true" ] && fail "/usr/include/fcgiapp.h is missing (Debian package libfcgi-dev)"
  skip "/usr/include/fcgiapp.h is missing (apt-get install libfcgi-dev)"
fi

cc -Wall -Wextra -O2 -o "$T/libfcgi_echo" "$APPS/libfcgi_echo.c" -lfcgi -lpthread \
  >"$T/cc.log" 2>&1 || fail "cannot build libfcgi_echo.c: $(head -c 500 "$T/cc.log")"

start_bg libfcgi "$T/libfcgi_echo" "$T/app.sock" 2
APP=$STARTED_PID
wait_for_socket "$T/app.sock" "$APP"
start_tcp libfcgi-tcp "$T/libfcgi_echo" "127.0.0.1:@PORT@" 1
APP_TCP=$STARTED_PID
TCP=127.0.0.1:$PICKED_PORT

# --- ping ---------------------------------------------------------------------

fk ping ping -t 1 "$T/app.sock"
note "ping -t 1: exit $FK_RC after $FK_MS ms: $(cat "$T/ping.out" "$T/ping.log")"
expect_rc ping 5 "ping libfcgi (it never answers a lone FCGI_GET_VALUES)"
within 6000 "ping -t 1"
grep -q 'timed out' "$T/ping.log" || fail "ping: no 'timed out' on stderr: $(cat "$T/ping.log")"
[ -s "$T/ping.out" ] && fail "ping printed values libfcgi never sent: $(cat "$T/ping.out")"
ok "ping: libfcgi leaves FCGI_GET_VALUES unanswered; exit 5 after $FK_MS ms"

# --- request ------------------------------------------------------------------

check_get "$T/app.sock" unix
check_get "$TCP" tcp
check_include "$T/app.sock" unix libfcgi
check_post "$T/app.sock" unix
check_post "$TCP" tcp
check_fail "$T/app.sock" unix /missing
check_stderr "$T/app.sock" unix /stderr "libfcgi_echo: a line for the error log"

fk exit3 request "$T/app.sock" /exit3
expect_rc exit3 0 "application status 3 without --fail"
fk exit3f request --fail "$T/app.sock" /exit3
expect_rc exit3f 8 "application status 3 with --fail"
grep -q 'exit status 3' "$T/exit3f.log" ||
  fail "--fail: no 'exit status 3' on stderr: $(cat "$T/exit3f.log")"
ok "application status 3: exit 0, and 8 with --fail"

# --- bench --------------------------------------------------------------------

check_bench "$T/app.sock" unix 2

# Four connections, two threads: two connections starve.
fk starve bench -d 2 --grace 1 -c 4 --json "$T/app.sock" /bench
note "bench -c 4 against 2 libfcgi threads: $(cat "$T/starve.out")"
expect_rc starve 1 "bench -c 4 against 2 threads"
within 15000 "bench -c 4 against 2 threads"
json_load "$T/starve.out"
j_equals unanswered 2 "bench -c 4 against 2 threads (2 connections never accepted)"
j_equals errors 0 "bench -c 4 against 2 threads"
j_positive requests "bench -c 4 against 2 threads"
ok "bench -c 4 against 2 libfcgi threads: the 2 starved connections' requests are reported unanswered"

# Multiplexing: bench asks FCGI_GET_VALUES first; libfcgi never answers a
# lone one, so bench sends one request at a time and loses none.
check_bench "$T/app.sock" unix-m4 2 -m 4
grep -q 'instead of 4: it did not answer FCGI_GET_VALUES' "$T/bench-unix-m4.log" ||
  fail "bench -m 4: no note that libfcgi did not answer FCGI_GET_VALUES"
# Forced (--no-get-values): 4 requests in flight on each of 2 connections.
check_bench_lost "$T/app.sock" "unix-m4" 2 4 6 --no-get-values
ok "bench -m 4 --no-get-values: libfcgi drops the requests queued behind the first; reported unanswered, nothing hangs"

# The application still serves after all that.
still_running libfcgi_echo "$APP" "$APP_TCP"
check_get "$T/app.sock" after
no_sanitizer_reports
