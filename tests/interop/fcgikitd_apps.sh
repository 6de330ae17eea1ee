#!/usr/bin/env bash
# Interop: fcgikitd running real applications as pools, behind a real nginx,
# driven with curl. One fcgikitd (-F -R) with three pools on Unix sockets:
#
#   [echo]     examples/echo (libfcgikit: it fills the scoreboard), static 2;
#   [libfcgi]  tests/apps/fcgikitd_libfcgi.c, a plain libfcgi FCGX_Accept_r
#              loop on fd 0, compiled here; dynamic, start_servers 2,
#              min_spare 1, max_spare 3, max_children 4;
#   [php]      /usr/bin/php-cgi (php8.2-cgi) on fd 0, static 2,
#              pm.max_requests = 20: fcgikitd passes PHP_FCGI_MAX_REQUESTS,
#              php-cgi exits after 20 requests and fcgikitd replaces it.
#
# nginx routes /echo/ -> [echo], /libfcgi/ -> [libfcgi], /php/*.php -> [php]
# (SCRIPT_FILENAME = $document_root$fastcgi_script_name), with
# fastcgi_request_buffering off: bodies stream to the workers as they come.
#
#   (a) GET with a query string and a ~200 KB POST of random bytes through
#       each location: echo and libfcgi send the body back byte for byte,
#       PHP prints the method, $_GET['x'], the body's length and md5;
#   (b) 60 sequential PHP requests all answer 200, no php-cgi answers more
#       than 20 of them and at least 3 different ones answer (the pid
#       changed at least twice: max_requests honoured, replacements came);
#   (c) curl loops against the three locations while fcgikitd gets SIGHUP
#       twice, and slow requests in flight across the first one (uploads
#       at 50 KB/s to echo and php, a libfcgi request sleeping 2 s, a PHP
#       one 1.5 s): every request answers 200 with the right body; the
#       echo and libfcgi workers from before were all replaced;
#   (d) SIGKILL to every php-cgi worker between requests: the next requests
#       are answered, by new workers, and the status counts the restarts;
#   (e) "fcgikit status" (text and --json) on [global] status.listen lists
#       the three pools; echo's workers report request counts, libfcgi's
#       and php's show "requests": null and a state;
#   (f) the file changes ([php] pm.max_requests 20 -> 4), SIGHUP: 16 PHP
#       requests, 2 at a time, all answer 200 from new workers, none of
#       which answers more than 4; and a php-cgi that exits 0 after the
#       requests fcgikitd told it to serve is not taken for a crash (no
#       crash backoff before its replacement starts) and the status counts
#       it as recycled;
#   (g) dynamic: with no request at all, [libfcgi] starts start_servers
#       workers, not max_children (checked at the start, reported here);
#   (h) SIGTERM: fcgikitd exits 0 and no worker is left running.
#
# (f) and (g) are checked along the way and reported at the end, so that
# a failure there does not hide the other checks.
#
# Everything runs privately under $T; fcgikitd, its workers and nginx are
# stopped on exit, whatever happens.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd nginx nginx-light
require_cmd curl curl
require_cmd ss iproute2
require_cmd python3 python3
require_cmd cc build-essential
require_cmd php-cgi php8.2-cgi
if ! [ -r /usr/include/fcgiapp.h ]; then
  [ "${CI:-}" = "true" ] && fail "/usr/include/fcgiapp.h is missing (Debian package libfcgi-dev)"
  skip "/usr/include/fcgiapp.h is missing (apt-get install libfcgi-dev)"
fi
NGINX_PARAMS=/etc/nginx/fastcgi_params
if ! [ -r "$NGINX_PARAMS" ]; then
  [ "${CI:-}" = "true" ] && fail "$NGINX_PARAMS is missing (Debian package nginx-common)"
  skip "$NGINX_PARAMS is missing (apt-get install nginx-common)"
fi

FCGIKITD=$FK_BUILD/bin/fcgikitd
FCGIKIT=$FK_BUILD/bin/fcgikit
[ -x "$FCGIKITD" ] || fail "$FCGIKITD is missing: build first"
[ -x "$FCGIKIT" ] || fail "$FCGIKIT is missing: build first"
PHP_CGI=$(command -v php-cgi)

