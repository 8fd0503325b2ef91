#!/usr/bin/env bash
# tests/seeds/real_data_hier.sh BINARY: examples/hier_resnet on the 940-image Pets subset in
# $EMBER_DATA_DIR/oxford-pets-subset: 1 epoch of the heads, then few-shot K = 1, 5 with 1 epoch
# each (random-init ResNet-18; skipped, exit 77, without the data). Checks the printed table and
# the two CSV files.
set -euo pipefail
bin=$1
dir=${EMBER_DATA_DIR:-}/oxford-pets-subset
if [ -z "${EMBER_DATA_DIR:-}" ] || [ ! -d "$dir" ]; then
  echo "skipped: set EMBER_DATA_DIR to a folder holding oxford-pets-subset"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
"$bin" --data "$dir" --epochs 1 --few-shot 1,5 --few-shot-epochs 1 --out "$tmp/out" | tee "$tmp/log"
echo "took $((SECONDS - start)) s"
grep -q "epoch.*train_loss.*valid_loss.*accuracy_breed.*accuracy_species" "$tmp/log"
grep -q "^validation: accuracy_breed" "$tmp/log"
head -1 "$tmp/out/history.csv" | grep -qx "epoch,train_loss,valid_loss,accuracy_breed,accuracy_species,accuracy_species_from_breed"
[ "$(tail -n +2 "$tmp/out/history.csv" | wc -l)" -eq 1 ]
csv=$tmp/out/few_shot.csv
head -1 "$csv" | grep -qx "k,new_breed_accuracy,old_breeds_accuracy,accuracy_breed,accuracy_species,accuracy_species_from_breed,n_new_valid"
[ "$(cut -d, -f1 "$csv" | tail -n +2 | tr '\n' ' ')" = "0 1 5 " ] || { echo "want K = 0, 1, 5"; cat "$csv"; exit 1; }
# Accuracies in [0, 1], at least one validation image of the new breed.
awk -F, 'NR > 1 { for (i = 2; i <= 6; i++) if ($i !~ /^[0-9.e+-]+$/ || $i < 0 || $i > 1) { print "bad field " i ": " $0; exit 1 }
                  if ($7 < 1) { print "no new-breed validation image: " $0; exit 1 } }' "$csv"
ls "$tmp/out"/*.tmp 2>/dev/null && { echo "temp files left behind"; exit 1; }
echo "hier_resnet ok"
