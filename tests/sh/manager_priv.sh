#!/usr/bin/env bash
# fcgikitd (src/manager/): privileges and confinement, as root. Each
# scenario runs its own fcgikitd -F on a configuration in $T, with
# tests/apps/probe as the pools' program (copied into $T, which nobody can
# reach), asked over FastCGI with "fcgikit request" what a worker sees.
#
#   1  user = nobody, group = nogroup: uid/euid/gid/egid 65534, no
#      supplementary group but 65534 (setgroups done); a root-only file
#      gives "error: Permission denied", a public one is read; groups =
#      users, 4242 gives exactly those; groups = (empty) gives none; user =
#      nobody alone takes the user's own group
#   2  chroot (probe_static as /probe, command = /probe: the command is a
#      path inside the chroot; a relative one is refused): /marker is read,
#      a file outside is not found; cwd / (and chdir = /sub); the worker's
#      root is the jail; an /etc/group planted inside the jail grants no
#      group (groups are looked up outside it)
#   3  listen.owner = nobody, listen.group = nogroup, listen.mode = 0600:
#      the socket is nobody:nogroup 600; by default root:root 660; nobody
#      can connect to the first and not to the second
#   4  listen.allowed_clients = 127.0.0.1 on TCP: a request from 127.0.0.1
#      is answered; one from source address 127.0.0.2 gets no answer (the
#      connection is closed); the worker lives on; ?env shows
#      FCGI_WEB_SERVER_ADDRS
#   5  clear_env (default yes): exactly env[] arrives (FOO_SECRET exported
#      to fcgikitd does not; env[HOME] = $HOME passes fcgikitd's own value;
#      "$HOME" in quotes is literal; $UNSET leaves the variable out;
#      FCGIKIT_SCOREBOARD is taken out by the library); clear_env = no:
#      FOO_SECRET arrives, env[LANG] replaces fcgikitd's LANG (one LANG
#      line), NOTIFY_SOCKET does not arrive
#   6  umask = 027, rlimit_files = 512, rlimit_core = 0, rlimit_as = 2G
#      (rlimit_as not under AddressSanitizer)
#   7  root refusal: a pool without user (and one with user = root) when
#      fcgikitd runs as root without -R: -t and -F exit 1, the message
#      names FILE:LINE and the pool, says the workers would run as root and
#      suggests user or -R; no socket, no pid file, no process left; with
#      -R it runs and the worker is uid 0; a SIGHUP to a configuration
#      without user is refused and the nobody workers stay
#   8  no privileges kept: the user = nobody worker's /proc/PID/status has
#      CapInh/CapPrm/CapEff/CapAmb 0, Uid and Gid all 65534, Groups 65534;
#      it leads a session of its own; none of its descriptors is
#      fcgikitd's pid file, log or configuration
#   9  the pid file's name, in a directory the workers' user owns, made a
#      symbolic link to a root-owned file by that user: fcgikitd does not
#      write through it
#
# Every fcgikitd must exit 0 on SIGTERM, removing its sockets and pid file,
# and leave no worker behind; logs are checked for sanitizer reports.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test

[ "$(id -u)" = 0 ] ||
  skip "manager_priv checks users, groups, chroot and socket owners: it must run as root (sudo -E ctest -R manager_priv)"

D=$FK_BUILD/bin/fcgikitd
FK=$FK_BUILD/bin/fcgikit
for f in "$D" "$FK" "$FK_BUILD/tests/probe"; do
  [ -x "$f" ] || fail "$f is missing: build first (FK_BUILD=$FK_BUILD)"
done
[ "$(getent passwd nobody | cut -d: -f3)" = 65534 ] ||
  skip "no user nobody with uid 65534 here"
NOGROUP=$(getent group 65534 | cut -d: -f1)
[ -n "$NOGROUP" ] || skip "no group with gid 65534 (nogroup) here"

PY=""
if command -v python3 >/dev/null 2>&1; then
  # The interpreter itself: a version manager's shim is slow to start.
  PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
  [ -n "$PY" ] && [ -x "$PY" ] || PY=""
fi

# --- Checking (as tests/sh/cgi.sh) --------------------------------------------

# req NAME ADDRESS URI: one request; the body in $T/NAME.out, stderr in
# $T/NAME.err, the exit status in RC.
req() {
  RC=0
  timeout -k 5 40 "$FK" request -m 20 "$2" "$3" </dev/null \
    >"$T/$1.out" 2>"$T/$1.err" || RC=$?
}