# fcgikitd's workers are its children, not ours: when the test ends early,
# those still running are stopped along with fcgikitd (lib.sh's cleanup
# stops what is tracked, by pid).
FKD_PID=""
cleanup_all() {
  local status=$? pid
  trap - ERR
  set +e
  if [ -n "$FKD_PID" ]; then
    for pid in $(ps -o pid= --ppid "$FKD_PID" 2>/dev/null); do
      track_pid "$pid"
    done
  fi
  (exit "$status")
  cleanup
}
trap cleanup_all EXIT

# --- The applications ----------------------------------------------------------

cc -Wall -Wextra -O2 -o "$T/fcgikitd_libfcgi" "$FK_SOURCE/tests/apps/fcgikitd_libfcgi.c" \
  -lfcgi >"$T/cc.log" 2>&1 ||
  fail "cannot build fcgikitd_libfcgi.c: $(head -c 500 "$T/cc.log")"

mkdir -p "$T/www/php"
cat >"$T/www/php/x.php" <<'PHP'
<?php
header('Content-Type: text/plain');
$body = file_get_contents('php://input');
if (isset($_GET['sleep'])) {
    usleep((int)$_GET['sleep'] * 1000);
}
echo 'php ', $_SERVER['REQUEST_METHOD'], ' ', $_GET['x'] ?? '', ' ',
     strlen($body), ' ', md5($body), ' ', getmypid(), "\n";
PHP

cat >"$T/fcgikitd.conf" <<EOF
[global]
log_level = info
status.listen = $T/status.sock
pid = $T/fcgikitd.pid
process_control_timeout = 5s

[echo]
command = $FK_BUILD/examples/echo
listen = $T/echo.sock
pm = static
pm.max_children = 2

[libfcgi]
command = $T/fcgikitd_libfcgi
listen = $T/libfcgi.sock
pm = dynamic
pm.max_children = 4
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3

[php]
command = $PHP_CGI
; -n: no php.ini, so the machine's settings do not matter
args = -n -d cgi.force_redirect=0
listen = $T/php.sock
pm = static
pm.max_children = 2
pm.max_requests = 20
env[PHP_FCGI_CHILDREN] = 0
EOF

"$FCGIKITD" -t -R -c "$T/fcgikitd.conf" >"$T/fcgikitd-t.log" 2>&1 ||
  fail "fcgikitd -t rejects the test config: $(cat "$T/fcgikitd-t.log")"
# -R: as root (CI) the pools run as root, having no user; harmless otherwise.
# No error_log: in the foreground fcgikitd logs to standard error, here
# $T/fcgikitd.log, workers' output included.
start_bg fcgikitd "$FCGIKITD" -F -R -c "$T/fcgikitd.conf"
FKD_PID=$STARTED_PID
for s in echo libfcgi php status; do
  wait_for_socket "$T/$s.sock" "$FKD_PID"
done

# --- nginx ---------------------------------------------------------------------

write_conf() {
  local http_port=$1
  {
    nginx_conf_head 256
    cat <<EOF
    client_max_body_size 10m;

    server {
        listen 127.0.0.1:$http_port;
        root $T/www;
        location /echo/ {
            include $NGINX_PARAMS;
            fastcgi_request_buffering off;
            fastcgi_pass unix:$T/echo.sock;
        }
        location /libfcgi/ {
            include $NGINX_PARAMS;
            fastcgi_request_buffering off;
            fastcgi_pass unix:$T/libfcgi.sock;
        }
        location ~ ^/php/.+\.php\$ {
            include $NGINX_PARAMS;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_request_buffering off;
            fastcgi_pass unix:$T/php.sock;
        }
    }
}
EOF
  } >"$T/nginx/nginx.conf"
}

start_nginx
BASE="http://127.0.0.1:$HTTP_PORT"

# --- Helpers -------------------------------------------------------------------

