#!/usr/bin/env bash
# Interop: h2o (Debian h2o) in front of examples/echo.
#
#   (a) fastcgi.connect to a Unix socket: a GET with a query string arrives
#       with QUERY_STRING, REQUEST_METHOD=GET and no body; the params h2o
#       sends are recorded (no SCRIPT_FILENAME, an empty SCRIPT_NAME,
#       PATH_INFO the whole path, no CONTENT_LENGTH on a GET);
#   (b) a 10 MB POST of random bytes comes back byte for byte; sent chunked,
#       it arrives with CONTENT_LENGTH set (h2o reads the whole body first);
#   (c) the same over fastcgi.connect to 127.0.0.1:PORT;
#   (d) HTTP keep-alive: one curl with several URLs uses one connection;
#   (e) FastCGI connection reuse with fastcgi.timeout.keepalive, over a Unix
#       socket and TCP: eight GETs, then four POSTs, all come on at most 4
#       connections (X-Fcgikit-Conn repeats), and the POSTs reuse a
#       connection of the GETs. The same count without keepalive shows eight
#       different connections, so the check does tell the two apart;
#   (f) fastcgi.spawn: h2o starts echo itself with the listening socket on
#       fd 0 (its socket in a directory of h2o's under /tmp), with keepalive:
#       (a), (b) and (e) against it; when h2o stops, the echo it spawned
#       stops too and the directory is removed;
#   (g) the echo behind /ka-unix restarted while h2o keeps an idle
#       connection to it: it exits 0 on SIGTERM (the idle connection does
#       not hold it up past stop_pid's 10 s), and the requests after the
#       restart succeed
#       (h2o notices the closed pooled connection and opens a new one).
#
# h2o runs privately: its own config, pid file and logs under $T, on a
# loopback port, in the foreground, stopped by pid. Its error log must end
# up holding nothing but its start and stop lines, and the warning (g) may
# cause.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd h2o h2o
require_cmd perl perl-base # h2o runs fastcgi.spawn through a perl script
require_cmd curl curl
require_cmd ss iproute2

EX=$FK_BUILD/examples
# Bodies past 1 MiB go to unlinked files in TMPDIR: a private one, so that
# the test can check none stays open once the requests are over.
export TMPDIR="$T/spill"
mkdir -p "$TMPDIR"

# --- The applications ------------------------------------------------------------

# One echo per location, so that the connection serial numbers counted in
# (e) belong to that location alone.
ECHOS=()
start_example echo "$T/echo.sock"
ECHOS+=("$STARTED_PID")
wait_for_socket "$T/echo.sock" "$STARTED_PID"
start_example_tcp echo
ECHOS+=("$STARTED_PID")
APP_PORT=$PICKED_PORT
start_example echo "$T/ka.sock"
ECHOS+=("$STARTED_PID")
wait_for_socket "$T/ka.sock" "$STARTED_PID"
start_example_tcp echo
ECHOS+=("$STARTED_PID")
KA_PORT=$PICKED_PORT

# fastcgi.spawn runs its command with /bin/sh -c under h2o's kill-on-close
# script; this wrapper records the pid (then exec keeps it) so that the test
# can check on the process and stop it should h2o fail to.
cat >"$T/spawn-echo" <<EOF
#!/bin/sh
echo \$\$ >>"$T/spawned.pids"
exec "$EX/echo" 2>>"$T/echo-spawned.log"
EOF
chmod +x "$T/spawn-echo"

# --- h2o -------------------------------------------------------------------------

