#!/usr/bin/env bash
# Interop: cgi-fcgi (Debian libfcgi-bin), the FastCGI reference kit's bridge,
# against the examples.
#
#   echo over a Unix socket and over TCP (cgi-fcgi -bind -connect): a GET
#     whose params come back exactly, in the order sent (one of them 70000
#     bytes, so cgi-fcgi splits PARAMS over several records), and a 1 MB
#     POST of random bytes echoed byte for byte;
#   hello answers "Hello, world!";
#   authorizer: cgi-fcgi always asks for the Responder role, so the
#     authorizer answers FCGI_UNKNOWN_ROLE, which cgi-fcgi turns into exit
#     status 253 (FCGX_PROTOCOL_ERROR, -3) with no output; the authorizer
#     then keeps serving Authorizer requests (sent with a small python3
#     client: 401, 403, and 200 with Variable-AUTH_USER/AUTH_METHOD);
#   launching: "cgi-fcgi -start -connect ADDR hello 2" creates the
#     listening socket and starts two hello processes with it on fd 0, the
#     inherited-socket mode (Unix socket and TCP); spawn-fcgi -n, when
#     installed, does the same.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd cgi-fcgi libfcgi-bin

EX=$FK_BUILD/examples

# bridge ADDRESS OUT [NAME=VALUE...] < BODY: one request through cgi-fcgi
# with exactly the given environment; its output in OUT. Returns cgi-fcgi's
# exit status (124 when it hangs for a minute: it has no timeout of its own).
bridge() {
  local address=$1 out=$2
  shift 2
  timeout 60 env -i "$@" cgi-fcgi -bind -connect "$address" >"$out" 2>"$out.err"
}

# check_echo ADDRESS WHAT: the GET and POST checks against an echo.
check_echo() {
  local address=$1 what=$2 out="$T/echo-$2" rc
  local big
  big=$(head -c 70000 /dev/zero | tr '\0' 'v')
  rc=0
  bridge "$address" "$out" REQUEST_METHOD=GET "QUERY_STRING=a=1&b=%20x" \
    SCRIPT_NAME=/echo "BIG=$big" SERVER_PROTOCOL=HTTP/1.1 </dev/null || rc=$?
  [ "$rc" = 0 ] || fail "GET via $what: cgi-fcgi exited $rc ($(head -c 200 "$out.err"))"
  cgi_headers "$out" >"$out.headers"
  expect_line "$out.headers" "Status: 200 OK" "GET via $what"
  expect_line "$out.headers" "Content-Type: text/plain" "GET via $what"
  cgi_content "$out" >"$out.content"
  printf '%s\n' REQUEST_METHOD=GET "QUERY_STRING=a=1&b=%20x" SCRIPT_NAME=/echo \
    "BIG=$big" SERVER_PROTOCOL=HTTP/1.1 -- >"$out.expected"
  same_bytes "$out.expected" "$out.content" "GET via $what (params in order, then '--', no body)"
  ok "GET via cgi-fcgi over $what: params exact and in order"

  rc=0
  bridge "$address" "$out" REQUEST_METHOD=POST CONTENT_LENGTH=1048576 \
    CONTENT_TYPE=application/octet-stream <"$T/1mb.bin" || rc=$?
  [ "$rc" = 0 ] || fail "POST via $what: cgi-fcgi exited $rc ($(head -c 200 "$out.err"))"
  cgi_content "$out" >"$out.content"
  echo_params "$out.content" >"$out.params"
  expect_line "$out.params" "CONTENT_LENGTH=1048576" "POST via $what"
  echo_body "$out.content" >"$out.body"
  same_bytes "$T/1mb.bin" "$out.body" "1 MB POST via $what"
  ok "1 MB POST via cgi-fcgi over $what echoed byte for byte"
}

# check_hello ADDRESS WHAT: hello's answer, exactly.
check_hello() {
  local out="$T/hello-$2" rc=0
  bridge "$1" "$out" REQUEST_METHOD=GET SCRIPT_NAME=/hello </dev/null || rc=$?
  [ "$rc" = 0 ] || fail "hello via $2: cgi-fcgi exited $rc ($(head -c 200 "$out.err"))"
  cgi_headers "$out" >"$out.headers"
  expect_line "$out.headers" "Content-Type: text/plain" "hello via $2"
  printf 'Hello, world!\n' >"$out.expected"
  cgi_content "$out" >"$out.content"
  same_bytes "$out.expected" "$out.content" "hello via $2"
}

