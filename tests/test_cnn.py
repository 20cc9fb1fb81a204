"""Shapes, dtypes and compiled-vs-eager agreement of the image classifiers in nets/cnn.py."""

import subprocess
import sys
import textwrap

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from nets import cnn
from tests import spine_runs

IMAGES = jnp.linspace(0.0, 1.0, 2 * 32 * 32 * 3).reshape((2, 32, 32, 3))


@pytest.mark.parametrize('model', [
    cnn.ConvNet(num_classes=5, stage_features=(8, 16), head=(32,)),
    cnn.ConvNet(num_classes=5, stage_features=(8,), norm='layer', dropout_rate=0.5, global_pool=True),
    cnn.MLP(num_classes=5, hidden=(32,)),
    cnn.ResNet(num_classes=5, blocks_per_stage=(1, 1), stage_features=(8, 16)),
])
def test_logits_shape_dtype_and_finite(model):
  variables = model.init(jax.random.key(0), IMAGES)
  logits = model.apply(variables, IMAGES)
  chex.assert_shape(logits, (2, 5))
  chex.assert_type(logits, jnp.float32)
  chex.assert_tree_all_finite(logits)


def test_convnet_filters_span_input_depth_and_stages_shrink():
  model = cnn.ConvNet(num_classes=3, stage_features=(8, 16, 32), convs_per_stage=1)
  variables = model.init(jax.random.key(0), IMAGES)
  chex.assert_shape(variables['params']['Conv_0']['kernel'], (3, 3, 3, 8))  # 3x3 over RGB depth
  _, state = model.apply(variables, IMAGES, mutable=['intermediates'])
  stages = state['intermediates']
  chex.assert_shape([stages[f'stage{i}'][0] for i in range(3)],
                    [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)])


def test_bfloat16_compute_keeps_float32_params():
  model = cnn.ConvNet(num_classes=4, stage_features=(8,), dtype=jnp.bfloat16)
  variables = model.init(jax.random.key(0), IMAGES)
  chex.assert_trees_all_equal_dtypes(variables['params'], jax.tree.map(jnp.float32, variables['params']))
  _, state = model.apply(variables, IMAGES, mutable=['intermediates'])
  assert state['intermediates']['stage0'][0].dtype == jnp.bfloat16
  assert model.apply(variables, IMAGES).dtype == jnp.float32

  def loss(params):  # training: the fused BatchNorm -> ReLU -> pool step on CPU, in bfloat16 activations
    logits, _ = model.apply(dict(variables, params=params), IMAGES, train=True, mutable=['batch_stats'])
    return logits.sum()

  gradients = jax.grad(loss)(variables['params'])
  chex.assert_trees_all_equal_dtypes(gradients, variables['params'])
  chex.assert_tree_all_finite(gradients)


def test_batchnorm_updates_statistics_only_in_training():
  model = cnn.ResNet(num_classes=3, blocks_per_stage=(1,), stage_features=(8,))
  variables = model.init(jax.random.key(0), IMAGES)
  _, updated = model.apply(variables, IMAGES, train=True, mutable=['batch_stats'])
  with pytest.raises(AssertionError):
    chex.assert_trees_all_close(updated['batch_stats'], variables['batch_stats'])
  _, unchanged = model.apply(variables, IMAGES, train=False, mutable=['batch_stats'])
  chex.assert_trees_all_close(unchanged['batch_stats'], variables['batch_stats'])


class CompiledMatchesEagerTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_convnet(self):
    model = cnn.ConvNet(num_classes=4, stage_features=(8, 16))
    variables = model.init(jax.random.key(1), IMAGES)
    logits = self.variant(lambda v, x: model.apply(v, x))(variables, IMAGES)
    chex.assert_trees_all_close(logits, model.apply(variables, IMAGES), atol=1e-5)


