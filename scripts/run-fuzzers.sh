#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for a bounded time
# over its seed corpus. Usage: scripts/run-fuzzers.sh BUILD_DIR SECONDS
set -eu
build=$1
seconds=$2
src=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang >/dev/null; then
  echo "fuzz: SKIPPED (clang is not installed: apt-get install clang)"
  exit 0
fi
CC=clang cmake -S "$src" -B "$build" -DFK_FUZZ=ON -DFK_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
for target in "$build"/fuzz/fuzz_*; do
  case $target in *.*) continue ;; esac
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus="$src/fuzz/corpus/${name#fuzz_}"
  [ -d "$corpus" ] || corpus=""
  work="$build/fuzz/work-$name"
  mkdir -p "$work"
  # A target's own dictionary when it has one, else the protocol's.
  dict="$src/fuzz/${name#fuzz_}.dict"
  [ -f "$dict" ] || dict="$src/fuzz/fastcgi.dict"
  echo "fuzz: $name for ${seconds}s"
  "$target" -max_total_time="$seconds" -print_final_stats=0 \
    -dict="$dict" "$work" ${corpus:+"$corpus"} 2>"$build/fuzz/$name.log" || {
    tail -n 40 "$build/fuzz/$name.log"
    echo "fuzz: $name FAILED (see $build/fuzz/$name.log)"
    exit 1
  }
done
echo "fuzz: ok"
