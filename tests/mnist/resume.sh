#!/usr/bin/env bash
# tests/mnist/resume.sh BINARY: Ctrl-C during examples/mnist_l1 training writes a checkpoint and exits
# 130; --resume from it finishes the same training bit for bit (the results table equals an
# uninterrupted run's, time column aside). Needs $EMBER_DATA_DIR/mnist (skipped, 77, without it).
set -uo pipefail
bin=$1
data=${EMBER_DATA_DIR:-}/mnist
if [ -z "${EMBER_DATA_DIR:-}" ] || [ ! -d "$data" ]; then echo "skipped: needs \$EMBER_DATA_DIR/mnist"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$bin" --data "$data" --epochs 3 --csv straight.csv --out o1 > straight.log 2>&1 || { cat straight.log; exit 1; }
"$bin" --data "$data" --epochs 3 --checkpoint ck.safetensors --csv part.csv --out o2 > part.log 2>&1 &
pid=$!
for _ in $(seq 1 2400); do [ -f ck.safetensors ] && break; sleep 0.05; done  # the first epoch is done
sleep 0.5
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ $rc -eq 130 ]; then
  grep -q "checkpoint was written to 'ck.safetensors'" part.log || { echo "interrupt message lacks the checkpoint"; cat part.log; exit 1; }
  echo "interrupted: $(grep -o 'interrupted by SIGINT at epoch [0-9]*, batch [0-9]*' part.log)"
elif [ $rc -ne 0 ]; then
  echo "interrupted run exited $rc"; cat part.log; exit 1
else
  echo "the run finished before the signal; resuming from its last checkpoint"
fi
"$bin" --data "$data" --epochs 3 --resume ck.safetensors --csv resumed.csv --out o3 > resumed.log 2>&1 || { cat resumed.log; exit 1; }
cut -d, -f1-4 straight.csv > a.csv
cut -d, -f1-4 resumed.csv > b.csv
diff a.csv b.csv || { echo "resumed training differs from the straight run"; exit 1; }
echo "resume ok: identical results table"
# Another batch size: the checkpoint is refused, naming both settings, rather than mixed in.
if "$bin" --data "$data" --epochs 3 --bs 32 --resume ck.safetensors --out o4 > other.log 2>&1; then
  echo "a checkpoint of --bs 64 was resumed with --bs 32"; exit 1
fi
grep -q "resuming would mix two runs" other.log || { echo "no clear refusal:"; cat other.log; exit 1; }
grep -q -- "--bs=32" other.log || { echo "the refusal does not name the settings:"; cat other.log; exit 1; }
echo "resume with other settings refused"
