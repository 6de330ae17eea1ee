#!/bin/sh
# Serves examples/echo on a Unix socket and says how to reach it.
# Usage: scripts/run-echo.sh BUILD_DIR SOCKET_PATH
set -eu
build=$1
sock=$2
cat <<MSG
fcgikit echo is listening on unix:$sock  (Ctrl-C stops it)

Send it a request straight away (Debian package libfcgi-bin):
  printf 'hello' | env REQUEST_METHOD=POST CONTENT_LENGTH=5 SCRIPT_NAME=/echo \\
    cgi-fcgi -bind -connect $sock

Or put nginx in front of it (inside a server { } block):
  location / {
      include fastcgi_params;
      fastcgi_pass unix:$sock;
  }

MSG
exec "$build/examples/echo" "$sock"
