"""Recurrent networks, in the order a text classifier uses them: embed the tokens, recur over them, pool, classify.

  TextClassifier        token ids -> embedding -> RNNEncoder -> pooling -> class logits
  BagOfWordsClassifier  the order-blind baseline: the mean word embedding -> MLP -> class logits
  Forecaster            a window of a series -> RNNEncoder -> the next values
  Seq2Seq               (nets/seq2seq.py) source ids -> RNNEncoder -> an attending RNN decoder -> target logits

Recur. A recurrent cell (Elman's, or Flax's LSTM and GRU) is one function applied at every time
step with the same parameters: it reads the step's input and the hidden state carried from the
previous step and returns the new state and the step's output. `Recurrence` scans a cell over the
time axis with `nn.scan` (so it compiles to one loop, not T copies of the cell). Sequences in a
batch have different lengths and are padded at the end; a boolean `mask` [batch, time] marks the
real steps, and on padded steps the state is not updated and the output is zero, so the final
state is the state after each sequence's own last token. A backward recurrence scans from the
end: the padding comes first, leaves the initial state untouched, and the real tokens are then
read from last to first.

  encoder = RNNEncoder(cell='lstm', features=256, num_layers=2, bidirectional=True)
  outputs, final_states = encoder.apply(variables, embedded, mask)
  outputs          # [batch, time, 2 * 256]: every step's output of the top layer
  final_states     # one carry per layer and direction, e.g. final_states[-1] = top backward (c, h)

With `time_major=True` the inputs, mask and outputs are [time, batch, ...]: the scan then slices
them as they lie, where batch-major arrays are transposed on the way in and out (and their
gradients on the way back). `TextClassifier` embeds the transposed token ids, so its LSTM runs
time-major without transposing anything large, which makes its training steps faster on CPU
(bench/README_rnn.md).

Pool. 'final' takes the last state of each direction, 'mean' and 'max' reduce the outputs over
the real steps. A sequence without any real step (a padded row of an evaluation batch) pools to
zeros under each of them, so its logits are the classifier's bias: finite, as are the gradients.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class ElmanCell(nn.RNNCellBase):
  """The simple recurrent cell of Elman (1990): h' = tanh(W_x x + W_h h + b)."""
  features: int
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry, inputs):
    from_input = nn.Dense(self.features, dtype=self.dtype, param_dtype=self.param_dtype, name='input')(inputs)
    # Orthogonal recurrent weights keep the state's norm from exploding or vanishing at the start.
    from_state = nn.Dense(self.features, use_bias=False, kernel_init=nn.initializers.orthogonal(),
                          dtype=self.dtype, param_dtype=self.param_dtype, name='recurrent')(carry)
    hidden = jnp.tanh(from_input + from_state)
    return hidden, hidden

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    del rng  # the initial state is zeros, as for Flax's cells
    return jnp.zeros(input_shape[:-1] + (self.features,), self.param_dtype)

  @property
  def num_feature_axes(self) -> int:
    return 1


# OptimizedLSTMCell is Flax's LSTM with the four gates' matrices fused into one product per input.
CELLS = {'elman': ElmanCell, 'lstm': nn.OptimizedLSTMCell, 'gru': nn.GRUCell}


def make_cell(cell: str, features: int, dtype: Any = None, name: str | None = None) -> nn.RNNCellBase:
  if cell not in CELLS:
    raise ValueError(f'unknown cell {cell!r}; choose one of {sorted(CELLS)}')
  return CELLS[cell](features, dtype=dtype, name=name)


def hidden_of(carry) -> jax.Array:
  """The hidden state h of a carry: an LSTM carries (c, h), the Elman and GRU cells carry h itself."""
  return carry[1] if isinstance(carry, tuple) else carry


def _masked_step(cell: nn.RNNCellBase, carry, step_inputs):
  """One time step that leaves the carry unchanged, and outputs zeros, where the sequence has ended."""
  inputs, mask = step_inputs
  new_carry, outputs = cell(carry, inputs)
  keep = lambda new, old: jnp.where(mask[:, None], new, old)
  return jax.tree.map(keep, new_carry, carry), jnp.where(mask[:, None], outputs, 0)


class Recurrence(nn.Module):
  """One cell scanned over time, forward or backward; parameters are shared by every step."""
  cell: str = 'lstm'
  features: int = 128
  reverse: bool = False
  unroll: int = 1  # steps per loop iteration; larger trades compile time for (maybe) speed
  dtype: Any = None
  time_major: bool = False

  @nn.compact
  def __call__(self, inputs, mask):
    """inputs [batch, time, in], mask [batch, time] bool -> (final carry, outputs [batch, time, features]);
    time first in all three if time_major."""
    time_axis = 0 if self.time_major else 1
    cell = make_cell(self.cell, self.features, self.dtype, name='cell')
    initial_carry = cell.initialize_carry(jax.random.key(0), jnp.take(inputs, 0, axis=time_axis).shape)
    scan = nn.scan(_masked_step, variable_broadcast='params', split_rngs={'params': False},
                   in_axes=time_axis, out_axes=time_axis, reverse=self.reverse, unroll=self.unroll)
    return scan(cell, initial_carry, (inputs, mask))


