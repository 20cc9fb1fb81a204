"""Semantic segmentation: a U-Net (Ronneberger et al. 2015) that gives every pixel class logits.

The U-Net is the convolutional autoencoder of nets/autoencoder.py without its dense bottleneck,
plus one idea: the decoder stage that restores a size also sees the encoder's feature map of that
size (a skip connection). The encoder knows *what* is in the image only at its coarse stages,
where each position sees a large window; the skips bring back *where*, the fine detail that
downsampling threw away, so the decoder can draw sharp boundaries.

  Encoder stage: [conv -> norm -> relu] x convs, the first conv 4x4 with stride 2 as in the
                 autoencoder's encoder (it halves height and width; the full-size first stage
                 has 3x3 convs only), the others 3x3; each stage's output is its size's skip,
                 the last stage's the bottleneck;
  Decoder stage: upsample x2 -> conv 3x3, concatenated with the skip of that size,
                 then [conv 3x3 -> norm -> relu] x convs;
  Head:          a 1x1 convolution to the class logits of each pixel.

  model = UNet(num_classes=9)
  logits = model.apply(variables, images)       # [B, H, W, 9]

`skip_connections=False` leaves the skips out (a plain encoder-decoder, for comparison), and
`output_stride` > 1 stops the decoder that many times smaller than the image: the CenterNet
detector of nets/detection.py uses the U-Net's features at a quarter of the image size.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nets.cnn import normalization


class ConvStage(nn.Module):
  """[conv -> norm -> relu] x convs: the unit both halves of the U-Net are made of.

  With `downsample` the first convolution is 4x4 with stride 2, halving height and width (a
  learned downsampling, as the autoencoder's encoder does), the others 3x3.
  """
  features: int
  convs: int = 2
  norm: str = 'batch'
  downsample: bool = False
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool):
    for conv in range(self.convs):
      kernel, strides = ((4, 4), 2) if self.downsample and conv == 0 else ((3, 3), 1)
      x = nn.Conv(self.features, kernel, strides, use_bias=self.norm == 'none', dtype=self.dtype)(x)
      x = nn.relu(normalization(self.norm, train, self.dtype, self.axis_name)(x))
    return x


class SkipConnection(nn.Module):
  """The U-Net's bridge: the decoder's upsampled features joined with the encoder's of the same size."""

  @nn.compact
  def __call__(self, decoded, encoded):
    return jnp.concatenate([decoded, encoded], axis=-1)


class UNetFeatures(nn.Module):
  """The U-Net without its head: the features [B, H / s, W / s, D] of its stage at output_stride s.

  `stage_features` lists the encoder's stages from the image inwards; the last is the bottleneck.
  D is stage_features[log2(s)], the depth of the stage of that size.
  """
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 2
  norm: str = 'batch'
  skip_connections: bool = True
  output_stride: int = 1
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    stages = len(self.stage_features)
    factor = 2 ** (stages - 1)
    if images.shape[1] % factor or images.shape[2] % factor:
      raise ValueError(f'image side {images.shape[1]}x{images.shape[2]} must be divisible by 2**(stages - 1) = {factor}')
    stage = lambda features, downsample=False: ConvStage(features, self.convs_per_stage, self.norm, downsample,
                                                         self.dtype, self.axis_name)
    x = images.astype(self.dtype)
    skips = []
    for level, features in enumerate(self.stage_features):  # encode
      x = stage(features, downsample=level > 0)(x, train)
      self.sow('intermediates', f'encoder{level}', x)
      skips.append(x)
    for level in reversed(range(stages - 1)):  # decode, back up to the output size
      if 2 ** level < self.output_stride:
        break
      batch, height, width, depth = x.shape
      x = jax.image.resize(x, (batch, 2 * height, 2 * width, depth), 'nearest')
      x = nn.Conv(self.stage_features[level], (3, 3), dtype=self.dtype)(x)
      if self.skip_connections:
        x = SkipConnection()(x, skips[level])
      x = stage(self.stage_features[level])(x, train)
      self.sow('intermediates', f'decoder{level}', x)
    return x


class UNet(nn.Module):
  """U-Net features, then per-pixel class logits [B, H, W, num_classes] (float32)."""
  num_classes: int
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 2
  norm: str = 'batch'
  skip_connections: bool = True
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = UNetFeatures(self.stage_features, self.convs_per_stage, self.norm, self.skip_connections, 1,
                     self.dtype, self.axis_name)(images, train)
    return nn.Conv(self.num_classes, (1, 1), dtype=jnp.float32)(x)


def confusion_matrix(predicted, labels, num_classes: int, ignore_index: int = 255):
  """Counts [num_classes, num_classes] of (true class, predicted class) over the pixels of one example.

  `predicted`, `labels`: int [H, W]; pixels labelled `ignore_index` are not counted.
  """
  valid = labels != ignore_index
  index = jnp.where(valid, labels * num_classes + predicted, 0)
  counts = jnp.zeros(num_classes * num_classes, jnp.float32).at[index.reshape(-1)].add(valid.reshape(-1))
  return counts.reshape(num_classes, num_classes)


def intersection_over_union(confusion):
  """Per-class IoU from a confusion matrix: true positives / (true + predicted - true positives).

  NaN for a class that neither appears nor is predicted: it has no IoU, and mIoU leaves it out.
  """
  true_positives = jnp.diag(confusion)
  union = confusion.sum(0) + confusion.sum(1) - true_positives
  return jnp.where(union > 0, true_positives / jnp.where(union > 0, union, 1), jnp.nan)
