#!/usr/bin/env bash
# fcgikitd (src/manager/): configurations with a mistake, as any user.
# Each mistake is written into a configuration that is otherwise right
# (checked first), then given to "fcgikitd -t" and to "fcgikitd -F" (with
# a time limit, in case it starts); both must exit 1, print the message
# "FILE:LINE: KEY: ..." with the line of the mistake (and only that one),
# and leave nothing behind: no process, no socket file, no pid file.
#
#   1  the right configuration: -t says it is valid; -F serves and exits 0
#      on SIGTERM, its socket and pid file removed
#   2  mistakes in the file: an unknown key (in a pool and in [global]); a
#      line without '='; a key before any section; a section header
#      without ']'; a pool key in [global]; pm = sometimes; no
#      pm.max_children; pm.max_children = 0 and = abc; pm = dynamic with
#      pm.min_spare_servers > pm.max_spare_servers; no listen; two pools on
#      one Unix path and on one TCP port (127.0.0.1:P and P); no command; a
#      command not executable, and one that does not exist; a user that
#      does not exist; listen.mode = 999; request_terminate_timeout = 5x;
#      a key twice in a section; a pool name twice; env[] with a bad name
#      (env[BAD NAME], env[]); listen.allowed_clients on a Unix socket
#   3  no pool (an empty file); a file that does not exist; a directory
#   4  the messages are lines of their own: the last one is not run into
#      "fcgikitd: configuration FILE is not valid"
#   5  at start: a Unix path another live process listens on (the second of
#      two pools): -F exits 1 naming the pool and the address, the first
#      pool's socket is removed, the other process's socket stays and
#      answers; the same for a TCP port; status.listen on that path: exit 1
#      with the workers started meanwhile stopped; a pid file that cannot
#      be made (no directory; a directory): exit 1 before any socket; two
#      pools on one path written two ways (sub/../x.sock and x.sock): -F
#      exits 1 with nothing left (-t cannot tell: only noted)
#   6  SIGHUP to a configuration with a mistake (a bad value, a missing
#      file, a new pool on a busy address, which must leave the socket of
#      an idle ondemand pool open): the reload is refused with
#      FILE:LINE: KEY in the log, fcgikitd keeps its pools (same worker
#      pids, requests answered, socket and pid file in place); a second
#      fcgikitd on the same pid file exits 1 without touching the socket;
#      then a right reload is taken (new workers), and SIGTERM: exit 0,
#      nothing left
#
# As root every run has -R, so that only the mistake under test is found.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test

D=$FK_BUILD/bin/fcgikitd
FK=$FK_BUILD/bin/fcgikit
for f in "$D" "$FK" "$FK_BUILD/tests/probe"; do
  [ -x "$f" ] || fail "$f is missing: build first (FK_BUILD=$FK_BUILD)"
done

ROOT_OPT=()
[ "$(id -u)" = 0 ] && ROOT_OPT=(-R)

# --- Checking (as tests/sh/cgi.sh) ----------------------------------------------

# The program the pools run: a copy, so that what runs from $T is ours.
mkdir "$T/bin" "$T/run" "$T/conf"
cp "$FK_BUILD/tests/probe" "$T/bin/app"
chmod 755 "$T/bin/app"
APP=$T/bin/app
RUN=$T/run # sockets and pid files: must stay empty after every refusal
CONF=$T/conf

# procs_under DIR: pids of the processes whose program is under DIR;
# leftovers CONF: those, and every fcgikitd with CONF on its command line.
procs_under() {
  find /proc/[0-9]*/exe -maxdepth 0 -lname "$1/*" 2>/dev/null | cut -d/ -f3 || true
}
D_REAL=$(readlink -f "$D")
leftovers() {
  local p
  procs_under "$T"
  for p in $(find /proc/[0-9]*/exe -maxdepth 0 -lname "$D_REAL" 2>/dev/null | cut -d/ -f3); do
    grep -q -a -F -e "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
  return 0
}

# line_of FILE TEXT [N]: the number of the Nth line (default 1) that is TEXT.
line_of() {
  grep -n -x -F -e "$2" "$1" | sed -n "${3:-1}p" | cut -d: -f1
}

# pool NAME [LISTEN]: the lines of a right pool.
pool() {
  cat <<EOF
[$1]
command = $APP
listen = ${2:-$RUN/$1.sock}
pm = static
pm.max_children = 1
EOF
}
global() {
  printf '[global]\npid = %s\n' "$RUN/fcgikitd.pid"
}

