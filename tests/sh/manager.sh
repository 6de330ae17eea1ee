#!/usr/bin/env bash
# fcgikitd, the process manager: pools of tests/apps/probe workers, each
# instance with its own configuration, log, pid file and status socket in
# $T, run in the foreground with -R (the tests run as root), driven with
# "fcgikit request", "fcgikit bench" and "fcgikit status".
#
#   1  a static pool of 3: exactly 3 workers, children of fcgikitd; the
#      status lists the same 3 in text and JSON; requests are answered by
#      them
#   2  the status counts exactly: after bench -n 5000 (keep-alive), bench
#      -n 1000 --no-keepalive and single requests, the pool's "requests"
#      is the number sent, and the sum of its workers'
#   3  kill -9 of the busiest worker during a bench run: it is replaced (a
#      new pid, 3 again), the bench loses at most the requests it held,
#      "restarts" is 1
#   4  three SIGHUPs during a bench run, keep-alive and --no-keepalive: no
#      error, nothing unanswered; afterwards every worker is new; the
#      socket file keeps its inode throughout
#   5  dynamic (max_children 6, start 2, min_spare 1, max_spare 2): 2 at
#      start, also when a worker takes half a second to start; under load
#      it grows, never past 6 workers; after it, back to at most 2 idle
#   6  ondemand (max_children 3, process_idle_timeout 2s): no worker at
#      start; the first request is answered and starts one; it is stopped
#      after being idle for about 2 s, not much sooner
#   7  a crash loop (/bin/false, static 2): few spawns over 5 s (backoff),
#      fcgikitd stays up and answers its status
#   8  pm.max_requests = 50, static 1: 200 requests all answered, the
#      worker replaced at least 3 times ("recycled")
#   9  request_terminate_timeout = 1s: a ?sleep=5000 request gets no
#      answer (the connection closes); the log names the request and the
#      setting; the worker is replaced; "request_timeouts" is 1
#   10 the status answers while workers are busy (16+ ?sleep=3000 requests
#      in flight), with the requests in progress: GET, the URI, a duration
#   11 a worker's 100000-byte stderr line reaches the log whole (pieces
#      marked "(continued)"), prefixed "[pool web] pid PID stderr"
#   12 SIGTERM with a ?sleep=2000 request in flight: it is answered 200;
#      fcgikitd exits 0; socket, pid file and status socket removed; no
#      worker left
#   13 SIGUSR1 reopens error_log: after the file is moved away, new
#      messages go to a new file at the configured path
#   14 sd_notify: READY=1; on SIGHUP RELOADING=1 then READY=1; on SIGTERM
#      STOPPING=1; NOTIFY_SOCKET and LISTEN_* do not reach the workers
#   15 socket activation (LISTEN_FDS/LISTEN_PID, the socket on fd 3): the
#      pool serves on it, and fcgikitd leaves the file it did not make
#   16 daemon mode: the command returns 0 once ready; the pid file names a
#      live fcgikitd; requests work; SIGTERM stops it and removes the file
#   17 -t on a good configuration exits 0 and says "valid"; a bad one
#      exits 1 naming the key; bad usage exits 2
#   18 examples/fcgikitd.conf, unchanged, in a copy of the project's
#      layout: as root its worker runs as nobody, and started as nobody it
#      runs too; both answer
#
# Checks run in the order 17, 1-3, 7, 4, 11, 13, 12, 5, 6, 8-10, 14-16:
# the crash loop of 7 runs during 1-3, and 11 to 13 use the instance of
# 1-4, which 12 stops. Every instance must exit 0 on
# SIGTERM, and no worker may be left at the end. Nothing asserts speed:
# every wait polls against a generous deadline.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd python3 python3

FKD=$FK_BUILD/bin/fcgikitd
FK=$FK_BUILD/bin/fcgikit
for bin in "$FKD" "$FK" "$FK_BUILD/tests/probe"; do
  [ -x "$bin" ] || fail "$bin is missing: build first (FK_BUILD=$FK_BUILD)"
done

# The workers run probe under a name inside $T, so that every process this
# test started is found by its command line, and no other test's.
mkdir "$T/bin"
ln -s "$FK_BUILD/tests/probe" "$T/bin/probe"
PROBE=$T/bin/probe

# Python reads the status and plays systemd: the interpreter itself, as a
# version manager's shim takes a second to start on a busy machine, and
# without site packages (-S), which nothing here needs.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
[ -n "$PY" ] && [ -x "$PY" ] || PY=$(command -v python3)
py() { "$PY" -S "$@"; }
T0=$(date +%s)

# --- Checking ---------------------------------------------------------------

# wait_until SECONDS CMD [ARG...]: runs CMD every 0.1 s until it succeeds
# (returns 0) or SECONDS have passed (returns 1). The arguments are
# expanded once: a condition with $(...) goes in eval '...'.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# Our workers still running, by their command line (see PROBE).
leftover_workers() { pgrep -f "^(/bin/sh -c sleep [0-9.]+; exec )?$T/bin/probe" || true; }

# On exit: every fcgikitd we started stops first (their workers with
# them); a worker an fcgikitd left behind is then killed, by its pid.
manager_cleanup() {
  local pid
  stop_all
  for pid in $(leftover_workers); do
    kill -KILL "$pid" 2>/dev/null || true
  done
}
manager_exit() {
  local st=$?
  trap - EXIT ERR
  set +e
  manager_cleanup
  (exit "$st")
  cleanup # exits with $?, the test's status
}
trap manager_exit EXIT

# --- Instances of fcgikitd --------------------------------------------------

# global_conf NAME: the [global] section of instance NAME: log, pid file and
# status socket in $T.
global_conf() {
  cat <<EOF
[global]
pid = $T/$1.pid
error_log = $T/$1.log
log_level = debug
status.listen = $T/$1.status
process_control_timeout = 5s

EOF
}

