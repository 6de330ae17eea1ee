#!/usr/bin/env bash
# Packaging: what "make install" puts on a system is usable on its own.
#
#   - cmake --install of the built tree into a DESTDIR, at the configured
#     prefix (/usr/local unless configured otherwise);
#   - the fcgikit command is in bin, fcgikit-cgi and fcgikitd in sbin,
#     each with its manual page (fcgikitd.conf(5) too), and runs from
#     there;
#   - every installed header compiles on its own as C11 (-pedantic) and
#     as C++ when a C++ compiler is there;
#   - examples/hello.c builds against the installed copy with
#     "pkg-config --cflags --libs fcgikit" (PKG_CONFIG_SYSROOT_DIR = the
#     DESTDIR), links to libfcgikit.so.0, and serves on a Unix socket with
#     LD_LIBRARY_PATH pointing at the installed library (checked in
#     /proc/PID/maps: not the build tree's copy);
#   - the shared libraries' SONAMEs are libfcgikit.so.0 and
#     libfcgikit-client.so.0, the .so symlinks are there, no RPATH points
#     into the build tree, they export only fk_ names (no fk__ internals):
#     libfcgikit-client exactly the functions fcgikit/client.h declares,
#     libfcgikit exactly those the other headers declare;
#   - hello.c links statically against libfcgikit.a (with the pkg-config
#     --static libraries) and serves without the shared library;
#   - examples/fetch.c builds with "pkg-config fcgikit-client", against
#     the shared and the static libraries, and fetches hello's answer;
#   - an install to another prefix (cmake --install --prefix DIR, as
#     "make install PREFIX=DIR" does) gets a fcgikit.pc that points at DIR.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd cmake cmake
require_cmd pkg-config pkg-config
require_cmd readelf binutils
require_cmd nm binutils

cache_var() {
  sed -n "s/^$1:[A-Z]*=//p" "$FK_BUILD/CMakeCache.txt" | head -n1
}
[ -f "$FK_BUILD/CMakeCache.txt" ] || fail "$FK_BUILD is not a CMake build directory"
PREFIX=$(cache_var CMAKE_INSTALL_PREFIX)
CC=$(cache_var CMAKE_C_COMPILER)
[ -n "$CC" ] || CC=cc
CFLAGS=(-std=c11 -Wall -Wextra -Werror)
# A sanitizer build's library needs the sanitizer runtimes in the program.
if [ "$(cache_var FK_SANITIZE)" = ON ]; then
  CFLAGS+=(-fsanitize=address,undefined -fno-sanitize-recover=all)
fi

