#!/usr/bin/env bash
# The fcgikit command's own behaviour: request, ping and bench against our
# examples, each started here on a private socket, and against a small
# python3 application ("mock") whose answers are chosen per request.
#
#   request: the default CGI params, exactly; -X; -d DATA, -d @FILE and
#     -d @- (a pipe) with CONTENT_LENGTH and the body byte for byte; -H as
#     HTTP_NAME and as CONTENT_TYPE; -p replacing a default and adding a
#     param; -i; -v's record lines; --role authorizer (401, 403, 200; exit
#     1 with --fail) and the params an Authorizer must not get; --role
#     filter --data-file (the file upper-cased; FCGI_DATA_LENGTH,
#     FCGI_DATA_LAST_MOD and the DATA stream as sent); stdout and stderr
#     kept apart; every exit status: 3 nothing listens (one line), 4 the
#     application closes, 5 --max-time (and ABORT_REQUEST is sent) and
#     --connect-timeout, 6 a malformed record, 7 FCGI_UNKNOWN_ROLE /
#     FCGI_OVERLOADED / FCGI_CANT_MPX_CONN, 8 a non-zero appStatus with
#     --fail, 9 a missing body file, 2 bad usage; a 70000-byte param;
#     every ADDRESS form (path, ./path, unix:PATH, localhost:PORT,
#     127.0.0.1:PORT, [::1]:PORT when there is an IPv6 loopback, @name: an
#     abstract socket made by python3 and handed to echo as its fd 0).
#   ping: echo's FCGI_MAX_CONNS/FCGI_MAX_REQS/FCGI_MPXS_CONNS (the
#     defaults 1024/1024/1), --json, -q, exit 3, 5 and 6.
#   bench: -n with --json (counts, latency percentiles in order), -m with
#     the requests multiplexed on the wire, --no-keepalive (one request per
#     connection on the wire), -b, -p/-H on the wire, -d, a backend that
#     never answers (exit 1, requests counted as unanswered, with -d and
#     with -n), no progress line off a terminal and one on a terminal.
#   --help of every subcommand, --version, bad options.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd python3 python3
require_cmd ss iproute2

# The interpreter itself, once: a version manager's shim (pyenv) costs a
# second per start on a loaded machine, and this test starts python often.
# lib.sh's helpers call python3 too: they get the interpreter through PATH.
PY=$(python3 -c 'import sys; print(sys.executable)')
if [ -x "$PY" ]; then
  mkdir "$T/bin"
  ln -s "$PY" "$T/bin/python3"
  PATH=$T/bin:$PATH
else
  PY=python3
fi

FK=$FK_BUILD/bin/fcgikit
[ -x "$FK" ] || fail "$FK is missing: build first (FK_BUILD=$FK_BUILD)"
EX=$FK_BUILD/examples

# --- Checking ---------------------------------------------------------------------

# run NAME CMD [ARG...]: runs CMD with standard input from /dev/null (or
# from the file $RUN_STDIN, through a pipe), its standard output in
# $T/NAME.out and standard error in $T/NAME.err. RC is its exit status;
# 124 means it was still running after RUN_BOUND seconds (default 30: a
# "does not hang" bound, never a timing assertion) and was killed.
run() {
  local name=$1
  shift
  RUN_NAME=$name
  RUN_CMD="$*"
  RUN_LIMIT=${RUN_BOUND:-30}
  RC=0
  if [ -n "${RUN_STDIN:-}" ]; then
    # cat | ...: a real pipe, which has no length to read in advance.
    cat "$RUN_STDIN" | timeout -k 5 "$RUN_LIMIT" "$@" \
      >"$T/$name.out" 2>"$T/$name.err" || RC=$?
  else
    timeout -k 5 "$RUN_LIMIT" "$@" </dev/null \
      >"$T/$name.out" 2>"$T/$name.err" || RC=$?
  fi
}

# The last run, for messages.
last_run() {
  printf '`%s` exited %s; stderr: %s' "${RUN_CMD#"$FK_BUILD"/bin/}" "$RC" \
    "$(head -c 300 "$T/$RUN_NAME.err" | tr '\n' '|')"
}

# expect_rc WANT WHAT: the last run exited WANT.
expect_rc() {
  if [ "$RC" = 124 ]; then
    problem "$2: hangs: $(last_run) (killed after $RUN_LIMIT s)"
    return 1
  fi
  if [ "$RC" != "$1" ]; then
    problem "$2: expected exit $1: $(last_run)"
    return 1
  fi
}

# empty FILE WHAT
empty() {
  if [ -s "$1" ]; then
    problem "$2: ${1#"$T"/} is not empty: $(head -c 300 "$1" | tr '\n' '|')"
  fi
}

# same FILE1 FILE2 WHAT: the two files hold the same bytes.
same() {
  cmp -s "$1" "$2" ||
    problem "$3: ${1#"$T"/} ($(wc -c <"$1") bytes) and ${2#"$T"/} ($(wc -c <"$2") bytes) differ: $(cmp "$1" "$2" 2>&1 | head -n1)"
}

# one_line FILE WHAT: FILE holds exactly one line.
one_line() {
  local n
  n=$(wc -l <"$1")
  [ "$n" = 1 ] || problem "$2: ${1#"$T"/} has $n lines, not one: $(head -c 300 "$1" | tr '\n' '|')"
}

# The parts of an answer from echo printed without -i (the body only).
params_of() { echo_params "$T/$1.out" >"$T/$1.params"; }
body_of() { echo_body "$T/$1.out" >"$T/$1.body"; }

# --- The mock application and a record decoder (python3) -------------------------
#
#   mock.py silent ADDRESS LOG   accepts, records what it receives, never
#                                answers anything
#   mock.py scripted ADDRESS LOG answers FCGI_GET_VALUES with UNKNOWN_TYPE
#                                and each request, once its input is in,
#                                by its REQUEST_URI: /ok, /stderr,
#                                /appstatus, /overloaded, /cantmpx, /close,
#                                /badversion; closes the connection after
#                                a request without FCGI_KEEP_CONN
#   mock.py decode FILE          one line per record a client sent, then
#                                one line per param: "PARAM id NAME=VALUE"
#   mock.py stream FILE TYPE ID  the bytes of one stream (5 STDIN, 8 DATA)
#
# Connection N's bytes go to LOG.N (N from 1, in the order accepted).
cat >"$T/mock.py" <<'PY'
import itertools, socket, struct, sys, threading

NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST",
         4: "PARAMS", 5: "STDIN", 6: "STDOUT", 7: "STDERR", 8: "DATA",
         9: "GET_VALUES", 10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}

def records(data):
    pos = 0
    while pos + 8 <= len(data):
        v, t, rid, cl, pl = struct.unpack(">BBHHBx", data[pos:pos + 8])
        yield t, rid, data[pos + 8:pos + 8 + cl]
        pos += 8 + cl + pl

def pairs(b):
    def length(i):
        if b[i] < 128:
            return b[i], i + 1
        return struct.unpack(">I", b[i:i + 4])[0] & 0x7fffffff, i + 4
    i, out = 0, []
    while i < len(b):
        n, i = length(i)
        m, i = length(i)
        out.append((b[i:i + n].decode("latin-1"), b[i + n:i + n + m].decode("latin-1")))
        i += n + m
    return out

def record(t, rid, content=b"", version=1):
    pad = -len(content) % 8
    return struct.pack(">BBHHBx", version, t, rid, len(content), pad) + content + b"\0" * pad

def decode(path):
    data = open(path, "rb").read()
    params = {}
    for t, rid, c in records(data):
        line = "%s id=%d len=%d" % (NAMES.get(t, str(t)), rid, len(c))
        if t == 1:
            role, flags = struct.unpack(">HB5x", c)
            line += " role=%d flags=%d" % (role, flags)
        print(line)
        if t in (4, 9):
            params.setdefault((t, rid), b"")
            params[(t, rid)] += c
    for (t, rid), b in params.items():
        for n, v in pairs(b):
            print("%s %d %s=%s" % ("PARAM" if t == 4 else "VALUE", rid, n, v))

def stream(path, stype, sid):
    out = b"".join(c for t, rid, c in records(open(path, "rb").read())
                   if t == stype and rid == sid)
    sys.stdout.buffer.write(out)

OK = b"Content-Type: text/plain\r\n\r\nok\n"

def answer(conn, rid, uri):
    """Answers one request; False when the connection is to be closed."""
    def end(app=0, proto=0):
        return record(3, rid, struct.pack(">IB3x", app, proto))
    if uri == "/close":
        return False
    if uri == "/badversion":
        conn.sendall(record(6, rid, OK, version=9))
        return False
    out = b""
    if uri == "/stderr":
        out += record(7, rid, b"a warning from the application\n") + record(7, rid)
    if uri == "/overloaded":
        out += end(0, 2)
    elif uri == "/cantmpx":
        out += end(0, 1)
    else:
        out += record(6, rid, OK) + record(6, rid)
        out += end(3 if uri == "/appstatus" else 0, 0)
    conn.sendall(out)
    return True

def serve(mode, conn, log):
    buf, reqs = b"", {}
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = conn.recv(65536)
            if not d:
                raise EOFError
            log.write(d)
            log.flush()
            buf += d
        out, buf = buf[:n], buf[n:]
        return out
    try:
        while True:
            v, t, rid, cl, pl = struct.unpack(">BBHHBx", need(8))
            c = need(cl)
            need(pl)
            if mode == "silent":
                continue
            if t == 9:
                conn.sendall(record(11, 0, struct.pack(">B7x", 9)))
            elif t == 1:
                role, flags = struct.unpack(">HB5x", c)
                reqs[rid] = [role, flags, b""]
            elif rid in reqs:
                r = reqs[rid]
                if t == 4:
                    r[2] += c
                # The last stream of the role ended: the input is in.
                if cl == 0 and t == {1: 5, 2: 4, 3: 8}.get(r[0], 5):
                    del reqs[rid]
                    uri = dict(pairs(r[2])).get("REQUEST_URI", "/")
                    if not answer(conn, rid, uri) or not r[1] & 1:
                        return
    except (EOFError, OSError):
        pass
    finally:
        conn.close()
        log.close()

