#!/usr/bin/env bash
# The two "deepfake" experiments end to end on the offline shapes data (train/deepfake.py):
# a shapes classifier, an autoencoder trained on four of the eight shapes, the circle/square swap
# autoencoder, then both measurements, each a README.md table and a PNG under OUT.
#
#   bash bench/deepfake.sh [OUT=runs/deepfake] [extra --config overrides for the autoencoders...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/deepfake}
shift || true
PYTHON=${PYTHON:-.venv/bin/python}

$PYTHON -m train --config configs/shapes_cnn.py --workdir "$OUT/classifier"
$PYTHON -m train --config configs/autoencoder.py --workdir "$OUT/ae_4_shapes" \
  --config.data.keep.label='(0, 1, 2, 3)' "$@"
$PYTHON -m train --config configs/shapes_swap.py --workdir "$OUT/swap" "$@"
$PYTHON -m train.deepfake reconstruct --workdir "$OUT/ae_4_shapes" --classifier "$OUT/classifier" \
  --out "$OUT/reconstruct_report"
$PYTHON -m train.deepfake swap --workdir "$OUT/swap" --classifier "$OUT/classifier" --out "$OUT/swap_report"
for run in classifier ae_4_shapes swap; do
  $PYTHON -m train.visualize --workdir "$OUT/$run" --out "$OUT/$run/figures"
done
