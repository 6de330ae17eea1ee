#!/usr/bin/env bash
# Interop: lighttpd (Debian lighttpd) mod_fastcgi in front of the examples.
#
#   (a) "socket" to a running echo (Unix socket), "host"/"port" to another
#       (TCP), and "bin-path": lighttpd starts echo itself with the
#       listening socket on fd 0. Through each: a GET with a query string
#       and a custom header arrives with QUERY_STRING, REQUEST_METHOD=GET,
#       the HTTP_* mapping and an empty body; a path below the prefix is
#       split into SCRIPT_NAME and PATH_INFO; a 10 MB POST of random bytes
#       comes back byte for byte;
#   (b) HTTP keep-alive: one curl with several URLs keeps its connection to
#       lighttpd, every answer is right, and since lighttpd never sets
#       FCGI_KEEP_CONN each request came on a FastCGI connection of its own
#       (X-Fcgikit-Conn differs every time, X-Fcgikit-Inflight is 1), and
#       none stays open afterwards;
#   (c) a client that goes away mid-body never reaches the application:
#       lighttpd reads the whole body before it connects;
#   (d) "bin-path": the process lighttpd spawned is examples/echo, its
#       child, with a socket on fd 0; it is stopped with lighttpd;
#   (e) "mode" => "authorizer": examples/authorizer in front of a static
#       file (with "docroot") and in front of echo (an authorizer entry and
#       a responder entry for the same prefix): no credentials give the
#       authorizer's 401 with its WWW-Authenticate, wrong ones its 403,
#       both unchanged and without reaching echo; the right ones give the
#       file, or echo's answer with AUTH_USER=fcgikit and AUTH_METHOD=basic
#       among the params (the authorizer's Variable- headers).
#
# lighttpd runs privately: its own config, pid file, logs and upload
# directory under $T, on a loopback port, in the foreground, stopped by pid.
# Its error log may hold only its start and stop lines.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd lighttpd lighttpd
require_cmd curl curl
require_cmd ss iproute2

EX=$FK_BUILD/examples

# --- The applications ----------------------------------------------------------

start_example echo "$T/echo.sock"
wait_for_socket "$T/echo.sock" "$STARTED_PID"
start_example_tcp echo
APP_PORT=$PICKED_PORT
start_example authorizer "$T/auth.sock"
wait_for_socket "$T/auth.sock" "$STARTED_PID"
# The responder behind the authorizer: its own process, so that its
# connection count shows whether a denied request reached it.
start_example echo "$T/guarded.sock"
wait_for_socket "$T/guarded.sock" "$STARTED_PID"

mkdir -p "$T/www" "$T/authroot/static" "$T/uploads"
head -c 3000 /dev/urandom | base64 >"$T/authroot/static/secret.txt"

# --- lighttpd --------------------------------------------------------------------

# (No $(...) inside the here-document: bash parses those when it expands
# the document, and a signal trap that runs meanwhile fails to parse.)
write_conf() {
  cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $1
server.pid-file = "$T/lighttpd.pid"
server.errorlog = "$T/lighttpd-error.log"
# lighttpd writes request bodies to temporary files there before passing
# them on (the default is /var/tmp).
server.upload-dirs = ( "$T/uploads" )
server.modules = ( "mod_fastcgi" )
mimetype.assign = ( ".txt" => "text/plain" )

fastcgi.server = (
    "/unix/" => ((
        "socket" => "$T/echo.sock",
        "check-local" => "disable",
    )),
    "/tcp/" => ((
        "host" => "127.0.0.1",
        "port" => $APP_PORT,
        "check-local" => "disable",
    )),
    "/spawn/" => ((
        "socket" => "$T/spawn.sock",
        "bin-path" => "$EX/echo",
        "max-procs" => 1,
        "check-local" => "disable",
    )),
    # Authorizer, then lighttpd serves the file from "docroot".
    "/static/" => ((
        "socket" => "$T/auth.sock",
        "mode" => "authorizer",
        "docroot" => "$T/authroot",
        "check-local" => "disable",
    )),
    # Authorizer, then the responder entry below handles the request.
    "/guarded/" => ((
        "socket" => "$T/auth.sock",
        "mode" => "authorizer",
        "check-local" => "disable",
    )),
    "/guarded/app" => ((
        "socket" => "$T/guarded.sock",
        "check-local" => "disable",
    )),
)
EOF
}

