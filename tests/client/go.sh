#!/usr/bin/env bash
# The client engine and the fcgikit command against Go's net/http/fcgi
# (Debian golang-go): tests/client/apps/go_echo.go, built here with the
# standard library only (GOPATH mode, offline), on a Unix socket and on
# 127.0.0.1:PORT.
#
#   ping: Go answers FCGI_GET_VALUES with FCGI_MPXS_CONNS=1 alone (plus a
#     stray empty GET_VALUES_RESULT record that the client must skip):
#     exit 0, that one line; --json gives the same as one object;
#   request: GET with a query string, -H and -p (Unix socket and TCP); -i;
#     a 1 MB POST from a file echoed byte for byte; 404 with and without
#     --fail. (net/http/fcgi has no way to write FCGI_STDERR.)
#   bench -d 2 -c 2: answers, no error;
#   multiplexing: bench -m 8 -c 2 on the echo: no error, none unanswered;
#     and on /slow (20 ms each), after which the application says how many
#     requests it ran at once: more than 2 means the requests really were
#     in flight together on the 2 connections.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
require_cmd go golang-go

# Offline, standard library only, every cache in $T.
mkdir -p "$T/go"
HOME=$T/go GOPATH=$T/go/path GOCACHE=$T/go/cache GO111MODULE=off GOFLAGS='' \
  GOTOOLCHAIN=local \
  go build -o "$T/go_echo" "$APPS/go_echo.go" >"$T/go-build.log" 2>&1 ||
  fail "cannot build go_echo.go: $(head -c 500 "$T/go-build.log")"

start_bg go_echo "$T/go_echo" "$T/app.sock"
APP=$STARTED_PID
wait_for_socket "$T/app.sock" "$APP"
start_tcp go_echo-tcp "$T/go_echo" "127.0.0.1:@PORT@"
APP_TCP=$STARTED_PID
TCP=127.0.0.1:$PICKED_PORT

# --- ping ---------------------------------------------------------------------

fk ping ping "$T/app.sock"
note "ping: exit $FK_RC: $(cat "$T/ping.out")"
expect_rc ping 0 "ping Go"
printf 'FCGI_MPXS_CONNS=1\n' >"$T/ping.expected"
same_bytes "$T/ping.expected" "$T/ping.out" "ping Go: what it advertises"
fk pingj ping --json "$T/app.sock"
expect_rc pingj 0 "ping --json Go"
json_load "$T/pingj.out"
j_equals answered true "ping --json Go"
j_equals FCGI_MPXS_CONNS 1 "ping --json Go"
fk pingt ping "$TCP"
expect_rc pingt 0 "ping Go over TCP"
same_bytes "$T/ping.expected" "$T/pingt.out" "ping Go over TCP"
ok "ping: Go advertises FCGI_MPXS_CONNS=1 and nothing else"

# --- request ------------------------------------------------------------------

check_get "$T/app.sock" unix
check_get "$TCP" tcp
check_include "$T/app.sock" unix go
check_post "$T/app.sock" unix
check_post "$TCP" tcp
check_fail "$T/app.sock" unix /missing

# --- bench and multiplexing ---------------------------------------------------

check_bench "$T/app.sock" unix 2
check_bench "$T/app.sock" unix-m8 2 -m 8

fk slow bench -d 2 -c 2 -m 8 --json "$T/app.sock" /slow
expect_rc slow 0 "bench -m 8 /slow ($(cat "$T/slow.out"))"
json_load "$T/slow.out"
j_equals errors 0 "bench -m 8 /slow"
j_equals unanswered 0 "bench -m 8 /slow"
j_positive requests "bench -m 8 /slow"
fk stats request "$T/app.sock" /stats
expect_rc stats 0 "/stats"
most=$(sed -n 's/^max_in_flight=//p' "$T/stats.out")
[ -n "$most" ] || fail "/stats: no max_in_flight line: $(cat "$T/stats.out")"
[ "$most" -gt 2 ] ||
  fail "bench -c 2 -m 8: Go never ran more than $most requests at once: they were not multiplexed"
ok "bench -c 2 -m 8: Go ran up to $most requests at once on 2 connections, no error ($(jget requests) answered)"

still_running go_echo "$APP" "$APP_TCP"
check_get "$T/app.sock" after
no_sanitizer_reports
