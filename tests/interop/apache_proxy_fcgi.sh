#!/usr/bin/env bash
# Interop: Apache httpd mod_proxy_fcgi (Debian apache2) in front of
# examples/echo.
#
#   (a) ProxyPass to unix:SOCK|fcgi://localhost/ with enablereuse=on: a GET
#       with a query string arrives with QUERY_STRING, REQUEST_METHOD=GET,
#       REQUEST_URI, the SCRIPT_FILENAME mod_proxy_fcgi makes up
#       (proxy:fcgi://localhost/...), request headers as HTTP_* params, and
#       no body; the params are printed so that the test output records
#       what Apache sends. PATH_INFO comes only with proxy-fcgi-pathinfo;
#   (b) a 10 MB POST of random bytes comes back byte for byte, and so does
#       a 1 MB POST sent with chunked transfer encoding (no Content-Length);
#   (c) the same over ProxyPass to fcgi://127.0.0.1:PORT/ enablereuse=on;
#   (d) keep-alive, on both: 8 GETs then 4 POSTs on one client connection
#       (one curl, several URLs) all succeed, and the application saw them
#       on fewer FastCGI connections than requests: the X-Fcgikit-Conn
#       serials repeat, ss shows connections still open after each round and
#       the same ones after the second. A control location without
#       enablereuse, in front of its own echo, must show the opposite (8
#       distinct serials, nothing left open), so that these checks really
#       fail without connection reuse;
#   (e) a recording relay between Apache and a third echo shows what goes on
#       the wire: FCGI_KEEP_CONN set in BEGIN_REQUEST with enablereuse and
#       not without it (then each connection ends with its one request,
#       spec 5.1), several requests on one connection,
#       no FCGI_GET_VALUES; a request body reaches the application before
#       the client has finished sending it (Apache streams, it does not
#       buffer); a client that disconnects in the middle of its body makes
#       Apache close the FastCGI connection, without FCGI_ABORT_REQUEST, and
#       the application keeps serving.
#
# Apache runs privately: its own ServerRoot, config, pid file and logs
# under $T, on a loopback port, in the foreground, stopped by pid. Its
# error log must have no error, crit, alert or emerg line from (a) to (e)
# before the aborted upload.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd apache2 apache2
require_cmd curl curl
require_cmd ss iproute2
require_cmd python3 python3

MODULES=/usr/lib/apache2/modules
for mod in mpm_event proxy proxy_fcgi authz_core; do
  if ! [ -r "$MODULES/mod_$mod.so" ]; then
    [ "${CI:-}" = "true" ] && fail "$MODULES/mod_$mod.so is missing (Debian package apache2)"
    skip "$MODULES/mod_$mod.so is missing (apt-get install apache2)"
  fi
done

# As root, Apache's children run as the User of the config (www-data here),
# which must reach the sockets under $T: the directory is made traversable
# and each socket connectable by anyone (they live only as long as the test).
chmod 0755 "$T"

# --- A recording relay ---------------------------------------------------------

# tests/interop/tap.py LISTEN UPSTREAM LOG [COMMAND...] records every
# FastCGI record between a web server and an application (see its header).
TAP=$(cat "$(dirname "${BASH_SOURCE[0]}")/tap.py")

# --- The applications ----------------------------------------------------------

# /unix/ and /pi/ share the first echo; the control location without
# enablereuse and the relay each have their own, so that the connections
# counted for them are theirs alone.
start_unix_echo() {
  start_example echo "$1"
  wait_for_socket "$1" "$STARTED_PID"
  chmod 0666 "$1"
}
start_unix_echo "$T/echo.sock"
start_example_tcp echo
APP_PORT=$PICKED_PORT
start_unix_echo "$T/noreuse.sock"
start_unix_echo "$T/tapped.sock"
start_bg tap python3 -c "$TAP" "$T/tap.sock" "$T/tapped.sock" "$T/tap.log"
TAP_PID=$STARTED_PID
wait_for_socket "$T/tap.sock" "$TAP_PID"

# --- Apache ----------------------------------------------------------------------

