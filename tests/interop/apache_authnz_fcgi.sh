#!/usr/bin/env bash
# Interop: Apache httpd mod_authnz_fcgi (Debian apache2) with
# examples/authorizer as a FastCGI Authorizer in front of a static file and
# in front of examples/echo (through mod_proxy_fcgi).
#
# The authorizer is defined with "AuthnzFcgiDefineProvider authnz NAME
# fcgi://127.0.0.1:PORT/" and used with "AuthnzFcgiCheckAuthnProvider NAME"
# plus "Require NAME"; "CGIPassAuth On" lets it see HTTP_AUTHORIZATION.
#   (a) the right credentials (HTTP Basic, fcgikit:secret): 200 and the
#       static file byte for byte; the authorizer's Variable-AUTH_USER and
#       Variable-AUTH_METHOD became the request variables AUTH_USER and
#       AUTH_METHOD (mod_headers copies them into response headers) and,
#       through UserExpr, the authenticated user; no Variable-* header
#       reaches the client;
#   (b) the same in front of echo: the next stage, a FastCGI Responder,
#       gets AUTH_USER=fcgikit, AUTH_METHOD=basic and REMOTE_USER=fcgikit as
#       params, and its own answer comes back;
#   (c) no credentials: 401 with the authorizer's WWW-Authenticate and body,
#       unchanged (compared with what the authorizer answers directly);
#       wrong password, unknown user: 403 and the authorizer's body,
#       unchanged; the static file never shows;
#   (d) through a recording relay (a second provider), what the authorizer
#       gets: role 2 (Authorizer), flags 0 (no FCGI_KEEP_CONN), one request
#       per connection, the params mod_authnz_fcgi sends (recorded:
#       FCGI_ROLE, FCGI_APACHE_ROLE, REMOTE_PASSWD...), and no FCGI_STDIN
#       record at all (the library must not wait for one).
#
# Apache runs privately: its own ServerRoot, config, pid file and logs
# under $T, on a loopback port, in the foreground, stopped by pid.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd apache2 apache2
require_cmd curl curl
require_cmd python3 python3

MODULES=/usr/lib/apache2/modules
for mod in mpm_event authz_core authn_core authnz_fcgi headers proxy proxy_fcgi; do
  if ! [ -r "$MODULES/mod_$mod.so" ]; then
    [ "${CI:-}" = "true" ] && fail "$MODULES/mod_$mod.so is missing (Debian package apache2)"
    skip "$MODULES/mod_$mod.so is missing (apt-get install apache2)"
  fi
done

# As root, Apache's children run as the User of the config (www-data here),
# which must read the static files and reach echo's socket under $T.
chmod 0755 "$T"
mkdir -p "$T/apache/run" "$T/apache/htdocs/private" "$T/apache/htdocs/tapped"
head -c 3000 /dev/urandom | base64 >"$T/apache/htdocs/private/secret.txt"
cp "$T/apache/htdocs/private/secret.txt" "$T/apache/htdocs/tapped/secret.txt"
chmod -R a+rX "$T/apache/htdocs"

# --- A recording relay ---------------------------------------------------------

# tests/interop/tap.py LISTEN UPSTREAM LOG [COMMAND...] records every
# FastCGI record between a web server and an application (see its header).
TAP=$(cat "$(dirname "${BASH_SOURCE[0]}")/tap.py")

# --- The applications ----------------------------------------------------------

start_example_tcp authorizer
AUTH_PORT=$PICKED_PORT
start_example echo "$T/echo.sock"
wait_for_socket "$T/echo.sock" "$STARTED_PID"
chmod 0666 "$T/echo.sock"

start_tap() {
  local attempt
  for attempt in 1 2 3 4 5; do
    pick_port
    start_bg tap python3 -c "$TAP" "127.0.0.1:$PICKED_PORT" "127.0.0.1:$AUTH_PORT" "$T/tap.log"
    TAP_PID=$STARTED_PID
    TAP_PORT=$PICKED_PORT
    wait_for_port "$TAP_PORT" "$TAP_PID" && return 0
    stop_pid "$TAP_PID" || true
    note "the relay could not listen on port $TAP_PORT; trying another"
  done
  fail "the relay did not start"
}
start_tap

# --- Apache ----------------------------------------------------------------------

