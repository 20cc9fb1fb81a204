"""Shapes, dtypes and compiled-vs-eager agreement of the image classifiers in nets/cnn.py."""

import chex
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
  variables = jax.jit(model.init)(jax.random.key(0), IMAGES)
  logits = jax.jit(model.apply)(variables, IMAGES)
  chex.assert_shape(logits, (2, 5))
  chex.assert_type(logits, jnp.float32)
  chex.assert_tree_all_finite(logits)


def test_convnet_filters_span_input_depth_and_stages_shrink():
  model = cnn.ConvNet(num_classes=3, stage_features=(8, 16, 32), convs_per_stage=1)
  variables = jax.jit(model.init)(jax.random.key(0), IMAGES)
  chex.assert_shape(variables['params']['Conv_0']['kernel'], (3, 3, 3, 8))  # 3x3 over RGB depth
  _, state = jax.jit(lambda v: model.apply(v, IMAGES, mutable=['intermediates']))(variables)
  stages = state['intermediates']
  chex.assert_shape([stages[f'stage{i}'][0] for i in range(3)],
                    [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)])


@pytest.mark.parametrize('cpu_kernels', [False, True])
def test_bfloat16_compute_keeps_float32_params(cpu_kernels):
  model = cnn.ConvNet(num_classes=4, stage_features=(8,), dtype=jnp.bfloat16, cpu_kernels=cpu_kernels)
  variables = jax.jit(model.init)(jax.random.key(0), IMAGES)
  chex.assert_trees_all_equal_dtypes(variables['params'], jax.tree.map(jnp.float32, variables['params']))
  _, state = jax.jit(lambda v: model.apply(v, IMAGES, mutable=['intermediates']))(variables)
  assert state['intermediates']['stage0'][0].dtype == jnp.bfloat16
  assert jax.jit(model.apply)(variables, IMAGES).dtype == jnp.float32

  def loss(params):  # training, in bfloat16 activations (with cpu_kernels on CPU: the fused BatchNorm step)
    logits, _ = model.apply(dict(variables, params=params), IMAGES, train=True, mutable=['batch_stats'])
    return logits.sum()

  gradients = jax.jit(jax.grad(loss))(variables['params'])
  chex.assert_trees_all_equal_dtypes(gradients, variables['params'])
  chex.assert_tree_all_finite(gradients)


def test_batchnorm_updates_statistics_only_in_training():
  model = cnn.ResNet(num_classes=3, blocks_per_stage=(1,), stage_features=(8,))
  variables = jax.jit(model.init)(jax.random.key(0), IMAGES)
  apply = jax.jit(lambda v, train: model.apply(v, IMAGES, train=train, mutable=['batch_stats']), static_argnums=1)
  _, updated = apply(variables, True)
  with pytest.raises(AssertionError):
    chex.assert_trees_all_close(updated['batch_stats'], variables['batch_stats'])
  _, unchanged = apply(variables, False)
  chex.assert_trees_all_close(unchanged['batch_stats'], variables['batch_stats'])


class CompiledMatchesEagerTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_convnet(self):
    model = cnn.ConvNet(num_classes=4, stage_features=(8, 16))
    variables = jax.jit(model.init)(jax.random.key(1), IMAGES)
    logits = self.variant(lambda v, x: model.apply(v, x))(variables, IMAGES)
    chex.assert_trees_all_close(logits, model.apply(variables, IMAGES), atol=1e-5)


SWITCHED_MODELS = [
    cnn.ConvNet(num_classes=4, stage_features=(8, 16), convs_per_stage=2, head=(16,)),
    cnn.ConvNet(num_classes=4, stage_features=(8,), norm='layer', head=(16,)),
    cnn.ResNet(num_classes=4, blocks_per_stage=(1, 1), stage_features=(8, 16)),
]


@pytest.mark.xla_optimised  # tests/compiling.py says why
@pytest.mark.parametrize('standard', SWITCHED_MODELS)
def test_cpu_kernels_switch_keeps_variables_outputs_and_gradients(standard):
  """cpu_kernels=True is the same network: the same variables (a checkpoint loads either way), and
  the same logits, running statistics and gradients to float rounding, in training and evaluation."""
  fast = standard.clone(cpu_kernels=True)
  images = jax.random.normal(jax.random.key(0), (4, 12, 12, 3))
  key = jax.random.key(1, impl='rbg')  # initialises in a fraction of a threefry key's time, as the trainer's does
  variables = jax.jit(standard.init)(key, images)
  chex.assert_trees_all_equal(jax.jit(fast.init)(key, images), variables)

  def gradients_and_outputs(model, train):
    def loss(params):
      logits, state = model.apply(dict(variables, params=params), images, train=train, mutable=['batch_stats'])
      return jnp.sum(logits * jnp.linspace(-1, 1, 4)), (logits, state)
    return jax.jit(jax.grad(loss, has_aux=True))(variables['params'])

  for train in (False, True):
    chex.assert_trees_all_close(gradients_and_outputs(fast, train), gradients_and_outputs(standard, train),
                                atol=1e-5, rtol=1e-4)


def test_cpu_kernels_only_on_cpu():
  """The switch puts nets/cpu_kernels.py's kernels into the program on CPU alone; off, never."""
  model = cnn.ConvNet(num_classes=4, stage_features=(8,))
  variables = jax.jit(model.init)(jax.random.key(0), IMAGES)
  program = lambda m: str(jax.make_jaxpr(lambda v: m.apply(v, IMAGES, train=True, mutable=['batch_stats']))(variables))
  on_cpu = jax.default_backend() == 'cpu'
  assert ('batch_norm_relu_max_pool' in program(model.clone(cpu_kernels=True))) == on_cpu
  assert ('conv3x3_few_channels' in program(model.clone(cpu_kernels=True))) == on_cpu
  assert 'custom_vjp' not in program(model)