write_conf() {
  local port=$1
  mkdir -p "$T/apache/run" "$T/apache/htdocs"
  apache_conf_head "$port" >"$T/apache/httpd.conf"
  cat >>"$T/apache/httpd.conf" <<EOF

LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule proxy_module $MODULES/mod_proxy.so
LoadModule proxy_fcgi_module $MODULES/mod_proxy_fcgi.so
LoadModule setenvif_module $MODULES/mod_setenvif.so

# One child process: every request shares its pool of FastCGI connections.
StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
KeepAlive On
Timeout 60
LimitRequestBody 20971520
DocumentRoot "$T/apache/htdocs"

# Each Unix socket needs its own name after "fcgi://": two ProxyPass lines
# whose URLs differ only in the socket path share one worker, and the
# second one's requests go to the first one's socket (AH01145, AH01146).
ProxyPass "/unix/" "unix:$T/echo.sock|fcgi://localhost/" enablereuse=on
ProxyPass "/tcp/" "fcgi://127.0.0.1:$APP_PORT/" enablereuse=on
ProxyPass "/noreuse/" "unix:$T/noreuse.sock|fcgi://noreuse/"
ProxyPass "/pi/" "unix:$T/echo.sock|fcgi://pathinfo/"
SetEnvIf Request_URI "^/pi/" proxy-fcgi-pathinfo=1
ProxyPass "/tap-reuse/" "unix:$T/tap.sock|fcgi://tap-reuse/" enablereuse=on
ProxyPass "/tap-once/" "unix:$T/tap.sock|fcgi://tap-once/"
EOF
}

start_apache() {
  local attempt
  for attempt in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    apache2 -t -d "$T/apache" -f "$T/apache/httpd.conf" >"$T/apache-t.out" 2>&1 ||
      fail "apache2 rejects the test config ($T/apache/httpd.conf): $(cat "$T/apache-t.out")"
    start_bg apache apache2 -d "$T/apache" -f "$T/apache/httpd.conf" -DFOREGROUND
    APACHE_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$APACHE_PID" && return 0
    stop_pid "$APACHE_PID" || true
    note "apache2 could not listen on port $HTTP_PORT; trying another"
  done
  fail "apache2 did not start"
}
start_apache
BASE="http://127.0.0.1:$HTTP_PORT"
note "$(apache2 -v | head -n1)"

# --- Checks ----------------------------------------------------------------------

# check_get PREFIX: case (a) against the location PREFIX.
check_get() {
  local prefix=$1 out="$T/get-${1//\//}" code
  code=$(curl -sS --max-time 60 -H 'X-Test-Header: hello' -H 'X_Under: 1' \
           -H 'Authorization: Basic Zm9vOmJhcg==' -D "$out.headers" -o "$out" -w '%{http_code}' \
           "$BASE$prefix/get.fcgi?x=1&y=a%20b") || fail "curl GET via $prefix failed"
  [ "$code" = 200 ] || fail "GET via $prefix answered $code, not 200"
  tr -d '\r' <"$out.headers" | grep -qix 'content-type: text/plain' ||
    fail "GET via $prefix: no Content-Type: text/plain in the response headers"
  tr -d '\r' <"$out.headers" | grep -qi '^x-fcgikit-conn: [0-9]' ||
    fail "GET via $prefix: the application's X-Fcgikit-Conn header did not come through"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET via $prefix"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "REQUEST_URI=$prefix/get.fcgi?x=1&y=a%20b" "GET via $prefix"
  expect_line "$out.params" "SERVER_PROTOCOL=HTTP/1.1" "GET via $prefix"
  expect_line "$out.params" "HTTP_X_TEST_HEADER=hello" "GET via $prefix (request header as HTTP_*)"
  grep -q '^SCRIPT_FILENAME=proxy:fcgi://' "$out.params" ||
    fail "GET via $prefix: no SCRIPT_FILENAME=proxy:fcgi://... param"
  # Observed facts of Apache, recorded here so that a change shows up:
  # no CONTENT_LENGTH on a GET, no PATH_INFO, headers with '_' dropped,
  # no HTTP_AUTHORIZATION (only with CGIPassAuth On).
  grep -q '^CONTENT_LENGTH=' "$out.params" &&
    fail "GET via $prefix: Apache now sends CONTENT_LENGTH on a GET ($(grep '^CONTENT_LENGTH=' "$out.params")): update docs/interop.md"
  grep -q '^PATH_INFO=' "$out.params" &&
    fail "GET via $prefix: Apache now sends PATH_INFO: update docs/interop.md"
  grep -q '^HTTP_X_UNDER=' "$out.params" &&
    fail "GET via $prefix: Apache now passes a header with '_' as HTTP_X_UNDER: update docs/interop.md"
  grep -q '^HTTP_AUTHORIZATION=' "$out.params" &&
    fail "GET via $prefix: Apache now passes HTTP_AUTHORIZATION without CGIPassAuth: update docs/interop.md"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET via $prefix: the echo shows a body of $(wc -c <"$out.body") bytes"
  ok "GET with a query string via $prefix"
}