# status_json: fcgikitd's status as JSON in $T/status.json, and for each
# pool P as shell variables: S_P_pids (workers not stopping), S_P_live
# (their number), S_P_spawned, S_P_restarts, S_P_recycled.
status_json() {
  "$FCGIKIT" status --json "$T/status.sock" >"$T/status.json" 2>"$T/status.err" ||
    fail "fcgikit status --json failed: $(cat "$T/status.err")"
  python3 - "$T/status.json" >"$T/status.vars" <<'PY' || fail "cannot read $T/status.json"
import json, sys
for p in json.load(open(sys.argv[1]))["pools"]:
    n = p["name"]
    live = [str(w["pid"]) for w in p["processes"] if w["state"] != "stopping"]
    print('S_%s_pids="%s"' % (n, " ".join(live)))
    print("S_%s_live=%d" % (n, len(live)))
    for k in ("spawned", "restarts", "recycled"):
        print("S_%s_%s=%d" % (n, k, p[k]))
PY
  . "$T/status.vars"
}

# php_check FILE METHOD X LENGTH MD5 WHAT: FILE holds a PHP answer
# "php METHOD X LENGTH MD5 PID"; sets PHP_PID. (Builtins only: it runs
# for every request of the bursts.)
PHP_PID=""
php_check() {
  local a="" b="" c="" d="" e="" rest=""
  read -r a b c d e rest <"$1" || true
  [ "$a $b $c $d $e" = "php $2 $3 $4 $5" ] && [ -n "$rest" ] ||
    fail "$6: php answered '$(head -c 200 "$1")', not 'php $2 $3 $4 $5 PID'"
  PHP_PID=$rest
}

# Failures of (f) and (g), reported at the end.
LATE_FAILS=()
late_fail() {
  printf '%s: FAILED (reported at the end): %s\n' "$FK_TEST_NAME" "$*" >&2
  LATE_FAILS+=("$*")
}

head -c 200000 /dev/urandom >"$T/big.bin"
SIZE=$(wc -c <"$T/big.bin")
BIG_MD5=$(md5sum <"$T/big.bin" | cut -d' ' -f1)
EMPTY_MD5=$(printf '' | md5sum | cut -d' ' -f1)

# --- (g) dynamic: start_servers, not max_children ------------------------------

# No request has reached [libfcgi] yet, and fcgikitd has been running for
# longer than the half second this waits: its workers sit in accept().
sleep 0.5
status_json
note "[libfcgi] with no request yet: $S_libfcgi_live workers, $S_libfcgi_spawned started (start_servers 2, min_spare 1, max_spare 3, max_children 4)"
if [ "$S_libfcgi_spawned" != 2 ]; then
  late_fail "pool libfcgi (pm = dynamic, start_servers 2, min_spare_servers 1, max_spare_servers 3, max_children 4) started $S_libfcgi_spawned workers within a second of its start, with no request at all: workers that do not report were counted busy while starting, so fcgikitd spawned up to max_children"
fi

# --- (a) GET and POST through each pool ---------------------------------------

request "$T/get-echo" 200 "$BASE/echo/get.fcgi?x=1&y=a%20b"
echo_params "$T/get-echo" >"$T/get-echo.params"
expect_line "$T/get-echo.params" "REQUEST_METHOD=GET" "GET via /echo/"
expect_line "$T/get-echo.params" "QUERY_STRING=x=1&y=a%20b" "GET via /echo/"
ok "GET via /echo/ (examples/echo in pool [echo])"
check_post_echo /echo "$SIZE"

