#!/usr/bin/env bash
# Interop: Apache httpd mod_fcgid (Debian libapache2-mod-fcgid) spawning
# examples/echo itself, the listening socket on its fd 0.
#
# A copy of the echo binary is the script (htdocs/echo.fcgi, handled by
# "AddHandler fcgid-script .fcgi" with "Options +ExecCGI"):
#   (a) a GET with a query string arrives with QUERY_STRING,
#       REQUEST_METHOD=GET, SCRIPT_FILENAME (the script's path), PATH_INFO,
#       request headers as HTTP_* params, and no body; the params are
#       printed so that the test output records what mod_fcgid sends;
#   (b) a 10 MB POST of random bytes comes back byte for byte
#       (FcgidMaxRequestLen raised from its 128 KB default), and so does a
#       1 MB POST sent with chunked transfer encoding;
#   (c) keep-alive: 8 GETs then 4 POSTs on one client connection (one curl,
#       several URLs) all succeed. mod_fcgid never sets FCGI_KEEP_CONN, so
#       each FastCGI connection must end with its request and the
#       application keep serving: every answer shows X-Fcgikit-Inflight 1,
#       ss shows no FastCGI connection left open after the requests although
#       the processes live on, and when one process served a whole round
#       its X-Fcgikit-Conn serials grow by one per request;
#   (d) under load (4 clients that send a 5 MB POST each and do not read the
#       answer yet, so each request holds one application process),
#       mod_fcgid spawns several processes: at least 2 echo processes at
#       once, each with a socket on fd 0; then every client reads its whole
#       answer, byte for byte;
#   (e) through a recording relay (FcgidWrapper for htdocs/tap/: the relay
#       takes the socket on fd 0 and forwards to an echo it starts), what
#       goes on the wire: role 1, flags 0 (no FCGI_KEEP_CONN), one request
#       per connection, each closed after its request, no FCGI_GET_VALUES
#       or FCGI_ABORT_REQUEST; and, for a client that sends half of its
#       body, pauses 1 s, then the rest: whether the request had reached the
#       application during the pause (recorded), and that it arrives whole;
#   (f) on Apache's stop mod_fcgid stops every process, and each exits 0.
#
# Apache runs privately: its own ServerRoot, config, pid file, logs, fcgid
# socket directory and shared memory file under $T, on a loopback port,
# in the foreground, stopped by pid. The processes mod_fcgid spawns are not
# our children: they are found by their path (under $T) and tracked, so
# that they are stopped even if the test fails.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd apache2 apache2
require_cmd curl curl
require_cmd ss iproute2
require_cmd python3 python3

MODULES=/usr/lib/apache2/modules
if ! [ -r "$MODULES/mod_fcgid.so" ]; then
  [ "${CI:-}" = "true" ] && fail "$MODULES/mod_fcgid.so is missing (Debian package libapache2-mod-fcgid)"
  skip "$MODULES/mod_fcgid.so is missing (apt-get install libapache2-mod-fcgid)"
fi
for mod in mpm_event authz_core mime; do
  if ! [ -r "$MODULES/mod_$mod.so" ]; then
    [ "${CI:-}" = "true" ] && fail "$MODULES/mod_$mod.so is missing (Debian package apache2)"
    skip "$MODULES/mod_$mod.so is missing (apt-get install apache2)"
  fi
done

# As root, Apache's children and the processes mod_fcgid spawns run as the
# User of the config (www-data here): $T is made traversable, and what they
# create (sockets, spilled bodies, the relay's log) goes in $T/shared.
chmod 0755 "$T"
mkdir -p "$T/shared" "$T/apache/run" "$T/apache/htdocs/tap"
chmod 1777 "$T/shared"
SCRIPT=$T/apache/htdocs/echo.fcgi
TAPPED=$T/shared/tapped-echo
cp "$FK_BUILD/examples/echo" "$SCRIPT"
cp "$FK_BUILD/examples/echo" "$T/apache/htdocs/tap/echo.fcgi"
cp "$FK_BUILD/examples/echo" "$TAPPED"
chmod 0755 "$SCRIPT" "$T/apache/htdocs/tap/echo.fcgi" "$TAPPED"