write_conf() {
  local http_port=$1 user=""
  # As root h2o would switch to nobody, which cannot connect to the
  # root-owned 0755 sockets the examples create.
  [ "$(id -u)" = 0 ] && user="user: root"
  cat >"$T/h2o.conf" <<EOF
$user
pid-file: $T/h2o.pid
error-log: $T/h2o-error.log
access-log: $T/h2o-access.log
listen:
  host: 127.0.0.1
  port: $http_port
hosts:
  default:
    paths:
      /unix:
        fastcgi.connect:
          type: unix
          port: $T/echo.sock
      /tcp:
        fastcgi.connect:
          type: tcp
          host: 127.0.0.1
          port: $APP_PORT
      /ka-unix:
        fastcgi.connect:
          type: unix
          port: $T/ka.sock
        fastcgi.timeout.keepalive: 60000
      /ka-tcp:
        fastcgi.connect:
          type: tcp
          host: 127.0.0.1
          port: $KA_PORT
        fastcgi.timeout.keepalive: 60000
      /spawn:
        fastcgi.spawn: "exec $T/spawn-echo"
        fastcgi.timeout.keepalive: 60000
EOF
}

# track_spawned: tracks the pids the spawn wrapper recorded.
track_spawned() {
  local pid
  [ -s "$T/spawned.pids" ] || return 0
  while read -r pid; do
    track_pid "$pid"
  done <"$T/spawned.pids"
}

start_h2o() {
  local _
  for _ in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    h2o -t -c "$T/h2o.conf" >"$T/h2o-check.out" 2>&1 ||
      fail "h2o rejects the test config: $(tail -n 3 "$T/h2o-check.out")"
    : >"$T/spawned.pids"
    start_bg h2o h2o -c "$T/h2o.conf"
    H2O_PID=$STARTED_PID
    if wait_for_port "$HTTP_PORT" "$H2O_PID" 60; then
      return 0
    fi
    stop_pid "$H2O_PID" || true
    track_spawned
    note "h2o could not listen on port $HTTP_PORT; trying another"
  done
  fail "h2o did not start"
}
start_h2o
BASE="http://127.0.0.1:$HTTP_PORT"

# The spawned echo: one process, serving on the socket it got on fd 0.
for i in $(seq 300); do
  [ -s "$T/spawned.pids" ] && [ "$(readlink "/proc/$(head -n1 "$T/spawned.pids")/exe" 2>/dev/null)" = "$(readlink -f "$EX/echo")" ] && break
  sleep 0.1
done
track_spawned
[ "$(grep -c . "$T/spawned.pids")" = 1 ] ||
  fail "fastcgi.spawn started $(grep -c . "$T/spawned.pids") processes, not 1"
SPAWNED=$(head -n1 "$T/spawned.pids")
alive "$SPAWNED" || fail "the echo h2o spawned (pid $SPAWNED) is not running"
case $(readlink "/proc/$SPAWNED/fd/0") in
  socket:*) ;;
  *) fail "fd 0 of the echo h2o spawned is $(readlink "/proc/$SPAWNED/fd/0"), not a socket" ;;
esac
# Where h2o put the socket (to check that it is removed at the end).
SPAWN_SOCK=$(awk -v ino="$(readlink "/proc/$SPAWNED/fd/0" | tr -dc 0-9)" \
  '$0 ~ "^[0-9a-f]+:" && $7 == ino {print $8}' /proc/net/unix)
[ -n "$SPAWN_SOCK" ] || fail "cannot find the path of the socket h2o gave the echo it spawned"
SPAWN_DIR=$(dirname "$SPAWN_SOCK")
case $SPAWN_DIR in
  */h2o.fcgisock.*) ;;
  *) fail "h2o gave the spawned echo the socket $SPAWN_SOCK, not one in a directory of its own (h2o.fcgisock.*)" ;;
esac
note "fastcgi.spawn: echo runs as pid $SPAWNED, listening on $SPAWN_SOCK (fd 0)"

# --- Checks ----------------------------------------------------------------------

# get URL OUT: a GET that must answer 200 with Content-Type: text/plain.
get() {
  local code
  code=$(curl -sS --max-time 60 -D "$2.headers" -o "$2" -w '%{http_code}' "$1") ||
    fail "curl $1 failed"
  [ "$code" = 200 ] || fail "GET $1 answered $code, not 200"
  tr -d '\r' <"$2.headers" | grep -qix 'content-type: text/plain' ||
    fail "GET $1: no Content-Type: text/plain in the response headers"
}