# run_d NAME MODE CONF: fcgikitd MODE (-t or -F) on CONF, bounded; output
# in $T/NAME.MODE.out/.err, exit status in RC.
run_d() {
  RC=0
  timeout -k 3 8 "$D" "$2" ${ROOT_OPT[@]+"${ROOT_OPT[@]}"} -c "$3" </dev/null \
    >"$T/$1$2.out" 2>"$T/$1$2.err" || RC=$?
}

# nothing_left WHAT CONF: no process, and $RUN holds nothing but KEEP.
KEEP=""
nothing_left() {
  local left="" _ f
  for _ in $(seq 30); do
    left=$(leftovers "$2")
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] ||
    problem "$1: processes left: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo "($p)"; done | tr '\n' ' ')"
  for f in "$RUN"/* "$RUN"/.[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ -n "$KEEP" ] && [ "$f" = "$KEEP" ] && continue
    problem "$1: $f was made"
    rm -rf "$f"
  done
}

# refused NAME LINE KEY TEXT [COUNT]: $CONF/NAME.conf is refused by -t and
# by -F: exit 1; a message starting with "FILE:LINE: KEY: " (no LINE when
# empty; no "KEY: " when KEY is empty) and containing TEXT; COUNT messages
# naming the file in all (default 1: only the mistake); nothing left.
refused() {
  local name=$1 line=$2 key=$3 text=$4 count=${5:-1} conf=$CONF/$1.conf mode want n
  want="$conf${line:+:$line}: ${key:+$key: }"
  for mode in -t -F; do
    run_d "$name" "$mode" "$conf"
    local err=$T/$name$mode.err what="$name (fcgikitd $mode)"
    [ "$RC" = 1 ] || problem "$what: exit $RC, not 1 (124: it started and ran until killed): $(snip "$err")"
    awk -v w="$want" 'index($0, w) == 1 {found = 1} END {exit !found}' "$err" ||
      problem "$what: no line starting '$want': $(snip "$err" 600)"
    [ -z "$text" ] || has_text "$err" "$text" "$what"
    n=$(awk -v f="$conf" 'index($0, f) == 1' "$err" | wc -l)
    [ "$n" = "$count" ] || problem "$what: $n messages naming the file, not $count: $(snip "$err" 600)"
    if grep -q 'is valid' "$T/$name$mode.out"; then
      problem "$what: says the configuration is valid"
    fi
    nothing_left "$what" "$conf"
  done
}

# --- 1: the right configuration -----------------------------------------------------

{
  global
  pool app
} >"$CONF/good.conf"
run_d good -t "$CONF/good.conf"
[ "$RC" = 0 ] || problem "1: the right configuration: -t exited $RC: $(snip "$T/good-t.err")"
has_text "$T/good-t.out" "is valid" "1: -t on the right configuration"
nothing_left "1: -t" "$CONF/good.conf"
start_bg good "$D" -F ${ROOT_OPT[@]+"${ROOT_OPT[@]}"} -c "$CONF/good.conf"
GOOD=$STARTED_PID
wait_for_socket "$RUN/app.sock" "$GOOD" 15
RC=0
timeout 40 "$FK" request -m 20 "$RUN/app.sock" /x >"$T/good.out" 2>&1 || RC=$?
[ "$RC" = 0 ] && grep -q '^pid [0-9]' "$T/good.out" ||
  problem "1: the right configuration does not answer (exit $RC): $(snip "$T/good.out")"
[ -s "$RUN/fcgikitd.pid" ] || problem "1: no pid file"
rc=0
stop_pid "$GOOD" || rc=$?
[ "$rc" = 0 ] || problem "1: fcgikitd exited $rc on SIGTERM, not 0"
nothing_left "1: after SIGTERM" "$CONF/good.conf"
passed "1: the right configuration is valid, serves, and leaves nothing after SIGTERM"

# --- 2: mistakes in the file -----------------------------------------------------------

c=$CONF
{ global; pool app; echo "pm.max_childs = 2"; } >"$c/unknown.conf"
refused unknown "$(line_of "$c/unknown.conf" "pm.max_childs = 2")" pm.max_childs "unknown key"

{ global; echo "pidfile = $RUN/x.pid"; pool app; } >"$c/unknown-global.conf"
refused unknown-global "$(line_of "$c/unknown-global.conf" "pidfile = $RUN/x.pid")" pidfile "unknown key"

{ global; pool app; echo "this line has no equals sign"; } >"$c/garbage.conf"
refused garbage "$(line_of "$c/garbage.conf" "this line has no equals sign")" "" \
  "this line has no equals sign: not a key = value line"

{ echo "log_level = debug"; global; pool app; } >"$c/before.conf"
refused before 1 log_level "outside any section"

{ global; echo "[app"; echo "command = $APP"; echo "listen = $RUN/app.sock"; echo "pm.max_children = 1"; } >"$c/header.conf"
refused header 3 "" "no ']'"

{ global; echo "user = nobody"; pool app; } >"$c/pool-key-in-global.conf"
refused pool-key-in-global 3 user "a pool key"

{ global; pool app | sed 's/^pm = static$/pm = sometimes/'; } >"$c/pm.conf"
refused pm "$(line_of "$c/pm.conf" "pm = sometimes")" pm "sometimes"

{ global; pool app | grep -v '^pm.max_children'; } >"$c/no-max.conf"
refused no-max "$(line_of "$c/no-max.conf" "[app]")" pm.max_children "required"

{ global; pool app | sed 's/^pm.max_children = 1$/pm.max_children = 0/'; } >"$c/max0.conf"
refused max0 "$(line_of "$c/max0.conf" "pm.max_children = 0")" pm.max_children "0"

{ global; pool app | sed 's/^pm.max_children = 1$/pm.max_children = abc/'; } >"$c/maxabc.conf"
refused maxabc "$(line_of "$c/maxabc.conf" "pm.max_children = abc")" pm.max_children "abc"

{
  global
  pool app | sed -e 's/^pm = static$/pm = dynamic/' -e 's/^pm.max_children = 1$/pm.max_children = 10/'
  echo "pm.min_spare_servers = 5"
  echo "pm.max_spare_servers = 2"
} >"$c/spares.conf"
refused spares "$(line_of "$c/spares.conf" "pm.max_spare_servers = 2")" pm.max_spare_servers \
  "pm.min_spare_servers"

{ global; pool app | grep -v '^listen'; } >"$c/no-listen.conf"
refused no-listen "$(line_of "$c/no-listen.conf" "[app]")" listen "required"

{ global; pool a "$RUN/same.sock"; pool b "$RUN/same.sock"; } >"$c/same-unix.conf"
refused same-unix "$(line_of "$c/same-unix.conf" "listen = $RUN/same.sock" 2)" listen \
  "pool a listens there already (line $(line_of "$c/same-unix.conf" "listen = $RUN/same.sock"))"

pick_port
{ global; pool a "127.0.0.1:$PICKED_PORT"; pool b "$PICKED_PORT"; } >"$c/same-tcp.conf"
refused same-tcp "$(line_of "$c/same-tcp.conf" "listen = $PICKED_PORT")" listen "pool a"

{ global; pool app | grep -v '^command'; } >"$c/no-command.conf"
refused no-command "$(line_of "$c/no-command.conf" "[app]")" command "required"

printf '#!/bin/sh\nexit 0\n' >"$T/bin/notexec"
chmod 644 "$T/bin/notexec"
{ global; pool app | sed "s|^command = .*|command = $T/bin/notexec|"; } >"$c/notexec.conf"
refused notexec "$(line_of "$c/notexec.conf" "command = $T/bin/notexec")" command "not executable"

{ global; pool app | sed "s|^command = .*|command = $T/bin/nonexistent|"; } >"$c/nocommand-file.conf"
refused nocommand-file "$(line_of "$c/nocommand-file.conf" "command = $T/bin/nonexistent")" command \
  "$T/bin/nonexistent: No such file or directory"

nouser=fk-no-such-user
getent passwd "$nouser" >/dev/null && fail "user $nouser exists here"
{ global; pool app; echo "user = $nouser"; } >"$c/nouser.conf"
refused nouser "$(line_of "$c/nouser.conf" "user = $nouser")" user "no such user"

{ global; pool app; echo "listen.mode = 999"; } >"$c/mode.conf"
refused mode "$(line_of "$c/mode.conf" "listen.mode = 999")" listen.mode "999"

{ global; pool app; echo "request_terminate_timeout = 5x"; } >"$c/duration.conf"
refused duration "$(line_of "$c/duration.conf" "request_terminate_timeout = 5x")" \
  request_terminate_timeout "5x"

{ global; pool app; echo "pm.max_children = 2"; } >"$c/twice.conf"
refused twice "$(line_of "$c/twice.conf" "pm.max_children = 2")" pm.max_children \
  "line $(line_of "$c/twice.conf" "pm.max_children = 1")"

{ global; pool app; pool app "$RUN/other.sock"; } >"$c/pool-twice.conf"
refused pool-twice "$(line_of "$c/pool-twice.conf" "[app]" 2)" "[app]" "line $(line_of "$c/pool-twice.conf" "[app]")"

{ global; pool app; echo "env[BAD NAME] = 1"; } >"$c/envname.conf"
refused envname "$(line_of "$c/envname.conf" "env[BAD NAME] = 1")" "env[BAD NAME]" "not a variable name"

{ global; pool app; echo "env[] = 1"; } >"$c/envempty.conf"
refused envempty "$(line_of "$c/envempty.conf" "env[] = 1")" "env[]" "not a variable name"

{ global; pool app; echo "listen.allowed_clients = 127.0.0.1"; } >"$c/clients-unix.conf"
refused clients-unix "$(line_of "$c/clients-unix.conf" "listen.allowed_clients = 127.0.0.1")" \
  listen.allowed_clients "TCP"

passed "2: each mistake in the file: -t and -F exit 1 with FILE:LINE: KEY of that line alone, nothing made, nothing left"

# --- 3: no pool, no file ------------------------------------------------------------------

: >"$c/empty.conf"
refused empty "" "" "no pool"
refused missing "" "" "cannot open: No such file or directory"
mkdir "$c/dir.conf"
refused dir "" "" "cannot open"
passed "3: an empty file, a missing one, a directory: exit 1 naming the file"

# --- 4: one message a line -------------------------------------------------------------

# Any refusal above will do: the summary must start a line of its own.
for f in "$T/maxabc-t.err" "$T/empty-t.err"; do
  if ! grep -q '^fcgikitd: configuration .* is not valid$' "$f"; then
    problem "4: the summary line is not a line of its own in ${f#"$T"/}: $(snip "$f" 400) (the last message has no newline before 'fcgikitd: configuration ... is not valid')"
  fi
done
passed "4: messages and the summary on lines of their own"

# --- 5: failures at start ------------------------------------------------------------------

# Another process listening on a Unix path: examples/echo.
start_example echo "$RUN/busy.sock"
ECHO=$STARTED_PID
wait_for_socket "$RUN/busy.sock" "$ECHO" 15
KEEP=$RUN/busy.sock
echo_answers() {
  local rc=0
  timeout 40 "$FK" request -m 20 "$RUN/busy.sock" /still-there >"$T/echo.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] && grep -q 'still-there' "$T/echo.out" ||
    problem "$1: the other process's socket no longer answers (exit $rc): $(snip "$T/echo.out")"
}

{ global; pool first; pool busy "$RUN/busy.sock"; } >"$c/busy.conf"
run_d busy -F "$c/busy.conf"
[ "$RC" = 1 ] || problem "5: a pool on a Unix path in use: -F exited $RC, not 1"
has_text "$T/busy-F.err" "pool busy: listen $RUN/busy.sock" "5: a pool on a Unix path in use"
nothing_left "5: a pool on a Unix path in use" "$c/busy.conf"
[ -S "$RUN/busy.sock" ] || problem "5: the other process's socket file was removed"
echo_answers "5: after fcgikitd -F refused its address"
run_d busy -t "$c/busy.conf"
[ "$RC" = 0 ] || problem "5: -t on a configuration that is right (its address is busy): exit $RC, not 0"
nothing_left "5: -t with a busy address" "$c/busy.conf"
echo_answers "5: after fcgikitd -t"

start_example_tcp echo
ECHO_TCP=$STARTED_PID
{ global; pool tcpbusy "127.0.0.1:$PICKED_PORT"; } >"$c/busy-tcp.conf"
run_d busy-tcp -F "$c/busy-tcp.conf"
[ "$RC" = 1 ] || problem "5: a pool on a TCP port in use: -F exited $RC, not 1"
has_text "$T/busy-tcp-F.err" "pool tcpbusy: listen 127.0.0.1:$PICKED_PORT" "5: a pool on a TCP port in use"
nothing_left "5: a pool on a TCP port in use" "$c/busy-tcp.conf"
rc=0
timeout 40 "$FK" request -m 20 "127.0.0.1:$PICKED_PORT" /tcp-still-there >"$T/echo-tcp.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q tcp-still-there "$T/echo-tcp.out" ||
  problem "5: the other process's TCP port no longer answers (exit $rc)"
stop_pid "$ECHO_TCP" || true

{ global; echo "status.listen = $RUN/busy.sock"; pool app; } >"$c/busy-status.conf"
run_d busy-status -F "$c/busy-status.conf"
[ "$RC" = 1 ] || problem "5: status.listen on a path in use: -F exited $RC, not 1"
has_text "$T/busy-status-F.err" "status.listen $RUN/busy.sock" "5: status.listen on a path in use"
nothing_left "5: status.listen on a path in use (the workers started before it)" "$c/busy-status.conf"
echo_answers "5: after status.listen was refused"

{ printf '[global]\npid = %s\n' "$RUN/nodir/fcgikitd.pid"; pool app; } >"$c/pidfile.conf"
run_d pidfile -F "$c/pidfile.conf"
[ "$RC" = 1 ] || problem "5: a pid file in a directory that does not exist: -F exited $RC, not 1"
has_text "$T/pidfile-F.err" "$RUN/nodir/fcgikitd.pid" "5: a pid file that cannot be made"
nothing_left "5: a pid file that cannot be made" "$c/pidfile.conf"
{ printf '[global]\npid = %s\n' "$T/bin"; pool app; } >"$c/pidfile-dir.conf"
run_d pidfile-dir -F "$c/pidfile-dir.conf"
[ "$RC" = 1 ] || problem "5: a pid file that is a directory: -F exited $RC, not 1"
has_text "$T/pidfile-dir-F.err" "pid file $T/bin" "5: a pid file that is a directory"
nothing_left "5: a pid file that is a directory" "$c/pidfile-dir.conf"

# Two pools whose paths differ as written but name one file: -t cannot
# tell (no path is resolved), -F must refuse cleanly.
mkdir "$RUN/sub"
KEEP_SUB=$RUN/sub
{ global; pool a "$RUN/sub/../twin.sock"; pool b "$RUN/twin.sock"; } >"$c/twin.conf"
run_d twin -F "$c/twin.conf"
[ "$RC" = 1 ] || problem "5: two pools on one path written two ways: -F exited $RC, not 1"
rmdir "$KEEP_SUB"
nothing_left "5: two pools on one path written two ways" "$c/twin.conf"
run_d twin -t "$c/twin.conf"
[ "$RC" = 0 ] || note "5: -t now finds two pools on one path written two ways (exit $RC)"
passed "5: a busy Unix path or TCP port, a busy status.listen, a pid file that cannot be made: exit 1, named, nothing left, the other process untouched"

# --- 6: SIGHUP with a mistake ---------------------------------------------------------------

R=$c/reload.conf
# With a second pool, ondemand and never asked, so without a worker: a
# refused reload must leave its socket open too.
write_good() {
  {
    global
    pool app | sed "s/^pm.max_children = 1$/pm.max_children = ${1:-2}/"
    pool idle | sed "s/^pm = static$/pm = ondemand/"
  } >"$R"
}
write_good 2
start_bg reload "$D" -F ${ROOT_OPT[@]+"${ROOT_OPT[@]}"} -c "$R"
RD=$STARTED_PID
KEEP=""
wait_for_socket "$RUN/app.sock" "$RD" 15

# workers: the pids of fcgikitd's children, sorted, on one line, once
# there are $1 of them (polled 10 s).
workers() {
  local _ w=""
  for _ in $(seq 100); do
    w=$(ps --ppid "$RD" -o pid= | tr -d ' ' | sort -n | tr '\n' ' ' | sed 's/ $//')
    [ "$(wc -w <<<"$w")" = "$1" ] && break
    sleep 0.1
  done
  echo "$w"
}
# answered_by WHAT PIDS: five requests, each answered by one of PIDS.
answered_by() {
  local i rc pid
  for i in 1 2 3 4 5; do
    rc=0
    timeout 40 "$FK" request -m 20 "$RUN/app.sock" "/r$i" >"$T/r.out" 2>&1 || rc=$?
    pid=$(sed -n 's/^pid //p' "$T/r.out")
    if [ "$rc" != 0 ] || [ -z "$pid" ]; then
      problem "$1: request $i not answered (exit $rc): $(snip "$T/r.out")"
      return
    fi
    case " $2 " in
    *" $pid "*) ;;
    *) problem "$1: request $i answered by pid $pid, not one of the workers ($2)" ;;
    esac
  done
}
# hup_refused WHAT TEXT...: SIGHUP; the log gets "reload refused" and each
# TEXT; fcgikitd, its workers, socket and pid file stay.
hup_refused() {
  local what=$1 before after _ t
  shift
  before=$(grep -c 'reload refused' "$T/reload.log" || true)
  kill -HUP "$RD"
  for _ in $(seq 100); do
    [ "$(grep -c 'reload refused' "$T/reload.log" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  [ "$(grep -c 'reload refused' "$T/reload.log" || true)" -gt "$before" ] ||
    problem "$what: no 'reload refused' in the log: $(tail -n 5 "$T/reload.log" | tr '\n' '|')"
  for t in "$@"; do
    has_text "$T/reload.log" "$t" "$what"
  done
  sleep 0.3 # would a wrongly taken reload replace the workers?
  alive "$RD" || problem "$what: fcgikitd exited"
  after=$(workers 2)
  [ "$after" = "$W0" ] || problem "$what: the workers are now '$after', were '$W0'"
  answered_by "$what" "$W0"
  [ -S "$RUN/app.sock" ] || problem "$what: the socket file is gone"
  [ "$(cat "$RUN/fcgikitd.pid" 2>/dev/null)" = "$RD" ] || problem "$what: the pid file does not hold $RD"
}

W0=$(workers 2)
[ "$(wc -w <<<"$W0")" = 2 ] || problem "6: not 2 workers at start: '$W0'"
answered_by "6: before any reload" "$W0"

write_good 2
sed -i 's/^pm.max_children = 2$/pm.max_children = abc/' "$R"
hup_refused "6: SIGHUP with pm.max_children = abc" \
  "$R:$(line_of "$R" "pm.max_children = abc"): pm.max_children: "

write_good 2
echo "no_such_key = 1" >>"$R"
hup_refused "6: SIGHUP with an unknown key" "$R:$(line_of "$R" "no_such_key = 1"): no_such_key: "

mv "$R" "$R.away"
hup_refused "6: SIGHUP with the file gone" "$R: cannot open"
mv "$R.away" "$R"

# A new pool on an address another process listens on: refused at the
# socket, after the file was found right.
write_good 2
pool busy "$RUN/busy.sock" >>"$R"
hup_refused "6: SIGHUP adding a pool on a busy address" "pool busy: listen $RUN/busy.sock"
echo_answers "6: after the refused reload onto its address"
[ -S "$RUN/busy.sock" ] || problem "6: the other process's socket file was removed"
socket_listening "$RUN/idle.sock" ||
  problem "6: the refused reload closed the socket of an ondemand pool with no worker"

# A second fcgikitd on the same pid file.
write_good 2
run_d second -F "$R"
[ "$RC" = 1 ] || problem "6: a second fcgikitd on the same pid file: exit $RC, not 1"
has_text "$T/second-F.err" "running already (pid $RD)" "6: a second fcgikitd on the same pid file"
[ -S "$RUN/app.sock" ] || problem "6: the second fcgikitd removed the first one's socket"
answered_by "6: after a second fcgikitd was refused" "$W0"

# A right reload is taken: one worker, a new one.
write_good 1
kill -HUP "$RD"
for _ in $(seq 100); do
  grep -q 'configuration reloaded' "$T/reload.log" && break
  sleep 0.1
done
has_text "$T/reload.log" "configuration reloaded" "6: SIGHUP with a right configuration"
W1=$(workers 1)
[ "$(wc -w <<<"$W1")" = 1 ] || problem "6: after the right reload the workers are '$W1', not one"
case " $W0 " in *" $W1 "*) problem "6: after the right reload the worker $W1 is an old one" ;; esac
answered_by "6: after the right reload" "$W1"

rc=0
stop_pid "$RD" || rc=$?
[ "$rc" = 0 ] || problem "6: fcgikitd exited $rc on SIGTERM, not 0"
KEEP=$RUN/busy.sock
nothing_left "6: after SIGTERM" "$R"
passed "6: a reload with a mistake is refused with FILE:LINE: KEY and the pools go on untouched; a right one is taken"

stop_pid "$ECHO" || true
KEEP=""
nothing_left "at the end" "$CONF"
no_sanitizer_reports
checks_done
ok "all checks passed"
