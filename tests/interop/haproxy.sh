#!/usr/bin/env bash
# Interop: HAProxy (Debian haproxy) fcgi-app in front of examples/echo.
#
# The fcgi-app "fk" has option keep-conn, get-values, mpxs-conns and
# max-reqs 16; its backends have "http-reuse always", without which a
# connection serves one client only.
#
#   (a) server unix@SOCK proto fcgi, and 127.0.0.1:PORT: a GET with a query
#       string and a custom header arrives with QUERY_STRING,
#       REQUEST_METHOD=GET, the HTTP_* mapping and an empty body; path-info
#       splits SCRIPT_NAME and PATH_INFO; a 10 MB POST of random bytes comes
#       back byte for byte;
#   (b) HTTP keep-alive and FastCGI connection reuse: one curl with several
#       URLs keeps its connection to HAProxy, every answer is right, the
#       requests came on the same FastCGI connection(s) (X-Fcgikit-Conn
#       repeats) and a later client gets one of those connections again;
#   (c) multiplexing: slow clients start POSTs and hold back half of their
#       bodies, so their requests stay in flight on the FastCGI connection;
#       quick GETs sent meanwhile must come back with X-Fcgikit-Inflight >= 2
#       on the connection of a held POST (X-Fcgikit-Conn): two requests at
#       once on one connection. The same load against a control fcgi-app
#       without mpxs-conns and max-reqs (so one request per connection) must
#       never show that: the check can fail, and a connection reused one
#       request after the other counts 1. Every held POST then completes
#       byte for byte;
#   (d) the FastCGI records, seen through a logging relay between HAProxy
#       and a third echo: HAProxy asks FCGI_GET_VALUES and the application
#       answers FCGI_MPXS_CONNS=1; BEGIN_REQUEST carries FCGI_KEEP_CONN; a
#       client that goes away mid-body makes HAProxy send ABORT_REQUEST,
#       which the application answers with END_REQUEST, and it goes on
#       serving;
#   (e) 160 clients hold POSTs at once, started 10 ms apart (HAProxy
#       limited to 2 threads, so more than 64 requests share some FastCGI
#       connection: HAProxy takes the application's FCGI_MAX_REQS as its
#       limit per connection): every one answers 200 and echoes its body.
#
# HAProxy runs privately: its own config and pid file under $T, logging to
# its standard error, on a loopback port, in the foreground, stopped by pid.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd haproxy haproxy
require_cmd curl curl
require_cmd ss iproute2
require_cmd python3 python3

# --- Helpers in python3 ----------------------------------------------------------

# A relay between HAProxy and an application that logs every FastCGI record
# it passes on, one line each: "conn=N > TYPE id=ID len=LEN [details]"
# (">" from HAProxy, "<" from the application; details: BEGIN_REQUEST's role
# and flags, the name=value pairs of GET_VALUES and GET_VALUES_RESULT,
# END_REQUEST's statuses). A record is logged before it is passed on.
#   python3 -c "$SPY" LISTEN-PATH UPSTREAM-PATH LOG
SPY=$(cat <<'PY'
import socket, struct, sys, threading

listen_path, upstream_path, log_path = sys.argv[1:4]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()
NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST",
         4: "PARAMS", 5: "STDIN", 6: "STDOUT", 7: "STDERR", 8: "DATA",
         9: "GET_VALUES", 10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}

def say(line):
    with lock:
        log.write(line + "\n")

def pairs(b):
    out, i = [], 0
    def length():
        nonlocal i
        if b[i] < 128:
            i += 1
            return b[i - 1]
        i += 4
        return struct.unpack(">I", b[i - 4:i])[0] & 0x7fffffff
    while i < len(b):
        n = length()
        v = length()
        out.append(b[i:i + n].decode("latin-1") + "=" +
                   b[i + n:i + n + v].decode("latin-1"))
        i += n + v
    return " ".join(out)

def details(rtype, c):
    if rtype == 1:
        return "role=%d flags=%d" % struct.unpack(">HB5x", c)
    if rtype in (9, 10):
        return pairs(c)
    if rtype == 3:
        return "app=%d proto=%d" % struct.unpack(">IB3x", c)
    return ""

