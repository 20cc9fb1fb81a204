"""Autoencoder tasks: reconstruct the input (plain, denoising, variational) and the two-domain swap.

Images enter the models as float32 in [0, 1] (data.mean 0, data.std 1) because the decoders end
in a sigmoid and PSNR is measured against a peak of 1.

  reconstruction  target = input image. `noise_std` > 0 makes it denoising: Gaussian noise on
                  the input, the clean image as target. `model.variational` makes it a VAE whose
                  loss is the negative ELBO per pixel with a Gaussian decoder of std `decoder_std`.
  swap            one shared encoder, one decoder per domain. Domain d holds the examples whose
                  feature `swap.domain_key` equals `swap.domains[d]` (two shape classes of shapes,
                  or e.g. 'attributes/Male' (0, 1) of celeb_a); every other example is dropped.

Evaluation covers the full eval split: reconstruction `mse` (the dataset MSE) and `psnr` (the
mean of per-image PSNRs, as image-restoration papers report it); `kl` for the VAE; for denoising
also `noisy_psnr`, the PSNR of the noisy input itself, so the gain is visible.
"""

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf

from data import sources, subsets
from data.errors import UserInputError
from nets import autoencoder
from train import deepfake
from train.tasks import base
from train.tasks.classification import preprocess_image


def image_shape_of(source, image_key: str) -> tuple[int, int, int]:
  """(height, width, channels) of a source's images, known before reading any."""
  if isinstance(source, sources.ImageFolderSource):
    return (*source.image_size, 3)
  if image_key not in source.info.features:
    raise UserInputError(f'dataset {source.name!r} has no image feature {image_key!r}; '
                         f'set data.image_key to one of {list(source.info.features.keys())}')
  shape = source.info.features[image_key].shape
  if len(shape) != 3 or None in shape:
    raise UserInputError(f'{source.name!r} images have shape {shape}; the autoencoders need a fixed '
                         '(height, width, channels): resize them with data.source=image_folder')
  return tuple(shape)


def psnr(mse: jax.Array) -> jax.Array:
  """Peak signal-to-noise ratio in dB for images in [0, 1]."""
  return -10.0 * jnp.log10(jnp.maximum(mse, 1e-10))


def per_image_mse(images, targets) -> jax.Array:
  return jnp.mean((images - targets) ** 2, axis=(1, 2, 3))


