# Shared helpers for the shell tests in tests/interop/ and tests/sh/.
#
# Source it from a test script, then call init_test:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#   init_test
#   require_cmd nginx nginx-light
#   start_example echo "$T/echo.sock"
#   wait_for_socket "$T/echo.sock" "$STARTED_PID"
#
# The environment (set by ctest, see tests/CMakeLists.txt):
#   FK_BUILD   the build directory (examples in $FK_BUILD/examples)
#   FK_SOURCE  the source directory
#   CI         "true" in CI: a missing peer fails the test instead of
#              skipping it, because CI installs every peer and a skip there
#              would hide a broken installation.
#
# Exit statuses: 0 passed, 1 failed, 77 skipped (SKIP_RETURN_CODE).
#
# Everything a test makes lives in the private directory $T, removed on exit;
# every process started through start_bg or registered with track_pid is
# stopped on exit (SIGTERM, then SIGKILL after a grace period), by its pid.
#
# Run directly (bash tests/lib.sh), this file tests its own helpers;
# tests/sh/lib_selftest.sh does that under ctest.

set -Eeuo pipefail

FK_TEST_NAME=$(basename "$0" .sh)
FK_PIDS=()          # processes to stop on exit
T=""                # the private temporary directory
STARTED_PID=""      # pid of the last start_bg / start_example
PICKED_PORT=""      # port chosen by the last pick_port

# --- Reporting ---------------------------------------------------------------

note() { printf '%s: %s\n' "$FK_TEST_NAME" "$*"; }
ok() { printf '%s: ok: %s\n' "$FK_TEST_NAME" "$*"; }

skip() {
  printf 'SKIPPED: %s\n' "$*"
  exit 77
}

