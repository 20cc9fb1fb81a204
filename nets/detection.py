"""Object detection as keypoint estimation: CenterNet ("Objects as Points", Zhou et al. 2019).

A detector must say where each object is, how big and of which class, for any number of objects.
CenterNet turns that into dense prediction, the thing a convolutional network does well: on a
grid `output_stride` times coarser than the image it predicts, at every cell,
  - a heatmap per class: how likely an object of that class has its centre in this cell;
  - the object's size (height, width), in grid cells;
  - the offset of the exact centre from the cell's corner, what the coarse grid rounds away.
Training puts a Gaussian bump at every object's centre in its class's heatmap (`targets`) and
reads size and offset only at the centre cells. Detecting needs no anchors and no non-maximum
suppression: the objects are the heatmap's local maxima, found with a 3x3 max-pool, and the best
`max_detections` of them are kept (`decode`), all in a few array operations under jit.

  model = CenterNet(num_classes=8)
  heads = model.apply(variables, images)      # {'heatmap': logits, 'size': ..., 'offset': ...}
  boxes, scores, classes = decode(heads, max_detections=100)   # boxes (ymin, xmin, ymax, xmax) in [0, 1]

The backbone is the U-Net of nets/segmentation.py, stopped at a quarter of the image size, as
CenterNet's own DLA and hourglass backbones are encoder-decoders with skips.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nets.segmentation import UNetFeatures

# The heatmap starts predicting "no object" with probability 0.9 everywhere, as in the paper:
# almost every cell is background, and a 0.5 start makes the first steps' loss explode.
HEATMAP_PRIOR = 0.1


class Head(nn.Module):
  """conv 3x3 -> relu -> conv 1x1: one of CenterNet's per-cell predictions."""
  outputs: int
  features: int = 64
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(self.features, (3, 3), dtype=self.dtype)(x))
    return nn.Conv(self.outputs, (1, 1), dtype=jnp.float32, bias_init=self.bias_init)(x)


class CenterNet(nn.Module):
  """U-Net features at stride `output_stride`, then the heatmap, size and offset heads.

  Returns {'heatmap': logits [B, h, w, num_classes], 'size': [B, h, w, 2] (height, width in
  cells), 'offset': [B, h, w, 2] (y, x within the cell)}, with h, w = H / stride, W / stride.
  """
  num_classes: int
  stage_features: Sequence[int] = (32, 64, 128, 128)
  convs_per_stage: int = 2
  norm: str = 'batch'
  output_stride: int = 4
  head_features: int = 64
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = UNetFeatures(self.stage_features, self.convs_per_stage, self.norm, True, self.output_stride,
                     self.dtype, self.axis_name)(images, train)
    prior_logit = jnp.log(HEATMAP_PRIOR / (1 - HEATMAP_PRIOR))
    return {
        'heatmap': Head(self.num_classes, self.head_features, nn.initializers.constant(prior_logit),
                        self.dtype, name='heatmap')(x),
        'size': Head(2, self.head_features, dtype=self.dtype, name='size')(x),
        'offset': Head(2, self.head_features, dtype=self.dtype, name='offset')(x),
    }


def gaussian_radius(height, width, min_overlap: float = 0.7):
  """How far a box's corners may move with the box keeping IoU >= min_overlap (CornerNet's rule).

  Three cases, each a quadratic a r^2 + b r + c = 0 in the radius r: both corners moved inwards,
  both outwards, or one each way; the smallest root is safe for all three. As in CornerNet's and
  CenterNet's published code, each root is divided by 2 rather than 2a, which gives larger radii
  (softer targets) than the exact bound; the models' reported results were trained with it.
  Sizes in grid cells.
  """
  b1, c1 = height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
  b2, c2 = 2 * (height + width), (1 - min_overlap) * width * height
  a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
  r1 = (b1 + jnp.sqrt(b1**2 - 4 * c1)) / 2
  r2 = (b2 + jnp.sqrt(b2**2 - 4 * 4 * c2)) / 2
  r3 = (b3 + jnp.sqrt(b3**2 - 4 * a3 * c3)) / 2
  return jnp.minimum(jnp.minimum(r1, r2), r3)