# pool_conf POOL [LINE...]: a pool running probe on $T/POOL.sock, with the
# extra lines given.
pool_conf() {
  local name=$1
  shift
  printf '[%s]\ncommand = %s\nlisten = %s\n' "$name" "$PROBE" "$T/$name.sock"
  printf '%s\n' "$@"
  echo
}

# start_mgr NAME [VAR=VALUE...]: fcgikitd -F -R -c $T/NAME.conf with those
# variables in its environment (its standard error in $T/NAME-stderr.log);
# returns once its status socket listens. MPID[NAME] is its pid.
declare -A MPID
start_mgr() {
  local name=$1
  shift
  start_bg "$name-stderr" env "$@" "$FKD" -F -R -c "$T/$name.conf"
  MPID[$name]=$STARTED_PID
  wait_for_socket "$T/$name.status" "$STARTED_PID" 30
}

# untrack_pid PID: a process that is gone is no longer stopped on exit (its
# pid may be another process's by then).
untrack_pid() {
  local kept=() p
  for p in "${FK_PIDS[@]}"; do
    [ "$p" = "$1" ] || kept+=("$p")
  done
  FK_PIDS=("${kept[@]+"${kept[@]}"}")
}

# stop_mgr NAME: SIGTERM; it must exit 0.
stop_mgr() {
  local rc=0
  stop_pid "${MPID[$1]}" || rc=$?
  [ "$rc" = 0 ] || problem "fcgikitd instance $1 exited $rc on SIGTERM, not 0"
  unset "MPID[$1]"
}

# kids NAME: the pids of fcgikitd NAME's children, sorted, on one line;
# nkids NAME: how many.
kids() { { pgrep -P "${MPID[$1]}" || true; } | sort -n | xargs; }
nkids() { { pgrep -P "${MPID[$1]}" || true; } | wc -l; }

# The status, read by Python: sq NAME POOL EXPR prints EXPR evaluated with
# p the pool's JSON object, procs its workers, live those not stopping,
# pids the sorted pids of procs on one line. When the status does not
# answer, or has no such pool, a line starting "ERROR" instead.
PYQ=$(
  cat <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("ERROR: unparsable status: %s" % e)
    sys.exit(0)
p = next((x for x in d.get("pools", []) if x.get("name") == sys.argv[2]), None)
if p is None:
    print("ERROR: no pool %s in the status" % sys.argv[2])
    sys.exit(0)
procs = p["processes"]
live = [w for w in procs if w["state"] != "stopping"]
pids = " ".join(str(w["pid"]) for w in sorted(procs, key=lambda w: w["pid"]))
try:
    print(eval(sys.argv[3]))
except Exception as e:
    print("ERROR: %s: %r" % (sys.argv[3], e))
PY
)
sq() {
  local f="$T/sq.$BASHPID.json"
  if ! "$FK" status -t 5 --json "$T/$1.status" >"$f" 2>"$f.err"; then
    echo "ERROR: fcgikit status failed: $(snip "$f.err")"
    return 0
  fi
  py -c "$PYQ" "$f" "$2" "$3"
}
# sq_true NAME POOL EXPR: true when EXPR is true (for wait_until).
sq_true() { [ "$(sq "$@")" = True ]; }

# bj FILE EXPR: EXPR over the JSON object fcgikit bench --json wrote (d).
bj() {
  py -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("ERROR: no bench report: %s" % e)
    sys.exit(0)
print(eval(sys.argv[2]))' "$1" "$2"
}
# bench_summary FILE: requests, errors (by kind), unanswered, retried.
bench_summary() {
  bj "$1" '"requests %s errors %s %s unanswered %s retried %s" % (d["requests"], d["errors"], {k: v for k, v in d["errors_by_kind"].items() if v}, d["unanswered"], d["retried"])'
}

# req NAME SOCKNAME URI [OPTION...]: fcgikit request to $T/SOCKNAME.sock
# (bounded: a hang is a failure, not a stuck test); output in $T/NAME.out
# and $T/NAME.err; RC its exit status.
req() {
  local name=$1 sock=$2 uri=$3
  shift 3
  RC=0
  timeout -k 5 60 "$FK" request "$@" "$T/$sock.sock" "$uri" </dev/null \
    >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}

# answer_pid NAME: the pid in a probe answer "pid N".
answer_pid() { sed -n 's/^pid \([0-9][0-9]*\)$/\1/p' "$T/$1.out" | head -n1; }

# in_list WORD LIST: WORD is one of the space-separated LIST.
in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

# log_count NAME FIXED-STRING: lines of instance NAME's log containing it.
log_count() { grep -a -c -F -e "$2" "$T/$1.log" 2>/dev/null || true; }

# --- 17: -t and bad usage ---------------------------------------------------

{
  global_conf st
  pool_conf web "pm = static" "pm.max_children = 3"
} >"$T/st.conf"

rc=0
"$FKD" -t -R -c "$T/st.conf" >"$T/t17.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || problem "17: fcgikitd -t on a good configuration exited $rc: $(snip "$T/t17.out")"
grep -q 'valid' "$T/t17.out" || problem "17: fcgikitd -t does not say \"valid\": $(snip "$T/t17.out")"
[ -e "$T/st.pid" ] || [ -e "$T/web.sock" ] || [ -e "$T/st.status" ] &&
  problem "17: fcgikitd -t made files (pid file or sockets)"
{
  global_conf bad
  pool_conf web "pm = sometimes" "pm.max_children = 3"
} >"$T/bad.conf"
rc=0
"$FKD" -t -R -c "$T/bad.conf" >"$T/t17b.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || problem "17: fcgikitd -t on a configuration with pm = sometimes exited $rc, not 1"
grep -q -E "bad\.conf:[0-9]+: pm: sometimes" "$T/t17b.out" ||
  problem "17: the message about a bad pm does not name the file, line and key: $(snip "$T/t17b.out")"
