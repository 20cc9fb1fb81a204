"""`python -m train` on user mistakes: one line naming the problem, exit code 2, no traceback."""

import time

import pytest

from tests import spine_runs


@pytest.mark.parametrize('override, message', [
    ('--config.no_such_key=1', "unknown config key 'no_such_key'"),
    ('--config.optimizer.no_such_key=1', "unknown config key 'optimizer.no_such_key'"),
    ('--config.batch_size=many', 'batch_size'),
    ('--config.parallel=threads', "unknown parallel 'threads'"),
    ('--config.data.image_key=picture', "the examples have no field 'picture'"),
])
def test_bad_config_override(tmp_path, override, message, shapes_data_dir):
  result = spine_runs.run(spine_runs.train_command(
      tmp_path, f'--config.data.data_dir={shapes_data_dir}', override))
  assert result.returncode == 2, result.stderr
  assert message in result.stderr
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')


def test_missing_config_file(tmp_path):
  result = spine_runs.run(spine_runs.train_command(tmp_path, config='configs/no_such_experiment.py'))
  assert result.returncode == 2 and 'no_such_experiment.py' in result.stderr
  assert 'Traceback' not in result.stderr


def test_dataset_missing_offline_fails_fast_and_says_how_to_fix(tmp_path):
  started = time.perf_counter()
  result = spine_runs.run(spine_runs.train_command(
      tmp_path, f'--config.data.data_dir={tmp_path}/empty', config='configs/mnist_cnn.py'))
  # TFDS alone would retry for minutes; the bound leaves room for the start-up of JAX and TensorFlow on a
  # loaded 2-core machine (10.9 s in one CI run whose other worker was training).
  assert time.perf_counter() - started < 30
  assert result.returncode == 2
  assert "'mnist'" in result.stderr and f'{tmp_path}/empty' in result.stderr
  assert 'TFDS_DATA_DIR' in result.stderr and 'Traceback' not in result.stderr