start_lighttpd() {
  for _ in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    lighttpd -tt -f "$T/lighttpd.conf" >"$T/lighttpd-check.log" 2>&1 ||
      fail "lighttpd rejects the test config ($T/lighttpd.conf): $(head -n 5 "$T/lighttpd-check.log")"
    rm -f "$T/lighttpd-check.log"
    start_bg lighttpd lighttpd -D -f "$T/lighttpd.conf"
    LIGHTTPD_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$LIGHTTPD_PID" && return 0
    stop_pid "$LIGHTTPD_PID" || true
    note "lighttpd could not listen on port $HTTP_PORT; trying another"
  done
  fail "lighttpd did not start"
}
start_lighttpd
BASE="http://127.0.0.1:$HTTP_PORT"

# The echo lighttpd spawned for "bin-path": tracked too, so that it is
# stopped even if lighttpd fails to stop it. lighttpd numbers the sockets
# of the processes it spawns: "socket" plus "-0", "-1"...
wait_for_socket "$T/spawn.sock-0" "$LIGHTTPD_PID"
SPAWNED_PID=""
for i in $(seq 100); do
  SPAWNED_PID=$(ps -o pid= --ppid "$LIGHTTPD_PID" | tr -d ' ' | head -n 1)
  [ -n "$SPAWNED_PID" ] && break
  sleep 0.1
done
[ -n "$SPAWNED_PID" ] || fail "lighttpd has no child process for bin-path"
track_pid "$SPAWNED_PID"

# --- Checks ----------------------------------------------------------------------

# check_get PREFIX: case (a), GET, against the entry for PREFIX.
check_get() {
  local prefix=$1 out="$T/get-${1//\//}"
  request "$out" 200 -H 'X-Fk-Probe: a b' "$BASE$prefix/get.fcgi?x=1&y=a%20b"
  [ "$(header "$out.headers" Content-Type)" = text/plain ] ||
    fail "GET via $prefix: no Content-Type: text/plain in the response headers"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET via $prefix"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "REQUEST_URI=$prefix/get.fcgi?x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "SCRIPT_NAME=$prefix/get.fcgi" "GET via $prefix"
  expect_line "$out.params" "SCRIPT_FILENAME=$T/www$prefix/get.fcgi" "GET via $prefix"
  expect_line "$out.params" "DOCUMENT_ROOT=$T/www" "GET via $prefix"
  expect_line "$out.params" "SERVER_PROTOCOL=HTTP/1.1" "GET via $prefix"
  expect_line "$out.params" "CONTENT_LENGTH=0" "GET via $prefix"
  expect_line "$out.params" "HTTP_X_FK_PROBE=a b" "GET via $prefix"
  expect_line "$out.params" "HTTP_HOST=127.0.0.1:$HTTP_PORT" "GET via $prefix"
  grep -q '^PATH_INFO=' "$out.params" && fail "GET via $prefix: a PATH_INFO for a path without one"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET via $prefix: the echo shows a body of $(wc -c <"$out.body") bytes"

  # A path below the script: lighttpd splits at the first '/' after the
  # prefix ("check-local" disabled).
  request "$out.pi" 200 "$BASE$prefix/get.fcgi/more/path?z"
  echo_params "$out.pi" >"$out.pi.params"
  expect_line "$out.pi.params" "SCRIPT_NAME=$prefix/get.fcgi" "GET with a path info via $prefix"
  expect_line "$out.pi.params" "PATH_INFO=/more/path" "GET with a path info via $prefix"
  expect_line "$out.pi.params" "QUERY_STRING=z" "GET with a path info via $prefix"
  ok "GET with a query string via $prefix"
}

