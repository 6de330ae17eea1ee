#!/usr/bin/env bash
# Interop: nginx (Debian nginx / nginx-light) in front of fcgikit-cgi on a
# Unix socket, running real CGI programs:
#
#   (a) git http-backend serving a bare repository over smart HTTP (protocol
#       version 2 for fetches): a clone has the right HEAD; a push of a
#       commit with several MB of random data lands in the bare repository;
#       a fresh clone gets that file byte for byte;
#   (b) shell scripts: a plain 200 answer (body, status, a few CGI
#       variables); "Status: 404" becomes HTTP 404; malformed headers become
#       HTTP 502, with fcgikit-cgi's reason in nginx's error log (nginx logs
#       FCGI_STDERR as "FastCGI sent in stderr");
#   (c) a 10 MB POST to a script that writes 10 MB before reading its body
#       and then echoes the body: the answer is the zeros, then the body
#       (no deadlock), with nginx buffering and with nginx streaming both
#       ways;
#   (d) a client that gives up mid-response: the streaming script is stopped
#       within seconds and fcgikit-cgi leaves no zombie, with nginx's
#       fastcgi_buffering off and on;
#   (e) a local redirect ("Location: /cgi/other") reaches the client as a
#       302 with that Location.
#
# nginx runs privately: its own prefix, config, pid file, logs and temp
# paths under $T, on a loopback port, in the foreground, stopped by pid.
# Its error log must end up without [crit], [alert] or [emerg], and without
# [error] lines other than the ones case (b) expects.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd nginx nginx-light
require_cmd curl curl
require_cmd git git
require_cmd ps procps

NGINX_PARAMS=/etc/nginx/fastcgi_params
if ! [ -r "$NGINX_PARAMS" ]; then
  [ "${CI:-}" = "true" ] && fail "$NGINX_PARAMS is missing (Debian package nginx-common)"
  skip "$NGINX_PARAMS is missing (apt-get install nginx-common)"
fi
GIT_CORE=$(git --exec-path)
HTTP_BACKEND=$GIT_CORE/git-http-backend
if ! [ -x "$HTTP_BACKEND" ]; then
  [ "${CI:-}" = "true" ] && fail "$HTTP_BACKEND is missing (Debian package git)"
  skip "$HTTP_BACKEND is missing (apt-get install git)"
fi
CGI_BIN=$FK_BUILD/bin/fcgikit-cgi
[ -x "$CGI_BIN" ] || fail "$CGI_BIN is missing: build first (FK_BUILD=$FK_BUILD)"

MB=$((1024 * 1024))

# --- Git: the client's configuration, the repositories -------------------------

# Every git command here, client or (through fcgikit-cgi -e) server, reads
# this configuration and nothing of the user's or the system's.
mkdir -p "$T/home" "$T/state"
export HOME=$T/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
unset GIT_DIR GIT_WORK_TREE GIT_CONFIG_GLOBAL GIT_ASKPASS SSH_ASKPASS XDG_CONFIG_HOME
cat >"$HOME/.gitconfig" <<'EOF'
[user]
	name = Test Author
	email = test@example.invalid
[init]
	defaultBranch = main
[safe]
	directory = *
[advice]
	detachedHead = false
EOF

git init -q "$T/seed"
for i in 1 2 3; do
  echo "line $i" >>"$T/seed/file.txt"
  git -C "$T/seed" add file.txt
  git -C "$T/seed" commit -q -m "commit $i"
done
SEED_HEAD=$(git -C "$T/seed" rev-parse HEAD)
mkdir -p "$T/git"
git clone -q --bare "$T/seed" "$T/git/repo.git"
git --git-dir="$T/git/repo.git" config http.receivepack true

# --- The CGI scripts ---------------------------------------------------------------

mkdir -p "$T/cgi-bin"
script() {
  cat >"$T/cgi-bin/$1"
  chmod 755 "$T/cgi-bin/$1"
}

script hello <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\nX-Test: yes\r\n\r\n'
echo "hello from a CGI script"
echo "method=$REQUEST_METHOD"
echo "query=$QUERY_STRING"
echo "gateway=$GATEWAY_INTERFACE"
echo "script_name=$SCRIPT_NAME"
echo "cwd=$(pwd -P)"
EOF

script missing <<'EOF'
#!/bin/sh
printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such thing\n'
EOF

# A header line without a colon.
script bad <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\nthis is not a header\r\n\r\nsecret body\n'
EOF