write_conf() {
  local port=$1
  apache_conf_head "$port" >"$T/apache/httpd.conf"
  cat >>"$T/apache/httpd.conf" <<CONF

LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authn_core_module $MODULES/mod_authn_core.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authnz_fcgi_module $MODULES/mod_authnz_fcgi.so
LoadModule headers_module $MODULES/mod_headers.so
LoadModule proxy_module $MODULES/mod_proxy.so
LoadModule proxy_fcgi_module $MODULES/mod_proxy_fcgi.so

StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
KeepAlive On
Timeout 60
DocumentRoot "$T/apache/htdocs"
<Directory "$T/apache/htdocs">
    Require all granted
</Directory>

AuthnzFcgiDefineProvider authnz fcgikit fcgi://127.0.0.1:$AUTH_PORT/
AuthnzFcgiDefineProvider authnz tapped fcgi://127.0.0.1:$TAP_PORT/

# The authorizer reads the credentials from HTTP_AUTHORIZATION, which Apache
# passes to FastCGI and CGI programs only with CGIPassAuth On. Its
# Variable-AUTH_USER becomes the request variable AUTH_USER; UserExpr makes
# it the authenticated user, which "Require fcgikit" needs.
<Location "/private/">
    AuthType Basic
    AuthName "fcgikit"
    CGIPassAuth On
    AuthnzFcgiCheckAuthnProvider fcgikit Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:AUTH_USER}"
    Require fcgikit
    Header set X-Auth-User "%{AUTH_USER}e"
    Header set X-Auth-Method "%{AUTH_METHOD}e"
</Location>
<Location "/app/">
    AuthType Basic
    AuthName "fcgikit"
    CGIPassAuth On
    AuthnzFcgiCheckAuthnProvider fcgikit Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:AUTH_USER}"
    Require fcgikit
    ProxyPass "unix:$T/echo.sock|fcgi://localhost/"
</Location>
<Location "/tapped/">
    AuthType Basic
    AuthName "fcgikit"
    CGIPassAuth On
    AuthnzFcgiCheckAuthnProvider tapped Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:AUTH_USER}"
    Require tapped
</Location>
CONF
}

start_apache() {
  local attempt
  for attempt in 1 2 3 4 5; do
    pick_port
    HTTP_PORT=$PICKED_PORT
    write_conf "$HTTP_PORT"
    apache2 -t -d "$T/apache" -f "$T/apache/httpd.conf" >"$T/apache-t.out" 2>&1 ||
      fail "apache2 rejects the test config ($T/apache/httpd.conf): $(cat "$T/apache-t.out")"
    start_bg apache apache2 -d "$T/apache" -f "$T/apache/httpd.conf" -DFOREGROUND
    APACHE_PID=$STARTED_PID
    wait_for_port "$HTTP_PORT" "$APACHE_PID" && return 0
    stop_pid "$APACHE_PID" || true
    note "apache2 could not listen on port $HTTP_PORT; trying another"
  done
  fail "apache2 did not start"
}
start_apache
BASE="http://127.0.0.1:$HTTP_PORT"
note "$(apache2 -v | head -n1)"

# --- Checks ----------------------------------------------------------------------

basic() { printf 'Basic %s' "$(printf '%s' "$1" | base64)"; }

# fetch OUT URL [CURL-ARG...]: a GET; the status in $OUT.code, the headers
# (no CR) in $OUT.headers, the body in OUT.
fetch() {
  local out=$1 url=$2
  shift 2
  curl -sS --max-time 60 -D "$out.raw-headers" -o "$out" -w '%{http_code}' "$@" "$url" \
    >"$out.code" || fail "curl $url failed"
  tr -d '\r' <"$out.raw-headers" >"$out.headers"
}

# header FILE NAME: the value of the header NAME in FILE (no CR).
header() {
  awk -v n="$2" 'index(tolower($0), tolower(n) ": ") == 1 {print substr($0, length(n) + 3)}' "$1"
}

# direct OUT [NAME=VALUE...]: the authorizer's own answer to an Authorizer
# request, split into OUT.headers and OUT.body.
direct() {
  local out=$1
  shift
  fcgi_request "127.0.0.1:$AUTH_PORT" 2 "" REQUEST_METHOD=GET "$@" >"$out" 2>"$out.err" ||
    fail "an Authorizer request straight to the authorizer failed: $(cat "$out.err")"
  cgi_headers "$out" >"$out.headers"
  cgi_content "$out" >"$out.body"
}

