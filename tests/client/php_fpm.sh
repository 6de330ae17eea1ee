#!/usr/bin/env bash
# The client engine and the fcgikit command against php-fpm (Debian
# php8.2-fpm) running tests/client/apps/php_echo.php: one private master in
# the foreground, a static pool of 2 children on a Unix socket and one of 1
# child on 127.0.0.1:PORT. Every request names the script with
# -p SCRIPT_FILENAME=..., which php-fpm needs.
#
#   ping: php-fpm answers FCGI_GET_VALUES with FCGI_MPXS_CONNS=0 alone:
#     exit 0, that one line (Unix socket and TCP);
#   request: GET with a query string, -H and -p (Unix socket and TCP); -i;
#     a 1 MB POST from a file echoed byte for byte (application/octet-
#     stream: PHP would parse a form); 404 with and without --fail; a line
#     of error_log() arriving on FCGI_STDERR and so on fcgikit's stderr;
#   bench -d 2 -c 2: answers, no error;
#   bench -c 2 -m 4: bench sends each connection's requests whole, one
#     after the other (never interleaving their records); php-fpm reads
#     them off the socket record by record and serves them in turn, so
#     this works: no error, none unanswered. (Records of two requests
#     interleaved on one connection make php-fpm drop the connection, but
#     the fcgikit command never sends that.)

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"

FPM=""
for candidate in php-fpm8.2 php-fpm; do
  command -v "$candidate" >/dev/null 2>&1 && FPM=$candidate && break
done
[ -n "$FPM" ] || require_cmd php-fpm8.2 php8.2-fpm

SCRIPT=$APPS/php_echo.php
[ -r "$SCRIPT" ] || fail "$SCRIPT is missing"

# start_fpm TCP_PORT: writes the config and starts the master.
start_fpm() {
  mkdir -p "$T/fpm"
  cat >"$T/fpm/php-fpm.conf" <<EOF
[global]
daemonize = no
pid = $T/fpm/php-fpm.pid
error_log = $T/php-fpm.log

[unix]
listen = $T/app.sock
listen.mode = 0666
pm = static
pm.max_children = 2

[tcp]
listen = 127.0.0.1:$1
pm = static
pm.max_children = 1
EOF
  # -F: in the foreground; -n: no php.ini, so the machine's settings do
  # not matter.
  local args=(-F -y "$T/fpm/php-fpm.conf" -n)
  # As root php-fpm refuses to run its children as root without -R.
  [ "$(id -u)" = 0 ] && args+=(-R)
  "$FPM" -t "${args[@]}" >"$T/fpm-t.log" 2>&1 ||
    fail "php-fpm rejects the test config: $(cat "$T/fpm-t.log")"
  start_bg php-fpm-out "$FPM" "${args[@]}"
}

for attempt in 1 2 3 4 5; do
  pick_port
  start_fpm "$PICKED_PORT"
  FPM_PID=$STARTED_PID
  wait_for_port "$PICKED_PORT" "$FPM_PID" && break
  stop_pid "$FPM_PID" || true
  FPM_PID=""
  note "php-fpm could not listen on port $PICKED_PORT; trying another"
done
[ -n "$FPM_PID" ] || fail "php-fpm did not start"
wait_for_socket "$T/app.sock" "$FPM_PID"
TCP=127.0.0.1:$PICKED_PORT
P=(-p "SCRIPT_FILENAME=$SCRIPT")

# --- ping ---------------------------------------------------------------------

printf 'FCGI_MPXS_CONNS=0\n' >"$T/ping.expected"
fk ping ping "$T/app.sock"
note "ping: exit $FK_RC: $(cat "$T/ping.out")"
expect_rc ping 0 "ping php-fpm"
same_bytes "$T/ping.expected" "$T/ping.out" "ping php-fpm: what it advertises"
fk pingt ping "$TCP"
expect_rc pingt 0 "ping php-fpm over TCP"
same_bytes "$T/ping.expected" "$T/pingt.out" "ping php-fpm over TCP"
ok "ping: php-fpm advertises FCGI_MPXS_CONNS=0 and nothing else"

# --- request ------------------------------------------------------------------

check_get "$T/app.sock" unix "${P[@]}"
check_get "$TCP" tcp "${P[@]}"
check_include "$T/app.sock" unix php-fpm "${P[@]}"
check_post "$T/app.sock" unix "${P[@]}"
check_post "$TCP" tcp "${P[@]}"
check_fail "$T/app.sock" unix /missing "${P[@]}"
check_stderr "$T/app.sock" unix /stderr "php_echo: a line for the error log" "${P[@]}"

# Without SCRIPT_FILENAME php-fpm has nothing to run: it says so.
fk noscript request --fail "$T/app.sock" /get
expect_rc noscript 1 "php-fpm without SCRIPT_FILENAME, with --fail"
grep -q 'Primary script unknown' "$T/noscript.log" ||
  fail "php-fpm without SCRIPT_FILENAME: its 'Primary script unknown' (FCGI_STDERR) is not on stderr: $(cat "$T/noscript.log")"
ok "php-fpm without SCRIPT_FILENAME: 'Primary script unknown' on stderr, 404, exit 1 with --fail"

# --- bench --------------------------------------------------------------------

check_bench "$T/app.sock" unix 2 "${P[@]}"
check_bench "$T/app.sock" unix-m4 2 -m 4 "${P[@]}"
note "bench -c 2 -m 4: $(cat "$T/bench-unix-m4.out")"

still_running php-fpm "$FPM_PID"
check_get "$T/app.sock" after "${P[@]}"
no_sanitizer_reports
