"""Preprocessed shards saved for later runs (data/split_cache.py) and read without TensorFlow
(data/numpy_reader.py): the same batches as tf.data, no stale copy, no TensorFlow at start-up,
and a damaged or unwritable cache costs only time."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from configs import shapes_cnn
from data import pipeline, sources, split_cache, subsets
from tests import spine_runs
from train import tasks


class VersionedSource:
  """Examples 0..n-1 + offset; `version` stands for the dataset's files, `reads` counts decodings."""

  def __init__(self, n, version=1, offset=0):
    self.n, self.version, self.offset, self.reads = n, version, offset, 0

  def num_examples(self, split, shard=0, num_shards=1):
    del split
    return self.n * (shard + 1) // num_shards - self.n * shard // num_shards

  def read(self, split, shard=0, num_shards=1):
    self.reads += 1
    start = self.n * shard // num_shards + self.offset
    return tf.data.Dataset.range(start, start + self.num_examples(split, shard, num_shards)).map(
        lambda i: {'id': i, 'other': -i})

  def fingerprint(self, split):
    return [split, self.n, self.version]


def _double(example, seed, train):
  del seed, train
  return {'id': example['id'] * 2}


def _stream(source, cache, preprocess_id=None, start_step=0, process_index=0, process_count=1,
            fields=('id',)):
  return pipeline.train_stream(source, 'train', _double, global_batch=8, seed=5, start_step=start_step,
                               process_index=process_index, process_count=process_count, num_shards=2,
                               augments=False, fields=fields, split_cache=cache,
                               preprocess_id={'version': 1} if preprocess_id is None else preprocess_id)


def _ids(stream, count):
  return [next(stream)['id'] for _ in range(count)]


def test_saved_shards_give_the_batches_that_decoding_gives(tmp_path):
  cache = split_cache.SplitCache(str(tmp_path))
  source = VersionedSource(100)
  decoded = _ids(_stream(source, cache), 30)
  assert source.reads == 2 and len(os.listdir(tmp_path)) == 2  # one entry per shard
  saved = _ids(_stream(source, cache), 30)
  assert source.reads == 2  # nothing decoded again
  np.testing.assert_array_equal(saved, decoded)
  np.testing.assert_array_equal(_ids(_stream(source, cache, start_step=17), 13), decoded[17:])
  halves = [_stream(source, cache, process_index=p, process_count=2) for p in range(2)]
  for batch in decoded:
    np.testing.assert_array_equal(np.concatenate([next(h)['id'] for h in halves]), batch)
  assert source.reads == 2
  template = _stream(source, cache).template
  assert template['id'].shape == (8,) and template['id'].dtype == np.int64 and list(template) == ['id']


@pytest.mark.parametrize('process_count', [1, 3])
def test_saved_eval_shards_give_the_batches_that_tf_data_gives(tmp_path, process_count):
  cache = split_cache.SplitCache(str(tmp_path))
  source = VersionedSource(103)
  for process in range(process_count):
    stream = lambda **saving: list(pipeline.eval_stream(  # pylint: disable=cell-var-from-loop
        source, 'test', _double, global_batch=30, process_index=process, process_count=process_count,
        fields=('id',), **saving))
    streamed = stream()
    decoded = stream(split_cache=cache, preprocess_id={'version': 1})
    reads = source.reads
    saved = stream(split_cache=cache, preprocess_id={'version': 1})
    assert source.reads == reads  # nothing decoded again
    assert len(streamed) == len(decoded) == len(saved)
    for batch, *others in zip(streamed, decoded, saved):
      for other in others:
        assert other.keys() == batch.keys()
        for name, value in batch.items():
          np.testing.assert_array_equal(other[name], value)
          assert other[name].dtype == value.dtype


@pytest.mark.parametrize('change', ['dataset files', 'preprocessing', 'fields'])
def test_a_change_to_what_the_arrays_depend_on_reads_the_data_again(tmp_path, change):
  cache = split_cache.SplitCache(str(tmp_path))
  first = VersionedSource(100)
  before = _ids(_stream(first, cache), 3)
  # The same ids with other values behind them, as a rebuilt dataset or edited preprocessing gives.
  changed = VersionedSource(100, version=2 if change == 'dataset files' else 1, offset=1000)
  stream = _stream(changed, cache, preprocess_id={'version': 2} if change == 'preprocessing' else None,
                   fields=('id', 'other') if change == 'fields' else ('id',))
  assert changed.reads == 2
  assert all((after >= 2000).all() for after in _ids(stream, 3)) and all((b < 200).all() for b in before)


def test_nothing_is_saved_without_a_fingerprint_or_a_preprocessing_identity(tmp_path):
  class Anonymous(VersionedSource):
    fingerprint = None

  cache = split_cache.SplitCache(str(tmp_path))
  _ids(_stream(Anonymous(100), cache), 1)
  _ids(pipeline.train_stream(VersionedSource(100), 'train', _double, global_batch=8, seed=5, augments=False,
                             split_cache=cache, preprocess_id=None), 1)
  assert not os.listdir(tmp_path)