# check_denied WHAT STATUS OUT DIRECT: Apache answered STATUS with the
# authorizer's body (DIRECT.body), unchanged, and no static file.
check_denied() {
  local what=$1 status=$2 out=$3 want=$4
  [ "$(cat "$out.code")" = "$status" ] ||
    fail "$what: Apache answered $(cat "$out.code"), not $status"
  expect_line "$want.headers" "Status: $status $(head -n1 "$want.body" | cut -d' ' -f2-)" \
    "$what: the authorizer's own answer"
  same_bytes "$want.body" "$out" "$what: the authorizer's body through Apache"
  grep -q -F -f "$T/apache/htdocs/private/secret.txt" "$out" &&
    fail "$what: the static file came through"
  [ -z "$(header "$out.headers" X-Auth-User)" ] ||
    fail "$what: X-Auth-User set on a denial: $(header "$out.headers" X-Auth-User)"
  return 0
}

check_granted() {
  local out="$T/granted"
  fetch "$out" "$BASE/private/secret.txt" -H "Authorization: $(basic fcgikit:secret)"
  [ "$(cat "$out.code")" = 200 ] || fail "right credentials: Apache answered $(cat "$out.code"), not 200"
  same_bytes "$T/apache/htdocs/private/secret.txt" "$out" "right credentials: the static file"
  [ "$(header "$out.headers" X-Auth-User)" = fcgikit ] ||
    fail "right credentials: X-Auth-User is '$(header "$out.headers" X-Auth-User)', not fcgikit: Variable-AUTH_USER did not become the request variable AUTH_USER"
  [ "$(header "$out.headers" X-Auth-Method)" = basic ] ||
    fail "right credentials: X-Auth-Method is '$(header "$out.headers" X-Auth-Method)', not basic"
  grep -qi '^variable-' "$out.headers" &&
    fail "right credentials: a Variable- header reached the client: $(grep -i '^variable-' "$out.headers")"
  ok "right credentials: 200, the static file byte for byte, AUTH_USER=fcgikit and AUTH_METHOD=basic passed on, no Variable- header to the client"
}

check_app() {
  local out="$T/app"
  fetch "$out" "$BASE/app/hello?x=1" -H "Authorization: $(basic fcgikit:secret)"
  [ "$(cat "$out.code")" = 200 ] || fail "right credentials in front of echo: Apache answered $(cat "$out.code"), not 200"
  echo_params "$out" >"$out.params"
  expect_line "$out.params" "QUERY_STRING=x=1" "echo behind the authorizer"
  expect_line "$out.params" "AUTH_USER=fcgikit" "echo behind the authorizer (Variable-AUTH_USER)"
  expect_line "$out.params" "AUTH_METHOD=basic" "echo behind the authorizer (Variable-AUTH_METHOD)"
  expect_line "$out.params" "REMOTE_USER=fcgikit" "echo behind the authorizer (UserExpr)"
  note "params of the next stage after the authorizer: $(grep -E '^(AUTH_|REMOTE_USER|HTTP_AUTHORIZATION|FCGI_)' "$out.params" | tr '\n' ' ')"
  ok "in front of echo: the Responder gets AUTH_USER=fcgikit, AUTH_METHOD=basic, REMOTE_USER=fcgikit"

  fetch "$out.denied" "$BASE/app/hello?x=1" -H "Authorization: $(basic fcgikit:wrong)"
  check_denied "wrong password in front of echo" 403 "$out.denied" "$T/direct-wrong"
  grep -q -- '^--$' "$out.denied" && fail "wrong password in front of echo: echo answered"
  ok "in front of echo, wrong password: 403 from the authorizer, echo not reached"
}

check_denials() {
  local out="$T/denied"
  direct "$T/direct-none" REQUEST_URI=/private/secret.txt
  direct "$T/direct-wrong" REQUEST_URI=/private/secret.txt "HTTP_AUTHORIZATION=$(basic fcgikit:wrong)"

  fetch "$out-none" "$BASE/private/secret.txt"
  check_denied "no credentials" 401 "$out-none" "$T/direct-none"
  [ -n "$(header "$T/direct-none.headers" WWW-Authenticate)" ] ||
    fail "the authorizer itself sent no WWW-Authenticate"
  [ "$(header "$out-none.headers" WWW-Authenticate)" = "$(header "$T/direct-none.headers" WWW-Authenticate)" ] ||
    fail "no credentials: WWW-Authenticate through Apache is '$(header "$out-none.headers" WWW-Authenticate)', the authorizer sent '$(header "$T/direct-none.headers" WWW-Authenticate)'"
  ok "no credentials: 401, the authorizer's WWW-Authenticate and body unchanged"

  fetch "$out-wrong" "$BASE/private/secret.txt" -H "Authorization: $(basic fcgikit:wrong)"
  check_denied "wrong password" 403 "$out-wrong" "$T/direct-wrong"
  fetch "$out-user" "$BASE/private/secret.txt" -H "Authorization: $(basic nobody:secret)"
  check_denied "unknown user" 403 "$out-user" "$T/direct-wrong"
  ok "wrong password, unknown user: 403 and the authorizer's body unchanged"
  note "Content-Type of a denial through Apache: '$(header "$out-wrong.headers" Content-Type)' (the authorizer sent '$(header "$T/direct-wrong.headers" Content-Type)')"
}

