#!/bin/sh
# A CGI script (RFC 3875) for fcgiwrap, which runs it with the request's
# params as its environment and the body on its standard input.
#
# The answer depends on QUERY_STRING (fcgiwrap runs this one file, named
# by SCRIPT_FILENAME, whatever the path):
#   status=404  "Status: 404 Not Found" and a short body
#   stderr=1    a line on standard error (fcgiwrap -f sends it as
#               FCGI_STDERR), then the echo
#   otherwise   the echo: a few CGI variables as NAME=VALUE lines, every
#               HTTP_* and TEST_* variable sorted, a line "--", then the
#               body (CONTENT_LENGTH bytes)
#
# The body is read whole before anything is written: fcgiwrap copies the
# entire request body into the script's standard input before it reads
# any output, so a script that echoes as it reads fills its output pipe
# and both wait for ever once the body passes the pipe's 64 KB.

body=$(mktemp) || exit 1
trap 'rm -f "$body"' EXIT
if [ "${CONTENT_LENGTH:-0}" -gt 0 ]; then
  head -c "$CONTENT_LENGTH" >"$body"
fi

case "$QUERY_STRING" in
  *status=404*)
    printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such page\n'
    exit 0
    ;;
  *stderr=1*)
    echo "cgi_echo: a line for the error log" >&2
    ;;
esac

printf 'Status: 200 OK\r\nContent-Type: text/plain\r\nX-Echo-App: fcgiwrap\r\n\r\n'
for name in REQUEST_METHOD REQUEST_URI QUERY_STRING SCRIPT_NAME SCRIPT_FILENAME \
  CONTENT_LENGTH CONTENT_TYPE GATEWAY_INTERFACE SERVER_PROTOCOL; do
  eval "printf '%s=%s\n' $name \"\${$name-}\""
done
env | grep -E '^(HTTP|TEST)_' | sort
echo --
cat "$body"