request "$T/get-libfcgi" 200 "$BASE/libfcgi/get?x=2&y=c%20d"
echo_params "$T/get-libfcgi" >"$T/get-libfcgi.params"
expect_line "$T/get-libfcgi.params" "REQUEST_METHOD=GET" "GET via /libfcgi/"
expect_line "$T/get-libfcgi.params" "QUERY_STRING=x=2&y=c%20d" "GET via /libfcgi/"
expect_line "$T/get-libfcgi.params" "BODY_READ=0" "GET via /libfcgi/"
ok "GET via /libfcgi/ (libfcgi FCGX_Accept_r on fd 0 in pool [libfcgi])"
request "$T/post-libfcgi" 200 -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/big.bin" "$BASE/libfcgi/post?x=3"
echo_params "$T/post-libfcgi" >"$T/post-libfcgi.params"
expect_line "$T/post-libfcgi.params" "REQUEST_METHOD=POST" "POST via /libfcgi/"
expect_line "$T/post-libfcgi.params" "QUERY_STRING=x=3" "POST via /libfcgi/"
expect_line "$T/post-libfcgi.params" "CONTENT_LENGTH=$SIZE" "POST via /libfcgi/"
echo_body "$T/post-libfcgi" >"$T/post-libfcgi.body"
same_bytes "$T/big.bin" "$T/post-libfcgi.body" "POST via /libfcgi/"
ok "POST via /libfcgi/: $SIZE bytes echoed byte for byte"

request "$T/get-php" 200 "$BASE/php/x.php?x=hello"
php_check "$T/get-php" GET hello 0 "$EMPTY_MD5" "GET via /php/"
tr -d '\r' <"$T/get-php.headers" | grep -qi '^content-type: text/plain' ||
  fail "GET via /php/: no Content-Type: text/plain from PHP"
ok "GET via /php/ (php-cgi in pool [php]): $(cat "$T/get-php")"
request "$T/post-php" 200 -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/big.bin" "$BASE/php/x.php?x=posted"
php_check "$T/post-php" POST posted "$SIZE" "$BIG_MD5" "POST via /php/"
ok "POST via /php/: PHP read $SIZE bytes, md5 $BIG_MD5"

# --- (b) pm.max_requests with php-cgi ------------------------------------------

args=()
for i in $(seq 60); do
  args+=(-o "$T/seq.$i" "$BASE/php/x.php?x=seq$i")
done
curl -sS --max-time 50 -w '%{http_code}\n' "${args[@]}" >"$T/seq.codes" ||
  fail "60 sequential PHP requests: curl failed after $(grep -c . "$T/seq.codes" || true) answers ($(sort "$T/seq.codes" | uniq -c | tr '\n' ' '))"
[ "$(grep -c '^200$' "$T/seq.codes")" = 60 ] ||
  fail "60 sequential PHP requests: not all answered 200: $(sort "$T/seq.codes" | uniq -c | tr '\n' ' ')"
: >"$T/seq.pids"
for i in $(seq 60); do
  php_check "$T/seq.$i" GET "seq$i" 0 "$EMPTY_MD5" "sequential PHP request $i"
  echo "$PHP_PID" >>"$T/seq.pids"
done
sort "$T/seq.pids" | uniq -c | sort -rn >"$T/seq.perpid"
npids=$(grep -c . "$T/seq.perpid")
most=$(head -n1 "$T/seq.perpid" | awk '{print $1}')
note "60 sequential PHP requests answered by $npids php-cgi processes: $(awk '{printf "%s x%s, ", $2, $1}' "$T/seq.perpid")"
[ "$most" -le 20 ] ||
  fail "pm.max_requests = 20: one php-cgi answered $most of the 60 requests"
[ "$npids" -ge 3 ] ||
  fail "60 PHP requests answered by only $npids php-cgi processes (pm.max_requests = 20)"
ok "60 sequential PHP requests: all 200, from $npids php-cgi processes (at least 3: the pid changed at least twice), none above 20 requests"

# --- (c) SIGHUP under load -----------------------------------------------------