class ReconstructionTask(base.SourceTask):
  """Train an autoencoder from nets.autoencoder to reproduce its (clean) input."""

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    if set(data.mean) != {0.0} or set(data.std) != {1.0}:
      raise UserInputError("autoencoders read images in [0, 1]: set data.mean='(0.0,)' and "
                           f"data.std='(1.0,)' (got {data.mean}, {data.std})")
    source = sources.make_source(data)
    self.image_shape = image_shape_of(source, data.image_key)
    self.source = self._restrict(subsets.maybe_filtered(source, data))

  def _restrict(self, source):
    """The examples this task trains and evaluates on: all that `data.keep` keeps."""
    return source

  def _preprocess(self, example, seed, train):
    return {'image': preprocess_image(example[self.config.data.image_key], seed, train, self.config.data)}

  def _model_kwargs(self, axis_name):
    model = dict(self.config.model)
    del model['name']
    return dict(image_shape=self.image_shape, dtype=jnp.dtype(self.config.compute_dtype),
                axis_name=axis_name, **model)

  def make_model(self, axis_name=None):
    if self.config.model.name != 'autoencoder':
      raise UserInputError("task 'reconstruction' trains model.name='autoencoder', "
                           f'not {self.config.model.name!r}')
    return autoencoder.Autoencoder(**self._model_kwargs(axis_name))

  def _apply_args(self, batch):
    return (batch['image'],)

  def init_variables(self, model, rng, batch):
    params_rng, latent_rng = jax.random.split(rng)
    return dict(model.init({'params': params_rng, 'latent': latent_rng}, *self._apply_args(batch)))

  def _corrupt(self, images, rng):
    """The denoising autoencoder's input: Gaussian noise, clipped back to the image range."""
    if not self.config.noise_std:
      return images
    noise = self.config.noise_std * jax.random.normal(rng, images.shape, images.dtype)
    return jnp.clip(images + noise, 0.0, 1.0)

  def _reconstruct(self, model, variables, batch, rng, train):
    """(reconstruction, KL per example or None, new model state)."""
    noise_rng, latent_rng = jax.random.split(rng)
    inputs = self._corrupt(batch['image'], noise_rng)
    mutable = [name for name in variables if name != 'params'] if train else False
    outputs = model.apply(variables, inputs, *self._apply_args(batch)[1:], train=train,
                          rngs={'latent': latent_rng}, mutable=mutable)
    outputs, state = outputs if train else (outputs, {})
    kl = autoencoder.gaussian_kl(*outputs[2]) if self.config.model.get('variational') else None
    return outputs[0], kl, state

  def loss(self, model, params, state, batch, rng, train):
    reconstruction, kl, state = self._reconstruct(model, {'params': params, **state}, batch, rng, train)
    mse = per_image_mse(reconstruction, batch['image'])
    metrics = {'mse': mse.mean(), 'psnr': psnr(mse).mean()}
    if kl is None:
      return mse.mean(), (metrics, state)
    # Negative ELBO per pixel: the Gaussian decoder's -log p(x|z) (constants dropped) plus the KL.
    pixels = np.prod(self.image_shape)
    nll = pixels * mse / (2 * self.config.decoder_std ** 2)
    metrics['kl'] = kl.mean()
    return jnp.mean(nll + kl) / pixels, (metrics, state)

  def eval_metrics(self, model, variables, batch):
    # Denoising is evaluated on noise from a fixed key: the same noisy test set at every evaluation.
    reconstruction, kl, _ = self._reconstruct(model, variables, batch, jax.random.key(self.config.seed),
                                              train=False)
    mse = per_image_mse(reconstruction, batch['image'])
    metrics = {'mse': mse, 'psnr': psnr(mse)}
    if kl is not None:
      metrics['kl'] = kl
    if self.config.noise_std:
      noisy = self._corrupt(batch['image'], jax.random.split(jax.random.key(self.config.seed))[0])
      metrics['noisy_psnr'] = psnr(per_image_mse(noisy, batch['image']))
    return metrics


class SwapTask(ReconstructionTask):
  """The face-swap autoencoder: a shared encoder and a decoder per domain, each rebuilding its own."""

  def _restrict(self, source):
    swap = self.config.swap
    if len(swap.domains) < 2:
      raise UserInputError(f'swap.domains needs two or more values of {swap.domain_key!r}, got {swap.domains}')
    return subsets.FilteredSource(source, {swap.domain_key: swap.domains})

  def domain_of(self, example) -> tf.Tensor:
    """Index into swap.domains of the example's domain feature."""
    value = tf.cast(subsets.feature(example, self.config.swap.domain_key), tf.int64)
    return tf.cast(tf.argmax(tf.equal(value, tf.constant(self.config.swap.domains, tf.int64))), tf.int32)

  def _preprocess(self, example, seed, train):
    return dict(super()._preprocess(example, seed, train), domain=self.domain_of(example))

  def make_model(self, axis_name=None):
    if self.config.model.name != 'swap_autoencoder':
      raise UserInputError(f"task 'swap' trains model.name='swap_autoencoder', not {self.config.model.name!r}")
    return autoencoder.SwapAutoencoder(num_domains=len(self.config.swap.domains),
                                       **self._model_kwargs(axis_name))

  def _apply_args(self, batch):
    return batch['image'], batch['domain']

  def evaluate_host(self, variables, workdir):
    """On shapes (domains are shape labels): the swap measurements of train/deepfake.py."""
    del workdir
    info = getattr(self.source, 'info', None)  # image folders have none
    shapes_like = info and set(deepfake.SHAPES_FIELDS) <= set(info.features)
    if self.config.swap.domain_key != 'label' or not shapes_like:
      return {}
    examples = deepfake.read_examples(self.source, self.config.data.eval_split)
    results = deepfake.swap_directions(self.make_model(), variables, examples, self.config.swap.domains)
    return {f'swap_{direction}_{name}': value
            for direction, (_, _, metrics) in results.items() for name, value in metrics.items()}
