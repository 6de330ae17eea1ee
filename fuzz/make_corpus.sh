#!/bin/sh
# Writes the seed corpus of the fuzz targets: fuzz/corpus/record/ (for
# fuzz_record), fuzz/corpus/params/ (for fuzz_params) and a copy of the
# latter in fuzz/corpus/roundtrip/ (fuzz_roundtrip reads the same layout;
# scripts/run-fuzzers.sh looks for a directory named after each target).
# Deterministic: running it again rewrites the same files.
#   sh fuzz/make_corpus.sh
set -eu
dir=$(cd "$(dirname "$0")" && pwd)/corpus
mkdir -p "$dir/record" "$dir/params" "$dir/roundtrip"

# One byte, given in decimal.
byte() { printf "\\$(printf '%03o' "$1")"; }
# n bytes of the same value.
fill() { i=0; while [ "$i" -lt "$2" ]; do byte "$1"; i=$((i + 1)); done; }
u16() { byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
u32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); u16 $(($1 & 65535)); }
# A record header: type id content_length padding_length (spec 3.3).
hdr() { byte 1; byte "$1"; u16 "$2"; u16 "$3"; byte "$4"; byte 0; }
# A name-value length: 1 byte up to 127, else 4 bytes (spec 3.4).
nvlen() { if [ "$1" -le 127 ]; then byte "$1"; else u32 $(($1 | 0x80000000)); fi; }
nv() { nvlen ${#1}; nvlen ${#2}; printf '%s%s' "$1" "$2"; }
# A whole record: type id padding content-producing-command...
rec() {
  type=$1 id=$2 pad=$3; shift 3
  body=$("$@" | od -An -v -tx1 | tr -d ' \n')
  len=$((${#body} / 2))
  hdr "$type" "$id" "$len" "$pad"
  "$@"
  fill 0 "$pad"
}
none() { :; }
begin() { u16 "$1"; byte "$2"; fill 0 5; }
end() { u32 "$1"; byte "$2"; fill 0 3; }
cgi_env() {
  nv SCRIPT_FILENAME /srv/www/index.php
  nv REQUEST_METHOD GET
  nv QUERY_STRING 'a=1&b=2'
  nv CONTENT_LENGTH ''
  nv SERVER_PROTOCOL HTTP/1.1
}
probe() { nv FCGI_MAX_CONNS ''; nv FCGI_MAX_REQS ''; nv FCGI_MPXS_CONNS ''; }
reply() { nv FCGI_MAX_CONNS 10; nv FCGI_MAX_REQS 50; nv FCGI_MPXS_CONNS 1; }
text() { printf '%s' "$1"; }
long_value() { nv HTTP_COOKIE "$(fill 120 300)"; }

R=$dir/record
# fuzz_record input: 1 byte (low 4 bits = count of fragment sizes), the
# sizes, then the wire bytes.
{ byte 0; rec 1 1 0 begin 1 0; rec 4 1 0 cgi_env; rec 4 1 0 none
  rec 5 1 0 none; } > "$R/get_request"
{ byte 3; byte 1; byte 7; byte 0; rec 1 1 0 begin 1 1; rec 4 1 5 cgi_env
  rec 4 1 0 none; rec 5 1 3 text 'name=value'; rec 5 1 0 none; } > "$R/post_fragmented"
{ byte 0; rec 6 1 0 text 'Status: 200 OK
Content-Type: text/plain

hello'; rec 6 1 0 none; rec 7 1 0 text oops; rec 7 1 0 none
  rec 3 1 0 end 0 0; } > "$R/response"
{ byte 0; rec 9 0 0 probe; } > "$R/get_values"
{ byte 1; byte 1; rec 9 0 7 nv FCGI_MPXS_CONNS ''; } > "$R/get_values_bytewise"
{ byte 0; rec 10 0 0 reply; rec 11 0 0 begin 200 0; } > "$R/values_result"
{ byte 2; byte 5; byte 11; rec 1 1 0 begin 1 1; rec 1 2 0 begin 1 1
  rec 4 2 0 cgi_env; rec 4 1 0 cgi_env; rec 4 1 0 none; rec 4 2 0 none
  rec 5 2 0 none; rec 5 1 0 none; rec 3 2 0 end 0 0; rec 3 1 0 end 938 0; } > "$R/multiplexed"
{ byte 0; rec 1 1 0 begin 3 0; rec 4 1 0 none; rec 5 1 0 none
  rec 8 1 4 text 'file contents'; rec 8 1 0 none; } > "$R/filter_data"
{ byte 0; rec 0 1 3 text abc; rec 12 0 0 none; rec 255 7 255 text xyz
  rec 2 1 0 none; rec 2 1 1 text junk; } > "$R/unknown_and_abort"
{ byte 0; rec 1 1 0 begin 1 0; hdr 5 1 5 0; byte 2; } > "$R/bad_version"
{ byte 0; hdr 1 1 7 0; fill 0 7; } > "$R/begin_length_7"
{ byte 0; rec 3 1 0 end 0 0; hdr 11 0 0 0; } > "$R/unknown_type_length_0"
{ byte 0; rec 4 1 0 long_value; rec 4 1 0 none; } > "$R/long_pair"

P=$dir/params
# fuzz_params/fuzz_roundtrip input: 4 settings bytes (max_bytes / 4,
# max_pairs, fragment seed, failing allocation + 1), then the pairs.
{ byte 0; byte 0; byte 5; byte 0; cgi_env; } > "$P/cgi_env"
{ byte 16; byte 4; byte 9; byte 0; long_value; nv A b; } > "$P/long_value_limited"
{ byte 0; byte 0; byte 1; byte 0; u32 $((0x80000000 | 3)); byte 2; printf 'abcde'
  u32 0x80000000; u32 0x80000000; } > "$P/small_4byte_lengths"
{ byte 64; byte 8; byte 3; byte 0; u32 0xfffffff0; byte 0; printf xyz; } > "$P/crafted_length"
{ byte 0; byte 0; byte 7; byte 0; nv X first; nv Y y; nv X second; } > "$P/duplicates"
{ byte 0; byte 3; byte 2; byte 0; nv A 1; nv B 2; nv C 3; nv D 4; } > "$P/too_many"
{ byte 0; byte 0; byte 4; byte 2; cgi_env; long_value; } > "$P/alloc_failure"
{ byte 0; byte 0; byte 6; byte 0; nv NAME value; byte 5; } > "$P/truncated"
{ byte 0; byte 0; byte 0; byte 0; probe; } > "$P/get_values"

cp "$P"/* "$dir/roundtrip/"
