#!/usr/bin/env bash
# tests/fashion/real_data.sh BINARY: examples/fashion_hierarchy on real Fashion-MNIST, quickly:
# w = 0.5, one run, one epoch on the first 5,000 training images (validated on the 10,000 test images).
# Looks where the program looks (Debian's dataset-fashion-mnist, $EMBER_DATA_DIR/fashion-mnist);
# skipped (exit 77) without the data. Checks the results table, results.csv, the summary, an
# accuracy floor, and that a second start resumes without training again.
set -euo pipefail
bin=$1
found=""
for d in "${EMBER_FASHION_MNIST_SYSTEM_DIR:-/usr/share/datasets/fashion-mnist}" "${EMBER_DATA_DIR:-/nonexistent}/fashion-mnist"; do
  if [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; then found=$d; break; fi
done
if [ -z "$found" ]; then
  echo "skipped: no Fashion-MNIST (apt-get install dataset-fashion-mnist, or put it in \$EMBER_DATA_DIR/fashion-mnist)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(--data "$found" --w 0.5 --runs 1 --epochs 1 --limit 5000 --out "$tmp/out")
start=$SECONDS
"$bin" "${args[@]}" | tee "$tmp/log"
echo "run took $((SECONDS - start)) s"
grep -q "epoch.*train_loss.*valid_loss.*accuracy_fine.*accuracy_coarse" "$tmp/log"  # fastai's table
csv="$tmp/out/results.csv"
head -1 "$csv" | grep -qx "epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,severity,hd@5"
[ "$(tail -n +2 "$csv" | wc -l)" -eq 1 ] || { echo "want 1 row in results.csv"; cat "$csv"; exit 1; }
# Finite numbers; one epoch on 5k images already beats 65% fine and 85% coarse accuracy;
# coarse >= fine (a right class is in the right group); severity in [1, 2]; hd@5 in (0, 2].
awk -F, 'NR > 1 { for (i = 2; i <= 9; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "bad field " i ": " $0; exit 1 }
                  if ($4 < 0.65 || $5 < 0.85 || $5 + 1e-9 < $4 || $4 > 1 || $5 > 1) { print "accuracy: " $0; exit 1 }
                  if ($8 < 1 || $8 > 2 || $9 <= 0 || $9 > 2) { print "severity / hd@5: " $0; exit 1 }
                  if ($6 != 0.5 || $7 !~ /^[1-9][0-9]*$/) { print "w / id: " $0; exit 1 } }' "$csv"
[ -f "$tmp/out/summary.csv" ] && [ -f "$tmp/out/accuracy_vs_w.csv" ]
# Started again: nothing to train, the same rows.
cp "$csv" "$tmp/before.csv"
"$bin" "${args[@]}" | tee "$tmp/log2"
grep -q "0 runs trained.*1 already done" "$tmp/log2"
cmp "$csv" "$tmp/before.csv"
echo "fashion quick run ok"
