#!/usr/bin/env bash
# tests/seeds/real_data_softmax.sh BINARY: examples/softmax_vs_sigmoid on the 940-image Pets subset
# in $EMBER_DATA_DIR/oxford-pets-subset, 1 epoch per model at 32 px, 200 MNIST digits as the
# out-of-domain images (random-init ResNet-18; skipped, exit 77, without the data). Checks the
# summary (4 rows, rates in [0, 1], sigmoid/softmax sanity) and the histogram CSV.
set -euo pipefail
bin=$1
dir=${EMBER_DATA_DIR:-}/oxford-pets-subset
if [ -z "${EMBER_DATA_DIR:-}" ] || [ ! -d "$dir" ] || [ ! -d "$EMBER_DATA_DIR/mnist" ]; then
  echo "skipped: set EMBER_DATA_DIR to a folder holding oxford-pets-subset and mnist"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
"$bin" --data "$dir" --epochs 1 --size 32 --ood-count 200 --bins 10 --out "$tmp/out" | tee "$tmp/log"
echo "took $((SECONDS - start)) s"
grep -q "epoch.*train_loss.*valid_loss.*accuracy" "$tmp/log"
csv=$tmp/out/summary.csv
head -1 "$csv" | grep -qx "model,domain,n,mean_top_prob,no_label_rate,accuracy,macro_f1,macro_f1_abstain"
[ "$(cut -d, -f1,2 "$csv" | tail -n +2 | tr '\n' ' ')" = "softmax,pets_valid softmax,mnist sigmoid,pets_valid sigmoid,mnist " ] \
  || { echo "unexpected rows"; cat "$csv"; exit 1; }
# Rates in [0, 1]; the softmax top probability is at least 1/37; in-domain F1 present.
awk -F, 'NR > 1 { if ($4 < 0 || $4 > 1 || $5 < 0 || $5 > 1) { print "rate out of range: " $0; exit 1 }
                  if ($1 == "softmax" && $4 < 1 / 37 - 1e-6) { print "softmax top below 1/37: " $0; exit 1 }
                  if ($2 == "pets_valid" && ($7 !~ /^[0-9.e+-]+$/ || $7 > 1)) { print "bad macro F1: " $0; exit 1 } }' "$csv"
h=$tmp/out/top_prob_hist.csv
head -1 "$h" | grep -qx "bin_lo,bin_hi,softmax pets_valid,softmax mnist,sigmoid pets_valid,sigmoid mnist"
[ "$(tail -n +2 "$h" | wc -l)" -eq 10 ]
# Each series is a distribution: its fractions add up to 1.
awk -F, 'NR > 1 { for (i = 3; i <= 6; i++) s[i] += $i } END { for (i = 3; i <= 6; i++) if (s[i] < 0.999 || s[i] > 1.001) { print "column " i " sums to " s[i]; exit 1 } }' "$h"
ls "$tmp/out"/*.tmp 2>/dev/null && { echo "temp files left behind"; exit 1; }
echo "softmax_vs_sigmoid ok"
