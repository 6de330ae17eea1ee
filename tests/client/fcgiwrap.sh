#!/usr/bin/env bash
# The client engine and the fcgikit command against fcgiwrap (Debian
# fcgiwrap), which runs a CGI script for each request: here
# tests/client/apps/cgi_echo.sh, named by -p SCRIPT_FILENAME=... .
# fcgiwrap -f (the script's stderr goes back as FCGI_STDERR) -c 2 on a Unix
# socket, and one more on 127.0.0.1:PORT. fcgiwrap is built on libfcgi:
#
#   ping: no answer to a lone FCGI_GET_VALUES: "ping -t 1" exits 5;
#   request: the shell script's output comes back: GET with a query
#     string, -H and -p (Unix socket and TCP); -i shows the script's own
#     header lines (Status: 200 OK, X-Echo-App); a 1 MB POST from a file
#     echoed byte for byte; the script's "Status: 404 Not Found" is
#     honoured: shown by -i, exit 1 with --fail, 0 without; its stderr
#     arrives on fcgikit's stderr; a SCRIPT_FILENAME that does not exist
#     gets fcgiwrap's own error answer, exit 1 with --fail;
#   bench -d 2 -c 1 (a fork and exec per request): answers, no error.
#
# fcgiwrap -c N (N > 1) leaves its N children running when the parent gets
# SIGTERM: they are tracked by pid as well, so that the cleanup stops them.
# (With -c 1 it serves in its own process.)

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
require_cmd fcgiwrap fcgiwrap

# The script, executable whatever the checkout did with its mode.
cp "$APPS/cgi_echo.sh" "$T/cgi_echo.sh"
chmod 755 "$T/cgi_echo.sh"
P=(-p "SCRIPT_FILENAME=$T/cgi_echo.sh" -p "TMPDIR=$T")

# track_children PID N: waits for N children of PID and tracks them.
track_children() {
  local pid=$1 n=$2 i kids
  for i in $(seq 100); do
    kids=$( (pgrep -P "$pid" || true) | wc -l)
    [ "$kids" -ge "$n" ] && break
    sleep 0.1
  done
  [ "$kids" -ge "$n" ] || fail "fcgiwrap $pid started $kids processes, not $n"
  for i in $(pgrep -P "$pid"); do
    track_pid "$i"
  done
}

start_bg fcgiwrap fcgiwrap -f -c 2 -s "unix:$T/app.sock"
APP=$STARTED_PID
wait_for_socket "$T/app.sock" "$APP"
track_children "$APP" 2
start_tcp fcgiwrap-tcp fcgiwrap -f -c 1 -s "tcp:127.0.0.1:@PORT@"
APP_TCP=$STARTED_PID
TCP=127.0.0.1:$PICKED_PORT

# --- ping ---------------------------------------------------------------------

fk ping ping -t 1 "$T/app.sock"
note "ping -t 1: exit $FK_RC after $FK_MS ms: $(cat "$T/ping.out" "$T/ping.log")"
expect_rc ping 5 "ping fcgiwrap (it never answers a lone FCGI_GET_VALUES)"
within 6000 "ping -t 1"
ok "ping: fcgiwrap leaves FCGI_GET_VALUES unanswered; exit 5 after $FK_MS ms"

# --- request ------------------------------------------------------------------

check_get "$T/app.sock" unix "${P[@]}"
expect_line "$T/get-unix.out.params" "SCRIPT_FILENAME=$T/cgi_echo.sh" "GET via fcgiwrap"
check_get "$TCP" tcp "${P[@]}"
check_include "$T/app.sock" unix fcgiwrap "${P[@]}"
expect_line "$T/inc-unix.out.headers" "Status: 200 OK" "-i via fcgiwrap"
check_post "$T/app.sock" unix "${P[@]}"
check_fail "$T/app.sock" unix '/x?status=404' "${P[@]}"

fk nf-inc request -i "${P[@]}" "$T/app.sock" '/x?status=404'
expect_rc nf-inc 0 "-i on the 404"
cgi_headers "$T/nf-inc.out" >"$T/nf-inc.headers"
expect_line "$T/nf-inc.headers" "Status: 404 Not Found" "-i on the script's 404"
ok "the script's Status: 404 Not Found is shown by -i and honoured by --fail"

check_stderr "$T/app.sock" unix '/x?stderr=1' "cgi_echo: a line for the error log" "${P[@]}"

fk noscript request --fail -p "SCRIPT_FILENAME=$T/no-such-script" "$T/app.sock" /x
note "SCRIPT_FILENAME that does not exist: exit $FK_RC: $(head -c 200 "$T/noscript.log")"
expect_rc noscript 1 "fcgiwrap with a SCRIPT_FILENAME that does not exist, with --fail"
ok "fcgiwrap with a SCRIPT_FILENAME that does not exist: an HTTP error, exit 1 with --fail"

# --- bench --------------------------------------------------------------------

check_bench "$T/app.sock" unix 1 "${P[@]}"

still_running fcgiwrap "$APP" "$APP_TCP"
check_get "$T/app.sock" after "${P[@]}"
no_sanitizer_reports
