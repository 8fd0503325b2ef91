#!/usr/bin/env bash
# tests/mnist/real_data.sh BINARY: trains examples/mnist_l1 for 2 epochs on the real MNIST in
# $EMBER_DATA_DIR/mnist and checks the results table: an accuracy floor and the CSV columns.
# Exits 77 (ctest: skipped) when EMBER_DATA_DIR is unset or holds no MNIST.
set -euo pipefail
bin=$1
if [ -z "${EMBER_DATA_DIR:-}" ] || [ ! -d "$EMBER_DATA_DIR/mnist" ]; then
  echo "skipped: set EMBER_DATA_DIR (e.g. to ../shared/data, absolute) to run on the real MNIST"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --data "$EMBER_DATA_DIR/mnist" --epochs 2 --seed 1 --csv "$tmp/h.csv" --out "$tmp/plots" | tee "$tmp/log"
head -1 "$tmp/h.csv" | grep -qx "epoch,train_loss,valid_loss,batch_accuracy,time"
acc=$(tail -1 "$tmp/h.csv" | cut -d, -f4)
echo "final batch_accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.70) }' || { echo "accuracy $acc below the floor 0.70"; exit 1; }
grep -q "Confusion matrix" "$tmp/log"
test -s "$tmp/plots/confusion_matrix.csv"