# --- A recording relay ---------------------------------------------------------

# tests/interop/tap.py LISTEN UPSTREAM LOG [COMMAND...] records every
# FastCGI record between a web server and an application (see its header).
TAP=$(cat "$(dirname "${BASH_SOURCE[0]}")/tap.py")

# The relay as mod_fcgid's wrapper for htdocs/tap/. It runs as www-data, so
# it needs a python3 outside root's home.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
TAPLOG=$T/shared/tap.log
printf '%s\n' "$TAP" >"$T/shared/tap.py"
{
  echo '#!/bin/sh'
  echo "exec $PYTHON $T/shared/tap.py fd0 $T/shared/tapped-{pid}.sock $TAPLOG $TAPPED $T/shared/tapped-{pid}.sock"
} >"$T/shared/tapwrap"
chmod 0755 "$T/shared/tapwrap" "$T/shared/tap.py"
: >"$TAPLOG"
chmod 0666 "$TAPLOG"

# --- Apache ----------------------------------------------------------------------

write_conf() {
  local port=$1
  apache_conf_head "$port" >"$T/apache/httpd.conf"
  cat >>"$T/apache/httpd.conf" <<CONF

LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule mime_module $MODULES/mod_mime.so
LoadModule fcgid_module $MODULES/mod_fcgid.so
TypesConfig /dev/null

StartServers 1
ServerLimit 1
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
KeepAlive On
Timeout 60
DocumentRoot "$T/apache/htdocs"

FcgidIPCDir "$T/apache/fcgid"
FcgidProcessTableFile "$T/apache/run/fcgid_shm"
FcgidMaxRequestLen 20971520
FcgidMaxProcessesPerClass 8
FcgidIOTimeout 60
FcgidInitialEnv TMPDIR "$T/shared"

<Directory "$T/apache/htdocs">
    Options +ExecCGI
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
<Directory "$T/apache/htdocs/tap">
    FcgidWrapper "$T/shared/tapwrap" .fcgi
</Directory>
CONF
}

start_apache() {
  local attempt
  for attempt in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    apache2 -t -d "$T/apache" -f "$T/apache/httpd.conf" >"$T/apache-t.out" 2>&1 ||
      fail "apache2 rejects the test config ($T/apache/httpd.conf): $(cat "$T/apache-t.out")"
    # mod_fcgid spills big request bodies into the temporary directory.
    start_bg apache env TMPDIR="$T/shared" apache2 -d "$T/apache" -f "$T/apache/httpd.conf" -DFOREGROUND
    APACHE_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$APACHE_PID" && return 0
    stop_pid "$APACHE_PID" || true
    note "apache2 could not listen on port $HTTP_PORT; trying another"
  done
  fail "apache2 did not start"
}
start_apache
BASE="http://127.0.0.1:$HTTP_PORT"
note "$(apache2 -v | head -n1), $(grep -o 'mod_fcgid/[0-9.]*' "$T/apache-error.log" | head -n1)"

# --- The processes mod_fcgid spawns ---------------------------------------------------

# find_apps PATH: sets APP_PIDS to the pids of the processes running PATH
# (mod_fcgid starts a script with its path as argv[0]; the relay runs as
# "python3 PATH ..."). Each is tracked, so that it is stopped at the end
# even if Apache fails to. (Not to be called in $(...): the tracking would
# be lost with the subshell.)
APP_PIDS=()
find_apps() {
  local pid
  mapfile -t APP_PIDS < <(ps -eo pid=,args= | awk -v p="$1" '$2 == p || $3 == p {print $1}')
  for pid in "${APP_PIDS[@]}"; do
    case " ${FK_PIDS[*]} " in
      *" $pid "*) ;;
      *) track_pid "$pid" ;;
    esac
  done
}

# app_conns: the FastCGI connections the applications have open (their ends
# of connections accepted on the sockets in mod_fcgid's socket directory).
app_conns() {
  ss -Hxan | awk -v d="$T/apache/fcgid/" '$2 != "LISTEN" && index($5, d) == 1 {print $6}'
}

count_lines() { printf '%s' "$1" | grep -c . || true; }