# curl_loop NAME URL CHECK: requests until $T/stop-loops exists; one line per
# request in $T/loop-NAME.codes: the status and "ok", or "bad" when the body
# lacks CHECK (where @I@ stands for the request's number).
curl_loop() {
  local name=$1 url=$2 check=$3 i=0 code want
  while [ ! -e "$T/stop-loops" ]; do
    i=$((i + 1))
    code=$(curl -sS --max-time 20 -o "$T/loop-$name.out" -w '%{http_code}' \
             "$url?x=$i" 2>>"$T/loop-$name.err") || code="curl-failed:$code"
    want=${check//@I@/$i}
    if grep -a -q -F -e "$want" "$T/loop-$name.out" 2>/dev/null; then
      echo "$code ok" >>"$T/loop-$name.codes"
    else
      echo "$code bad" >>"$T/loop-$name.codes"
      cp "$T/loop-$name.out" "$T/loop-$name.bad.$i" 2>/dev/null || true
    fi
  done
}

# slow NAME CURL-ARG...: one request in the background, its status in
# $T/slow-NAME.code, its body in $T/slow-NAME.out.
slow_pids=()
slow() {
  local name=$1
  shift
  curl -sS --max-time 30 -o "$T/slow-$name.out" -w '%{http_code}' "$@" \
    >"$T/slow-$name.code" 2>"$T/slow-$name.err" &
  slow_pids+=($!)
  track_pid "$!"
}

status_json
echo_before=$S_echo_pids
libfcgi_before=$S_libfcgi_pids
note "before SIGHUP: echo workers $echo_before; libfcgi workers $libfcgi_before"

rm -f "$T/stop-loops"
loop_pids=()
curl_loop echo "$BASE/echo/loop.fcgi" "QUERY_STRING=x=@I@" &
loop_pids+=($!)
curl_loop libfcgi "$BASE/libfcgi/loop" "QUERY_STRING=x=@I@" &
loop_pids+=($!)
curl_loop php "$BASE/php/x.php" "php GET @I@ 0 " &
loop_pids+=($!)
for pid in "${loop_pids[@]}"; do track_pid "$pid"; done

# Slow requests in flight when the first SIGHUP comes: 120 KB uploads at
# 50 KB/s (nginx streams them to the worker) to echo and php, and requests
# that sleep in libfcgi and php. Not an upload to libfcgi: its signal
# handlers interrupt read(2) and it takes the EINTR for the end of the
# body, so a libfcgi worker asked to stop (by any signal it handles) while
# a body comes in loses the rest of it; that is libfcgi's doing.
head -c 120000 "$T/big.bin" >"$T/slow.bin"
SLOW_MD5=$(md5sum <"$T/slow.bin" | cut -d' ' -f1)
up=(--limit-rate 50k -H 'Content-Type: application/octet-stream' --data-binary "@$T/slow.bin")
slow echo-up "${up[@]}" "$BASE/echo/up.fcgi?x=up"
slow php-up "${up[@]}" "$BASE/php/x.php?x=up"
slow libfcgi-sleep "$BASE/libfcgi/sleep?sleep=2000"
slow php-sleep "$BASE/php/x.php?x=sleep&sleep=1500"

sleep 1
kill -HUP "$FKD_PID"
sleep 1.5
kill -HUP "$FKD_PID"
sleep 1.5
touch "$T/stop-loops"
for pid in "${loop_pids[@]}"; do
  wait "$pid" || fail "curl loop $pid ended with an error"
done
for pid in "${slow_pids[@]}"; do
  wait "$pid" || true
done
alive "$FKD_PID" || fail "fcgikitd died during the reloads"
[ "$(grep -c 'configuration reloaded' "$T/fcgikitd.log")" -ge 2 ] ||
  fail "fcgikitd did not log two reloads"

bad_total=0
summary=""
for name in echo libfcgi php; do
  total=$(grep -c . "$T/loop-$name.codes" || true)
  good=$(grep -c '^200 ok$' "$T/loop-$name.codes" || true)
  bad=$((total - good))
  bad_total=$((bad_total + bad))
  summary="$summary $name $good/$total,"
  [ "$total" -ge 5 ] || fail "curl loop $name made only $total requests"
  if [ "$bad" -gt 0 ]; then
    note "curl loop $name: $bad failures: $(grep -v '^200 ok$' "$T/loop-$name.codes" | sort | uniq -c | tr '\n' ' ')"
    note "  curl said: $(sort -u "$T/loop-$name.err" | head -n 3 | tr '\n' ' ')"
  fi
done
# The slow ones: status 200 and the right answer.
slow_ok() { # NAME WHAT TEST...
  local name=$1 what=$2 code
  shift 2
  code=$(cat "$T/slow-$name.code" 2>/dev/null || true)
  if [ "$code" = 200 ] && "$@"; then
    return 0
  fi
  note "slow request $what: status '$code', curl said '$(head -c 200 "$T/slow-$name.err")', answer '$(head -c 120 "$T/slow-$name.out" | tr '\n' ' ')'"
  bad_total=$((bad_total + 1))
}
slow_echo_body() { # NAME: the body after "--" is slow.bin
  local n
  n=$(grep -a -n -m1 -x -e '--' "$T/slow-$1.out" | cut -d: -f1) || return 1
  tail -n +$((n + 1)) "$T/slow-$1.out" | cmp -s - "$T/slow.bin"
}
slow_ok echo-up "POST to echo at 50 KB/s" slow_echo_body echo-up
slow_ok php-up "POST to php at 50 KB/s" grep -q "^php POST up 120000 $SLOW_MD5 " "$T/slow-php-up.out"
slow_ok libfcgi-sleep "libfcgi sleeping 2 s" grep -q -x 'QUERY_STRING=sleep=2000' "$T/slow-libfcgi-sleep.out"
slow_ok php-sleep "php sleeping 1.5 s" grep -q '^php GET sleep 0 ' "$T/slow-php-sleep.out"
note "requests during two SIGHUPs (answered right/made):$summary and 4 slow ones"
if [ "$bad_total" -gt 0 ]; then
  grep -E '\[(error|crit|alert)\]' "$T/nginx-error.log" | tail -n 5 | cut -c1-300 >&2 || true
  fail "$bad_total request(s) failed while fcgikitd reloaded (must be 0):$summary"
fi

# Every echo and libfcgi worker from before the reloads is gone, replaced.
for i in $(seq 50); do
  status_json
  [ "$S_echo_live" = 2 ] && [ -z "$(for p in $echo_before $libfcgi_before; do alive "$p" && echo "$p"; done)" ] && break
  sleep 0.1
done
note "after SIGHUP: echo workers $S_echo_pids; libfcgi workers $S_libfcgi_pids"
for pid in $echo_before $libfcgi_before; do
  case " $S_echo_pids $S_libfcgi_pids " in
    *" $pid "*) fail "worker $pid from before the reloads is still serving" ;;
  esac
  alive "$pid" && fail "worker $pid from before the reloads is still running"