# ask NAME ADDRESS URI WHAT: req that must be answered.
ask() {
  req "$1" "$2" "$3"
  [ "$RC" = 0 ] && return 0
  problem "$4: fcgikit request $3 exited $RC: $(snip "$T/$1.err")"
  return 1
}

# groups_of FILE: the "groups" line of an ?id answer, ids sorted, one line.
groups_of() {
  sed -n 's/^groups *//p' "$1" | tr ' ' '\n' | { grep . || true; } | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# procs_under DIR: pids of the processes whose program is under DIR.
procs_under() {
  find /proc/[0-9]*/exe -maxdepth 0 -lname "$1/*" 2>/dev/null | cut -d/ -f3 || true
}

# no_leftovers WHAT: no process runs a program from $T (workers, whatever
# fcgikitd left), polled a few seconds.
no_leftovers() {
  local left="" _
  for _ in $(seq 30); do
    left=$(procs_under "$T")
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  problem "$1: processes left running: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo "($p)"; done | tr '\n' ' ')"
}

# start_d NAME CONF [OPTION...]: fcgikitd -F in the background, its output
# in $T/NAME.log; DPID its pid.
start_d() {
  local name=$1 conf=$2
  shift 2
  start_bg "$name" "$D" -F "$@" -c "$conf"
  DPID=$STARTED_PID
}

# up SOCKET...: true once each Unix socket listens; a problem when fcgikitd
# ($DPID) exits first or after 15 s.
up() {
  local s _
  for s in "$@"; do
    for _ in $(seq 150); do
      socket_listening "$s" && continue 2
      if ! alive "$DPID"; then
        problem "fcgikitd exited before listening on $s: $(tail -n 5 "$T"/*.log 2>/dev/null | tr '\n' '|' | head -c 800)"
        return 1
      fi
      sleep 0.1
    done
    problem "no socket listening at $s after 15 s"
    return 1
  done
}

# stop_d WHAT FILE...: SIGTERM to fcgikitd: exit 0, the FILEs (its sockets,
# its pid file) gone, no worker left.
stop_d() {
  local what=$1 rc=0 f
  shift
  stop_pid "$DPID" || rc=$?
  [ "$rc" = 0 ] || problem "$what: fcgikitd exited $rc on SIGTERM, not 0"
  for f in "$@"; do
    [ -e "$f" ] && problem "$what: $f is still there after fcgikitd stopped"
  done
  no_leftovers "$what: after SIGTERM"
}

# worker_pid NAME ADDRESS: the pid of the worker that answers (probe's
# default answer is "pid N"); empty when none.
worker_pid() {
  req "$1" "$2" /pid
  sed -n 's/^pid //p' "$T/$1.out"
}

# --- The programs, where nobody can run them ---------------------------------

chmod 755 "$T"
mkdir -m 755 "$T/bin" "$T/s" "$T/files"
STATIC=$FK_BUILD/tests/probe_static
[ -x "$STATIC" ] || STATIC=""
# The static probe needs nothing outside its own file; without it (the
# sanitizer build) the dynamic one runs from the build directory's library,
# copied here when nobody cannot reach it.
POOL_ENV=""
EXTRA_ENV=()
if [ -n "$STATIC" ]; then
  cp "$STATIC" "$T/bin/probe"
else
  cp "$FK_BUILD/tests/probe" "$T/bin/probe"
fi
chmod 755 "$T/bin/probe"
PROBE=$T/bin/probe
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$PROBE" </dev/null >"$T/nobody-run.out" 2>&1 || rc=$?
if [ "$rc" = 127 ]; then
  note "nobody cannot load probe's library from $FK_BUILD: a copy in $T/lib, with env[LD_LIBRARY_PATH]"
  mkdir -m 755 "$T/lib"
  cp -L "$FK_BUILD"/libfcgikit.so* "$T/lib/" 2>/dev/null || true
  chmod 755 "$T"/lib/*
  POOL_ENV="env[LD_LIBRARY_PATH] = $T/lib"
  EXTRA_ENV=("LD_LIBRARY_PATH=$T/lib")
fi
ASAN=0
grep -a -q -e __asan_init "$PROBE" && ASAN=1

echo "root only" >"$T/files/secret"
chmod 600 "$T/files/secret"
echo "for everyone" >"$T/files/public"
chmod 644 "$T/files/public"

# --- 1, 6, 8: user, group, groups; umask and limits; no privileges kept ---------

XG_NAME=users
XG=$(getent group users | cut -d: -f3 || true)
if [ -z "$XG" ]; then
  note "no group 'users': groups = 4242 only (a number needs no entry)"
  XG_NAME=""
fi
C1=$T/c1.conf
cat >"$C1" <<EOF
[global]
pid = $T/c1.pid
error_log = $T/c1-error.log

[nobody]
command = $PROBE
listen = $T/s/nobody.sock
user = nobody
group = $NOGROUP
pm.max_children = 1
$POOL_ENV

[groups]
command = $PROBE
listen = $T/s/groups.sock
user = nobody
group = $NOGROUP
groups = ${XG_NAME:+$XG_NAME, }4242
pm.max_children = 1
$POOL_ENV

[nogroups]
command = $PROBE
listen = $T/s/nogroups.sock
user = nobody
group = $NOGROUP
groups =
pm.max_children = 1
$POOL_ENV

[useronly]
command = $PROBE
listen = $T/s/useronly.sock
user = nobody
pm.max_children = 1
$POOL_ENV

[limits]
command = $PROBE
listen = $T/s/limits.sock
user = nobody
group = $NOGROUP
umask = 027
rlimit_files = 512
rlimit_core = 0
$([ "$ASAN" = 1 ] || echo "rlimit_as = 2G")
pm.max_children = 1
$POOL_ENV
EOF
start_d c1 "$C1"
up "$T/s/nobody.sock" "$T/s/groups.sock" "$T/s/nogroups.sock" "$T/s/useronly.sock" "$T/s/limits.sock" || true

if ask id1 "$T/s/nobody.sock" '/x?id' "1: ?id of the nobody pool"; then
  has_line "$T/id1.out" "uid 65534 euid 65534 gid 65534 egid 65534" "1: user = nobody, group = $NOGROUP"
  g=$(groups_of "$T/id1.out")
  [ "$g" = 65534 ] || problem "1: supplementary groups of the nobody worker: '$g', expected only 65534 (setgroups not done?)"
fi
if ask rd1 "$T/s/nobody.sock" "/x?read=$T/files/secret" "1: ?read of a root-only file"; then
  has_line "$T/rd1.out" "error: Permission denied" "1: a root-only file (600) read as nobody"
fi
if ask rd2 "$T/s/nobody.sock" "/x?read=$T/files/public" "1: ?read of a public file"; then
  has_line "$T/rd2.out" "ok for everyone" "1: a public file read as nobody"
fi
if ask id2 "$T/s/groups.sock" '/x?id' "1: ?id of the groups pool"; then
  has_line "$T/id2.out" "uid 65534 euid 65534 gid 65534 egid 65534" "1: groups = ...: uid and gid"
  g=$(groups_of "$T/id2.out")
  want=$(printf '%s\n' ${XG:+"$XG"} 4242 | sort -n | tr '\n' ' ' | sed 's/ $//')
  [ "$g" = "$want" ] || problem "1: groups = ${XG_NAME:+$XG_NAME, }4242: supplementary groups '$g', expected exactly '$want'"
fi
if ask id3 "$T/s/nogroups.sock" '/x?id' "1: ?id of the pool with an empty groups ="; then
  g=$(groups_of "$T/id3.out")
  [ -z "$g" ] || problem "1: groups = (empty): supplementary groups '$g', expected none"
fi
if ask id4 "$T/s/useronly.sock" '/x?id' "1: ?id of the pool with user only"; then
  has_line "$T/id4.out" "uid 65534 euid 65534 gid 65534 egid 65534" "1: user = nobody without group: the user's own group"
fi
passed "1: user/group/groups: uid and gid 65534, supplementary groups as set (none left from root), a root-only file unreadable"

if ask id6 "$T/s/limits.sock" '/x?id' "6: ?id of the limits pool"; then
  has_line "$T/id6.out" "umask 027" "6: umask = 027"
fi
if ask lim6 "$T/s/limits.sock" '/x?limits' "6: ?limits"; then
  has_line "$T/lim6.out" "nofile 512/512" "6: rlimit_files = 512"
  has_line "$T/lim6.out" "core 0/0" "6: rlimit_core = 0"
  if [ "$ASAN" = 1 ]; then
    note "6: rlimit_as not checked: AddressSanitizer needs more address space than 2G"
  else
    has_line "$T/lim6.out" "as 2147483648/2147483648" "6: rlimit_as = 2G"
  fi
fi
if ask id6b "$T/s/nobody.sock" '/x?id' "6: ?id of a pool without umask"; then
  has_line "$T/id6b.out" "umask 022" "6: the default umask"
fi
passed "6: umask 027, RLIMIT_NOFILE 512, RLIMIT_CORE 0, RLIMIT_AS 2G"

wp=$(worker_pid wp8 "$T/s/nobody.sock")
if [ -z "$wp" ] || [ ! -r "/proc/$wp/status" ]; then
  problem "8: no worker pid from the nobody pool: $(snip "$T/wp8.out") $(snip "$T/wp8.err")"
else
  st=/proc/$wp/status
  tr -s '\t ' '  ' <"$st" >"$T/status8.txt"
  for cap in CapInh CapPrm CapEff CapAmb; do
    if grep -q "^$cap:" "$T/status8.txt"; then
      has_line "$T/status8.txt" "$cap: 0000000000000000" "8: worker $wp"
    fi
  done
  has_line "$T/status8.txt" "Uid: 65534 65534 65534 65534" "8: worker $wp (real, effective, saved, fs uid)"
  has_line "$T/status8.txt" "Gid: 65534 65534 65534 65534" "8: worker $wp (real, effective, saved, fs gid)"
  groups8=$(sed -n 's/^Groups: *//p' "$T/status8.txt" | sed 's/ *$//')
  [ "$groups8" = 65534 ] || problem "8: worker $wp Groups: '$groups8', expected 65534"
  read -r statline <"/proc/$wp/stat" || statline=""
  rest=${statline##*) }
  read -r _ _ _ sid _ <<<"$rest"
  [ "$sid" = "$wp" ] || problem "8: worker $wp is in session $sid, not a session of its own"
  ppid=$(awk '/^PPid:/ {print $2}' "$T/status8.txt")
  [ "$ppid" = "$DPID" ] || problem "8: worker $wp's parent is $ppid, not fcgikitd ($DPID)"
  for fd in /proc/"$wp"/fd/*; do
    target=$(readlink "$fd" 2>/dev/null) || continue
    case $target in
    "$T/c1.pid" | "$T/c1-error.log" | "$C1" | "$T"/*.log)
      problem "8: worker $wp holds fcgikitd's $target open (fd ${fd##*/})"
      ;;
    esac
  done
