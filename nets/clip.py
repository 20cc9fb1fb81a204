"""CLIP (Radford et al. 2021): an image tower and a text tower trained so that a picture and its
caption land on the same point.

Encode. The image tower (a ConvNet or ResNet of nets/cnn.py) reads the pixels, the text tower
(nets.rnn.TextClassifier: embed, recur, pool) reads the caption's tokens; each ends in a linear
layer (the classifier layer of those models) that projects to the same embedding size.

Normalise. Each embedding is divided by its L2 norm: their dot product is the cosine of the angle
between image and caption, in [-1, 1].

Contrast. In a batch of B pairs, image i and caption i belong together and the other B - 1
captions are the negatives. The similarities, times a learned scale exp(log_scale) = 1 /
temperature (clipped at `max_scale`, as CLIP does, so the softmax cannot become arbitrarily
sharp), are logits:
  'softmax'  (InfoNCE, CLIP) cross-entropy of each image over the B captions (its own is the
             class) and of each caption over the B images, averaged;
  'sigmoid'  (SigLIP, Zhai et al. 2023) every (image, caption) pair is a yes/no question of its
             own, log sigmoid(+-(scale * cos + bias)), with a learned bias that starts at -10 since
             almost every pair is a no.

More negatives make a harder, better task, so the negatives are the global batch, not a device's
slice: under a sharded jit the embeddings are global arrays (XLA gathers them); under pmap
`axis_name` names the device axis and each device gathers everyone's embeddings
(`lax.all_gather`), scores its own rows against all columns, and the gradients' mean over devices
is the one-device gradient.

  model = CLIP(image_tower=cnn.ConvNet(num_classes=64), text_tower=rnn.TextClassifier(vocab, 64))
  image_emb, text_emb = model.apply(variables, images, ids, mask)     # [B, 64] each, unit norm
  loss = contrastive_loss(image_emb, text_emb, model.apply(variables, method=CLIP.logit_scale))
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

LOSSES = ('softmax', 'sigmoid')


def l2_normalize(x, eps: float = 1e-6):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


class CLIP(nn.Module):
  """Two towers, each projected to the shared embedding size and L2-normalised, plus the learned
  logit scale (and, for the sigmoid loss, bias)."""
  image_tower: nn.Module  # images [B, H, W, C] -> [B, embed]
  text_tower: nn.Module  # (ids [B, T], mask [B, T]) -> [B, embed]
  init_temperature: float = 0.07
  max_scale: float = 100.0
  init_bias: float = -10.0

  def setup(self):
    self.log_scale = self.param('log_scale', nn.initializers.constant(-math.log(self.init_temperature)), ())
    self.bias = self.param('bias', nn.initializers.constant(self.init_bias), ())

  def encode_image(self, images, train: bool = False):
    return l2_normalize(self.image_tower(images, train=train).astype(jnp.float32))

  def encode_text(self, ids, mask, train: bool = False):
    return l2_normalize(self.text_tower(ids, mask, train=train).astype(jnp.float32))

  def logit_scale(self):
    """(scale, bias): exp(log_scale) clipped to [1, max_scale], and the sigmoid loss's bias."""
    return jnp.exp(jnp.clip(self.log_scale, 0.0, math.log(self.max_scale))), self.bias

  def __call__(self, images, ids, mask, train: bool = False):
    """-> (image embeddings, text embeddings), [B, embed] each, unit norm."""
    return self.encode_image(images, train), self.encode_text(ids, mask, train)


def _gathered(x, axis_name):
  """Every device's rows, in device order, and where this device's rows start among them."""
  if axis_name is None:
    return x, 0
  return jax.lax.all_gather(x, axis_name, tiled=True), jax.lax.axis_index(axis_name) * x.shape[0]


def pair_losses(image_emb, text_emb, scale, bias=0.0, kind: str = 'softmax', axis_name=None, valid=None):
  """Per-row contrastive loss [B] of this device's pairs against the global batch's.

  `valid` [B] (bool, optional) marks real pairs; padded ones are nobody's negatives (their rows'
  losses are meaningless and left to the caller to drop).
  """
  all_images, start = _gathered(image_emb, axis_name)
  all_texts, _ = _gathered(text_emb, axis_name)
  rows = image_emb.shape[0]
  own = start + jnp.arange(rows)  # the column of each row's own partner
  image_to_text = scale * image_emb @ all_texts.T  # [B, global B]
  text_to_image = scale * text_emb @ all_images.T
  if valid is not None:
    all_valid, _ = _gathered(valid, axis_name)
    image_to_text = jnp.where(all_valid[None, :], image_to_text, -jnp.inf)
    text_to_image = jnp.where(all_valid[None, :], text_to_image, -jnp.inf)
  if kind == 'softmax':
    return 0.5 * (optax.softmax_cross_entropy_with_integer_labels(image_to_text, own)
                  + optax.softmax_cross_entropy_with_integer_labels(text_to_image, own))
  if kind == 'sigmoid':
    # Each image's questions about every caption, summed (SigLIP's normalisation per image).
    signs = jnp.where(own[:, None] == jnp.arange(image_to_text.shape[1])[None, :], 1.0, -1.0)
    log_likelihood = jax.nn.log_sigmoid(signs * (image_to_text + bias))
    return -jnp.where(jnp.isfinite(image_to_text), log_likelihood, 0.0).sum(axis=1)
  raise ValueError(f'unknown contrastive loss {kind!r}; choose one of {LOSSES}')


def contrastive_loss(image_emb, text_emb, scale_and_bias, kind: str = 'softmax', axis_name=None):
  """The mean of pair_losses over this device's rows (the global mean under jit)."""
  scale, bias = scale_and_bias
  return pair_losses(image_emb, text_emb, scale, bias, kind, axis_name).mean()


def similarity_ranks(queries, keys, correct):
  """The rank (0 = first) of the best-ranked correct key of each query, by cosine similarity.

  queries [Q, D], keys [K, D] unit norm; correct [Q, K] bool: which keys count as a hit (e.g. the
  query's own caption, and every other caption with the same text).
  """
  scores = queries @ keys.T
  best_correct = jnp.where(correct, scores, -jnp.inf).max(axis=1, keepdims=True)
  return (scores > best_correct).sum(axis=1)
