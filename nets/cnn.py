"""Convolutional image classifiers: a plain ConvNet, an MLP baseline and a small ResNet.

A ConvNet slides 3-D filters (height x width x input depth, so RGB is the depth of the first
layer) over the image; each stage shrinks height and width by pooling while the number of
filters, the depth, grows. The last feature map is flattened (or globally pooled) into an MLP
head. Each stage's output is sown into the 'intermediates' collection so research code and the
visualisation tools can look at what every stage computes:

  variables = ConvNet(num_classes=10).init(key, images)
  logits, inter = ConvNet(num_classes=10).apply(variables, images, mutable=['intermediates'])
  inter['intermediates']['stage0'][0]   # [batch, h/2, w/2, 32]
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ('batch', 'layer', 'none')


def _pool_windows(x):
  batch, height, width, channels = x.shape
  return x[:, :height // 2 * 2, :width // 2 * 2].reshape(batch, height // 2, 2, width // 2, 2, channels)


@jax.custom_vjp
def max_pool_2x2(x):
  """nn.max_pool(x, (2, 2), strides=(2, 2)) with the same values and gradient, computed faster.

  XLA:CPU runs max_pool's gradient (select_and_scatter) ~40x slower than its forward pass, over
  half of a small ConvNet's step (bench/cnn_throughput.py). Here each window's gradient goes to
  its first maximum in row-major order, exactly where select_and_scatter sends it, ties included.
  """
  return _pool_windows(x).max(axis=(2, 4))


def _max_pool_2x2_forward(x):
  pooled = max_pool_2x2(x)
  return pooled, (x, pooled)


def _max_pool_2x2_backward(residuals, grad):
  # Masks on the [batch, h/2, 2, w/2, 2, channels] view of x, which is x itself reshaped: one
  # elementwise pass, where an argmax over windows moved to the minor axis needs two transposes
  # (the MNIST ConvNet's step: 21.0 -> 20.5 ms, bench/README_cnn.md).
  x, pooled = residuals
  batch, height, width, channels = x.shape
  is_max = _pool_windows(x) == pooled[:, :, None, :, None, :]
  second_column = jnp.arange(2).reshape(1, 1, 1, 1, 2, 1) == 1
  first_in_row = is_max & ~(second_column & is_max[:, :, :, :, :1])
  top_row_has_max = is_max[:, :, :1, :, :1] | is_max[:, :, :1, :, 1:]
  second_row = jnp.arange(2).reshape(1, 1, 2, 1, 1, 1) == 1
  first = first_in_row & ~(second_row & top_row_has_max)
  dx = jnp.where(first, grad[:, :, None, :, None, :], 0).reshape(batch, height // 2 * 2, width // 2 * 2, channels)
  # An odd last row or column belongs to no window and gets no gradient.
  return (jnp.pad(dx, ((0, 0), (0, height - dx.shape[1]), (0, width - dx.shape[2]), (0, 0))),)


max_pool_2x2.defvjp(_max_pool_2x2_forward, _max_pool_2x2_backward)

# Inputs with at most this many channels (grey or RGB images) are convolved as patches x matmul.
FEW_CHANNELS = 3


def _patches_3x3(x):
  """[batch, h, w, 9 * channels]: every position's 3x3 neighbourhood, zero-padded, in HWIO order."""
  height, width = x.shape[1:3]
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jnp.concatenate([padded[:, i:i + height, j:j + width] for i in range(3) for j in range(3)], axis=-1)


@jax.custom_vjp
def conv3x3_few_channels(x, kernel):
  """lax.conv_general_dilated(x, kernel, (1, 1), 'SAME') in NHWC/HWIO, as one matmul over patches.

  XLA:CPU's convolutions run a first layer with 1 or 3 input channels at a tenth of the
  machine's speed (31-39 GFLOP/s here); the [batch*h*w, 9c] patches are small for such inputs,
  and one matmul forward and one for the kernel's gradient (from the saved patches) are faster:
  the MNIST ConvNet's training step is 8% shorter (bench/README_cnn.md).
  """
  return _conv3x3_forward(x, kernel)[0]


def _conv3x3_forward(x, kernel):
  patches = _patches_3x3(x)
  return patches @ kernel.reshape(-1, kernel.shape[-1]), (patches, kernel)


def _conv3x3_backward(residuals, grad):
  patches, kernel = residuals
  dkernel = patches.reshape(-1, patches.shape[-1]).T @ grad.reshape(-1, grad.shape[-1])
  # The input's gradient is the 'SAME' convolution of grad with the kernel flipped in space and
  # in/out transposed (XLA drops it for a first layer, whose input needs none).
  dx = jax.lax.conv_general_dilated(grad, jnp.flip(kernel, (0, 1)).swapaxes(2, 3), (1, 1), 'SAME',
                                    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return dx, dkernel.reshape(kernel.shape)


conv3x3_few_channels.defvjp(_conv3x3_forward, _conv3x3_backward)


def patch_or_xla_conv(lhs, rhs, window_strides, padding, **options):
  """A drop-in lax.conv_general_dilated for nn.Conv: conv3x3_few_channels where it applies."""
  plain = all(options.get(key) in (None, 1, (1, 1)) for key in ('lhs_dilation', 'rhs_dilation', 'feature_group_count'))
  if rhs.shape[:2] == (3, 3) and rhs.ndim == 4 and tuple(window_strides) == (1, 1) and padding == 'SAME' and plain:
    return conv3x3_few_channels(lhs, rhs)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, **options)