fi
passed "8: the nobody worker: no capabilities, all uids and gids 65534, own session, none of fcgikitd's files open"

stop_d "1, 6, 8" "$T/c1.pid" "$T/s/nobody.sock" "$T/s/groups.sock" "$T/s/nogroups.sock" \
  "$T/s/useronly.sock" "$T/s/limits.sock"

# --- 2: chroot ------------------------------------------------------------------

if [ -z "$STATIC" ]; then
  note "2: SKIPPED: $FK_BUILD/tests/probe_static is not built (sanitizer build): nothing to run inside a chroot"
else
  J=$T/jail
  J2=$T/jail2
  mkdir -m 755 "$J" "$J2" "$J2/sub" "$J2/etc"
  mkdir -m 1777 "$J/tmp" "$J2/tmp"
  cp "$STATIC" "$J/probe"
  cp "$STATIC" "$J2/probe"
  chmod 755 "$J/probe" "$J2/probe"
  echo "inside the jail" >"$J/marker"
  chmod 644 "$J/marker"
  # What anyone who can write in the jail could put there: nobody listed
  # in the root group and in another one.
  printf 'root:x:0:nobody\nfkjail:x:4343:nobody\n' >"$J2/etc/group"
  chmod 644 "$J2/etc/group"
  C2=$T/c2.conf
  cat >"$C2" <<EOF