# check_get PREFIX: case (a) against the location PREFIX.
check_get() {
  local prefix=$1 out="$T/get-${1//\//}"
  get "$BASE$prefix/get.fcgi/extra?x=1&y=a%20b" "$out"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET via $prefix"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "REQUEST_URI=$prefix/get.fcgi/extra?x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "SERVER_PROTOCOL=HTTP/1.1" "GET via $prefix"
  expect_line "$out.params" "HTTP_HOST=127.0.0.1:$HTTP_PORT" "GET via $prefix"
  # What h2o sends, as docs/interop.md says: the whole path as PATH_INFO, an
  # empty SCRIPT_NAME, and neither SCRIPT_FILENAME nor CONTENT_LENGTH.
  expect_line "$out.params" "PATH_INFO=$prefix/get.fcgi/extra" "GET via $prefix"
  expect_line "$out.params" "SCRIPT_NAME=" "GET via $prefix"
  grep -a -q -E '^(SCRIPT_FILENAME|CONTENT_LENGTH|CONTENT_TYPE)=' "$out.params" &&
    fail "GET via $prefix: h2o now sends $(grep -a -E '^(SCRIPT_FILENAME|CONTENT_LENGTH|CONTENT_TYPE)=' "$out.params" | tr '\n' ' '); update docs/interop.md"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET via $prefix: the echo shows a body of $(wc -c <"$out.body") bytes"
  ok "GET with a query string via $prefix"
}

# round NAME PREFIX N [CURL-ARG...]: keepalive_round (tests/lib.sh) on the
# echo behind PREFIX; the X-Fcgikit-Conn of each answer goes to
# $T/NAME.ids, one a line.
round() {
  local name=$1 prefix=$2 n=$3
  shift 3
  keepalive_round "$name" "$BASE$prefix/ka.fcgi" "$n" "$@"
  awk '{print $3}' "$T/$name.codes" >"$T/$name.ids"
}

# distinct FILE: how many different connection numbers FILE holds.
distinct() { sort -u "$1" | grep -c .; }

