"""python -m train.visualize writes labelled PNGs of the expected size from real checkpoints."""

import os

import jax
import jax.numpy as jnp
import pytest

from configs import shapes_cnn
from tests.test_autoencoder import assert_png, tiny_config
from train import loop, visualize
from train.tasks.autoencoder import ReconstructionTask

STEPS = 4


def _classifier_run(data_dir, workdir):
  config = shapes_cnn.get_config()
  config.data.data_dir = data_dir
  config.model.stage_features = (8, 16)
  config.model.head = (16,)
  config.batch_size, config.eval_batch_size = 32, 500
  config.num_steps = config.log_every = config.eval_every = config.checkpoint_every = STEPS
  config.optimizer.warmup_steps = 1
  loop.train_and_evaluate(config, workdir)


def test_classifier_figures(shapes_data_dir, tmp_path):
  _classifier_run(shapes_data_dir, str(tmp_path / 'run'))
  out = tmp_path / 'figures'
  visualize.main(['--workdir', str(tmp_path / 'run'), '--out', str(out), '--index', '2'])
  assert_png(out / 'filters.png', visualize.grid_pixels(1, 8))  # 8 first-layer filters in one row
  # the input, then one row per stage: (8 channels at 16x16, 16 channels at 8x8)
  assert_png(out / 'feature_maps.png', visualize.grid_pixels(3, 16))
  assert_png(out / 'saliency.png', visualize.grid_pixels(1, 3))
  assert_png(out / 'curves.png')


def test_vae_figures_show_reconstructions_and_prior_samples(shapes_data_dir, tmp_path):
  # The figure code alone, on fresh weights: test_autoencoder.py draws from a trained checkpoint.
  task = ReconstructionTask(tiny_config(shapes_data_dir, 'vae'))
  model = task.make_model()
  variables = task.init_variables(model, jax.random.key(0), {'image': jnp.zeros((1, 32, 32, 3))})
  written = visualize.reconstruction_figures(task.config, task, model, variables, str(tmp_path))
  assert written == ['reconstructions.png', 'samples.png']
  for name in written:
    assert_png(tmp_path / name, visualize.grid_pixels(2, 8))


def test_missing_checkpoint_is_a_user_error(tmp_path, capsys):
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(SystemExit) as exit_info:
    visualize.main(['--workdir', str(tmp_path / 'empty')])
  assert exit_info.value.code == 2
  assert 'error:' in capsys.readouterr().err
