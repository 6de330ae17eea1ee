#!/usr/bin/env bash
# The client engine and the fcgikit command against applications that
# misbehave (tests/client/apps/bad_app.py: a mode per Unix socket, all
# served by one process). Each must end in a clear error on stderr and
# the exit status fcgikit(1) gives for it, with bounded memory, and
# nothing may hang:
#
#   nothing listening: request, ping and bench exit 3;
#   badversion (a record of version 2): request exits 6 and names the
#     version; bench counts protocol errors, exit 1;
#   badid (END_REQUEST for a request never begun): request exits 6;
#   closemid (part of a response, then the connection closes): request
#     prints the part it got, then exits 4; bench counts "closed" errors;
#   closerecord (the connection closes inside a record): request exits 4
#     and says so;
#   overloaded (END_REQUEST with FCGI_OVERLOADED): request exits 7; bench
#     counts "overloaded" errors;
#   flood (STDOUT without end): with --max-time 2 request exits 5 (after
#     its abort wait), its peak memory (max RSS) stays far below what the
#     flood sent; piped into "head -c 1000000" it stops as soon as
#     head has its bytes: killed by SIGPIPE (141), or with SIGPIPE ignored
#     exit 4 after the abort wait;
#   hang (never answers): with --max-time 2 request exits 5, and the
#     application received FCGI_ABORT_REQUEST; bench -d 2 -c 4 ends, exits
#     1, and reports the 4 requests in flight as unanswered.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
require_cmd python3 python3

# One process for every mode, each on a socket of its own.
MODES=(badversion badid closemid closerecord overloaded flood hang)
args=()
for mode in "${MODES[@]}"; do
  args+=("$mode" "$T/$mode.sock")
done
start_bg bad_app python3 "$APPS/bad_app.py" "${args[@]}"
APP=$STARTED_PID
for mode in "${MODES[@]}"; do
  wait_for_socket "$T/$mode.sock" "$APP"
done

# expect_err NAME TEXT WHAT: fcgikit's stderr of the last fk NAME says TEXT.
expect_err() {
  grep -q -F -- "$2" "$T/$1.log" ||
    fail "$3: stderr does not say '$2': $(head -c 300 "$T/$1.log")"
}

# bench_errors MODE KIND: a 1-second bench ends within bounds, exits 1 and
# counts its failures as errors of KIND only, none answered.
bench_errors() {
  local mode=$1 kind=$2
  fk "bench-$mode" bench -d 1 --grace 1 -c 2 --json "$T/$mode.sock" /
  expect_rc "bench-$mode" 1 "bench against $mode ($(cat "$T/bench-$mode.out"))"
  within 12000 "bench against $mode"
  json_load "$T/bench-$mode.out"
  j_positive "errors_by_kind.$kind" "bench against $mode"
  j_equals errors "$(jget "errors_by_kind.$kind")" "bench against $mode (only $kind errors)"
  j_equals requests 0 "bench against $mode"
  ok "bench against $mode: $(jget errors) $kind errors, exit 1"
}

# --- Nothing there ------------------------------------------------------------

for cmd in request ping bench; do
  fk "none-$cmd" "$cmd" "$T/nobody.sock"
  expect_rc "none-$cmd" 3 "$cmd to a socket nobody listens on"
  expect_err "none-$cmd" "$T/nobody.sock" "$cmd to a socket nobody listens on"
done
ok "request, ping and bench exit 3 when nothing listens"

# --- Malformed records --------------------------------------------------------

fk badversion request "$T/badversion.sock" /
expect_rc badversion 6 "a record of version 2"
expect_err badversion "version" "a record of version 2"
ok "a record of version 2: exit 6 ($(cat "$T/badversion.log"))"
bench_errors badversion protocol

fk badid request "$T/badid.sock" /
expect_rc badid 6 "END_REQUEST for a request never begun"
expect_err badid "not in flight" "END_REQUEST for a request never begun"
ok "END_REQUEST for request 8, never begun: exit 6 ($(cat "$T/badid.log"))"

