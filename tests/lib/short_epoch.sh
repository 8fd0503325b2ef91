#!/usr/bin/env bash
# tests/lib/short_epoch.sh <example> <binary>: one short training epoch of an example program on a
# small slice of the real data, so that every example's whole path (data loading, decode cache,
# augmentation workers, model, loss, Learner, metrics, result files) runs in seconds. CI runs these
# in stage 1 and again under ASan + UBSan + LeakSanitizer (stage 2), where the full real-data tests
# would take minutes each: every example must run clean under ASan for one short epoch.
#
# Pets examples get a folder of symlinks to the first 5 images of each of the 37 breeds in
# $EMBER_DATA_DIR/oxford-pets-subset (185 images), decoded at 32 px into a cache in the temp folder.
# Exit 77 (skipped) when the data is not there.
set -euo pipefail
example=$1 bin=$2
data=${EMBER_DATA_DIR:-}
skip() { echo "skipped: $1"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EMBER_CACHE_DIR=$tmp/cache   # never leave a cache file behind in ~/.cache

pets_slice() {  # a folder holding the first 5 images of every breed
  local src=$data/oxford-pets-subset/images
  [ -n "$data" ] && [ -d "$src" ] || skip "set EMBER_DATA_DIR to a folder holding oxford-pets-subset"
  mkdir -p "$tmp/pets"
  local breed
  for breed in $(ls "$src" | sed -n 's/_[0-9]*\.jpg$//p' | sort -u); do
    ls "$src" | grep -E "^${breed}_[0-9]+\.jpg$" | sort | sed -n 1,5p | while read -r f; do ln -s "$src/$f" "$tmp/pets/$f"; done
  done
  [ "$(ls "$tmp/pets" | wc -l)" -ge 150 ] || { echo "short_epoch: too few Pets images in $src"; exit 1; }
}

no_temp_files() { if ls "$1"/*.tmp 2>/dev/null; then echo "temp files left behind in $1"; exit 1; fi; }

case $example in
  mnist_l1)
    [ -n "$data" ] && [ -d "$data/mnist" ] || skip "set EMBER_DATA_DIR to a folder holding mnist"
    "$bin" --data "$data/mnist" --epochs 1 --csv "$tmp/h.csv" --out "$tmp/out" | tee "$tmp/log"
    [ "$(tail -n +2 "$tmp/h.csv" | wc -l)" -eq 1 ]
    grep -q "Confusion matrix" "$tmp/log"
    test -s "$tmp/out/confusion_matrix.csv"
    ;;
  pets_hierarchy)
    pets_slice
    "$bin" --data "$tmp/pets" --w 0.5 --runs 1 --epochs 1 --freeze-epochs 1 --bs 32 --size 32 --out "$tmp/out" | tee "$tmp/log"
    [ "$(tail -n +2 "$tmp/out/results.csv" | wc -l)" -eq 1 ]
    no_temp_files "$tmp/out"
    ;;
  hier_resnet)
    pets_slice
    "$bin" --data "$tmp/pets" --epochs 1 --bs 32 --size 32 --few-shot 1 --few-shot-epochs 1 \
      --checkpoint "$tmp/ck.safetensors" --out "$tmp/out" | tee "$tmp/log"
    [ "$(tail -n +2 "$tmp/out/few_shot.csv" | wc -l)" -eq 2 ]
    no_temp_files "$tmp/out"
    ;;
  softmax_vs_sigmoid)
    pets_slice
    [ -d "$data/mnist" ] || skip "set EMBER_DATA_DIR to a folder holding mnist (out-of-domain images)"
    "$bin" --data "$tmp/pets" --epochs 1 --bs 32 --size 32 --ood-count 64 --mnist "$data/mnist" --out "$tmp/out" | tee "$tmp/log"
    [ "$(tail -n +2 "$tmp/out/summary.csv" | wc -l)" -eq 4 ]
    no_temp_files "$tmp/out"
    ;;
  fashion_hierarchy)
    found=""
    for d in "${EMBER_FASHION_MNIST_SYSTEM_DIR:-/usr/share/datasets/fashion-mnist}" "${data:-/nonexistent}/fashion-mnist"; do
      if [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; then found=$d; break; fi
    done
    [ -n "$found" ] || skip "no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    "$bin" --data "$found" --w 0.5 --runs 1 --epochs 1 --limit 2000 --out "$tmp/out" | tee "$tmp/log"
    [ "$(tail -n +2 "$tmp/out/results.csv" | wc -l)" -eq 1 ]
    no_temp_files "$tmp/out"
    ;;
  *) echo "short_epoch: unknown example '$example'" >&2; exit 2 ;;
esac
grep -q "epoch.*train_loss.*valid_loss" "$tmp/log"   # fastai's results table was printed
echo "$example: one short epoch ok"
