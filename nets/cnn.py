"""Convolutional image classifiers: a plain ConvNet, an MLP baseline and a small ResNet.

A ConvNet slides 3-D filters (height x width x input depth, so RGB is the depth of the first
layer) over the image; each stage shrinks height and width by pooling while the number of
filters, the depth, grows. The last feature map is flattened (or globally pooled) into an MLP
head. Each stage's output is sown into the 'intermediates' collection so research code and the
visualisation tools can look at what every stage computes:

  variables = ConvNet(num_classes=10).init(key, images)
  logits, inter = ConvNet(num_classes=10).apply(variables, images, mutable=['intermediates'])
  inter['intermediates']['stage0'][0]   # [batch, h/2, w/2, 32]

The models are written with Flax's standard layers. `cpu_kernels=True` (the image configs' default)
computes the same ConvNet or ResNet, with the same variables, faster on CPU: nets/cpu_kernels.py.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from nets import cpu_kernels

NORMS = ('batch', 'layer', 'none')


def normalization(kind: str, train: bool, dtype: Any = jnp.float32, axis_name: str | None = None,
                  use_cpu_kernels: bool = False):
  """The normalisation layer `kind` names (one of NORMS), so configs can switch it.

  BatchNorm (Ioffe & Szegedy 2015) uses batch statistics in training and running averages
  otherwise; its variance is the exact E[(x - mean)^2], since Flax's default E[x^2] - E[x]^2
  cancels catastrophically on channels whose mean is large against their spread (flat image
  backgrounds). `axis_name` is set under pmap so its statistics span all devices.
  `use_cpu_kernels` gives nets.cpu_kernels.BatchNorm, its drop-in replacement.
  """
  if kind == 'batch' and use_cpu_kernels:
    return cpu_kernels.BatchNorm(use_running_average=not train, dtype=dtype, axis_name=axis_name)
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, use_fast_variance=False,
                        dtype=dtype, axis_name=axis_name)
  if kind == 'layer':
    return nn.LayerNorm(dtype=dtype)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f'unknown norm {kind!r}; choose one of {NORMS}')


class MLPHead(nn.Module):
  """Hidden dense layers with dropout, then the class logits (always float32 for a stable softmax)."""
  num_classes: int
  hidden: Sequence[int] = (256,)
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, dtype=self.dtype)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x)


class ConvNet(nn.Module):
  """Stages of [conv 3x3 -> norm -> relu] x convs_per_stage -> 2x2 max-pool, then an MLP head.

  `cpu_kernels=True`: on CPU, the kernels of nets/cpu_kernels.py (the same network and variables).
  """
  num_classes: int
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 2
  head: Sequence[int] = (256,)
  norm: str = 'batch'
  dropout_rate: float = 0.0
  global_pool: bool = False  # average over positions instead of flattening: translation invariant
  dtype: Any = jnp.float32
  axis_name: str | None = None
  cpu_kernels: bool = False

  @nn.compact
  def __call__(self, images, train: bool = False):
    fast = cpu_kernels.in_use(self.cpu_kernels)
    x = images.astype(self.dtype)
    for stage, features in enumerate(self.stage_features):
      for conv in range(self.convs_per_stage):
        x = nn.Conv(features, (3, 3), use_bias=self.norm == 'none', dtype=self.dtype,
                    conv_general_dilated=cpu_kernels.conv_for(x) if fast else None)(x)
        norm = normalization(self.norm, train, self.dtype, self.axis_name, fast)
        if conv < self.convs_per_stage - 1:
          x = nn.relu(norm(x))
        elif fast:
          x = cpu_kernels.norm_relu_max_pool(norm, x)  # the next branch in one step
        else:
          x = nn.max_pool(nn.relu(norm(x)), (2, 2), strides=(2, 2))
      self.sow('intermediates', f'stage{stage}', x)
    x = x.mean(axis=(1, 2)) if self.global_pool else x.reshape((x.shape[0], -1))
    return MLPHead(self.num_classes, self.head, self.dropout_rate, self.dtype)(x, train)


class MLP(nn.Module):
  """The baseline: every pixel of every channel is one input to a dense layer."""
  num_classes: int
  hidden: Sequence[int] = (512, 256)
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  axis_name: str | None = None  # accepted for a uniform constructor; the MLP has no batch statistics

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = images.astype(self.dtype).reshape((images.shape[0], -1))
    return MLPHead(self.num_classes, self.hidden, self.dropout_rate, self.dtype)(x, train)


class ResidualBlock(nn.Module):
  """Two 3x3 convolutions with a shortcut; a strided 1x1 projection when the shape changes."""
  features: int
  strides: int = 1
  dtype: Any = jnp.float32
  axis_name: str | None = None
  cpu_kernels: bool = False  # on CPU, nets.cpu_kernels.BatchNorm

  @nn.compact
  def __call__(self, x, train: bool):
    norm = lambda: normalization('batch', train, self.dtype, self.axis_name, cpu_kernels.in_use(self.cpu_kernels))
    y = nn.Conv(self.features, (3, 3), self.strides, use_bias=False, dtype=self.dtype)(x)
    y = nn.relu(norm()(y))
    y = nn.Conv(self.features, (3, 3), use_bias=False, dtype=self.dtype)(y)
    y = norm()(y)
    if x.shape != y.shape:
      x = nn.Conv(self.features, (1, 1), self.strides, use_bias=False, dtype=self.dtype)(x)
      x = norm()(x)
    return nn.relu(x + y)


class ResNet(nn.Module):
  """A CIFAR-style ResNet (He et al. 2016, section 4.2): ResNet-20 with the defaults.

  `cpu_kernels=True`: on CPU, the kernels of nets/cpu_kernels.py (the same network and variables).
  """
  num_classes: int
  blocks_per_stage: Sequence[int] = (3, 3, 3)
  stage_features: Sequence[int] = (16, 32, 64)
  dtype: Any = jnp.float32
  axis_name: str | None = None
  cpu_kernels: bool = False

  @nn.compact
  def __call__(self, images, train: bool = False):
    fast = cpu_kernels.in_use(self.cpu_kernels)
    x = images.astype(self.dtype)
    x = nn.Conv(self.stage_features[0], (3, 3), use_bias=False, dtype=self.dtype,
                conv_general_dilated=cpu_kernels.conv_for(x) if fast else None)(x)
    x = nn.relu(normalization('batch', train, self.dtype, self.axis_name, fast)(x))
    for stage, (blocks, features) in enumerate(zip(self.blocks_per_stage, self.stage_features)):
      for block in range(blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = ResidualBlock(features, strides, self.dtype, self.axis_name, self.cpu_kernels)(x, train)
      self.sow('intermediates', f'stage{stage}', x)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x)


MODELS = {'convnet': ConvNet, 'mlp': MLP, 'resnet': ResNet}