[jail]
chroot = $J
command = /probe
chdir = /
listen = $T/s/jail.sock
user = nobody
group = $NOGROUP
pm.max_children = 1

[jail2]
chroot = $J2
command = /probe
chdir = /sub
listen = $T/s/jail2.sock
user = nobody
group = $NOGROUP
pm.max_children = 1
EOF
  # The command is a path inside the chroot: relative, or the path as
  # seen from outside, is refused.
  for bad in probe "$J/probe"; do
    sed "0,/^command = \/probe\$/s||command = $bad|" "$C2" >"$T/c2bad.conf"
    rc=0
    "$D" -t -c "$T/c2bad.conf" >"$T/c2bad.out" 2>"$T/c2bad.err" || rc=$?
    [ "$rc" = 1 ] || problem "2: command = $bad with chroot: fcgikitd -t exited $rc, not 1"
    has_text "$T/c2bad.err" "$T/c2bad.conf:3: command: " "2: command = $bad with chroot"
  done
  start_d c2 "$C2"
  if up "$T/s/jail.sock" "$T/s/jail2.sock"; then
    if ask rd21 "$T/s/jail.sock" '/x?read=/marker' "2: ?read=/marker"; then
      has_line "$T/rd21.out" "ok inside the jail" "2: /marker inside the chroot"
    fi
    if ask rd22 "$T/s/jail.sock" "/x?read=$T/files/public" "2: ?read of a file outside"; then
      has_line "$T/rd22.out" "error: No such file or directory" "2: $T/files/public, outside the chroot"
    fi
    if ask rd23 "$T/s/jail.sock" "/x?read=/../../../../..$T/files/public" "2: ?read through .."; then
      has_line "$T/rd23.out" "error: No such file or directory" "2: /../..$T/files/public from inside the chroot"
    fi
    if ask id21 "$T/s/jail.sock" '/x?id' "2: ?id in the chroot"; then
      has_line "$T/id21.out" "cwd /" "2: chdir = / in the chroot"
      has_line "$T/id21.out" "uid 65534 euid 65534 gid 65534 egid 65534" "2: user and group in the chroot"
      g=$(groups_of "$T/id21.out")
      [ "$g" = 65534 ] || problem "2: supplementary groups in the chroot: '$g', expected 65534"
    fi
    wp=$(worker_pid wp2 "$T/s/jail.sock")
    if [ -n "$wp" ]; then
      root=$(readlink "/proc/$wp/root" || true)
      [ "$root" = "$J" ] || problem "2: the worker's root is '$root', not $J"
    else
      problem "2: no worker pid from the jail pool"
    fi
    if ask id22 "$T/s/jail2.sock" '/x?id' "2: ?id in the second chroot"; then
      has_line "$T/id22.out" "cwd /sub" "2: chdir = /sub in the chroot"
      has_line "$T/id22.out" "uid 65534 euid 65534 gid 65534 egid 65534" "2: user and group in the second chroot"
      g=$(groups_of "$T/id22.out")
      [ "$g" = 65534 ] ||
        problem "2: with an /etc/group planted in the chroot the worker's supplementary groups are '$g', not 65534: the groups are looked up inside the jail (initgroups after chroot), so whoever can write there picks the worker's groups, root's included"
    fi
  fi
  stop_d "2" "$T/s/jail.sock" "$T/s/jail2.sock"
  passed "2: chroot: command inside it, /marker read, outside files absent, cwd as chdir, groups not taken from the jail"