def pump(src, dst, conn, way):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                say("conn=%d %s EOF" % (conn, way))
                break
            buf += data
            while len(buf) >= 8:
                _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", buf[:8])
                if len(buf) < 8 + clen + plen:
                    break
                content = buf[8:8 + clen]
                buf = buf[8 + clen + plen:]
                say("conn=%d %s %s id=%d len=%d %s" % (conn, way,
                    NAMES.get(rtype, str(rtype)), rid, clen,
                    details(rtype, content)))
            dst.sendall(data)
    except OSError as e:
        say("conn=%d %s %s" % (conn, way, e))
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

server = socket.socket(socket.AF_UNIX)
server.bind(listen_path)
server.listen(64)
n = 0
while True:
    client, _ = server.accept()
    n += 1
    upstream = socket.socket(socket.AF_UNIX)
    upstream.connect(upstream_path)
    say("conn=%d open" % n)
    for args in ((client, upstream, n, ">"), (upstream, client, n, "<")):
        threading.Thread(target=pump, args=args, daemon=True).start()
PY
)

# The load for (c) and (e).  python3 -c "$PROBE" PORT PREFIX HELD GETS
# HELD clients each send a POST's headers and the first 40000 of its 100000
# bytes of body (more than HAProxy's 16 kB buffer: HAProxy holds a request
# until its buffer fills or the body is complete), then wait; they start
# 10 ms apart (HAProxy 2.6, given 160 such requests at the same instant,
# fails some itself: a 500 with termination state IH, its BEGIN_REQUEST
# followed by ABORT_REQUEST and no PARAMS, whatever the application's
# limits). Meanwhile up
# to GETS quick GETs, one after the other, each on a new connection, until
# one shows X-Fcgikit-Inflight >= 2 (with no GETs: a one-second pause, for
# HAProxy to pass every held request on). Then the held clients send the
# rest. Prints "get J STATUS CONN INFLIGHT" per GET, then
# "post I STATUS CONN INFLIGHT same|differs" per POST ("same": the body
# came back byte for byte); CONN and INFLIGHT are echo's headers, -1 when
# missing.
PROBE=$(cat <<'PY'
import re, socket, sys, time

port, prefix, held, gets = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
LENGTH, FIRST = 100000, 40000

def request(head, body=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(head + body)
    return s

def response(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if re.search(rb"(?im)^transfer-encoding: *chunked", head):
        plain = b""
        while True:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            plain += body[:size]
            body = body[size + 2:]
        body = plain
    def number(name):
        m = re.search(rb"(?im)^" + name + rb": *(\d+)", head)
        return int(m.group(1)) if m else -1
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
    return status, number(b"x-fcgikit-conn"), number(b"x-fcgikit-inflight"), body

pattern = bytes(range(251)) * (LENGTH // 251 + 2)
bodies = [pattern[i % 251:i % 251 + LENGTH] for i in range(held)]
held_socks = []
for i in range(held):
    head = (b"POST %s/held.fcgi?i=%d HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
            % (prefix.encode(), i, LENGTH))
    held_socks.append(request(head, bodies[i][:FIRST]))
    time.sleep(0.01)

for j in range(gets):
    status, conn, inflight, _ = response(request(
        b"GET %s/quick.fcgi?j=%d HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
        % (prefix.encode(), j)))
    print("get", j, status, conn, inflight, flush=True)
    if inflight >= 2:
        break
    time.sleep(0.02)
if gets == 0:
    time.sleep(1)

for i, s in enumerate(held_socks):
    try:
        s.sendall(bodies[i][FIRST:])
    except OSError:
        pass  # answered early (an error): the answer is read below
for i, s in enumerate(held_socks):
    status, conn, inflight, body = response(s)
    echoed = body.partition(b"\n--\n")[2]
    print("post", i, status, conn, inflight, "same" if echoed == bodies[i] else "differs", flush=True)
PY
)

# --- The applications ----------------------------------------------------------

start_example echo "$T/echo.sock"
wait_for_socket "$T/echo.sock" "$STARTED_PID"
start_example_tcp echo
APP_PORT=$PICKED_PORT
start_example echo "$T/serial.sock"
wait_for_socket "$T/serial.sock" "$STARTED_PID"
start_example echo "$T/spied.sock"
wait_for_socket "$T/spied.sock" "$STARTED_PID"
start_example echo "$T/many.sock"
wait_for_socket "$T/many.sock" "$STARTED_PID"
start_bg spy python3 -c "$SPY" "$T/spy.sock" "$T/spied.sock" "$T/fcgi-records.log"
SPY_PID=$STARTED_PID
wait_for_socket "$T/spy.sock" "$SPY_PID"
mkdir -p "$T/www"

# --- HAProxy ---------------------------------------------------------------------

# (No $(...) inside the here-document: bash parses those when it expands
# the document, and a signal trap that runs meanwhile fails to parse.)
write_conf() {
  cat >"$T/haproxy.cfg" <<EOF
global
    pidfile $T/haproxy.pid
    log stderr format raw local0 info
    # (Within a soft limit of 1024 open files.)
    maxconn 400
    # Whatever the machine's CPUs, so that (e)'s 160 requests share at
    # most 2 FastCGI connections (one per thread).
    nbthread 2

defaults
    mode http
    log global
    option httplog
    timeout connect 10s
    timeout client 60s
    timeout server 60s

fcgi-app fk
    docroot $T/www
    path-info ^(/.+\.fcgi)(/.*)?$
    option keep-conn
    option get-values
    option mpxs-conns
    option max-reqs 16
    log-stderr global

# The control for (c): without mpxs-conns and max-reqs, one request per
# connection at a time. (With get-values, HAProxy takes FCGI_MPXS_CONNS
# from the application's answer; what keeps it from sharing a connection
# here is max-reqs, 1 by default.)
fcgi-app fk_serial
    docroot $T/www
    option keep-conn
    option get-values
    log-stderr global

frontend web
    bind 127.0.0.1:$1
    use_backend tcp if { path_beg /tcp/ }
    use_backend serial if { path_beg /serial/ }
    use_backend spy if { path_beg /spy/ }
    use_backend many if { path_beg /many/ }
    default_backend unix

backend unix
    use-fcgi-app fk
    http-reuse always
    server s1 unix@$T/echo.sock proto fcgi

backend tcp
    use-fcgi-app fk
    http-reuse always
    server s1 127.0.0.1:$APP_PORT proto fcgi

backend serial
    use-fcgi-app fk_serial
    http-reuse always
    server s1 unix@$T/serial.sock proto fcgi

backend spy
    use-fcgi-app fk
    http-reuse always
    server s1 unix@$T/spy.sock proto fcgi

# For (e): a request that goes wrong there waits for this timeout.
backend many
    use-fcgi-app fk
    http-reuse always
    timeout server 15s
    server s1 unix@$T/many.sock proto fcgi
EOF
}

start_haproxy() {
  for _ in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    haproxy -c -q -f "$T/haproxy.cfg" >"$T/haproxy-check.log" 2>&1 ||
      fail "haproxy rejects the test config ($T/haproxy.cfg): $(head -n 5 "$T/haproxy-check.log")"
    rm -f "$T/haproxy-check.log"
    start_bg haproxy haproxy -db -f "$T/haproxy.cfg"
    HAPROXY_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$HAPROXY_PID" && return 0
    stop_pid "$HAPROXY_PID" || true
    note "haproxy could not listen on port $HTTP_PORT; trying another"
  done
  fail "haproxy did not start"
}
start_haproxy
BASE="http://127.0.0.1:$HTTP_PORT"

# --- Checks ----------------------------------------------------------------------

# check_get PREFIX: case (a), GET.
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

  # A path below the script, split by the fcgi-app's path-info regex.
  request "$out.pi" 200 "$BASE$prefix/get.fcgi/more/path?z"
  echo_params "$out.pi" >"$out.pi.params"
  expect_line "$out.pi.params" "SCRIPT_NAME=$prefix/get.fcgi" "GET with a path info via $prefix"
  expect_line "$out.pi.params" "PATH_INFO=/more/path" "GET with a path info via $prefix"
  expect_line "$out.pi.params" "QUERY_STRING=z" "GET with a path info via $prefix"
  ok "GET with a query string via $prefix"
}

# check_reuse PREFIX KIND WHERE: case (b).
check_reuse() {
  local prefix=$1 kind=$2 where=$3 i args=() n conns open
  for i in 1 2 3 4 5 6 7 8; do
    args+=(-o "$T/ka$i" "$BASE$prefix/ka.fcgi?n=$i")
  done
  # One curl, several URLs: curl keeps its HTTP connection to HAProxy.
  # Per answer: status, new connections made, and echo's two headers.
  curl -sS --max-time 60 "${args[@]}" \
    -w '%{http_code} %{num_connects} %header{x-fcgikit-conn} %header{x-fcgikit-inflight}\n' \
    >"$T/ka-round1" || fail "keep-alive via $prefix: curl failed"
  [ "$(grep -c '^200 ' "$T/ka-round1")" = 8 ] ||
    fail "keep-alive via $prefix: not 8 answers 200: $(tr '\n' ' ' <"$T/ka-round1")"
  [ "$(awk '{s += $2} END {print s}' "$T/ka-round1")" = 1 ] ||
    fail "keep-alive via $prefix: curl did not reuse its connection to HAProxy"
  for i in 1 2 3 4 5 6 7 8; do
    expect_line "$T/ka$i" "QUERY_STRING=n=$i" "keep-alive request $i via $prefix"
  done
  awk '{print $3}' "$T/ka-round1" | sort -u >"$T/ka-conns1"
  n=$(grep -c . "$T/ka-conns1" || true)
  [ "$n" -ge 1 ] && [ "$n" -le 2 ] ||
    fail "keep-alive via $prefix: 8 requests one after the other came on $n FastCGI connections ($(awk '{print $3}' "$T/ka-round1" | tr '\n' ' ')), not 1 or 2: HAProxy did not reuse them"
  open=$(app_conn_count "$kind" "$where")
  [ "$open" -ge 1 ] ||
    fail "keep-alive via $prefix: no FastCGI connection left open after the requests"

  # A second client, with POSTs: it gets a connection from the first round.
  head -c 300000 "$T/big.bin" >"$T/ka-body"
  args=()
  for i in 1 2 3 4; do
    args+=(-o "$T/kb$i" "$BASE$prefix/ka.fcgi?m=$i")
  done
  curl -sS --max-time 60 --data-binary "@$T/ka-body" "${args[@]}" \
    -w '%{http_code} %header{x-fcgikit-conn}\n' >"$T/ka-round2" ||
    fail "keep-alive round 2 via $prefix: curl failed"
  [ "$(grep -c '^200 ' "$T/ka-round2")" = 4 ] ||
    fail "keep-alive round 2 via $prefix: not 4 answers 200: $(tr '\n' ' ' <"$T/ka-round2")"
  for i in 1 2 3 4; do
    expect_line "$T/kb$i" "QUERY_STRING=m=$i" "keep-alive POST $i via $prefix"
    echo_body "$T/kb$i" >"$T/kb$i.body"
    same_bytes "$T/ka-body" "$T/kb$i.body" "keep-alive POST $i via $prefix"
  done
  conns=$(awk '{print $2}' "$T/ka-round2" | sort -u | comm -12 - "$T/ka-conns1" | grep -c . || true)
  [ "$conns" -ge 1 ] ||
    fail "keep-alive round 2 via $prefix: the POSTs came on FastCGI connections $(awk '{print $2}' "$T/ka-round2" | tr '\n' ' '), none of round 1's ($(tr '\n' ' ' <"$T/ka-conns1"))"
  ok "keep-alive via $prefix: 12 requests from 2 clients on $n FastCGI connection(s), reused across clients"
}

# probe PREFIX HELD GETS NAME: runs the load of (c) or (e); its report in
# $T/NAME.
probe() {
  timeout 120 python3 -c "$PROBE" "$HTTP_PORT" "$1" "$2" "$3" >"$T/$4" 2>"$T/$4.err" ||
    fail "the load via $1 failed: $(tail -n 3 "$T/$4.err")"
  awk '$1 == "get" && $3 != 200 {bad = 1} END {exit bad}' "$T/$4" ||
    fail "via $1, quick GETs did not all answer 200: $(grep '^get' "$T/$4" | grep -v '^get [0-9]* 200 ' | head -n 3 | tr '\n' ';')"
}

# held_ok NAME COUNT WHAT: fails unless COUNT held POSTs answered 200 and
# echoed their bodies.
held_ok() {
  local bad
  bad=$(awk '$1 == "post" && ($3 != 200 || $6 != "same")' "$T/$1")
  [ -z "$bad" ] && [ "$(grep -c '^post' "$T/$1")" = "$2" ] && return 0
  fail "$3: $(printf '%s\n' "$bad" | grep -c .) of $2 held POSTs did not come back 200 byte for byte (post I STATUS CONN INFLIGHT: $(printf '%s\n' "$bad" | head -n 3 | tr '\n' ';'))"
}

head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
SIZE=$(wc -c <"$T/big.bin")

check_get /unix
note "params HAProxy sent for a GET (Unix socket):"
sed 's/^/    /' "$T/get-unix.params"
note "params HAProxy sent for /unix/get.fcgi/more/path?z, besides those of the GET above:"
grep -v -x -F -f "$T/get-unix.params" "$T/get-unix.pi.params" | sed 's/^/    /' || true
check_post_echo /unix "$SIZE"
note "params HAProxy sent for a POST (Unix socket), besides those of a GET:"
grep -v -x -F -f "$T/get-unix.params" "$T/post-unix.params" | sed 's/^/    /' || true
check_get /tcp
check_post_echo /tcp "$SIZE"
check_reuse /unix unix "$T/echo.sock"
check_reuse /tcp tcp "$APP_PORT"

# (c) Multiplexing.
probe /unix 3 50 mpx
held_ok mpx 3 "multiplexing"
hit=$(awk '$1 == "get" && $5 >= 2 {print $4; exit}' "$T/mpx")
[ -n "$hit" ] ||
  fail "no quick GET saw another request in flight on its FastCGI connection (X-Fcgikit-Inflight always 1: $(grep '^get' "$T/mpx" | tr '\n' ';')): HAProxy did not multiplex"
awk -v c="$hit" '$1 == "post" && $4 == c {found = 1} END {exit !found}' "$T/mpx" ||
  fail "the GET with X-Fcgikit-Inflight >= 2 came on FastCGI connection $hit, which no held POST used ($(grep '^post' "$T/mpx" | tr '\n' ';'))"
ok "multiplexing: quick GET number $(grep -c '^get' "$T/mpx") came on FastCGI connection $hit while $(awk '$1 == "get" && $5 >= 2 {print $5 - 1; exit}' "$T/mpx") held POST(s) were in flight on it; the POSTs completed byte for byte"

# The control: one request per connection, so never two in flight on one.
probe /serial 3 10 serial
held_ok serial 3 "the control"
awk '$1 == "get" && $5 >= 2 {bad = 1} END {exit bad}' "$T/serial" ||
  fail "the control without mpxs-conns and max-reqs shows X-Fcgikit-Inflight >= 2 ($(grep '^get' "$T/serial" | tr '\n' ';')): the multiplexing check proves nothing"
[ "$(grep -c '^get' "$T/serial")" = 10 ] || fail "the control sent $(grep -c '^get' "$T/serial") GETs, not 10"
[ "$(awk '$1 == "get" {print $4}' "$T/serial" | sort -u | grep -c .)" -lt 10 ] ||
  fail "the control's 10 GETs came on 10 FastCGI connections: none reused, so X-Fcgikit-Inflight 1 proves little"
ok "control: without mpxs-conns and max-reqs the same load never put two requests at once on a connection"

# (d) The records through the relay.
request "$T/spy1" 200 "$BASE/spy/a.fcgi?1"
request "$T/spy2" 200 -H 'Content-Type: text/plain' --data-binary 'hello' "$BASE/spy/b.fcgi"
echo_body "$T/spy2" >"$T/spy2.body"
[ "$(cat "$T/spy2.body")" = hello ] || fail "POST through the relay: the echo shows '$(cat "$T/spy2.body")'"
R=$T/fcgi-records.log
grep -q '> GET_VALUES id=0 .*FCGI_MPXS_CONNS=' "$R" ||
  fail "HAProxy sent no FCGI_GET_VALUES asking FCGI_MPXS_CONNS (option get-values)"
grep -q '< GET_VALUES_RESULT id=0 .*FCGI_MPXS_CONNS=1' "$R" ||
  fail "the application did not answer GET_VALUES with FCGI_MPXS_CONNS=1: $(grep GET_VALUES "$R" | head -n 2)"
grep -q '> BEGIN_REQUEST' "$R" || fail "no BEGIN_REQUEST through the relay"
grep '> BEGIN_REQUEST' "$R" | grep -q -v 'role=1 flags=1' &&
  fail "a BEGIN_REQUEST without FCGI_KEEP_CONN (option keep-conn): $(grep '> BEGIN_REQUEST' "$R" | grep -v 'flags=1' | head -n 1)"
note "the GET_VALUES exchange:"
grep GET_VALUES "$R" | sort -u -k2 | sed 's/^conn=[0-9]* /    /'
note "request ids HAProxy used, in order: $(grep -o '> BEGIN_REQUEST id=[0-9]*' "$R" | sed 's/.*id=//' | tr '\n' ' ')"
ok "GET_VALUES asked and answered with FCGI_MPXS_CONNS=1; every BEGIN_REQUEST had FCGI_KEEP_CONN"

# A client that goes away with half of its body sent.
python3 - "$HTTP_PORT" <<'PY' || fail "the aborting client failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"POST /spy/abort.fcgi HTTP/1.1\r\nHost: probe\r\nContent-Length: 100000\r\n\r\n"
          + b"a" * 40000)
s.close()
PY
aborted=""
for i in $(seq 100); do
  aborted=$(grep -o -m1 '^conn=[0-9]* > ABORT_REQUEST id=[0-9]*' "$R" || true)
  [ -n "$aborted" ] && break
  sleep 0.1
done
[ -n "$aborted" ] || fail "HAProxy sent no ABORT_REQUEST within 10 s of the client going away mid-body"
ended="${aborted%% *} < END_REQUEST id=${aborted##*id=} "
for i in $(seq 100); do
  grep -q -F "$ended" "$R" && break
  sleep 0.1
done
grep -q -F "$ended" "$R" ||
  fail "the application did not answer '$aborted' with END_REQUEST: $(grep -F "${aborted%% *} " "$R" | tail -n 3 | tr '\n' ';')"
request "$T/spy3" 200 "$BASE/spy/after.fcgi?3"
expect_line "$T/spy3" "QUERY_STRING=3" "GET after the abort"
ok "a client gone mid-body: HAProxy sent ABORT_REQUEST (${aborted#* > ABORT_REQUEST }), the application ended it and goes on serving"

# (e) Many requests at once.
probe /many 160 0 many
note "160 held POSTs: X-Fcgikit-Inflight up to $(awk '$1 == "post" {if ($5 > m) m = $5} END {print m + 0}' "$T/many") on FastCGI connection(s) $(awk '$1 == "post" && $4 >= 0 {print $4}' "$T/many" | sort -un | tr '\n' ' '); statuses: $(awk '$1 == "post" {print $3}' "$T/many" | sort | uniq -c | tr -s ' \n' '  ')"
held_ok many 160 "160 requests at once (the application answered GET_VALUES with $(grep -o -m1 '< GET_VALUES_RESULT .*' "$R" | grep -o 'FCGI_MAX_REQS=[0-9]*'), which HAProxy takes as its limit per FastCGI connection; a request the application refuses with FCGI_OVERLOADED gets a 500 from HAProxy, or a 504 after 'timeout server')"
ok "160 requests at once: all answered 200 with their bodies"

# --- The end -----------------------------------------------------------------------

# Every request but the aborted one completed normally: status 200 and the
# termination state "----" in HAProxy's log.
if grep -E '"(GET|POST) ' "$T/haproxy.log" | grep -v '/spy/abort.fcgi' |
     grep -v -E ' 200 [0-9]+ - - ---- ' >"$T/haproxy-bad"; then
  fail "HAProxy logged requests that did not complete normally: $(head -n 3 "$T/haproxy-bad")"
fi
# (Checked before the stop, which HAProxy logs as warnings.)
if grep -E '\[(ALERT|WARNING)\]' "$T/haproxy.log" >"$T/haproxy-warnings"; then
  fail "haproxy logged alerts or warnings: $(head -n 5 "$T/haproxy-warnings")"
fi
ok "haproxy logged no alerts or warnings"
for pid in "${FK_PIDS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
# SIGUSR1 is HAProxy's graceful stop (SIGTERM kills it at once, status 143).
kill -USR1 "$HAPROXY_PID"
for i in $(seq 100); do
  alive "$HAPROXY_PID" || break
  sleep 0.1
done
rc=0
stop_pid "$HAPROXY_PID" || rc=$?
[ "$rc" = 0 ] || fail "haproxy exited $rc after SIGUSR1, not 0"
for pid in "${FK_PIDS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  # (The relay is python3, which SIGTERM simply kills.)
  [ "$rc" = 0 ] || [ "$pid" = "$SPY_PID" ] || fail "echo (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