# check_pathinfo: Apache sends PATH_INFO only when asked; with
# "SetEnvIf Request_URI ^/pi/ proxy-fcgi-pathinfo=1" the part of the path
# after the ProxyPass prefix becomes PATH_INFO and the prefix SCRIPT_NAME.
check_pathinfo() {
  local out="$T/pathinfo" code
  code=$(curl -sS --max-time 60 -o "$out" -w '%{http_code}' "$BASE/pi/app.fcgi/extra/path?q=1") ||
    fail "curl GET via /pi failed"
  [ "$code" = 200 ] || fail "GET via /pi answered $code, not 200"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "PATH_INFO=/app.fcgi/extra/path" "GET via /pi (proxy-fcgi-pathinfo=1)"
  expect_line "$out.params" "SCRIPT_NAME=/pi" "GET via /pi (proxy-fcgi-pathinfo=1)"
  expect_line "$out.params" "SCRIPT_FILENAME=proxy:fcgi://pathinfo/app.fcgi/extra/path" "GET via /pi"
  code=$(curl -sS --max-time 60 -o "$out.no" -w '%{http_code}' "$BASE/unix/app.fcgi/extra/path?q=1") ||
    fail "curl GET via /unix failed"
  [ "$code" = 200 ] || fail "GET via /unix answered $code, not 200"
  echo_params "$out.no" >"$out.no.params"
  expect_line "$out.no.params" "SCRIPT_NAME=/unix/app.fcgi/extra/path" "GET via /unix with a path after the script"
  grep -q '^PATH_INFO=' "$out.no.params" &&
    fail "GET via /unix: PATH_INFO sent without proxy-fcgi-pathinfo: update docs/interop.md"
  ok "PATH_INFO only with proxy-fcgi-pathinfo=1: PATH_INFO=/app.fcgi/extra/path, SCRIPT_NAME=/pi"
}

# post PREFIX NAME FILE [CURL-ARG...]: a POST of FILE that must come back
# byte for byte; the echo's answer in $T/NAME.
post() {
  local prefix=$1 out="$T/$2" file=$3 code
  shift 3
  code=$(curl -sS --max-time 120 -H 'Content-Type: application/octet-stream' \
           --data-binary "@$file" -o "$out" -w '%{http_code}' "$@" \
           "$BASE$prefix/post.fcgi") || fail "curl POST via $prefix failed"
  [ "$code" = 200 ] || fail "POST via $prefix answered $code, not 200"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=POST" "POST via $prefix"
  expect_line "$out.params" "CONTENT_TYPE=application/octet-stream" "POST via $prefix"
  echo_body "$out" >"$out.body"
  same_bytes "$file" "$out.body" "POST of $(wc -c <"$file") bytes via $prefix"
}

# check_post PREFIX: case (b) against the location PREFIX.
check_post() {
  local prefix=$1 name="post-${1//\//}"
  post "$prefix" "$name" "$T/big.bin"
  expect_line "$T/$name.params" "CONTENT_LENGTH=$(wc -c <"$T/big.bin")" "POST via $prefix"
  rm -f "$T/$name" "$T/$name.body"
  ok "10 MB POST echoed byte for byte via $prefix"
  # Chunked: the client sends no Content-Length, and Apache streams the
  # body without one (observed; the application reads to the end of STDIN).
  name="chunked-${1//\//}"
  post "$prefix" "$name" "$T/1mb.bin" -H 'Transfer-Encoding: chunked'
  expect_line "$T/$name.params" "HTTP_TRANSFER_ENCODING=chunked" "chunked POST via $prefix"
  grep -q '^CONTENT_LENGTH=' "$T/$name.params" &&
    fail "chunked POST via $prefix: Apache now sends $(grep '^CONTENT_LENGTH=' "$T/$name.params"): update docs/interop.md"
  ok "1 MB chunked POST (no CONTENT_LENGTH) echoed byte for byte via $prefix"
}