head -c 1048576 /dev/urandom >"$T/1mb.bin"

# --- echo -------------------------------------------------------------------

start_example echo "$T/echo.sock"
ECHO_UNIX=$STARTED_PID
wait_for_socket "$T/echo.sock" "$ECHO_UNIX"
check_echo "$T/echo.sock" unix

start_example_tcp echo
ECHO_TCP=$STARTED_PID
check_echo "127.0.0.1:$PICKED_PORT" tcp

# --- hello ------------------------------------------------------------------

start_example hello "$T/hello.sock"
wait_for_socket "$T/hello.sock" "$STARTED_PID"
check_hello "$T/hello.sock" unix
ok "hello answers Hello, world!"

# --- authorizer -------------------------------------------------------------

start_example authorizer "$T/auth.sock"
AUTH=$STARTED_PID
wait_for_socket "$T/auth.sock" "$AUTH"
rc=0
bridge "$T/auth.sock" "$T/auth-cgi" REQUEST_METHOD=GET \
  "HTTP_AUTHORIZATION=Basic $(printf fcgikit:secret | base64)" </dev/null || rc=$?
# cgi-fcgi exits with FCGX_PROTOCOL_ERROR (-3, so 253) on any END_REQUEST
# whose protocolStatus is not FCGI_REQUEST_COMPLETE.
[ "$rc" = 253 ] ||
  fail "cgi-fcgi (Responder role) to the authorizer exited $rc, not 253 (FCGI_UNKNOWN_ROLE seen as a protocol error)"
[ -s "$T/auth-cgi" ] && fail "the authorizer answered a Responder request with output: $(head -c 200 "$T/auth-cgi")"
alive "$AUTH" || fail "the authorizer died after a Responder request"
ok "cgi-fcgi to the authorizer: exit 253, no output (FCGI_UNKNOWN_ROLE)"

if optional_cmd python3 python3; then
  rc=0
  fcgi_request "$T/auth.sock" 1 "" REQUEST_METHOD=GET >"$T/auth-resp" 2>"$T/auth-resp.err" || rc=$?
  [ "$rc" = 3 ] && grep -qx 'protocolStatus=3' "$T/auth-resp.err" ||
    fail "a Responder request to the authorizer: expected END_REQUEST with FCGI_UNKNOWN_ROLE (3), got exit $rc: $(cat "$T/auth-resp.err")"
  [ -s "$T/auth-resp" ] && fail "the authorizer wrote output for an unknown role"

  # authorize OUT [HTTP_AUTHORIZATION]: an Authorizer request.
  authorize() {
    local out=$1
    shift
    fcgi_request "$T/auth.sock" 2 "" REQUEST_METHOD=GET REQUEST_URI=/private "$@" \
      >"$out" 2>"$out.err" || fail "Authorizer request failed: $(cat "$out.err")"
    cgi_headers "$out" >"$out.headers"
  }
  authorize "$T/auth-none"
  expect_line "$T/auth-none.headers" "Status: 401 Unauthorized" "no credentials"
  grep -q '^WWW-Authenticate: Basic' "$T/auth-none.headers" ||
    fail "no credentials: no WWW-Authenticate challenge"
  authorize "$T/auth-wrong" "HTTP_AUTHORIZATION=Basic $(printf fcgikit:wrong | base64)"
  expect_line "$T/auth-wrong.headers" "Status: 403 Forbidden" "wrong credentials"
  authorize "$T/auth-right" "HTTP_AUTHORIZATION=Basic $(printf fcgikit:secret | base64)"
  expect_line "$T/auth-right.headers" "Status: 200 OK" "right credentials"
  expect_line "$T/auth-right.headers" "Variable-AUTH_USER: fcgikit" "right credentials"
  expect_line "$T/auth-right.headers" "Variable-AUTH_METHOD: basic" "right credentials"
  ok "the authorizer keeps serving after FCGI_UNKNOWN_ROLE: 401, 403, 200 with Variable- headers"
fi

# --- Launched by cgi-fcgi -start, the listening socket on fd 0 -------------------