# Prints the end of every log in $T, so that a failure in CI can be
# understood from the test output alone.
dump_logs() {
  [ -n "$T" ] && [ -d "$T" ] || return 0
  local f
  for f in "$T"/*.log; do
    [ -s "$f" ] || continue
    printf -- '----- %s (last 30 lines)\n' "${f#"$T"/}" >&2
    tail -n 30 "$f" | cut -c1-300 >&2 || true
  done
}

fail() {
  printf 'FAIL: %s: %s\n' "$FK_TEST_NAME" "$*" >&2
  dump_logs
  exit 1
}

# Under set -e a command that fails unexpectedly ends the test; say where,
# so that the failure is not silent. (-E makes functions inherit the trap;
# command substitutions inherit it too, hence the subshell test.)
on_err() {
  [ "$BASH_SUBSHELL" = 0 ] || return 0
  printf 'FAIL: %s: unexpected exit status %s at %s line %s: %s\n' \
    "$FK_TEST_NAME" "$1" "$(basename "${BASH_SOURCE[1]:-$0}")" "$2" "$3" >&2
  dump_logs
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

# require_cmd CMD PACKAGE: skip (or fail under CI=true) when CMD is missing.
require_cmd() {
  local cmd=$1 package=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "${CI:-}" = "true" ]; then
    fail "$cmd is not installed (Debian package $package); CI must install every peer"
  fi
  skip "$cmd is not installed (apt-get install $package)"
}

# optional_cmd CMD PACKAGE: for a sub-case that needs CMD: true when it is
# there; when missing, says the sub-case is skipped and returns 1 (fails
# under CI=true, as require_cmd).
optional_cmd() {
  local cmd=$1 package=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "${CI:-}" = "true" ]; then
    fail "$cmd is not installed (Debian package $package); CI must install every peer"
  fi
  note "sub-case SKIPPED: $cmd is not installed (apt-get install $package)"
  return 1
}

# --- Setup and cleanup -------------------------------------------------------

# Stops every tracked process: SIGTERM first, SIGKILL for those still there
# after 5 seconds. Children of this shell are reaped; others (daemons a
# launcher started for us) are only polled.
stop_all() {
  local pid i running
  [ "${#FK_PIDS[@]}" -gt 0 ] || return 0
  for pid in "${FK_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for i in $(seq 50); do
    running=0
    for pid in "${FK_PIDS[@]}"; do
      alive "$pid" && running=1
    done
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  for pid in "${FK_PIDS[@]}"; do
    if alive "$pid"; then
      printf '%s: pid %s ignored SIGTERM; killing it\n' "$FK_TEST_NAME" "$pid" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  FK_PIDS=()
}

cleanup() {
  local status=$?
  trap - EXIT
  set +e
  stop_all
  [ -n "$T" ] && [ -d "$T" ] && rm -rf "$T"
  exit "$status"
}

# Makes the private directory $T and installs the cleanup trap. Unix socket
# paths must fit in 108 bytes, so $T stays short even with a long $TMPDIR.
make_tmpdir() {
  local base=${TMPDIR:-/tmp}
  [ "${#base}" -le 40 ] && [ -d "$base" ] && [ -w "$base" ] || base=/tmp
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  T=$(mktemp -d "$base/fk-$FK_TEST_NAME.XXXXXX")
}

# Checks the environment, makes $T, and checks the examples were built.
init_test() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  FK_SOURCE=${FK_SOURCE:-$(cd "$here/../.." && pwd)}
  FK_BUILD=${FK_BUILD:-$FK_SOURCE/build}
  export FK_SOURCE FK_BUILD
  make_tmpdir
  local ex
  for ex in hello echo authorizer filter; do
    [ -x "$FK_BUILD/examples/$ex" ] ||
      fail "$FK_BUILD/examples/$ex is missing: build first (FK_BUILD=$FK_BUILD)"
  done
}

# --- Processes ---------------------------------------------------------------

track_pid() { FK_PIDS+=("$1"); }

# start_bg NAME CMD [ARG...]: runs CMD in the background, standard output and
# error in $T/NAME.log, standard input from /dev/null. Sets STARTED_PID.
# (Not to be called in $(...): the process must be a child of the test shell.)
start_bg() {
  local name=$1
  shift
  "$@" </dev/null >>"$T/$name.log" 2>&1 &
  STARTED_PID=$!
  track_pid "$STARTED_PID"
}

# start_example NAME ADDRESS [ARG...]: starts $FK_BUILD/examples/NAME, its
# output in $T/NAME.log (shared by every instance of NAME).
start_example() {
  local name=$1
  shift
  start_bg "$name" "$FK_BUILD/examples/$name" "$@"
}

# stop_pid PID: stops one tracked process now (SIGTERM, wait up to 10 s,
# then SIGKILL). Returns its exit status when it is a child of this shell.
stop_pid() {
  local pid=$1 i status=0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || status=$?
  local kept=() p
  for p in "${FK_PIDS[@]}"; do
    [ "$p" = "$pid" ] || kept+=("$p")
  done
  FK_PIDS=("${kept[@]+"${kept[@]}"}")
  return "$status"
}

# alive PID: true while the process runs. A child that exited but was not
# reaped yet (a zombie) still answers kill -0, so it is checked for too.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# --- Waiting for servers -----------------------------------------------------

# socket_listening PATH: true when a Unix socket at PATH accepts connections.
# The file appears at bind(), a moment before listen(): ss tells them apart.
socket_listening() {
  [ -S "$1" ] || return 1
  command -v ss >/dev/null 2>&1 || return 0
  [ -n "$(ss -Hxl src "$1" 2>/dev/null)" ]
}

# wait_for_socket PATH [PID [SECONDS]]: waits until a Unix socket listens at
# PATH; fails when PID exits first or after SECONDS (default 30).
wait_for_socket() {
  local path=$1 pid=${2:-} secs=${3:-30} i
  for i in $(seq $((secs * 10))); do
    socket_listening "$path" && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then
      fail "process $pid exited before creating $path"
    fi
    sleep 0.1
  done
  fail "no socket at $path after ${secs}s"
}

# port_listening PORT: true when something listens on 127.0.0.1:PORT (or on
# every address). Uses ss when present; else a connection attempt.
port_listening() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# wait_for_port PORT [PID [SECONDS]]: as wait_for_socket, for TCP on loopback.
# Returns 1 (instead of failing) when PID exits first, so that a caller can
# retry with another port when the one picked was taken meanwhile.
wait_for_port() {
  local port=$1 pid=${2:-} secs=${3:-30} i
  for i in $(seq $((secs * 10))); do
    port_listening "$port" && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then
      return 1
    fi
    sleep 0.1
  done
  fail "nothing listens on port $port after ${secs}s"
}

# pick_port: sets PICKED_PORT to a TCP port in 20000-32767 (below Linux's
# ephemeral range, so no outgoing connection takes it) that nothing uses now.
# Another process may still take it before we bind: callers retry.
pick_port() {
  local i port
  for i in $(seq 200); do
    port=$((20000 + RANDOM % 12768))
    if command -v python3 >/dev/null 2>&1; then
      python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' \
        "$port" 2>/dev/null || continue
    else
      port_listening "$port" && continue
    fi
    PICKED_PORT=$port
    return 0
  done
  fail "found no free TCP port"
}

# start_example_tcp NAME [ARG...]: starts an example on 127.0.0.1:PORT with a
# free port, retrying with another one if it was taken. Sets STARTED_PID and
# PICKED_PORT.
start_example_tcp() {
  local name=$1 attempt
  shift
  for attempt in 1 2 3 4 5; do
    pick_port
    start_example "$name" "127.0.0.1:$PICKED_PORT" "$@"
    wait_for_port "$PICKED_PORT" "$STARTED_PID" && return 0
    stop_pid "$STARTED_PID" || true
    note "$name could not listen on port $PICKED_PORT; trying another"
  done
  fail "$name could not listen on any port"
}

# no_sanitizer_reports: fails when a log in $T holds an AddressSanitizer,
# LeakSanitizer, UndefinedBehaviorSanitizer or ThreadSanitizer report (the
# sanitizer builds run these tests too, and processes a launcher started
# are not our children: their exit status never reaches us).
no_sanitizer_reports() {
  local hits
  hits=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' \
    "$T"/*.log 2>/dev/null || true)
  [ -z "$hits" ] || fail "sanitizer reports in: $hits"
}

# --- Reading examples/echo's answers -----------------------------------------
# echo answers "NAME=VALUE" lines, a line "--", then the body byte for byte.

# echo_params FILE: the NAME=VALUE lines (FILE holds the response body, no
# HTTP or CGI headers).
echo_params() {
  local n
  n=$(grep -a -n -m1 -x -e '--' "$1" | cut -d: -f1)
  [ -n "$n" ] || fail "no '--' line in $1: not an echo response"
  head -n $((n - 1)) "$1"
}

# echo_body FILE: the bytes after the "--" line, unchanged (tail -n counts
# newlines and copies bytes, so binary bodies survive).
echo_body() {
  local n
  n=$(grep -a -n -m1 -x -e '--' "$1" | cut -d: -f1)
  [ -n "$n" ] || fail "no '--' line in $1: not an echo response"
  tail -n +$((n + 1)) "$1"
}

# cgi_headers FILE / cgi_content FILE: split a CGI response (what cgi-fcgi
# prints) at the first empty line; header lines keep no CR.
cgi_headers() {
  local n
  n=$(grep -a -n -m1 -E $'^\r?$' "$1" | cut -d: -f1)
  [ -n "$n" ] || fail "no end of headers in $1"
  head -n $((n - 1)) "$1" | tr -d '\r'
}
cgi_content() {
  local n
  n=$(grep -a -n -m1 -E $'^\r?$' "$1" | cut -d: -f1)
  [ -n "$n" ] || fail "no end of headers in $1"
  tail -n +$((n + 1)) "$1"
}

# keepalive_round TAG URL N [CURL-ARG...]: N requests to URL?TAG=I on one
# curl, hence one HTTP connection; each must answer 200, echo its own query
# string and carry a numeric X-Fcgikit-Conn. Bodies in $T/TAG.I;
# $T/TAG.codes has one line per request: status, new connections curl
# made, X-Fcgikit-Conn, X-Fcgikit-Inflight (curl 7.84 or later).
keepalive_round() {
  local tag=$1 url=$2 n=$3 i args=()
  shift 3
  for i in $(seq "$n"); do
    args+=(-o "$T/$tag.$i" "$url?$tag=$i")
  done
  curl -sS --max-time 120 "$@" \
    -w '%{http_code} %{num_connects} %header{x-fcgikit-conn} %header{x-fcgikit-inflight}\n' \
    "${args[@]}" >"$T/$tag.codes" || fail "keep-alive round $tag to $url: curl failed"
  [ "$(grep -c '^200 ' "$T/$tag.codes")" = "$n" ] ||
    fail "keep-alive round $tag to $url: not $n answers 200: $(tr '\n' ' ' <"$T/$tag.codes")"
  [ "$(awk '{s += $2} END {print s}' "$T/$tag.codes")" = 1 ] ||
    fail "keep-alive round $tag to $url: curl did not reuse its HTTP connection"
  [ "$(awk '$3 ~ /^[0-9]+$/' "$T/$tag.codes" | wc -l)" = "$n" ] ||
    fail "keep-alive round $tag to $url: not $n numeric X-Fcgikit-Conn headers: $(tr '\n' ' ' <"$T/$tag.codes")"
  for i in $(seq "$n"); do
    expect_line "$T/$tag.$i" "QUERY_STRING=$tag=$i" "keep-alive request $i to $url"
  done
}

# header FILE NAME: the value of response header NAME (case-insensitive) in
# a curl -D dump, without CR.
header() {
  tr -d '\r' <"$1" | awk -v n="$2" 'BEGIN {n = tolower(n)}
    {i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
       v = substr($0, i + 1); sub(/^ +/, "", v); print v; exit}}'
}

# request OUT STATUS CURL-ARG...: one request that must answer STATUS; the
# body in OUT, the headers in OUT.headers.
request() {
  local out=$1 want=$2 code
  shift 2
  code=$(curl -sS --max-time 60 -D "$out.headers" -o "$out" -w '%{http_code}' "$@") ||
    fail "curl $* failed"
  [ "$code" = "$want" ] || fail "curl $* answered $code, not $want"
}

# expect_line FILE LINE WHAT: fails unless FILE has LINE as a whole line.
expect_line() {
  grep -a -q -x -F -e "$2" "$1" || fail "$3: expected a line '$2' in $1"
}

# same_bytes EXPECTED ACTUAL WHAT: fails unless the two files are identical.
same_bytes() {
  cmp -s "$1" "$2" ||
    fail "$3: body differs ($(wc -c <"$1") bytes sent, $(wc -c <"$2") received; $(cmp "$1" "$2" 2>&1 | head -n1))"
}

# --- A minimal FastCGI client (python3) --------------------------------------

# fcgi_request ADDRESS ROLE BODYFILE [NAME=VALUE...]: sends one request with
# the given role (1 Responder, 2 Authorizer, 3 Filter) on a new connection,
# the params given and BODYFILE as STDIN ("" for none); writes the STDOUT
# stream to standard output and the STDERR stream to standard error.
# ADDRESS is a Unix socket path or host:port. Exit status: 0 when the request
# completes (FCGI_REQUEST_COMPLETE), 3 when END_REQUEST carries another
# protocolStatus (printed on standard error as "protocolStatus=N"), 4 when the
# application closes the connection first, 5 on a timeout (30 s).
fcgi_request() {
  python3 -c "$FK_PY_CLIENT" "$@"
}

FK_PY_CLIENT=$(cat <<'PY'
import socket, struct, sys

address, role, bodyfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
params = [a.split("=", 1) for a in sys.argv[4:]]

def record(rtype, content, rid=1):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content

def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

pairs = b"".join(length(len(n.encode())) + length(len(v.encode())) +
                 n.encode() + v.encode() for n, v in params)
body = open(bodyfile, "rb").read() if bodyfile else b""

out = record(1, struct.pack(">HB5x", role, 0))
for i in range(0, len(pairs), 65535):
    out += record(4, pairs[i:i + 65535])
out += record(4, b"")
for i in range(0, len(body), 65535):
    out += record(5, body[i:i + 65535])
out += record(5, b"")

if "/" in address:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(address)
else:
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
s.sendall(out)

buf = b""
def need(n):
    global buf
    while len(buf) < n:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            sys.stderr.write("fcgi_request: timed out\n")
            sys.exit(5)
        if not chunk:
            sys.stderr.write("fcgi_request: connection closed before END_REQUEST\n")
            sys.exit(4)
        buf += chunk
    data, buf = buf[:n], buf[n:]
    return data

while True:
    version, rtype, rid, clen, plen = struct.unpack(">BBHHBx", need(8))
    content = need(clen)
    need(plen)
    if rtype == 6:
        sys.stdout.buffer.write(content)
    elif rtype == 7:
        sys.stderr.buffer.write(content)
    elif rtype == 3:
        app_status, protocol_status = struct.unpack(">IB3x", content)
        sys.stdout.flush()
        if protocol_status != 0:
            sys.stderr.write("protocolStatus=%d\n" % protocol_status)
            sys.exit(3)
        sys.exit(0)
PY
)

# --- nginx -----------------------------------------------------------------------

# nginx_conf_head CONNECTIONS: the start of a private nginx.conf, up to
# and including "http {" and its temporary paths, all under $T/nginx
# (start_nginx makes it): the tests write the rest. As root, nginx's workers would run as
# nobody, which can reach neither the tests' root-owned sockets nor $T:
# they run as root too. A temporary path is named only for the modules this
# nginx has (nginx-light has no proxy, uwsgi or scgi).
nginx_conf_head() {
  local v kind
  [ "$(id -u)" = 0 ] && echo "user root root;"
  cat <<EOF
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx-error.log info;
events { worker_connections $1; }
http {
    access_log $T/nginx-access.log;
    client_body_temp_path $T/nginx/client_body;
    fastcgi_temp_path $T/nginx/fastcgi;
EOF
  v=$(nginx -V 2>&1)
  for kind in proxy uwsgi scgi; do
    case $v in
      *"--without-http_${kind}_module"*) ;;
      *) echo "    ${kind}_temp_path $T/nginx/$kind;" ;;
    esac
  done
}

# start_nginx: starts a private nginx on a free loopback port, in the
# foreground, its error log in $T/nginx-error.log. The test defines
# write_conf PORT, which writes $T/nginx/nginx.conf listening on PORT; a
# port taken meanwhile is retried with another. Sets HTTP_PORT, NGINX_PID.
start_nginx() {
  local attempt
  for attempt in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    mkdir -p "$T/nginx"
    write_conf "$HTTP_PORT"
    nginx -t -q -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx-error.log" ||
      fail "nginx rejects the test config ($T/nginx/nginx.conf)"
    start_bg nginx nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" \
      -e "$T/nginx-error.log" -g 'daemon off;'
    NGINX_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$NGINX_PID" && return 0
    stop_pid "$NGINX_PID" || true
    note "nginx could not listen on port $HTTP_PORT; trying another"
  done
  fail "nginx did not start"
}

# --- Apache ------------------------------------------------------------------------

# apache_conf_head PORT: the first lines of a private Apache httpd.conf:
# server root and runtime files under $T/apache, the error log in
# $T/apache-error.log, listening on 127.0.0.1:PORT; as root, the children
# run as www-data (or nobody), since Apache will not serve as root.
apache_conf_head() {
  cat <<EOF
ServerRoot "$T/apache"
DefaultRuntimeDir run
PidFile run/httpd.pid
ErrorLog "$T/apache-error.log"
LogLevel info
Listen 127.0.0.1:$1
ServerName 127.0.0.1
EOF
  if [ "$(id -u)" = 0 ]; then
    if getent passwd www-data >/dev/null; then
      printf 'User www-data\nGroup www-data\n'
    else
      printf 'User nobody\nGroup nogroup\n'
    fi
  fi
}

# --- Checks the web server tests share -------------------------------------------

# check_post_echo PREFIX LENGTH [CURL_ARG...]: POSTs $T/big.bin to
# $BASE/PREFIX/post.fcgi (examples/echo behind it) and checks the echo:
# REQUEST_METHOD, CONTENT_LENGTH=LENGTH (what the web server is expected
# to send: the file's size, or -1 where it streams a chunked body),
# CONTENT_TYPE, and the body byte for byte.
check_post_echo() {
  local prefix=$1 length=$2 out="$T/post-${1//\//}" code
  shift 2
  local what="POST via $prefix${*:+ ($*)}"
  code=$(curl -sS --max-time 120 -H 'Content-Type: application/octet-stream' "$@" \
           --data-binary "@$T/big.bin" -o "$out" -w '%{http_code}' \
           "$BASE$prefix/post.fcgi") || fail "curl $what failed"
  [ "$code" = 200 ] || fail "$what answered $code, not 200"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=POST" "$what"
  expect_line "$out.params" "CONTENT_LENGTH=$length" "$what"
  expect_line "$out.params" "CONTENT_TYPE=application/octet-stream" "$what"
  echo_body "$out" >"$out.body"
  same_bytes "$T/big.bin" "$out.body" "$what"
  rm -f "$out" "$out.body"
  ok "$what: $(wc -c <"$T/big.bin") bytes echoed byte for byte (CONTENT_LENGTH=$length)"
}

# app_conns unix SOCK | tcp PORT: one line per FastCGI connection the
# application has open (its end: the Unix socket inode, or the peer's
# port); app_conn_count: how many.
app_conns() {
  if [ "$1" = unix ]; then
    ss -Hxn state established src "$2" | awk '{print $(NF-2)}' | sort -u
  else
    ss -Htn state established "( sport = :$2 )" | awk '{print $NF}' | sort -u
  fi
}
app_conn_count() { app_conns "$@" | grep -c . || true; }

# --- Tests of many checks -----------------------------------------------------
# A failed check is reported and counted and the others still run, so that
# one run shows every misbehaviour; checks_done fails the test at the end
# when any did.
PROBLEMS=0
PROBLEMS_SEEN=0
problem() {
  printf 'FAIL: %s: %s\n' "$FK_TEST_NAME" "$*" >&2
  PROBLEMS=$((PROBLEMS + 1))
}

# passed WHAT: "ok: WHAT" when no check failed since the last passed call,
# else a line saying WHAT did not pass.
passed() {
  if [ "$PROBLEMS" = "$PROBLEMS_SEEN" ]; then
    ok "$*"
  else
    note "NOT ok ($((PROBLEMS - PROBLEMS_SEEN)) failed): $*"
  fi
  PROBLEMS_SEEN=$PROBLEMS
}

checks_done() {
  [ "$PROBLEMS" = 0 ] || fail "$PROBLEMS checks failed (each reported above)"
}

# snip FILE [BYTES]: the start of FILE on one line, for messages.
snip() { head -c "${2:-300}" "$1" 2>/dev/null | tr '\n\r' '|~' || true; }

# has_line FILE LINE WHAT / lacks_line FILE LINE WHAT: a whole line;
# has_text FILE TEXT WHAT: anywhere; has_re / lacks_re FILE ERE WHAT.
has_line() {
  grep -a -q -x -F -e "$2" "$1" || problem "$3: expected a line '$2' in ${1#"$T"/}: $(snip "$1")"
}
lacks_line() {
  if grep -a -q -x -F -e "$2" "$1"; then
    problem "$3: unexpected line '$2' in ${1#"$T"/}"
  fi
}
has_text() {
  grep -a -q -F -e "$2" "$1" || problem "$3: no '$2' in ${1#"$T"/}: $(snip "$1" 500)"
}
has_re() {
  grep -a -q -E -e "$2" "$1" || problem "$3: nothing matches /$2/ in ${1#"$T"/}: $(snip "$1")"
}
lacks_re() {
  if grep -a -q -E -e "$2" "$1"; then
    problem "$3: unexpected /$2/ in ${1#"$T"/}: $(grep -a -E -e "$2" "$1" | head -n 3 | tr '\n' '|')"
  fi
}

# Milliseconds, without starting a process (bash 5's EPOCHREALTIME).
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

# --- Self-test, when run directly --------------------------------------------

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  init_test
  [ -d "$T" ] || fail "no temporary directory"
  pick_port
  [ "$PICKED_PORT" -ge 20000 ] || fail "picked port $PICKED_PORT < 20000"
  start_bg sleeper sleep 300
  sleeper=$STARTED_PID
  alive "$sleeper" || fail "sleeper did not start"
  stop_pid "$sleeper" && fail "sleep killed by SIGTERM should not exit 0"
  alive "$sleeper" && fail "stop_pid left $sleeper running"
  # The cleanup on exit stops what is still tracked and removes $T.
  outer=$T
  bash -c '. "$1"; init_test; start_bg sleeper sleep 300; echo "$T $STARTED_PID" >"$2/info"' \
    inner "${BASH_SOURCE[0]}" "$outer" || fail "the inner test failed"
  read -r sub_t sub_pid <"$outer/info"
  [ -d "$sub_t" ] && fail "cleanup left $sub_t behind"
  if alive "$sub_pid"; then
    kill "$sub_pid"
    fail "cleanup left pid $sub_pid running"
  fi
  # CI=true turns a missing peer into a failure; otherwise it is a skip.
  status=0
  (CI=true require_cmd fk-no-such-command fk-no-such-package) >/dev/null 2>&1 || status=$?
  [ "$status" = 1 ] || fail "require_cmd under CI=true exited $status, not 1"
  status=0
  (CI= require_cmd fk-no-such-command fk-no-such-package) >"$T/skip.out" 2>&1 || status=$?
  [ "$status" = 77 ] || fail "require_cmd without CI exited $status, not 77"
  grep -q '^SKIPPED: .*apt-get install fk-no-such-package' "$T/skip.out" ||
    fail "require_cmd's skip message does not name the package"
  ok "helpers work"
fi