# fd0_is_socket PID: fails unless PID's fd 0 is a socket.
fd0_is_socket() {
  case $(readlink "/proc/$1/fd/0" 2>/dev/null) in
    socket:*) ;;
    *) fail "fd 0 of the echo $1 mod_fcgid spawned is '$(readlink "/proc/$1/fd/0" 2>/dev/null)', not a socket" ;;
  esac
}

# --- Checks ----------------------------------------------------------------------

check_get() {
  local out="$T/get" code pid
  code=$(curl -sS --max-time 60 -H 'X-Test-Header: hello' -H 'X_Under: 1' \
           -H 'Authorization: Basic Zm9vOmJhcg==' -D "$out.headers" -o "$out" \
           -w '%{http_code}' "$BASE/echo.fcgi/extra/path?x=1&y=a%20b") ||
    fail "curl GET failed"
  [ "$code" = 200 ] || fail "GET answered $code, not 200"
  tr -d '\r' <"$out.headers" | grep -qix 'content-type: text/plain' ||
    fail "GET: no Content-Type: text/plain in the response headers"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET"
  expect_line "$out.params" "REQUEST_URI=/echo.fcgi/extra/path?x=1&y=a%20b" "GET"
  expect_line "$out.params" "SCRIPT_NAME=/echo.fcgi" "GET"
  expect_line "$out.params" "SCRIPT_FILENAME=$SCRIPT" "GET"
  expect_line "$out.params" "PATH_INFO=/extra/path" "GET"
  expect_line "$out.params" "SERVER_PROTOCOL=HTTP/1.1" "GET"
  expect_line "$out.params" "HTTP_X_TEST_HEADER=hello" "GET (request header as HTTP_*)"
  # Observed facts of mod_fcgid, recorded here so that a change shows up.
  expect_line "$out.params" "CONTENT_LENGTH=0" "GET (mod_fcgid sends CONTENT_LENGTH=0)"
  expect_line "$out.params" "HTTP_CONNECTION=close" "GET (mod_fcgid adds HTTP_CONNECTION=close)"
  grep -q '^HTTP_X_UNDER=' "$out.params" &&
    fail "GET: Apache now passes a header with '_' as HTTP_X_UNDER: update docs/interop.md"
  grep -q '^HTTP_AUTHORIZATION=' "$out.params" &&
    fail "GET: Apache now passes HTTP_AUTHORIZATION without CGIPassAuth: update docs/interop.md"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET: the echo shows a body of $(wc -c <"$out.body") bytes"
  find_apps "$SCRIPT"
  [ "${#APP_PIDS[@]}" -ge 1 ] || fail "GET answered, but no process runs $SCRIPT"
  for pid in "${APP_PIDS[@]}"; do
    fd0_is_socket "$pid"
  done
  ok "GET with a query string; the echo mod_fcgid spawned (pid ${APP_PIDS[*]}) has its socket on fd 0"
}

# post NAME FILE [CURL-ARG...]: a POST of FILE that must come back byte for
# byte; the echo's answer in $T/NAME.
post() {
  local out="$T/$1" file=$2 code
  shift 2
  code=$(curl -sS --max-time 120 -H 'Content-Type: application/octet-stream' \
           --data-binary "@$file" -o "$out" -w '%{http_code}' "$@" \
           "$BASE/echo.fcgi") || fail "curl POST failed"
  [ "$code" = 200 ] || fail "POST of $(wc -c <"$file") bytes answered $code, not 200"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=POST" "POST"
  expect_line "$out.params" "CONTENT_TYPE=application/octet-stream" "POST"
  echo_body "$out" >"$out.body"
  same_bytes "$file" "$out.body" "POST of $(wc -c <"$file") bytes"
}

check_post() {
  post post "$T/big.bin"
  expect_line "$T/post.params" "CONTENT_LENGTH=$(wc -c <"$T/big.bin")" "POST"
  rm -f "$T/post" "$T/post.body"
  ok "10 MB POST echoed byte for byte"
  # Chunked: mod_fcgid reads the whole body first, then sends its length
  # (observed).
  post chunked "$T/1mb.bin" -H 'Transfer-Encoding: chunked'
  expect_line "$T/chunked.params" "CONTENT_LENGTH=$(wc -c <"$T/1mb.bin")" "chunked POST"
  grep -q '^HTTP_TRANSFER_ENCODING=' "$T/chunked.params" &&
    fail "chunked POST: mod_fcgid now sends $(grep '^HTTP_TRANSFER_ENCODING=' "$T/chunked.params"): update docs/interop.md"
  ok "1 MB chunked POST echoed byte for byte (sent with CONTENT_LENGTH)"
}

