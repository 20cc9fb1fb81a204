"""Shapes, dtypes and compiled-vs-eager agreement of the image classifiers in nets/cnn.py."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from nets import cnn

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
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(patched.apply)(variables, x))  # the matmul path ran
  chex.assert_trees_all_close(patched.apply(variables, x), plain.apply(variables, x), atol=1e-6)
  gradient = lambda conv: jax.grad(lambda v, x: jnp.sum(conv.apply(v, x) * weights), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(gradient(patched), gradient(plain), rtol=1e-5, atol=1e-5)


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
