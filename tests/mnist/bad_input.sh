#!/usr/bin/env bash
# tests/mnist/bad_input.sh BINARY: every kind of bad input to examples/mnist_l1 ends with a
# non-zero exit and a message naming the problem (and the file or flag), never a crash.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

source "$(dirname "$0")/../lib/expect_fail.sh"
expect_fail() { expect_fail_in "$bin" "$@"; }  # expect_fail <what> <message substring> <args...>

# IDX writers: images (magic 0x803) and labels (magic 0x801), N items.
idx_images() { printf '\x00\x00\x08\x03'; printf "\\x$(printf %02x $(($1>>24&255)))\\x$(printf %02x $(($1>>16&255)))\\x$(printf %02x $(($1>>8&255)))\\x$(printf %02x $(($1&255)))"; printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c $(($1 * 784)) /dev/zero; }
idx_labels() { printf '\x00\x00\x08\x01'; printf "\\x$(printf %02x $(($1>>24&255)))\\x$(printf %02x $(($1>>16&255)))\\x$(printf %02x $(($1>>8&255)))\\x$(printf %02x $(($1&255)))"; head -c "$1" /dev/zero; }

expect_fail "bad flag value" "--epochs" --epochs 0
expect_fail "non-numeric flag" "--bs" --bs abc
expect_fail "NaN learning rate" "--lr" --lr nan
expect_fail "infinite learning rate" "--lr" --lr inf
expect_fail "unknown flag" "--frobnicate" --frobnicate
expect_fail "bad device" "tpu" --device tpu --data "$tmp"
expect_fail "missing folder" "$tmp/nope" --data "$tmp/nope"

mkdir -p "$tmp/trunc"
idx_images 10 | head -c 2000 > "$tmp/trunc/train-images-idx3-ubyte"
idx_labels 10 > "$tmp/trunc/train-labels-idx1-ubyte"
expect_fail "truncated IDX" "train-images-idx3-ubyte" --data "$tmp/trunc" --epochs 1

mkdir -p "$tmp/magic"
{ printf '\xde\xad'; idx_images 10 | tail -c +3; } > "$tmp/magic/train-images-idx3-ubyte"
idx_labels 10 > "$tmp/magic/train-labels-idx1-ubyte"
expect_fail "wrong magic" "train-images-idx3-ubyte: bad magic" --data "$tmp/magic" --epochs 1

mkdir -p "$tmp/count"
idx_images 10 > "$tmp/count/train-images-idx3-ubyte"
idx_labels 12 > "$tmp/count/train-labels-idx1-ubyte"
expect_fail "count mismatch" "12" --data "$tmp/count" --epochs 1

mkdir -p "$tmp/png/training/3"
printf '\x89PNG\r\n\x1a\nthis is not a png' > "$tmp/png/training/3/0.png"
expect_fail "corrupt PNG" "0.png" --data "$tmp/png" --epochs 1

mkdir -p "$tmp/size/training/3"
printf '\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x02\x08\x00\x00\x00\x00\x57\xdd\x52\xf8\x00\x00\x00\x0b\x49\x44\x41\x54\x78\x9c\x63\x60\x00\x01\x00\x00\x06\x00\x01\xfe\x8c\x67\xc8\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82' > "$tmp/size/training/3/0.png"
expect_fail "wrong image size" "0.png" --data "$tmp/size" --epochs 1

[ $fails -eq 0 ] && echo "all bad inputs rejected cleanly" || { echo "$fails failure(s)"; exit 1; }
