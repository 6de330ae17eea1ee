# What the tests in tests/client/ share: running the fcgikit command with a
# bound on its run time, reading its JSON, and the checks every echo
# application gets. Sourced after tests/lib.sh and init_test. (Named .bash
# so that the *.sh glob of tests/CMakeLists.txt does not take it for a
# test.)
#
# The echo applications in tests/client/apps/ answer in the format of
# tests/lib.sh's echo_params/echo_body: "NAME=VALUE" lines, a line "--",
# then the request body; their response headers carry "X-Echo-App: NAME".

FK=$FK_BUILD/bin/fcgikit
[ -x "$FK" ] || fail "$FK is missing: build first (FK_BUILD=$FK_BUILD)"
APPS=$FK_SOURCE/tests/client/apps

FK_RC=0 # exit status of the last fk
FK_MS=0 # its run time in milliseconds

# fk NAME ARG...: runs "fcgikit ARG...", its standard output in $T/NAME.out
# and its standard error in $T/NAME.log (a .log, so that dump_logs shows it
# and no_sanitizer_reports reads it). Sets FK_RC and FK_MS. Fails when it
# runs for 60 s: nothing here may hang.
fk() {
  local name=$1 t0
  shift
  t0=$(date +%s%N)
  FK_RC=0
  timeout -k 5 60 "$FK" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.log" || FK_RC=$?
  FK_MS=$((($(date +%s%N) - t0) / 1000000))
  if [ "$FK_RC" = 124 ] || [ "$FK_RC" = 137 ]; then
    fail "$name: fcgikit $* did not end within 60 s"
  fi
  return 0
}

# expect_rc NAME STATUS WHAT: the last fk NAME exited STATUS.
expect_rc() {
  [ "$FK_RC" = "$2" ] ||
    fail "$3: fcgikit exited $FK_RC, not $2 (stderr: $(head -c 400 "$T/$1.log"))"
}

# within MS WHAT: the last fk ended within MS milliseconds (a "does not
# hang" bound, several seconds above what it needs).
within() {
  [ "$FK_MS" -le "$1" ] || fail "$2: took $FK_MS ms, more than $1"
}

