"""The U-Net (nets/segmentation.py) and the segmentation task's metrics."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nets import segmentation


@pytest.mark.parametrize('height,width', [(32, 32), (64, 48)])
def test_unet_gives_logits_for_every_pixel(height, width):
  model = segmentation.UNet(num_classes=5, stage_features=(8, 16, 32), convs_per_stage=1)
  images = jax.random.uniform(jax.random.key(0), (2, height, width, 3))
  variables = model.init(jax.random.key(1), images)
  logits = model.apply(variables, images)
  chex.assert_shape(logits, (2, height, width, 5))
  chex.assert_tree_all_finite(logits)


def test_unet_rejects_an_image_side_the_stages_cannot_halve():
  model = segmentation.UNet(num_classes=2, stage_features=(8, 16, 32))
  with pytest.raises(ValueError, match='divisible by 2'):
    model.init(jax.random.key(0), jnp.zeros((1, 30, 32, 3)))


def _zeroing_skips(calls):
  """An interceptor that counts the U-Net's skip connections and feeds them zeros instead of the encoder's features."""
  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, segmentation.SkipConnection) and context.method_name == '__call__':
      calls.append(context.module.name)
      decoded, encoded = args
      return next_fun(decoded, jnp.zeros_like(encoded))
    return next_fun(*args, **kwargs)
  return interceptor


def test_skip_connections_carry_the_encoder_features_to_the_decoder():
  model = segmentation.UNet(num_classes=3, stage_features=(8, 16, 32), convs_per_stage=1)
  images = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3))
  variables = model.init(jax.random.key(1), images)
  calls = []
  with nn.intercept_methods(_zeroing_skips(calls)):
    without = model.apply(variables, images)
  assert len(calls) == 2  # one per decoder stage: 16x16 and 32x32
  assert float(jnp.abs(model.apply(variables, images) - without).max()) > 1e-3
  # The ablation has none, and fewer parameters (the decoder convolutions see half the depth).
  plain = segmentation.UNet(num_classes=3, stage_features=(8, 16, 32), convs_per_stage=1, skip_connections=False)
  calls.clear()
  with nn.intercept_methods(_zeroing_skips(calls)):
    plain_variables = plain.init(jax.random.key(1), images)
    plain.apply(plain_variables, images)
  assert not calls
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree['params']))
  assert count(plain_variables) < count(variables)


def test_confusion_matrix_and_iou_on_a_constructed_case():
  labels = jnp.array([[0, 0, 1, 1], [0, 2, 2, 255]])
  predicted = jnp.array([[0, 1, 1, 1], [0, 2, 0, 1]])  # the last pixel is ignored
  confusion = segmentation.confusion_matrix(predicted, labels, num_classes=4)
  expected = np.zeros((4, 4))
  expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 2], expected[2, 0] = 2, 1, 2, 1, 1
  chex.assert_trees_all_equal(confusion, jnp.asarray(expected, jnp.float32))
  iou = segmentation.intersection_over_union(confusion)
  # class 0: 2 / (3 + 3 - 2); class 1: 2 / (2 + 3 - 2); class 2: 1 / (2 + 1 - 1); class 3 absent: NaN.
  chex.assert_trees_all_close(iou[:3], jnp.array([0.5, 2 / 3, 0.5]))
  assert np.isnan(iou[3])
