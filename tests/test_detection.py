"""CenterNet (nets/detection.py): targets, loss, peak decoding, and COCO mAP (train/coco_eval.py)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nets import detection
from train import coco_eval


def test_centernet_heads_are_a_quarter_of_the_image():
  model = detection.CenterNet(num_classes=4, stage_features=(8, 16, 32), convs_per_stage=1, head_features=8)
  images = jnp.zeros((2, 32, 48, 3))
  heads = model.apply(model.init(jax.random.key(0), images), images)
  chex.assert_shape([heads['heatmap'], heads['size'], heads['offset']], [(2, 8, 12, 4), (2, 8, 12, 2), (2, 8, 12, 2)])
  # The heatmap starts at the prior "object here" probability everywhere.
  chex.assert_trees_all_close(jax.nn.sigmoid(heads['heatmap']), jnp.full((2, 8, 12, 4), detection.HEATMAP_PRIOR),
                              atol=0.05)


def test_targets_put_a_unit_peak_at_each_centre_in_its_class_only():
  boxes = jnp.array([[0.1, 0.2, 0.3, 0.5], [0.5, 0.5, 0.9, 0.7], [0.4, 0.4, 0.6, 0.6]])
  labels = jnp.array([2, 5, 1])
  valid = jnp.array([True, True, False])  # the last row is padding
  heatmap, cells, size, offset = detection.targets(boxes, labels, valid, (16, 16), num_classes=8)
  chex.assert_shape(heatmap, (16, 16, 8))
  chex.assert_trees_all_equal(cells[:2], jnp.array([[3, 5], [11, 9]]))  # floor(centre * 16)
  chex.assert_trees_all_close(size[:2], jnp.array([[3.2, 4.8], [6.4, 3.2]]), atol=1e-5)
  chex.assert_trees_all_close(offset[:2], jnp.array([[0.2, 0.6], [0.2, 0.6]]), atol=1e-5)
  assert heatmap[3, 5, 2] == 1.0 and heatmap[11, 9, 5] == 1.0
  assert int((heatmap == 1.0).sum()) == 2  # exactly one peak per real object
  assert float(heatmap[..., [0, 1, 3, 4, 6, 7]].max()) == 0.0  # the padding row (class 1) paints nothing
  assert 0.0 < float(heatmap[3, 6, 2]) < 1.0  # a Gaussian around the peak, not a single cell


def test_focal_loss_is_small_for_the_right_heatmap_and_large_for_a_wrong_one():
  target = jnp.zeros((8, 8, 2)).at[3, 4, 1].set(1.0)
  confident_right = jnp.where(target == 1.0, 8.0, -8.0)
  confident_wrong = -confident_right
  assert float(detection.focal_loss(confident_right, target)) < 1e-3
  assert float(detection.focal_loss(confident_wrong, target)) > 10.0


def test_decode_finds_the_peaks_of_a_constructed_heatmap():
  probabilities = jnp.full((1, 8, 8, 3), 0.01)
  probabilities = probabilities.at[0, 2, 3, 1].set(0.9).at[0, 2, 4, 1].set(0.8)  # 0.8 is beside a higher peak
  probabilities = probabilities.at[0, 6, 1, 0].set(0.7).at[0, 6, 2, 2].set(0.6)  # another class: its own peak
  logits = jnp.log(probabilities / (1 - probabilities))
  size = jnp.zeros((1, 8, 8, 2)).at[0, 2, 3].set(jnp.array([2.0, 4.0]))
  offset = jnp.full((1, 8, 8, 2), 0.5)
  boxes, scores, classes = jax.jit(detection.decode, static_argnums=1)(
      {'heatmap': logits, 'size': size, 'offset': offset}, 3)
  chex.assert_trees_all_close(scores[0], jnp.array([0.9, 0.7, 0.6]), atol=1e-6)
  chex.assert_trees_all_equal(classes[0], jnp.array([1, 0, 2]))
  # centre (2.5, 3.5) cells, size (2, 4) cells, on an 8x8 grid
  chex.assert_trees_all_close(boxes[0, 0], jnp.array([1.5, 1.5, 3.5, 5.5]) / 8, atol=1e-6)


def _box(ymin, xmin, ymax, xmax):
  return np.array([ymin, xmin, ymax, xmax], np.float64)


@pytest.mark.parametrize('detections,expected', [
    # Every object found exactly: AP 1 at every IoU threshold.
    ([(np.stack([_box(0.1, 0.1, 0.4, 0.4), _box(0.5, 0.5, 0.9, 0.8)]), np.array([0.9, 0.8]), np.array([0, 1]))],
     {'map': 1.0, 'map50': 1.0, 'map75': 1.0}),
    # A false positive scored above the one true find of class 0, and class 1 missed: class 0's
    # precision is 1/2 at every recall (interpolated), class 1's AP is 0: mAP (0.5 + 0) / 2.
    ([(np.stack([_box(0.6, 0.0, 0.7, 0.1), _box(0.1, 0.1, 0.4, 0.4)]), np.array([0.9, 0.8]), np.array([0, 0]))],
     {'map': 0.25, 'map50': 0.25, 'map75': 0.25}),
    # Class 1 found with IoU 0.6 (a box 0.6 of the truth's width): right at thresholds 0.50, 0.55
    # and 0.60 of the ten; class 0 exact: mAP (1 + 3/10) / 2, mAP50 1, mAP75 (1 + 0) / 2.
    ([(np.stack([_box(0.1, 0.1, 0.4, 0.4), _box(0.5, 0.5, 0.9, 0.68)]), np.array([0.9, 0.8]), np.array([0, 1]))],
     {'map': 0.65, 'map50': 1.0, 'map75': 0.5}),
])
def test_coco_metrics_on_hand_made_cases(detections, expected):
  truths = [(np.stack([_box(0.1, 0.1, 0.4, 0.4), _box(0.5, 0.5, 0.9, 0.8)]), np.array([0, 1]))]
  metrics = coco_eval.coco_metrics(truths, detections, image_size=(100, 100), num_classes=2)
  assert metrics == pytest.approx(expected, abs=1e-6)


def test_coco_metrics_with_nothing_found_is_zero():
  truths = [(np.array([_box(0.1, 0.1, 0.4, 0.4)]), np.array([0]))]
  nothing = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))]
  assert coco_eval.coco_metrics(truths, nothing, (64, 64), 1) == {'map': 0.0, 'map50': 0.0, 'map75': 0.0}