# check_reuse PREFIX: case (e) against a location with keepalive.
check_reuse() {
  local prefix=$1 name=${1//[^a-z]/} n both
  round "$name-get" "$prefix" 8
  n=$(distinct "$T/$name-get.ids")
  [ "$n" -le 4 ] ||
    fail "via $prefix 8 GETs came on $n FastCGI connections ($(tr '\n' ' ' <"$T/$name-get.ids")), not 1 to 4: h2o did not keep them"
  head -c 300000 "$T/big.bin" >"$T/ka-body"
  round "$name-post" "$prefix" 4 --data-binary "@$T/ka-body"
  for i in 1 2 3 4; do
    echo_body "$T/$name-post.$i" >"$T/$name-post.$i.body"
    same_bytes "$T/ka-body" "$T/$name-post.$i.body" "keep-alive POST $i via $prefix"
  done
  both=$(comm -12 <(sort -u "$T/$name-get.ids") <(sort -u "$T/$name-post.ids") | grep -c . || true)
  [ "$both" -ge 1 ] ||
    fail "via $prefix the POSTs came on connections $(sort -u "$T/$name-post.ids" | tr '\n' ' ')and the GETs on $(sort -u "$T/$name-get.ids" | tr '\n' ' ')): none reused"
  n=$(cat "$T/$name-get.ids" "$T/$name-post.ids" | sort -u | grep -c .)
  ok "FastCGI keep-alive via $prefix: 12 requests on $n connection(s), reused across GETs and POSTs"
}

# check_no_reuse PREFIX: the control for (e), a location without keepalive.
check_no_reuse() {
  local prefix=$1 name=${1//[^a-z]/} n
  round "$name-get" "$prefix" 8
  n=$(distinct "$T/$name-get.ids")
  [ "$n" = 8 ] ||
    fail "via $prefix (no keepalive) 8 GETs came on $n FastCGI connections, not 8: the reuse check would not tell keep-alive from none"
  ok "HTTP keep-alive via $prefix (8 requests, one curl connection); without fastcgi.timeout.keepalive each came on a new FastCGI connection"
}

# check_restart: case (g), on the echo behind /ka-unix (ECHOS[2]).
check_restart() {
  local old=${ECHOS[2]} rc=0 n
  n=$(ss -Hxn state established src "$T/ka.sock" | grep -c . || true)
  [ "$n" -ge 1 ] ||
    fail "restart: h2o holds no idle connection to the echo behind /ka-unix, nothing to test"
  stop_pid "$old" || rc=$?
  [ "$rc" = 0 ] ||
    fail "restart: the echo behind /ka-unix exited $rc on SIGTERM with h2o's idle connection open, not 0"
  start_example echo "$T/ka.sock"
  ECHOS[2]=$STARTED_PID
  wait_for_socket "$T/ka.sock" "$STARTED_PID"
  round restart /ka-unix 4
  ok "the echo behind /ka-unix stopped cleanly with $n idle h2o connection(s) open; after its restart h2o's requests succeed"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
SIZE=$(wc -c <"$T/big.bin")

check_get /unix
note "params h2o sent for a GET (Unix socket):"
sed 's/^/    /' "$T/get-unix.params"
check_post_echo /unix "$SIZE"
check_post_echo /unix "$SIZE" -H 'Transfer-Encoding: chunked'
check_get /tcp
check_post_echo /tcp "$SIZE"
check_no_reuse /unix
check_no_reuse /tcp
check_reuse /ka-unix
check_reuse /ka-tcp
check_restart
check_get /spawn
check_post_echo /spawn "$SIZE"
check_reuse /spawn

# --- Clean stop ------------------------------------------------------------------

for pid in "$H2O_PID" "$SPAWNED" "${ECHOS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
for pid in "$SPAWNED" "${ECHOS[@]}"; do
  n=$(find "/proc/$pid/fd" -mindepth 1 -printf '%l\n' 2>/dev/null | grep -c '(deleted)$' || true)
  [ "$n" = 0 ] || fail "echo (pid $pid) still holds $n deleted (body) file(s) after all its requests"
done
rc=0
stop_pid "$H2O_PID" || rc=$?
[ "$rc" = 0 ] || note "h2o exited $rc on SIGTERM"
# The echos stop meanwhile (each is waited for, by pid, below).
for pid in "${ECHOS[@]}"; do
  kill -TERM "$pid"
done
# kill-on-close sends SIGTERM to the spawned echo once h2o is gone, waits for
# it, then removes the socket's directory.
for i in $(seq 150); do
  alive "$SPAWNED" || break
  sleep 0.1
done
alive "$SPAWNED" && fail "the echo h2o spawned (pid $SPAWNED) still runs 15 s after h2o stopped"
for i in $(seq 150); do
  [ -e "$SPAWN_DIR" ] || break
  sleep 0.1
done
[ -e "$SPAWN_DIR" ] && fail "h2o left its spawn socket directory $SPAWN_DIR behind"
stop_pid "$SPAWNED" || true
for pid in "${ECHOS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "echo (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
if grep -v -E '^h2o server \(pid:[0-9]+\) is ready to serve requests$|^received SIGTERM, gracefully shutting down$|^\[INFO\] raised RLIMIT_NOFILE|^\[WARN\] detected close by upstream before the expected timeout' \
     "$T/h2o-error.log" >"$T/h2o-errors"; then
  fail "h2o logged: $(head -n 5 "$T/h2o-errors")"
fi
ok "h2o logged nothing unexpected; the spawned echo stopped with h2o and its socket directory is gone"