def test_a_damaged_entry_is_read_again_and_rewritten(tmp_path):
  cache = split_cache.SplitCache(str(tmp_path))
  key = {'any': 'key'}
  cache.save(key, {'x': np.arange(5)})
  entry = os.path.join(tmp_path, os.listdir(tmp_path)[0])
  with open(os.path.join(entry, split_cache.ARRAYS), 'wb') as f:
    f.write(b'not an npz')
  assert cache.load(key) is None
  cache.save(key, {'x': np.arange(5)})
  np.testing.assert_array_equal(cache.load(key)['x'], np.arange(5))


def test_the_least_recently_used_entries_beyond_the_limit_go(tmp_path, monkeypatch):
  monkeypatch.setattr(split_cache, 'MAX_ENTRIES', 2)
  cache = split_cache.SplitCache(str(tmp_path))
  for i in range(2):
    cache.save({'i': i}, {'x': np.full(3, i)})
  os.utime(cache._entry({'i': 1}), (1, 1))  # pylint: disable=protected-access  # long unused
  assert cache.load({'i': 0}) is not None
  cache.save({'i': 2}, {'x': np.full(3, 2)})
  assert cache.load({'i': 1}) is None
  assert cache.load({'i': 0}) is not None and cache.load({'i': 2}) is not None


def test_an_unwritable_folder_costs_only_the_speed_up(tmp_path, capsys):
  blocked = tmp_path / 'file'
  blocked.write_text('a file where the folder should be')
  cache = split_cache.SplitCache(str(blocked / 'splits'))
  cache.save({'any': 'key'}, {'x': np.arange(3)})
  assert cache.load({'any': 'key'}) is None
  assert 'not saved' in capsys.readouterr().err


_FIRST_BATCH = """
import sys
import numpy as np
from configs import shapes_cnn
from train import tasks
config = shapes_cnn.get_config()
config.data.data_dir = {data_dir!r}
config.data.split_cache_dir = {cache_dir!r}
task = tasks.make_task(config)
batch = next(task.train_batches(3, 0, 1))
evaluated = [(int(b['image'].astype(np.int64).sum()), b['label'].tolist(), b['mask'].sum()) for b in task.eval_batches(0, 1)]
print('tensorflow' in sys.modules, int(batch['image'].astype(np.int64).sum()), batch['label'].tolist(), evaluated)
"""


def test_a_classification_run_reads_and_evaluates_without_tensorflow(shapes_data_dir, tmp_path):
  """The first run decodes the split without TensorFlow (data/numpy_reader.py) and saves it; the
  second loads it. Both give the same training and evaluation batches, and neither imports TensorFlow."""
  code = _FIRST_BATCH.format(data_dir=shapes_data_dir, cache_dir=str(tmp_path))
  outputs = []
  for _ in range(2):
    result = spine_runs.run([sys.executable, '-c', code])
    assert result.returncode == 0, result.stderr[-2000:]
    outputs.append(result.stdout.split(' ', 1))
  assert outputs[0][0] == outputs[1][0] == 'False'
  assert outputs[0][1] == outputs[1][1]
  assert len(os.listdir(tmp_path)) == 2  # the train and the test split


def test_batches_read_without_tensorflow_are_those_tf_data_gives(shapes_data_dir, monkeypatch):
  """PNG decoding by Pillow and the numpy preprocessing against tf.data's: training batches (after
  a resume, over two shards) and evaluation batches, byte for byte."""
  config = shapes_cnn.get_config()
  config.data.update(data_dir=shapes_data_dir, split_cache=False, num_shards=2)
  config.update(batch_size=32, eval_batch_size=300)

  def batches(task):
    train = task.train_batches(7, 0, 1)
    return [next(train) for _ in range(3)] + list(task.eval_batches(0, 1))

  task = tasks.make_task(config)
  assert isinstance(task.source.read_numpy('test', 0, 2, ('image', 'label')), dict)
  without_tf = batches(task)
  monkeypatch.setattr(sources.TfdsSource, 'read_numpy', lambda *args: None)
  through_tf = batches(tasks.make_task(config))
  assert len(without_tf) == len(through_tf) == 3 + 4  # 1000 test images in batches of 300
  for ours, theirs in zip(without_tf, through_tf):
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
      assert ours[name].dtype == value.dtype
      np.testing.assert_array_equal(ours[name], value)


def test_texts_read_without_tensorflow_are_those_tf_data_gives(shapes_data_dir):
  source = sources.TfdsSource('shapes', shapes_data_dir)
  ours = source.read_numpy('test', 1, 2, ('caption', 'label'))
  theirs = list(pipeline.numpy_iterator(source.read('test', 1, 2)))
  assert len(ours['caption']) == len(theirs) == 500 and ours['caption'].dtype == object
  assert list(ours['caption']) == [example['caption'] for example in theirs]
  np.testing.assert_array_equal(ours['label'], [example['label'] for example in theirs])


def test_fields_without_a_numpy_decoder_are_left_to_tf_data(shapes_data_dir):
  config = shapes_cnn.get_config()
  config.data.data_dir = shapes_data_dir
  source = tasks.make_task(config).source
  assert source.read_numpy('test', 0, 1, ('center',)) is None  # floats: not an image, integer or text
  assert subsets.FilteredSource(source, {'label': (0,)}).read_numpy is None  # would skip the filter