# Each message on a line of its own, the conclusion too.
grep -q -x "fcgikitd: configuration $T/bad.conf is not valid" "$T/t17b.out" ||
  problem "17: no line 'fcgikitd: configuration $T/bad.conf is not valid' on its own: $(snip "$T/t17b.out")"
rc=0
"$FKD" --no-such-option >"$T/t17c.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || problem "17: fcgikitd --no-such-option exited $rc, not 2"
rc=0
"$FKD" -R -c "$T/st.conf" stray-argument >"$T/t17d.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || problem "17: fcgikitd with a stray argument exited $rc, not 2"
passed "17: -t on a good configuration exits 0 (\"valid\"), on a bad one 1 with a message per line; bad usage exits 2"

# --- 7, first part: a crash loop, left running during 1-3 -----------------

{
  global_conf crash
  printf '[crash]\ncommand = /bin/false\nlisten = %s\npm = static\npm.max_children = 2\n' "$T/crash.sock"
} >"$T/crash.conf"
start_mgr crash
crash_t0=$(now_ms)

# --- 1: a static pool of 3 --------------------------------------------------

start_mgr st
ST=${MPID[st]}
wait_until 15 eval '[ "$(nkids st)" -ge 3 ]' || problem "1: fewer than 3 workers after 15 s: $(kids st)"
sleep 0.5 # time enough for a fourth to show, if one were started
st_kids=$(kids st)
[ "$(nkids st)" = 3 ] || problem "1: a static pool of 3 has $(nkids st) worker processes: $st_kids"
"$FK" status "$T/st.status" >"$T/st-status.txt" 2>&1 || problem "1: fcgikit status (text) failed: $(snip "$T/st-status.txt")"
grep -q -E '^workers: +3 \(' "$T/st-status.txt" || problem "1: the text status does not say 3 workers: $(snip "$T/st-status.txt" 1000)"
rows=$(grep -E '^[0-9]+ +(idle|busy|starting) ' "$T/st-status.txt" | awk '{print $1}' | sort -n | xargs)
[ "$rows" = "$st_kids" ] || problem "1: the text status lists workers '$rows', the processes are '$st_kids'"
got=$(sq st web 'pids')
[ "$got" = "$st_kids" ] || problem "1: the JSON status lists workers '$got', the processes are '$st_kids'"
got=$(sq st web '(p["workers"], p["pm"], p["max_children"])')
[ "$got" = "(3, 'static', 3)" ] || problem "1: JSON workers, pm, max_children: $got, not (3, 'static', 3)"
SENT=0
for i in 1 2 3; do
  req r1.$i web /
  SENT=$((SENT + 1))
  [ "$RC" = 0 ] || problem "1: request $i: fcgikit request exited $RC: $(snip "$T/r1.$i.err")"
  pid=$(answer_pid r1.$i)
  in_list "${pid:-none}" "$st_kids" || problem "1: request $i answered by '${pid:-nobody}', not one of the workers $st_kids: $(snip "$T/r1.$i.out")"
done
passed "1: a static pool of 3: workers $st_kids, the status lists them (text and JSON), they answer"

# 7: the spawns of the crash loop from 1 s after its start...
sleep "$(awk -v ms=$((crash_t0 + 1000 - $(now_ms))) 'BEGIN {print (ms > 0 ? ms / 1000 : 0)}')"
s0=$(sq crash crash 'p["spawned"]')
crash_t1=$(now_ms)

# --- 2: the request count is exact ------------------------------------------

rc=0
"$FK" bench "$T/web.sock" -n 5000 -c 4 --json >"$T/b2a.json" 2>"$T/b2a.err" || rc=$?
SENT=$((SENT + 5000))
[ "$(bj "$T/b2a.json" 'd["requests"] == 5000 and d["errors"] == 0 and d["unanswered"] == 0')" = True ] ||
  problem "2: bench -n 5000 (exit $rc): $(bench_summary "$T/b2a.json") $(snip "$T/b2a.err")"
rc=0
"$FK" bench "$T/web.sock" -n 1000 -c 4 --no-keepalive --json >"$T/b2b.json" 2>"$T/b2b.err" || rc=$?
SENT=$((SENT + 1000))
[ "$(bj "$T/b2b.json" 'd["requests"] == 1000 and d["errors"] == 0 and d["unanswered"] == 0')" = True ] ||
  problem "2: bench -n 1000 --no-keepalive (exit $rc): $(bench_summary "$T/b2b.json") $(snip "$T/b2b.err")"
for i in 1 2 3 4 5; do
  req r2.$i web "/?single=$i"
  SENT=$((SENT + 1))
  [ "$RC" = 0 ] || problem "2: single request $i: fcgikit request exited $RC: $(snip "$T/r2.$i.err")"
done
# Counted once a request is released, a moment after its answer: polled.
if ! wait_until 5 sq_true st web "p['requests'] == $SENT"; then
  problem "2: the status counts $(sq st web 'p["requests"]') requests, $SENT were sent and answered (per worker: $(sq st web '[(w["pid"], w["requests"]) for w in procs]'))"
fi
got=$(sq st web 'p["requests"] == sum(w["requests"] for w in procs)')
[ "$got" = True ] || problem "2: the pool's requests are not the sum of its workers': $(sq st web '(p["requests"], [w["requests"] for w in procs])')"
passed "2: the status counts exactly the $SENT requests sent, the sum of its workers' counts"

# --- 3: kill -9 of a worker during a bench run ------------------------------

