"""Text to image from CLIP, as unCLIP (Ramesh et al. 2022) builds it: a prior, then a decoder.

  caption --CLIP text tower--> text embedding --prior--> image embedding --decoder--> image

CLIP (nets/clip.py) is trained first and stays frozen; it also judges the results.

Prior. A caption says what is in the picture but not every pixel: many image embeddings fit one
caption. The prior maps a caption's text embedding to a Gaussian over CLIP image embeddings, a
mean and a standard deviation per dimension, both from an MLP, trained by the Gaussian negative
log-likelihood of the true image's embedding. Sampling from it (then back onto the unit sphere)
gives different candidate embeddings for one caption. (unCLIP's prior is a diffusion model; a
Gaussian is its one-step ancestor.)

Decode. The decoder is the decoder half of an image autoencoder (nets.autoencoder.Decoder) whose
encoder is CLIP's image tower: it learns to draw each training image from that image's CLIP
embedding. The embedding leaves much open (the exact place and size, the rotation, the
background), and a decoder fed the embedding alone can only draw the average of every image that
shares it: a coloured blur in the right place. So the decoder is a conditional VAE's (Sohn et al.
2015): a small latent beside the embedding holds the rest, encoded from the image in training and
drawn at generation from its own Gaussian prior given the embedding. A VAE rather than a VQ
decoder: its latent is small and continuous, and its prior is one more MLP like the text prior.
The condition (embedding and latent) reaches every decoder stage, each conv's output scaled and
shifted by it (FiLM), and each stage sees its pixels' coordinates (CoordConv), so that a stage can
draw a shape's outline where and as large as the condition says, not only sharpen a first blur.
Optionally (in the task) the decoder is also trained so that CLIP sees in each drawing the embedding
it was drawn from (`clip_loss_weight`), and so that the drawing's features in each stage of CLIP's
image tower match the image's (`perceptual_weight`: a perceptual loss, Johnson et al. 2016).

Rerank. CLIP embeds each candidate image and scores it against the caption (cosine similarity):
`candidates` draws and scores, `rerank` puts the best first.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nets import autoencoder, clip


class GaussianPrior(nn.Module):
  """Text embedding [B, D] -> (mean [B, D], log_std [B, D]) of the image embedding."""
  embed_dim: int
  hidden: Sequence[int] = (256, 256)

  @nn.compact
  def __call__(self, text_emb):
    x = text_emb
    for width in self.hidden:
      x = nn.gelu(nn.Dense(width)(x))
    mean = nn.Dense(self.embed_dim, name='mean')(x)
    log_std = nn.Dense(self.embed_dim, name='log_std')(x)
    return mean, jnp.clip(log_std, -7.0, 2.0)


def gaussian_kl(mean, log_std, prior_mean, prior_log_std):
  """KL(N(mean, std^2) || N(prior_mean, prior_std^2)) per example, summed over dimensions."""
  return jnp.sum(prior_log_std - log_std + (jnp.exp(2 * log_std) + (mean - prior_mean) ** 2)
                 / (2 * jnp.exp(2 * prior_log_std)) - 0.5, axis=-1)


def gaussian_nll(x, mean, log_std):
  """-log N(x; mean, exp(log_std)^2) per example, summed over dimensions."""
  return jnp.sum(0.5 * ((x - mean) / jnp.exp(log_std)) ** 2 + log_std + 0.5 * jnp.log(2 * jnp.pi), axis=-1)


class TextToImage(nn.Module):
  """The prior and the decoder, trained side by side on frozen CLIP embeddings.

  `residual_dim` > 0 gives the decoder a second input: the latent of a conditional VAE (Sohn et
  al. 2015) for what the CLIP embedding leaves open (the exact place and size, the rotation, the
  background), encoded from the image in training and drawn, when generating, from its own prior
  given the embedding (an MLP's Gaussian, as the text prior is). Without it the decoder can only
  draw the average of every image that shares an embedding: a blur.
  """
  image_shape: Sequence[int]
  embed_dim: int
  prior_hidden: Sequence[int] = (256, 256)
  decoder_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 1
  norm: str = 'none'
  residual_dim: int = 0
  film: bool = False  # the decoder's FiLM and CoordConv options (nets.autoencoder.Decoder)
  coordinates: bool = False
  dtype: Any = jnp.float32
  axis_name: str | None = None

  def setup(self):
    self.prior = GaussianPrior(self.embed_dim, self.prior_hidden)
    self.decoder = autoencoder.Decoder(self.image_shape, self.decoder_features, self.convs_per_stage, self.norm,
                                       self.dtype, self.axis_name, film=self.film, coordinates=self.coordinates)
    if self.residual_dim:
      self.residual_encoder = autoencoder.Encoder(self.residual_dim, self.decoder_features, self.convs_per_stage,
                                                  self.norm, True, self.dtype, self.axis_name)
      self.residual_prior = GaussianPrior(self.residual_dim, self.prior_hidden)

  def __call__(self, text_emb, image_emb, images, train: bool = False):
    """-> ((prior mean, prior log_std), `images` drawn again from image_emb in [0, 1], the residual's
    KL divergence from its prior [B] in nats, or None)."""
    if not self.residual_dim:
      return self.prior(text_emb), self.decoder(image_emb, train), None
    mean, log_variance = self.residual_encoder(images, train)
    residual = mean
    if train:  # the reparameterisation trick
      residual = mean + jnp.exp(0.5 * log_variance) * jax.random.normal(self.make_rng('latent'), mean.shape)
    kl = gaussian_kl(mean, 0.5 * log_variance, *self.residual_prior(image_emb))
    return self.prior(text_emb), self.decode(image_emb, residual, train), kl

  def decode(self, image_emb, residual=None, train: bool = False):
    """Images from unit image embeddings [N, D] and residual latents [N, residual_dim] (zeros if None)."""
    if self.residual_dim:
      residual = jnp.zeros(image_emb.shape[:-1] + (self.residual_dim,)) if residual is None else residual
      image_emb = jnp.concatenate([image_emb, residual], axis=-1)
    return self.decoder(image_emb, train)

  def draw(self, text_emb, rng, num: int, temperature: float = 1.0):
    """(images [B * num, H, W, C], their image embeddings [B, num, D]): `num` draws from the prior
    (and from the residual's N(0, I)) per caption, decoded."""
    embedding_rng, residual_rng = jax.random.split(rng)
    mean, log_std = self.prior(text_emb)
    noise = jax.random.normal(embedding_rng, (text_emb.shape[0], num, self.embed_dim))
    drawn = clip.l2_normalize(mean[:, None] + temperature * jnp.exp(log_std)[:, None] * noise)
    drawn = drawn.reshape(-1, self.embed_dim)
    residual = None
    if self.residual_dim:
      residual_mean, residual_log_std = self.residual_prior(drawn)
      residual = residual_mean + temperature * jnp.exp(residual_log_std) * jax.random.normal(
          residual_rng, residual_mean.shape)
    return self.decode(drawn, residual), drawn.reshape(text_emb.shape[0], num, self.embed_dim)


def candidates(clip_model: clip.CLIP, clip_variables, model: TextToImage, variables, ids, mask, rng,
               num: int, image_normalizer, temperature: float = 1.0):
  """Captions (ids, mask [B, T]) -> (images [B, num, H, W, C] in [0, 1], their CLIP scores [B, num]).

  `image_normalizer` maps images in [0, 1] to CLIP's input scale (what its training data saw).
  """
  text_emb = clip_model.apply(clip_variables, ids, mask, method=clip.CLIP.encode_text)
  images, drawn_emb = model.apply(variables, text_emb, rng, num, temperature, method=TextToImage.draw)
  image_emb = clip_model.apply(clip_variables, image_normalizer(images), method=clip.CLIP.encode_image)
  scores = jnp.einsum('bnd,bd->bn', image_emb.reshape(drawn_emb.shape), text_emb)
  return images.reshape(drawn_emb.shape[:2] + images.shape[1:]), scores


def rerank(images, scores):
  """Each caption's candidates sorted by CLIP score, best first: (images, scores)."""
  order = jnp.argsort(-scores, axis=1)
  return (jnp.take_along_axis(images, order[:, :, None, None, None], axis=1),
          jnp.take_along_axis(scores, order, axis=1))