DEST=$T/dest
DESTDIR=$DEST cmake --install "$FK_BUILD" >"$T/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -n 5 "$T/install.log")"
PC=$(find "$DEST" -name fcgikit.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$PC" ] || fail "no fcgikit.pc installed under $DEST"
PCDIR=$(dirname "$PC")
LIBDIR=$(dirname "$PCDIR")
[ "${LIBDIR#"$DEST$PREFIX"/}" != "$LIBDIR" ] || fail "fcgikit.pc is not under the prefix $PREFIX: $PC"
ok "installed into DESTDIR at prefix $PREFIX (libdir ${LIBDIR#"$DEST"})"

# --- Files ----------------------------------------------------------------------

for lib in libfcgikit libfcgikit-client; do
  for f in $lib.so $lib.so.0 $lib.a; do
    [ -e "$LIBDIR/$f" ] || fail "$LIBDIR/$f is not installed"
  done
  [ "$(readlink "$LIBDIR/$lib.so")" = $lib.so.0 ] ||
    fail "$lib.so links to $(readlink "$LIBDIR/$lib.so"), not $lib.so.0"
done
[ -f "$PCDIR/fcgikit-client.pc" ] || fail "no fcgikit-client.pc beside fcgikit.pc"
REAL_SO=$(readlink -f "$LIBDIR/libfcgikit.so.0")
CLIENT_SO=$(readlink -f "$LIBDIR/libfcgikit-client.so.0")
INCDIR=$DEST$PREFIX/include/fcgikit
for h in "$FK_SOURCE"/include/fcgikit/*.h; do
  cmp -s "$h" "$INCDIR/$(basename "$h")" || fail "header $(basename "$h") is not installed as is"
done
# CMake lists the man pages when it configures (file(GLOB) without
# CONFIGURE_DEPENDS): pages added since are not installed until it runs again,
# which is worth a note, not a failure.
installed_man=0
not_installed=()
for m in "$FK_SOURCE"/man/*.3; do
  [ -e "$m" ] || continue
  if find "$DEST$PREFIX" -path "*/man3/$(basename "$m")" | grep -q .; then
    installed_man=$((installed_man + 1))
  else
    not_installed+=("$(basename "$m")")
  fi
done
if [ "${#not_installed[@]}" -gt 0 ]; then
  [ "$installed_man" -gt 0 ] || fail "no man page is installed (man/*.3: ${not_installed[*]})"
  note "man pages newer than the CMake configure step are not installed: ${not_installed[*]}"
fi
ok "libraries, symlinks, headers and $installed_man man page(s) are installed"

# The programs, where a packager expects them: fcgikit for users, the
# daemons in sbin, each with its page.
for prog in bin/fcgikit:man1/fcgikit.1 sbin/fcgikit-cgi:man8/fcgikit-cgi.8 \
  sbin/fcgikitd:man8/fcgikitd.8 sbin/fcgikitd:man5/fcgikitd.conf.5; do
  exe=${prog%%:*} page=${prog#*:}
  [ -x "$DEST$PREFIX/$exe" ] || fail "$exe is not installed under $PREFIX"
  find "$DEST$PREFIX" -path "*/$page" | grep -q . || fail "$page is not installed"
  LD_LIBRARY_PATH=$LIBDIR "$DEST$PREFIX/$exe" --help >/dev/null ||
    fail "installed $exe --help failed"
done
ok "fcgikit in bin, fcgikit-cgi and fcgikitd in sbin, with their manual pages"

# --- The shared library -----------------------------------------------------------

for so in "$REAL_SO":libfcgikit.so.0 "$CLIENT_SO":libfcgikit-client.so.0; do
  file=${so%%:*} want=${so#*:}
  soname=$(readelf -d "$file" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ "$soname" = "$want" ] || fail "SONAME of $(basename "$file") is '$soname', not $want"
  if readelf -d "$file" | grep -E '\((RPATH|RUNPATH)\)' | grep -qF "$FK_BUILD"; then
    fail "the installed $want keeps an RPATH into the build tree"
  fi
done
readelf -d "$CLIENT_SO" | grep -q 'NEEDED.*\[libfcgikit\.so\.0\]' ||
  fail "libfcgikit-client.so.0 does not name libfcgikit.so.0 as NEEDED"
ok "SONAMEs libfcgikit.so.0 and libfcgikit-client.so.0, no RPATH into the build tree"

exports() {
  nm -D --defined-only "$1" | awk '{print $NF}' | sed 's/@.*//' | sort -u
}
exports "$REAL_SO" >"$T/exported.app"
exports "$CLIENT_SO" >"$T/exported.client"
sort -u "$T/exported.app" "$T/exported.client" >"$T/exported"
grep -v '^fk_[a-z0-9]' "$T/exported" >"$T/foreign" || true
[ -s "$T/foreign" ] && fail "the shared libraries export names outside fk_: $(head -n 10 "$T/foreign" | tr '\n' ' ')"
both=$(comm -12 "$T/exported.app" "$T/exported.client" | tr '\n' ' ')
[ -z "$both" ] || fail "exported by both libraries: $both"

export PKG_CONFIG_PATH=$PCDIR PKG_CONFIG_LIBDIR=$PCDIR PKG_CONFIG_SYSROOT_DIR=$DEST
flags=$(pkg-config --cflags fcgikit) || fail "pkg-config --cflags fcgikit failed"
read -r -a PC_CFLAGS <<<"$flags"
flags=$(pkg-config --libs fcgikit) || fail "pkg-config --libs fcgikit failed"
read -r -a PC_LIBS <<<"$flags"
note "pkg-config --cflags --libs fcgikit: ${PC_CFLAGS[*]} ${PC_LIBS[*]}"

# declared HEADER: the functions HEADER declares (comments stripped by the
# preprocessor), less any static inline ones, which have nothing to export.
declared() {
  echo "#include <fcgikit/$1>" | "$CC" -E -P "${PC_CFLAGS[@]}" -x c - >"$T/headers.i"
  grep -oE '\bfk_[a-z0-9_]+[[:space:]]*\(' "$T/headers.i" | tr -d '( \t' | sort -u >"$T/named"
  grep -E '^[[:space:]]*static' "$T/headers.i" |
    grep -oE '\bfk_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u >"$T/inline" || true
  comm -23 "$T/named" "$T/inline"
}
declared fcgikit.h >"$T/declared"
declared client.h >"$T/declared.all-client"
# client.h includes error.h and protocol.h, whose functions are libfcgikit's.
for h in error.h protocol.h; do declared $h; done | sort -u >"$T/declared.base"
comm -23 "$T/declared.all-client" "$T/declared.base" >"$T/declared.client"
comm -23 "$T/declared" "$T/declared.client" >"$T/declared.app"
[ -s "$T/declared.app" ] && [ -s "$T/declared.client" ] ||
  fail "found no function declarations in the installed headers"
for lib in app client; do
  missing=$(comm -23 "$T/declared.$lib" "$T/exported.$lib" | tr '\n' ' ')
  [ -z "$missing" ] || fail "declared but not exported by the $lib library (not implemented?): $missing"
  extra=$(comm -13 "$T/declared.$lib" "$T/exported.$lib" | tr '\n' ' ')
  [ -z "$extra" ] || fail "exported by the $lib library but declared in none of its headers (internal names must be fk__): $extra"
done
ok "libfcgikit exports exactly the $(wc -l <"$T/declared.app") fk_ functions its headers declare, libfcgikit-client the $(wc -l <"$T/declared.client") of client.h"

# --- Headers stand alone ----------------------------------------------------------

for h in "$INCDIR"/*.h; do
  printf '#include <fcgikit/%s>\n' "$(basename "$h")" >"$T/one.c"
  "$CC" "${CFLAGS[@]}" -pedantic -fsyntax-only "${PC_CFLAGS[@]}" "$T/one.c" 2>"$T/one.log" ||
    fail "<fcgikit/$(basename "$h")> does not compile on its own as C11: $(head -n 5 "$T/one.log")"
  if command -v c++ >/dev/null 2>&1; then
    c++ -Wall -Wextra -Werror -fsyntax-only "${PC_CFLAGS[@]}" -x c++ "$T/one.c" 2>"$T/one.log" ||
      fail "<fcgikit/$(basename "$h")> does not compile as C++: $(head -n 5 "$T/one.log")"
  fi
done
ok "every installed header compiles on its own (C11 -pedantic$(command -v c++ >/dev/null 2>&1 && echo ', C++'))"

# --- hello.c against the installed copy ---------------------------------------

# serve_and_ask NAME PROGRAM [ENV...]: starts PROGRAM on a Unix socket and
# checks it answers "Hello, world!". Leaves its pid in SERVED_PID.
serve_and_ask() {
  local name=$1 program=$2 rc=0
  shift 2
  start_bg "$name" env "$@" "$program" "$T/$name.sock"
  SERVED_PID=$STARTED_PID
  wait_for_socket "$T/$name.sock" "$SERVED_PID"
  if command -v cgi-fcgi >/dev/null 2>&1; then
    timeout 60 env -i REQUEST_METHOD=GET SCRIPT_NAME=/ cgi-fcgi -bind -connect "$T/$name.sock" \
      >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  else
    require_cmd python3 python3
    fcgi_request "$T/$name.sock" 1 "" REQUEST_METHOD=GET SCRIPT_NAME=/ \
      >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  fi
  [ "$rc" = 0 ] || fail "$name: the request failed ($rc): $(head -c 200 "$T/$name.err")"
  printf 'Hello, world!\n' >"$T/hello.expected"
  cgi_content "$T/$name.out" >"$T/$name.content"
  same_bytes "$T/hello.expected" "$T/$name.content" "$name's answer"
}

"$CC" "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$T/hello-shared" "$FK_SOURCE/examples/hello.c" \
  "${PC_LIBS[@]}" 2>"$T/cc.log" || fail "hello.c does not build with pkg-config's flags: $(head -n 5 "$T/cc.log")"
readelf -d "$T/hello-shared" | grep -q 'NEEDED.*\[libfcgikit\.so\.0\]' ||
  fail "hello-shared does not need libfcgikit.so.0"
serve_and_ask hello-shared "$T/hello-shared" "LD_LIBRARY_PATH=$LIBDIR"
grep -qF "$REAL_SO" "/proc/$SERVED_PID/maps" ||
  fail "hello-shared did not load the installed $REAL_SO"
stop_pid "$SERVED_PID" || fail "hello-shared did not exit 0 on SIGTERM"
ok "hello.c built with pkg-config against the installed shared library serves on a Unix socket"

# static_libs MODULE: pkg-config --static's libraries for MODULE into the
# array STATIC_LIBS, our own as the installed .a files (a plain -l would
# find the .so first).
static_libs() {
  local flags l
  flags=$(pkg-config --static --libs-only-l "$1") || fail "pkg-config --static --libs $1 failed"
  STATIC_LIBS=()
  for l in $flags; do
    case $l in
      -lfcgikit*) STATIC_LIBS+=("$LIBDIR/lib${l#-l}.a") ;;
      *) STATIC_LIBS+=("$l") ;;
    esac
  done
}

static_libs fcgikit
"$CC" "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$T/hello-static" "$FK_SOURCE/examples/hello.c" \
  "${STATIC_LIBS[@]}" 2>"$T/cc.log" ||
  fail "hello.c does not link against libfcgikit.a with pkg-config --static's libraries: $(head -n 5 "$T/cc.log")"
readelf -d "$T/hello-static" | grep -q 'NEEDED.*libfcgikit' &&
  fail "hello-static still needs the shared library"
serve_and_ask hello-static "$T/hello-static"
stop_pid "$SERVED_PID" || fail "hello-static did not exit 0 on SIGTERM"
ok "hello.c linked against libfcgikit.a serves on a Unix socket"

# --- A client against the installed copy -------------------------------------------

flags=$(pkg-config --cflags --libs fcgikit-client) || fail "pkg-config --libs fcgikit-client failed"
read -r -a PC_CLIENT <<<"$flags"
note "pkg-config --cflags --libs fcgikit-client: ${PC_CLIENT[*]}"
"$CC" "${CFLAGS[@]}" -o "$T/fetch-shared" "$FK_SOURCE/examples/fetch.c" "${PC_CLIENT[@]}" \
  2>"$T/cc.log" || fail "fetch.c does not build with pkg-config fcgikit-client's flags: $(head -n 5 "$T/cc.log")"
static_libs fcgikit-client
"$CC" "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$T/fetch-static" "$FK_SOURCE/examples/fetch.c" \
  "${STATIC_LIBS[@]}" 2>"$T/cc.log" ||
  fail "fetch.c does not link against libfcgikit-client.a with pkg-config --static's libraries: $(head -n 5 "$T/cc.log")"
readelf -d "$T/fetch-static" | grep -q 'NEEDED.*libfcgikit' && fail "fetch-static still needs a shared fcgikit library"

start_bg hello-fetched env "LD_LIBRARY_PATH=$LIBDIR" "$T/hello-shared" "$T/fetched.sock"
SERVED_PID=$STARTED_PID
wait_for_socket "$T/fetched.sock" "$SERVED_PID"
for kind in shared static; do
  LD_LIBRARY_PATH=$LIBDIR timeout 60 "$T/fetch-$kind" "$T/fetched.sock" /hello >"$T/fetch.out" 2>"$T/fetch.err" ||
    fail "fetch-$kind failed: $(head -c 300 "$T/fetch.err")"
  cgi_content "$T/fetch.out" >"$T/fetch.content"
  same_bytes "$T/hello.expected" "$T/fetch.content" "fetch-$kind's copy of hello's answer"
done
# The shared one maps the installed client library, and through it the
# installed libfcgikit.
LD_LIBRARY_PATH=$LIBDIR ldd "$T/fetch-shared" >"$T/fetch.ldd" 2>&1 || true
grep -qF "$CLIENT_SO" "$T/fetch.ldd" || grep -qF "$LIBDIR/libfcgikit-client.so.0" "$T/fetch.ldd" ||
  fail "fetch-shared does not load the installed libfcgikit-client: $(cat "$T/fetch.ldd")"
rc=0
LD_LIBRARY_PATH=$LIBDIR "$T/fetch-shared" "$T/none.sock" >/dev/null 2>"$T/fetch.err" || rc=$?
[ "$rc" = 1 ] || fail "fetch of a missing socket exited $rc, not 1"
grep -q 'No such file' "$T/fetch.err" || fail "fetch of a missing socket said: $(cat "$T/fetch.err")"
stop_pid "$SERVED_PID" || fail "hello-shared did not exit 0 on SIGTERM"
ok "fetch.c built with pkg-config fcgikit-client, shared and static, fetches hello's answer"
no_sanitizer_reports

# --- Installing to another prefix -------------------------------------------------

# "make install PREFIX=DIR" after a build configured for /usr/local runs
# cmake --install --prefix DIR; the .pc must then describe DIR.
OTHER=$T/other
cmake --install "$FK_BUILD" --prefix "$OTHER" >"$T/install-other.log" 2>&1 ||
  fail "cmake --install --prefix failed: $(tail -n 5 "$T/install-other.log")"
PC2=$(find "$OTHER" -name fcgikit.pc | head -n1)
[ -n "$PC2" ] || fail "no fcgikit.pc under $OTHER"
includedir=$(PKG_CONFIG_PATH=$(dirname "$PC2") PKG_CONFIG_LIBDIR=$(dirname "$PC2") \
  PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=includedir fcgikit)
[ "$includedir" = "$OTHER/include" ] ||
  fail "installed with --prefix $OTHER, fcgikit.pc still says includedir=$includedir (the prefix is fixed when CMake configures, so 'make install PREFIX=DIR' after 'make' installs a .pc pointing elsewhere)"
ok "an install to another prefix gets a fcgikit.pc pointing there"
