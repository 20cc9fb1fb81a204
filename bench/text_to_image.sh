#!/usr/bin/env bash
# Text to image end to end on the offline shapes data, timed stage by stage: the caption
# autoencoder, CLIP started from its encoder, the four attribute classifiers that judge the drawings
# (shape, colour, size, position; real images only), the prior and decoder with their final
# faithfulness evaluation, and a grid of drawings. Every stage finds the one before by its workdir.
#
#   bash bench/text_to_image.sh [OUT=runs/t2i]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/t2i}
PYTHON=${PYTHON:-.venv/bin/python}
source bench/timed_stage.sh
mkdir -p "$OUT"

stage caption_autoencoder $PYTHON -m train --config configs/shapes_caption_autoencoder.py --workdir "$OUT/caption_ae"
stage clip $PYTHON -m train --config configs/shapes_clip.py --workdir "$OUT/clip" \
  --config.model.text_init="$OUT/caption_ae"
stage classifier_label $PYTHON -m train --config configs/shapes_cnn.py --workdir "$OUT/judge_label"
stage classifier_color $PYTHON -m train --config configs/shapes_cnn.py --workdir "$OUT/judge_color" \
  --config.data.label_key=color
# Size and position are thirds of continuous ranges: reading them near a boundary takes a judge with
# two convolutions per stage, trained longer (bench/README_clip.md).
for attribute in size position; do
  stage "classifier_$attribute" $PYTHON -m train --config configs/shapes_cnn.py --workdir "$OUT/judge_$attribute" \
    --config.data.label_key=$attribute --config.model.convs_per_stage=2 --config.num_steps=2000
done
stage text_to_image $PYTHON -m train --config configs/shapes_text_to_image.py --workdir "$OUT/t2i" \
  --config.clip_workdir="$OUT/clip" \
  --config.faithfulness.classifier_workdirs.label="$OUT/judge_label" \
  --config.faithfulness.classifier_workdirs.color="$OUT/judge_color" \
  --config.faithfulness.classifier_workdirs.size="$OUT/judge_size" \
  --config.faithfulness.classifier_workdirs.position="$OUT/judge_position"
stage generate $PYTHON -m train.generate --workdir "$OUT/t2i" --num 8 --out "$OUT/grid.png" \
  "a large green triangle in the bottom right" "a small red circle in the top left" \
  "a medium blue star in the center" "a large yellow heart on the left" "a small white cross at the top"
