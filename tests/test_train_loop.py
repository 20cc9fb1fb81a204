"""The training loop in this process: a mock-data smoke run, the shapes learning test,
divergence handling, training from a local image folder, and the input streams' guarantees."""

import json
import os
import sys
import time

import chex
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from configs import defaults, mnist_cnn, shapes_cnn, shapes_mlp
from data import pipeline
from data.shapes import render
from tests import conftest, spine_runs
from train import loop
from train.tasks.classification import ClassificationTask, preprocess_image


def _small_run(config, num_steps=6):
  config.update(num_steps=num_steps, log_every=3, eval_every=3, checkpoint_every=3,
                batch_size=16, eval_batch_size=32)
  if 'stage_features' in config.model:
    config.model.stage_features = (8, 16)
  return config


def test_smoke_on_tfds_mock_data(tmp_path):
  # mock_data needs the dataset's metadata (split sizes) on disk; tfds' pip package has none.
  builder = tfds.builder('mnist', data_dir=str(tmp_path / 'meta'))
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name='train', shard_lengths=[64], num_bytes=0),
      tfds.core.SplitInfo(name='test', shard_lengths=[40], num_bytes=0)]))
  os.makedirs(builder.data_dir)
  builder.info.write_to_directory(builder.data_dir)
  config = _small_run(mnist_cnn.get_config())
  config.data.data_dir = str(tmp_path / 'meta')
  # mock_data swaps the file system while it builds datasets; a background checkpoint write
  # at the same moment would land in its temporary folder.
  config.async_checkpoints = False
  workdir = tmp_path / 'run'
  with conftest.mock_tfds(num_examples=64, data_dir=str(tmp_path / 'meta')):
    final = loop.train_and_evaluate(config, str(workdir))
  assert set(final) == {'loss', 'accuracy'} and np.isfinite(final['loss'])
  records = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records if r['split'] == 'train'] == [3, 6]
  assert json.loads((workdir / 'config.json').read_text())['data']['name'] == 'mnist'
  assert os.listdir(workdir / 'tensorboard')
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6']


@pytest.mark.learning
def test_shapes_convnet_reaches_95_percent_in_two_minutes(shapes_data_dir, tmp_path, learning_seed, record_learning):
  config = shapes_cnn.get_config()  # the README's default, on the 5000-image fixture
  config.seed = learning_seed
  config.data.data_dir = shapes_data_dir
  config.update(num_steps=800, eval_every=10_000, checkpoint_every=10_000, log_every=100)
  started = time.perf_counter()
  final = loop.train_and_evaluate(config, str(tmp_path))
  seconds = time.perf_counter() - started
  # Measured on the held-out 1000 after 800 steps, seeds 0-2: 97.6-99.1% on this CPU's AVX-512
  # code with the project's XLA flags, 98.2-98.9% on AVX2-only code without them; on one core, as
  # each `pytest -n 2` worker runs, 98.5-99.4% and 98.2-99.5% (bench/learning_margins.py).
  record_learning('accuracy', final['accuracy'], 0.95)
  assert final['accuracy'] >= 0.95, final
  assert seconds < 120, f'took {seconds:.0f}s'


def test_divergence_stops_naming_the_step_and_keeps_the_good_checkpoint(shapes_data_dir, tmp_path):
  config = _small_run(shapes_mlp.get_config(), num_steps=30)  # no BatchNorm to tame the blow-up
  config.data.data_dir = shapes_data_dir
  config.optimizer.update(name='sgd', learning_rate=1e3, grad_clip_norm=0.0, warmup_steps=6)
  with pytest.raises(loop.TrainingDiverged, match=r'at step \d+') as error:
    loop.train_and_evaluate(config, str(tmp_path))
  diverged_at = int(str(error.value).split('at step ')[1].split(';')[0])
  saved = [int(step) for step in os.listdir(tmp_path / 'checkpoints')]
  assert saved and all(step < diverged_at for step in saved)
  chex.assert_tree_all_finite(loop.restore(str(tmp_path))[3]['params'])


