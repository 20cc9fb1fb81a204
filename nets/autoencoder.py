"""Convolutional autoencoders: plain/denoising, variational, and the two-decoder "swap" model.

The encoder mirrors the ConvNet of nets/cnn.py: each stage halves height and width with a
strided convolution while the depth grows, and a dense layer squeezes the last feature map into
a latent vector. The decoder runs the stages backwards, upsampling and convolving, and ends in
a sigmoid, so reconstructions are pixel intensities in [0, 1] like the (un-normalised) inputs.

`encode` and `decode` work on their own:

  model = Autoencoder(image_shape=(32, 32, 3), latent_dim=16)
  variables = model.init(key, images)
  latents = model.apply(variables, images, method=model.encode)        # [B, 16]
  images = model.apply(variables, latents, method=model.decode)        # [B, 32, 32, 3]

The variational model's encoder gives a diagonal Gaussian posterior (mean, log-variance); it
samples from it with the 'latent' rng while training and uses the mean otherwise, and its
decoder can be fed draws from the standard-normal prior.

The swap model (as face-swap tools do it) shares one encoder between domains and gives each
domain its own decoder; `swap` encodes an image of one domain and decodes it with another's.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nets.cnn import normalization


class Encoder(nn.Module):
  """Stages [conv 4x4 stride 2 -> norm -> relu, then (convs_per_stage - 1) x conv 3x3], then a dense code.

  With `variational`, returns (mean, log_variance) of the posterior instead of one code.
  """
  latent_dim: int
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 1
  norm: str = 'none'
  variational: bool = False
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = images.astype(self.dtype)
    for stage, features in enumerate(self.stage_features):
      for conv in range(self.convs_per_stage):
        kernel, strides = ((4, 4), 2) if conv == 0 else ((3, 3), 1)
        x = nn.Conv(features, kernel, strides, use_bias=self.norm == 'none', dtype=self.dtype)(x)
        x = nn.relu(normalization(self.norm, train, self.dtype, self.axis_name)(x))
      self.sow('intermediates', f'stage{stage}', x)
    x = x.reshape((x.shape[0], -1))
    # The code stays float32 whatever the compute dtype: it is what research code reads and edits.
    if not self.variational:
      return nn.Dense(self.latent_dim, dtype=jnp.float32, name='code')(x)
    mean = nn.Dense(self.latent_dim, dtype=jnp.float32, name='mean')(x)
    log_variance = nn.Dense(self.latent_dim, dtype=jnp.float32, name='log_variance')(x)
    return mean, log_variance


class Decoder(nn.Module):
  """Dense to the smallest feature map, then stages [upsample x2 -> conv 3x3 -> norm -> relu] x convs.

  Two options for a decoder that draws from a condition (nets/text_to_image.py), both off for the
  autoencoders. `film`: every conv's output is also scaled and shifted per channel by a dense layer
  of the latent (FiLM, Perez et al. 2018), so the latent reaches each stage, not only the first
  map. `coordinates`: each stage's input also gets two channels holding the pixel's row and column
  in [-1, 1] (CoordConv, Liu et al. 2018), so a conv can place what it draws instead of only
  moving what the first map placed. (Measured on text to image: bench/README_clip.md.)
  """
  image_shape: Sequence[int]  # (height, width, channels) of the images to produce
  stage_features: Sequence[int] = (32, 64, 128)  # the encoder's, listed from the image inwards
  convs_per_stage: int = 1
  norm: str = 'none'
  dtype: Any = jnp.float32
  axis_name: str | None = None
  film: bool = False
  coordinates: bool = False

  @nn.compact
  def __call__(self, latents, train: bool = False):
    height, width, channels = self.image_shape
    factor = 2 ** len(self.stage_features)
    if height % factor or width % factor:
      raise ValueError(f'image side {height}x{width} must be divisible by 2**stages = {factor}')
    x = nn.Dense(height // factor * width // factor * self.stage_features[-1], dtype=self.dtype)(latents)
    x = nn.relu(x).reshape((latents.shape[0], height // factor, width // factor, self.stage_features[-1]))
    for features in reversed(self.stage_features):
      # Nearest-neighbour upsampling then a conv, rather than a transposed conv: no checkerboard
      # artefacts (Odena et al. 2016), and on CPU it runs much faster (bench/README_cpu_kernels.md).
      batch, x_height, x_width, depth = x.shape
      x = jax.image.resize(x, (batch, 2 * x_height, 2 * x_width, depth), 'nearest')
      if self.coordinates:
        x = jnp.concatenate([x, pixel_coordinates(x)], axis=-1)
      for _ in range(self.convs_per_stage):
        x = nn.Conv(features, (3, 3), use_bias=self.norm == 'none', dtype=self.dtype)(x)
        x = normalization(self.norm, train, self.dtype, self.axis_name)(x)
        if self.film:  # zero-initialised: each stage starts as the plain decoder's
          film = nn.Dense(2 * features, kernel_init=nn.initializers.zeros, dtype=self.dtype)(latents)
          scale, shift = jnp.split(film, 2, axis=-1)
          x = x * (1 + scale[:, None, None]) + shift[:, None, None]
        x = nn.relu(x)
    x = nn.Conv(channels, (3, 3), dtype=jnp.float32)(x)
    return nn.sigmoid(x)


def pixel_coordinates(x):
  """[B, H, W, 2]: each pixel's row and column, from -1 to 1, in x's dtype."""
  batch, height, width, _ = x.shape
  rows, columns = jnp.meshgrid(jnp.linspace(-1, 1, height), jnp.linspace(-1, 1, width), indexing='ij')
  return jnp.broadcast_to(jnp.stack([rows, columns], axis=-1), (batch, height, width, 2)).astype(x.dtype)


class Autoencoder(nn.Module):
  """Encoder -> latent -> decoder; `variational` makes it a VAE (Kingma & Welling 2014)."""
  image_shape: Sequence[int]
  latent_dim: int = 32
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 1
  norm: str = 'none'
  variational: bool = False
  dtype: Any = jnp.float32
  axis_name: str | None = None

  def setup(self):
    self.encoder = Encoder(self.latent_dim, self.stage_features, self.convs_per_stage, self.norm,
                           self.variational, self.dtype, self.axis_name)
    self.decoder = Decoder(self.image_shape, self.stage_features, self.convs_per_stage, self.norm,
                           self.dtype, self.axis_name)

  def posterior(self, images, train: bool = False):
    """(mean, log_variance) of q(z | image); the variational model only."""
    if not self.variational:
      raise ValueError('posterior() needs variational=True; use encode() for a plain autoencoder')
    return self.encoder(images, train)

  def encode(self, images, train: bool = False):
    """The latent code [B, latent_dim]: the posterior mean for the variational model."""
    return self.posterior(images, train)[0] if self.variational else self.encoder(images, train)

  def decode(self, latents, train: bool = False):
    """Images [B, H, W, C] in [0, 1] from latent codes (or prior samples for the VAE)."""
    return self.decoder(latents, train)

  def __call__(self, images, train: bool = False):
    """(reconstruction, latents); the VAE also returns its posterior as a third element."""
    if not self.variational:
      latents = self.encoder(images, train)
      return self.decoder(latents, train), latents
    mean, log_variance = self.encoder(images, train)
    latents = mean
    if train:  # the reparameterisation trick: a differentiable sample from the posterior
      noise = jax.random.normal(self.make_rng('latent'), mean.shape, mean.dtype)
      latents = mean + jnp.exp(0.5 * log_variance) * noise
    return self.decoder(latents, train), latents, (mean, log_variance)


def gaussian_kl(mean, log_variance):
  """KL(N(mean, exp(log_variance)) || N(0, I)) per example, summed over latent dimensions."""
  return 0.5 * jnp.sum(jnp.exp(log_variance) + mean**2 - 1.0 - log_variance, axis=-1)


class SwapAutoencoder(nn.Module):
  """One shared encoder, one decoder per domain: train each decoder to rebuild its own domain."""
  image_shape: Sequence[int]
  num_domains: int = 2
  latent_dim: int = 32
  stage_features: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 1
  norm: str = 'none'
  dtype: Any = jnp.float32
  axis_name: str | None = None

  def setup(self):
    self.encoder = Encoder(self.latent_dim, self.stage_features, self.convs_per_stage, self.norm, False,
                           self.dtype, self.axis_name)
    self.decoders = [Decoder(self.image_shape, self.stage_features, self.convs_per_stage, self.norm,
                             self.dtype, self.axis_name) for _ in range(self.num_domains)]

  def encode(self, images, train: bool = False):
    return self.encoder(images, train)

  def decode(self, latents, domain: int, train: bool = False):
    """Images of `domain` (a Python int) from latent codes."""
    return self.decoders[domain](latents, train)

  def swap(self, images, to_domain: int, train: bool = False):
    """Encode images of any domain, decode them as `to_domain`: the face-swap."""
    return self.decode(self.encode(images, train), to_domain, train)

  def __call__(self, images, domains, train: bool = False):
    """Reconstruct each image with its own domain's decoder; `domains` is an int array [B]."""
    latents = self.encoder(images, train)
    # Every decoder runs on the whole batch and each row keeps its own domain's output: a static
    # shape for jit, at num_domains times the decoder cost.
    outputs = jnp.stack([decoder(latents, train) for decoder in self.decoders])
    picked = jnp.take_along_axis(outputs, domains[None, :, None, None, None], axis=0)[0]
    return picked, latents