count_lines() { printf '%s' "$1" | grep -c . || true; }

# serials TAG: the distinct X-Fcgikit-Conn values of round TAG.
serials() { awk '{print $3}' "$T/$1.codes" | sort -u; }

# round PREFIX TAG N [CURL-ARG...]: keepalive_round (tests/lib.sh) on the
# echo behind PREFIX.
round() {
  local prefix=$1 tag=$2 n=$3
  shift 3
  keepalive_round "$tag" "$BASE$prefix/ka.fcgi" "$n" "$@"
}

# check_keepalive PREFIX KIND WHERE: case (d), with enablereuse=on.
check_keepalive() {
  local prefix=$1 kind=$2 where=$3 tag=ka${1//\//} i open1 open2 s1 s2 both n
  round "$prefix" "$tag-a" 8
  s1=$(serials "$tag-a")
  n=$(count_lines "$s1")
  [ "$n" -ge 1 ] && [ "$n" -lt 8 ] ||
    fail "8 requests via $prefix came on $n distinct FastCGI connections (X-Fcgikit-Conn: $(echo $s1)): Apache did not reuse them"
  open1=$(app_conns "$kind" "$where")
  [ "$(count_lines "$open1")" -ge 1 ] ||
    fail "after 8 requests via $prefix the application has no FastCGI connection open: Apache did not keep it"

  # Round 2: POSTs with a body, on the connections kept from round 1.
  head -c 300000 "$T/big.bin" >"$T/ka-body"
  round "$prefix" "$tag-b" 4 --data-binary "@$T/ka-body"
  for i in 1 2 3 4; do
    echo_body "$T/$tag-b.$i" >"$T/$tag-b.$i.body"
    same_bytes "$T/ka-body" "$T/$tag-b.$i.body" "keep-alive POST $i via $prefix"
  done
  s2=$(serials "$tag-b")
  both=$(comm -12 <(printf '%s\n' "$s1") <(printf '%s\n' "$s2") | grep -c . || true)
  [ "$both" -ge 1 ] ||
    fail "via $prefix round 2 used none of round 1's FastCGI connections (round 1: $(echo $s1), round 2: $(echo $s2))"
  open2=$(app_conns "$kind" "$where")
  both=$(comm -12 <(printf '%s\n' "$open1") <(printf '%s\n' "$open2") | grep -c . || true)
  [ "$both" -ge 1 ] ||
    fail "via $prefix no FastCGI connection open after round 1 is still open after round 2: Apache opened new ones instead of reusing them"
  ok "keep-alive via $prefix: 12 requests on $(count_lines "$(printf '%s\n%s\n' "$s1" "$s2" | sort -u)") FastCGI connection(s) (serials $(echo $s1) / $(echo $s2)), kept open across rounds"
}

# check_no_reuse: the control for (d): without enablereuse the same checks
# must see one FastCGI connection per request and none kept open.
check_no_reuse() {
  local s n i open
  round /noreuse noreuse 8
  s=$(serials noreuse)
  n=$(count_lines "$s")
  [ "$n" = 8 ] ||
    fail "control: 8 requests via /noreuse (no enablereuse) came on $n distinct FastCGI connections, not 8 (X-Fcgikit-Conn: $(echo $s)): the reuse check above proves nothing"
  # The application closes a connection as soon as its request without
  # FCGI_KEEP_CONN has ended; give it a moment, no more.
  for i in $(seq 100); do
    open=$(app_conns unix "$T/noreuse.sock")
    [ -z "$open" ] && break
    sleep 0.1
  done
  [ -z "$open" ] ||
    fail "control: $(count_lines "$open") FastCGI connection(s) still open 10 s after requests without enablereuse"
  ok "control without enablereuse: 8 requests on 8 FastCGI connections, none kept"
}

# --- The recording relay's view (e) ---------------------------------------------------

# tap_lines PATTERN: the lines of the relay's log matching the ERE PATTERN.
tap_lines() { grep -E "$1" "$T/tap.log" || true; }

# wait_tap PATTERN WHAT: waits up to 30 s for a matching line in the log.
wait_tap() {
  local i
  for i in $(seq 300); do
    grep -qE "$1" "$T/tap.log" 2>/dev/null && return 0
    alive "$TAP_PID" || fail "the recording relay died (see tap.log)"
    sleep 0.1
  done
  fail "$2: no line matching '$1' in tap.log after 30 s"
}

# conn_of URI: the relay connection numbers that carried a request for URI.
conn_of() {
  grep -F " > PARAMS uri=$1 " "$T/tap.log" | sed 's/^conn=\([0-9]*\) .*/\1/' | sort -u
}

check_tap_reuse() {
  local conns n c flags
  round /tap-reuse tr 6
  wait_tap ' > PARAMS uri=/tap-reuse/ka.fcgi\?tr=6 ' "relay, enablereuse"
  conns=$(for i in 1 2 3 4 5 6; do conn_of "/tap-reuse/ka.fcgi?tr=$i"; done | sort -u)
  n=$(count_lines "$conns")
  [ "$n" -ge 1 ] && [ "$n" -lt 6 ] ||
    fail "relay: 6 requests with enablereuse came on $n FastCGI connections"
  for c in $conns; do
    flags=$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST" | sed 's/.* flags=//' | sort -u)
    [ "$flags" = 1 ] ||
      fail "relay: BEGIN_REQUEST flags on connection $c with enablereuse: $(echo $flags), not 1 (FCGI_KEEP_CONN)"
    [ -n "$(tap_lines "^conn=$c (web-server|app)-closed")" ] &&
      fail "relay: connection $c with enablereuse was closed: $(tap_lines "^conn=$c (web-server|app)-closed")"
  done
  note "relay, enablereuse=on: request ids used: $(tap_lines ' > BEGIN_REQUEST' | sed 's/.* id=\([0-9]*\) .*/\1/' | sort -u | tr '\n' ' ')"
  ok "relay: with enablereuse every BEGIN_REQUEST has FCGI_KEEP_CONN; 6 requests on $n connection(s), left open"
}

FIRST_CLOSERS=""
check_tap_once() {
  local i c line
  for i in 1 2 3; do
    curl -sS --max-time 60 -o "$T/once.$i" "$BASE/tap-once/once.fcgi?o=$i" ||
      fail "curl via /tap-once failed"
    expect_line "$T/once.$i" "QUERY_STRING=o=$i" "GET via /tap-once"
  done
  for i in 1 2 3; do
    wait_tap " > PARAMS uri=/tap-once/once.fcgi\\?o=$i " "relay, no enablereuse"
    c=$(conn_of "/tap-once/once.fcgi?o=$i")
    [ "$(count_lines "$c")" = 1 ] || fail "relay: request o=$i seen on connections $(echo $c)"
    line=$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST")
    case $line in
      *" flags=0") ;;
      *) fail "relay: without enablereuse BEGIN_REQUEST is '$line', not flags=0" ;;
    esac
    [ "$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST" | wc -l)" = 1 ] ||
      fail "relay: connection $c without enablereuse carried more than one request"
    # Spec 5.1: without FCGI_KEEP_CONN the application closes the connection.
    # Without FCGI_KEEP_CONN the connection ends with its request (spec
    # 5.1); both ends close, in an order that is a race (recorded).
    wait_tap "^conn=$c app-closed" "relay: connection $c still open on the application's side after a request without FCGI_KEEP_CONN"
    wait_tap "^conn=$c web-server-closed" "relay: connection $c still open on the web server's side after a request without FCGI_KEEP_CONN"
    FIRST_CLOSERS="$FIRST_CLOSERS $(tap_lines "^conn=$c (app|web-server)-closed" | head -n1 | sed 's/.* //')"
  done
  ok "relay: without enablereuse BEGIN_REQUEST flags=0, one request per connection, closed after it"
  note "relay: the first to close those connections: $(echo $FIRST_CLOSERS)"
}

