#!/usr/bin/env bash
# fcgikit-cgi: plain CGI programs run for FastCGI requests, each instance
# started here on a private socket with the options a check needs, and
# driven with "fcgikit request" (and lib.sh's python3 client where the
# exact params matter).
#
#   1  a #!/bin/sh script: headers, body, QUERY_STRING, REQUEST_METHOD,
#      SCRIPT_NAME; its stderr as FCGI_STDERR and in our log, named
#   2  a Perl script reading a POST body by CONTENT_LENGTH: length and
#      checksum of 300000 random bytes
#   3  10 MB written before a 10 MB body is read, then the body echoed:
#      no deadlock, every byte in order
#   4  -t 1 --grace 1: 504; the script and its background child are gone;
#      no zombie
#   5  a script ignoring SIGTERM: SIGKILL after the grace time; -t also
#      holds while the web server does not read the output
#   6  a script killed by SIGSEGV: the body so far arrives, appStatus 139
#   7  malformed headers, a body without Content-Type, no output, 70 KB of
#      headers: 502 and a log line; a missing #! interpreter: 500; a 5 MB
#      body the script does not read; Status: 404 without a body, Location
#      (local and absolute), Status: 201 (one Status line)
#   8  confinement: .., symbolic links out (file and directory), a sibling
#      sharing the root's name as prefix, %2F, a directory, a file without
#      the execute bit, a relative name, nph- scripts, DOCUMENT_ROOT +
#      SCRIPT_NAME; none of the refused programs runs (marker files)
#   9  -i: a non-executable script run by its allowed #! interpreter, with
#      the #! argument; refused without -i or with another interpreter;
#      two -r roots
#   10 the environment, exactly (/proc/self/environ: no duplicates):
#      params less HTTP_PROXY, CONTENT_LENGTH of the body received,
#      GATEWAY_INTERFACE, PATH, -e NAME=VALUE and -e NAME over the params,
#      nothing of our own environment
#   11 the client going away (ABORT_REQUEST; a closed connection) stops a
#      script writing slowly forever, and one that writes nothing
#   12 -c 1 -q 1: one runs, one waits its turn, one gets FCGI_OVERLOADED;
#      a request aborted while queued never starts its script; -c 2: two
#      scripts run at the same time
#   13 --max-body 1000: 1000 bytes pass, 1001 and 2000 get 413 (script not
#      started)
#   14 no ADDRESS: the listening socket on fd 0 (spawn-fcgi; python3)
#   15 root only: -u nobody (uid, gid, groups; a root-only file unreadable;
#      a root-only script refused); --chroot with -u nobody and a static
#      program
#   16 bad command lines: exit 2 / 1 with a message; --help
#   17 SIGTERM: a running script finishes and is answered, then exit 0
#
# Every instance's log is checked for sanitizer reports at the end, and
# every instance must exit 0 on SIGTERM.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd perl perl-base

CGI=$FK_BUILD/bin/fcgikit-cgi
FK=$FK_BUILD/bin/fcgikit
[ -x "$CGI" ] || fail "$CGI is missing: build first (FK_BUILD=$FK_BUILD)"
[ -x "$FK" ] || fail "$FK is missing: build first (FK_BUILD=$FK_BUILD)"

PY=""
if command -v python3 >/dev/null 2>&1; then
  # The interpreter itself: a version manager's shim is slow to start.
  PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
  if [ -n "$PY" ] && [ -x "$PY" ]; then
    mkdir "$T/bin"
    ln -s "$PY" "$T/bin/python3"
    PATH=$T/bin:$PATH
  else
    PY=""
  fi
fi

# A crashing script must not leave a core file behind.
ulimit -c 0

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

# --- Checking ---------------------------------------------------------------

# req NAME ARG...: `fcgikit request ARG...`, bounded by REQ_BOUND seconds
# (default 60: a "does not hang" bound, never a timing assertion); its
# stdout in $T/NAME.out, stderr in $T/NAME.err. Sets RC (124: killed at
# the bound) and MS, the time it took in milliseconds.
req() {
  local name=$1 t0
  shift
  t0=$(now_ms)
  RC=0
  timeout -k 5 "${REQ_BOUND:-60}" "$FK" request "$@" </dev/null \
    >"$T/$name.out" 2>"$T/$name.err" || RC=$?
  MS=$(($(now_ms) - t0))
}

# call NAME SOCKET SCRIPT [OPTION...]: req with -i (headers printed) and
# SCRIPT_FILENAME=SCRIPT, to URI $URI (default /); the response is split
# into $T/NAME.head (header lines, no CR) and $T/NAME.body.
call() {
  local name=$1 sock=$2 file=$3
  shift 3
  req "$name" -i -p "SCRIPT_FILENAME=$file" "$@" "$sock" "${URI:-/}"
  split_response "$name"
}

# split_response NAME: $T/NAME.out at its first empty line (one process:
# the machine may be busy, and every request goes through here).
split_response() {
  perl -e 'binmode STDIN; local $/; my $d = <STDIN>;
    my ($h, $b) = $d =~ /\A((?:[^\n]*\n)*?)\r?\n(.*)\z/s ? ($1, $2) : ($d, "");
    $h =~ s/\r//g;
    open(my $hf, ">", $ARGV[0]) or die; print $hf $h;
    open(my $bf, ">", $ARGV[1]) or die; binmode $bf; print $bf $b;' \
    "$T/$1.head" "$T/$1.body" <"$T/$1.out"
}

# status_of NAME: the status code of a response printed with -i.
status_of() {
  local first=""
  read -r first <"$T/$1.head" || true
  case $first in
  "Status: "[0-9][0-9][0-9]*) first=${first#Status: } && echo "${first:0:3}" ;;
  esac
}

# expect_status NAME WANT WHAT: the last request completed (exit 0) with
# HTTP status WANT.
expect_status() {
  local name=$1 want=$2 what=$3 got
  if [ "$RC" != 0 ]; then
    problem "$what: fcgikit request exited $RC (124: hung), expected a $want answer; stderr: $(snip "$T/$name.err")"
    return 1
  fi
  got=$(status_of "$name")
  if [ "$got" != "$want" ]; then
    problem "$what: status ${got:-none}, not $want: $(snip "$T/$name.out")"
    return 1
  fi
}

# same FILE1 FILE2 WHAT
same() {
  cmp -s "$1" "$2" ||
    problem "$3: ${1#"$T"/} ($(wc -c <"$1") bytes) and ${2#"$T"/} ($(wc -c <"$2") bytes) differ: $(cmp "$1" "$2" 2>&1 | head -n1)"
}

# log_has INSTANCE FIXED-STRING WHAT: a line of the instance's log contains
# the string (polled for a few seconds: the log is written by the server).
log_has() {
  local _
  for _ in $(seq 50); do
    grep -a -q -F -e "$2" "$T/$1.log" && return 0
    sleep 0.1
  done
  problem "$3: no line with '$2' in $1.log: $(tail -n 5 "$T/$1.log" | tr '\n' '|')"
}

# running PID: the process exists and is not a zombie (read from /proc:
# no process started, for the polling loops below).
running() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  case $stat in
  Z* | X*) return 1 ;;
  esac
  return 0
}

