"""The XLA:CPU kernels of nets/cpu_kernels.py give the values and gradients of the standard ops they replace."""


import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from nets import cpu_kernels

# Compiled as training compiles them: tests/compiling.py says why.
pytestmark = pytest.mark.xla_optimised


def _flax_max_pool(x):
  return nn.max_pool(x, (2, 2), strides=(2, 2))


@pytest.mark.parametrize('shape', [(2, 8, 8, 3), (1, 7, 9, 2)])
def test_max_pool_2x2_matches_flax_values_and_gradients_including_ties(shape):
  # Rounded values make many windows hold the same maximum twice: the gradient must pick the same one.
  x = jnp.round(jax.random.normal(jax.random.key(0), shape) * 2) / 2
  weights = jax.random.normal(jax.random.key(1), (shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
  chex.assert_trees_all_equal(cpu_kernels.max_pool_2x2(x), _flax_max_pool(x))
  gradient = lambda pool: jax.grad(lambda v: jnp.sum(pool(v) * weights))(x)
  chex.assert_trees_all_equal(gradient(cpu_kernels.max_pool_2x2), gradient(_flax_max_pool))


def test_max_pool_2x2_after_a_scale_and_shift_keeps_its_gradient_when_compiled():
  """One compiled program, as in a train step. XLA:CPU at backend optimisation level 0 with its older
  emitters gets this gradient wrong (by up to 16): it computes x * s + shift with an FMA in one fusion and
  without in another, so the maximum found in one is missing from the other (tests/compiling.py)."""
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (4, 16, 16, 8))
  scale, shift = jax.random.normal(keys[1], (2, 8))
  weights = jax.random.normal(keys[2], (4, 8, 8, 8))
  loss = lambda pool: lambda v, s: jnp.sum(pool(v * s + shift) * weights)
  gradient = lambda pool: jax.jit(jax.grad(loss(pool), argnums=(0, 1)))(x, scale)
  chex.assert_trees_all_close(gradient(cpu_kernels.max_pool_2x2), gradient(_flax_max_pool), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels', [1, 3])
def test_patch_convolution_matches_xla_values_and_gradients(channels):
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, channels))
  weights = jax.random.normal(jax.random.key(1), (2, 9, 7, 5))
  patched = nn.Conv(5, (3, 3), use_bias=False, conv_general_dilated=cpu_kernels.patch_or_xla_conv)
  plain = nn.Conv(5, (3, 3), use_bias=False)
  variables = plain.init(jax.random.key(2), x)
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(patched.apply)(variables, x))  # conv3x3_few_channels ran
  chex.assert_trees_all_close(patched.apply(variables, x), plain.apply(variables, x), atol=1e-6)
  gradient = lambda conv: jax.grad(lambda v, x: jnp.sum(conv.apply(v, x) * weights), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(gradient(patched), gradient(plain), rtol=1e-5, atol=1e-5)


def test_patch_convolution_in_bfloat16_sums_in_float32():
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, 3)).astype(jnp.bfloat16)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 5)).astype(jnp.bfloat16)
  y = cpu_kernels.conv3x3_few_channels(x, kernel)
  assert y.dtype == jnp.bfloat16
  exact = jax.lax.conv_general_dilated(x.astype(jnp.float32), kernel.astype(jnp.float32), (1, 1), 'SAME',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  # One rounding of the float32 sum to bfloat16 (8 bits of mantissa): within 2^-8 of each value.
  chex.assert_trees_all_close(y.astype(jnp.float32), exact, rtol=2 ** -8, atol=1e-6)


def test_patch_convolution_only_replaces_what_it_computes():
  """More channels, strides or another padding go to XLA's convolution, unchanged."""
  few, many = jnp.ones((1, 8, 8, 3)), jnp.ones((1, 8, 8, 4))
  assert cpu_kernels.conv_for(many) is None
  assert cpu_kernels.conv_for(few) is cpu_kernels.patch_or_xla_conv
  for conv in [nn.Conv(4, (3, 3), strides=2), nn.Conv(4, (3, 3), padding='VALID'), nn.Conv(4, (5, 5))]:
    conv = conv.clone(conv_general_dilated=cpu_kernels.patch_or_xla_conv)
    assert 'conv_general_dilated' in str(jax.make_jaxpr(conv.init)(jax.random.key(0), few))


def _flax_batch_norm(train):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, use_fast_variance=False)