# check_keepalive PREFIX KIND WHERE: case (b).
check_keepalive() {
  local prefix=$1 kind=$2 where=$3 i args=() conns n
  for i in 1 2 3 4 5 6; do
    args+=(-o "$T/ka$i" "$BASE$prefix/ka.fcgi?n=$i")
  done
  # One curl, several URLs: curl keeps its HTTP connection to lighttpd.
  # Per answer: status, new connections made, and echo's two headers.
  curl -sS --max-time 60 "${args[@]}" \
    -w '%{http_code} %{num_connects} %header{x-fcgikit-conn} %header{x-fcgikit-inflight}\n' \
    >"$T/ka-round" || fail "keep-alive via $prefix: curl failed"
  [ "$(grep -c '^200 ' "$T/ka-round")" = 6 ] ||
    fail "keep-alive via $prefix: not 6 answers 200: $(tr '\n' ' ' <"$T/ka-round")"
  [ "$(awk '{s += $2} END {print s}' "$T/ka-round")" = 1 ] ||
    fail "keep-alive via $prefix: curl did not reuse its connection to lighttpd"
  for i in 1 2 3 4 5 6; do
    expect_line "$T/ka$i" "QUERY_STRING=n=$i" "keep-alive request $i via $prefix"
  done
  awk '$4 != 1 {bad = 1} END {exit bad}' "$T/ka-round" ||
    fail "keep-alive via $prefix: X-Fcgikit-Inflight is not always 1: $(tr '\n' ' ' <"$T/ka-round")"
  conns=$(awk '$3 != "" {print $3}' "$T/ka-round" | sort -u | grep -c . || true)
  [ "$conns" = 6 ] ||
    fail "keep-alive via $prefix: 6 requests came on $conns FastCGI connection(s) ($(awk '{print $3}' "$T/ka-round" | tr '\n' ' ')); lighttpd never sets KEEP_CONN, so each should have its own"
  # The application closes each connection after its request: none stays.
  for i in $(seq 100); do
    n=$(app_conn_count "$kind" "$where")
    [ "$n" = 0 ] && break
    sleep 0.1
  done
  [ "$n" = 0 ] || fail "keep-alive via $prefix: $n FastCGI connection(s) still open 10 s after the last answer"
  ok "keep-alive via $prefix: 6 requests on one HTTP connection, each on a FastCGI connection of its own, none left open"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
SIZE=$(wc -c <"$T/big.bin")

check_get /unix
note "params lighttpd sent for a GET (Unix socket):"
sed 's/^/    /' "$T/get-unix.params"
note "params lighttpd sent for /unix/get.fcgi/more/path?z, besides those of the GET above:"
grep -v -x -F -f "$T/get-unix.params" "$T/get-unix.pi.params" | sed 's/^/    /' || true
check_post_echo /unix "$SIZE"
note "params lighttpd sent for a POST (Unix socket), besides those of a GET:"
grep -v -x -F -f "$T/get-unix.params" "$T/post-unix.params" | sed 's/^/    /' || true
check_keepalive /unix unix "$T/echo.sock"

# (c) A client that goes away with half of its body sent never reaches the
# application: lighttpd takes the whole body before it connects. (Echo's
# next connection number shows whether one was made in between.)
request "$T/before" 200 "$BASE/unix/before.fcgi"
before=$(header "$T/before.headers" X-Fcgikit-Conn)
exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
printf 'POST /unix/gone.fcgi HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' >&3
head -c 40000 /dev/zero >&3
exec 3>&-
request "$T/after" 200 "$BASE/unix/after.fcgi"
[ "$(header "$T/after.headers" X-Fcgikit-Conn)" = $((before + 1)) ] ||
  fail "a POST abandoned mid-body reached the application (its connections went from $before to $(header "$T/after.headers" X-Fcgikit-Conn))"
ok "a POST abandoned mid-body never reached the application (lighttpd buffers request bodies)"

check_get /tcp
check_post_echo /tcp "$SIZE"
check_keepalive /tcp tcp "$APP_PORT"

# (d) bin-path.
[ "$(readlink "/proc/$SPAWNED_PID/exe")" = "$(readlink -f "$EX/echo")" ] ||
  fail "lighttpd's child $SPAWNED_PID is $(readlink "/proc/$SPAWNED_PID/exe"), not examples/echo"
case $(readlink "/proc/$SPAWNED_PID/fd/0") in
  socket:*) ;;
  *) fail "the echo lighttpd spawned has no socket on fd 0 ($(readlink "/proc/$SPAWNED_PID/fd/0"))" ;;
esac
check_get /spawn
check_post_echo /spawn "$SIZE"
check_keepalive /spawn unix "$T/spawn.sock-0"
[ "$(ps -o pid= --ppid "$LIGHTTPD_PID" | grep -c .)" = 1 ] ||
  fail "lighttpd has $(ps -o pid= --ppid "$LIGHTTPD_PID" | grep -c .) children, not the one echo it spawned"
