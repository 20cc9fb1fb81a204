"""The face-swap measurement of train/deepfake.py, on known truths and on a small trained pair."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import shapes_swap
from data import sources, subsets
from data.errors import UserInputError
from data.shapes import render
from tests.test_autoencoder import assert_png, tiny_config
from train import deepfake, loop, visualize


@pytest.fixture(scope='module')
def circles(shapes_data_dir):
  """Test-split circles of the shapes fixture as numpy columns, images in [0, 1]."""
  import data.shapes.builder  # noqa: F401  # registers the builder
  builder = tfds.builder('shapes', data_dir=shapes_data_dir)
  examples = tfds.as_numpy(builder.as_dataset(split='test', batch_size=-1))
  chosen = examples['label'] == render.SHAPES.index('circle')
  columns = {k: v[chosen] for k, v in examples.items() if k != 'caption'}
  columns['image'] = columns['image'].astype(np.float32) / 255.0
  return columns


def painted(examples, shape):
  """The perfect swap: `shape` at each example's centre, radius and rotation, in its colours."""
  obj, background = deepfake.object_colors(examples['image'], examples['mask'])
  side = examples['image'].shape[1]
  geometry = zip(examples['center'], examples['scale'], examples['rotation'])
  coverage = np.stack([render.shape_coverage(shape, side, c, s, r) for c, s, r in geometry])[..., None]
  return coverage * obj[:, None, None] + (1 - coverage) * background[:, None, None]


def test_filtered_source_keeps_the_domains_and_shards_them_exactly(shapes_data_dir):
  everything = deepfake.read_examples(sources.TfdsSource('shapes', shapes_data_dir), 'test')
  source = subsets.FilteredSource(sources.TfdsSource('shapes', shapes_data_dir), {'label': (0, 1)})
  kept = np.isin(everything['label'], (0, 1))
  assert source.num_examples('test') == kept.sum()
  shards = [np.stack(list(source.read('test', shard, 3).map(lambda ex: ex['center']).as_numpy_iterator()))
            for shard in range(3)]
  np.testing.assert_array_equal(np.concatenate(shards), everything['center'][kept])  # in order, once each
  with pytest.raises(UserInputError, match='no example'):
    subsets.FilteredSource(source, {'label': (5,)}).num_examples('test')
  with pytest.raises(UserInputError, match='colour'):
    subsets.FilteredSource(source, {'colour': (0,)}).num_examples('test')


def test_area_factor_is_the_area_over_radius_squared():
  assert deepfake.area_factor('circle') == pytest.approx(np.pi, rel=0.01)
  assert deepfake.area_factor('square') == pytest.approx(2.0, rel=0.01)


def test_a_perfect_swap_succeeds(circles):
  metrics = deepfake.measure_swap(painted(circles, 'square'), circles, 'square')
  assert metrics['success'] > 0.9, metrics
  assert metrics['iou'] > 0.85 and metrics['center_error'] < 0.02 and metrics['scale_error'] < 0.1, metrics


def test_no_swap_or_wrong_place_fails(circles):
  unchanged = deepfake.measure_swap(circles['image'], circles, 'square')
  assert unchanged['success'] < 0.1, unchanged  # a circle is not a square of the same radius
  moved = {**circles, 'center': 1.0 - circles['center']}  # the truth mirrored through the image centre
  wrong_place = deepfake.measure_swap(painted(moved, 'square'), circles, 'square')
  assert wrong_place['keeps_geometry_and_color'] < 0.2, wrong_place
  blank = deepfake.measure_swap(np.zeros_like(circles['image']), circles, 'square')
  assert blank['success'] == 0.0


def test_swap_run_reports_the_measurement_and_draws_the_swaps(shapes_data_dir, tmp_path):
  config = shapes_swap.get_config()
  tiny = tiny_config(shapes_data_dir, num_steps=4)
  config.data, config.batch_size, config.eval_batch_size = tiny.data, tiny.batch_size, tiny.eval_batch_size
  config.num_steps = config.log_every = config.eval_every = config.checkpoint_every = 4
  config.model.stage_features = (8, 16)
  final = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  for direction in ('circle_to_square', 'square_to_circle'):
    assert 0.0 <= final[f'swap_{direction}_iou'] <= 1.0
    assert f'swap_{direction}_success' in final
  assert visualize.visualize(str(tmp_path / 'run'), str(tmp_path / 'figures')) == ['swaps.png', 'curves.png']
  assert_png(tmp_path / 'figures' / 'swaps.png', visualize.grid_pixels(4, 8))  # A and A->B, both ways