def _image_folder(tmp_path, counts=(('train', 24), ('test', 10))):
  """Images of circles and squares, 40 pixels wide, one subfolder per class."""
  rng = np.random.default_rng(0)
  for split, count in (('train', 24), ('test', 10)):
    for index in range(count):
      shape = ('circle', 'square')[index % 2]
      example = render.render_example(rng, 40, shape=shape)
      os.makedirs(tmp_path / 'images' / split / shape, exist_ok=True)
      Image.fromarray(example['image']).save(tmp_path / 'images' / split / shape / f'{index}.png')
  return str(tmp_path / 'images')


def test_trains_from_a_local_image_folder(tmp_path):
  config = _small_run(shapes_cnn.get_config())
  config.data.update(source='image_folder', path=_image_folder(tmp_path), image_size=(32, 32))
  final = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert np.isfinite(final['loss'])


@pytest.mark.parametrize('source', ['tfds', 'image_folder'])
def test_classification_template_is_shaped_like_its_batches(source, shapes_data_dir, tmp_path):
  """The loop compiles from the task's template before any data is read; it must match the data."""
  config = shapes_cnn.get_config()
  config.update(batch_size=16)
  config.data.data_dir = shapes_data_dir
  if source == 'image_folder':  # 40-pixel files, resized on reading
    config.data.update(source='image_folder', path=_image_folder(tmp_path), image_size=(24, 20))
  task = ClassificationTask(config)
  template = task.batch_template(16)
  batch = next(task.train_batches(0, 0, 1))
  chex.assert_trees_all_equal_shapes_and_dtypes(template, batch)
  assert template['image'].shape == ((16, 24, 20, 3) if source == 'image_folder' else (16, 32, 32, 3))
  assert not any(value.any() for value in template.values())


def test_a_template_the_data_contradicts_costs_time_not_correctness(shapes_data_dir, tmp_path, monkeypatch):
  config = _small_run(shapes_cnn.get_config(), num_steps=2)
  config.data.data_dir = shapes_data_dir
  expected = loop.train_and_evaluate(config, str(tmp_path / 'right'))
  monkeypatch.setattr(ClassificationTask, 'batch_template', lambda self, rows: {
      'image': np.zeros((rows, 28, 28, 3), np.uint8), 'label': np.zeros((rows,), np.int32)})
  assert loop.train_and_evaluate(config, str(tmp_path / 'wrong')) == expected


def test_an_image_task_is_built_without_importing_tensorflow(shapes_data_dir):
  """What lets the loop compile while TensorFlow imports (train/loop.py's _start)."""
  code = f"""
import sys
from configs import shapes_cnn
from train import tasks
config = shapes_cnn.get_config()
config.data.data_dir = {shapes_data_dir!r}
task = tasks.make_task(config)
task.make_model(), task.batch_template(4)
assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'
"""
  result = spine_runs.run([sys.executable, '-c', code])
  assert result.returncode == 0, result.stderr[-2000:]


class RangeSource:
  """Examples 0..n-1, so a test can see exactly which examples a stream yields."""

  def __init__(self, n):
    self.n = n

  def num_examples(self, split, shard=0, num_shards=1):
    del split
    return self.n * (shard + 1) // num_shards - self.n * shard // num_shards

  def read(self, split, shard=0, num_shards=1):
    del split
    start = self.n * shard // num_shards
    return tf.data.Dataset.range(start, start + self.num_examples('', shard, num_shards)).map(
        lambda i: {'id': i})


def _keep(example, seed, train):
  del seed, train
  return example


def test_eval_stream_covers_every_example_exactly_once_over_processes():
  source = RangeSource(103)
  seen = []
  for process in range(3):
    for batch in pipeline.eval_stream(source, 'test', _keep, global_batch=30, process_index=process,
                                      process_count=3):
      seen.extend(batch['id'][batch['mask'] == 1].tolist())
  assert sorted(seen) == list(range(103))