done
[ "$S_echo_live" = 2 ] || fail "pool echo has not 2 workers after the reloads: $S_echo_pids"
[ "$S_libfcgi_live" -ge 1 ] || fail "pool libfcgi has no worker after the reloads"
ok "two SIGHUPs under load: every request answered 200 with the right body ($summary 4 slow ones), old workers replaced"

# --- (d) SIGKILL to the php workers -------------------------------------------

status_json
php_killed=$S_php_pids
restarts_before=$S_php_restarts
nkilled=$(echo $php_killed | wc -w)
[ "$nkilled" -ge 1 ] || fail "pool php shows no worker"
for pid in $php_killed; do
  kill -KILL "$pid" 2>/dev/null || true
done
for pid in $php_killed; do
  for i in $(seq 50); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && fail "php-cgi $pid survived SIGKILL"
done
for i in 1 2 3 4 5; do
  request "$T/afterkill.$i" 200 "$BASE/php/x.php?x=k$i"
  php_check "$T/afterkill.$i" GET "k$i" 0 "$EMPTY_MD5" "PHP request $i after SIGKILL"
  pid=$PHP_PID
  case " $php_killed " in
    *" $pid "*) fail "PHP request $i after SIGKILL answered by killed pid $pid" ;;
  esac
done
status_json
[ "$S_php_restarts" -ge $((restarts_before + nkilled)) ] ||
  fail "pool php: restarts went from $restarts_before to $S_php_restarts after SIGKILL to $nkilled worker(s)"
ok "SIGKILL to php-cgi $php_killed: the next 5 requests answered by new workers ($S_php_pids), restarts $restarts_before -> $S_php_restarts"

# --- (e) fcgikit status ----------------------------------------------------------