# --- Closed early -------------------------------------------------------------

fk closemid request "$T/closemid.sock" /
expect_rc closemid 4 "the connection closed mid-response"
expect_err closemid "closed" "the connection closed mid-response"
printf 'partial ' >"$T/closemid.expected"
same_bytes "$T/closemid.expected" "$T/closemid.out" "closed mid-response: the part sent before on stdout"
ok "closed mid-response: the part received is printed, then exit 4 ($(cat "$T/closemid.log"))"
bench_errors closemid closed

fk closerecord request "$T/closerecord.sock" /
expect_rc closerecord 4 "the connection closed inside a record"
expect_err closerecord "inside a record" "the connection closed inside a record"
ok "closed inside a record: exit 4 ($(cat "$T/closerecord.log"))"

# --- Refused ------------------------------------------------------------------

fk overloaded request "$T/overloaded.sock" /
expect_rc overloaded 7 "FCGI_OVERLOADED"
expect_err overloaded "FCGI_OVERLOADED" "FCGI_OVERLOADED"
ok "FCGI_OVERLOADED: exit 7"
bench_errors overloaded overloaded

# --- Flood --------------------------------------------------------------------

# flood_sent: the bytes the flood application sent on its last connection
# (it logs them when the client goes away; wait for that line).
flood_sent() {
  local i n
  for i in $(seq 100); do
    n=$(sed -n 's/^flood: flood sent \([0-9]*\) bytes$/\1/p' "$T/bad_app.log" | tail -n 1)
    [ "$(grep -c '^flood: flood sent' "$T/bad_app.log")" -ge "$1" ] && break
    sleep 0.1
  done
  [ "$(grep -c '^flood: flood sent' "$T/bad_app.log")" -ge "$1" ] ||
    fail "the flood application did not see the client go away (connection $1)"
  printf '%s\n' "$n"
}

# max_rss NAME ARG...: runs fcgikit ARG... (output to /dev/null, stderr in
# $T/NAME.log) and sets RSS_KB to its peak resident memory in KiB, from GNU
# time when installed, else from VmHWM sampled in /proc while it runs.
# Sets FK_RC and FK_MS too.
max_rss() {
  local name=$1 t0 pid v
  shift
  t0=$(date +%s%N)
  FK_RC=0
  RSS_KB=0
  if [ -x /usr/bin/time ]; then
    timeout -k 5 60 /usr/bin/time -f '%M' -o "$T/$name.rss" "$FK" "$@" \
      </dev/null >/dev/null 2>"$T/$name.log" || FK_RC=$?
    RSS_KB=$(tail -n 1 "$T/$name.rss")
  else
    "$FK" "$@" </dev/null >/dev/null 2>"$T/$name.log" &
    pid=$!
    while alive "$pid"; do
      v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$v" ] && RSS_KB=$v
      if [ $(($(date +%s%N) - t0)) -gt 60000000000 ]; then
        kill -KILL "$pid"
        FK_RC=137
        break
      fi
      sleep 0.05
    done
    wait "$pid" || FK_RC=$?
  fi
  FK_MS=$((($(date +%s%N) - t0) / 1000000))
  if [ "$FK_RC" = 124 ] || [ "$FK_RC" = 137 ]; then
    fail "$name: fcgikit $* did not end within 60 s"
  fi
}

LIMIT_KB=$((64 * 1024))
max_rss flood request --max-time 2 "$T/flood.sock" /
rss=$RSS_KB
expect_rc flood 5 "a flood with --max-time 2"
expect_err flood "timed out" "a flood with --max-time 2"
within 12000 "a flood with --max-time 2"
sent=$(flood_sent 1)
note "flood: fcgikit's max RSS $rss KiB while the application sent $sent bytes"
[ "$rss" -gt 0 ] || fail "no memory figure for fcgikit"
[ "$rss" -lt "$LIMIT_KB" ] || fail "flood: fcgikit's max RSS is $rss KiB, not below $LIMIT_KB"
# The bound means something only if the flood was much bigger than it.
[ "$sent" -gt $((4 * LIMIT_KB * 1024)) ] ||
  fail "the flood sent only $sent bytes in 2 s: too little to show that memory stays bounded"