fi

# --- 3: the socket's owner and mode ---------------------------------------------

C3=$T/c3.conf
cat >"$C3" <<EOF
[owned]
command = $PROBE
listen = $T/s/owned.sock
listen.owner = nobody
listen.group = $NOGROUP
listen.mode = 0600
user = nobody
pm.max_children = 1
$POOL_ENV

[plain]
command = $PROBE
listen = $T/s/plain.sock
user = nobody
pm.max_children = 1
$POOL_ENV
EOF
start_d c3 "$C3"
if up "$T/s/owned.sock" "$T/s/plain.sock"; then
  got=$(stat -c '%U:%G %a %F' "$T/s/owned.sock")
  [ "$got" = "nobody:$NOGROUP 600 socket" ] ||
    problem "3: listen.owner/group/mode: the socket is '$got', not 'nobody:$NOGROUP 600 socket'"
  got=$(stat -c '%U:%G %a' "$T/s/plain.sock")
  [ "$got" = "root:root 660" ] || problem "3: the default socket is '$got', not 'root:root 660'"
  # As nobody: the socket it owns answers, root's 660 one refuses.
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups "$FK" --help >/dev/null 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    note "3: sub-case SKIPPED: nobody cannot run $FK (exit $rc): connections as nobody not tried"
  else
    rc=0
    setpriv --reuid=65534 --regid=65534 --clear-groups timeout 30 "$FK" request "$T/s/owned.sock" '/x?id' \
      >"$T/as-nobody1.out" 2>&1 </dev/null || rc=$?
    [ "$rc" = 0 ] || problem "3: nobody cannot use the socket it owns (exit $rc): $(snip "$T/as-nobody1.out")"
    rc=0
    setpriv --reuid=65534 --regid=65534 --clear-groups timeout 30 "$FK" request "$T/s/plain.sock" '/x?id' \
      >"$T/as-nobody2.out" 2>&1 </dev/null || rc=$?
    [ "$rc" = 3 ] || problem "3: nobody connecting to root:root 660: exit $rc, not 3 (cannot connect): $(snip "$T/as-nobody2.out")"
  fi