status_json
python3 - "$T/status.json" <<'PY' >"$T/status.check" 2>&1 || fail "fcgikit status --json: $(cat "$T/status.check")"
import json, sys
doc = json.load(open(sys.argv[1]))
pools = {p["name"]: p for p in doc["pools"]}
assert set(pools) == {"echo", "libfcgi", "php"}, "pools: %s" % sorted(pools)
want_pm = {"echo": "static", "libfcgi": "dynamic", "php": "static"}
for name, p in pools.items():
    assert p["pm"] == want_pm[name], "%s: pm %s" % (name, p["pm"])
    live = [w for w in p["processes"] if w["state"] != "stopping"]
    assert live, "%s: no worker" % name
    for w in live:
        assert w["state"] in ("idle", "busy", "starting"), "%s: state %r" % (name, w["state"])
echo = pools["echo"]
assert isinstance(echo["requests"], int) and echo["requests"] > 0, \
    "echo: pool requests %r" % echo["requests"]
for w in echo["processes"]:
    assert w["reports"] is True and isinstance(w["requests"], int), "echo worker %r" % w
for name in ("libfcgi", "php"):
    p = pools[name]
    assert p["requests"] is None, "%s: pool requests %r, not null" % (name, p["requests"])
    for w in p["processes"]:
        assert w["reports"] is False and w["requests"] is None, "%s worker %r" % (name, w)
assert pools["php"]["restarts"] >= 2, "php: restarts %r" % pools["php"]["restarts"]
print("echo: %d requests (%s); libfcgi: workers %s; php: workers %s, %d spawned, %d restarts, %d recycled" % (
    echo["requests"], ", ".join("pid %d: %d" % (w["pid"], w["requests"]) for w in echo["processes"]),
    ", ".join(w["state"] for w in pools["libfcgi"]["processes"]),
    ", ".join(w["state"] for w in pools["php"]["processes"]),
    pools["php"]["spawned"], pools["php"]["restarts"], pools["php"]["recycled"]))
PY
ok "fcgikit status --json: $(cat "$T/status.check")"

"$FCGIKIT" status "$T/status.sock" >"$T/status.txt" 2>"$T/status.err" ||
  fail "fcgikit status failed: $(cat "$T/status.err")"
for name in echo libfcgi php; do
  grep -q "^pool: *$name\$" "$T/status.txt" || fail "fcgikit status: no pool $name"
done
grep -q "^process manager: *dynamic\$" "$T/status.txt" ||
  fail "fcgikit status: no 'process manager: dynamic' line"
ok "fcgikit status (text) lists the pools echo, libfcgi and php"

# --- (f) A changed pm.max_requests, and quick recycling ----------------------------

# The file changes ([php] pm.max_requests 20 -> 4) and SIGHUP applies it:
# the new workers get PHP_FCGI_MAX_REQUESTS=4. Then 16 requests, 2 at a
# time: each php-cgi serves 4 and exits 0 well within a second of its
# start. That is what fcgikitd asked for, not a crash: it must not make
# fcgikitd hold back the next start (its crash backoff, for workers that
# die within 1 s, doubling from 0.1 s).
status_json
php_old=$S_php_pids
recycled_before=$S_php_recycled
sed -i 's/^pm.max_requests = 20$/pm.max_requests = 4/' "$T/fcgikitd.conf"
grep -q '^pm.max_requests = 4$' "$T/fcgikitd.conf" || fail "could not edit $T/fcgikitd.conf"
log_mark=$(wc -l <"$T/fcgikitd.log")
kill -HUP "$FKD_PID"
for i in $(seq 50); do
  [ "$(grep -c 'configuration reloaded' "$T/fcgikitd.log")" -ge 3 ] && break
  sleep 0.1
done
[ "$(grep -c 'configuration reloaded' "$T/fcgikitd.log")" -ge 3 ] ||
  fail "fcgikitd did not reload the changed configuration: $(tail -n 3 "$T/fcgikitd.log")"
args=()
for i in $(seq 16); do
  args+=(-o "$T/quick.$i" "$BASE/php/x.php?x=q$i")
done
curl -sS --max-time 50 --parallel --parallel-max 2 -w '%{http_code} %{time_total}\n' \
  "${args[@]}" >"$T/quick.codes" 2>"$T/quick.err" ||
  fail "PHP after the reload: curl failed ($(cut -d' ' -f1 "$T/quick.codes" | sort | uniq -c | tr '\n' ' '))"