@pytest.mark.parametrize('shape', [(2, 8, 8, 3), (1, 7, 9, 2)])
def test_fast_max_pool_matches_flax_values_and_gradients_including_ties(shape):
  # Rounded values make many windows hold the same maximum twice: the gradient must pick the same one.
  x = jnp.round(jax.random.normal(jax.random.key(0), shape) * 2) / 2
  weights = jax.random.normal(jax.random.key(1), (shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
  flax_pool = lambda v: nn.max_pool(v, (2, 2), strides=(2, 2))
  chex.assert_trees_all_equal(cnn.max_pool_2x2(x), flax_pool(x))
  gradient = lambda pool: jax.grad(lambda v: jnp.sum(pool(v) * weights))(x)
  chex.assert_trees_all_equal(gradient(cnn.max_pool_2x2), gradient(flax_pool))


@pytest.mark.parametrize('channels', [1, 3])
def test_patch_convolution_matches_xla_values_and_gradients(channels):
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, channels))
  weights = jax.random.normal(jax.random.key(1), (2, 9, 7, 5))
  patched = nn.Conv(5, (3, 3), use_bias=False, conv_general_dilated=cnn.patch_or_xla_conv)
  plain = nn.Conv(5, (3, 3), use_bias=False)
  variables = plain.init(jax.random.key(2), x)
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(patched.apply)(variables, x))  # conv3x3_few_channels ran
  chex.assert_trees_all_close(patched.apply(variables, x), plain.apply(variables, x), atol=1e-6)
  gradient = lambda conv: jax.grad(lambda v, x: jnp.sum(conv.apply(v, x) * weights), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(gradient(patched), gradient(plain), rtol=1e-5, atol=1e-5)


def test_patch_convolution_in_bfloat16_sums_in_float32():
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, 3)).astype(jnp.bfloat16)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 5)).astype(jnp.bfloat16)
  y = cnn.conv3x3_few_channels(x, kernel)
  assert y.dtype == jnp.bfloat16
  exact = jax.lax.conv_general_dilated(x.astype(jnp.float32), kernel.astype(jnp.float32), (1, 1), 'SAME',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  # One rounding of the float32 sum to bfloat16 (8 bits of mantissa): within 2^-8 of each value.
  chex.assert_trees_all_close(y.astype(jnp.float32), exact, rtol=2 ** -8, atol=1e-6)


def test_patch_convolution_only_replaces_what_it_computes():
  """More channels, strides or another padding, or another backend, go to XLA's convolution, unchanged."""
  few, many = jnp.ones((1, 8, 8, 3)), jnp.ones((1, 8, 8, 4))
  assert cnn.conv_for(many) is None
  assert cnn.conv_for(few) is (cnn.patch_or_xla_conv if jax.default_backend() == 'cpu' else None)
  for conv in [nn.Conv(4, (3, 3), strides=2), nn.Conv(4, (3, 3), padding='VALID'), nn.Conv(4, (5, 5))]:
    conv = conv.clone(conv_general_dilated=cnn.patch_or_xla_conv)
    assert 'conv_general_dilated' in str(jax.make_jaxpr(conv.init)(jax.random.key(0), few))


@pytest.mark.parametrize('mean, spread', [(0.0, 1.0), (100.0, 3.0)])
def test_one_pass_batchnorm_matches_flax_two_pass(mean, spread):
  """Same variables, outputs, running statistics and gradients as nn.BatchNorm's exact two-pass
  variance, also on channels whose mean dwarfs their spread (where E[x^2] - E[x]^2 fails)."""
  x = mean + spread * jax.random.normal(jax.random.key(0), (16, 5, 5, 8))
  weights = jax.random.normal(jax.random.key(1), x.shape)
  flax_norm = nn.BatchNorm(use_running_average=False, momentum=0.9, use_fast_variance=False)
  variables = flax_norm.init(jax.random.key(2), x)
  chex.assert_trees_all_equal_shapes(cnn.BatchNorm().init(jax.random.key(2), x, use_running_average=False), variables)
  ours = lambda v, x: cnn.BatchNorm().apply(v, x, use_running_average=False, mutable=['batch_stats'])
  theirs = lambda v, x: flax_norm.apply(v, x, mutable=['batch_stats'])
  chex.assert_trees_all_close(ours(variables, x), theirs(variables, x), atol=1e-4, rtol=1e-5)
  gradient = lambda norm: jax.grad(lambda v, x: jnp.sum(norm(v, x)[0] * weights), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(gradient(ours), gradient(theirs), rtol=1e-4, atol=1e-5)


def _unfused_batch_norm_relu_max_pool(x, scale, bias, axis_name=None):
  mean, var = cnn.batch_moments(x, axis_name)
  return cnn.max_pool_2x2(nn.relu((x - mean) * (scale * jax.lax.rsqrt(var + 1e-5)) + bias)), mean, var


def _fused_batch_norm_relu_max_pool(x, scale, bias, axis_name=None):
  return cnn.batch_norm_relu_max_pool(x, scale, bias, 1e-5, axis_name)


def _pooling_loss(step, shape, channels):
  """sum(step's pooled map, mean and variance times fixed random weights): every output's gradient counts."""
  pooled_shape = (shape[0], shape[1] // 2, shape[2] // 2, channels)
  weights = [jax.random.normal(jax.random.key(k), s) for k, s in enumerate([pooled_shape, (channels,), (channels,)])]
  return lambda *args: sum(jnp.sum(out * w) for out, w in zip(step(*args), weights))


@pytest.mark.parametrize('shape', [(8, 10, 12), (4, 7, 9)])
def test_fused_batch_norm_relu_max_pool_matches_the_three_steps(shape):
  # Rounded inputs hold tied maxima; the scales include a negative one (windows' minima become
  # maxima) and zero (every element of a window ties).
  x = jnp.round(jax.random.normal(jax.random.key(0), shape + (5,)) * 4) / 2 + 1
  scale = jnp.array([1.0, -0.5, 2.0, 0.0, 0.7])
  bias = jnp.array([0.1, 0.2, -0.3, 0.5, 0.0])
  fused, unfused = _fused_batch_norm_relu_max_pool(x, scale, bias), _unfused_batch_norm_relu_max_pool(x, scale, bias)
  chex.assert_trees_all_close(fused, unfused, atol=1e-6)
  gradients = [jax.grad(_pooling_loss(step, x.shape, 5), argnums=(0, 1, 2))(x, scale, bias)
               for step in (_fused_batch_norm_relu_max_pool, _unfused_batch_norm_relu_max_pool)]
  chex.assert_trees_all_close(*gradients, atol=2e-5)


def test_batchnorm_with_relu_max_pool_matches_the_three_steps_in_training_and_evaluation():
  x = 3 + jax.random.normal(jax.random.key(0), (4, 6, 6, 8))
  norm = cnn.BatchNorm()
  variables = norm.init(jax.random.key(1), x, use_running_average=False)
  variables = {'params': {'scale': jnp.linspace(-1, 2, 8), 'bias': jnp.linspace(0.5, -0.5, 8)},
               'batch_stats': variables['batch_stats']}

  def fused(v, train):
    return norm.apply(v, x, not train, relu_max_pool=True, mutable=['batch_stats'])

  def three_steps(v, train):
    y, stats = norm.apply(v, x, not train, mutable=['batch_stats'])
    return cnn.max_pool_2x2(nn.relu(y)), stats

  for train in (True, False):
    chex.assert_trees_all_close(fused(variables, train), three_steps(variables, train), atol=1e-6)
  weights = jax.random.normal(jax.random.key(2), (4, 3, 3, 8))
  gradient = lambda f: jax.grad(lambda v: jnp.sum(f(v, True)[0] * weights))(variables)
  chex.assert_trees_all_close(gradient(fused), gradient(three_steps), atol=1e-5)
  jaxpr = str(jax.make_jaxpr(lambda v: fused(v, True))(variables))
  assert ('batch_norm_relu_max_pool' in jaxpr) == (jax.default_backend() == 'cpu')


def test_fused_batch_norm_relu_max_pool_under_pmap_spans_the_whole_batch():
  """On 4 simulated devices, each holding a quarter of the batch, the statistics and every
  gradient are those of the whole batch on one device (a fresh process: the device count is
  fixed when JAX starts)."""
  script = textwrap.dedent('''
      import chex, jax, jax.numpy as jnp
      from tests import test_cnn
      x = jax.random.normal(jax.random.key(0), (8, 6, 10, 5)) + 2
      scale, bias = jnp.linspace(-1, 1, 5), jnp.linspace(0, 0.5, 5)
      whole = jax.grad(test_cnn._pooling_loss(test_cnn._unfused_batch_norm_relu_max_pool, x.shape, 5),
                       argnums=(0, 1, 2))(x, scale, bias)

      def on_devices(x, scale, bias):
        shards = jax.pmap(lambda s: test_cnn._fused_batch_norm_relu_max_pool(s, scale, bias, 'devices'),
                          axis_name='devices')(x.reshape(4, 2, *x.shape[1:]))
        pooled, mean, var = shards
        return pooled.reshape(8, *pooled.shape[2:]), mean[0], var[0]

      sharded = jax.grad(test_cnn._pooling_loss(on_devices, x.shape, 5), argnums=(0, 1, 2))(x, scale, bias)
      chex.assert_trees_all_close(sharded, whole, atol=2e-5)
      print('same gradients on', jax.device_count(), 'devices')
  ''')
  result = subprocess.run([sys.executable, '-c', script], cwd=spine_runs.ROOT, env=spine_runs.environment(4),
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  assert 'same gradients on 4 devices' in result.stdout