# gone SECONDS PID...: true once none of the processes runs (zombies count
# as gone), false if one still runs after SECONDS.
gone() {
  local end=$(($(now_ms) + $1 * 1000)) p left
  shift
  while :; do
    left=0
    for p in "$@"; do
      running "$p" && left=1
    done
    [ "$left" = 0 ] && return 0
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# no_zombies PID WHAT: no child of PID stays a zombie (polled: a child that
# just exited is reaped a moment later).
no_zombies() {
  local pid=$1 _ z=""
  for _ in $(seq 50); do
    z=$(ps --ppid "$pid" -o pid=,stat=,args= 2>/dev/null | awk '$2 ~ /^Z/' || true)
    [ -z "$z" ] && return 0
    sleep 0.1
  done
  problem "$2: fcgikit-cgi ($pid) has zombie children: $(printf '%s' "$z" | tr '\n' '|')"
}

# --- Files: roots, scripts, markers -----------------------------------------
#
# $T/site/root is the script root; $T/site/outside.sh, $T/site/outdir/ and
# $T/site/root2/ are outside it. Every program outside the root, and every
# one a check expects to be refused, leaves a marker in $T/state when it
# runs. Every path component is readable by nobody (-u nobody).

chmod 755 "$T"
SITE=$T/site
ROOT=$SITE/root
STATE=$T/state
mkdir -p "$ROOT/sub" "$SITE/outdir" "$SITE/root2" "$SITE/root3" "$STATE"
chmod 755 "$SITE" "$ROOT" "$ROOT/sub" "$SITE/outdir" "$SITE/root2" "$SITE/root3" "$STATE"

# script PATH MODE: writes stdin to PATH with @STATE@, @ROOT@, @SECRET@
# replaced, and sets its mode.
# (Shell builtins only: on a busy machine every process started counts.)
script() {
  local text=""
  IFS= read -r -d '' text || true
  text=${text//@STATE@/$STATE}
  text=${text//@ROOT@/$ROOT}
  text=${text//@SECRET@/$T/secret}
  printf '%s' "$text" >"$1"
  chmod "$2" "$1"
}

# marker PATH TAG: an executable script that, if ever run, leaves
# $STATE/ran.TAG and answers as a normal script would.
marker() {
  script "$1" 755 <<EOF
#!/bin/sh
touch @STATE@/ran.$2
echo "Content-Type: text/plain"
echo
echo "$2 ran"
EOF
}

script "$ROOT/hello.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo "X-Script: hello"
echo
echo "query=$QUERY_STRING"
echo "method=$REQUEST_METHOD"
echo "script=$SCRIPT_NAME"
echo "hello-stderr-line" >&2
EOF

script "$ROOT/post.pl" 755 <<'EOF'
#!/usr/bin/perl
use strict;
use warnings;
binmode STDIN;
binmode STDOUT;
my $want = $ENV{CONTENT_LENGTH} || 0;
my ($data, $got) = ('', 0);
while ($got < $want) {
  my $n = read(STDIN, $data, $want - $got, $got);
  die "read: $!" unless defined $n;
  last if $n == 0;
  $got += $n;
}
print "Content-Type: text/plain\r\n\r\n";
print "method=$ENV{REQUEST_METHOD}\n";
print "length=", length($data), "\n";
print "sum=", unpack("%32C*", $data), "\n";
EOF

script "$ROOT/big.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: application/octet-stream"
echo
head -c 10485760 /dev/zero
cat
EOF

script "$ROOT/cat.sh" 755 <<'EOF'
#!/bin/sh
echo "ran $CONTENT_LENGTH" >>@STATE@/cat.runs
echo "Content-Type: application/octet-stream"
echo
cat
EOF

script "$ROOT/never.sh" 755 <<'EOF'
#!/bin/sh
sleep 1001 &
echo "$$ $!" >@STATE@/never.pids
exec sleep 1000
EOF

script "$ROOT/ignore.sh" 755 <<'EOF'
#!/bin/sh
trap '' TERM
echo $$ >@STATE@/ignore.pid
exec sleep 1000
EOF

script "$ROOT/flood.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: application/octet-stream"
echo
echo $$ >@STATE@/flood.pid
exec cat /dev/zero
EOF

script "$ROOT/crash.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "before the crash"
kill -SEGV $$
echo "after the crash"
EOF

script "$ROOT/badhdr.sh" 755 <<'EOF'
#!/bin/sh
echo "this is not a header"
echo
echo "a body"
EOF
script "$ROOT/notype.sh" 755 <<'EOF'
#!/bin/sh
echo "X-Thing: 1"
echo
echo "a body without a type"
EOF
script "$ROOT/exit3.sh" 755 <<'EOF'
#!/bin/sh
exit 3
EOF
script "$ROOT/s404.sh" 755 <<'EOF'
#!/bin/sh
echo "Status: 404 Not Found"
echo
EOF
script "$ROOT/local.sh" 755 <<'EOF'
#!/bin/sh
echo "Location: /elsewhere"
echo
EOF
script "$ROOT/absolute.sh" 755 <<'EOF'
#!/bin/sh
echo "Location: http://example.com/"
echo
EOF
script "$ROOT/created.sh" 755 <<'EOF'
#!/bin/sh
echo "Status: 201 Created"
echo "Content-Type: text/plain"
echo
echo "made"
EOF

script "$ROOT/perl-noexec.pl" 644 <<'EOF'
#!/usr/bin/perl
print "Content-Type: text/plain\n\n";
print "program=$0\n";
EOF
# With -i /bin/sh: the #! line's one argument reaches the interpreter.
script "$ROOT/sh-arg.sh" 644 <<'EOF'
#!/bin/sh -e
echo "Content-Type: text/plain"
echo
echo "flags=$-"
EOF

script "$ROOT/bighdr.sh" 755 <<'EOF'
#!/bin/sh
printf 'X-Big: %070000d\n' 0
echo "Content-Type: text/plain"
echo
echo "a body after a 70 KB header"
EOF
script "$ROOT/badinterp.sh" 755 <<'EOF'
#!/no/such/interpreter
EOF
script "$ROOT/noread.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "answered without reading"
EOF

# The environment exactly as the script got it, duplicates included
# (%ENV would hide them): /proc/self/environ, sorted.
script "$ROOT/env.pl" 755 <<'EOF'
#!/usr/bin/perl
open(my $f, '<', '/proc/self/environ') or die "environ: $!";
my $e = do { local $/; <$f> };
print "Content-Type: text/plain\n\n";
print "$_\n" for sort grep { length } split /\0/, $e;
EOF

script "$ROOT/slowout.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo $$ >@STATE@/slowout.pid
while :; do
  echo tick
  sleep 0.1
done
EOF
script "$ROOT/quiet.sh" 755 <<'EOF'
#!/bin/sh
echo $$ >@STATE@/quiet.pid
exec sleep 1000
EOF

# sleep.sh: sleeps $HTTP_X_SECONDS (default 1), its start and end in
# $STATE/sleep.times as "TAG start|end TIME PID" (TAG: the query string).
script "$ROOT/sleep.sh" 755 <<'EOF'
#!/bin/sh
echo "$QUERY_STRING start $(date +%s.%N) $$" >>@STATE@/sleep.times
sleep "${HTTP_X_SECONDS:-1}"
echo "$QUERY_STRING end $(date +%s.%N) $$" >>@STATE@/sleep.times
echo "Content-Type: text/plain"
echo
echo "slept $QUERY_STRING"
EOF

script "$ROOT/whoami.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
if cat @SECRET@ >/dev/null 2>&1; then echo "secret=readable"; else echo "secret=unreadable"; fi
EOF
echo "only root reads this" >"$T/secret"
chmod 600 "$T/secret"

# Refused ones: each leaves a marker if it ever runs.
marker "$SITE/outside.sh" outside
marker "$SITE/outdir/out2.sh" outdir
marker "$SITE/root2/evil.sh" root2
ln -s ../outside.sh "$ROOT/link-out.sh"
ln -s ../outdir "$ROOT/outdir"
marker "$ROOT/noexec.sh" noexec
chmod 644 "$ROOT/noexec.sh"
marker "$ROOT/rel.sh" rel
marker "$ROOT/nph-direct.sh" nph-direct
ln -s nph-direct.sh "$ROOT/plain-to-nph.sh"
ln -s hello.sh "$ROOT/nph-to-plain.sh"
marker "$ROOT/rootonly.sh" rootonly
chmod 700 "$ROOT/rootonly.sh"
marker "$ROOT/sh-noexec.sh" sh-noexec
chmod 644 "$ROOT/sh-noexec.sh"
marker "$ROOT/queued.sh" queued
# Allowed through a link inside the root.
ln -s hello.sh "$ROOT/alias.sh"
# In a second root (-r twice).
script "$SITE/root3/second.sh" 755 <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "from the second root"
EOF

# --- The instances ----------------------------------------------------------

declare -A PIDOF
# start_cgi NAME [ARG...]: fcgikit-cgi ARG... on $T/NAME.sock, log in
# $T/NAME.log.
start_cgi() {
  local name=$1
  shift
  start_bg "$name" "$CGI" "$@" "$T/$name.sock"
  PIDOF[$name]=$STARTED_PID
}

# main: from $SITE (a relative name would resolve there), with an
# environment of its own for the -e checks.
cd "$SITE" || fail "cannot enter $SITE"
start_bg main env -u FK_UNSET_VAR FK_OWN=own-value FK_SECRET=leak \
  LD_LIBRARY_PATH=/fk-no-such-dir \
  "$CGI" -r "$ROOT" -t 60 -e FOO=bar -e FK_OWN -e OVERRIDE=fromcfg \
  -e FK_UNSET_VAR "$T/main.sock"
PIDOF[main]=$STARTED_PID
cd "$T" || fail "cannot enter $T"
start_cgi short -r "$ROOT" -t 1 --grace 1
start_cgi queue -r "$ROOT" -c 1 -q 1
start_cgi pair -r "$ROOT" -c 2
start_cgi maxbody -r "$ROOT" --max-body 1000
start_cgi perl -r "$ROOT" -i /usr/bin/perl
start_cgi othersh -r "$ROOT" -r "$SITE/root3" -i /bin/sh
start_cgi term -r "$ROOT" -t 20
for name in "${!PIDOF[@]}"; do
  wait_for_socket "$T/$name.sock" "${PIDOF[$name]}"
done
M=$T/main.sock

# --- 1. A shell script ------------------------------------------------------

URI='/cgi-bin/hello.sh?a=1&b=two' call hello "$M" "$ROOT/hello.sh" -X DELETE
if expect_status hello 200 "a #!/bin/sh script"; then
  has_line "$T/hello.head" "Content-Type: text/plain" "a shell script's Content-Type"
  has_line "$T/hello.head" "X-Script: hello" "a shell script's own header"
  printf 'query=a=1&b=two\nmethod=DELETE\nscript=/cgi-bin/hello.sh\n' >"$T/hello.expected"
  same "$T/hello.expected" "$T/hello.body" "a shell script's body (QUERY_STRING, REQUEST_METHOD, SCRIPT_NAME)"
  printf 'hello-stderr-line\n' >"$T/hello.err-expected"
  same "$T/hello.err-expected" "$T/hello.err" "a script's stderr arrives as FCGI_STDERR"
  log_has main "$ROOT/hello.sh[" "the log names the script writing on stderr"
  grep -a -F -e "$ROOT/hello.sh[" "$T/main.log" | grep -q -F -e "hello-stderr-line" ||
    problem "the log line for a script's stderr does not hold the line: $(grep -a -F hello "$T/main.log" | tr '\n' '|')"
fi
passed "1: a shell script's headers, body, QUERY_STRING, REQUEST_METHOD, SCRIPT_NAME; stderr as FCGI_STDERR and in the log"

# --- 2. A Perl script reading a POST body -----------------------------------

head -c 300000 /dev/urandom >"$T/post.bin"
sum=$(od -An -v -tu1 "$T/post.bin" | awk '{for (i = 1; i <= NF; i++) s += $i} END {printf "%d\n", s % 4294967296}')
call post "$M" "$ROOT/post.pl" -d "@$T/post.bin"
if expect_status post 200 "a Perl script reading a POST body"; then
  printf 'method=POST\nlength=300000\nsum=%s\n' "$sum" >"$T/post.expected"
  same "$T/post.expected" "$T/post.body" "a Perl script's length and checksum of the body it read"
fi
passed "2: a Perl script reads a 300000-byte POST body by CONTENT_LENGTH: length and checksum match"

# --- 3. Output before input: no deadlock ------------------------------------

head -c 10485760 /dev/urandom >"$T/big.in"
{
  head -c 10485760 /dev/zero
  cat "$T/big.in"
} >"$T/big.expected"
req big -m 20 -p "SCRIPT_FILENAME=$ROOT/big.sh" -d "@$T/big.in" "$M"
if [ "$RC" != 0 ]; then
  problem "10 MB out before 10 MB in: fcgikit request exited $RC after $MS ms (5: timed out, a deadlock): $(snip "$T/big.err")"
else
  same "$T/big.expected" "$T/big.out" "10 MB of zeros, then the 10 MB body echoed"
fi
rm -f "$T/big.in" "$T/big.expected" "$T/big.out"
passed "3: a script writing 10 MB before reading a 10 MB body, then echoing it: every byte, in ${MS} ms"

# --- 4. Timeout: the script and its process group end -----------------------

S=$T/short.sock
call never "$S" "$ROOT/never.sh"
if expect_status never 504 "a script that never ends, -t 1"; then
  if [ "$MS" -gt 10000 ]; then
    problem "-t 1 --grace 1: the 504 came after $MS ms"
  fi
  read -r p1 p2 <"$STATE/never.pids" || true
  if [ -z "${p1:-}" ] || [ -z "${p2:-}" ]; then
    problem "the never-ending script did not record its pids"
  elif ! gone 5 "$p1" "$p2"; then
    problem "after the 504, the script's processes still run: $(ps -o pid=,stat=,args= -p "$p1,$p2" | tr '\n' '|')"
    kill -KILL "$p1" "$p2" 2>/dev/null || true
  fi
  log_has short "$ROOT/never.sh: 504" "a timeout is logged, naming the script"
fi
no_zombies "${PIDOF[short]}" "after a timeout"
passed "4: -t 1 --grace 1: 504, the script and its background child are gone, no zombie"

# --- 5. SIGTERM ignored: SIGKILL after the grace time -----------------------

call ignore "$S" "$ROOT/ignore.sh"
if expect_status ignore 504 "a script ignoring SIGTERM"; then
  # SIGTERM at 1 s does nothing; SIGKILL at 2 s.
  if [ "$MS" -lt 1500 ]; then
    problem "a script ignoring SIGTERM was answered after $MS ms: SIGKILL did not wait for --grace 1"
  elif [ "$MS" -gt 8000 ]; then
    problem "a script ignoring SIGTERM was answered after $MS ms, not about 2000 (-t 1 + --grace 1)"
  fi
  pid=$(cat "$STATE/ignore.pid" 2>/dev/null || true)
  if [ -z "$pid" ]; then
    problem "the script ignoring SIGTERM did not record its pid"
  elif ! gone 2 "$pid"; then
    problem "the script ignoring SIGTERM still runs after the 504"
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
no_zombies "${PIDOF[short]}" "after a SIGKILL"
passed "5: a script ignoring SIGTERM is killed after the grace time: 504 after ${MS} ms, gone"

# -t holds while the web server does not read: a script writing without
# end to a web server that sent its request and stopped reading (python3,
# the connection kept open) must still be stopped at -t 1 + --grace 1.
if [ -n "$PY" ]; then
  cat >"$T/stall.py" <<'EOF'
import socket, struct, sys, time
def record(t, content):
    return struct.pack(">BBHHBx", 1, t, 1, len(content), 0) + content
def pair(n, v):
    return bytes([len(n), len(v)]) + n + v
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
params = pair(b"SCRIPT_FILENAME", sys.argv[2].encode()) + pair(b"REQUEST_METHOD", b"GET")
s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) +
          record(4, b"") + record(5, b""))
time.sleep(float(sys.argv[3]))
EOF
  rm -f "$STATE/flood.pid"
  start_bg stall "$PY" "$T/stall.py" "$S" "$ROOT/flood.sh" 60
  stall=$STARTED_PID
  for _ in $(seq 300); do
    [ -s "$STATE/flood.pid" ] && break
    sleep 0.1
  done
  pid=$(cat "$STATE/flood.pid" 2>/dev/null || true)
  t0=$(now_ms)
  if [ -z "$pid" ]; then
    problem "the script writing without end did not start"
  elif ! gone 6 "$pid"; then
    problem "-t 1 --grace 1: a script whose web server stopped reading its output still runs $(($(now_ms) - t0)) ms after it started (expected: stopped after about 2000 ms)"
  fi
  # Closing the connection ends it, whatever happened above.
  stop_pid "$stall" || true
  if [ -n "$pid" ] && ! gone 10 "$pid"; then
    problem "the script writing without end still runs after its web server closed the connection"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  no_zombies "${PIDOF[short]}" "after a web server stopped reading"
  passed "5b: -t 1 --grace 1 holds for a script whose web server stopped reading"
else
  optional_cmd python3 python3 || true
fi

# --- 6. A crash -------------------------------------------------------------

call crash "$M" "$ROOT/crash.sh" --fail
if [ "$RC" != 8 ]; then
  problem "a script killed by SIGSEGV: fcgikit request --fail exited $RC, not 8: $(snip "$T/crash.err")"
fi
has_line "$T/crash.head" "Status: 200 OK" "a crashing script's headers"
printf 'before the crash\n' >"$T/crash.expected"
same "$T/crash.expected" "$T/crash.body" "what a crashing script wrote before the crash"
has_re "$T/crash.err" 'status 139' "the application status of a script killed by SIGSEGV"
log_has main "$ROOT/crash.sh[" "a crash is logged, naming the script"
has_re "$T/main.log" "crash.sh\[[0-9]+\]: killed by signal 11" "a crash is logged with its signal"
passed "6: a script killed by SIGSEGV: its output so far arrives, appStatus 139 (--fail exits 8)"

# --- 7. Response headers ----------------------------------------------------

for s in badhdr notype exit3; do
  call "$s" "$M" "$ROOT/$s.sh"
  expect_status "$s" 502 "$s.sh" || continue
  log_has main "$ROOT/$s.sh: 502" "$s.sh: a log line naming the script"
done
if grep -a -q -e 'a body' "$T/badhdr.body" "$T/notype.body"; then
  problem "the body of a response refused with 502 reached the client"
fi
call s404 "$M" "$ROOT/s404.sh"
if expect_status s404 404 "Status: 404 with no body and no Content-Type"; then
  [ -s "$T/s404.body" ] && problem "Status: 404 with no body: a body arrived: $(snip "$T/s404.body")"
fi
call local "$M" "$ROOT/local.sh"
expect_status local 302 "Location: /elsewhere" &&
  has_line "$T/local.head" "Location: /elsewhere" "a local redirect's Location"
call absolute "$M" "$ROOT/absolute.sh"
expect_status absolute 302 "Location: http://example.com/" &&
  has_line "$T/absolute.head" "Location: http://example.com/" "a client redirect's Location"
call created "$M" "$ROOT/created.sh"
if expect_status created 201 "Status: 201 Created"; then
  has_line "$T/created.head" "Status: 201 Created" "Status: 201 Created keeps its reason"
  [ "$(grep -c "^Status:" "$T/created.head")" = 1 ] || problem "Status: 201 Created: the Status header is passed on twice: $(snip "$T/created.head")"
  has_line "$T/created.body" "made" "Status: 201's body"
fi
call bighdr "$M" "$ROOT/bighdr.sh"
expect_status bighdr 502 "a header section over 64 KiB" &&
  log_has main "$ROOT/bighdr.sh: 502" "bighdr.sh: a log line naming the script"
call badinterp "$M" "$ROOT/badinterp.sh"
expect_status badinterp 500 "an executable script whose #! interpreter does not exist" &&
  log_has main "$ROOT/badinterp.sh: 500" "badinterp.sh: a log line naming the script"
# A script that answers without reading a 5 MB body: the rest of the body
# is dropped, the answer arrives.
head -c 5000000 /dev/urandom >"$T/5m.bin"
call noread "$M" "$ROOT/noread.sh" -d "@$T/5m.bin"
expect_status noread 200 "a script that does not read its 5 MB body" &&
  has_line "$T/noread.body" "answered without reading" "a script that does not read its body"
rm -f "$T/5m.bin"
passed "7: bad headers, a body without Content-Type, no output, 70 KB of headers: 502 with a log line; a missing interpreter: 500; an unread 5 MB body; 404 without a body, Location, 201 passed on"

# --- 8. Confinement ---------------------------------------------------------

# refused NAME WANT WHAT [PARAM...]: the request with the params (no
# SCRIPT_FILENAME unless given) is answered WANT.
refused() {
  local name=$1 want=$2 what=$3 args=() p
  shift 3
  for p in "$@"; do
    args+=(-p "$p")
  done
  req "$name" -i "${args[@]}" "$M"
  split_response "$name"
  expect_status "$name" "$want" "$what" || true
}
refused dotdot 403 "SCRIPT_FILENAME=ROOT/../outside.sh" "SCRIPT_FILENAME=$ROOT/../outside.sh"
refused linkout 403 "a symbolic link in the root to a script outside" "SCRIPT_FILENAME=$ROOT/link-out.sh"
refused dirlink 403 "a symbolic link in the root to a directory outside" "SCRIPT_FILENAME=$ROOT/outdir/out2.sh"
refused sibling 403 "a directory beside the root whose name starts with the root's" "SCRIPT_FILENAME=${ROOT}2/evil.sh"
refused encoded 404 "..%2F in the name (never decoded)" "SCRIPT_FILENAME=$ROOT/..%2Foutside.sh"
refused directory 403 "a directory" "SCRIPT_FILENAME=$ROOT/sub"
refused rootdir 403 "the root itself" "SCRIPT_FILENAME=$ROOT"
refused noexec 403 "a file without the execute bit" "SCRIPT_FILENAME=$ROOT/noexec.sh"
refused relative 404 "a relative name" "SCRIPT_FILENAME=root/rel.sh"
refused relative2 404 "a relative name with no directory" "SCRIPT_FILENAME=rel.sh"
refused missing 404 "a name that does not exist" "SCRIPT_FILENAME=$ROOT/no-such.sh"
refused nph 403 "an nph- script" "SCRIPT_FILENAME=$ROOT/nph-direct.sh"
refused nphlink 403 "a link to an nph- script" "SCRIPT_FILENAME=$ROOT/plain-to-nph.sh"
refused nphname 403 "an nph- name linking to a script" "SCRIPT_FILENAME=$ROOT/nph-to-plain.sh"
refused docdotdot 403 "DOCUMENT_ROOT + SCRIPT_NAME with .." "DOCUMENT_ROOT=$ROOT" "SCRIPT_NAME=/../outside.sh"
refused doclink 403 "DOCUMENT_ROOT + SCRIPT_NAME, a link out" "DOCUMENT_ROOT=$ROOT" "SCRIPT_NAME=/link-out.sh"
refused docoutside 403 "DOCUMENT_ROOT outside the root" "DOCUMENT_ROOT=$SITE" "SCRIPT_NAME=/outside.sh"
refused noname 500 "neither SCRIPT_FILENAME nor DOCUMENT_ROOT"
refused docrel 404 "a relative DOCUMENT_ROOT" "DOCUMENT_ROOT=root" "SCRIPT_NAME=/rel.sh"
for f in "$STATE"/ran.*; do
  [ -e "$f" ] && problem "a refused program ran: ${f#"$STATE"/ran.}"
done
# Allowed: DOCUMENT_ROOT + SCRIPT_NAME, and a link to a script in the root.
req docroot -i -p "DOCUMENT_ROOT=$ROOT" "$M" '/hello.sh?via=docroot'
split_response docroot
expect_status docroot 200 "DOCUMENT_ROOT + SCRIPT_NAME, no SCRIPT_FILENAME" &&
  has_line "$T/docroot.body" "query=via=docroot" "DOCUMENT_ROOT + SCRIPT_NAME runs the script"
URI='/?via=alias' call alias "$M" "$ROOT/alias.sh"
expect_status alias 200 "a symbolic link in the root to a script in the root" &&
  has_line "$T/alias.body" "query=via=alias" "a link to a script in the root runs it"
passed "8: .., links out (file, directory), a prefix sibling, %2F, a directory, no x bit, relative names, nph-: refused, nothing ran; DOCUMENT_ROOT + SCRIPT_NAME and links inside work"

# --- 9. Interpreters --------------------------------------------------------

call interp "$T/perl.sock" "$ROOT/perl-noexec.pl"
if expect_status interp 200 "a non-executable #!/usr/bin/perl script with -i /usr/bin/perl"; then
  has_line "$T/interp.body" "program=$ROOT/perl-noexec.pl" "the interpreter runs the script's real path"
fi
call interp-none "$M" "$ROOT/perl-noexec.pl"
expect_status interp-none 403 "a non-executable #!/usr/bin/perl script without -i" || true
call interp-other "$T/othersh.sock" "$ROOT/perl-noexec.pl"
expect_status interp-other 403 "a non-executable #!/usr/bin/perl script with only -i /bin/sh" || true
call interp-sh "$T/perl.sock" "$ROOT/sh-noexec.sh"
expect_status interp-sh 403 "a non-executable #!/bin/sh script with only -i /usr/bin/perl" || true
[ -e "$STATE/ran.sh-noexec" ] && problem "a non-executable #!/bin/sh script ran with only -i /usr/bin/perl"
call interp-arg "$T/othersh.sock" "$ROOT/sh-arg.sh"
if expect_status interp-arg 200 "a non-executable '#!/bin/sh -e' script with -i /bin/sh"; then
  has_re "$T/interp-arg.body" '^flags=[a-z]*e' "the #! line's argument (-e) reaches the interpreter"
fi
# Two roots: a script from either runs; what is outside both does not.
call second "$T/othersh.sock" "$SITE/root3/second.sh"
expect_status second 200 "-r twice: a script in the second root" &&
  has_line "$T/second.body" "from the second root" "-r twice: the second root's script"
call second-hello "$T/othersh.sock" "$ROOT/hello.sh"
expect_status second-hello 200 "-r twice: a script in the first root" || true
call second-out "$T/othersh.sock" "$SITE/outside.sh"
expect_status second-out 403 "-r twice: a script outside both roots" || true
[ -e "$STATE/ran.outside" ] && problem "-r twice: a script outside both roots ran"
passed "9: -i /usr/bin/perl runs a non-executable #!/usr/bin/perl script, -i /bin/sh one with its #! argument; without -i, or with another interpreter, 403; two -r roots"

# --- 10. The environment ----------------------------------------------------

printf 'twelve bytes' >"$T/twelve.bin"
call env "$M" "$ROOT/env.pl" -d "@$T/twelve.bin" -p CONTENT_LENGTH=999 \
  -H 'Proxy: http://proxy.invalid:3128' -p OVERRIDE=fromparam -p X_PARAM=kept
if expect_status env 200 "the environment"; then
  E=$T/env.body
  has_line "$E" "CONTENT_LENGTH=12" "CONTENT_LENGTH is the length of the body received, not the param (999)"
  has_line "$E" "FOO=bar" "-e FOO=bar"
  has_line "$E" "FK_OWN=own-value" "-e NAME passes our own NAME"
  has_line "$E" "OVERRIDE=fromcfg" "-e OVERRIDE=... wins over the param OVERRIDE"
  lacks_line "$E" "OVERRIDE=fromparam" "-e OVERRIDE=... wins over the param OVERRIDE"
  has_line "$E" "X_PARAM=kept" "a param"
  has_line "$E" "GATEWAY_INTERFACE=CGI/1.1" "GATEWAY_INTERFACE"
  has_line "$E" "PATH=/usr/local/bin:/usr/bin:/bin" "PATH when the request has none"
  grep -a -q -e '^HTTP_PROXY=' "$E" && problem "HTTP_PROXY (a Proxy: header) reached the script"
  own='^(FK_SECRET|FK_UNSET_VAR|HOME|LD_LIBRARY_PATH)='
  grep -a -q -E -e "$own" "$E" &&
    problem "fcgikit-cgi's own environment leaked into the script's: $(grep -a -E -e "$own" "$E" | tr '\n' '|')"
  [ "$(grep -c -e '^OVERRIDE=' "$E")" = 1 ] || problem "OVERRIDE appears more than once"
fi
call envpath "$M" "$ROOT/env.pl" -p PATH=/opt/custom/bin
expect_status envpath 200 "the environment with a PATH param" &&
  has_line "$T/envpath.body" "PATH=/opt/custom/bin" "a PATH param is kept"
# Exactly the params sent and the documented additions, with lib.sh's
# client (fcgikit request always sends GATEWAY_INTERFACE itself).
if [ -n "$PY" ]; then
  RC=0
  fcgi_request "$M" 1 "$T/twelve.bin" "SCRIPT_FILENAME=$ROOT/env.pl" REQUEST_METHOD=POST \
    QUERY_STRING=a=b CONTENT_LENGTH=999 HTTP_PROXY=http://proxy.invalid:3128 \
    OVERRIDE=fromparam HTTP_X_CUSTOM=yes >"$T/envx.out" 2>"$T/envx.err" || RC=$?
  if [ "$RC" != 0 ]; then
    problem "the exact environment: the python client exited $RC: $(snip "$T/envx.err")"
  else
    split_response envx
    sort >"$T/envx.expected" <<EOF
CONTENT_LENGTH=12
FK_OWN=own-value
FOO=bar
GATEWAY_INTERFACE=CGI/1.1
HTTP_X_CUSTOM=yes
OVERRIDE=fromcfg
PATH=/usr/local/bin:/usr/bin:/bin
QUERY_STRING=a=b
REQUEST_METHOD=POST
SCRIPT_FILENAME=$ROOT/env.pl
EOF
    same "$T/envx.expected" "$T/envx.body" "a POST's environment, exactly (params, CONTENT_LENGTH, GATEWAY_INTERFACE, PATH, -e)"
  fi
  RC=0
  fcgi_request "$M" 1 "" "SCRIPT_FILENAME=$ROOT/env.pl" REQUEST_METHOD=GET \
    >"$T/envg.out" 2>"$T/envg.err" || RC=$?
  if [ "$RC" != 0 ]; then
    problem "the exact environment of a GET: the python client exited $RC: $(snip "$T/envg.err")"
  else
    split_response envg
    sort >"$T/envg.expected" <<EOF
FK_OWN=own-value
FOO=bar
GATEWAY_INTERFACE=CGI/1.1
OVERRIDE=fromcfg
PATH=/usr/local/bin:/usr/bin:/bin
REQUEST_METHOD=GET
SCRIPT_FILENAME=$ROOT/env.pl
EOF
    same "$T/envg.expected" "$T/envg.body" "a GET's environment, exactly (no CONTENT_LENGTH without a body)"
  fi
  passed "10: the environment: exactly the params less HTTP_PROXY, CONTENT_LENGTH of the body received, GATEWAY_INTERFACE, PATH, -e over the params, nothing of our own"
else
  optional_cmd python3 python3 || true
  passed "10: the environment: HTTP_PROXY dropped, CONTENT_LENGTH of the body received, GATEWAY_INTERFACE, PATH, -e over the params, nothing of our own"
fi

# --- 11. The client goes away -----------------------------------------------

# With --max-time the client sends FCGI_ABORT_REQUEST, then closes.
rm -f "$STATE/slowout.pid"
REQ_BOUND=30 req slowout -m 1 -p "SCRIPT_FILENAME=$ROOT/slowout.sh" "$M"
[ "$RC" = 5 ] || problem "a client with --max-time 1 and a script writing forever: exited $RC, not 5: $(snip "$T/slowout.err")"
grep -a -q -x tick "$T/slowout.out" || problem "the slow script's first lines did not arrive: $(snip "$T/slowout.out")"
pid=$(cat "$STATE/slowout.pid" 2>/dev/null || true)
if [ -z "$pid" ]; then
  problem "the slow script did not record its pid"
elif ! gone 10 "$pid"; then
  problem "the client aborted (FCGI_ABORT_REQUEST), and 10 s later the script writing slowly still runs"
  kill -KILL "$pid" 2>/dev/null || true
fi
log_has main "$ROOT/slowout.sh[" "an aborted request is logged, naming the script"
# Killed, the client just closes its connection, while the script is
# silent: nothing to write tells us; the connection's end must.
rm -f "$STATE/quiet.pid" "$STATE/quiet.client"
# (The client runs under a subshell that reports its death to /dev/null;
# -m 20 bounds it should this test end first.)
(
  "$FK" request -m 20 -p "SCRIPT_FILENAME=$ROOT/quiet.sh" "$M" </dev/null >"$T/quiet.out" 2>"$T/quiet.err" &
  echo $! >"$STATE/quiet.client"
  wait
) 2>/dev/null &
holder=$!
for _ in $(seq 300); do
  [ -s "$STATE/quiet.pid" ] && break
  running "$holder" || break
  sleep 0.1
done
client=$(cat "$STATE/quiet.client" 2>/dev/null || true)
if [ -n "$client" ] && running "$client"; then
  kill -KILL "$client"
else
  problem "a request to a script that never answers ended before the client was killed: $(snip "$T/quiet.err")"
fi
wait "$holder" || true
pid=$(cat "$STATE/quiet.pid" 2>/dev/null || true)
if [ -z "$pid" ]; then
  problem "the silent script did not record its pid"
elif ! gone 10 "$pid"; then
  problem "the client closed its connection, and 10 s later the silent script still runs"
  kill -KILL "$pid" 2>/dev/null || true
fi
no_zombies "${PIDOF[main]}" "after the client went away"
call after-abort "$M" "$ROOT/hello.sh"
expect_status after-abort 200 "a request after two clients went away" || true
passed "11: the client going away (ABORT_REQUEST, or a closed connection) stops the script; no zombie; the next request is served"

# --- 12. Concurrency and the queue ------------------------------------------

# bg_req NAME ARG...: req in the background; its exit status goes to
# $T/NAME.rc. BG_PID is the waiting subshell.
bg_req() {
  local name=$1
  shift
  (
    req "$name" "$@"
    echo "$RC" >"$T/$name.rc"
  ) &
  BG_PID=$!
}
# times_of TAG start|end: the time sleep.sh recorded for TAG.
# wait_started TAG: waits (up to 30 s) until the script for TAG started.
times_of() { awk -v t="$1" -v w="$2" '$1 == t && $2 == w {print $3; exit}' "$STATE/sleep.times"; }
wait_started() {
  local _
  for _ in $(seq 300); do
    [ -n "$(times_of "$1" start 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}
: >"$STATE/sleep.times"
Q=$T/queue.sock
bg_req q1 -i -H 'X-Seconds: 2' -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$Q" '/?q1'
q1=$BG_PID
wait_started q1 || problem "-c 1: the first script did not start in 30 s"
bg_req q2 -i -H 'X-Seconds: 1' -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$Q" '/?q2'
q2=$BG_PID
bg_req q3 -i -H 'X-Seconds: 1' -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$Q" '/?q3'
q3=$BG_PID
wait "$q1" "$q2" "$q3" || true
rc1=$(cat "$T/q1.rc") rc2=$(cat "$T/q2.rc") rc3=$(cat "$T/q3.rc")
if [ "$rc1" != 0 ] || [ "$(printf '%s\n' "$rc2" "$rc3" | sort | tr '\n' ' ')" != "0 7 " ]; then
  problem "-c 1 -q 1, three requests: exits $rc1 $rc2 $rc3, not 0 and {0, 7} (7: FCGI_OVERLOADED); stderr: $(snip "$T/q2.err") / $(snip "$T/q3.err")"
else
  if [ "$rc2" = 0 ]; then queued=q2 over=q3; else queued=q3 over=q2; fi
  split_response q1
  split_response "$queued"
  has_line "$T/q1.body" "slept q1" "-c 1: the running request's answer"
  has_line "$T/$queued.body" "slept $queued" "-c 1 -q 1: the queued request's answer"
  has_re "$T/$over.err" 'FCGI_OVERLOADED' "-c 1 -q 1: the third request is refused as overloaded"
  [ -n "$(times_of "$over" start)" ] && problem "-c 1 -q 1: the refused request's script ran"
  end1=$(times_of q1 end)
  start2=$(times_of "$queued" start)
  if [ -n "$end1" ] && [ -n "$start2" ]; then
    awk -v a="$end1" -v b="$start2" 'BEGIN {exit !(b >= a)}' ||
      problem "-c 1: the queued script started ($start2) before the running one ended ($end1)"
  else
    problem "-c 1: sleep.sh did not record q1's end or $queued's start"
  fi
fi
passed "12a: -c 1 -q 1: one runs, one waits its turn, the third gets FCGI_OVERLOADED"

# A request the web server aborts while it waits in the queue: its script
# must never start (a script's log lines name its pid: only a started one
# has them).
bg_req q4 -i -H 'X-Seconds: 2' -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$Q" '/?q4'
q4=$BG_PID
wait_started q4 || problem "-c 1: the first script did not start in 30 s"
REQ_BOUND=30 req queued -m 0.5 -p "SCRIPT_FILENAME=$ROOT/queued.sh" "$Q"
[ "$RC" = 5 ] || problem "a request given up while queued: fcgikit request -m 0.5 exited $RC, not 5: $(snip "$T/queued.err")"
wait "$q4" || true
# Requests are served in order: once this one is answered, the aborted
# one has been dealt with.
call after-queued "$Q" "$ROOT/hello.sh"
expect_status after-queued 200 "the request after one aborted in the queue" || true
if grep -a -q -F -e "$ROOT/queued.sh[" "$T/queue.log" || [ -e "$STATE/ran.queued" ]; then
  problem "a request aborted while it waited in the queue still started its script: $(grep -a -F -e "queued.sh" "$T/queue.log" | tr '\n' '|')"
fi
passed "12b: -c 1: a request aborted while queued never starts its script"

P=$T/pair.sock
t0=$(now_ms)
bg_req p1 -i -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$P" '/?p1'
p1=$BG_PID
bg_req p2 -i -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$P" '/?p2'
p2=$BG_PID
wait "$p1" "$p2" || true
took=$(($(now_ms) - t0))
if [ "$(cat "$T/p1.rc")" != 0 ] || [ "$(cat "$T/p2.rc")" != 0 ]; then
  problem "-c 2: two requests exited $(cat "$T/p1.rc") and $(cat "$T/p2.rc"): $(snip "$T/p1.err") / $(snip "$T/p2.err")"
else
  s1=$(times_of p1 start) e1=$(times_of p1 end) s2=$(times_of p2 start) e2=$(times_of p2 end)
  awk -v s1="$s1" -v e1="$e1" -v s2="$s2" -v e2="$e2" 'BEGIN {exit !(s1 < e2 && s2 < e1)}' ||
    problem "-c 2: the two scripts did not run at the same time: p1 $s1-$e1, p2 $s2-$e2"
  # Two 1-second scripts one after the other take 2 s; together, about 1.
  # Measured from the scripts' own clocks: starting the clients is not
  # what is measured, and a busy machine makes it slow.
  span=$(awk -v s1="$s1" -v e1="$e1" -v s2="$s2" -v e2="$e2" \
    'BEGIN {s = s1 < s2 ? s1 : s2; e = e1 > e2 ? e1 : e2; printf "%d\n", (e - s) * 1000}')
  [ "$span" -lt 1900 ] || problem "-c 2: two 1-second scripts took $span ms from the first start to the last end"
fi
passed "12c: -c 2: two 1-second scripts run at the same time (${span:-?} ms from the first start to the last end; $took ms for the clients)"

# --- 13. --max-body -----------------------------------------------------

B=$T/maxbody.sock
: >"$STATE/cat.runs"
for n in 500 1000 1001 2000; do
  head -c "$n" /dev/urandom >"$T/body.$n"
  call "mb$n" "$B" "$ROOT/cat.sh" -d "@$T/body.$n"
done
expect_status mb500 200 "--max-body 1000, a 500-byte body" &&
  same "$T/body.500" "$T/mb500.body" "--max-body 1000: a 500-byte body echoed"
expect_status mb1000 200 "--max-body 1000, a 1000-byte body" &&
  same "$T/body.1000" "$T/mb1000.body" "--max-body 1000: a 1000-byte body echoed"
expect_status mb1001 413 "--max-body 1000, a 1001-byte body" || true
expect_status mb2000 413 "--max-body 1000, a 2000-byte body" || true
printf 'ran 500\nran 1000\n' >"$T/cat.expected"
same "$T/cat.expected" "$STATE/cat.runs" "--max-body: the script runs only for bodies within the limit"
passed "13: --max-body 1000: 500 and 1000 bytes pass, 1001 and 2000 get 413 without starting the script"

# --- 14. An inherited listening socket --------------------------------------

inherited_ok() {
  call "$1" "$2" "$ROOT/hello.sh"
  if expect_status "$1" 200 "$3"; then
    has_line "$T/$1.body" "method=GET" "$3"
  fi
}
if optional_cmd spawn-fcgi spawn-fcgi; then
  start_bg spawned spawn-fcgi -s "$T/spawned.sock" -n -- "$CGI" -r "$ROOT"
  PIDOF[spawned]=$STARTED_PID
  wait_for_socket "$T/spawned.sock" "$STARTED_PID"
  inherited_ok spawned "$T/spawned.sock" "no ADDRESS, the socket spawn-fcgi put on fd 0"
  passed "14a: no ADDRESS: serves the listening socket spawn-fcgi passes on fd 0"
fi
if [ -n "$PY" ]; then
  start_bg inherited "$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
os.dup2(s.fileno(), 0)
os.execv(sys.argv[2], sys.argv[2:])' "$T/inherited.sock" "$CGI" -r "$ROOT"
  PIDOF[inherited]=$STARTED_PID
  wait_for_socket "$T/inherited.sock" "$STARTED_PID"
  inherited_ok inherited "$T/inherited.sock" "no ADDRESS, a listening socket on fd 0 (python3)"
  passed "14b: no ADDRESS: serves a listening socket on fd 0 made by python3"
else
  optional_cmd python3 python3 || true
fi

# --- 15. Root only: -u nobody, --chroot ---------------------------------

if [ "$IS_ROOT" = 1 ]; then
  nuid=$(id -u nobody) ngid=$(id -g nobody)
  start_cgi nobody -r "$ROOT" -u nobody
  wait_for_socket "$T/nobody.sock" "${PIDOF[nobody]}"
  call whoami-root "$M" "$ROOT/whoami.sh"
  expect_status whoami-root 200 "whoami.sh as root" &&
    has_line "$T/whoami-root.body" "secret=readable" "the root-only file is readable by root (so the check below means something)"
  call whoami "$T/nobody.sock" "$ROOT/whoami.sh"
  if expect_status whoami 200 "-u nobody"; then
    has_line "$T/whoami.body" "uid=$nuid" "-u nobody: the script's uid"
    has_line "$T/whoami.body" "gid=$ngid" "-u nobody: the script's gid (nobody's group)"
    groups=$(sed -n 's/^groups=//p' "$T/whoami.body")
    case " $groups " in
    *" 0 "*) problem "-u nobody: the script keeps root's group 0 among its groups ($groups)" ;;
    esac
    has_line "$T/whoami.body" "secret=unreadable" "-u nobody: a root-only file (mode 600) is not readable"
  fi
  call rootonly "$T/nobody.sock" "$ROOT/rootonly.sh"
  expect_status rootonly 403 "-u nobody: a script only root may run (mode 700)" || true
  [ -e "$STATE/ran.rootonly" ] && problem "-u nobody: a root-only script ran"
  passed "15a: -u nobody: the script runs as nobody (uid, gid, no group 0), cannot read a root-only file, a root-only script is refused"

  mkdir -p "$T/jail/cgi"
  chmod 755 "$T/jail" "$T/jail/cgi"
  cat >"$T/prog.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>

int main(void) {
  char cwd[512];
  printf("Content-Type: text/plain\r\n\r\n");
  printf("passwd=%s\n", access("/etc/passwd", F_OK) == 0 ? "present" : "absent");
  printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
  printf("uid=%ld\n", (long)getuid());
  return 0;
}
EOF
  if command -v cc >/dev/null 2>&1 &&
    cc -static -o "$T/jail/cgi/prog" "$T/prog.c" >"$T/cc.out" 2>&1; then
    chmod 755 "$T/jail/cgi/prog"
    # LeakSanitizer cannot work without /proc, which the jail has not: a
    # sanitizer build checks leaks outside the jail only.
    start_bg jail env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
      "$CGI" --chroot "$T/jail" -r /cgi -u nobody "$T/jail.sock"
    PIDOF[jail]=$STARTED_PID
    wait_for_socket "$T/jail.sock" "$STARTED_PID"
    call chroot "$T/jail.sock" /cgi/prog
    if expect_status chroot 200 "--chroot: a static program inside"; then
      has_line "$T/chroot.body" "passwd=absent" "--chroot: /etc/passwd is not there inside the jail"
      has_line "$T/chroot.body" "cwd=/cgi" "--chroot: the script's directory, as seen inside"
      has_line "$T/chroot.body" "uid=$nuid" "--chroot with -u nobody: the uid"
    fi
    call chroot-host "$T/jail.sock" "$ROOT/hello.sh"
    expect_status chroot-host 404 "--chroot: a path outside the jail" || true
    passed "15b: --chroot DIR -r /cgi -u nobody: a static program runs inside, sees no /etc/passwd, runs as nobody"
  else
    note "sub-case SKIPPED: --chroot: cannot link a static program ($(snip "$T/cc.out" 200))"
  fi
else
  note "sub-case SKIPPED: -u nobody and --chroot need root (running as uid $(id -u))"
fi

# --- 16. Bad command lines --------------------------------------------------

# cmdline NAME ARG...: fcgikit-cgi ARG..., bounded by 20 s (it must not
# start serving); output in $T/NAME.out and $T/NAME.err, RC.
cmdline() {
  local name=$1
  shift
  RC=0
  timeout -k 5 20 "$CGI" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}
cmdline noroot "$T/noroot.sock"
[ "$RC" = 2 ] || problem "no -r: exit $RC, not 2"
has_re "$T/noroot.err" '-r' "no -r: the message names -r"
cmdline missingroot -r "$T/no-such-dir" "$T/missingroot.sock"
[ "$RC" = 1 ] || problem "-r to a missing directory: exit $RC, not 1"
grep -a -q -F -e "$T/no-such-dir" "$T/missingroot.err" ||
  problem "-r to a missing directory: the message does not name it: $(snip "$T/missingroot.err")"
cmdline fileroot -r "$ROOT/hello.sh" "$T/fileroot.sock"
[ "$RC" = 1 ] || problem "-r to a file: exit $RC, not 1"
cmdline unknown --bogus -r "$ROOT" "$T/unknown.sock"
[ "$RC" = 2 ] || problem "an unknown option: exit $RC, not 2"
cmdline help --help
[ "$RC" = 0 ] || problem "--help: exit $RC, not 0"
has_re "$T/help.out" '--root' "--help mentions --root"
cmdline c0 -c 0 -r "$ROOT" "$T/c0.sock"
[ "$RC" = 2 ] || problem "-c 0: exit $RC, not 2"
cmdline t-bad -t soon -r "$ROOT" "$T/tbad.sock"
[ "$RC" = 2 ] || problem "-t soon: exit $RC, not 2"
cmdline i-rel -i perl -r "$ROOT" "$T/irel.sock"
[ "$RC" = 2 ] || problem "-i with a relative path: exit $RC, not 2"
cmdline two -r "$ROOT" "$T/a.sock" "$T/b.sock"
[ "$RC" = 2 ] || problem "two addresses: exit $RC, not 2"
passed "16: bad command lines: no -r, unknown option, -c 0, -t soon, -i relative, two addresses exit 2; a missing root exits 1; --help exits 0"

# --- 17. SIGTERM with a script running --------------------------------------

TP=${PIDOF[term]}
bg_req term -i -p "SCRIPT_FILENAME=$ROOT/sleep.sh" "$T/term.sock" '/?term'
tq=$BG_PID
wait_started term || problem "SIGTERM: the script did not start in 30 s"
kill -TERM "$TP"
wait "$tq" || true
split_response term
RC=$(cat "$T/term.rc")
expect_status term 200 "a script running at SIGTERM finishes and is answered" &&
  has_line "$T/term.body" "slept term" "the answer of a script running at SIGTERM"
gone 20 "$TP" || problem "fcgikit-cgi still runs 20 s after SIGTERM"
rc=0
stop_pid "$TP" || rc=$?
[ "$rc" = 0 ] || problem "fcgikit-cgi exited $rc after SIGTERM, not 0"
unset 'PIDOF[term]'
spid=$(awk '$1 == "term" && $2 == "start" {print $4; exit}' "$STATE/sleep.times")
[ -n "$spid" ] && running "$spid" && problem "a script is left running after fcgikit-cgi exited"
passed "17: SIGTERM: the running script finishes and is answered 200, then fcgikit-cgi exits 0"

# --- Every instance still up, exits 0 on SIGTERM, no sanitizer report -------

for name in "${!PIDOF[@]}"; do
  running "${PIDOF[$name]}" || problem "fcgikit-cgi instance '$name' died during the test"
done
# SIGTERM to all at once (a sanitizer build's exit takes a while), then
# each one's exit status.
for name in "${!PIDOF[@]}"; do
  kill -TERM "${PIDOF[$name]}" 2>/dev/null || true
done
for name in "${!PIDOF[@]}"; do
  gone 20 "${PIDOF[$name]}" || true
  rc=0
  stop_pid "${PIDOF[$name]}" || rc=$?
  [ "$rc" = 0 ] || problem "fcgikit-cgi instance '$name' exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
hits=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err 2>/dev/null || true)
[ -z "$hits" ] || problem "sanitizer reports in: $hits"

checks_done
ok "all checks passed"