# check_tap_stream_abort: a client sends half of a 2 MB body, then hangs up.
check_tap_stream_abort() {
  local c result
  python3 - "$HTTP_PORT" "$T/tap.log" >"$T/stream.out" 2>&1 <<'PY' || fail "streaming client: $(cat "$T/stream.out")"
import socket, sys, time
port, logpath = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"POST /tap-reuse/stream.fcgi HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/octet-stream\r\nContent-Length: 2097152\r\n\r\n")
s.sendall(b"s" * 1048576)
deadline = time.time() + 30
seen = False
while time.time() < deadline and not seen:
    seen = " > STDIN uri=/tap-reuse/stream.fcgi " in open(logpath).read()
    time.sleep(0.05)
print("streamed" if seen else "buffered")
s.close()  # half of the body never comes
PY
  result=$(cat "$T/stream.out")
  [ "$result" = streamed ] ||
    fail "relay: no STDIN reached the application within 30 s of the client sending half of its body: Apache buffers request bodies ($result); update docs/interop.md"
  ok "relay: Apache streams the request body (STDIN arrives while the client is still sending)"

  c=$(conn_of /tap-reuse/stream.fcgi)
  [ "$(count_lines "$c")" = 1 ] || fail "relay: the aborted upload was seen on connections $(echo $c)"
  wait_tap "^conn=$c (id=[0-9]+ > ABORT_REQUEST|web-server-closed)" \
    "relay: Apache did neither abort nor close the FastCGI request of a client that hung up"
  [ -z "$(tap_lines "^conn=$c id=[0-9]+ > ABORT_REQUEST")" ] ||
    fail "relay: Apache now sends FCGI_ABORT_REQUEST when a client hangs up: update docs/interop.md"
  ok "relay: a client hanging up in the middle of its body: no FCGI_ABORT_REQUEST, Apache closes the FastCGI connection"
  note "relay, the aborted upload: $(tap_lines "^conn=$c id=[0-9]+ > STDIN uri=/tap-reuse/stream.fcgi " |
    tail -n1 | sed 's/.*total=//') of its 2097152 body bytes had reached the application"
  note "relay, the aborted upload: $(sed -n "/^conn=$c .*uri=\/tap-reuse\/stream.fcgi/,\$p" "$T/tap.log" |
    grep "^conn=$c " | grep -v ' > STDIN ' | sed 's/^conn=[0-9]* //' | tr '\n' ';')"
  # The application must be unhurt and keep serving.
  curl -sS --max-time 60 -o "$T/after-abort" "$BASE/tap-reuse/after.fcgi?z=1" ||
    fail "curl after the aborted upload failed"
  expect_line "$T/after-abort" "QUERY_STRING=z=1" "a GET after the aborted upload"
  ok "the application keeps serving after a client hung up in the middle of its body"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