restarts0=$(sq st web 'p["restarts"]')
"$FK" bench "$T/web.sock" -c 8 -d 4 --json >"$T/b3.json" 2>"$T/b3.err" &
BP=$!
# The worker holding the most connections: the one whose death costs.
pick_victim() {
  local v
  v=$(sq st web '"%d %d" % max((w["connections"], w["pid"]) for w in live)[::-1]')
  [[ $v =~ ^[0-9]+\ [1-9][0-9]*$ ]] || return 1
  victim=${v% *} vconns=${v#* }
}
victim="" vconns=""
wait_until 4 pick_victim || problem "3: the status never showed a worker with connections during the bench run"
before=$(kids st)
if in_list "$victim" "$before"; then
  kill -KILL "$victim"
  kill -0 "$BP" 2>/dev/null || problem "3: the bench run was over before worker $victim was killed (machine too slow?)"
  replaced() {
    local now
    now=$(kids st)
    [ "$(nkids st)" = 3 ] && ! in_list "$victim" "$now" && ! kill -0 "$victim" 2>/dev/null
  }
  wait_until 15 replaced || problem "3: 15 s after kill -9 of worker $victim the workers are: $(kids st)"
else
  problem "3: no worker to kill: the status named '$victim', the workers are $before"
fi
wait "$BP" || true
got=$(bj "$T/b3.json" 'd["requests"] > 0 and d["errors"] + d["unanswered"] <= 8')
[ "$got" = True ] || problem "3: bench across the kill: $(bench_summary "$T/b3.json") (at most 8 errors allowed: the victim's connections)"
got=$(sq st web 'p["restarts"]')
[ "$got" = $((restarts0 + 1)) ] || problem "3: status restarts is $got after one kill, was $restarts0"
grep -q -F "pid $victim killed by signal 9" "$T/st.log" || problem "3: the log does not report worker $victim killed by signal 9"
passed "3: worker $victim (${vconns} connections) killed by signal 9 is replaced ($(kids st)); bench: $(bench_summary "$T/b3.json"); restarts 1"

# --- 7, second part: ... to 5 s later --------------------------------------

sleep "$(awk -v ms=$((crash_t1 + 5000 - $(now_ms))) 'BEGIN {print (ms > 0 ? ms / 1000 : 0)}')"
s1=$(sq crash crash 'p["spawned"]')
crash_window=$((($(now_ms) - crash_t1 + 500) / 1000))
alive "${MPID[crash]}" || problem "7: fcgikitd died in a crash loop"
case "$s0 $s1" in
*ERROR*) problem "7: the status does not answer during a crash loop: $s0 / $s1" ;;
*)
  [ $((s1 - s0)) -lt 20 ] || problem "7: $((s1 - s0)) workers spawned in $crash_window s of a crash loop (no backoff)"
  [ "$s1" -ge 3 ] || problem "7: only $s1 spawns: a crashed worker is not started again"
  ;;
esac
got=$(sq crash crash 'p["restarts"] >= 2')
[ "$got" = True ] || problem "7: status restarts: $(sq crash crash 'p["restarts"]')"
grep -q -F 'the next start waits' "$T/crash.log" || problem "7: the log does not say the next start waits"
stop_mgr crash
passed "7: crash loop: $s0 spawns in the first second, $((s1 - s0)) in the next $crash_window s; fcgikitd up, status answering"

# --- 4: reloads under load ----------------------------------------------------

ino0=$(stat -c %i "$T/web.sock")
for mode in keepalive no-keepalive; do
  opt=()
  [ "$mode" = no-keepalive ] && opt=(--no-keepalive)
  before=$(kids st)
  # shellcheck disable=SC2034 # read by the eval below
  reloads0=$(log_count st 'configuration reloaded')
  "$FK" bench "$T/web.sock" -c 8 -d 3 "${opt[@]}" --json >"$T/b4.$mode.json" 2>"$T/b4.$mode.err" &
  BP=$!
  sleep 0.5
  for i in 1 2 3; do
    kill -HUP "$ST"
    wait_until 10 eval '[ "$(log_count st "configuration reloaded")" -ge $((reloads0 + i)) ]' ||
      problem "4 ($mode): reload $i not logged within 10 s"
    ino=$(stat -c %i "$T/web.sock" 2>/dev/null || echo none)
    [ "$ino" = "$ino0" ] || problem "4 ($mode): after reload $i the socket file's inode is $ino, was $ino0"
    sleep 0.4
  done
  wait "$BP" || true
  got=$(bj "$T/b4.$mode.json" 'd["requests"] > 0 and d["errors"] == 0 and d["unanswered"] == 0')
  [ "$got" = True ] || problem "4 ($mode): bench across three reloads: $(bench_summary "$T/b4.$mode.json")"
  all_new() {
    local p now
    now=$(kids st)
    [ "$(nkids st)" = 3 ] || return 1
    for p in $before; do
      in_list "$p" "$now" && return 1
    done
    return 0
  }
  wait_until 20 all_new || problem "4 ($mode): 20 s after the reloads the workers are '$(kids st)'; before them '$before'"
  note "4 ($mode): $(bench_summary "$T/b4.$mode.json"); workers $before -> $(kids st)"
done
ino=$(stat -c %i "$T/web.sock" 2>/dev/null || echo none)
[ "$ino" = "$ino0" ] || problem "4: after the reloads the socket file's inode is $ino, was $ino0"
passed "4: three reloads under load, keep-alive and not: no error, nothing unanswered, every worker new, socket inode $ino0 kept"

# --- 11: a long stderr line ---------------------------------------------------

req r11 web '/?stderr=100000'
[ "$RC" = 0 ] && grep -q -x 'wrote 100000' "$T/r11.out" ||
  problem "11: ?stderr=100000: exit $RC: $(snip "$T/r11.out") $(snip "$T/r11.err")"
