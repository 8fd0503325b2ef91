#!/usr/bin/env bash
# tests/fashion/bad_input.sh BINARY: bad input to examples/fashion_hierarchy ends with a non-zero
# exit and a message naming the problem (flag, folder or file), never a crash. Needs no data.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

source "$(dirname "$0")/../lib/expect_fail.sh"
expect_fail() { expect_fail_in "$bin" "$@"; }  # expect_fail <what> <message substring> <args...>

expect_fail "w out of range" "outside [0, 1]" --w 0,1.5 --data "$tmp"
expect_fail "w not a number" "'x' in '0,x' is not a number" --w 0,x --data "$tmp"
expect_fail "bad w range" "start:stop:step" --w 1:0:0.1 --data "$tmp"
expect_fail "bad flag value" "--runs" --runs 0
expect_fail "limit too large" "--limit" --limit 70000
expect_fail "unknown flag" "--frobnicate" --frobnicate
expect_fail "bad device" "tpu" --device tpu --data "$tmp"
expect_fail "missing folder" "$tmp/nope" --data "$tmp/nope"
mkdir -p "$tmp/empty"
expect_fail "folder without IDX files" "no Fashion-MNIST IDX files in $tmp/empty" --data "$tmp/empty"
# No data anywhere: the message names every place looked at and how to install the package.
EMBER_FASHION_MNIST_SYSTEM_DIR="$tmp/empty" EMBER_DATA_DIR="$tmp/empty" \
  expect_fail "no data anywhere" "apt-get install dataset-fashion-mnist" --out "$tmp/out0"
EMBER_FASHION_MNIST_SYSTEM_DIR="$tmp/empty" EMBER_DATA_DIR="$tmp/empty" \
  expect_fail "no data: places named" "$tmp/empty/fashion-mnist" --out "$tmp/out0"
# Half the files: the missing one is named.
mkdir -p "$tmp/half"
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x1c' > "$tmp/half/train-images-idx3-ubyte"
head -c 784 /dev/zero >> "$tmp/half/train-images-idx3-ubyte"
expect_fail "missing labels file" "train-labels-idx1-ubyte" --data "$tmp/half"
# A truncated images file is refused with its name.
mkdir -p "$tmp/trunc"
head -c 100 "$tmp/half/train-images-idx3-ubyte" > "$tmp/trunc/train-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' > "$tmp/trunc/train-labels-idx1-ubyte"
expect_fail "truncated IDX" "$tmp/trunc/train-" --data "$tmp/trunc"

# A results file of something else in --out is refused, not overwritten (needs the real data).
real=""
for d in "${EMBER_FASHION_MNIST_SYSTEM_DIR:-/usr/share/datasets/fashion-mnist}" "${EMBER_DATA_DIR:-/nonexistent}/fashion-mnist"; do
  [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ] && { real=$d; break; }
done
if [ -n "$real" ]; then
  mkdir -p "$tmp/out"
  echo "a,b,c" > "$tmp/out/results.csv"
  expect_fail "foreign results.csv" "not a results file" --data "$real" --out "$tmp/out" --w 1 --runs 1 --limit 600
  grep -qx "a,b,c" "$tmp/out/results.csv" || { echo "FAIL foreign results.csv was changed"; fails=$((fails + 1)); }
  touch "$tmp/afile"
  expect_fail "--out is a file" "is not a folder" --data "$real" --out "$tmp/afile" --limit 600
fi

[ $fails -eq 0 ] && echo "all bad inputs rejected cleanly" || echo "$fails failures"
exit $fails