[ "$(grep -c '^200 ' "$T/quick.codes")" = 16 ] ||
  fail "PHP after the reload: not 16 answers 200: $(cut -d' ' -f1 "$T/quick.codes" | sort | uniq -c | tr '\n' ' ')"
: >"$T/quick.pids"
for i in $(seq 16); do
  php_check "$T/quick.$i" GET "q$i" 0 "$EMPTY_MD5" "PHP request $i after the reload"
  case " $php_old " in
    *" $PHP_PID "*) fail "PHP request $i after the reload answered by $PHP_PID, a worker from before it" ;;
  esac
  echo "$PHP_PID" >>"$T/quick.pids"
done
sort "$T/quick.pids" | uniq -c | sort -rn >"$T/quick.perpid"
most=$(head -n1 "$T/quick.perpid" | awk '{print $1}')
npids=$(grep -c . "$T/quick.perpid")
[ "$most" -le 4 ] ||
  fail "pm.max_requests changed to 4 and reloaded: one php-cgi still answered $most of 16 requests ($(awk '{printf "%s x%s, ", $2, $1}' "$T/quick.perpid"))"
slowest=$(sort -k2 -rn "$T/quick.codes" | head -n1 | cut -d' ' -f2)
ok "pm.max_requests 20 -> 4 by SIGHUP: 16 requests answered 200 by $npids php-cgi processes, none above 4; slowest ${slowest}s"
sleep 0.3 # the last exits reach the log
tail -n +$((log_mark + 1)) "$T/fcgikitd.log" >"$T/quick.log"
backoffs=$(grep -E '\[pool php\] pid [0-9]+ exited with status 0 .*next start waits' "$T/quick.log" || true)
nbackoff=$(printf '%s' "$backoffs" | grep -c . || true)
status_json
if [ "$S_php_recycled" -lt $((recycled_before + npids - 2)) ]; then
  late_fail "pm.max_requests = 4: at least $((npids - 2)) php-cgi exited 0 after their 4 requests, but the status's \"recycled\" for pool php went from $recycled_before to $S_php_recycled only (restarts: $S_php_restarts)"
fi
if [ "$nbackoff" -gt 0 ]; then
  late_fail "pm.max_requests = 4: $nbackoff php-cgi worker(s) that exited 0 after serving the 4 requests fcgikitd itself set in PHP_FCGI_MAX_REQUESTS were taken for crashes (exit within 1 s of start) and their replacements held back by the crash backoff, doubling each time (slowest request ${slowest}s); fcgikitd logged: $(printf '%s\n' "$backoffs" | tail -n 3 | sed 's/^[0-9-]* [0-9:]* //' | tr '\n' '|')"
else
  ok "php-cgi workers recycled after 4 requests without crash backoff (status: recycled $recycled_before -> $S_php_recycled)"
fi

# --- (h) SIGTERM -----------------------------------------------------------------

status_json
all_workers="$S_echo_pids $S_libfcgi_pids $S_php_pids"
stop_pid "$NGINX_PID" || true
rc=0
stop_pid "$FKD_PID" || rc=$?
[ "$rc" = 0 ] || fail "fcgikitd exited $rc on SIGTERM, not 0"
for pid in $all_workers; do
  alive "$pid" && fail "worker $pid still runs after fcgikitd stopped"
done
FKD_PID=""
ok "SIGTERM: fcgikitd exited 0, its workers ($all_workers) are gone"

no_sanitizer_reports
if grep -E '\[(crit|alert|emerg)\]' "$T/nginx-error.log" >"$T/nginx-errors"; then
  fail "nginx logged errors: $(head -n 5 "$T/nginx-errors")"
fi

if [ "${#LATE_FAILS[@]}" -gt 0 ]; then
  for msg in "${LATE_FAILS[@]}"; do
    printf 'FAIL: %s: %s\n' "$FK_TEST_NAME" "$msg" >&2
  done
  fail "${#LATE_FAILS[@]} check(s) above failed"
fi
