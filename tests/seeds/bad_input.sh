#!/usr/bin/env bash
# tests/seeds/bad_input.sh HIER_RESNET SOFTMAX_VS_SIGMOID: bad input to the seed-001 and seed-004
# examples ends with a clean non-zero exit and a message naming the flag, folder or file.
set -u
hier=$1
svs=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

source "$(dirname "$0")/../lib/expect_fail.sh"
expect_fail() { expect_fail_in "$@"; }  # expect_fail <binary> <what> <message substring> <args...>

mkdir -p "$tmp/empty"
for bin in "$hier" "$svs"; do
  expect_fail "$bin" "unknown flag" "--frobnicate" --frobnicate
  expect_fail "$bin" "bad epochs" "--epochs" --epochs 0
  expect_fail "$bin" "epochs not a number" "--epochs" --epochs x
  expect_fail "$bin" "negative lr" "--lr" --lr -1
  expect_fail "$bin" "missing weights file" "--weights" --weights "$tmp/none.pth"
  expect_fail "$bin" "weights and no-pretrained" "--no-pretrained" --weights "$bin" --no-pretrained
  expect_fail "$bin" "missing folder" "$tmp/nope" --data "$tmp/nope"
  expect_fail "$bin" "folder without images" "$tmp/empty" --data "$tmp/empty"
  expect_fail "$bin" "bad device" "tpu" --device tpu --data "$tmp/empty"
  touch "$tmp/file"
  expect_fail "$bin" "--out is a file" "--out" --out "$tmp/file" --data "$tmp/empty"
done
expect_fail "$hier" "few-shot not a number" "'x' in '1,x' is not an integer" --few-shot 1,x --data "$tmp/empty"
expect_fail "$hier" "few-shot zero" "--few-shot: 0 is outside" --few-shot 0,5 --data "$tmp/empty"
expect_fail "$hier" "negative kl weight" "--kl-weight" --kl-weight -1
expect_fail "$svs" "unknown ood source" "--ood" --ood cifar
expect_fail "$svs" "threshold out of range" "--threshold" --threshold 1.5
expect_fail "$svs" "bad bins" "--bins" --bins 0

# With the Pets subset: errors that need the data (unknown breed, too many shots, MNIST missing).
if [ -n "${EMBER_DATA_DIR:-}" ] && [ -d "$EMBER_DATA_DIR/oxford-pets-subset" ]; then
  pets=$EMBER_DATA_DIR/oxford-pets-subset
  expect_fail "$hier" "unknown holdout breed" "--holdout: 'unicorn'" --data "$pets" --few-shot 1 --holdout unicorn --out "$tmp/o1"
  expect_fail "$hier" "K above the breed's images" "--few-shot: K = 5000" --data "$pets" --few-shot 5000 --out "$tmp/o2"
  expect_fail "$hier" "bs above the training set" "--bs 4000" --data "$pets" --bs 4000 --out "$tmp/o3"
  expect_fail "$svs" "MNIST folder without MNIST" "$tmp/empty" --data "$pets" --mnist "$tmp/empty" --out "$tmp/o4"
  head -c 100 /dev/urandom > "$tmp/bad.pth"
  expect_fail "$hier" "corrupt weights" "$tmp/bad.pth" --data "$pets" --weights "$tmp/bad.pth" --out "$tmp/o5"
  expect_fail "$svs" "corrupt weights" "$tmp/bad.pth" --data "$pets" --weights "$tmp/bad.pth" --ood noise --out "$tmp/o6"
fi

[ $fails -eq 0 ] && echo "all bad inputs rejected cleanly" || echo "$fails failures"
exit $fails