@pytest.mark.parametrize('mean, spread', [(0.0, 1.0), (100.0, 3.0)])
def test_batchnorm_matches_flax_two_pass(mean, spread):
  """Same variables, outputs, running statistics and gradients as nn.BatchNorm's exact two-pass
  variance, also on channels whose mean dwarfs their spread (where E[x^2] - E[x]^2 fails)."""
  x = mean + spread * jax.random.normal(jax.random.key(0), (16, 5, 5, 8))
  weights = jax.random.normal(jax.random.key(1), x.shape)
  # Compiled, as training runs them: one program each rather than an eager compile per operation.
  variables = jax.jit(_flax_batch_norm(True).init)(jax.random.key(2), x)
  chex.assert_trees_all_equal(jax.jit(cpu_kernels.BatchNorm().init)(jax.random.key(2), x), variables)
  ours = lambda v, x: cpu_kernels.BatchNorm().apply(v, x, mutable=['batch_stats'])
  theirs = lambda v, x: _flax_batch_norm(True).apply(v, x, mutable=['batch_stats'])
  chex.assert_trees_all_close(jax.jit(ours)(variables, x), jax.jit(theirs)(variables, x), atol=1e-4, rtol=1e-5)
  gradient = lambda norm: jax.jit(jax.grad(lambda v, x: jnp.sum(norm(v, x)[0] * weights), argnums=(0, 1)))(variables, x)
  chex.assert_trees_all_close(gradient(ours), gradient(theirs), rtol=1e-4, atol=1e-5)


def test_batchnorm_with_relu_max_pool_matches_flax_layers_in_training_and_evaluation():
  """BatchNorm(relu_max_pool=True) against nn.BatchNorm -> nn.relu -> nn.max_pool: outputs, running
  statistics and gradients, with negative and positive scales."""
  x = 3 + jax.random.normal(jax.random.key(0), (4, 6, 6, 8))
  variables = {'params': {'scale': jnp.linspace(-1, 2, 8), 'bias': jnp.linspace(0.5, -0.5, 8)},
               'batch_stats': {'mean': jnp.linspace(2, 4, 8), 'var': jnp.linspace(0.5, 1.5, 8)}}

  def fused(v, train):
    return cpu_kernels.BatchNorm(use_running_average=not train).apply(v, x, relu_max_pool=True, mutable=['batch_stats'])

  def flax_layers(v, train):
    y, stats = _flax_batch_norm(train).apply(v, x, mutable=['batch_stats'])
    return _flax_max_pool(nn.relu(y)), stats

  for train in (True, False):
    chex.assert_trees_all_close(jax.jit(fused, static_argnums=1)(variables, train),
                                jax.jit(flax_layers, static_argnums=1)(variables, train), atol=1e-5)
  weights = jax.random.normal(jax.random.key(2), (4, 3, 3, 8))
  gradient = lambda f: jax.jit(jax.grad(lambda v: jnp.sum(f(v, True)[0] * weights)))(variables)
  chex.assert_trees_all_close(gradient(fused), gradient(flax_layers), atol=1e-5)
  assert 'batch_norm_relu_max_pool' in str(jax.make_jaxpr(lambda v: fused(v, True))(variables))


def _unfused_batch_norm_relu_max_pool(x, scale, bias):
  mean, var = cpu_kernels.batch_moments(x)
  return cpu_kernels.max_pool_2x2(nn.relu((x - mean) * (scale * jax.lax.rsqrt(var + 1e-5)) + bias)), mean, var


def _fused_batch_norm_relu_max_pool(x, scale, bias):
  return cpu_kernels.batch_norm_relu_max_pool(x, scale, bias, 1e-5)


def _pooling_loss(step, shape, channels):
  """sum(step's pooled map, mean and variance times fixed random weights): every output's gradient counts."""
  pooled_shape = (shape[0], shape[1] // 2, shape[2] // 2, channels)
  weights = [jax.random.normal(jax.random.key(k), s) for k, s in enumerate([pooled_shape, (channels,), (channels,)])]
  return lambda *args: sum(jnp.sum(out * w) for out, w in zip(step(*args), weights))


def test_fused_batch_norm_relu_max_pool_matches_the_three_steps():
  # Rounded inputs hold tied maxima; the scales include a negative one (windows' minima become
  # maxima) and zero (every element of a window ties); odd sides leave a row and a column out.
  # Statistics across devices: tests/test_spine_processes.py's pmap run, whose config uses these kernels.
  x = jnp.round(jax.random.normal(jax.random.key(0), (4, 7, 9, 5)) * 4) / 2 + 1
  scale = jnp.array([1.0, -0.5, 2.0, 0.0, 0.7])
  bias = jnp.array([0.1, 0.2, -0.3, 0.5, 0.0])
  fused, unfused = (jax.jit(step)(x, scale, bias) for step in (_fused_batch_norm_relu_max_pool,
                                                                _unfused_batch_norm_relu_max_pool))
  chex.assert_trees_all_close(fused, unfused, atol=1e-6)
  gradients = [jax.jit(jax.grad(_pooling_loss(step, x.shape, 5), argnums=(0, 1, 2)))(x, scale, bias)
               for step in (_fused_batch_norm_relu_max_pool, _unfused_batch_norm_relu_max_pool)]
  chex.assert_trees_all_close(*gradients, atol=2e-5)