# 10 MB out before reading a byte of the body, then the body back.
script bigpost <<'EOF'
#!/bin/sh
printf 'Content-Type: application/octet-stream\r\n\r\n'
head -c 10485760 /dev/zero
exec cat
EOF

# A line every 0.1 s until stopped; its pid in $TEST_STATE/stream.QUERY.
# It starts a long sleep in the background, which must be stopped with it.
script stream <<'EOF'
#!/bin/sh
echo $$ >"$TEST_STATE/stream.$QUERY_STRING.tmp"
mv "$TEST_STATE/stream.$QUERY_STRING.tmp" "$TEST_STATE/stream.$QUERY_STRING"
printf 'Content-Type: text/plain\r\n\r\n'
sleep 300 &
n=0
while :; do
  n=$((n + 1))
  echo "tick $n"
  sleep 0.1
done
EOF

script redirect <<'EOF'
#!/bin/sh
printf 'Location: /cgi/other\r\n\r\n'
EOF

script other <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nthe other script\n'
EOF

# --- fcgikit-cgi -------------------------------------------------------------------

# Run as the test's own user (as root it warns that scripts run as root).
start_bg fcgikit-cgi "$CGI_BIN" -r "$GIT_CORE" -r "$T/cgi-bin" \
  -e "HOME=$T/home" -e GIT_CONFIG_NOSYSTEM=1 -e "TEST_STATE=$T/state" \
  --grace 2 -v "$T/cgi.sock"
CGI_PID=$STARTED_PID
wait_for_socket "$T/cgi.sock" "$CGI_PID"

# --- nginx -----------------------------------------------------------------------

# (No $(...) inside the here-document: bash parses those when it expands
# the document, and a signal trap that runs meanwhile fails to parse.)
write_conf() {
  local http_port=$1
  {
    nginx_conf_head 64
    cat <<EOF
    client_max_body_size 20m;

    server {
        listen 127.0.0.1:$http_port;

        # git http-backend: the path after /git is PATH_INFO.
        location ~ ^/git(/.*)$ {
            client_max_body_size 0;
            include $NGINX_PARAMS;
            fastcgi_param SCRIPT_FILENAME $HTTP_BACKEND;
            fastcgi_param PATH_INFO \$1;
            fastcgi_param GIT_PROJECT_ROOT $T/git;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_pass unix:$T/cgi.sock;
        }

        # Scripts, nginx buffering the response (its default).
        location /cgi/ {
            alias $T/cgi-bin/;
            include $NGINX_PARAMS;
            fastcgi_param SCRIPT_FILENAME \$request_filename;
            fastcgi_pass unix:$T/cgi.sock;
        }

        # The same scripts, the response and the request body streamed.
        location /stream/ {
            alias $T/cgi-bin/;
            include $NGINX_PARAMS;
            fastcgi_param SCRIPT_FILENAME \$request_filename;
            fastcgi_buffering off;
            fastcgi_request_buffering off;
            fastcgi_pass unix:$T/cgi.sock;
        }
    }
}
EOF
  } >"$T/nginx/nginx.conf"
}

start_nginx
BASE="http://127.0.0.1:$HTTP_PORT"

# --- (a) git over smart HTTP ---------------------------------------------------------

REPO_URL=$BASE/git/repo.git

GIT_TRACE_PACKET=$T/clone1.trace git -c protocol.version=2 clone -q "$REPO_URL" "$T/clone1" \
  >"$T/git-clone1.log" 2>&1 || fail "git clone $REPO_URL failed: $(tail -n 5 "$T/git-clone1.log")"
head1=$(git -C "$T/clone1" rev-parse HEAD)
[ "$head1" = "$SEED_HEAD" ] || fail "the clone's HEAD is $head1, not $SEED_HEAD"
[ "$(git -C "$T/clone1" rev-list --count HEAD)" = 3 ] || fail "the clone does not have 3 commits"
grep -q 'git< version 2' "$T/clone1.trace" ||
  fail "the clone did not speak protocol version 2 (the Git-Protocol header did not reach git http-backend)"
rm -f "$T/clone1.trace"
ok "git clone over nginx and fcgikit-cgi: HEAD $head1, protocol version 2"

head -c $((6 * MB)) /dev/urandom >"$T/clone1/random.bin"
git -C "$T/clone1" add random.bin
git -C "$T/clone1" commit -q -m "6 MB of random data"
pushed=$(git -C "$T/clone1" rev-parse HEAD)
git -C "$T/clone1" -c protocol.version=2 push origin main >"$T/git-push.log" 2>&1 ||
  fail "git push to $REPO_URL failed: $(tail -n 5 "$T/git-push.log")"
