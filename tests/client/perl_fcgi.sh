#!/usr/bin/env bash
# The client engine and the fcgikit command against Perl's FCGI module
# (Debian libfcgi-perl): tests/client/apps/perl_echo.pl, one process on a
# Unix socket and one on 127.0.0.1:PORT. FCGI.pm carries its own copy of
# libfcgi's protocol code, and behaves like it:
#
#   ping: no answer to a lone FCGI_GET_VALUES: "ping -t 1" exits 5;
#   request: GET with a query string, -H and -p (Unix socket and TCP); -i;
#     a 1 MB POST from a file echoed byte for byte; 404 with and without
#     --fail; a line printed on STDERR during a request arrives on
#     FCGI_STDERR and so on fcgikit's stderr;
#   bench -d 2 -c 1: answers, no error;
#   bench -c 1 -m 4: the requests queued behind the first are dropped
#     without a word, as by libfcgi; the run ends anyway, exit 1, the lost
#     ones counted as unanswered.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
require_cmd perl perl
if ! perl -MFCGI -e 1 >/dev/null 2>&1; then
  [ "${CI:-}" = "true" ] && fail "Perl's FCGI module is missing (Debian package libfcgi-perl)"
  skip "Perl's FCGI module is missing (apt-get install libfcgi-perl)"
fi

start_bg perl_echo perl "$APPS/perl_echo.pl" "$T/app.sock"
APP=$STARTED_PID
wait_for_socket "$T/app.sock" "$APP"
start_tcp perl_echo-tcp perl "$APPS/perl_echo.pl" "127.0.0.1:@PORT@"
APP_TCP=$STARTED_PID
TCP=127.0.0.1:$PICKED_PORT

# --- ping ---------------------------------------------------------------------

fk ping ping -t 1 "$T/app.sock"
note "ping -t 1: exit $FK_RC after $FK_MS ms: $(cat "$T/ping.out" "$T/ping.log")"
expect_rc ping 5 "ping Perl FCGI (it never answers a lone FCGI_GET_VALUES)"
within 6000 "ping -t 1"
[ -s "$T/ping.out" ] && fail "ping printed values Perl FCGI never sent: $(cat "$T/ping.out")"
ok "ping: Perl FCGI leaves FCGI_GET_VALUES unanswered; exit 5 after $FK_MS ms"

# --- request ------------------------------------------------------------------

check_get "$T/app.sock" unix
check_get "$TCP" tcp
check_include "$T/app.sock" unix perl
check_post "$T/app.sock" unix
check_post "$TCP" tcp
check_fail "$T/app.sock" unix /missing
check_stderr "$T/app.sock" unix /stderr "perl_echo: a line for the error log"

# --- bench --------------------------------------------------------------------

check_bench "$T/app.sock" unix 1
check_bench "$T/app.sock" unix-m4 1 -m 4
check_bench_lost "$T/app.sock" unix-m4 1 4 3 --no-get-values
ok "bench -m 4 --no-get-values: Perl FCGI drops the requests queued behind the first; reported unanswered, nothing hangs"

still_running perl_echo "$APP" "$APP_TCP"
check_get "$T/app.sock" after
no_sanitizer_reports
