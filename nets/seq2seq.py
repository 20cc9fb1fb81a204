"""The encoder-decoder RNN of machine translation and chatbots: read one sentence, write another.

Encode. An RNN encoder (nets.rnn.RNNEncoder) reads the embedded source sentence. Its outputs, one
vector per source position, are the memory [batch, source, features]; a bidirectional encoder
gives each direction half the features, so every position's vector has read the whole sentence.
A Dense bridge (with tanh) turns the encoder's final states into the decoder's initial states,
layer by layer.

Decode. The decoder is a second RNN that writes the target one token at a time, each step
reading the previous token (BOS first) and predicting the next. In training it reads the
reference's tokens (teacher forcing): `target_in` is BOS followed by the reference without its
last token, and the logits at step t score the reference's token t. At inference it reads its
own choices (nets/decoding.py: greedy, sampling, beam search).

Attend. With attention='none' (Sutskever et al. 2014) the final state is all the decoder ever
learns of the source: one fixed-size vector for a sentence of any length. Attention lets every
step look back at the memory: scores against each source position, a softmax over the real
positions (padding gets weight exactly 0) and the context, the memory averaged with those
weights.
  'bahdanau'       (Bahdanau et al. 2015, additive) score(s_{t-1}, h_j) = v^T tanh(W s_{t-1} + U h_j):
                   the previous decoder state asks where to look, and the context is part of the
                   step's input; the word is predicted from [s_t; c_t; the previous word's embedding].
  'luong_dot'      (Luong et al. 2015) score(h_t, h_j) = h_t . h_j, after the cell's step;
  'luong_general'  score(h_t, h_j) = h_t^T W h_j. Both predict the word from the attentional state
                   tanh(W_c [c_t; h_t]), which is also fed to the next step's input (input feeding),
                   so the decoder knows where it looked before.
U h_j and W h_j do not depend on the decoder's step, so `encode` computes them once per sentence.

The decoder's step is one module, `DecoderStep`: `__call__` scans it over the target with
`nn.scan`, `decode_step` calls it once, so training and decoding share the same parameters and
the same code.

  model = Seq2Seq(source_vocab_size=8000, target_vocab_size=8000, attention='luong_general')
  variables = model.init(key, source_ids, source_mask, target_in)
  logits = model.apply(variables, source_ids, source_mask, target_in)             # [B, T, target_vocab]
  state = model.apply(variables, source_ids, source_mask, method=Seq2Seq.encode)
  logits, state = model.apply(variables, state, tokens, method=Seq2Seq.decode_step)  # tokens [B] -> [B, V]
  state['attention']                                                              # [B, S]: this step's weights

The decoding state is a dict of arrays, each with a leading batch axis:
  carries      the decoder's carry per layer (an LSTM's (c, h), a GRU's h)
  memory       [B, S, features], source_mask [B, S] bool    (with attention)
  keys         [B, S, features]: U h_j or W h_j              ('bahdanau', 'luong_general')
  attention    [B, S]: the weights of the latest step, zeros before the first  (with attention)
  attentional  [B, features]: the previous attentional state, zeros before the first  (Luong)
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nets.rnn import RNNEncoder, hidden_of, make_cell

ATTENTIONS = ('none', 'bahdanau', 'luong_dot', 'luong_general')


def attend(scores, memory, source_mask):
  """Scores [B, S] -> (weights [B, S], context [B, F]): a softmax over the real source positions only.

  Padded positions get weight exactly 0, and a row without any real position gets all-zero
  weights and a zero context rather than NaN (jax.nn.softmax's `where`).
  """
  weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1, where=source_mask)
  context = jnp.einsum('bs,bsf->bf', weights.astype(memory.dtype), memory)
  return weights, context


class Bridge(nn.Module):
  """The encoder's final states -> the decoder's initial states: per layer, directions side by side, tanh(Dense)."""
  features: int
  num_directions: int

  @nn.compact
  def __call__(self, final_states):
    initial_carries = []
    for layer in range(len(final_states) // self.num_directions):
      directions = final_states[layer * self.num_directions:(layer + 1) * self.num_directions]
      joined = jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=-1), *directions)
      # An LSTM's carry (c, h) gets one Dense per part. The recurrent state stays float32, as the
      # cells' own initial carries do.
      initial_carries.append(jax.tree.map(lambda part: jnp.tanh(nn.Dense(self.features, dtype=jnp.float32)(part)),
                                          joined))
    return tuple(initial_carries)


class DecoderStep(nn.Module):
  """One decoder step: (state, embedded previous tokens [B, E]) -> (new state, logits [B, target_vocab])."""
  target_vocab_size: int
  cell: str = 'lstm'
  features: int = 256
  attention: str = 'bahdanau'
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, state, embedded, train: bool = False):
    new_state = dict(state)
    x = embedded
    if self.attention == 'bahdanau':
      query = nn.Dense(self.features, dtype=self.dtype, name='query')(hidden_of(state['carries'][-1]))
      scores = nn.Dense(1, use_bias=False, dtype=self.dtype, name='score')(jnp.tanh(query[:, None] + state['keys']))
      new_state['attention'], context = attend(scores[..., 0], state['memory'], state['source_mask'])
      x = jnp.concatenate([embedded, context], axis=-1)
    elif self.attention != 'none':
      x = jnp.concatenate([embedded, state['attentional']], axis=-1)  # input feeding

    carries = []
    for layer, carry in enumerate(state['carries']):
      if layer:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      carry, x = make_cell(self.cell, self.features, self.dtype, name=f'layer{layer}')(carry, x)
      carries.append(carry)
    new_state['carries'] = tuple(carries)

    if self.attention == 'none':
      readout = x
    elif self.attention == 'bahdanau':
      readout = jnp.concatenate([x, context, embedded], axis=-1)  # the paper's readout, without its maxout
    else:
      keys = state['memory'] if self.attention == 'luong_dot' else state['keys']
      new_state['attention'], context = attend(jnp.einsum('bf,bsf->bs', x, keys), state['memory'],
                                               state['source_mask'])
      readout = jnp.tanh(nn.Dense(self.features, use_bias=False, dtype=self.dtype, name='attentional')(
          jnp.concatenate([context, x], axis=-1)))
      new_state['attentional'] = readout
    readout = nn.Dropout(self.dropout_rate, deterministic=not train)(readout)
    return new_state, nn.Dense(self.target_vocab_size, dtype=jnp.float32, name='output')(readout)


class Seq2Seq(nn.Module):
  """Source ids -> embedding -> RNN encoder -> bridge (and attention) -> RNN decoder -> target logits."""
  source_vocab_size: int
  target_vocab_size: int
  embed_dim: int = 128
  cell: str = 'lstm'
  features: int = 256  # the width of the memory and of the decoder
  num_layers: int = 1  # of the encoder and of the decoder
  bidirectional: bool = True  # the encoder
  attention: str = 'bahdanau'
  share_embeddings: bool = False  # one table for both sides, when they share one vocabulary
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  def setup(self):
    if self.attention not in ATTENTIONS:
      raise ValueError(f'unknown attention {self.attention!r}; choose one of {ATTENTIONS}')
    if self.share_embeddings and self.source_vocab_size != self.target_vocab_size:
      raise ValueError(f'share_embeddings needs one vocabulary, got source_vocab_size={self.source_vocab_size} '
                       f'and target_vocab_size={self.target_vocab_size}')
    num_directions = 2 if self.bidirectional else 1
    if self.features % num_directions:
      raise ValueError(f'a bidirectional encoder splits features={self.features} between its two directions; '
                       'choose an even number')
    if self.share_embeddings:
      self.embedding = nn.Embed(self.source_vocab_size, self.embed_dim, dtype=self.dtype)
    else:
      self.source_embedding = nn.Embed(self.source_vocab_size, self.embed_dim, dtype=self.dtype)
      self.target_embedding = nn.Embed(self.target_vocab_size, self.embed_dim, dtype=self.dtype)
    self.embedding_dropout = nn.Dropout(self.dropout_rate)
    self.encoder = RNNEncoder(self.cell, self.features // num_directions, self.num_layers, self.bidirectional,
                              self.dropout_rate, dtype=self.dtype)
    self.bridge = Bridge(self.features, num_directions)
    if self.attention in ('bahdanau', 'luong_general'):
      self.attention_keys = nn.Dense(self.features, use_bias=False, dtype=self.dtype)
    self.decoder = DecoderStep(self.target_vocab_size, self.cell, self.features, self.attention, self.dropout_rate,
                               self.dtype)

  def embed_source(self, ids, train: bool = False):
    embedding = self.embedding if self.share_embeddings else self.source_embedding
    return self.embedding_dropout(embedding(ids), deterministic=not train)

  def embed_target(self, ids, train: bool = False):
    embedding = self.embedding if self.share_embeddings else self.target_embedding
    return self.embedding_dropout(embedding(ids), deterministic=not train)

  def encode(self, source_ids, source_mask, train: bool = False):
    """source_ids, source_mask [B, S] -> the decoding state (the module docstring lists its entries)."""
    memory, final_states = self.encoder(self.embed_source(source_ids, train), source_mask, train)
    state = {'carries': self.bridge(final_states)}
    if self.attention == 'none':
      return state
    batch, source_length = source_ids.shape
    state.update(memory=memory, source_mask=source_mask, attention=jnp.zeros((batch, source_length), jnp.float32))
    if self.attention != 'luong_dot':
      state['keys'] = self.attention_keys(memory)
    if self.attention != 'bahdanau':
      state['attentional'] = jnp.zeros((batch, self.features), self.dtype)
    return state

  def decode_step(self, state, tokens):
    """The previous tokens [B] int32 -> (logits [B, target_vocab] float32, new state); no dropout."""
    new_state, logits = self.decoder(state, self.embed_target(tokens))
    return logits, new_state

  def __call__(self, source_ids, source_mask, target_in, train: bool = False):
    """Teacher forcing: source [B, S] with its mask, target_in [B, T] -> logits [B, T, target_vocab]."""
    state = self.encode(source_ids, source_mask, train)
    # One step's parameters serve every step; each step draws its own dropout mask.
    scan = nn.scan(lambda step, state, embedded: step(state, embedded, train), variable_broadcast='params',
                   split_rngs={'params': False, 'dropout': True}, in_axes=1, out_axes=1)
    _, logits = scan(self.decoder, state, self.embed_target(target_in, train))
    return logits