bare=$(git --git-dir="$T/git/repo.git" rev-parse refs/heads/main)
[ "$bare" = "$pushed" ] || fail "after the push the bare repository has main at $bare, not $pushed"
git --git-dir="$T/git/repo.git" fsck --no-progress >"$T/git-fsck.log" 2>&1 ||
  fail "git fsck of the bare repository after the push failed: $(tail -n 5 "$T/git-fsck.log")"
ok "git push of a 6 MB commit over nginx and fcgikit-cgi: main is $pushed"

git -c protocol.version=2 clone -q "$REPO_URL" "$T/clone2" >"$T/git-clone2.log" 2>&1 ||
  fail "second git clone failed: $(tail -n 5 "$T/git-clone2.log")"
[ "$(git -C "$T/clone2" rev-parse HEAD)" = "$pushed" ] || fail "the second clone's HEAD is not $pushed"
same_bytes "$T/clone1/random.bin" "$T/clone2/random.bin" "the pushed file, cloned again"
rm -rf "$T/clone1" "$T/clone2" "$T/seed"
ok "a fresh clone has the pushed 6 MB file byte for byte"

# --- (b) shell scripts: 200, 404, 502 ----------------------------------------------

request "$T/hello" 200 "$BASE/cgi/hello?a=1&b=x%20y"
expect_line "$T/hello" "hello from a CGI script" "GET /cgi/hello"
expect_line "$T/hello" "method=GET" "GET /cgi/hello"
expect_line "$T/hello" "query=a=1&b=x%20y" "GET /cgi/hello"
expect_line "$T/hello" "gateway=CGI/1.1" "GET /cgi/hello"
expect_line "$T/hello" "script_name=/cgi/hello" "GET /cgi/hello"
expect_line "$T/hello" "cwd=$(cd "$T/cgi-bin" && pwd -P)" "GET /cgi/hello (working directory)"
[ "$(header "$T/hello.headers" Content-Type)" = text/plain ] ||
  fail "GET /cgi/hello: Content-Type is '$(header "$T/hello.headers" Content-Type)', not text/plain"
[ "$(header "$T/hello.headers" X-Test)" = yes ] || fail "GET /cgi/hello: the script's X-Test header is missing"
ok "a shell script answers 200 with its body and headers"

request "$T/missing" 404 "$BASE/cgi/missing"
expect_line "$T/missing" "no such thing" "GET /cgi/missing"
ok "Status: 404 from a script is HTTP 404"

request "$T/bad" 502 "$BASE/cgi/bad"
grep -q 'secret body' "$T/bad" && fail "GET /cgi/bad: the 502 answer carries the script's body"
BAD_LOG="FastCGI sent in stderr: \"fcgikit-cgi: $T/cgi-bin/bad: bad response headers"
for i in $(seq 50); do
  grep -q -F -e "$BAD_LOG" "$T/nginx-error.log" && break
  sleep 0.1
done
grep -q -F -e "$BAD_LOG" "$T/nginx-error.log" ||
  fail "GET /cgi/bad: nginx's error log has no line with '$BAD_LOG'"
ok "malformed headers give HTTP 502, and nginx logs why: $(grep -F -e "$BAD_LOG" "$T/nginx-error.log" |
  head -n 1 | sed 's/.*FastCGI sent in stderr: //' | cut -c1-160)"

# --- (c) a 10 MB POST to a script that writes 10 MB first ---------------------------

head -c $((10 * MB)) /dev/urandom >"$T/post.bin"
{ head -c $((10 * MB)) /dev/zero; cat "$T/post.bin"; } >"$T/post.expect"
for prefix in cgi stream; do
  code=$(curl -sS --max-time 120 -H 'Content-Type: application/octet-stream' \
           --data-binary "@$T/post.bin" -o "$T/post.out" -w '%{http_code}' \
           "$BASE/$prefix/bigpost") || fail "POST /$prefix/bigpost: curl failed (deadlock?)"
  [ "$code" = 200 ] || fail "POST /$prefix/bigpost answered $code, not 200"
  same_bytes "$T/post.expect" "$T/post.out" "POST /$prefix/bigpost (10 MB of zeros, then the 10 MB body)"
  rm -f "$T/post.out"
  ok "10 MB out before a 10 MB body is read: no deadlock via /$prefix/"