ok "flood with --max-time 2: exit 5 after $FK_MS ms; max RSS $rss KiB while $((sent >> 20)) MiB went by"

# Piped into head: SIGPIPE ends it as soon as head has its bytes. (Its exit
# status comes out through a file: the left side of a pipe is a subshell.)
t0=$(date +%s%N)
{
  rc=0
  timeout -k 5 60 "$FK" request "$T/flood.sock" / 2>"$T/head.log" </dev/null || rc=$?
  echo "$rc" >"$T/head.rc"
} | head -c 1000000 >"$T/head.out"
ms=$((($(date +%s%N) - t0) / 1000000))
status=$(cat "$T/head.rc")
[ "$status" = 141 ] ||
  fail "flood piped into head: fcgikit exited $status, not 141 (SIGPIPE) ($(cat "$T/head.log"))"
[ "$ms" -le 10000 ] || fail "flood piped into head: fcgikit took $ms ms to stop"
[ "$(wc -c <"$T/head.out")" = 1000000 ] || fail "head got $(wc -c <"$T/head.out") bytes, not 1000000"
flood_sent 2 >/dev/null
ok "flood piped into head -c: fcgikit killed by SIGPIPE after $ms ms"

# The same with SIGPIPE ignored (as under some supervisors): the write
# fails, fcgikit aborts the request and gives up after its abort wait.
t0=$(date +%s%N)
(
  trap '' PIPE
  {
    rc=0
    timeout -k 5 60 "$FK" request "$T/flood.sock" / 2>"$T/headi.log" </dev/null || rc=$?
    echo "$rc" >"$T/headi.rc"
  } | head -c 1000000 >"$T/headi.out"
)
ms=$((($(date +%s%N) - t0) / 1000000))
status=$(cat "$T/headi.rc")
[ "$status" = 4 ] ||
  fail "flood piped into head, SIGPIPE ignored: fcgikit exited $status, not 4 ($(cat "$T/headi.log"))"
[ "$ms" -le 10000 ] || fail "flood piped into head, SIGPIPE ignored: fcgikit took $ms ms to stop"
[ -s "$T/headi.log" ] || fail "flood piped into head, SIGPIPE ignored: nothing said on stderr"
flood_sent 3 >/dev/null
ok "flood piped into head -c, SIGPIPE ignored: exit 4 after $ms ms ($(cat "$T/headi.log"))"

# --- Never answers ------------------------------------------------------------

fk hang request --max-time 2 "$T/hang.sock" /
expect_rc hang 5 "an application that never answers, --max-time 2"
expect_err hang "timed out" "an application that never answers"
within 12000 "an application that never answers, --max-time 2"
for i in $(seq 50); do
  grep -q '^hang: ABORT_REQUEST id=1$' "$T/bad_app.log" && break
  sleep 0.1
done
grep -q '^hang: ABORT_REQUEST id=1$' "$T/bad_app.log" ||
  fail "after --max-time the application got no FCGI_ABORT_REQUEST for request 1"
ok "never answers, --max-time 2: FCGI_ABORT_REQUEST sent, exit 5 after $FK_MS ms"

fk bench-hang bench -d 2 --grace 1 -c 4 --json "$T/hang.sock" /
note "bench against hang: $(cat "$T/bench-hang.out")"
expect_rc bench-hang 1 "bench against an application that never answers"
within 15000 "bench against an application that never answers"
json_load "$T/bench-hang.out"
j_equals unanswered 4 "bench -c 4 against an application that never answers"
j_equals requests 0 "bench against an application that never answers"
ok "bench -d 2 -c 4 against an application that never answers: 4 unanswered, exit 1 after $FK_MS ms"

still_running bad_app.py "$APP"
no_sanitizer_reports
