"""Faster XLA:CPU versions of a ConvNet's standard layers: the same values, gradients and variables.

nets/cnn.py writes its models with Flax's standard layers. Built with `cpu_kernels=True`
(config.model.cpu_kernels), a ConvNet or ResNet running on CPU swaps in the replacements below;
on GPUs and TPUs, and with the switch off, it keeps the standard layers. Each replacement works
around an op that XLA:CPU runs slowly for a small ConvNet's shapes, and is tested against the op
it replaces (tests/test_cpu_kernels.py: values and gradients). What each one saves, and the
benchmark that measures it: bench/README_cpu_kernels.md.

  max_pool_2x2              nn.max_pool(x, (2, 2), strides=(2, 2)): XLA:CPU's gradient of max-pool
                            (select_and_scatter) is far slower than the pooling itself.
  conv3x3_few_channels      nn.Conv's 3x3 'SAME' convolution of a grey or RGB image (see conv_for):
                            XLA:CPU's convolutions run such a first layer far below the machine's speed.
  BatchNorm                 nn.BatchNorm: its exact variance reads the activations twice and writes
                            x - mean in full; batch_moments reads them once, without the cancellation
                            of E[x^2] - E[x]^2.
  batch_norm_relu_max_pool  BatchNorm -> ReLU -> 2x2 max-pool in training, in fewer passes over the
                            full-size activations, which is where a small ConvNet's step goes on CPU.
  norm_relu_max_pool        a ConvNet stage's last three steps, through the two above.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def in_use(switch: bool) -> bool:
  """Whether a model built with `cpu_kernels=switch` uses this module: on CPU only, where it was measured."""
  return switch and jax.default_backend() == 'cpu'


def _pool_windows(x):
  batch, height, width, channels = x.shape
  return x[:, :height // 2 * 2, :width // 2 * 2].reshape(batch, height // 2, 2, width // 2, 2, channels)


@jax.custom_vjp
def max_pool_2x2(x):
  """nn.max_pool(x, (2, 2), strides=(2, 2)) with the same values and gradient, computed faster.

  Each window's gradient goes to its first maximum in row-major order, exactly where XLA's
  select_and_scatter sends it, ties included.
  """
  return _pool_windows(x).max(axis=(2, 4))


def _max_pool_2x2_forward(x):
  pooled = max_pool_2x2(x)
  return pooled, (x, pooled)


def _first_in_window(is_max):
  """Of the [batch, h/2, 2, w/2, 2, channels] maxima masks, each window's first in row-major order."""
  second_column = jnp.arange(2).reshape(1, 1, 1, 1, 2, 1) == 1
  first_in_row = is_max & ~(second_column & is_max[:, :, :, :, :1])
  top_row_has_max = is_max[:, :, :1, :, :1] | is_max[:, :, :1, :, 1:]
  second_row = jnp.arange(2).reshape(1, 1, 2, 1, 1, 1) == 1
  return first_in_row & ~(second_row & top_row_has_max)