head -c $((1024 * 1024)) /dev/urandom >"$T/1mb.bin"

check_get /unix
note "params Apache sent for a GET (Unix socket):"
sed 's/^/    /' "$T/get-unix.params"
check_pathinfo
check_post /unix
check_get /tcp
check_post /tcp
check_keepalive /unix unix "$T/echo.sock"
check_keepalive /tcp tcp "$APP_PORT"
check_no_reuse
check_tap_reuse
check_tap_once
[ -z "$(tap_lines ' > GET_VALUES')" ] || fail "relay: Apache sent FCGI_GET_VALUES: $(tap_lines ' > GET_VALUES')"
ok "relay: no FCGI_GET_VALUES in $(tap_lines ' > BEGIN_REQUEST' | wc -l) requests"

if grep -E '\[[a-z_]+:(error|crit|alert|emerg)\]|AH0114[56]' "$T/apache-error.log" >"$T/apache-errors"; then
  fail "Apache logged errors: $(head -n 5 "$T/apache-errors")"
fi
ok "Apache logged no errors"
errors_before=$(wc -l <"$T/apache-error.log")

check_tap_stream_abort
note "Apache's log of the aborted upload: $(tail -n +$((errors_before + 1)) "$T/apache-error.log" |
  grep -E '\[[a-z_]+:(error|crit|alert|emerg|warn)\]' | sed 's/.*\] \(AH[0-9]*:\)/\1/' | cut -c1-160 | tr '\n' ';')"

# Every process must still be running: none of this may end one.
for pid in "${FK_PIDS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
stop_pid "$APACHE_PID" || true
stop_pid "$TAP_PID" || true
for pid in "${FK_PIDS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "echo (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
