#!/usr/bin/env bash
# The text-to-image chain on real data through an image-class folder, unchanged but for its data:
# scikit-learn's 1,797 handwritten digits (bench/digits_folder.py), captioned "a handwritten seven".
# CLIP (zero-shot accuracy on the test digits), a ConvNet judge trained on the same folder, then
# the prior and decoder with their faithfulness: the share of test captions whose reranked drawing
# the judge reads as the digit the caption names. Stage by stage, timed.
#
#   pip install -r bench/requirements.txt
#   bash bench/text_to_image_digits.sh [OUT=runs/t2i_digits]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/t2i_digits}
PYTHON=${PYTHON:-.venv/bin/python}
source bench/timed_stage.sh
FOLDER=(--config.data.source=image_folder --config.data.path="$OUT/digits" --config.data.image_size='(16, 16)')

mkdir -p "$OUT"
stage digits_folder $PYTHON bench/digits_folder.py "$OUT/digits"
stage clip $PYTHON -m train --config configs/shapes_clip.py --workdir "$OUT/clip" "${FOLDER[@]}" \
  --config.data.caption_template='a handwritten {}' --config.data.unseen='()' \
  --config.zero_shot='{"label": ("a handwritten {}",)}' --config.batch_size=128 --config.num_steps=600 \
  --config.eval_every=200 --config.checkpoint_every=200
stage judge $PYTHON -m train --config configs/shapes_cnn.py --workdir "$OUT/judge" "${FOLDER[@]}"
stage text_to_image $PYTHON -m train --config configs/shapes_text_to_image.py --workdir "$OUT/t2i" \
  --config.clip_workdir="$OUT/clip" --config.faithfulness.classifier_workdirs="{'label': '$OUT/judge'}" \
  --config.num_steps=1500 --config.eval_every=500 --config.checkpoint_every=500
stage generate $PYTHON -m train.generate --workdir "$OUT/t2i" --num 8 --out "$OUT/grid.png" \
  "a handwritten zero" "a handwritten three" "a handwritten five" "a handwritten seven" "a handwritten eight"