# A wrapper that records its pid before becoming hello, since cgi-fcgi
# forks the applications and exits without saying which pids they got.
cat >"$T/launch-hello" <<EOF
#!/bin/sh
echo \$\$ >>"$T/launched.pids"
exec "$EX/hello"
EOF
chmod +x "$T/launch-hello"

# check_launched ADDRESS WHAT N: waits for N launched hellos, checks they
# serve on their fd 0, then stops them by pid with SIGTERM.
check_launched() {
  local address=$1 what=$2 n=$3 i pid pids
  for i in $(seq 300); do
    [ -s "$T/launched.pids" ] && [ "$(wc -l <"$T/launched.pids")" -ge "$n" ] && break
    sleep 0.1
  done
  mapfile -t pids <"$T/launched.pids"
  [ "${#pids[@]}" = "$n" ] || fail "$what: ${#pids[@]} processes started, not $n"
  for pid in "${pids[@]}"; do
    track_pid "$pid"
    for i in $(seq 300); do
      [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$EX/hello")" ] && break
      alive "$pid" || fail "$what: launched process $pid exited"
      sleep 0.1
    done
    case $(readlink "/proc/$pid/fd/0") in
      socket:*) ;;
      *) fail "$what: fd 0 of $pid is $(readlink "/proc/$pid/fd/0"), not a socket" ;;
    esac
  done
  for i in 1 2 3 4 5 6; do
    check_hello "$address" "$what"
  done
  for pid in "${pids[@]}"; do
    alive "$pid" || fail "$what: hello $pid died while serving"
  done
  # Not our children: SIGTERM, then watch them go (a graceful stop).
  for pid in "${pids[@]}"; do
    kill -TERM "$pid"
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 100); do
      alive "$pid" || break
      sleep 0.1
    done
    alive "$pid" && fail "$what: hello $pid did not stop on SIGTERM within 10 s"
  done
  rm -f "$T/launched.pids"
  ok "$what: $n hello processes served 6 requests on the socket inherited on fd 0, then stopped on SIGTERM"
}

rc=0
timeout 60 cgi-fcgi -start -connect "$T/start.sock" "$T/launch-hello" 2 >>"$T/hello-launched.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "cgi-fcgi -start exited $rc"
check_launched "$T/start.sock" "cgi-fcgi -start (Unix socket)" 2

launched=0
for attempt in 1 2 3 4 5; do
  pick_port
  rc=0
  timeout 60 cgi-fcgi -start -connect "127.0.0.1:$PICKED_PORT" "$T/launch-hello" 2 \
    >>"$T/hello-launched.log" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    launched=1
    break
  fi
  note "cgi-fcgi -start could not bind port $PICKED_PORT (exit $rc); trying another"
done
[ "$launched" = 1 ] || fail "cgi-fcgi -start could not bind any TCP port"
check_launched "127.0.0.1:$PICKED_PORT" "cgi-fcgi -start (TCP)" 2

if optional_cmd spawn-fcgi spawn-fcgi; then
  # -n: spawn-fcgi binds, then becomes the application (same pid).
  start_bg spawn-fcgi spawn-fcgi -n -s "$T/spawn.sock" -- "$EX/hello"
  SPAWNED=$STARTED_PID
  wait_for_socket "$T/spawn.sock" "$SPAWNED"
  check_hello "$T/spawn.sock" "spawn-fcgi"
  case $(readlink "/proc/$SPAWNED/fd/0") in
    socket:*) ;;
    *) fail "spawn-fcgi: fd 0 of hello is not a socket" ;;
  esac
  rc=0
  stop_pid "$SPAWNED" || rc=$?
  [ "$rc" = 0 ] || fail "hello started by spawn-fcgi exited $rc on SIGTERM, not 0"
  ok "spawn-fcgi -n: hello served on the socket inherited on fd 0 and exited 0 on SIGTERM"
fi

# --- Everything still running, nothing logged ------------------------------

for pid in "$ECHO_UNIX" "$ECHO_TCP" "$AUTH"; do
  alive "$pid" || fail "process $pid died during the test"
done
for pid in "$ECHO_UNIX" "$ECHO_TCP" "$AUTH"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "process $pid exited $rc on SIGTERM, not 0"
done
[ -S "$T/echo.sock" ] && fail "echo left its socket file behind after a clean stop"
no_sanitizer_reports
ok "the examples exit 0 on SIGTERM and remove their socket files"
