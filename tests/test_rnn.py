"""nets/rnn.py: the scan equals a step-by-step loop of the same cell, and padding changes nothing real."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nets import rnn

BATCH, TIME, IN_FEATURES, FEATURES = 3, 7, 5, 4


def random_inputs(seed=0, time=TIME):
  return jax.random.normal(jax.random.key(seed), (BATCH, time, IN_FEATURES))


@pytest.mark.parametrize('cell', sorted(rnn.CELLS))
@pytest.mark.parametrize('reverse', [False, True])
def test_scan_matches_python_loop(cell, reverse):
  inputs = random_inputs()
  mask = jnp.ones((BATCH, TIME), bool)
  layer = rnn.Recurrence(cell, FEATURES, reverse=reverse)
  variables = layer.init(jax.random.key(1), inputs, mask)
  final, outputs = layer.apply(variables, inputs, mask)

  step = rnn.make_cell(cell, FEATURES)
  cell_variables = {'params': variables['params']['cell']}
  carry = step.initialize_carry(jax.random.key(0), inputs[:, 0].shape)
  loop_outputs = [None] * TIME
  for t in (reversed(range(TIME)) if reverse else range(TIME)):
    carry, loop_outputs[t] = step.apply(cell_variables, carry, inputs[:, t])
  chex.assert_trees_all_close(final, carry, atol=1e-5)
  chex.assert_trees_all_close(outputs, jnp.stack(loop_outputs, axis=1), atol=1e-5)
  chex.assert_shape(outputs, (BATCH, TIME, FEATURES))


# The masking is the same code for every cell; these two cover a tuple carry (c, h) and a plain one.
@pytest.mark.parametrize('cell', ['lstm', 'gru'])
def test_padding_does_not_change_the_real_part(cell):
  """Each row alone and unpadded gives what it gives inside a padded batch, in every layer and direction."""
  lengths = np.array([TIME, 4, 1])
  inputs = random_inputs()
  mask = jnp.arange(TIME)[None, :] < lengths[:, None]
  # Garbage in the padding must not leak into the real steps.
  inputs = jnp.where(mask[..., None], inputs, 1e3)
  encoder = rnn.RNNEncoder(cell, FEATURES, num_layers=2, bidirectional=True)
  variables = jax.jit(encoder.init)(jax.random.key(2), inputs, mask)
  apply = jax.jit(encoder.apply)  # one compile per shape instead of one per scan
  outputs, finals = apply(variables, inputs, mask)
  chex.assert_shape(outputs, (BATCH, TIME, 2 * FEATURES))
  chex.assert_tree_all_finite(outputs)
  for row, length in enumerate(lengths):
    if length == TIME:
      continue  # a full row has no padding to test
    alone = inputs[row:row + 1, :length]
    row_outputs, row_finals = apply(variables, alone, jnp.ones((1, length), bool))
    chex.assert_trees_all_close(outputs[row:row + 1, :length], row_outputs, atol=1e-5)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[row:row + 1], finals), row_finals, atol=1e-5)
    np.testing.assert_array_equal(outputs[row, length:], 0)


@pytest.mark.parametrize('cell', ['lstm', 'gru'])
def test_time_major_is_the_same_recurrence_transposed(cell):
  lengths = np.array([TIME, 4, 1])
  inputs = random_inputs()
  mask = jnp.arange(TIME)[None, :] < lengths[:, None]
  batch_major = rnn.RNNEncoder(cell, FEATURES, num_layers=2, bidirectional=True)
  time_major = batch_major.clone(time_major=True)
  variables = jax.jit(batch_major.init)(jax.random.key(2), inputs, mask)
  outputs, finals = jax.jit(batch_major.apply)(variables, inputs, mask)
  outputs_t, finals_t = jax.jit(time_major.apply)(variables, inputs.swapaxes(0, 1), mask.T)  # the same parameters
  chex.assert_shape(outputs_t, (TIME, BATCH, 2 * FEATURES))
  chex.assert_trees_all_close(outputs_t.swapaxes(0, 1), outputs, atol=1e-6)
  chex.assert_trees_all_close(finals_t, finals, atol=1e-6)


def test_state_is_carried_between_steps():
  """The output at a step depends on earlier inputs (a cell without memory would fail this)."""
  inputs = random_inputs()
  mask = jnp.ones((BATCH, TIME), bool)
  layer = rnn.Recurrence('gru', FEATURES)
  variables = layer.init(jax.random.key(1), inputs, mask)
  _, outputs = layer.apply(variables, inputs, mask)
  _, changed = layer.apply(variables, inputs.at[:, 0].add(1.0), mask)
  assert np.abs(outputs[:, -1] - changed[:, -1]).max() > 1e-4


@pytest.mark.parametrize('pooling', rnn.POOLINGS)
def test_text_classifier_ignores_padding(pooling):
  """Padding changes no logit, and a text without tokens (a padded row of an eval batch) gets the bias alone."""
  lengths = np.array([TIME, 3, 5, 0])
  ids = jax.random.randint(jax.random.key(3), (len(lengths), TIME), 2, 50)
  mask = jnp.arange(TIME)[None, :] < lengths[:, None]
  model = rnn.TextClassifier(vocab_size=50, num_classes=3, embed_dim=8, cell='lstm', features=FEATURES,
                             bidirectional=True, pooling=pooling)
  variables = jax.jit(model.init)(jax.random.key(4), ids, mask)
  apply = jax.jit(model.apply)  # compiled once for both calls
  logits = apply(variables, ids, mask)
  chex.assert_shape(logits, (len(lengths), 3))
  repadded = apply(variables, jnp.where(mask, ids, 7), mask)
  chex.assert_trees_all_close(logits, repadded, atol=1e-5)
  chex.assert_trees_all_close(logits[-1], variables['params']['classifier']['bias'])


@pytest.mark.parametrize('pool', [rnn.masked_mean, rnn.masked_max])
def test_pooling_over_no_real_step_is_zero_and_so_is_its_gradient(pool):
  inputs = random_inputs()
  mask = jnp.arange(TIME)[None, :] < np.array([TIME, 2, 0])[:, None]
  pooled, pullback = jax.vjp(lambda x: pool(x, mask), inputs)
  (gradient,) = pullback(jnp.ones_like(pooled))
  np.testing.assert_array_equal(pooled[2], 0)
  chex.assert_trees_all_close(pooled[1], pool(inputs[1:2, :2], mask[1:2, :2])[0])  # the padding left out
  chex.assert_tree_all_finite(gradient)
  np.testing.assert_array_equal(gradient[1, 2:], 0)
  np.testing.assert_array_equal(gradient[2], 0)


def test_bag_of_words_is_order_blind_and_forecaster_shape():
  ids = jax.random.randint(jax.random.key(5), (BATCH, TIME), 2, 50)
  mask = jnp.ones((BATCH, TIME), bool)
  bow = rnn.BagOfWordsClassifier(vocab_size=50, num_classes=2, embed_dim=8)
  variables = jax.jit(bow.init)(jax.random.key(6), ids, mask)
  apply = jax.jit(bow.apply)
  chex.assert_trees_all_close(apply(variables, ids, mask), apply(variables, ids[:, ::-1], mask), atol=1e-5)

  forecaster = rnn.Forecaster(horizon=6, cell='elman', features=FEATURES)
  window = random_inputs()
  variables = jax.jit(forecaster.init)(jax.random.key(7), window)
  chex.assert_shape(jax.jit(forecaster.apply)(variables, window), (BATCH, 6))