# json_load FILE: reads the one-line JSON object fcgikit printed in FILE
# into the associative array J, nested keys joined with '.'
# (J[errors_by_kind.closed]); strings keep their escapes. Fails when FILE
# does not hold such an object. (Plain bash: what fcgikit prints is a flat
# object of numbers, strings and booleans, with one level of nesting.)
declare -A J
json_load() {
  local s prefix="" used re_obj re_str re_val
  s=$(<"$1")
  J=()
  [[ $s == \{*\} ]] || fail "$1 is not a JSON object: $(head -c 300 "$1")"
  s=${s:1}
  re_obj='^"([^"\\]*)":\{'
  re_str='^"([^"\\]*)":"(([^"\\]|\\.)*)"'
  re_val='^"([^"\\]*)":(-?[0-9][0-9.eE+-]*|true|false|null)'
  while [ -n "$s" ]; do
    if [[ $s =~ $re_obj ]]; then
      prefix+="${BASH_REMATCH[1]}."
      used=${#BASH_REMATCH[0]}
    elif [[ $s =~ $re_str || $s =~ $re_val ]]; then
      J[$prefix${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
      used=${#BASH_REMATCH[0]}
    elif [[ $s == \}* ]]; then
      [[ $prefix == *.*. ]] && prefix=${prefix%.*.}. || prefix=""
      used=1
    else
      fail "$1: not the JSON expected at: ${s:0:60}"
    fi
    s=${s:used}
    [[ $s == ,* ]] && s=${s:1}
  done
  [ "${#J[@]}" -gt 0 ] || fail "$1: an empty JSON object"
}

# jget KEY: a field of the last json_load (fails when it is not there).
jget() {
  [ -n "${J[$1]+set}" ] || fail "the JSON has no field $1"
  printf '%s\n' "${J[$1]}"
}

# j_positive KEY WHAT / j_equals KEY VALUE WHAT: checks on the last
# json_load (numbers may be decimals).
j_positive() {
  local v
  v=$(jget "$1")
  awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || fail "$2: $1 is $v, not > 0"
}
j_equals() {
  local v
  v=$(jget "$1")
  [ "$v" = "$2" ] || fail "$3: $1 is $v, not $2"
}

# --- The checks every echo application gets -------------------------------

# check_get ADDRESS WHAT [ARG...]: a GET with a query string, a header and
# a param: they reach the application, there is no body, and without -i no
# response header is printed. ARGs go to fcgikit first (-p SCRIPT_FILENAME).
check_get() {
  local address=$1 what=$2 out
  shift 2
  fk "get-$what" request "$@" -H 'X-Test-Header: hello there' -p TEST_PARAM=v1 \
    "$address" '/get?x=1&y=a%20b'
  expect_rc "get-$what" 0 "GET via $what"
  out=$T/get-$what.out
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=GET" "GET via $what"
  expect_line "$out.params" "QUERY_STRING=x=1&y=a%20b" "GET via $what"
  expect_line "$out.params" "HTTP_X_TEST_HEADER=hello there" "-H via $what"
  expect_line "$out.params" "TEST_PARAM=v1" "-p via $what"
  echo_body "$out" >"$out.body"
  [ -s "$out.body" ] && fail "GET via $what: the echo shows a body of $(wc -c <"$out.body") bytes"
  grep -q -a 'X-Echo-App' "$out" && fail "GET via $what: response headers printed without -i"
  ok "GET via $what: query string, -H and -p reach the application"
}

# check_include ADDRESS WHAT APP [ARG...]: with -i the response headers
# come first (X-Echo-App: APP among them), then a blank line, then the body.
check_include() {
  local address=$1 what=$2 app=$3 out
  shift 3
  fk "inc-$what" request -i "$@" "$address" '/inc?z=9'
  expect_rc "inc-$what" 0 "-i via $what"
  out=$T/inc-$what.out
  cgi_headers "$out" >"$out.headers"
  expect_line "$out.headers" "X-Echo-App: $app" "-i via $what"
  cgi_content "$out" >"$out.content"
  echo_params "$out.content" >"$out.params"
  expect_line "$out.params" "QUERY_STRING=z=9" "-i via $what (the body after the headers)"
  ok "-i via $what prints the response headers ($(tr '\n' '|' <"$out.headers"))"
}

# check_post ADDRESS WHAT [ARG...]: a 1 MB POST from a file (-d @FILE) is
# echoed byte for byte, with CONTENT_LENGTH and REQUEST_METHOD=POST.
check_post() {
  local address=$1 what=$2 out
  shift 2
  [ -f "$T/1mb.bin" ] || head -c 1048576 /dev/urandom >"$T/1mb.bin"
  fk "post-$what" request "$@" -H 'Content-Type: application/octet-stream' \
    -d "@$T/1mb.bin" "$address" /post
  expect_rc "post-$what" 0 "POST via $what"
  out=$T/post-$what.out
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "REQUEST_METHOD=POST" "POST via $what"
  expect_line "$out.params" "CONTENT_LENGTH=1048576" "POST via $what"
  expect_line "$out.params" "CONTENT_TYPE=application/octet-stream" "POST via $what"
  echo_body "$out" >"$out.body"
  same_bytes "$T/1mb.bin" "$out.body" "1 MB POST via $what"
  rm -f "$out" "$out.body"
  ok "1 MB POST via $what (-d @file) echoed byte for byte"
}

# check_fail ADDRESS WHAT URI [ARG...]: URI answers 404: exit 0 without
# --fail, 1 with it, and fcgikit says why.
check_fail() {
  local address=$1 what=$2 uri=$3
  shift 3
  fk "nf-$what" request "$@" "$address" "$uri"
  expect_rc "nf-$what" 0 "404 without --fail via $what"
  grep -q -a 'no such page' "$T/nf-$what.out" || grep -q -a '404' "$T/nf-$what.out" ||
    fail "404 via $what: not the application's 404 page: $(head -c 200 "$T/nf-$what.out")"
  fk "fail-$what" request --fail "$@" "$address" "$uri"
  expect_rc "fail-$what" 1 "404 with --fail via $what"
  grep -q 'HTTP status 404' "$T/fail-$what.log" ||
    fail "--fail via $what: no 'HTTP status 404' on stderr: $(head -c 200 "$T/fail-$what.log")"
  ok "404 via $what: exit 0, and 1 with --fail"
}

# check_stderr ADDRESS WHAT URI LINE [ARG...]: the application's STDERR
# stream (LINE) reaches fcgikit's standard error, not its output.
check_stderr() {
  local address=$1 what=$2 uri=$3 line=$4
  shift 4
  fk "err-$what" request "$@" "$address" "$uri"
  expect_rc "err-$what" 0 "STDERR via $what"
  grep -q -F -- "$line" "$T/err-$what.log" ||
    fail "STDERR via $what: '$line' not on fcgikit's stderr: $(head -c 300 "$T/err-$what.log")"
  grep -q -F -- "$line" "$T/err-$what.out" && fail "STDERR via $what: the line went to stdout"
  ok "the application's STDERR reaches fcgikit's stderr via $what"
}

# check_bench ADDRESS WHAT CONNS [ARG...]: two seconds of load on CONNS
# connections: requests answered, no error, none unanswered, exit 0.
check_bench() {
  local address=$1 what=$2 conns=$3 f
  shift 3
  fk "bench-$what" bench -d 2 -c "$conns" --json "$@" "$address" /bench
  f=$T/bench-$what.out
  expect_rc "bench-$what" 0 "bench via $what ($(cat "$f"))"
  json_load "$f"
  j_positive requests_per_second "bench via $what"
  j_equals errors 0 "bench via $what"
  j_equals unanswered 0 "bench via $what"
  within 20000 "bench -d 2 via $what"
  ok "bench via $what: $(jget requests_per_second) requests/s on $conns connection(s), no error"
}

# check_bench_lost ADDRESS WHAT CONNS DEPTH LOST_MAX [ARG...]: a bench whose
# requests the application loses: it ends anyway (within its duration plus
# grace plus slack), exits 1, reports between 1 and LOST_MAX requests
# unanswered and no error of any kind, while other requests were answered.
check_bench_lost() {
  local address=$1 what=$2 conns=$3 depth=$4 lost_max=$5 f n
  shift 5
  fk "lost-$what" bench -d 2 --grace 1 -c "$conns" -m "$depth" --json "$@" "$address" /bench
  f=$T/lost-$what.out
  expect_rc "lost-$what" 1 "bench -c $conns -m $depth via $what ($(cat "$f"))"
  within 15000 "bench -c $conns -m $depth via $what"
  json_load "$f"
  j_equals errors 0 "bench -c $conns -m $depth via $what"
  j_positive requests "bench -c $conns -m $depth via $what"
  n=$(jget unanswered)
  [ "$n" -ge 1 ] && [ "$n" -le "$lost_max" ] ||
    fail "bench -c $conns -m $depth via $what: $n unanswered, not 1 to $lost_max ($(cat "$f"))"
  note "bench -c $conns -m $depth via $what: $(jget requests) answered, $n unanswered, no error: $(cat "$f")"
}

# start_tcp NAME CMD [ARG...]: starts an application on a free loopback
# port: every ARG "@PORT@" becomes the port (retried with another port if it
# was taken meanwhile). Sets STARTED_PID and PICKED_PORT.
start_tcp() {
  local name=$1 attempt a args
  shift
  for attempt in 1 2 3 4 5; do
    pick_port
    args=()
    for a in "$@"; do
      args+=("${a//@PORT@/$PICKED_PORT}")
    done
    start_bg "$name" "${args[@]}"
    wait_for_port "$PICKED_PORT" "$STARTED_PID" && return 0
    stop_pid "$STARTED_PID" || true
    note "$name could not listen on port $PICKED_PORT; trying another"
  done
  fail "$name could not listen on any port"
}

# still_running WHAT PID...: none of the checks may have ended these.
still_running() {
  local what=$1 pid
  shift
  for pid in "$@"; do
    alive "$pid" || fail "$what (pid $pid) died during the test"
  done
}
