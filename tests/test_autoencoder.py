"""The autoencoders of nets/autoencoder.py and their tasks in the real training loop."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import autoencoder as autoencoder_configs
from nets import autoencoder
from train import loop, visualize
from train.tasks.autoencoder import ReconstructionTask

IMAGES = jnp.linspace(0.0, 1.0, 2 * 32 * 32 * 3).reshape((2, 32, 32, 3))
SMALL = dict(image_shape=(32, 32, 3), latent_dim=6, stage_features=(4, 8))


def tiny_config(data_dir, variant='plain', num_steps=3):
  """configs/autoencoder.py on the shapes fixture, shrunk so a run takes seconds."""
  config = autoencoder_configs.get_config(f'shapes,{variant}')
  config.data.data_dir = data_dir
  config.model.stage_features = (8, 16)
  config.model.convs_per_stage = 1
  config.batch_size = 32
  config.eval_batch_size = 500
  config.num_steps = num_steps
  config.log_every = num_steps
  config.eval_every = config.checkpoint_every = num_steps
  config.optimizer.warmup_steps = 1
  return config


def assert_png(path, size=None):
  """A readable PNG of `size` (width, height) pixels that is not one flat colour."""
  image = np.asarray(Image.open(path).convert('RGB'))
  if size is not None:
    assert (image.shape[1], image.shape[0]) == size, path
  assert image.std() > 1.0, f'{path} is blank'


@pytest.mark.parametrize('convs_per_stage', [1, 2])
def test_encode_decode_shapes_and_range(convs_per_stage):
  model = autoencoder.Autoencoder(convs_per_stage=convs_per_stage, **SMALL)
  variables = model.init(jax.random.key(0), IMAGES)
  latents = model.apply(variables, IMAGES, method=model.encode)
  images = model.apply(variables, latents, method=model.decode)
  chex.assert_shape(latents, (2, 6))
  chex.assert_shape(images, (2, 32, 32, 3))
  chex.assert_type([latents, images], jnp.float32)
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0  # the sigmoid's pixel range
  reconstruction, direct_latents = model.apply(variables, IMAGES)
  chex.assert_trees_all_close((reconstruction, direct_latents), (images, latents), atol=1e-6)


def test_encoder_stages_halve_the_side_and_grow_depth():
  model = autoencoder.Encoder(latent_dim=6, stage_features=(4, 8, 16))
  variables = model.init(jax.random.key(0), IMAGES)
  _, state = model.apply(variables, IMAGES, mutable=['intermediates'])
  chex.assert_shape([state['intermediates'][f'stage{i}'][0] for i in range(3)],
                    [(2, 16, 16, 4), (2, 8, 8, 8), (2, 4, 4, 16)])


def test_grayscale_28x28_and_bfloat16_compute():
  images = jnp.zeros((3, 28, 28, 1))
  model = autoencoder.Autoencoder((28, 28, 1), latent_dim=5, stage_features=(4, 8), dtype=jnp.bfloat16)
  variables = model.init(jax.random.key(0), images)
  chex.assert_trees_all_equal_dtypes(variables['params'], jax.tree.map(jnp.float32, variables['params']))
  reconstruction, latents = model.apply(variables, images)
  chex.assert_shape([reconstruction, latents], [(3, 28, 28, 1), (3, 5)])
  chex.assert_type([reconstruction, latents], jnp.float32)


def test_decoder_rejects_sides_the_stages_cannot_halve():
  with pytest.raises(ValueError, match='divisible'):
    autoencoder.Decoder((30, 30, 3), stage_features=(4, 8)).init(jax.random.key(0), jnp.zeros((1, 4)))


def test_film_starts_as_the_plain_decoder_and_conditions_every_stage():
  latents = jax.random.normal(jax.random.key(1), (2, 6))
  plain = autoencoder.Decoder((32, 32, 3), stage_features=(4, 8), convs_per_stage=2)
  film = autoencoder.Decoder((32, 32, 3), stage_features=(4, 8), convs_per_stage=2, film=True)
  params = film.init(jax.random.key(0), latents)['params']
  film_layers = sorted(set(params) - set(plain.init(jax.random.key(0), latents)['params']))
  assert len(film_layers) == 4  # one per convolution
  plain_params = {name: value for name, value in params.items() if name not in film_layers}
  chex.assert_trees_all_close(film.apply({'params': params}, latents), plain.apply({'params': plain_params}, latents))

  # Away from its zero start, the last conv's FiLM alone changes the image, by the latent.
  last = film_layers[-1]
  moved = dict(params, **{last: {'kernel': params[last]['kernel'] + 0.1, 'bias': params[last]['bias']}})
  difference = film.apply({'params': moved}, latents) - film.apply({'params': params}, latents)
  assert float(jnp.abs(difference).max()) > 1e-3
  other_latents = film.apply({'params': moved}, -latents) - film.apply({'params': params}, -latents)
  assert float(jnp.abs(difference - other_latents).max()) > 1e-3


def test_coordinates_give_each_stage_its_pixel_rows_and_columns():
  grid = autoencoder.pixel_coordinates(jnp.zeros((2, 4, 8, 5), jnp.bfloat16))
  chex.assert_shape(grid, (2, 4, 8, 2))
  chex.assert_type(grid, jnp.bfloat16)
  np.testing.assert_allclose(grid[0, :, 0, 0], np.linspace(-1, 1, 4), atol=1e-2)  # rows, top to bottom
  np.testing.assert_allclose(grid[0, 0, :, 1], np.linspace(-1, 1, 8), atol=1e-2)  # columns (bfloat16)
  decoder = autoencoder.Decoder((32, 32, 3), stage_features=(4, 8), coordinates=True)
  params = decoder.init(jax.random.key(0), jnp.zeros((1, 6)))['params']
  # Each stage's conv reads the upsampled map (8 channels: the dense map's, then the first stage's)
  # and the two coordinates.
  chex.assert_shape([params['Conv_0']['kernel'], params['Conv_1']['kernel']], [(3, 3, 10, 8), (3, 3, 10, 4)])


def test_vae_samples_while_training_and_uses_the_mean_otherwise():
  model = autoencoder.Autoencoder(variational=True, **SMALL)
  variables = model.init(jax.random.key(0), IMAGES)
  mean, log_variance = model.apply(variables, IMAGES, method=model.posterior)
  chex.assert_shape([mean, log_variance], [(2, 6), (2, 6)])
  _, eval_latents, _ = model.apply(variables, IMAGES)
  chex.assert_trees_all_close(eval_latents, mean)
  chex.assert_trees_all_close(model.apply(variables, IMAGES, method=model.encode), mean)
  draws = [model.apply(variables, IMAGES, train=True, rngs={'latent': jax.random.key(k)})[1] for k in (1, 2)]
  assert not np.allclose(draws[0], draws[1])
  with pytest.raises(ValueError, match='variational'):
    plain = autoencoder.Autoencoder(**SMALL)
    plain.apply(plain.init(jax.random.key(0), IMAGES), IMAGES, method=plain.posterior)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
  mean, log_variance = jnp.array([[0.5, -1.0]]), jnp.array([[0.3, -0.7]])
  std = jnp.exp(0.5 * log_variance)
  z = mean + std * jax.random.normal(jax.random.key(0), (200_000, 2))
  log_q = jax.scipy.stats.norm.logpdf(z, mean, std).sum(-1)
  log_p = jax.scipy.stats.norm.logpdf(z).sum(-1)
  np.testing.assert_allclose(autoencoder.gaussian_kl(mean, log_variance)[0], jnp.mean(log_q - log_p), rtol=0.02)
  chex.assert_trees_all_close(autoencoder.gaussian_kl(jnp.zeros((1, 3)), jnp.zeros((1, 3))), jnp.zeros(1))


def test_swap_model_decodes_each_row_with_its_own_domain():
  model = autoencoder.SwapAutoencoder(num_domains=2, **SMALL)
  domains = jnp.array([1, 0])
  variables = model.init(jax.random.key(0), IMAGES, domains)
  reconstruction, latents = model.apply(variables, IMAGES, domains)
  for row, domain in enumerate(domains.tolist()):
    alone = model.apply(variables, latents[row:row + 1], domain, method=model.decode)
    chex.assert_trees_all_close(reconstruction[row:row + 1], alone, atol=1e-6)
  swapped = model.apply(variables, IMAGES, 1, method=model.swap)
  assert not np.allclose(swapped[1], reconstruction[1])  # row 1 is domain 0; decoder 1 draws it differently


def test_denoising_task_scores_the_clean_target_from_a_noisy_input(shapes_data_dir):
  task = ReconstructionTask(tiny_config(shapes_data_dir, 'denoising'))
  model = task.make_model()
  batch = {'image': jnp.full((4, 32, 32, 3), 0.5)}
  variables = task.init_variables(model, jax.random.key(0), batch)
  metrics = task.eval_metrics(model, variables, batch)
  assert set(metrics) == {'mse', 'psnr', 'noisy_psnr'}
  chex.assert_shape(list(metrics.values()), [(4,)] * 3)
  # Noise of std 0.2 around a grey image, clipped only beyond 2.5 std (1% of pixels): MSE ~0.04, 14 dB.
  np.testing.assert_allclose(metrics['noisy_psnr'], -10 * np.log10(0.2**2), atol=0.3)
  chex.assert_trees_all_equal(metrics, task.eval_metrics(model, variables, batch))  # fixed eval noise


def test_vae_loss_is_the_negative_elbo_per_pixel(shapes_data_dir):
  task = ReconstructionTask(tiny_config(shapes_data_dir, 'vae'))
  model = task.make_model()
  batch = {'image': jax.random.uniform(jax.random.key(1), (4, 32, 32, 3))}
  variables = task.init_variables(model, jax.random.key(0), batch)
  loss, (metrics, _) = task.loss(model, variables['params'], {}, batch, jax.random.key(2), train=False)
  pixels = 32 * 32 * 3
  expected = (pixels * metrics['mse'] / (2 * task.config.decoder_std**2) + metrics['kl']) / pixels
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert metrics['kl'] > 0


@pytest.mark.learning
def test_shapes_autoencoder_learns_to_reconstruct_held_out_images(shapes_data_dir, tmp_path, learning_seed,
                                                                  record_learning):
  # Training sits on a plateau, each image drawn as its flat mean colour, before it learns to draw
  # the shape. Without normalisation the escape came anywhere from step 350 to past step 700 (seeds
  # 0-2), so this test needed 1000 steps; with BatchNorm it comes by step 300-400 (batches of 32).
  config = tiny_config(shapes_data_dir, num_steps=800)
  config.seed = learning_seed
  config.model.stage_features = (16, 32, 64)
  config.model.norm = 'batch'
  config.batch_size = 24
  config.optimizer.learning_rate = 3e-3
  config.optimizer.warmup_steps = 50
  final = loop.train_and_evaluate(config, str(tmp_path))
  # Baselines on the shapes test split: the mean training image scores 9.5 dB, each image's own mean
  # colour 16.9 dB (shapes cover ~10% of an image). Beating the flat colour by 1 dB needs the shape
  # drawn in place. Measured over seeds 0-2 after 800 steps of 24: 19.00-19.02 dB on an AVX-512 CPU with
  # the project's XLA flags, 18.97-19.02 dB on its AVX2 path without them, 18.98-19.03 dB on one core as
  # each `pytest -n 2` worker runs, both paths (bench/learning_margins.py). 600 steps of 32, the same
  # images, gave 18.79-18.91 dB; 500 steps of 32 gave 18.40-18.72 dB and 1000 of 16 gave 18.10 dB (seed
  # 0), too near the threshold.
  record_learning('psnr', final['psnr'], 18.0)
  assert final['psnr'] > 18.0, final
  with open(os.path.join(tmp_path, 'metrics.jsonl'), encoding='utf-8') as f:
    records = [json.loads(line) for line in f]
  assert records[-1]['split'] == 'eval' and records[-1]['psnr'] == pytest.approx(final['psnr'])
  figures = visualize.visualize(str(tmp_path), str(tmp_path / 'figures'))
  assert figures == ['reconstructions.png', 'curves.png']
  assert_png(tmp_path / 'figures' / 'reconstructions.png', visualize.grid_pixels(2, 8))  # inputs over outputs