xpid() { grep -a -o '\[pool web\] pid [0-9]* stderr' "$T/st.log" | head -n1 | awk '{print $4}'; }
# x_bytes PID: what follows "stderr: " or "stderr (continued): " on that
# worker's lines, joined; x_count PID: how many bytes.
x_bytes() { sed -n "s/^.*\[pool web\] pid $1 stderr\( (continued)\)\{0,1\}: //p" "$T/st.log" | tr -d '\n'; }
x_count() { x_bytes "$1" | wc -c; }
wait_until 10 eval '[ -n "$(xpid)" ]' || problem "11: no line '[pool web] pid PID stderr' in the log"
wpid=$(xpid)
if [ -n "$wpid" ]; then
  wait_until 10 eval '[ "$(x_count "$wpid")" -ge 100000 ]' || true
  got=$(x_count "$wpid")
  [ "$got" = 100000 ] || problem "11: the log holds $got bytes of worker $wpid's 100000-x line"
  other=$(x_bytes "$wpid" | tr -d 'x' | wc -c)
  [ "$other" = 0 ] || problem "11: $other bytes other than 'x' in worker $wpid's stderr lines"
  pieces=$(grep -a -c -F "[pool web] pid $wpid stderr" "$T/st.log" || true)
  cont=$(grep -a -c -F "[pool web] pid $wpid stderr (continued): " "$T/st.log" || true)
  [ "$pieces" -ge 1 ] && [ "$cont" = $((pieces - 1)) ] ||
    problem "11: $pieces pieces, of which $cont marked (continued): every piece but the first should be"
  in_list "$wpid" "$(sq st web 'pids')" || problem "11: the stderr lines name pid $wpid, not a worker of the pool"
fi
passed "11: a 100000-byte stderr line logged whole in ${pieces:-?} pieces, as [pool web] pid $wpid stderr"

# --- 13: SIGUSR1 reopens the log -------------------------------------------

mv "$T/st.log" "$T/st.log.moved"
kill -USR1 "$ST"
wait_until 10 eval '[ "$(log_count st "log reopened")" -ge 1 ]' ||
  problem "13: after SIGUSR1 no \"log reopened\" in a new $T/st.log"
req r13 web '/?stderr=7'
wait_until 10 grep -a -q -E 'stderr: x{7}$' "$T/st.log" ||
  problem "13: a worker's line after SIGUSR1 is not in the new log file"
grep -a -q -F 'log reopened' "$T/st.log.moved" && problem "13: \"log reopened\" went to the file moved away"
grep -a -q -E 'stderr: x{7}$' "$T/st.log.moved" && problem "13: a line after SIGUSR1 went to the file moved away"
passed "13: SIGUSR1: new messages go to a new file at the configured path"

# --- 12: SIGTERM with a request in flight -----------------------------------

st_kids=$(kids st)
timeout -k 5 60 "$FK" request -i -m 30 "$T/web.sock" '/?sleep=2000' >"$T/r12.out" 2>"$T/r12.err" </dev/null &
RQ=$!
wait_until 10 sq_true st web 'sum(len(w["current"]) for w in procs) >= 1' ||
  problem "12: the ?sleep=2000 request never showed in the status"
kill -TERM "$ST"
rc=0
wait "$RQ" || rc=$?
[ "$rc" = 0 ] && grep -q '^Status: 200' "$T/r12.out" && grep -q -x 'pid [0-9]*' "$T/r12.out" ||
  problem "12: the request in flight at SIGTERM: exit $rc: $(snip "$T/r12.out") $(snip "$T/r12.err")"
wait_until 20 eval '! alive "$ST"' || problem "12: fcgikitd still runs 20 s after SIGTERM"
stop_mgr st
for f in web.sock st.pid st.status; do
  [ -e "$T/$f" ] && problem "12: $f is still there after fcgikitd stopped"
done
for p in $st_kids; do
  alive "$p" && problem "12: worker $p still runs after fcgikitd stopped"
done
passed "12: SIGTERM: the request in flight answered 200, exit 0, socket, pid file and status socket removed, no worker left"

# --- 5: a dynamic pool --------------------------------------------------------

DYN=("pm = dynamic" "pm.max_children = 6" "pm.start_servers = 2"
  "pm.min_spare_servers = 1" "pm.max_spare_servers = 2")
{
  global_conf dyn
  pool_conf dyn "${DYN[@]}"
} >"$T/dyn.conf"
# The same pool, with workers that take half a second to start (as most
# real applications do): they are starting, not busy.
{
  global_conf dyns
  printf '[dyns]\ncommand = /bin/sh\nargs = -c "sleep 0.5; exec %s"\nlisten = %s\n' "$PROBE" "$T/dyns.sock"
  printf '%s\n' "${DYN[@]}"
} >"$T/dyns.conf"
start_mgr dyn
start_mgr dyns
wait_until 15 sq_true dyn dyn 'len(live) == 2' || problem "5: the dynamic pool does not have 2 workers: $(sq dyn dyn 'pids')"
sleep 2
got=$(sq dyn dyn '(p["spawned"], len(procs))')
[ "$got" = "(2, 2)" ] || problem "5: pm.start_servers = 2: (spawned, workers) is $got 2 s after start, not (2, 2)"
got=$(sq dyns dyns '(p["spawned"], len(procs))')
[ "$got" = "(2, 2)" ] ||
  problem "5: pm.start_servers = 2 with workers that start in 0.5 s: (spawned, workers) is $got a few seconds after start, not (2, 2): $(grep -c 'started worker' "$T/dyns.log") 'started worker' lines"
stop_mgr dyns
# Load: many concurrent slow requests on new connections, so that they
# spread over the workers; the number of workers not stopping, sampled.
"$FK" bench "$T/dyn.sock" -c 32 -d 5 --no-keepalive '/?sleep=300' --json >"$T/b5.json" 2>"$T/b5.err" &
BP=$!
: >"$T/dyn.samples"
while kill -0 "$BP" 2>/dev/null; do
  { "$FK" status -t 5 --json "$T/dyn.status" 2>/dev/null || true; } |
    grep -o '"state":"[a-z]*"' | grep -v -c stopping >>"$T/dyn.samples" || true
  sleep 0.2
done
wait "$BP" || true
most=$(sort -n "$T/dyn.samples" | tail -n1)
[ "$(bj "$T/b5.json" 'd["requests"] > 0 and d["errors"] == 0 and d["unanswered"] == 0')" = True ] ||
  problem "5: bench on the dynamic pool: $(bench_summary "$T/b5.json")"