# serials TAG: the X-Fcgikit-Conn values of round TAG, in request order.
serials() { awk '{print $3}' "$T/$1.codes"; }

# round TAG N [CURL-ARG...]: keepalive_round (tests/lib.sh) on the spawned
# echo, whose every answer must also say X-Fcgikit-Inflight: 1 (mod_fcgid
# sends one request per connection).
round() {
  local tag=$1 n=$2
  shift 2
  keepalive_round "$tag" "$BASE/echo.fcgi" "$n" "$@"
  [ "$(awk '$4 == 1' "$T/$tag.codes" | wc -l)" = "$n" ] ||
    fail "keep-alive round $tag: not $n answers with X-Fcgikit-Inflight: 1: $(tr '\n' ' ' <"$T/$tag.codes")"
}

# no_open_conns WHAT: the applications must have closed every FastCGI
# connection once their requests ended (spec 5.1: no FCGI_KEEP_CONN); a
# moment is allowed for the close to land.
no_open_conns() {
  local i open
  for i in $(seq 100); do
    open=$(app_conns)
    [ -z "$open" ] && return 0
    sleep 0.1
  done
  fail "$1: $(count_lines "$open") FastCGI connection(s) still open 10 s after the requests ended"
}

# one_up VALUE...: true when each value is the previous one plus one.
one_up() {
  local prev="" v
  for v in "$@"; do
    [ -z "$prev" ] || [ "$v" = $((prev + 1)) ] || return 1
    prev=$v
  done
}

check_keepalive() {
  local tag n i s
  for tag in kaa kab; do
    if [ "$tag" = kaa ]; then
      n=8
      round "$tag" "$n"
    else
      n=4
      head -c 300000 "$T/big.bin" >"$T/ka-body"
      round "$tag" "$n" --data-binary "@$T/ka-body"
      for i in $(seq "$n"); do
        echo_body "$T/$tag.$i" >"$T/$tag.$i.body"
        same_bytes "$T/ka-body" "$T/$tag.$i.body" "keep-alive POST $i"
      done
    fi
    no_open_conns "after keep-alive round $tag"
    find_apps "$SCRIPT"
    [ "${#APP_PIDS[@]}" -ge 1 ] || fail "after keep-alive round $tag no echo process is left"
    s=$(serials "$tag" | tr '\n' ' ')
    # With one process, the serials show one new connection per request.
    # (With several, they interleave and prove nothing either way.)
    if [ "${#APP_PIDS[@]}" = 1 ]; then
      # shellcheck disable=SC2086 # one word per serial
      one_up $s ||
        fail "keep-alive round $tag: one process served $n requests, but its connection serials are '$s', not one new connection per request"
    fi
    ok "keep-alive round $tag: $n requests on one client connection; FastCGI connection serials $s; none left open; ${#APP_PIDS[@]} process(es)"
  done
}

# check_load: (d).
check_load() {
  local clients=4 size=$((5 * 1024 * 1024)) i n max=0 pid client
  head -c "$size" "$T/big.bin" >"$T/load-body"
  # Each client sends its whole request at once (mod_fcgid reads a whole
  # body before it picks a process), then waits for the file load-go to
  # appear before reading. Its 5 MB answer is more than the socket buffers
  # between the application and a client with a 4 KB receive buffer hold
  # (2 MB answers drain, here), so its process stays busy meanwhile.
  python3 -c '
import os, socket, sys, time
port, n, bodyfile, gofile, outprefix = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
body = open(bodyfile, "rb").read()
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /echo.fcgi?load=%d HTTP/1.0\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
              % (i + 1, len(body)) + body)
    socks.append(s)
while not os.path.exists(gofile):
    time.sleep(0.05)
for i, s in enumerate(socks):
    with open("%s.%d" % (outprefix, i + 1), "wb") as f:
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            f.write(data)
    s.close()
