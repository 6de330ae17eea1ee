#!/usr/bin/env bash
# Interop: nginx (Debian nginx / nginx-light) in front of examples/echo.
#
#   (a) fastcgi_pass unix:SOCK: a GET with a query string arrives with
#       QUERY_STRING and REQUEST_METHOD=GET and an empty body;
#   (b) a 10 MB POST of random bytes comes back byte for byte;
#   (c) the same two over fastcgi_pass 127.0.0.1:PORT;
#   (d) an upstream with "keepalive 4" and "fastcgi_keep_conn on", over a
#       Unix socket and over TCP: many requests on one client connection all
#       succeed, and ss shows that the application served them on at most 4
#       FastCGI connections, the same ones before and after a second round
#       (without keep-alive there would be none left open, or new ones);
#   (e) "fastcgi_request_buffering off" and keep-alive to examples/upload
#       (stream_body: the handler reads the body as nginx relays it, from
#       the socket itself): the 10 MB POST, and four at once, are counted
#       and checksummed exactly as cksum(1) does, and a GET after them on
#       the same connections is answered.
#
# nginx runs privately: its own prefix, config, pid file, logs and temp
# paths under $T, on a loopback port, in the foreground, stopped by pid.
# Its error log must end up without [error], [crit], [alert] or [emerg].

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd nginx nginx-light
require_cmd curl curl
require_cmd ss iproute2

NGINX_PARAMS=/etc/nginx/fastcgi_params
if ! [ -r "$NGINX_PARAMS" ]; then
  [ "${CI:-}" = "true" ] && fail "$NGINX_PARAMS is missing (Debian package nginx-common)"
  skip "$NGINX_PARAMS is missing (apt-get install nginx-common)"
fi

# --- The applications ----------------------------------------------------------

# One echo for the plain locations, one each for the keep-alive upstreams, so
# that the connections counted in (d) are the keep-alive ones alone.
start_example echo "$T/echo.sock"
wait_for_socket "$T/echo.sock" "$STARTED_PID"
start_example_tcp echo
APP_PORT=$PICKED_PORT
start_example echo "$T/ka.sock"
wait_for_socket "$T/ka.sock" "$STARTED_PID"
start_example_tcp echo
KA_PORT=$PICKED_PORT
start_example upload "$T/upload.sock"
wait_for_socket "$T/upload.sock" "$STARTED_PID"

# --- nginx ---------------------------------------------------------------------

# (No $(...) inside the here-document: bash parses those when it expands
# the document, and a signal trap that runs meanwhile fails to parse.)
write_conf() {
  local http_port=$1
  {
    nginx_conf_head 64
    cat <<EOF
    client_max_body_size 20m;

    upstream ka_unix {
        server unix:$T/ka.sock;
        keepalive 4;
    }
    upstream ka_tcp {
        server 127.0.0.1:$KA_PORT;
        keepalive 4;
    }
    upstream upload {
        server unix:$T/upload.sock;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:$http_port;
        location /unix/ {
            include $NGINX_PARAMS;
            fastcgi_pass unix:$T/echo.sock;
        }
        location /tcp/ {
            include $NGINX_PARAMS;
            fastcgi_pass 127.0.0.1:$APP_PORT;
        }
        location /ka-unix/ {
            include $NGINX_PARAMS;
            fastcgi_keep_conn on;
            fastcgi_pass ka_unix;
        }
        location /ka-tcp/ {
            include $NGINX_PARAMS;
            fastcgi_keep_conn on;
            fastcgi_pass ka_tcp;
        }
        location /upload/ {
            include $NGINX_PARAMS;
            fastcgi_keep_conn on;
            fastcgi_request_buffering off;
            fastcgi_pass upload;
        }
    }
}
EOF
  } >"$T/nginx/nginx.conf"
}

start_nginx
BASE="http://127.0.0.1:$HTTP_PORT"

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
  get "$BASE$prefix/get.fcgi?x=1&y=a%20b" "$out"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET via $prefix"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "REQUEST_URI=$prefix/get.fcgi?x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "SCRIPT_NAME=$prefix/get.fcgi" "GET via $prefix"
  expect_line "$out.params" "SERVER_PROTOCOL=HTTP/1.1" "GET via $prefix"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET via $prefix: the echo shows a body of $(wc -c <"$out.body") bytes"
  ok "GET with a query string via $prefix"
}