def conv_for(inputs):
  """nn.Conv's `conv_general_dilated` for `inputs`: on CPU patches x matmul for few channels, else XLA's.

  GPUs and TPUs keep their own convolutions for every layer: the patches were measured on CPU only.
  """
  few = inputs.shape[-1] <= FEW_CHANNELS and jax.default_backend() == 'cpu'
  return patch_or_xla_conv if few else None


class BatchNorm(nn.Module):
  """Batch normalisation over all axes but the last (Ioffe & Szegedy 2015), one pass over the data.

  The same variables, statistics and results as flax's nn.BatchNorm (its checkpoints load
  unchanged), computed differently: the batch variance comes from the moments of x - shift,
  summed in one pass, with the first example's mean as the shift. Flax's one-pass variance
  E[x^2] - E[x]^2 cancels catastrophically on channels whose mean is large against their spread
  (flat backgrounds), and its two-pass variance reads the activations twice and writes x - mean
  in full: 11% of the MNIST ConvNet's training step on CPU (bench/README_cnn.md). A shift near
  the batch mean keeps what cancels to (mean - shift)^2, of the order of the variance itself.
  """
  momentum: float = 0.9  # running statistic = momentum * running + (1 - momentum) * batch
  epsilon: float = 1e-5
  dtype: Any = jnp.float32
  axis_name: str | None = None  # set under pmap so batch statistics span all devices

  @nn.compact
  def __call__(self, x, use_running_average: bool):
    features = (x.shape[-1],)
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, features, jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, features, jnp.float32)
    scale = self.param('scale', nn.initializers.ones, features, jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, features, jnp.float32)
    if use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      x = x.astype(jnp.float32)
      shift = jax.lax.stop_gradient(x[0].reshape(-1, features[0]).mean(0))  # near the batch mean
      if self.axis_name is not None:
        shift = jax.lax.pmean(shift, self.axis_name)  # the same on every device
      shifted = x - shift
      axes = tuple(range(x.ndim - 1))
      moments = jnp.stack([shifted.mean(axes), jnp.square(shifted).mean(axes)])
      if self.axis_name is not None:
        moments = jax.lax.pmean(moments, self.axis_name)
      mean = shift + moments[0]
      var = jnp.maximum(0.0, moments[1] - jnp.square(moments[0]))
      if not self.is_initializing():
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
    return ((x - mean) * (scale * jax.lax.rsqrt(var + self.epsilon)) + bias).astype(self.dtype)


class Normalization(nn.Module):
  """BatchNorm, LayerNorm or nothing, chosen by name so configs can switch it."""
  kind: str = 'batch'
  dtype: Any = jnp.float32
  axis_name: str | None = None  # set under pmap so batch statistics span all devices

  @nn.compact
  def __call__(self, x, train: bool):
    if self.kind == 'batch':
      return BatchNorm(dtype=self.dtype, axis_name=self.axis_name)(x, use_running_average=not train)
    if self.kind == 'layer':
      return nn.LayerNorm(dtype=self.dtype)(x)
    if self.kind == 'none':
      return x
    raise ValueError(f'unknown norm {self.kind!r}; choose one of {NORMS}')


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
  """Stages of [conv 3x3 -> norm -> relu] x convs_per_stage -> 2x2 max-pool, then an MLP head."""
  num_classes: int
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 2
  head: Sequence[int] = (256,)
  norm: str = 'batch'
  dropout_rate: float = 0.0
  global_pool: bool = False  # average over positions instead of flattening: translation invariant
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = images.astype(self.dtype)
    for stage, features in enumerate(self.stage_features):
      for _ in range(self.convs_per_stage):
        x = nn.Conv(features, (3, 3), use_bias=self.norm == 'none', dtype=self.dtype, conv_general_dilated=conv_for(x))(x)
        x = Normalization(self.norm, self.dtype, self.axis_name)(x, train)
        x = nn.relu(x)
      x = max_pool_2x2(x)
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

  @nn.compact
  def __call__(self, x, train: bool):
    norm = lambda: Normalization('batch', self.dtype, self.axis_name)
    y = nn.Conv(self.features, (3, 3), self.strides, use_bias=False, dtype=self.dtype)(x)
    y = nn.relu(norm()(y, train))
    y = nn.Conv(self.features, (3, 3), use_bias=False, dtype=self.dtype)(y)
    y = norm()(y, train)
    if x.shape != y.shape:
      x = nn.Conv(self.features, (1, 1), self.strides, use_bias=False, dtype=self.dtype)(x)
      x = norm()(x, train)
    return nn.relu(x + y)


class ResNet(nn.Module):
  """A CIFAR-style ResNet (He et al. 2016, section 4.2): ResNet-20 with the defaults."""
  num_classes: int
  blocks_per_stage: Sequence[int] = (3, 3, 3)
  stage_features: Sequence[int] = (16, 32, 64)
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = images.astype(self.dtype)
    x = nn.Conv(self.stage_features[0], (3, 3), use_bias=False, dtype=self.dtype, conv_general_dilated=conv_for(x))(x)
    x = nn.relu(Normalization('batch', self.dtype, self.axis_name)(x, train))
    for stage, (blocks, features) in enumerate(zip(self.blocks_per_stage, self.stage_features)):
      for block in range(blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = ResidualBlock(features, strides, self.dtype, self.axis_name)(x, train)
      self.sow('intermediates', f'stage{stage}', x)
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32)(x)


MODELS = {'convnet': ConvNet, 'mlp': MLP, 'resnet': ResNet}