done
rm -f "$T/post.bin" "$T/post.expect"

# --- (d) a client that disconnects mid-response -------------------------------------

# no_zombies: fcgikit-cgi has no child that exited without being reaped.
# (ps exits 1 when there is no child at all.)
no_zombies() {
  local stats
  stats=$(ps --ppid "$CGI_PID" -o stat= || true)
  ! grep -q '^ *Z' <<<"$stats"
}

# session_live SID: the processes of session SID still running (the
# script leads a session of its own; an orphan's zombie is not counted).
session_live() {
  { ps -s "$1" -o pid=,stat=,args= || true; } | awk '$2 !~ /^Z/'
}

for prefix in stream cgi; do
  rm -f "$T/state/stream.$prefix"
  rc=0
  curl -sS -N --max-time 1 -o "$T/stream.$prefix.out" "$BASE/$prefix/stream?$prefix" \
    2>"$T/stream.$prefix.err" || rc=$?
  [ "$rc" = 28 ] || fail "GET /$prefix/stream with --max-time 1: curl exited $rc, not 28 (timeout): $(cat "$T/stream.$prefix.err")"
  for i in $(seq 50); do
    [ -s "$T/state/stream.$prefix" ] && break
    sleep 0.1
  done
  [ -s "$T/state/stream.$prefix" ] || fail "GET /$prefix/stream: the script never started"
  spid=$(cat "$T/state/stream.$prefix")
  if [ "$prefix" = stream ]; then
    grep -q -x 'tick 1' "$T/stream.$prefix.out" ||
      fail "GET /stream/stream: with fastcgi_buffering off, no line arrived in 1 s: $(head -c 200 "$T/stream.$prefix.out")"
  fi
  gone=0
  for i in $(seq 150); do
    if ! alive "$spid" && [ -z "$(session_live "$spid")" ] && no_zombies; then
      gone=1
      break
    fi
    sleep 0.1
  done
  if [ "$gone" = 0 ]; then
    alive "$spid" && fail "GET /$prefix/stream: the script (pid $spid) still runs 15 s after the client went away"
    [ -z "$(session_live "$spid")" ] ||
      fail "GET /$prefix/stream: 15 s after the client went away, what the script started still runs: $(session_live "$spid" | tr '\n' ';')"
    fail "GET /$prefix/stream: fcgikit-cgi (pid $CGI_PID) has zombie children: $(ps --ppid "$CGI_PID" -o pid=,stat=,args= | tr '\n' ';')"
  fi
  ok "client gone mid-response via /$prefix/: script $spid and its background child stopped, no zombies"
done

# --- (e) a local redirect --------------------------------------------------------------

request "$T/redirect" 302 "$BASE/cgi/redirect"
loc=$(header "$T/redirect.headers" Location)
[ "$loc" = /cgi/other ] || fail "GET /cgi/redirect: Location is '$loc', not /cgi/other"
code=$(curl -sS --max-time 60 -L -o "$T/followed" -w '%{http_code} %{url_effective}' "$BASE/cgi/redirect") ||
  fail "curl -L $BASE/cgi/redirect failed"
[ "$code" = "200 $BASE/cgi/other" ] || fail "following /cgi/redirect ended with '$code', not '200 $BASE/cgi/other'"
expect_line "$T/followed" "the other script" "following /cgi/redirect"
ok "a local redirect reaches the client as 302 Location: /cgi/other"

# --- The end ---------------------------------------------------------------------------

alive "$CGI_PID" || fail "fcgikit-cgi died during the test"
alive "$NGINX_PID" || fail "nginx died during the test"
no_zombies || fail "fcgikit-cgi has zombie children at the end"
stop_pid "$NGINX_PID" || true
rc=0
stop_pid "$CGI_PID" || rc=$?
[ "$rc" = 0 ] || fail "fcgikit-cgi exited $rc on SIGTERM, not 0"
no_sanitizer_reports
if grep -E '\[(crit|alert|emerg)\]' "$T/nginx-error.log" >"$T/nginx-errors"; then
  fail "nginx logged: $(head -n 5 "$T/nginx-errors")"
fi
if grep -E '\[error\]' "$T/nginx-error.log" | grep -v -F -e "$BAD_LOG" >"$T/nginx-errors"; then
  fail "nginx logged unexpected errors: $(head -n 5 "$T/nginx-errors")"
fi
ok "nginx logged no unexpected errors"