' "$HTTP_PORT" "$clients" "$T/load-body" "$T/load-go" "$T/load" >"$T/load-client.log" 2>&1 &
  client=$!
  track_pid "$client"
  # Wait until as many processes run as there are clients (each held by
  # one request), or 30 s; keep the largest number seen at once.
  for i in $(seq 300); do
    find_apps "$SCRIPT"
    [ "${#APP_PIDS[@]}" -gt "$max" ] && max=${#APP_PIDS[@]}
    [ "$max" -ge "$clients" ] && break
    alive "$client" || break
    sleep 0.1
  done
  for pid in "${APP_PIDS[@]}"; do
    fd0_is_socket "$pid"
  done
  touch "$T/load-go"
  wait "$client" || fail "the load client failed: $(cat "$T/load-client.log")"
  [ "$max" -ge 2 ] ||
    fail "$clients concurrent requests, each holding a process, and mod_fcgid ran at most $max echo process(es) at once"
  for i in $(seq "$clients"); do
    # HTTP/1.0: the answer is the headers, an empty line, the echo's output.
    head -n1 "$T/load.$i" | grep -q '^HTTP/1.[01] 200 ' ||
      fail "load request $i: not 200: $(head -c 100 "$T/load.$i")"
    cgi_content "$T/load.$i" >"$T/load.$i.echo"
    expect_line "$T/load.$i.echo" "QUERY_STRING=load=$i" "load request $i"
    echo_body "$T/load.$i.echo" >"$T/load.$i.body"
    same_bytes "$T/load-body" "$T/load.$i.body" "load request $i"
    rm -f "$T/load.$i" "$T/load.$i.echo" "$T/load.$i.body"
  done
  n=$(grep -c "mod_fcgid: server .*:$SCRIPT([0-9]*) started" "$T/apache-error.log" || true)
  ok "under load: $max echo processes at once ($n spawned in all), $clients concurrent 5 MB POSTs echoed byte for byte"
}

# --- The recording relay's view (e) ---------------------------------------------------

tap_lines() { grep -E "$1" "$TAPLOG" || true; }

wait_tap() {
  local i
  for i in $(seq 300); do
    grep -qE "$1" "$TAPLOG" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$2: no line matching '$1' in the relay's log after 30 s"
}

conn_of() {
  grep -F " > PARAMS uri=$1 " "$TAPLOG" | sed 's/^conn=\([0-9]*\) .*/\1/' | sort -u
}

FIRST_CLOSERS=""
check_tap() {
  local i c line half
  for i in 1 2 3; do
    curl -sS --max-time 60 -o "$T/tapped.$i" "$BASE/tap/echo.fcgi?t=$i" ||
      fail "curl via the relay failed"
    expect_line "$T/tapped.$i" "QUERY_STRING=t=$i" "GET via the relay"
  done
  for i in 1 2 3; do
    wait_tap " > PARAMS uri=/tap/echo.fcgi\\?t=$i " "relay"
    c=$(conn_of "/tap/echo.fcgi?t=$i")
    [ "$(count_lines "$c")" = 1 ] || fail "relay: request t=$i seen on connections $(echo $c)"
    line=$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST")
    [ "$(count_lines "$line")" = 1 ] || fail "relay: connection $c carried more than one request"
    case $line in
      *" > BEGIN_REQUEST role=1 flags=0") ;;
      *) fail "relay: mod_fcgid sent '$line', not role=1 flags=0" ;;
    esac
    # Without FCGI_KEEP_CONN the connection ends with its request (spec
    # 5.1); both ends close, in an order that is a race (recorded).
    wait_tap "^conn=$c app-closed" "relay: connection $c still open on the application's side after a request without FCGI_KEEP_CONN"
    wait_tap "^conn=$c web-server-closed" "relay: connection $c still open on the web server's side after a request without FCGI_KEEP_CONN"
    FIRST_CLOSERS="$FIRST_CLOSERS $(tap_lines "^conn=$c (app|web-server)-closed" | head -n1 | sed 's/.* //')"
  done
  ok "relay: BEGIN_REQUEST role=1 flags=0, one request per connection, closed after it"
  note "relay: the first to close those connections: $(echo $FIRST_CLOSERS)"
  note "relay: request ids used: $(tap_lines ' > BEGIN_REQUEST' | sed 's/.* id=\([0-9]*\) .*/\1/' | sort -u | tr '\n' ' ')"

  # Half a body, a pause, then the rest: had anything reached the
  # application before the client sent everything?
  python3 -c '
