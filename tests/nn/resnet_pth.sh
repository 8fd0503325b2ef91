#!/usr/bin/env bash
# tests/nn/resnet_pth.sh TEST_NN EMBER_CONVERT: torchvision's ResNet-18 state_dict written by torch.save
# itself (zip and legacy formats; tests/nn/make_resnet_fixture.py --pth), converted to safetensors by
# ember-convert, loaded by Ember and checked against torchvision's logits (ResNetFiles.*).
# Needs Debian's python3-torch and python3-torchvision; skipped (exit 77) without them.
set -euo pipefail
test_nn=$1 convert=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
  echo "skipped: needs /usr/bin/python3 with torch and torchvision (apt install python3-torchvision)"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$root/tests/nn/make_resnet_fixture.py" --pth "$tmp"
"$convert" "$tmp/resnet18_formula_zip.pth" "$tmp/resnet18_formula.safetensors"
"$convert" --list "$tmp/resnet18_formula_legacy.pth" | tail -2
EMBER_RESNET_PTH_DIR="$tmp" "$test_nn" --gtest_filter='ResNetFiles.*'
