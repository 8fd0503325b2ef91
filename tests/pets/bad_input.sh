#!/usr/bin/env bash
# tests/pets/bad_input.sh BINARY: bad input to examples/pets_hierarchy ends with a non-zero exit
# and a message naming the problem (flag, folder or file), never a crash.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

source "$(dirname "$0")/../lib/expect_fail.sh"
expect_fail() { expect_fail_in "$bin" "$@"; }  # expect_fail <what> <message substring> <args...>

expect_fail "w out of range" "outside [0, 1]" --w 0,1.5 --data "$tmp"
expect_fail "w not a number" "'x' in '0,x' is not a number" --w 0,x --data "$tmp"
expect_fail "junk after the w grid" "start:stop:step (three numbers)" --w 0:1:0.5:junk --data "$tmp"
expect_fail "NaN base lr" "--base-lr" --base-lr nan --data "$tmp"
expect_fail "bad w range" "start:stop:step" --w 1:0:0.1 --data "$tmp"
expect_fail "bad flag value" "--runs" --runs 0
expect_fail "unknown flag" "--frobnicate" --frobnicate
expect_fail "missing weights file" "--weights" --weights "$tmp/none.pth"
expect_fail "missing folder" "$tmp/nope" --data "$tmp/nope"
mkdir -p "$tmp/empty"
expect_fail "folder without images" "$tmp/empty" --data "$tmp/empty"
expect_fail "bad device" "tpu" --device tpu --data "$tmp/empty"

# A results file of something else in --out is refused, not overwritten.
if [ -n "${EMBER_DATA_DIR:-}" ] && [ -d "$EMBER_DATA_DIR/oxford-pets-subset" ]; then
  mkdir -p "$tmp/out"
  echo "a,b,c" > "$tmp/out/results.csv"
  expect_fail "foreign results.csv" "not a results file" --data "$EMBER_DATA_DIR/oxford-pets-subset" --out "$tmp/out" --w 1 --runs 1
  grep -qx "a,b,c" "$tmp/out/results.csv" || { echo "FAIL foreign results.csv was changed"; fails=$((fails + 1)); }
  # A corrupt weights file names the file.
  head -c 100 /dev/urandom > "$tmp/bad.pth"
  expect_fail "corrupt weights" "$tmp/bad.pth" --data "$EMBER_DATA_DIR/oxford-pets-subset" --out "$tmp/out2" --weights "$tmp/bad.pth" --w 1 --runs 1
fi

[ $fails -eq 0 ] && echo "all bad inputs rejected cleanly" || echo "$fails failures"
exit $fails
