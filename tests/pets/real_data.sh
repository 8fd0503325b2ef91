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
# Every number finite; accuracies in [0, 1]; w 0, 0.5, 1, each with its own run id (a hash of its
# configuration).
awk -F, 'NR > 1 { for (i = 2; i <= 9; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "bad field " i ": " $0; exit 1 }
                  if ($4 < 0 || $4 > 1 || $5 < 0 || $5 > 1) { print "accuracy out of range: " $0; exit 1 } }' "$csv"
cut -d, -f6 "$csv" | tail -n +2 | tr '\n' ' ' | grep -q "^0 0.5 1 $"
[ "$(cut -d, -f7 "$csv" | tail -n +2 | sort -u | grep -c '^[1-9][0-9]*$')" -eq 3 ] || { echo "want 3 run ids"; cat "$csv"; exit 1; }
# Another grid into the same folder: only w = 0.25 is new; the earlier rows stay.
"$bin" --data "$dir" --w 0,0.25 --runs 1 --epochs 1 --out "$tmp/out" > "$tmp/log3"
[ "$(tail -n +2 "$csv" | wc -l)" -eq 4 ] || { echo "want 4 rows after adding w = 0.25"; cat "$csv"; exit 1; }
grep -q "^0.25,1," "$tmp/out/summary.csv" || { echo "summary lacks w = 0.25"; cat "$tmp/out/summary.csv"; exit 1; }
! grep -q "^0.5," "$tmp/out/summary.csv" || { echo "summary of --w 0,0.25 has w = 0.5"; exit 1; }
[ -f "$tmp/out/summary.csv" ] && [ -f "$tmp/out/accuracy_vs_w.csv" ]
# The first grid again: nothing to train, the same rows.
cp "$csv" "$tmp/before.csv"
"$bin" --data "$dir" --w 0,0.5,1 --runs 1 --epochs 1 --out "$tmp/out" | tee "$tmp/log2"
grep -q "0 runs trained.*3 already done" "$tmp/log2"
cmp "$csv" "$tmp/before.csv"
echo "pets sweep ok"
