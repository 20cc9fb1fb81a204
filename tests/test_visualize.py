"""python -m train.visualize writes labelled PNGs of the expected size from real checkpoints."""

import os

import numpy as np
import pytest
from PIL import Image

from configs import shapes_cnn
from tests.test_autoencoder import tiny_config
from train import loop, visualize

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


def assert_png(path, size=None):
  image = np.asarray(Image.open(path).convert('RGB'))
  if size is not None:
    assert (image.shape[1], image.shape[0]) == size, path
  assert image.std() > 1.0, f'{path} is blank'


def test_classifier_figures(shapes_data_dir, tmp_path):
  _classifier_run(shapes_data_dir, str(tmp_path / 'run'))
  out = tmp_path / 'figures'
  visualize.main(['--workdir', str(tmp_path / 'run'), '--out', str(out), '--index', '2'])
  assert_png(out / 'filters.png', visualize.grid_pixels(1, 8))  # 8 first-layer filters in one row
  # the input, then one row per stage: (8 channels at 16x16, 16 channels at 8x8)
  assert_png(out / 'feature_maps.png', visualize.grid_pixels(3, 16))
  assert_png(out / 'saliency.png', visualize.grid_pixels(1, 3))
  assert_png(out / 'curves.png')


@pytest.mark.parametrize('variant, files', [('vae', {'reconstructions.png': (2, 8), 'samples.png': (2, 8)})])
def test_autoencoder_figures(shapes_data_dir, tmp_path, variant, files):
  loop.train_and_evaluate(tiny_config(shapes_data_dir, variant, num_steps=STEPS), str(tmp_path / 'run'))
  written = visualize.visualize(str(tmp_path / 'run'), str(tmp_path / 'figures'))
  assert set(written) == set(files) | {'curves.png'}
  for name, (rows, columns) in files.items():
    assert_png(tmp_path / 'figures' / name, visualize.grid_pixels(rows, columns))


def test_missing_checkpoint_is_a_user_error(tmp_path, capsys):
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(SystemExit) as exit_info:
    visualize.main(['--workdir', str(tmp_path / 'empty')])
  assert exit_info.value.code == 2
  assert 'error:' in capsys.readouterr().err
