#!/bin/sh
# Lints the manual pages with mandoc; checks that every link page (.so)
# points at a page that exists. Usage: scripts/lint-man.sh [MAN_DIR]
set -eu
dir=${1:-man}
if ! command -v mandoc >/dev/null; then
  echo "lint-man: SKIPPED (mandoc is not installed: apt-get install mandoc)"
  exit 0
fi
pages=$(grep -L '^\.so ' "$dir"/*.[0-9])
out=$(mandoc -Tlint -W warning $pages 2>&1 || true)
if [ -n "$out" ]; then
  echo "$out"
  echo "lint-man: FAILED"
  exit 1
fi
for link in $(grep -l '^\.so ' "$dir"/*.[0-9]); do
  target=$(sed -n 's/^\.so man[0-9]\///p' "$link")
  if [ ! -f "$dir/$target" ]; then
    echo "lint-man: $link points at $target, which does not exist"
    exit 1
  fi
done
echo "lint-man: ok ($(echo $pages | wc -w) pages)"