[ "${most:-0}" -gt 2 ] || problem "5: under load the pool never grew past 2 workers (samples: $(xargs <"$T/dyn.samples"))"
[ "${most:-0}" -le 6 ] || problem "5: the pool ran $most workers at once, above pm.max_children 6 (samples: $(xargs <"$T/dyn.samples"))"
got=$(sq dyn dyn 'p["spawned"]')
shrunk() { sq_true dyn dyn 'p["idle"] <= 2 and 1 <= len(live) <= 2 and len(procs) == len(live)'; }
wait_until 20 shrunk || problem "5: 20 s after the load the pool has $(sq dyn dyn '[(w["pid"], w["state"]) for w in procs]'), not 1 or 2 idle"
stop_mgr dyn
passed "5: dynamic: 2 at start; under load up to $most workers (max 6; samples $(xargs <"$T/dyn.samples")); then shrank back to at most 2 idle ($(grep -c "stopping (more idle workers" "$T/dyn.log") idle workers stopped)"

# --- 6: an ondemand pool ------------------------------------------------------

{
  global_conf ond
  pool_conf ond "pm = ondemand" "pm.max_children = 3" "pm.process_idle_timeout = 2s"
} >"$T/ond.conf"
start_mgr ond
sleep 1
[ "$(nkids ond)" = 0 ] || problem "6: an ondemand pool runs workers before any request: $(kids ond)"
got=$(sq ond ond 'len(procs)')
[ "$got" = 0 ] || problem "6: the status shows $got workers before any request"
req r6 ond /
t_answered=$(now_ms)
pid=$(answer_pid r6)
[ "$RC" = 0 ] && [ -n "$pid" ] || problem "6: the first request: exit $RC: $(snip "$T/r6.out") $(snip "$T/r6.err")"
[ "$(kids ond)" = "$pid" ] || problem "6: after the first request the workers are '$(kids ond)', not the one that answered ($pid)"
wait_until 15 eval '[ "$(nkids ond)" = 0 ]' || problem "6: the worker still runs 15 s after the request (process_idle_timeout 2s)"
idle_ms=$(($(now_ms) - t_answered))
[ "$idle_ms" -ge 1500 ] || problem "6: the worker was gone ${idle_ms} ms after its request, before process_idle_timeout (2 s)"
grep -q -F 'idle for pm.process_idle_timeout' "$T/ond.log" || problem "6: the log does not give the idle timeout as the reason"
stop_mgr ond
passed "6: ondemand: no worker at start, one for the first request, gone ${idle_ms} ms after it"

# --- 8: pm.max_requests ---------------------------------------------------------

{
  global_conf rec
  pool_conf rec "pm = static" "pm.max_children = 1" "pm.max_requests = 50"
} >"$T/rec.conf"
start_mgr rec
wait_until 15 eval '[ "$(nkids rec)" = 1 ]' || problem "8: no worker"
pid0=$(kids rec)
rc=0
"$FK" bench "$T/rec.sock" -n 200 -c 1 --json >"$T/b8.json" 2>"$T/b8.err" || rc=$?
[ "$(bj "$T/b8.json" 'd["requests"] == 200 and d["errors"] == 0 and d["unanswered"] == 0')" = True ] ||
  problem "8: bench -n 200 (exit $rc): $(bench_summary "$T/b8.json")"
wait_until 3 sq_true rec rec 'p["recycled"] >= 3' ||
  problem "8: after 200 requests with pm.max_requests = 50, (recycled, spawned) is $(sq rec rec '(p["recycled"], p["spawned"])'), not at least (3, 4): a worker served far more than pm.max_requests"
in_list "$pid0" "$(kids rec)" && problem "8: worker $pid0 still runs after 200 requests"
stop_mgr rec
passed "8: pm.max_requests = 50: 200 requests answered; (recycled, spawned) = $(sq rec rec '(p["recycled"], p["spawned"])')"

# --- 9: request_terminate_timeout -----------------------------------------------

{
  global_conf tmo
  pool_conf tmo "pm = static" "pm.max_children = 1" "request_terminate_timeout = 1s"
} >"$T/tmo.conf"
start_mgr tmo
wait_until 15 eval '[ "$(nkids tmo)" = 1 ]' || problem "9: no worker"
pid0=$(kids tmo)
t0=$(now_ms)
req r9 tmo '/?sleep=5000' -m 20
ms=$(($(now_ms) - t0)) rc9=$RC
[ "$RC" != 0 ] || problem "9: a ?sleep=5000 request past request_terminate_timeout = 1s was answered (${ms} ms): $(snip "$T/r9.out")"
grep -q '^pid' "$T/r9.out" && problem "9: the request killed by the timeout still got its answer"
wait_until 5 grep -q -F 'request_terminate_timeout' "$T/tmo.log" || problem "9: the log does not mention request_terminate_timeout"
grep -q -F '"GET /?sleep=5000"' "$T/tmo.log" || problem "9: the log does not name the request \"GET /?sleep=5000\": $(grep -F request_terminate "$T/tmo.log" | head -n1)"
replaced9() { [ "$(nkids tmo)" = 1 ] && [ "$(kids tmo)" != "$pid0" ] && ! kill -0 "$pid0" 2>/dev/null; }
wait_until 10 replaced9 || problem "9: the worker was not replaced: was $pid0, now '$(kids tmo)'"
got=$(sq tmo tmo 'p["request_timeouts"]')
[ "$got" = 1 ] || problem "9: status request_timeouts is $got, not 1"
req r9b tmo /
[ "$RC" = 0 ] || problem "9: the new worker does not answer: $(snip "$T/r9b.err")"
stop_mgr tmo
passed "9: request_terminate_timeout: the request ended after ${ms} ms without an answer (fcgikit request exit $rc9), logged, worker $pid0 replaced, request_timeouts 1"

# --- 10: the status while workers are busy ----------------------------------------

{
  global_conf busy
  pool_conf busy "pm = static" "pm.max_children = 2"
} >"$T/busy.conf"
start_mgr busy
wait_until 15 sq_true busy busy 'len(live) == 2 and all(w["reports"] for w in live)' ||
  problem "10: the 2 workers do not report: $(sq busy busy '[(w["pid"], w["state"]) for w in procs]')"
"$FK" bench "$T/busy.sock" -c 16 -n 16 --grace 20 '/?sleep=3000' --json >"$T/b10.json" 2>"$T/b10.err" &
BP=$!
# status10: one JSON status (it must answer within 3 s: fcgikit status
# -t 3), checked: 16 requests in progress, each GET /?sleep=3000 with a
# duration, on workers shown busy. Sets check10 ("ok ..." or what is
# wrong) and ms10, the longest a status took.
CHECK10_PY='
import json, sys
p = json.load(open(sys.argv[1]))["pools"][0]
cur = [c for w in p["processes"] for c in w["current"]]
bad = [c for c in cur if c["method"] != "GET" or "sleep=3000" not in c["uri"] or not c["duration_ms"] > 0]
busy = [w["pid"] for w in p["processes"] if w["state"] == "busy"]
if len(cur) < 16 or bad or not busy or p["busy"] != len(busy):
    print("busy %s (pool says %s), %d requests in progress, wrong ones: %s" % (busy, p["busy"], len(cur), bad[:3]))
else:
    print("ok busy %s, %d requests in progress, e.g. %s" % (busy, len(cur), cur[0]))
'
ms10=0 check10="no status"
status10() {
  local t0 rc=0 ms
  t0=$(now_ms)
  "$FK" status -t 3 --json "$T/busy.status" >"$T/s10.json" 2>"$T/s10.err" || rc=$?
  ms=$(($(now_ms) - t0))
  [ "$ms" -le "$ms10" ] || ms10=$ms
  if [ "$rc" != 0 ]; then
    problem "10: fcgikit status -t 3 failed (exit $rc) while the workers are busy: $(snip "$T/s10.err")"
    return 1
  fi
  check10=$(py -c "$CHECK10_PY" "$T/s10.json" 2>&1)
  case $check10 in ok*) return 0 ;; esac
  return 1
}
wait_until 10 status10 || problem "10: $check10"
# The text form, while the requests still run.
text10() {
  "$FK" status -t 3 "$T/busy.status" >"$T/s10.txt" 2>&1 &&
    grep -q -E '^[0-9]+ +busy .* GET /\?sleep=3000 [0-9.]+s' "$T/s10.txt"
}
wait_until 3 text10 ||
  problem "10: the text status shows no busy worker with 'GET /?sleep=3000 N.NNNs': $(grep -E '^[0-9]+ ' "$T/s10.txt" | head -n2 | cut -c1-200)"