def main():
    if sys.argv[1] == "decode":
        return decode(sys.argv[2])
    if sys.argv[1] == "stream":
        return stream(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    mode, address, log = sys.argv[1:4]
    s = socket.socket(socket.AF_UNIX)
    s.bind(address)
    s.listen(128)
    for n in itertools.count(1):
        conn, _ = s.accept()
        f = open("%s.%d" % (log, n), "wb")
        threading.Thread(target=serve, args=(mode, conn, f), daemon=True).start()

main()
PY

mock() { "$PY" "$T/mock.py" "$@"; }

# conns PREFIX: the connection logs of a mock that received something, in
# the order the connections were accepted.
conns() {
  local n=1
  while [ -e "$1.$n" ]; do
    if [ -s "$1.$n" ]; then
      printf '%s\n' "$1.$n"
    fi
    n=$((n + 1))
  done
}

# --- Applications -------------------------------------------------------------------

start_example echo "$T/echo.sock"
ECHO=$STARTED_PID
wait_for_socket "$T/echo.sock" "$ECHO"
start_example authorizer "$T/auth.sock"
AUTH=$STARTED_PID
wait_for_socket "$T/auth.sock" "$AUTH"
start_example filter "$T/filter.sock"
FILTER=$STARTED_PID
wait_for_socket "$T/filter.sock" "$FILTER"
start_bg silent "$PY" "$T/mock.py" silent "$T/silent.sock" "$T/silent.conn"
SILENT=$STARTED_PID
wait_for_socket "$T/silent.sock" "$SILENT"
start_bg scripted "$PY" "$T/mock.py" scripted "$T/scripted.sock" "$T/scripted.conn"
SCRIPTED=$STARTED_PID
wait_for_socket "$T/scripted.sock" "$SCRIPTED"
E=$T/echo.sock

# --- The command itself: --version, --help, usage -------------------------------------

run version "$FK" --version
expect_rc 0 "fcgikit --version" || true
has_re "$T/version.out" '^fcgikit [0-9]+\.[0-9]+\.[0-9]+$' "fcgikit --version"
VERSION=$(sed -n 's/^fcgikit //p' "$T/version.out")

for cmd in "" request ping bench; do
  for flag in --help -h; do
    run help "$FK" $cmd $flag
    what="fcgikit${cmd:+ $cmd} $flag"
    expect_rc 0 "$what" || true
    has_re "$T/help.out" "^usage: fcgikit ${cmd:-COMMAND}" "$what prints its usage on stdout"
    empty "$T/help.err" "$what writes nothing on stderr"
  done
done
# Every option the source knows is in its subcommand's --help.
run help "$FK" request --help
for o in -X --request -d --data -H --header -p --param --role --data-file -i \
  --include -v --verbose -m --max-time --connect-timeout -f --fail; do
  grep -q -e " $o[ ,]" "$T/help.out" || problem "fcgikit request --help does not mention $o"
done
run help "$FK" ping --help
for o in -t --timeout -q --quiet --json; do
  grep -q -e " $o[ ,]" "$T/help.out" || problem "fcgikit ping --help does not mention $o"
done
run help "$FK" bench --help
for o in -c --connections -m --multiplex -d --duration -n --requests -t \
  --threads -b --body -p --param -H --header --no-keepalive --grace --json; do
  grep -q -e " $o[ ,]" "$T/help.out" || problem "fcgikit bench --help does not mention $o"
done
ok "--version, and --help / -h of the command and of every subcommand: exit 0, usage on stdout"

# usage_error WHAT ARG...: exit 2, "usage:" on stderr, nothing on stdout.
usage_error() {
  local what=$1
  shift
  run usage "$FK" "$@"
  expect_rc 2 "$what" || return 0
  has_re "$T/usage.err" '^usage: fcgikit' "$what: usage on stderr"
  empty "$T/usage.out" "$what: nothing on stdout"
}
# bad_value WHAT ARG...: exit 2 and one line on stderr naming the value.
bad_value() {
  local what=$1
  shift
  run usage "$FK" "$@"
  expect_rc 2 "$what" || return 0
  grep -q 'bad' "$T/usage.err" || problem "$what: stderr does not say what is bad: $(head -c 200 "$T/usage.err")"
  empty "$T/usage.out" "$what: nothing on stdout"
}
usage_error "fcgikit with no command"
usage_error "an unknown command" frobnicate "$E"
usage_error "request with no ADDRESS" request
usage_error "request with three operands" request "$E" / extra
usage_error "request with an unknown option" request --bogus "$E"
usage_error "request -X without its argument" request "$E" -X
usage_error "ping with no ADDRESS" ping
usage_error "ping with two addresses" ping "$E" "$E"
usage_error "ping with an unknown option" ping -z "$E"
usage_error "bench with no ADDRESS" bench
usage_error "bench with an unknown option" bench --bogus "$E"
bad_value "request -H without a colon" request -H nocolon "$E"
bad_value "request -p without '='" request -p NOEQUALS "$E"
bad_value "request -p with an empty name" request -p =x "$E"
bad_value "request --role with an unknown role" request --role bouncer "$E"
bad_value "request --max-time not a number" request --max-time soon "$E"
bad_value "request --max-time negative" request --max-time -1 "$E"
bad_value "ping -t 0" ping -t 0 "$E"
bad_value "ping -t not a number" ping -t x "$E"
bad_value "bench -c 0" bench -c 0 "$E"
bad_value "bench -n 0" bench -n 0 "$E"
bad_value "bench -m 65536" bench -m 65536 "$E"
bad_value "bench -d 0" bench -d 0 "$E"
bad_value "bench -b not a number" bench -b lots "$E"
run usage "$FK" request --data-file /etc/hostname "$E"
expect_rc 2 "request --data-file without --role filter" || true
ok "bad command lines: exit 2, usage or the bad value on stderr, nothing on stdout"

# --- request: params, body, headers ---------------------------------------------------

run get "$FK" request "$E" '/a/b.php?x=1&y=%20z'
if expect_rc 0 "a GET to echo"; then
  params_of get
  sort "$T/get.params" >"$T/get.sorted"
  sort >"$T/get.expected" <<EOF
GATEWAY_INTERFACE=CGI/1.1
SERVER_SOFTWARE=fcgikit/$VERSION
SERVER_PROTOCOL=HTTP/1.1
SERVER_NAME=localhost
SERVER_ADDR=127.0.0.1
SERVER_PORT=80
REMOTE_ADDR=127.0.0.1
REMOTE_PORT=0
REQUEST_METHOD=GET
REQUEST_URI=/a/b.php?x=1&y=%20z
SCRIPT_NAME=/a/b.php
QUERY_STRING=x=1&y=%20z
HTTP_HOST=localhost
EOF
  same "$T/get.expected" "$T/get.sorted" "the default params of a GET (sorted), exactly"
  body_of get
  empty "$T/get.body" "a GET has no body"
  grep -q -a -e 'Content-Type' -e '^Status:' "$T/get.out" &&
    problem "without -i the response headers are printed: $(head -n 3 "$T/get.out" | tr '\n' '|')"
  empty "$T/get.err" "a GET: stderr"
fi
run get-root "$FK" request "$E"
if expect_rc 0 "a GET with no URI"; then
  params_of get-root
  has_line "$T/get-root.params" "REQUEST_URI=/" "no URI means /"
  has_line "$T/get-root.params" "SCRIPT_NAME=/" "no URI means /"
  has_line "$T/get-root.params" "QUERY_STRING=" "no URI: an empty QUERY_STRING"
fi
ok "request: the default params, exact (GATEWAY_INTERFACE, SERVER_*, REMOTE_*, REQUEST_*, SCRIPT_NAME, QUERY_STRING, HTTP_HOST)"

run delete "$FK" request -X DELETE "$E" /thing
expect_rc 0 "request -X DELETE" && params_of delete &&
  has_line "$T/delete.params" "REQUEST_METHOD=DELETE" "-X DELETE"
run lit "$FK" request -d 'a=1&b=two words' "$E" /form
if expect_rc 0 "request -d DATA"; then
  params_of lit
  body_of lit
  has_line "$T/lit.params" "REQUEST_METHOD=POST" "-d: POST by default"
  has_line "$T/lit.params" "CONTENT_LENGTH=15" "-d DATA"
  has_line "$T/lit.params" "CONTENT_TYPE=application/x-www-form-urlencoded" "-d DATA: a form by default"
  printf 'a=1&b=two words' >"$T/lit.expected"
  same "$T/lit.expected" "$T/lit.body" "-d DATA: the body"
fi
run put "$FK" request -X PUT -d x "$E"
expect_rc 0 "request -X PUT -d x" && params_of put &&
  has_line "$T/put.params" "REQUEST_METHOD=PUT" "-X PUT with a body"

# Binary bodies, NUL bytes included, over several STDIN records.
head -c 200000 /dev/urandom >"$T/200k.bin"
run file "$FK" request -d "@$T/200k.bin" "$E" /upload
if expect_rc 0 "request -d @FILE"; then
  params_of file
  body_of file
  has_line "$T/file.params" "CONTENT_LENGTH=200000" "-d @FILE"
  same "$T/200k.bin" "$T/file.body" "-d @FILE: 200000 random bytes echoed"
fi
head -c 150000 /dev/urandom >"$T/150k.bin"
RUN_STDIN=$T/150k.bin run pipe "$FK" request -d @- "$E" /upload
if expect_rc 0 "request -d @- from a pipe"; then
  params_of pipe
  body_of pipe
  has_line "$T/pipe.params" "CONTENT_LENGTH=150000" "-d @- from a pipe"
  same "$T/150k.bin" "$T/pipe.body" "-d @- from a pipe: 150000 random bytes echoed"
fi
: >"$T/empty.bin"
run empty-file "$FK" request -d "@$T/empty.bin" "$E"
expect_rc 0 "request -d @EMPTYFILE" && params_of empty-file &&
  has_line "$T/empty-file.params" "CONTENT_LENGTH=0" "-d @EMPTYFILE"
run nofile "$FK" request -d "@$T/no-such-file" "$E"
if expect_rc 9 "request -d @MISSINGFILE (a local error)"; then
  one_line "$T/nofile.err" "request -d @MISSINGFILE"
  has_re "$T/nofile.err" "no-such-file" "request -d @MISSINGFILE names the file"
fi
ok "request: -X, -d DATA / @FILE / @- (pipe) with CONTENT_LENGTH and the body byte for byte; a missing file exits 9"

run hdr "$FK" request -H 'X-Foo: bar' -H 'Accept-Language:  en, fr' \
  -H 'Content-Type: text/x-mine' -d 'z' "$E"
if expect_rc 0 "request -H"; then
  params_of hdr
  has_line "$T/hdr.params" "HTTP_X_FOO=bar" "-H 'X-Foo: bar'"
  has_line "$T/hdr.params" "HTTP_ACCEPT_LANGUAGE=en, fr" "-H 'Accept-Language:  en, fr'"
  has_line "$T/hdr.params" "CONTENT_TYPE=text/x-mine" "-H 'Content-Type: ...'"
  lacks_line "$T/hdr.params" "CONTENT_TYPE=application/x-www-form-urlencoded" "-H 'Content-Type' replaces the default"
  lacks_line "$T/hdr.params" "HTTP_CONTENT_TYPE=text/x-mine" "-H 'Content-Type' is not HTTP_CONTENT_TYPE"
fi
run prm "$FK" request -p SERVER_NAME=example.org -p X_NEW=1 -p EMPTY= \
  -p 'EQ=a=b' -p REQUEST_METHOD=OPTIONS "$E"
if expect_rc 0 "request -p"; then
  params_of prm
  has_line "$T/prm.params" "SERVER_NAME=example.org" "-p replacing a default"
  lacks_line "$T/prm.params" "SERVER_NAME=localhost" "-p replacing a default"
  [ "$(grep -c '^SERVER_NAME=' "$T/prm.params")" = 1 ] || problem "-p SERVER_NAME: sent twice"
  has_line "$T/prm.params" "REQUEST_METHOD=OPTIONS" "-p REQUEST_METHOD"
  has_line "$T/prm.params" "X_NEW=1" "-p adding a param"
  has_line "$T/prm.params" "EMPTY=" "-p with an empty value"
  has_line "$T/prm.params" "EQ=a=b" "-p with '=' in the value"
  [ "$(wc -l <"$T/prm.params")" = 16 ] || problem "-p: 13 defaults + 3 new params expected, got $(wc -l <"$T/prm.params")"
fi
# A param longer than one record's 65535 bytes.
big=$(head -c 70000 /dev/zero | tr '\0' 'v')
run big "$FK" request -p "BIG=$big" "$E"
if expect_rc 0 "request -p with a 70000-byte value"; then
  params_of big
  grep -q -x -F -e "BIG=$big" "$T/big.params" ||
    problem "request -p with a 70000-byte value: it did not come back whole ($(grep -c '^BIG=' "$T/big.params") BIG lines)"
fi
ok "request: -H as HTTP_NAME and Content-Type as CONTENT_TYPE; -p replaces a default, adds new params (one of 70000 bytes)"

run inc "$FK" request -i "$E" /inc
if expect_rc 0 "request -i"; then
  cgi_headers "$T/inc.out" >"$T/inc.headers"
  has_line "$T/inc.headers" "Status: 200 OK" "-i"
  has_line "$T/inc.headers" "Content-Type: text/plain" "-i"
  has_re "$T/inc.headers" '^X-Fcgikit-Conn: [0-9]+$' "-i"
  has_line "$T/inc.headers" "X-Fcgikit-Inflight: 1" "-i"
  cgi_content "$T/inc.out" >"$T/inc.content"
  has_line "$T/inc.content" "REQUEST_URI=/inc" "-i: the body after the headers"
fi

run verb "$FK" request -v "$E" /verbose
if expect_rc 0 "request -v"; then
  for l in '> FCGI_BEGIN_REQUEST id=1 content=8 padding=0' '> FCGI_PARAMS id=1 content=0 padding=0' \
    '> FCGI_STDIN id=1 content=0 padding=0' '< FCGI_STDOUT id=1 content=0 padding=0' \
    '< FCGI_END_REQUEST id=1 content=8 padding=0'; do
    has_line "$T/verb.err" "$l" "-v on stderr"
  done
  has_re "$T/verb.err" '^< FCGI_STDOUT id=1 content=[1-9]' "-v on stderr"
  has_re "$T/verb.err" '^\* END_REQUEST appStatus=0 protocolStatus=FCGI_REQUEST_COMPLETE$' "-v on stderr"
  grep -q -a -e '^[<>] FCGI' "$T/verb.out" && problem "-v: record lines on stdout"
  params_of verb
  has_line "$T/verb.params" "REQUEST_URI=/verbose" "-v: the body still on stdout"
fi
ok "request: -i prints the response headers, -v the records exchanged on stderr"

# stdout and stderr of the application, apart; exit statuses from the mock.
M=$T/scripted.sock
run err "$FK" request "$M" /stderr
if expect_rc 0 "an application writing on FCGI_STDERR"; then
  printf 'ok\n' >"$T/err.expected"
  same "$T/err.expected" "$T/err.out" "FCGI_STDOUT on stdout (no headers)"
  printf 'a warning from the application\n' >"$T/err.expected"
  same "$T/err.expected" "$T/err.err" "FCGI_STDERR on stderr"
fi
run app "$FK" request "$M" /appstatus
expect_rc 0 "appStatus 3 without --fail" || true
run app "$FK" request --fail "$M" /appstatus
expect_rc 8 "appStatus 3 with --fail" && has_re "$T/app.err" 'status 3' "appStatus 3 with --fail"
run over "$FK" request "$M" /overloaded
expect_rc 7 "FCGI_OVERLOADED" && has_re "$T/over.err" 'FCGI_OVERLOADED' "FCGI_OVERLOADED named"
run cantmpx "$FK" request "$M" /cantmpx
expect_rc 7 "FCGI_CANT_MPX_CONN" && has_re "$T/cantmpx.err" 'FCGI_CANT_MPX_CONN' "FCGI_CANT_MPX_CONN named"
run close "$FK" request "$M" /close
expect_rc 4 "the application closes the connection before END_REQUEST" &&
  one_line "$T/close.err" "connection lost"
run badv "$FK" request "$M" /badversion
expect_rc 6 "a record with version 9" && one_line "$T/badv.err" "a protocol error"
run role "$FK" request --role authorizer "$E"
expect_rc 7 "--role authorizer to echo (FCGI_UNKNOWN_ROLE)" &&
  has_re "$T/role.err" 'FCGI_UNKNOWN_ROLE' "--role authorizer to echo"
ok "request: exit 4 connection lost, 6 protocol error, 7 overloaded / cannot multiplex / unknown role, 8 appStatus with --fail; FCGI_STDERR on stderr"

# --- request: Authorizer and Filter --------------------------------------------------

A=$T/auth.sock
run a-none "$FK" request --role authorizer -i "$A" /private
if expect_rc 0 "an Authorizer's 401 without --fail"; then
  cgi_headers "$T/a-none.out" >"$T/a-none.headers"
  has_line "$T/a-none.headers" "Status: 401 Unauthorized" "no credentials"
  has_re "$T/a-none.headers" '^WWW-Authenticate: Basic' "no credentials"
fi
run a-none "$FK" request --role authorizer --fail "$A" /private
expect_rc 1 "an Authorizer's 401 with --fail" && one_line "$T/a-none.err" "401 with --fail"
run a-wrong "$FK" request --role authorizer -i --fail \
  -H "Authorization: Basic $(printf fcgikit:wrong | base64)" "$A" /private
expect_rc 1 "an Authorizer's 403 with --fail" && cgi_headers "$T/a-wrong.out" >"$T/a-wrong.headers" &&
  has_line "$T/a-wrong.headers" "Status: 403 Forbidden" "wrong credentials"
run a-right "$FK" request --role authorizer -i --fail \
  -H "Authorization: Basic $(printf fcgikit:secret | base64)" "$A" /private
if expect_rc 0 "an Authorizer's 200 with --fail"; then
  cgi_headers "$T/a-right.out" >"$T/a-right.headers"
  has_line "$T/a-right.headers" "Status: 200 OK" "right credentials"
  has_line "$T/a-right.headers" "Variable-AUTH_USER: fcgikit" "right credentials"
  has_line "$T/a-right.headers" "Variable-AUTH_METHOD: basic" "right credentials"
fi
# On the wire (spec 6.3): role 2, and no CONTENT_LENGTH or SCRIPT_NAME.
n0=$(conns "$T/scripted.conn" | wc -l)
run a-wire "$FK" request --role authorizer -d secret "$M" /ok
if expect_rc 0 "an Authorizer request to the mock"; then
  rec=$(conns "$T/scripted.conn" | tail -n1)
  mock decode "$rec" >"$T/a-wire.dec"
  has_re "$T/a-wire.dec" '^BEGIN_REQUEST id=1 len=8 role=2 flags=0$' "--role authorizer: role 2 on the wire"
  has_line "$T/a-wire.dec" "PARAM 1 REQUEST_URI=/ok" "--role authorizer"
  for p in CONTENT_LENGTH SCRIPT_NAME; do
    grep -q "^PARAM 1 $p=" "$T/a-wire.dec" && problem "--role authorizer sends $p (spec 6.3 says it must not)"
  done
fi
ok "request --role authorizer: 401, 403 (exit 1 with --fail), 200 with Variable- headers; no CONTENT_LENGTH/SCRIPT_NAME"

printf 'hello, filter\nsecond line\n' >"$T/page.txt"
run filt "$FK" request --role filter --data-file "$T/page.txt" "$T/filter.sock" /page.txt
if expect_rc 0 "request --role filter --data-file"; then
  printf 'HELLO, FILTER\nSECOND LINE\n' >"$T/filt.expected"
  same "$T/filt.expected" "$T/filt.out" "the filter's answer: the file upper-cased"
fi
run filt "$FK" request --role filter --data-file "$T/page.txt" -i "$T/filter.sock"
expect_rc 0 "request --role filter -i" && cgi_headers "$T/filt.out" >"$T/filt.headers" &&
  has_line "$T/filt.headers" "X-Data-Last-Mod: $(stat -c %Y "$T/page.txt")" "FCGI_DATA_LAST_MOD is the file's mtime"
# The filter checks FCGI_DATA_LENGTH against what arrived: a wrong one is a 502.
run filt-bad "$FK" request --role filter --data-file "$T/page.txt" -p FCGI_DATA_LENGTH=999 --fail "$T/filter.sock"
expect_rc 1 "a wrong FCGI_DATA_LENGTH (-p) makes the filter answer 502" || true
# On the wire: role 3, FCGI_DATA_LENGTH, FCGI_DATA_LAST_MOD, the DATA stream.
run f-wire "$FK" request --role filter --data-file "$T/200k.bin" "$M" /ok
if expect_rc 0 "a Filter request to the mock"; then
  rec=$(conns "$T/scripted.conn" | tail -n1)
  mock decode "$rec" >"$T/f-wire.dec"
  has_re "$T/f-wire.dec" '^BEGIN_REQUEST id=1 len=8 role=3 flags=0$' "--role filter: role 3 on the wire"
  has_line "$T/f-wire.dec" "PARAM 1 FCGI_DATA_LENGTH=200000" "--role filter --data-file"
  has_line "$T/f-wire.dec" "PARAM 1 FCGI_DATA_LAST_MOD=$(stat -c %Y "$T/200k.bin")" "--role filter --data-file"
  mock stream "$rec" 8 1 >"$T/f-wire.data"
  same "$T/200k.bin" "$T/f-wire.data" "--data-file: the FCGI_DATA stream"
fi
ok "request --role filter --data-file: the file upper-cased; FCGI_DATA_LENGTH, FCGI_DATA_LAST_MOD and the DATA stream exact"

# --- request: timeouts and connection failures ---------------------------------------

S=$T/silent.sock
RUN_BOUND=20 run slow "$FK" request -v --max-time 0.5 "$S"
if expect_rc 5 "request --max-time 0.5 to an application that never answers"; then
  grep -v -e '^[<>*] ' "$T/slow.err" >"$T/slow.msg" || true
  one_line "$T/slow.msg" "--max-time: one line besides -v's"
  has_re "$T/slow.err" 'timed out' "--max-time: says it timed out"
  has_re "$T/slow.err" '^> FCGI_ABORT_REQUEST id=1' "--max-time: ABORT_REQUEST is sent"
  rec=$(conns "$T/silent.conn" | tail -n1)
  mock decode "$rec" >"$T/slow.dec"
  has_re "$T/slow.dec" '^ABORT_REQUEST id=1' "--max-time: ABORT_REQUEST reached the application"
fi

# nothing: exit 3, one line naming the address, for every kind of address.
nothing() {
  local what=$1
  shift
  run nothing "$FK" request "$@"
  expect_rc 3 "request to $what where nothing listens" || return 0
  one_line "$T/nothing.err" "request to $what where nothing listens"
  empty "$T/nothing.out" "request to $what where nothing listens"
}
nothing "a missing socket file" "$T/nobody.sock"
pick_port
nothing "a closed TCP port" "127.0.0.1:$PICKED_PORT"
nothing "an abstract name nobody has" "@fk-nobody-$RANDOM$RANDOM"
nothing "an unparsable address" "no-port-here"
# A socket file with nobody behind it.
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
nothing "a stale socket file" "$T/stale.sock"
# A Unix socket whose listen queue is full (backlog 0, one connection held
# and never accepted) makes connect(2) say EAGAIN: --connect-timeout ends it.
start_bg full "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
held = socket.socket(socket.AF_UNIX)
held.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(3600)' "$T/full.sock"
FULL=$STARTED_PID
for i in $(seq 300); do
  grep -q ready "$T/full.log" 2>/dev/null && break
  alive "$FULL" || fail "the full listener exited: $(cat "$T/full.log")"
  sleep 0.1
done
grep -q ready "$T/full.log" || fail "the full listener did not start in 30 s"
RUN_BOUND=20 run full "$FK" request --connect-timeout 0.5 "$T/full.sock"
expect_rc 5 "request --connect-timeout 0.5 to a socket whose listen queue is full" &&
  one_line "$T/full.err" "--connect-timeout"
stop_pid "$FULL" || true
rm -f "$T/full.log"
ok "request: --max-time exits 5 and aborts the request; --connect-timeout exits 5; nothing listening exits 3 with one line"

# --- ADDRESS forms --------------------------------------------------------------------

# via WHAT ADDRESS: echo answers through ADDRESS.
via() {
  run via "$FK" request "$2" /via
  expect_rc 0 "request via $1 ($2)" || return 0
  params_of via
  has_line "$T/via.params" "REQUEST_URI=/via" "request via $1"
}
via "a path" "$E"
via "unix:PATH" "unix:$E"
(cd "$T" && timeout 30 "$FK" request ./echo.sock /via >"$T/rel.out" 2>&1) ||
  problem "request via a relative path ./echo.sock failed: $(head -c 200 "$T/rel.out")"
start_example_tcp echo
ECHO_TCP=$STARTED_PID
via "TCP" "127.0.0.1:$PICKED_PORT"
via "TCP by name" "localhost:$PICKED_PORT"

V6_FORM=""
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  started=0
  for attempt in 1 2 3 4 5; do
    pick_port
    start_example echo "[::1]:$PICKED_PORT"
    if wait_for_port "$PICKED_PORT" "$STARTED_PID"; then
      started=1
      break
    fi
    stop_pid "$STARTED_PID" || true
  done
  [ "$started" = 1 ] || fail "echo could not listen on [::1]"
  ECHO_V6=$STARTED_PID
  via "IPv6" "[::1]:$PICKED_PORT"
  V6_FORM=", [::1]:PORT"
  run ping6 "$FK" ping "[::1]:$PICKED_PORT"
  expect_rc 0 "ping [::1]:PORT" || true
else
  note "sub-case SKIPPED: no IPv6 loopback (::1), so no [::1]:PORT"
fi

# An abstract socket: fk_server_listen() does not take @name, but echo with
# no ADDRESS serves the listening socket it inherits as fd 0; python3 makes
# that socket and becomes echo (same pid, stopped like the others).
ABSTRACT=fk-cli-${T##*.}
start_bg echo-abstract "$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("\0" + sys.argv[1])
s.listen(64)
os.dup2(s.fileno(), 0)
os.execv(sys.argv[2], [sys.argv[2]])' "$ABSTRACT" "$EX/echo"
ECHO_ABS=$STARTED_PID
for i in $(seq 300); do
  [ -n "$(ss -Hxl src "@$ABSTRACT" 2>/dev/null)" ] && break
  alive "$ECHO_ABS" || fail "echo on an abstract socket exited: $(cat "$T/echo-abstract.log")"
  sleep 0.1
done
[ -n "$(ss -Hxl src "@$ABSTRACT" 2>/dev/null)" ] || fail "no abstract socket @$ABSTRACT after 30 s"
via "an abstract socket" "@$ABSTRACT"
run pinga "$FK" ping "@$ABSTRACT"
expect_rc 0 "ping @name" || true
ok "ADDRESS forms: path, ./relative, unix:PATH, 127.0.0.1:PORT, localhost:PORT$V6_FORM, @abstract"

# --- ping ------------------------------------------------------------------------------

run ping "$FK" ping "$E"
if expect_rc 0 "ping echo"; then
  printf '%s\n' FCGI_MAX_CONNS=1024 FCGI_MAX_REQS=64 FCGI_MPXS_CONNS=1 | sort >"$T/ping.expected"
  sort "$T/ping.out" >"$T/ping.sorted"
  same "$T/ping.expected" "$T/ping.sorted" "ping: echo's advertised values (the defaults)"
  empty "$T/ping.err" "ping: stderr"
fi
run pingj "$FK" ping --json "$E"
if expect_rc 0 "ping --json"; then
  "$PY" -m json.tool "$T/pingj.out" >/dev/null 2>&1 || problem "ping --json: not JSON: $(cat "$T/pingj.out")"
  "$PY" - "$T/pingj.out" <<'PY' || problem "ping --json: wrong fields: $(cat "$T/pingj.out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["answered"] is True and d["ms"] >= 0
assert (d["FCGI_MAX_CONNS"], d["FCGI_MAX_REQS"], d["FCGI_MPXS_CONNS"]) == ("1024", "64", "1")
PY
fi
run pingq "$FK" ping -q "$E"
expect_rc 0 "ping -q" && empty "$T/pingq.out" "ping -q: stdout" && empty "$T/pingq.err" "ping -q: stderr"
run pingn "$FK" ping "$T/nobody.sock"
expect_rc 3 "ping where nothing listens" && one_line "$T/pingn.err" "ping where nothing listens"
run pingn "$FK" ping -q "$T/nobody.sock"
expect_rc 3 "ping -q where nothing listens" && empty "$T/pingn.out" "ping -q" && empty "$T/pingn.err" "ping -q"
run pingnj "$FK" ping --json "$T/nobody.sock"
if expect_rc 3 "ping --json where nothing listens"; then
  "$PY" -c 'import json, sys; assert json.load(open(sys.argv[1]))["answered"] is False' "$T/pingnj.out" ||
    problem "ping --json where nothing listens: no {\"answered\":false} object: $(cat "$T/pingnj.out")"
fi
RUN_BOUND=20 run pings "$FK" ping -t 0.5 "$S"
expect_rc 5 "ping -t 0.5 to an application that never answers" && one_line "$T/pings.err" "ping timeout"
run pingu "$FK" ping "$M"
expect_rc 6 "ping an application that answers FCGI_UNKNOWN_TYPE" &&
  has_re "$T/pingu.err" 'GET_VALUES' "ping to an application that does not know GET_VALUES"
run pinga "$FK" ping "$A"
expect_rc 0 "ping the authorizer" || true
ok "ping: echo's FCGI_MAX_CONNS=1024 FCGI_MAX_REQS=64 FCGI_MPXS_CONNS=1, --json, -q; exit 3, 5 and 6"

# --- bench ------------------------------------------------------------------------------

# bench_json NAME CHECK...: the JSON report in $T/NAME.out, checked by python3
# expressions over d (the object) and lat (its latency_ms); each one that
# does not hold is a problem.
bench_json() {
  local name=$1 failed
  shift
  failed=$("$PY" - "$T/$name.out" "$@" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    lat = d["latency_ms"]
except Exception as e:
    print("not a JSON report (%s)" % e)
    sys.exit(0)
for check in sys.argv[2:]:
    try:
        held = eval(check)
    except Exception as e:
        held = False
    if not held:
        print(check)
PY
  ) || failed="python3 failed"
  if [ -n "$failed" ]; then
    while IFS= read -r check; do
      problem "bench $name: the JSON report fails '$check': $(head -c 600 "$T/$name.out")"
    done <<<"$failed"
  fi
}

run b-n "$FK" bench -n 500 -c 4 --json "$E"
if expect_rc 0 "bench -n 500 -c 4 --json"; then
  empty "$T/b-n.err" "bench --json: stderr"
  bench_json b-n 'd["requests"] == 500' 'd["errors"] == 0' 'd["unanswered"] == 0' \
    'd["connections"] == 4 and d["depth"] == 1 and d["keepalive"] is True' \
    'all(k in lat for k in ("p50", "p90", "p99", "max"))' \
    '0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] and lat["max"] > 0' \
    'd["requests_per_second"] > 0 and d["bytes"] > 0' \
    'sorted(d["errors_by_kind"]) == sorted(["connect", "closed", "protocol", "overloaded", "unknown_role", "cant_mpx_conn", "app_status"])' \
    'all(v == 0 for v in d["errors_by_kind"].values())'
fi
run b-m "$FK" bench -n 2000 -m 4 -c 2 --json "$E"
expect_rc 0 "bench -m 4 -c 2 against echo (which multiplexes)" &&
  bench_json b-m 'd["requests"] == 2000 and d["errors"] == 0 and d["unanswered"] == 0 and d["depth"] == 4'
run b-k "$FK" bench --no-keepalive -n 200 --json "$E"
expect_rc 0 "bench --no-keepalive -n 200" &&
  bench_json b-k 'd["requests"] == 200 and d["errors"] == 0 and d["unanswered"] == 0 and d["keepalive"] is False'
run b-b "$FK" bench -b 100000 -n 100 -c 4 --json "$E"
# echo sends the body back: each answer is more than the 100000 bytes sent.
expect_rc 0 "bench -b 100000 against echo" &&
  bench_json b-b 'd["requests"] == 100 and d["errors"] == 0 and d["bytes"] > 100 * 100000'
run b-d "$FK" bench -d 1 -c 2 "$E"
if expect_rc 0 "bench -d 1 (the text report)"; then
  empty "$T/b-d.err" "bench, stderr not a terminal: no progress line"
  has_re "$T/b-d.out" '^  requests +[1-9][0-9]* answered in [0-9.]+ s, 0 errors, 0 unanswered$' "bench report"
  has_re "$T/b-d.out" '^  throughput +[0-9.]+ requests/s' "bench report"
  has_re "$T/b-d.out" '^  latency +p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms$' "bench report"
  has_re "$T/b-d.out" '^  histogram$' "bench report"
fi
run b-t "$FK" bench -n 400 -c 4 -t 2 --json "$E"
expect_rc 0 "bench -t 2" && bench_json b-t 'd["requests"] == 400 and d["threads"] == 2 and d["errors"] == 0'
ok "bench against echo: -n/-c --json counts and ordered percentiles, -m 4, --no-keepalive, -b 100000, -d 1, -t 2"

# On the wire, with the mock: -m 4 puts 4 requests in flight on one
# connection (ids 1-4, FCGI_KEEP_CONN) before any answer; a backend that
# never answers leaves them unanswered, and bench exits 1.
RUN_BOUND=20 run b-hang "$FK" bench -d 0.5 --grace 0.5 -c 1 -m 4 --no-get-values --json "$S"
if expect_rc 1 "bench -d 0.5 --grace 0.5 against an application that never answers"; then
  bench_json b-hang 'd["unanswered"] == 4 and d["requests"] == 0'
  rec=$(conns "$T/silent.conn" | tail -n1)
  mock decode "$rec" >"$T/b-hang.dec"
  grep '^BEGIN_REQUEST' "$T/b-hang.dec" >"$T/b-hang.begins" || true
  printf 'BEGIN_REQUEST id=%d len=8 role=1 flags=1\n' 1 2 3 4 >"$T/b-hang.expected"
  same "$T/b-hang.expected" "$T/b-hang.begins" "bench -m 4: four requests in flight on one connection"
fi
RUN_BOUND=20 run b-hangt "$FK" bench -d 0.5 --grace 0.2 -c 2 "$S"
expect_rc 1 "bench -d 0.5 (text) against an application that never answers" &&
  has_re "$T/b-hangt.out" '^  warning +2 requests got no answer' "bench text report: unanswered requests"
# With -n a backend that never answers must not make the run hang:
# --timeout ends it, and what it holds is reported as unanswered.
RUN_BOUND=6 run b-hangn "$FK" bench -n 10 --timeout 1 --grace 0.5 -c 2 --json "$S"
expect_rc 1 "bench -n 10 --timeout 1 against an application that never answers" &&
  bench_json b-hangn 'd["unanswered"] > 0'

n0=$(conns "$T/scripted.conn" | wc -l)
run b-wire "$FK" bench --no-keepalive -n 6 -c 2 -p X_BENCH=yes -H 'X-Foo: bar' --json "$M" /ok
if expect_rc 0 "bench --no-keepalive against the mock"; then
  conns "$T/scripted.conn" | tail -n +$((n0 + 1)) >"$T/b-wire.conns"
  [ "$(wc -l <"$T/b-wire.conns")" = 6 ] ||
    problem "bench --no-keepalive -n 6: $(wc -l <"$T/b-wire.conns") connections carried requests, not 6"
  while read -r rec; do
    mock decode "$rec" >"$T/b-wire.dec"
    [ "$(grep -c '^BEGIN_REQUEST id=1 len=8 role=1 flags=0$' "$T/b-wire.dec")" = 1 ] &&
      [ "$(grep -c '^BEGIN_REQUEST' "$T/b-wire.dec")" = 1 ] ||
      problem "bench --no-keepalive: not one request without FCGI_KEEP_CONN on ${rec#"$T"/}: $(grep BEGIN "$T/b-wire.dec" | tr '\n' '|')"
  done <"$T/b-wire.conns"
  has_line "$T/b-wire.dec" "PARAM 1 X_BENCH=yes" "bench -p"
  has_line "$T/b-wire.dec" "PARAM 1 HTTP_X_FOO=bar" "bench -H"
  has_line "$T/b-wire.dec" "PARAM 1 REQUEST_URI=/ok" "bench URI"
  has_line "$T/b-wire.dec" "PARAM 1 REQUEST_METHOD=GET" "bench without -b: GET"
fi
run b-post "$FK" bench -n 3 -c 1 -b 1000 --json "$M" /ok
if expect_rc 0 "bench -b 1000 against the mock"; then
  rec=$(conns "$T/scripted.conn" | tail -n1)
  mock decode "$rec" >"$T/b-post.dec"
  [ "$(grep -c '^BEGIN_REQUEST id=1 len=8 role=1 flags=1$' "$T/b-post.dec")" = 3 ] ||
    problem "bench keep-alive -c 1 -n 3: not 3 requests (id 1, FCGI_KEEP_CONN) on one connection: $(grep BEGIN "$T/b-post.dec" | tr '\n' '|')"
  has_line "$T/b-post.dec" "PARAM 1 REQUEST_METHOD=POST" "bench -b: POST"
  has_line "$T/b-post.dec" "PARAM 1 CONTENT_LENGTH=1000" "bench -b 1000"
  mock stream "$rec" 5 1 >"$T/b-post.stdin"
  [ "$(wc -c <"$T/b-post.stdin")" = 3000 ] || problem "bench -b 1000 -n 3: $(wc -c <"$T/b-post.stdin") STDIN bytes, not 3000"
fi
run b-app "$FK" bench -n 5 -c 1 --json "$M" /appstatus
expect_rc 1 "bench against requests ending with appStatus 3" &&
  bench_json b-app 'd["errors"] == 5 and d["errors_by_kind"]["app_status"] == 5'
run b-over "$FK" bench -n 5 -c 1 --json "$M" /overloaded
expect_rc 1 "bench against FCGI_OVERLOADED" &&
  bench_json b-over 'd["errors"] == 5 and d["errors_by_kind"]["overloaded"] == 5'
run b-none "$FK" bench -n 5 "$T/nobody.sock"
expect_rc 3 "bench where nothing listens" && one_line "$T/b-none.err" "bench where nothing listens"
ok "bench on the wire: -m 4 in flight on one connection, --no-keepalive one request per connection, -p/-H/-b; errors by kind; unanswered requests exit 1"

# A live progress line on a terminal (script(1) gives bench one).
if optional_cmd script bsdutils; then
  RUN_BOUND=20 run b-tty script -q -e -c "$FK bench -d 1.2 -c 2 $E" /dev/null
  expect_rc 0 "bench on a terminal" &&
    has_re "$T/b-tty.out" '\[ *[0-9.]+s\] [0-9]+ requests, [0-9]+ requests/s' "bench on a terminal: a progress line"
  ok "bench shows a progress line on a terminal, none otherwise"
fi

# --- Everything still standing -------------------------------------------------------

for pid in "$ECHO" "$AUTH" "$FILTER" "$ECHO_TCP" "$ECHO_ABS" ${ECHO_V6:+"$ECHO_V6"}; do
  alive "$pid" || problem "application $pid died during the test"
done
for pid in "$ECHO" "$AUTH" "$FILTER" "$ECHO_TCP" "$ECHO_ABS" ${ECHO_V6:+"$ECHO_V6"}; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || problem "application $pid exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
hits=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err 2>/dev/null || true)
[ -z "$hits" ] || problem "sanitizer reports from fcgikit in: $hits"

checks_done
ok "all checks passed"