alive "$SPAWNED_PID" || fail "the echo lighttpd spawned (pid $SPAWNED_PID) died"
ok "bin-path: lighttpd spawned examples/echo (pid $SPAWNED_PID) with its socket on fd 0"

# (e) The Authorizer.
# denied OUT STATUS WHAT CURL-ARG...: the authorizer's denial, unchanged.
denied() {
  local out=$1 status=$2 what=$3 reason
  shift 3
  request "$out" "$status" "$@"
  [ "$status" = 401 ] && reason=Unauthorized || reason=Forbidden
  printf '%s %s\n' "$status" "$reason" >"$out.expected"
  same_bytes "$out.expected" "$out" "$what: the authorizer's $status body"
  [ "$(header "$out.headers" Content-Type)" = text/plain ] ||
    fail "$what: the authorizer's Content-Type: text/plain did not come through"
  if [ "$status" = 401 ]; then
    [ "$(header "$out.headers" WWW-Authenticate)" = 'Basic realm="fcgikit"' ] ||
      fail "$what: the authorizer's WWW-Authenticate did not come through: '$(header "$out.headers" WWW-Authenticate)'"
  fi
}

denied "$T/st-none" 401 "static file, no credentials" "$BASE/static/secret.txt"
denied "$T/st-wrong" 403 "static file, wrong password" -u fcgikit:wrong "$BASE/static/secret.txt"
denied "$T/st-user" 403 "static file, unknown user" -u someone:secret "$BASE/static/secret.txt"
request "$T/st-ok" 200 -u fcgikit:secret "$BASE/static/secret.txt"
same_bytes "$T/authroot/static/secret.txt" "$T/st-ok" "static file behind the authorizer"
ok "authorizer before a static file: 401 and 403 unchanged, 200 serves the file from docroot"

denied "$T/gd-none" 401 "echo, no credentials" "$BASE/guarded/app/x?q=1"
denied "$T/gd-wrong" 403 "echo, wrong password" -u fcgikit:nope "$BASE/guarded/app/x?q=1"
request "$T/gd-ok" 200 -u fcgikit:secret "$BASE/guarded/app/x?q=1"
echo_params "$T/gd-ok" >"$T/gd-ok.params"
expect_line "$T/gd-ok.params" "AUTH_USER=fcgikit" "echo behind the authorizer"
expect_line "$T/gd-ok.params" "AUTH_METHOD=basic" "echo behind the authorizer"
expect_line "$T/gd-ok.params" "QUERY_STRING=q=1" "echo behind the authorizer"
expect_line "$T/gd-ok.params" "SCRIPT_NAME=/guarded/app" "echo behind the authorizer"
expect_line "$T/gd-ok.params" "PATH_INFO=/x" "echo behind the authorizer"
# The credentials reach the responder too.
expect_line "$T/gd-ok.params" "HTTP_AUTHORIZATION=Basic $(printf fcgikit:secret | base64)" "echo behind the authorizer"
# Its first connection: the denied requests never reached it.
[ "$(header "$T/gd-ok.headers" X-Fcgikit-Conn)" = 1 ] ||
  fail "echo behind the authorizer answered on its connection $(header "$T/gd-ok.headers" X-Fcgikit-Conn), not 1: a denied request reached it"
ok "authorizer before echo: 401 and 403 unchanged, 200 passes AUTH_USER=fcgikit and AUTH_METHOD=basic on as params"

# --- The end -----------------------------------------------------------------------

# Every process must still be running: none of this may end one.
for pid in "${FK_PIDS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
rc=0
stop_pid "$LIGHTTPD_PID" || rc=$?
[ "$rc" = 0 ] || fail "lighttpd exited $rc on SIGTERM, not 0"
for i in $(seq 100); do
  alive "$SPAWNED_PID" || break
  sleep 0.1
done
alive "$SPAWNED_PID" && fail "the echo lighttpd spawned (pid $SPAWNED_PID) outlived lighttpd by 10 s"
stop_pid "$SPAWNED_PID" || true  # gone already: only untracks it
for pid in "${FK_PIDS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "example (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
if grep -v -E '\((server\.c\.[0-9]+)\) server (started|stopped)' "$T/lighttpd-error.log" \
     >"$T/lighttpd-errors"; then
  fail "lighttpd logged more than its start and stop: $(head -n 5 "$T/lighttpd-errors")"
fi
ok "lighttpd logged only its start and stop"