fi
stop_d "3" "$T/s/owned.sock" "$T/s/plain.sock"
passed "3: listen.owner/group/mode 0600 give nobody:$NOGROUP 600; the default is root:root 660"

# --- 4: listen.allowed_clients ---------------------------------------------------

PY_FROM=$(cat <<'PY'
# source_addr host port: one ?id request from source_addr; exit 0 and the
# bytes received when answered, 4 when the connection closes with nothing,
# 5 on a timeout.
import socket, struct, sys
src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rec(t, c):
    return struct.pack(">BBHHBx", 1, t, 1, len(c), 0) + c
def nv(n, v):
    return bytes([len(n), len(v)]) + n + v
s = socket.socket()
s.settimeout(15)
s.bind((src, 0))
s.connect((host, port))
data = b""
try:
    s.sendall(rec(1, struct.pack(">HB5x", 1, 0)) +
              rec(4, nv(b"QUERY_STRING", b"id") + nv(b"REQUEST_METHOD", b"GET")) +
              rec(4, b"") + rec(5, b""))
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print("timed out")
    sys.exit(5)
except (ConnectionResetError, BrokenPipeError):
    pass
if data:
    sys.stdout.write(repr(data) + "\n")
    sys.exit(0)
print("closed without an answer")
sys.exit(4)
PY
)

if [ -z "$PY" ]; then
  optional_cmd python3 python3 || true
  note "4: the request from 127.0.0.2 is not tried (no python3)"
fi
C4=$T/c4.conf
started4=0
for _ in 1 2 3 4 5; do
  pick_port
  P4=$PICKED_PORT
  cat >"$C4" <<EOF
[tcp]
command = $PROBE
listen = 127.0.0.1:$P4
listen.allowed_clients = 127.0.0.1
user = nobody
pm.max_children = 1
$POOL_ENV
EOF
  start_d c4 "$C4"
  if wait_for_port "$P4" "$DPID" 15; then
    started4=1
    break
  fi
  stop_pid "$DPID" || true
  note "4: fcgikitd could not listen on port $P4; trying another"
done
if [ "$started4" = 0 ]; then
  problem "4: fcgikitd did not start on any port: $(tail -n 5 "$T/c4.log" | tr '\n' '|')"
else
  pid_before=$(worker_pid wp4a "127.0.0.1:$P4")
  [ -n "$pid_before" ] || problem "4: a request from 127.0.0.1 is not answered: $(snip "$T/wp4a.err")"
  if ask env4 "127.0.0.1:$P4" '/x?env' "4: ?env"; then
    has_line "$T/env4.out" "FCGI_WEB_SERVER_ADDRS=127.0.0.1" "4: listen.allowed_clients passed on"
  fi
  if [ -n "$PY" ]; then
    rc=0
    "$PY" -c "$PY_FROM" 127.0.0.1 127.0.0.1 "$P4" >"$T/from1.out" 2>&1 || rc=$?
    [ "$rc" = 0 ] && grep -q 'uid 65534' "$T/from1.out" ||
      problem "4: the python client from 127.0.0.1 got no answer (exit $rc): $(snip "$T/from1.out")"
    rc=0
    "$PY" -c "$PY_FROM" 127.0.0.2 127.0.0.1 "$P4" >"$T/from2.out" 2>&1 || rc=$?
    [ "$rc" = 4 ] ||
      problem "4: a connection from 127.0.0.2 (not in listen.allowed_clients): exit $rc, not 4 (closed without an answer): $(snip "$T/from2.out")"
  fi
  pid_after=$(worker_pid wp4b "127.0.0.1:$P4")
  [ -n "$pid_after" ] && [ "$pid_after" = "$pid_before" ] ||
    problem "4: after the refused connection the worker is '$pid_after', was '$pid_before'"
  stop_d "4"
