#!/usr/bin/env bash
# tests/pets/real_data.sh BINARY: the Pets sweep of examples/pets_hierarchy on the 940-image
# subset in $EMBER_DATA_DIR/oxford-pets-subset, w = 0, 0.5, 1, one run each, fine_tune(1), ResNet-18
# from random init (skipped, exit 77, without the data). Checks the results table, results.csv
# in the blog's layout, the summary, and that a second start resumes without training again.
set -euo pipefail
bin=$1
dir=${EMBER_DATA_DIR:-}/oxford-pets-subset
if [ -z "${EMBER_DATA_DIR:-}" ] || [ ! -d "$dir" ]; then
  echo "skipped: set EMBER_DATA_DIR to a folder holding oxford-pets-subset"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
"$bin" --data "$dir" --w 0,0.5,1 --runs 1 --epochs 1 --out "$tmp/out" | tee "$tmp/log"
echo "sweep took $((SECONDS - start)) s"
grep -q "epoch.*train_loss.*valid_loss.*accuracy_breed.*accuracy_species" "$tmp/log"  # fastai's table
csv="$tmp/out/results.csv"
head -1 "$csv" | grep -qx "epoch,train_loss,valid_loss,accuracy_breed,accuracy_species,w,id,severity,hd@5"
[ "$(tail -n +2 "$csv" | wc -l)" -eq 3 ] || { echo "want 3 rows in results.csv"; cat "$csv"; exit 1; }
# Every number finite; accuracies in [0, 1]; ids 1..3 with w 0, 0.5, 1.
awk -F, 'NR > 1 { for (i = 2; i <= 9; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "bad field " i ": " $0; exit 1 }
                  if ($4 < 0 || $4 > 1 || $5 < 0 || $5 > 1) { print "accuracy out of range: " $0; exit 1 } }' "$csv"
cut -d, -f6,7 "$csv" | tail -n +2 | tr '\n' ' ' | grep -q "^0,1 0.5,2 1,3 $"
[ -f "$tmp/out/summary.csv" ] && [ -f "$tmp/out/accuracy_vs_w.csv" ]
# Started again: nothing to train, the same rows.
cp "$csv" "$tmp/before.csv"
"$bin" --data "$dir" --w 0,0.5,1 --runs 1 --epochs 1 --out "$tmp/out" | tee "$tmp/log2"
grep -q "0 runs trained.*3 already done" "$tmp/log2"
cmp "$csv" "$tmp/before.csv"
echo "pets sweep ok"