class RNNEncoder(nn.Module):
  """Stacked (optionally bidirectional) recurrences; each layer reads the one below's outputs."""
  cell: str = 'lstm'
  features: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  dropout_rate: float = 0.0  # between layers, as in Zaremba et al. (2014)
  unroll: int = 1
  dtype: Any = None
  time_major: bool = False  # inputs, mask and outputs [time, batch, ...]

  @nn.compact
  def __call__(self, inputs, mask, train: bool = False):
    """-> (top layer's outputs [batch, time, features * directions], final carries per layer and direction)."""
    directions = (False, True) if self.bidirectional else (False,)
    x, final_states = inputs, []
    for layer in range(self.num_layers):
      if layer:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      outputs = []
      for reverse in directions:
        name = f'layer{layer}_{"backward" if reverse else "forward"}'
        carry, y = Recurrence(self.cell, self.features, reverse, self.unroll, self.dtype, self.time_major,
                              name=name)(x, mask)
        final_states.append(carry)
        outputs.append(y)
      x = jnp.concatenate(outputs, axis=-1)
    return x, final_states


def masked_mean(x, mask, time_axis: int = 1):
  """Mean over the real time steps: x [batch, time, f], mask [batch, time] -> [batch, f]; 0 without any."""
  real = mask[..., None]
  return jnp.where(real, x, 0).sum(axis=time_axis) / jnp.maximum(real.sum(axis=time_axis), 1).astype(x.dtype)


def masked_max(x, mask, time_axis: int = 1):
  """Max over the real time steps: x [batch, time, f], mask [batch, time] -> [batch, f]; 0 without any.

  A max over no step is -inf, which the classifier would turn into inf or NaN logits. The -inf
  is selected away, not masked by arithmetic, so no NaN reaches the gradients either.
  """
  real = mask[..., None]
  pooled = jnp.where(real, x, -jnp.inf).max(axis=time_axis)
  return jnp.where(real.any(axis=time_axis), pooled, 0)


POOLINGS = ('final', 'mean', 'max')


class TextClassifier(nn.Module):
  """Token ids -> embedding -> RNN encoder -> pooled or final states -> class logits.

  pooling='final' concatenates the top layer's final hidden state of each direction: the forward
  state after the last real token and the backward state after the first.
  """
  vocab_size: int
  num_classes: int
  embed_dim: int = 128
  cell: str = 'lstm'
  features: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  pooling: str = 'final'
  dropout_rate: float = 0.0
  unroll: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids, mask, train: bool = False):
    """ids, mask [batch, time] -> logits [batch, classes]; the recurrence runs time-major."""
    ids, mask = ids.T, mask.T  # int and bool: small to transpose, unlike the embeddings
    embedded = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, name='embedding')(ids)
    embedded = nn.Dropout(self.dropout_rate, deterministic=not train)(embedded)
    outputs, final_states = RNNEncoder(self.cell, self.features, self.num_layers, self.bidirectional,
                                       self.dropout_rate, self.unroll, self.dtype, time_major=True,
                                       name='encoder')(embedded, mask, train)
    pooled = self.pool(outputs, final_states, mask)
    pooled = nn.Dropout(self.dropout_rate, deterministic=not train)(pooled)
    return nn.Dense(self.num_classes, dtype=jnp.float32, name='classifier')(pooled)

  @nn.nowrap
  def pool(self, outputs, final_states, mask):
    """The encoder's time-major outputs and final states -> one vector per sequence [batch, f]."""
    if self.pooling == 'final':
      top_layer = final_states[-(2 if self.bidirectional else 1):]
      return jnp.concatenate([hidden_of(carry) for carry in top_layer], axis=-1)
    if self.pooling == 'mean':
      return masked_mean(outputs, mask, time_axis=0)
    if self.pooling == 'max':
      return masked_max(outputs, mask, time_axis=0)
    raise ValueError(f'unknown pooling {self.pooling!r}; choose one of {POOLINGS}')


class BagOfWordsClassifier(nn.Module):
  """The order-blind baseline: the mean of the word embeddings through an MLP (Iyyer et al. 2015, DAN)."""
  vocab_size: int
  num_classes: int
  embed_dim: int = 128
  hidden: Sequence[int] = (128,)
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids, mask, train: bool = False):
    x = masked_mean(nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, name='embedding')(ids), mask)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, dtype=self.dtype)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=jnp.float32, name='classifier')(x)


class Forecaster(nn.Module):
  """A window of past values and features [batch, time, f] -> the next `horizon` values [batch, horizon]."""
  horizon: int = 1
  cell: str = 'lstm'
  features: int = 64
  num_layers: int = 1
  dropout_rate: float = 0.0
  unroll: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, window, train: bool = False):
    mask = jnp.ones(window.shape[:2], bool)  # windows are never padded
    _, final_states = RNNEncoder(self.cell, self.features, self.num_layers, False, self.dropout_rate,
                                 self.unroll, self.dtype, name='encoder')(window.astype(self.dtype), mask, train)
    return nn.Dense(self.horizon, dtype=jnp.float32, name='head')(hidden_of(final_states[-1]))


MODELS = {'rnn': TextClassifier, 'bag_of_words': BagOfWordsClassifier}