fi
passed "4: listen.allowed_clients = 127.0.0.1: 127.0.0.1 answered, 127.0.0.2 closed unanswered, FCGI_WEB_SERVER_ADDRS set"

# --- 5: the environment -----------------------------------------------------------

C5=$T/c5.conf
cat >"$C5" <<EOF
[cleared]
command = $PROBE
listen = $T/s/cleared.sock
user = nobody
pm.max_children = 1
env[LANG] = C
env[HOME] = \$HOME
env[FK_QUOTED] = "\$HOME"
env[FK_MISSING] = \$FK_SURELY_UNSET_VARIABLE
$POOL_ENV

[kept]
command = $PROBE
listen = $T/s/kept.sock
user = nobody
pm.max_children = 1
clear_env = no
env[LANG] = C
$POOL_ENV
EOF
unset FK_SURELY_UNSET_VARIABLE
# fcgikitd's own environment, for it alone.
start_bg c5 env FOO_SECRET=1 HOME=/fk-home LANG=fk_SECRET_LANG NOTIFY_SOCKET="$T/no-such.notify" \
  "$D" -F -c "$C5"
DPID=$STARTED_PID
if up "$T/s/cleared.sock" "$T/s/kept.sock"; then
  if ask env51 "$T/s/cleared.sock" '/x?env' "5: ?env with clear_env"; then
    sort "$T/env51.out" >"$T/env51.sorted"
    printf '%s\n' "LANG=C" "HOME=/fk-home" 'FK_QUOTED=$HOME' ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"} |
      sort >"$T/env51.want"
    cmp -s "$T/env51.sorted" "$T/env51.want" ||
      problem "5: clear_env: the worker's environment is '$(tr '\n' ' ' <"$T/env51.sorted")', expected exactly '$(tr '\n' ' ' <"$T/env51.want")'"
  fi
  if ask env52 "$T/s/kept.sock" '/x?env' "5: ?env with clear_env = no"; then
    has_line "$T/env52.out" "FOO_SECRET=1" "5: clear_env = no passes fcgikitd's environment"
    has_line "$T/env52.out" "HOME=/fk-home" "5: clear_env = no passes fcgikitd's HOME"
    nlang=$(grep -c '^LANG=' "$T/env52.out" || true)
    if [ "$nlang" = 1 ]; then
      has_line "$T/env52.out" "LANG=C" "5: clear_env = no, env[LANG] = C"
    else
      problem "5: clear_env = no with env[LANG] = C: $nlang LANG variables ($(grep '^LANG=' "$T/env52.out" | tr '\n' ' ')): env[] does not replace the inherited one, and getenv() finds fcgikitd's first"
    fi
    lacks_re "$T/env52.out" '^(NOTIFY_SOCKET|LISTEN_[A-Z]+|FCGIKIT_SCOREBOARD)=' "5: clear_env = no"
  fi
fi
stop_d "5" "$T/s/cleared.sock" "$T/s/kept.sock"
passed "5: clear_env: exactly env[]; clear_env = no: fcgikitd's environment, env[] over it"

# --- 7: root refusal --------------------------------------------------------------

C7=$T/c7.conf
cat >"$C7" <<EOF
[global]
pid = $T/c7.pid

[asroot]
command = $PROBE
listen = $T/s/asroot.sock
pm.max_children = 1
EOF
C7U=$T/c7u.conf
cat >"$C7U" <<EOF
[global]
pid = $T/c7.pid

[rootuser]
command = $PROBE
listen = $T/s/asroot.sock
user = root
pm.max_children = 1
EOF
for conf in "$C7" "$C7U"; do
  pool=$(sed -n 's/^\[\([a-z]*\)\]$/\1/p' "$conf" | grep -v global)
  pline=$(grep -n -x -F "[$pool]" "$conf" | cut -d: -f1)
  for mode in -t -F; do
    rc=0
    timeout -k 2 10 "$D" "$mode" -c "$conf" >"$T/c7$mode.out" 2>"$T/c7$mode.err" </dev/null || rc=$?
    what="7: [$pool] ($(basename "$conf")) as root without -R, fcgikitd $mode"
    [ "$rc" = 1 ] || problem "$what: exit $rc, not 1"
    has_text "$T/c7$mode.err" "$conf:$pline: [$pool] workers would run as root" "$what"
    has_text "$T/c7$mode.err" "user" "$what: the message suggests user"
    has_text "$T/c7$mode.err" "-R" "$what: the message suggests -R"
    [ -e "$T/s/asroot.sock" ] && problem "$what: the socket was made"
    [ -e "$T/c7.pid" ] && problem "$what: the pid file was made"
    no_leftovers "$what"
    rm -f "$T/s/asroot.sock" "$T/c7.pid"
  done