# --- The recording relay's view (d) ---------------------------------------------------

tap_lines() { grep -E "$1" "$T/tap.log" || true; }

wait_tap() {
  local i
  for i in $(seq 300); do
    grep -qE "$1" "$T/tap.log" 2>/dev/null && return 0
    alive "$TAP_PID" || fail "the recording relay died (see tap.log)"
    sleep 0.1
  done
  fail "$2: no line matching '$1' in tap.log after 30 s"
}

check_tap() {
  local out="$T/tapped" conns c want
  fetch "$out-1" "$BASE/tapped/secret.txt" -H "Authorization: $(basic fcgikit:secret)"
  [ "$(cat "$out-1.code")" = 200 ] || fail "via the relay, right credentials: $(cat "$out-1.code"), not 200"
  fetch "$out-2" "$BASE/tapped/secret.txt" -H "Authorization: $(basic fcgikit:wrong)"
  [ "$(cat "$out-2.code")" = 403 ] || fail "via the relay, wrong password: $(cat "$out-2.code"), not 403"
  fetch "$out-3" "$BASE/tapped/secret.txt"
  [ "$(cat "$out-3.code")" = 401 ] || fail "via the relay, no credentials: $(cat "$out-3.code"), not 401"
  wait_tap '^conn=3 (app|web-server)-closed' "relay: the third connection"
  conns=$(tap_lines ' > BEGIN_REQUEST' | sed 's/^conn=\([0-9]*\) .*/\1/' | sort -u)
  [ "$(count_lines "$conns")" = 3 ] || fail "relay: 3 authorizations on $(count_lines "$conns") connections, not 3"
  for c in $conns; do
    [ "$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST" | wc -l)" = 1 ] ||
      fail "relay: connection $c carried more than one request"
    case $(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST") in
      *" > BEGIN_REQUEST role=2 flags=0") ;;
      *) fail "relay: mod_authnz_fcgi sent '$(tap_lines "^conn=$c id=[0-9]+ > BEGIN_REQUEST")', not role=2 flags=0" ;;
    esac
    [ -n "$(tap_lines "^conn=$c id=[0-9]+ < END_REQUEST")" ] || fail "relay: no END_REQUEST on connection $c"
  done
  [ -z "$(tap_lines ' > STDIN ')" ] ||
    fail "relay: mod_authnz_fcgi now sends FCGI_STDIN to the authorizer: update docs/interop.md"
  [ -z "$(tap_lines ' > (GET_VALUES|ABORT_REQUEST)')" ] ||
    fail "relay: $(tap_lines ' > (GET_VALUES|ABORT_REQUEST)' | head -n 2)"
  for want in FCGI_ROLE=AUTHORIZER FCGI_APACHE_ROLE=AUTHENTICATOR "HTTP_AUTHORIZATION=$(basic fcgikit:secret)" \
              REMOTE_USER=fcgikit REMOTE_PASSWD=secret HTTP_CONNECTION=close; do
    grep -q -x -F "conn=1 id=1 > PARAM $want" "$T/tap.log" ||
      fail "relay: the authorizer did not get $want"
  done
  note "params mod_authnz_fcgi sent the authorizer (right credentials):"
  tap_lines '^conn=1 id=1 > PARAM ' | sed 's/^conn=1 id=1 > PARAM /    /'
  ok "relay: role 2, flags 0, one request per connection, no FCGI_STDIN, FCGI_APACHE_ROLE=AUTHENTICATOR, REMOTE_PASSWD"
}

count_lines() { printf '%s' "$1" | grep -c . || true; }

check_granted
check_denials
check_app
check_tap

# Every process must still be running: none of this may end one.
for pid in "${FK_PIDS[@]}"; do
  alive "$pid" || fail "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone)) died during the test"
done
stop_pid "$APACHE_PID" || true
stop_pid "$TAP_PID" || true
for pid in "${FK_PIDS[@]}"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "example (pid $pid) exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
if grep -E '\[[a-z_]+:(error|crit|alert|emerg)\]' "$T/apache-error.log" >"$T/apache-errors"; then
  fail "Apache logged errors: $(head -n 5 "$T/apache-errors")"
fi
ok "Apache logged no errors"
