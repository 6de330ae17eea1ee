#!/bin/sh
# Writes the seed corpus of fuzz_client: fuzz/corpus/client/. Each file is
# one byte of flags and fragment count (see fuzz/fuzz_client.c), the
# fragment sizes, then what an application sends to a web server that has
# requests 1, 2 and 3 in flight. Deterministic: running it again rewrites
# the same files.
#   sh fuzz/make_client_corpus.sh
set -eu
dir=$(cd "$(dirname "$0")" && pwd)/corpus/client
mkdir -p "$dir"

byte() { printf "\\$(printf '%03o' "$1")"; }
fill() { i=0; while [ "$i" -lt "$2" ]; do byte "$1"; i=$((i + 1)); done; }
u16() { byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
u32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); u16 $(($1 & 65535)); }
# A record: version, type, id, content length, padding (spec 3.3).
hdr() { byte "${5:-1}"; byte "$1"; u16 "$2"; u16 "$3"; byte "$4"; byte 0; }
# A stream record of the text given, padded to 8 bytes.
text() {
  len=$(printf '%s' "$3" | wc -c)
  pad=$(((8 - len % 8) % 8))
  hdr "$1" "$2" "$len" "$pad"
  printf '%s' "$3"
  fill 0 "$pad"
}
out() { text 6 "$1" "$2"; }
err() { text 7 "$1" "$2"; }
out_end() { hdr 6 "$1" 0 0; }
err_end() { hdr 7 "$1" 0 0; }
end() { hdr 3 "$1" 8 0; u32 "$2"; byte "$3"; fill 0 3; }
nv() { byte ${#1}; byte ${#2}; printf '%s%s' "$1" "$2"; }
values() {
  body=$("$@" | od -An -v -tx1 | tr -d ' \n')
  len=$((${#body} / 2))
  pad=$(((8 - len % 8) % 8))
  hdr 10 0 "$len" "$pad"
  "$@"
  fill 0 "$pad"
}
mpx() { nv FCGI_MAX_CONNS 10; nv FCGI_MAX_REQS 8; nv FCGI_MPXS_CONNS 1; }
no_mpx() { nv FCGI_MPXS_CONNS 0; }
complete() {
  out "$1" "Status: 200 OK
Content-Type: text/plain

hello $1"
  out_end "$1"
  end "$1" 0 0
}

{ byte 0; complete 1; complete 2; complete 3; } >"$dir/three_complete"
{ byte 3; byte 1; byte 7; byte 13; complete 2; err 1 "warning"; complete 1
  err_end 1; complete 3; } >"$dir/fragmented"
{ byte $((0x30)); values mpx; hdr 10 0 0 0; complete 1; complete 4; complete 5
} >"$dir/values_mpx"
{ byte $((0x10)); values no_mpx; complete 1; } >"$dir/values_no_mpx"
{ byte 0; end 3 0 1; end 2 0 2; end 1 0 3; } >"$dir/refused"
{ byte 0; out 1 "Location: http://example.com/
X-A: 1

"; out_end 1; end 1 0 0; out 2 "Status: 99 nope

"; out 3 "no colon here
"; } >"$dir/cgi_redirect_and_bad"
{ byte 0; hdr 11 0 8 0; byte 42; fill 0 7; hdr 200 1 3 5; fill 7 8
  complete 1; } >"$dir/unknown_types"
{ byte 0; out 1 "ok"; hdr 6 1 0 0 2; } >"$dir/bad_version"
{ byte 0; complete 1; out 1 "late"; } >"$dir/stdout_after_end"
{ byte 0; out 9 "stray"; } >"$dir/unknown_id"
{ byte 0; hdr 3 1 7 1; fill 0 8; } >"$dir/end_length_7"
{ byte 2; byte 0; byte 5; out 1 "Content-Type: text/html\r\n\r\n<p>"
  out 1 "more"; out_end 1; err_end 1; end 1 255 0; } >"$dir/zero_fragments"