done
rc=0
"$D" -t -R -c "$C7" >"$T/c7R.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || problem "7: fcgikitd -t -R exited $rc, not 0: $(snip "$T/c7R.out")"
start_d c7 "$C7" -R
if up "$T/s/asroot.sock"; then
  if ask id7 "$T/s/asroot.sock" '/x?id' "7: ?id with -R"; then
    has_line "$T/id7.out" "uid 0 euid 0 gid 0 egid 0" "7: -R: the worker runs as root"
  fi
fi
stop_d "7 (-R)" "$T/s/asroot.sock" "$T/c7.pid"

# A reload to a configuration whose workers would run as root is refused.
cat >"$T/c7r.conf" <<EOF
[global]
pid = $T/c7.pid

[reloaded]
command = $PROBE
listen = $T/s/reloaded.sock
user = nobody
pm.max_children = 1
$POOL_ENV
EOF
start_d c7r "$T/c7r.conf"
if up "$T/s/reloaded.sock"; then
  w1=$(worker_pid wp7a "$T/s/reloaded.sock")
  sed -i '/^user = nobody$/d' "$T/c7r.conf"
  kill -HUP "$DPID"
  for _ in $(seq 50); do
    grep -q 'reload refused' "$T/c7r.log" && break
    sleep 0.1
  done
  has_text "$T/c7r.log" "reload refused" "7: SIGHUP to a configuration without user"
  has_text "$T/c7r.log" "[reloaded] workers would run as root" "7: SIGHUP to a configuration without user"
  w2=$(worker_pid wp7b "$T/s/reloaded.sock")
  [ -n "$w1" ] && [ "$w1" = "$w2" ] || problem "7: after the refused reload the worker is '$w2', was '$w1'"
  if ask id7r "$T/s/reloaded.sock" '/x?id' "7: ?id after the refused reload"; then
    has_line "$T/id7r.out" "uid 65534 euid 65534 gid 65534 egid 65534" "7: after the refused reload"
  fi
fi
stop_d "7 (reload)" "$T/s/reloaded.sock" "$T/c7.pid"
passed "7: as root, workers as root need -R (-t and -F exit 1 with FILE:LINE and the way out; nothing made, nothing left); -R runs them; a reload to that is refused"

# --- 9: the pid file is not written through a link ------------------------------

# A directory the workers' user owns (as a pid directory handed to the
# service's user would be): that user links the pid file's name to a file
# only root may write. fcgikitd, as root, must not write through the link
# (fs.protected_symlinks does not cover a directory that is not sticky).
mkdir -m 755 "$T/piddir"
chown nobody "$T/piddir"
echo "root's file" >"$T/files/victim"
chmod 644 "$T/files/victim"
setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$T/files/victim" "$T/piddir/c9.pid"
C9=$T/c9.conf
cat >"$C9" <<EOF
[global]
pid = $T/piddir/c9.pid

[linked]
command = $PROBE
listen = $T/s/linked.sock
user = nobody
pm.max_children = 1
$POOL_ENV
EOF
start_d c9 "$C9"
for _ in $(seq 30); do
  if socket_listening "$T/s/linked.sock" || ! alive "$DPID"; then
    break
  fi
  sleep 0.1
done
got=$(cat "$T/files/victim")
[ "$got" = "root's file" ] ||
  problem "9: the pid file $T/piddir/c9.pid, a symbolic link made by nobody, was written through: $T/files/victim now holds '$got'"
if alive "$DPID"; then
  stop_d "9" "$T/s/linked.sock"
else
  stop_pid "$DPID" || true
  no_leftovers "9"
fi
passed "9: a pid file name linked elsewhere by the workers' user is not written through"

# --- End ---------------------------------------------------------------------------

no_leftovers "at the end"
no_sanitizer_reports
checks_done
ok "all checks passed"