def targets(boxes, labels, valid, grid: tuple[int, int], num_classes: int):
  """What the heads should predict for one image's objects.

  Args:
    boxes: [M, 4] (ymin, xmin, ymax, xmax) in [0, 1]; labels: int [M]; valid: bool [M], False for
      the padding rows of a fixed-size object list.
    grid: (h, w) of the heads' grid.

  Returns:
    heatmap [h, w, num_classes]: per class the maximum of its objects' Gaussians (peak 1 at the
      centre cell, std (2 * radius + 1) / 6 as in the paper); cells [M, 2] int (y, x) of each
      centre; size [M, 2] and offset [M, 2], the values to predict there.
  """
  grid_size = jnp.asarray(grid, jnp.float32)
  center = (boxes[:, :2] + boxes[:, 2:]) / 2 * grid_size
  cells = jnp.clip(jnp.floor(center), 0, grid_size - 1).astype(jnp.int32)
  size = jnp.maximum(boxes[:, 2:] - boxes[:, :2], 0.0) * grid_size  # a degenerate box is a point, not a NaN
  radius = jnp.maximum(0.0, jnp.floor(gaussian_radius(size[:, 0], size[:, 1])))
  sigma = (2 * radius + 1) / 6
  ys, xs = jnp.arange(grid[0], dtype=jnp.float32), jnp.arange(grid[1], dtype=jnp.float32)
  squared_distance = ((ys[None, :, None] - cells[:, 0, None, None])**2 +
                      (xs[None, None, :] - cells[:, 1, None, None])**2)  # [M, h, w]
  bumps = jnp.exp(-squared_distance / (2 * sigma[:, None, None]**2)) * valid[:, None, None]
  # Each class's heatmap is the maximum over its own objects: a scan keeps one [h, w, C] map in memory.
  def paint(heatmap, bump_and_label):
    bump, label = bump_and_label
    return jnp.maximum(heatmap, bump[:, :, None] * jax.nn.one_hot(label, num_classes)), None

  heatmap, _ = jax.lax.scan(paint, jnp.zeros(grid + (num_classes,)), (bumps, labels))
  return heatmap, cells, size, center - cells


def focal_loss(logits, target, alpha: float = 2.0, beta: float = 4.0):
  """CornerNet's penalty-reduced focal loss over one heatmap, summed; normalise by the number of objects.

  Cells where the target is 1 are the positives. Negatives near a centre (target close to 1) are
  penalised less, by (1 - target)^beta; easy cells of either kind count little, by the focal
  factor (1 - p)^alpha or p^alpha.
  """
  log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
  p = jnp.exp(log_p)
  positive = target >= 1.0
  positive_loss = (1 - p)**alpha * log_p
  negative_loss = (1 - target)**beta * p**alpha * log_not_p
  return -jnp.sum(jnp.where(positive, positive_loss, negative_loss))


def gather_cells(values, cells):
  """values [h, w, D] at cells [M, 2] (y, x) -> [M, D]."""
  return values[cells[:, 0], cells[:, 1]]


def decode(heads, max_detections: int = 100):
  """The `max_detections` highest heatmap peaks of each image as boxes.

  A peak is a cell whose score equals the maximum of its 3x3 neighbourhood in the same class:
  a max-pool finds them all at once, with no loop over boxes and no non-maximum suppression.

  Returns boxes [B, K, 4] (ymin, xmin, ymax, xmax) in [0, 1], scores [B, K] (sigmoid of the
  heatmap, best first) and classes int [B, K].
  """
  heatmap = jax.nn.sigmoid(heads['heatmap'])
  batch, height, width, classes = heatmap.shape
  peaks = nn.max_pool(heatmap, (3, 3), strides=(1, 1), padding='SAME')
  scores = jnp.where(heatmap == peaks, heatmap, 0.0).reshape(batch, -1)
  scores, index = jax.lax.top_k(scores, max_detections)
  cell, class_ids = jnp.divmod(index, classes)
  cell_y, cell_x = jnp.divmod(cell, width)
  at_peaks = lambda values: jnp.take_along_axis(values.reshape(batch, height * width, 2), cell[..., None], axis=1)
  center = jnp.stack([cell_y, cell_x], -1) + at_peaks(heads['offset'])
  half_size = at_peaks(heads['size']) / 2
  grid = jnp.asarray([height, width], jnp.float32)
  boxes = jnp.concatenate([(center - half_size) / grid, (center + half_size) / grid], axis=-1)
  return jnp.clip(boxes, 0.0, 1.0), scores, class_ids