def test_streams_iterate_without_the_autotuning_model(monkeypatch):
  """Deleting an iterator whose autotuning model runs can wait out its sleep (bench/tf_data_teardown.py)."""
  autotuned = []
  as_numpy_iterator = tf.data.Dataset.as_numpy_iterator
  monkeypatch.setattr(tf.data.Dataset, 'as_numpy_iterator',
                      lambda ds: autotuned.append(ds.options().autotune.enabled) or as_numpy_iterator(ds))
  next(pipeline.train_stream(RangeSource(40), 'train', _keep, global_batch=8, seed=0))
  next(pipeline.train_stream(RangeSource(40), 'train', _keep, global_batch=8, seed=0, augments=False))
  next(pipeline.eval_stream(RangeSource(40), 'test', _keep, global_batch=8))
  assert autotuned == [False] * 3  # the tf.data train stream, the chunks read into memory, the eval stream
  np.testing.assert_array_equal([batch['id'] for batch in pipeline.eval_stream(RangeSource(20), 'test', _keep,
                                                                               global_batch=8)][0], np.arange(8))


@pytest.mark.parametrize('augments', [True, False], ids=['tf.data', 'in_memory'])
def test_train_stream_is_a_function_of_step_not_of_process_count(augments):
  source = RangeSource(100)
  stream = lambda start, p, count: pipeline.train_stream(
      source, 'train', _keep, global_batch=8, seed=3, start_step=start, process_index=p,
      process_count=count, num_shards=2, augments=augments)
  one_process = stream(0, 0, 1)
  assert isinstance(one_process, pipeline.InMemoryBatches) != augments
  batches = [next(one_process)['id'] for _ in range(30)]
  two_processes = [stream(0, 0, 2), stream(0, 1, 2)]
  for batch in batches:
    np.testing.assert_array_equal(np.concatenate([next(s)['id'] for s in two_processes]), batch)
  resumed = stream(17, 0, 1)
  for batch in batches[17:]:
    np.testing.assert_array_equal(next(resumed)['id'], batch)
  # 30 batches of 8 cover 2.4 epochs: every example is seen before any is seen a third time.
  counts = np.bincount(np.concatenate(batches), minlength=100)
  assert counts.min() >= 2 and counts.max() <= 3


def test_train_stream_template_has_the_batches_shapes_and_only_when_they_are_fixed(monkeypatch):
  """The loop initialises variables from `template` while the first batch is read."""
  fixed = pipeline.train_stream(RangeSource(40), 'train', _keep, global_batch=8, seed=0)
  first = next(fixed)
  assert fixed.template.keys() == first.keys()
  for key, value in first.items():
    assert fixed.template[key].shape == value.shape and fixed.template[key].dtype == value.dtype
    assert not fixed.template[key].any()
  ragged = pipeline.train_stream(RangeSource(40), 'train', lambda ex, seed, train: {'ids': tf.range(ex['id'] % 5)},
                                 global_batch=1, seed=0, augments=False)  # ragged: tf.data, not in memory
  assert ragged.template is None and not isinstance(ragged, pipeline.InMemoryBatches)
  in_memory = pipeline.train_stream(RangeSource(40), 'train', _keep, global_batch=8, seed=0, augments=False)
  assert isinstance(in_memory, pipeline.InMemoryBatches)
  monkeypatch.setattr(pipeline, 'IN_MEMORY_LIMIT_BYTES', 39 * 8)  # 40 int64 ids do not fit
  assert not isinstance(pipeline.train_stream(RangeSource(40), 'train', _keep, global_batch=8, seed=0, augments=False),
                        pipeline.InMemoryBatches)
  first = next(in_memory)
  assert in_memory.template['id'].shape == first['id'].shape and in_memory.template['id'].dtype == first['id'].dtype


def test_augmentation_vectorised_over_a_batch_equals_per_example():
  # train_stream runs preprocessing with tf.vectorized_map over whole batches.
  data = defaults.image_data('any', augment='crop_flip')
  images = tf.cast(tf.random.stateless_uniform([6, 32, 32, 3], [1, 2], maxval=256, dtype=tf.int32), tf.uint8)
  seeds = tf.constant([[0, i] for i in range(6)], tf.int64)
  per_example = [preprocess_image(images[i], seeds[i], True, data) for i in range(6)]
  vectorised = tf.vectorized_map(lambda pair: preprocess_image(pair[0], pair[1], True, data), (images, seeds))
  np.testing.assert_allclose(vectorised.numpy(), np.stack(per_example), atol=1e-6)
  unaugmented = preprocess_image(images, seeds[0], False, data)
  assert not np.allclose(vectorised.numpy(), unaugmented.numpy())  # the crops and flips did happen
