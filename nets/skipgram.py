"""Skip-gram word embeddings (word2vec): negative sampling, and the full-softmax reference.

A one-hot vector is as long as the vocabulary and every two of them are equally far apart. The
skip-gram model instead learns a dense `dim`-sized vector per word by predicting the words around
it; words used in the same contexts get close vectors. It keeps two tables:
  - 'target': the vector of a word when it is the centre of a window (the embedding one exports);
  - 'context': the vector of a word when it is predicted from the centre.
The score of a (centre, context) pair is the dot product of the two vectors.

`SkipGram` scores a centre word against one true context and k sampled negatives (word2vec's
negative sampling); `SoftmaxSkipGram` spells the same idea as a one-hot input times a dense matrix
followed by a softmax over the whole vocabulary, which is exact but costs O(vocabulary) per word,
so it serves as a reference on tiny vocabularies:

  model = SkipGram(vocab_size=10_000, dim=100)
  contexts, weights = candidates_and_weights(positive, negatives)  # [B, 1 + k], true context first
  variables = model.init(key, center, contexts)
  logits = model.apply(variables, center, contexts)    # [B, 1 + k]
  loss = negative_sampling_loss(logits, weights)       # [B]
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def pair_logits(target_vectors, context_vectors):
  """target [..., dim], context [..., C, dim] -> [..., C] dot products: the score of each pair."""
  return jnp.einsum('...d,...cd->...c', target_vectors, context_vectors)


def word2vec_target_init(key, shape, dtype=jnp.float32):
  """word2vec's start: uniform in +-0.5/dim, small enough that the first updates set the scale."""
  return jax.random.uniform(key, shape, dtype, -0.5, 0.5) / shape[-1]


class SkipGram(nn.Module):
  """Target and context embedding tables; scores centre words against candidate context words."""
  vocab_size: int
  dim: int = 100

  def setup(self):
    self.target = nn.Embed(self.vocab_size, self.dim, embedding_init=word2vec_target_init)
    # Zero context vectors as in word2vec: every pair starts at probability 1/2.
    self.context = nn.Embed(self.vocab_size, self.dim, embedding_init=nn.initializers.zeros)

  def __call__(self, center, contexts):
    """center [...], contexts [..., C] word ids -> logits [..., C] = <target[center], context[c]>."""
    return pair_logits(self.target(center), self.context(contexts))

  def embeddings(self):
    """The [vocab_size, dim] matrix of target vectors: the word vectors one exports."""
    return self.target.embedding


def candidates_and_weights(positive, negatives):
  """positive [B], negatives [B, k] -> candidates [B, 1 + k] (true context first) and their weights.

  A weight is 0 for a negative that happens to be the true context word: word2vec skips it rather
  than push the same word both ways.
  """
  candidates = jnp.concatenate([positive[:, None], negatives], axis=1)
  weights = jnp.concatenate([jnp.ones_like(positive[:, None], bool), negatives != positive[:, None]], axis=1)
  return candidates, weights.astype(jnp.float32)


def negative_sampling_loss(logits, weights=None):
  """Per-pair loss -log s(x_true) - sum_j log s(-x_neg_j) for logits [..., 1 + k].

  `weights` [..., 1 + k] (optional, see `candidates_and_weights`) zeroes candidates that must not count.
  """
  signs = jnp.ones(logits.shape[-1]).at[1:].set(-1.0)
  losses = -jax.nn.log_sigmoid(signs * logits)
  if weights is not None:
    losses = losses * weights
  return jnp.sum(losses, axis=-1)


class SoftmaxSkipGram(nn.Module):
  """The textbook form: one-hot(centre) @ W_in is its vector; a softmax over W_out scores every word."""
  vocab_size: int
  dim: int = 100

  @nn.compact
  def __call__(self, center):
    """center [B] word ids -> log-probabilities [B, vocab_size] of each word being in the window."""
    one_hot = jax.nn.one_hot(center, self.vocab_size)
    # A Dense layer on a one-hot vector picks one row of its kernel: that row is the word's vector.
    hidden = nn.Dense(self.dim, use_bias=False, kernel_init=word2vec_target_init, name='target')(one_hot)
    logits = nn.Dense(self.vocab_size, use_bias=False, name='context')(hidden)
    return jax.nn.log_softmax(logits)