def _max_pool_2x2_backward(residuals, grad):
  # Masks on the [batch, h/2, 2, w/2, 2, channels] view of x, which is x itself reshaped: one
  # elementwise pass, where an argmax over windows moved to the minor axis needs two transposes.
  x, pooled = residuals
  batch, height, width, channels = x.shape
  first = _first_in_window(_pool_windows(x) == pooled[:, :, None, :, None, :])
  dx = jnp.where(first, grad[:, :, None, :, None, :], 0).reshape(batch, height // 2 * 2, width // 2 * 2, channels)
  # An odd last row or column belongs to no window and gets no gradient.
  return (jnp.pad(dx, ((0, 0), (0, height - dx.shape[1]), (0, width - dx.shape[2]), (0, 0))),)


max_pool_2x2.defvjp(_max_pool_2x2_forward, _max_pool_2x2_backward)

# Inputs with at most this many channels (grey or RGB images) are convolved by conv3x3_few_channels.
FEW_CHANNELS = 3


def _shifted_3x3(x):
  """The 9 [batch, h, w, channels] views of zero-padded x, one per 3x3 kernel position, in HW order."""
  height, width = x.shape[1:3]
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return [padded[:, i:i + height, j:j + width] for i in range(3) for j in range(3)]


@jax.custom_vjp
def conv3x3_few_channels(x, kernel):
  """lax.conv_general_dilated(x, kernel, (1, 1), 'SAME') in NHWC/HWIO, for inputs of few channels.

  Forward, 9 x channels multiply-adds of shifted slices of the input make one vectorised loop,
  cheaper than XLA's convolution or a matmul over the materialised 3x3 patches; the kernel's
  gradient is one matmul over those patches, saved from the forward pass.
  """
  return _conv3x3_forward(x, kernel)[0]


def _conv3x3_forward(x, kernel):
  shifted = _shifted_3x3(x)
  taps = kernel.reshape(9, x.shape[-1], kernel.shape[-1])  # HW-major, as _shifted_3x3 orders them
  # Summed in float32, as a matmul accumulates, whatever the compute dtype.
  y = sum(view[..., c:c + 1].astype(jnp.float32) * tap[c].astype(jnp.float32)
          for view, tap in zip(shifted, taps) for c in range(x.shape[-1]))
  patches = jnp.concatenate(shifted, axis=-1)  # [batch, h, w, 9 * channels], HWIO order: for the kernel's gradient
  return y.astype(jnp.result_type(x, kernel)), (patches, kernel)


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
  """nn.Conv's `conv_general_dilated` for `inputs`: patch_or_xla_conv for few channels, else None (XLA's)."""
  return patch_or_xla_conv if inputs.shape[-1] <= FEW_CHANNELS else None


def batch_moments(x, axis_name: str | None = None):
  """(mean, variance) of x over all axes but the last, in float32; the variance from E[(x - shift)^2].

  Flax's one-pass variance E[x^2] - E[x]^2 cancels catastrophically on channels whose mean is
  large against their spread (flat backgrounds), and its two-pass variance reads the activations
  twice and writes x - mean in full. The first example's mean is the shift: near the batch mean,
  it keeps what cancels in E[(x - shift)^2] - (mean - shift)^2 to the order of the variance
  itself. Under pmap (`axis_name`) the moments span every device's batch.
  """
  x = x.astype(jnp.float32)
  shift = jax.lax.stop_gradient(x[0].reshape(-1, x.shape[-1]).mean(0))
  if axis_name is not None:
    shift = jax.lax.pmean(shift, axis_name)  # the same on every device
  axes = tuple(range(x.ndim - 1))
  # Each sum reads x alone: with x - shift shared by both, XLA:CPU writes it out in full and the
  # two sums take several times as long.
  moments = jnp.stack([x.mean(axes), jnp.square(x - shift).mean(axes)])
  if axis_name is not None:
    moments = jax.lax.pmean(moments, axis_name)
  mean, shifted_square = moments
  return mean, jnp.maximum(0.0, shifted_square - jnp.square(mean - shift))


def _pool_corners(x):
  """The four [batch, h/2, w/2, channels] strided views of x: each 2x2 window's elements in row-major order."""
  windows = _pool_windows(x)
  return [windows[:, :, i, :, j] for i in range(2) for j in range(2)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm_relu_max_pool(x, scale, bias, epsilon: float, axis_name: str | None = None):
  """max_pool_2x2(relu(batch-normalised x)) in training mode, and the batch (mean, variance).

  The same values and gradients as BatchNorm, nn.relu and max_pool_2x2 one after the other (the
  gradient of each window goes to its first maximum, ties included), in fewer passes over the
  full-size activations: the forward pass normalises, rectifies and pools in one pass and writes
  only pooled-size maps; the backward pass takes the sums the BatchNorm gradient needs from those
  maps, since the gradient reaches only each window's maximum, and writes x's gradient in one
  more pass.
  """
  return _batch_norm_relu_max_pool_forward(x, scale, bias, epsilon, axis_name)[0]


def _batch_norm_relu_max_pool_forward(x, scale, bias, epsilon, axis_name):
  mean, var = batch_moments(x, axis_name)
  inv_std = jax.lax.rsqrt(var + epsilon)
  # relu(scale * (x - mean) * inv_std + bias) = relu(slope * x + offset)
  slope = scale * inv_std
  offset = bias - mean * slope
  corners = _pool_corners(x.astype(jnp.float32))
  rectified = [jnp.maximum(slope * corner + offset, 0.0) for corner in corners]
  largest = functools.reduce(jnp.maximum, rectified)
  # x at each window's first maximum: the BatchNorm gradient's sums need its normalised value
  # there, and the pooled map is its rectified value (one pass over x for both).
  x_at_max = corners[3]
  for corner, value in zip(corners[2::-1], rectified[2::-1]):
    x_at_max = jnp.where(value == largest, corner, x_at_max)
  pooled = jnp.maximum(slope * x_at_max + offset, 0.0)
  residuals = (x, pooled, x_at_max, mean, inv_std, slope)
  return (pooled.astype(x.dtype), mean, var), residuals


def _batch_norm_relu_max_pool_backward(epsilon, axis_name, residuals, cotangents):
  del epsilon  # in inv_std already
  x, pooled, x_at_max, mean, inv_std, slope = residuals
  grad, grad_mean, grad_var = cotangents
  # The normalised value's gradient: nonzero only at each window's first maximum, and there only
  # where the ReLU passed it (pooled > 0; jax.nn.relu's gradient at 0 is 0).
  grad = jnp.where(pooled > 0, grad.astype(jnp.float32), 0.0)
  axes = tuple(range(x.ndim - 1))
  grad_bias = grad.sum(axes)
  grad_scale = (grad * (x_at_max - mean) * inv_std).sum(axes)
  sums = jnp.stack([grad_bias, grad_scale, grad_mean, grad_var])
  count = x.size // x.shape[-1]
  if axis_name is not None:
    # Every device's statistics depend on every device's x: the sums span the whole batch.
    sums = jax.lax.psum(sums, axis_name)
    count = count * jax.lax.axis_size(axis_name)
  total_bias, total_scale, total_mean, total_var = sums
  # d x = slope * (d_norm - mean(d_norm) - x_hat * mean(d_norm * x_hat)) plus the statistics' own
  # cotangents (d mean / d x = 1 / count, d var / d x = 2 (x - mean) / count), all as
  # per-channel coefficients of d_norm and of x - mean.
  constant = (total_mean - slope * total_bias) / count
  linear = (2 * total_var - slope * inv_std * total_scale) / count
  batch, height, width, channels = x.shape
  windows = _pool_windows(x.astype(jnp.float32))
  # No element before a window's first maximum equals x there (its rectified value would be the
  # maximum too), so the first element equal to x_at_max is that maximum: comparing x itself
  # routes exactly as comparing the rectified values, without recomputing them.
  first = _first_in_window(windows == x_at_max[:, :, None, :, None, :])
  routed = jnp.where(first, grad[:, :, None, :, None, :], 0.0)
  dx = slope * routed + constant + linear * (windows - mean)
  dx = dx.reshape(batch, height // 2 * 2, width // 2 * 2, channels)
  # An odd last row or column belongs to no window: only the statistics' terms reach it.
  if dx.shape[1:3] != (height, width):
    rest = constant + linear * (x.astype(jnp.float32) - mean)
    dx = rest.at[:, :dx.shape[1], :dx.shape[2]].set(dx)
  return dx.astype(x.dtype), grad_scale, grad_bias


batch_norm_relu_max_pool.defvjp(_batch_norm_relu_max_pool_forward, _batch_norm_relu_max_pool_backward)


class BatchNorm(nn.Module):
  """nn.BatchNorm (with use_fast_variance=False) computed with `batch_moments`.

  The same variables, statistics and results as nn.BatchNorm, and the same class name, so it
  takes nn.BatchNorm's place in a model's variable tree: checkpoints load either way.
  `relu_max_pool=True` returns max_pool_2x2(relu(output)) instead, in training from
  `batch_norm_relu_max_pool`.
  """
  use_running_average: bool = False
  momentum: float = 0.9  # running statistic = momentum * running + (1 - momentum) * batch
  epsilon: float = 1e-5
  dtype: Any = jnp.float32
  axis_name: str | None = None  # set under pmap so batch statistics span all devices

  @nn.compact
  def __call__(self, x, relu_max_pool: bool = False):
    features = (x.shape[-1],)
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, features, jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, features, jnp.float32)
    scale = self.param('scale', nn.initializers.ones, features, jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, features, jnp.float32)
    fused = relu_max_pool and not self.use_running_average
    if self.use_running_average:
      mean, var = running_mean.value, running_var.value
    elif fused:
      pooled, mean, var = batch_norm_relu_max_pool(x, scale, bias, self.epsilon, self.axis_name)
    else:
      mean, var = batch_moments(x, self.axis_name)
    if not self.use_running_average and not self.is_initializing():
      running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
      running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
    if fused:
      return pooled.astype(self.dtype)
    y = ((x.astype(jnp.float32) - mean) * (scale * jax.lax.rsqrt(var + self.epsilon)) + bias).astype(self.dtype)
    return max_pool_2x2(nn.relu(y)) if relu_max_pool else y


def norm_relu_max_pool(norm, x):
  """max_pool_2x2(relu(norm(x))) for a layer of nets.cnn.normalization; one step for this module's BatchNorm."""
  if isinstance(norm, BatchNorm):
    return norm(x, relu_max_pool=True)
  return max_pool_2x2(nn.relu(norm(x)))