# check_keepalive PREFIX KIND WHERE: case (d).
check_keepalive() {
  local prefix=$1 kind=$2 where=$3 i args=() round1 round2 both n
  for i in 1 2 3 4 5 6 7 8; do
    args+=(-o "$T/ka$i" "$BASE$prefix/ka.fcgi?n=$i")
  done
  # One curl, several URLs: curl keeps its HTTP connection to nginx.
  curl -sS --max-time 60 -w '%{http_code} %{num_connects}\n' "${args[@]}" \
    >"$T/ka-round1" || fail "keep-alive round 1 via $prefix: curl failed"
  [ "$(grep -c '^200 ' "$T/ka-round1")" = 8 ] ||
    fail "keep-alive round 1 via $prefix: not 8 answers 200: $(tr '\n' ' ' <"$T/ka-round1")"
  [ "$(awk '{s += $2} END {print s}' "$T/ka-round1")" = 1 ] ||
    fail "keep-alive round 1 via $prefix: curl did not reuse its connection"
  for i in 1 2 3 4 5 6 7 8; do
    expect_line "$T/ka$i" "QUERY_STRING=n=$i" "keep-alive request $i via $prefix"
  done
  round1=$(app_conns "$kind" "$where")
  n=$(printf '%s' "$round1" | grep -c . || true)
  [ "$n" -ge 1 ] && [ "$n" -le 4 ] ||
    fail "after 8 requests via $prefix the application has $n FastCGI connections open, not 1 to 4: nginx did not keep them (keep-alive broken)"

  # Round 2: POSTs with a body, on the connections kept from round 1.
  head -c 300000 "$T/big.bin" >"$T/ka-body"
  args=()
  for i in 1 2 3 4; do
    args+=(-o "$T/kb$i" "$BASE$prefix/ka.fcgi?m=$i")
  done
  curl -sS --max-time 60 --data-binary "@$T/ka-body" -w '%{http_code}\n' "${args[@]}" \
    >"$T/ka-round2" || fail "keep-alive round 2 via $prefix: curl failed"
  [ "$(grep -c '^200$' "$T/ka-round2")" = 4 ] ||
    fail "keep-alive round 2 via $prefix: not 4 answers 200: $(tr '\n' ' ' <"$T/ka-round2")"
  for i in 1 2 3 4; do
    expect_line "$T/kb$i" "QUERY_STRING=m=$i" "keep-alive POST $i via $prefix"
    echo_body "$T/kb$i" >"$T/kb$i.body"
    same_bytes "$T/ka-body" "$T/kb$i.body" "keep-alive POST $i via $prefix"
  done
  round2=$(app_conns "$kind" "$where")
  n=$(printf '%s' "$round2" | grep -c . || true)
  [ "$n" -ge 1 ] && [ "$n" -le 4 ] ||
    fail "after 12 requests via $prefix the application has $n FastCGI connections open, not 1 to 4"
  both=$(comm -12 <(printf '%s\n' "$round1") <(printf '%s\n' "$round2") | grep -c . || true)
  [ "$both" -ge 1 ] ||
    fail "via $prefix no FastCGI connection open after round 1 is still open after round 2 (round 1: $(echo $round1), round 2: $(echo $round2)): nginx opened new ones instead of reusing them"
  ok "keep-alive via $prefix: 12 requests on $n FastCGI connection(s), reused across rounds"
}

# check_upload: case (e).
check_upload() {
  local want i
  want=$(cksum <"$T/big.bin")
  curl -sS --max-time 60 --data-binary "@$T/big.bin" -o "$T/up1" "$BASE/upload/u.fcgi" ||
    fail "the streamed upload: curl failed"
  [ "$(cat "$T/up1")" = "$want" ] ||
    fail "the streamed upload: the application counted '$(cat "$T/up1")', cksum says '$want'"
  local pids=()
  for i in 1 2 3 4; do
    curl -sS --max-time 60 --data-binary "@$T/big.bin" -o "$T/up-many$i" "$BASE/upload/u.fcgi?n=$i" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for i in 1 2 3 4; do
    [ "$(cat "$T/up-many$i" 2>/dev/null)" = "$want" ] ||
      fail "streamed upload $i of 4 at once: '$(cat "$T/up-many$i" 2>/dev/null)', not '$want'"
  done
  curl -sS --max-time 60 -o "$T/up-get" "$BASE/upload/u.fcgi" || fail "a GET after the uploads failed"
  [ "$(cat "$T/up-get")" = "4294967295 0" ] || fail "a GET after the uploads: '$(cat "$T/up-get")'"
  ok "streamed uploads (fastcgi_request_buffering off): 5 x $SIZE bytes counted and checksummed right, 4 at once"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
SIZE=$(wc -c <"$T/big.bin")

check_get /unix
note "params nginx sent for a GET (Unix socket):"
sed 's/^/    /' "$T/get-unix.params"
check_post_echo /unix "$SIZE"
check_get /tcp
check_post_echo /tcp "$SIZE"
check_keepalive /ka-unix unix "$T/ka.sock"
check_keepalive /ka-tcp tcp "$KA_PORT"
check_upload

# Every example must still be running: none of this may end a process.
for pid in "${FK_PIDS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
stop_pid "$NGINX_PID" || true
for pid in "${FK_PIDS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "an example (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
if grep -E '\[(error|crit|alert|emerg)\]' "$T/nginx-error.log" >"$T/nginx-errors"; then
  fail "nginx logged errors: $(head -n 5 "$T/nginx-errors")"
fi
ok "nginx logged no errors"