wait "$BP" || true
[ "$(bj "$T/b10.json" 'd["requests"] == 16 and d["errors"] == 0')" = True ] ||
  problem "10: the 16 slow requests: $(bench_summary "$T/b10.json")"
stop_mgr busy
passed "10: the status answered (at most ${ms10} ms) with 16+ requests in flight: ${check10#ok }"

# --- 14: sd_notify -------------------------------------------------------------

# A NOTIFY_SOCKET receiver: one line per datagram, newlines as " | ".
NOTIFY_PY='import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        m = s.recv(65536).decode("utf-8", "replace")
        f.write(m.replace("\n", " | ") + "\n")
        f.flush()'
start_bg notify-recv "$PY" -S -c "$NOTIFY_PY" "$T/notify.sock" "$T/notify.msgs"
NRP=$STARTED_PID
wait_until 10 [ -S "$T/notify.sock" ] || problem "14: the notify receiver did not start"
{
  global_conf ntf
  pool_conf ntf "pm = static" "pm.max_children = 1" "clear_env = no"
} >"$T/ntf.conf"
start_mgr ntf NOTIFY_SOCKET="$T/notify.sock" LISTEN_FDS=0
# nth_line N PATTERN: the line number of the Nth message matching.
nth_line() { grep -n -E -e "$2" "$T/notify.msgs" 2>/dev/null | sed -n "${1}p" | cut -d: -f1; }
wait_until 10 eval '[ -n "$(nth_line 1 "(^| )READY=1")" ]' || problem "14: no READY=1 at start"
req r14 ntf '/?env'
[ "$RC" = 0 ] || problem "14: ?env: exit $RC"
grep -q -E '^(NOTIFY_SOCKET|LISTEN_[A-Z]*)=' "$T/r14.out" &&
  problem "14: a worker (clear_env = no) got $(grep -E '^(NOTIFY_SOCKET|LISTEN_[A-Z]*)=' "$T/r14.out" | xargs)"
kill -HUP "${MPID[ntf]}"
wait_until 10 eval '[ -n "$(nth_line 2 "(^| )READY=1")" ]' || problem "14: no second READY=1 after SIGHUP"
r1=$(nth_line 1 '(^| )READY=1') rl=$(nth_line 1 'RELOADING=1') r2=$(nth_line 2 '(^| )READY=1')
[ -n "$rl" ] && [ "$r1" -lt "$rl" ] && [ "$rl" -lt "${r2:-0}" ] ||
  problem "14: not READY=1, RELOADING=1, READY=1 in that order: $(tr '\n' '/' <"$T/notify.msgs")"
kill -TERM "${MPID[ntf]}"
wait_until 10 eval '[ -n "$(nth_line 1 "STOPPING=1")" ]' || problem "14: no STOPPING=1 on SIGTERM"
stop_mgr ntf
stop_pid "$NRP" || true
passed "14: sd_notify: $(tr '\n' '/' <"$T/notify.msgs" | cut -c1-200)"

# --- 15: socket activation --------------------------------------------------------