import socket, sys, time
port, logpath = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=60)
s.sendall(b"POST /tap/echo.fcgi?half=1 HTTP/1.0\r\nHost: 127.0.0.1\r\n"
          b"Content-Length: 2097152\r\n\r\n" + b"h" * 1048576)
time.sleep(1)
print("reached" if "uri=/tap/echo.fcgi?half=1 " in open(logpath).read() else "nothing")
s.sendall(b"h" * 1048576)
data = b""
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    data += d
print("status", data.split(b"\r\n", 1)[0].decode())
body = data.split(b"\n--\n", 1)[1] if b"\n--\n" in data else b""
print("body", "whole" if body == b"h" * 2097152 else "%d bytes" % len(body))
' "$HTTP_PORT" "$TAPLOG" >"$T/half.out" 2>&1 || fail "half-body client: $(cat "$T/half.out")"
  half=$(head -n1 "$T/half.out")
  grep -qx 'status HTTP/1.[01] 200 OK' "$T/half.out" || fail "half-body client: $(cat "$T/half.out")"
  grep -qx 'body whole' "$T/half.out" ||
    fail "half-body client: the body did not come back whole: $(tr '\n' ' ' <"$T/half.out")"
  if [ "$half" = nothing ]; then
    HALF_SEEN="nothing had reached the application 1 s after the client sent half of its body"
  else
    HALF_SEEN="the request had reached the application 1 s after the client sent half of its body"
  fi
  note "relay: $HALF_SEEN"
  wait_tap "uri=/tap/echo.fcgi\\?half=1 .*total=2097152" "relay: the 2 MB body"
  ok "relay: a body sent in two halves arrives whole"
  [ -z "$(tap_lines ' > (GET_VALUES|ABORT_REQUEST)')" ] ||
    fail "relay: $(tap_lines ' > (GET_VALUES|ABORT_REQUEST)' | head -n 3)"
  ok "relay: no FCGI_GET_VALUES, no FCGI_ABORT_REQUEST in $(tap_lines ' > BEGIN_REQUEST' | wc -l) requests"
  # The relays and the echoes they started: tracked, to be stopped even if
  # mod_fcgid does not.
  find_apps "$TAPPED"
  find_apps "$T/shared/tap.py"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
head -c $((1024 * 1024)) /dev/urandom >"$T/1mb.bin"

check_get
note "params mod_fcgid sent for a GET:"
sed 's/^/    /' "$T/get.params"
check_post
check_keepalive
check_load
check_tap

# (f) Stop Apache: mod_fcgid must stop every process it spawned, each
# exiting 0, and the relays must take their echoes with them.
all_pids=()
for path in "$SCRIPT" "$TAPPED" "$T/shared/tap.py"; do
  find_apps "$path"
  all_pids+=("${APP_PIDS[@]}")
done
stop_pid "$APACHE_PID" || true
for pid in "${all_pids[@]}"; do
  for i in $(seq 100); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) still runs 10 s after Apache stopped"
done
grep -E "mod_fcgid: process $SCRIPT\\([0-9]+\\) exit" "$T/apache-error.log" >"$T/exits" || true
[ -s "$T/exits" ] || fail "mod_fcgid logged no exit of the echo processes"
if grep -v 'return code: 0$' "$T/exits" >"$T/bad-exits"; then
  fail "echo processes did not exit cleanly: $(head -n 3 "$T/bad-exits")"
fi
ok "on Apache's stop mod_fcgid stopped $(wc -l <"$T/exits") echo process(es), each exiting 0"
no_sanitizer_reports
if grep -E '\[[a-z_]+:(error|crit|alert|emerg)\]' "$T/apache-error.log" >"$T/apache-errors"; then
  fail "Apache logged errors: $(head -n 5 "$T/apache-errors")"
fi
ok "Apache logged no errors"