# A launcher as systemd is one: the listening socket on fd 3, LISTEN_FDS=1,
# LISTEN_PID its own pid, which exec keeps.
ACTIVATE_PY='import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(64)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])'
{
  global_conf act
  pool_conf act "pm = static" "pm.max_children = 2"
} >"$T/act.conf"
start_bg act-stderr "$PY" -S -c "$ACTIVATE_PY" "$T/act.sock" "$FKD" -F -R -c "$T/act.conf"
MPID[act]=$STARTED_PID
wait_for_socket "$T/act.status" "$STARTED_PID" 30
ino0=$(stat -c %i "$T/act.sock" 2>/dev/null || echo none)
for i in 1 2 3; do
  req r15.$i act "/?n=$i"
  [ "$RC" = 0 ] && [ -n "$(answer_pid r15.$i)" ] || problem "15: request $i on the passed socket: exit $RC: $(snip "$T/r15.$i.err")"
done
ino=$(stat -c %i "$T/act.sock" 2>/dev/null || echo none)
[ "$ino" = "$ino0" ] || problem "15: the socket file changed (inode $ino0 -> $ino): fcgikitd made its own"
stop_mgr act
[ -S "$T/act.sock" ] || problem "15: fcgikitd removed the socket file it was passed"
passed "15: socket activation: the pool serves on the passed socket; the file stays after exit"

# --- 16: daemon mode --------------------------------------------------------------

{
  global_conf dmn
  pool_conf dmn "pm = static" "pm.max_children = 2"
} >"$T/dmn.conf"
rc=0
timeout -k 5 60 "$FKD" -R -c "$T/dmn.conf" >"$T/dmn-start.log" 2>&1 </dev/null || rc=$?
[ "$rc" = 0 ] || problem "16: fcgikitd (daemon) exited $rc: $(snip "$T/dmn-start.log")"
dpid=$(cat "$T/dmn.pid" 2>/dev/null || true)
if [ -n "$dpid" ] && [ "$dpid" -gt 1 ] 2>/dev/null; then
  track_pid "$dpid"
  [ "$(cat "/proc/$dpid/comm" 2>/dev/null)" = fcgikitd ] || problem "16: pid file names $dpid, not a running fcgikitd"
  socket_listening "$T/dmn.sock" || problem "16: the pool's socket does not listen when the command returns"
  dkids=$(pgrep -P "$dpid" | xargs || true)
  req r16 dmn /
  [ "$RC" = 0 ] && in_list "$(answer_pid r16)" "$dkids" || problem "16: request: exit $RC: $(snip "$T/r16.out") $(snip "$T/r16.err") (workers $dkids)"
  kill -TERM "$dpid"
  wait_until 20 eval '! alive "$dpid"' || problem "16: the daemon still runs 20 s after SIGTERM"
  [ -e "$T/dmn.pid" ] && problem "16: the pid file is still there after the daemon stopped"
  alive "$dpid" || untrack_pid "$dpid"
  for p in $dkids; do
    alive "$p" && problem "16: worker $p still runs after the daemon stopped"
  done
else
  problem "16: no pid in the pid file: '$dpid'"
fi
passed "16: daemon mode: ready on return, pid file $dpid, requests answered, SIGTERM removes the pid file"

# --- 18: examples/fcgikitd.conf as it is ---------------------------------------

# The example names the project's build directory relative to itself: a
# copy of examples/ and of the echo program in the same layout under $T.
EX=$T/ex
mkdir -p "$EX/examples" "$EX/build/examples"
cp "$FK_SOURCE/examples/fcgikitd.conf" "$EX/examples/"
cp "$FK_BUILD/examples/echo" "$EX/build/examples/echo"
chmod 755 "$T" "$EX" "$EX/examples" "$EX/build" "$EX/build/examples"
# run_example CMD...: starts it, asks the pool once, stops it; the worker's
# user in EX_USER.
run_example() {
  EX_USER=
  start_bg example "$@" -F -c "$EX/examples/fcgikitd.conf"
  local epid=$STARTED_PID
  if wait_for_socket "$EX/build/echo.sock" "$epid" 30; then
    req r18 ex/build/echo /hello
    grep -a -q -x 'REQUEST_URI=/hello' "$T/r18.out" ||
      problem "18: ($*) no echo of the request: exit $RC: $(snip "$T/r18.out") $(snip "$T/r18.err")"
    EX_USER=$(ps -o user= --ppid "$epid" | sort -u | xargs)
  else
    problem "18: ($*) the example's socket never appeared: $(snip "$T/example.log" 500)"
  fi
  stop_pid "$epid" || problem "18: ($*) fcgikitd exited $? on SIGTERM"
}
if [ "$(id -u)" = 0 ]; then
  run_example "$FKD"
  [ "$EX_USER" = nobody ] || problem "18: started as root, the example's workers run as '$EX_USER', not nobody"
  if command -v setpriv >/dev/null; then
    chown -R nobody:nogroup "$EX"
    run_example setpriv --reuid=nobody --regid=nogroup --clear-groups "$FKD"
    [ "$EX_USER" = nobody ] || problem "18: started as nobody, the workers run as '$EX_USER'"
  else
    note "18: no setpriv: the example not run as an ordinary user"
  fi
else
  run_example "$FKD"
  [ "$EX_USER" = "$(id -un)" ] || problem "18: the example's workers run as '$EX_USER', not $(id -un)"
fi
passed "18: examples/fcgikitd.conf works as it is, started as root (workers as nobody) and as an ordinary user"

# --- The end: nothing left ------------------------------------------------------

for name in "${!MPID[@]}"; do
  alive "${MPID[$name]}" || problem "fcgikitd instance $name died during the test"
  stop_mgr "$name"
done
left=$(leftover_workers | xargs)
[ -z "$left" ] || problem "workers still running after every fcgikitd stopped: $left"
no_sanitizer_reports

checks_done
ok "all checks passed"
