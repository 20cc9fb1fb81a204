"""Where examples come from: a TFDS dataset by name, a prepared TFDS directory, or a folder of images.

Every source answers the same two questions, so the pipelines in `data/pipeline.py` never care
which one they read:
  - `num_examples(split, shard, num_shards)`: how many examples a contiguous shard of a split holds;
  - `read(split, shard, num_shards)`: a tf.data.Dataset of those examples in a fixed order.
Shards are contiguous index ranges, so a process that reads shard k of n reads only its slice.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any

import tensorflow_datasets as tfds
from etils import epy

# TensorFlow, slow to import, loads when a pipeline first uses it, not with this module: the
# loop builds the task without it and compiles the model meanwhile (train/loop.py).
with epy.lazy_imports():
  import tensorflow as tf

from data import split_cache
from data.errors import UserInputError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif')
# The project's own procedurally generated datasets: importing the package registers the
# builder with TFDS, and preparing one needs no network.
# Importing the module registers the builder.
OWN_DATASETS = {'shapes': 'data.shapes.builder', 'reviews': 'data.reviews.builder',
                'translation_pairs': 'data.translation.builder',
                'shapes_dialogue': 'data.dialogue.builder'}


def shard_bounds(num_examples: int, shard: int, num_shards: int) -> tuple[int, int]:
  """The [start, stop) example range of one of `num_shards` near-equal contiguous shards."""
  return num_examples * shard // num_shards, num_examples * (shard + 1) // num_shards


def default_data_dir() -> str:
  return os.environ.get('TFDS_DATA_DIR') or os.path.expanduser('~/tensorflow_datasets')


def _download_reachable(timeout_s: float = 3.0) -> bool:
  """A quick look for the network: tfds itself would retry for minutes before giving up."""
  try:
    socket.create_connection(('storage.googleapis.com', 443), timeout=timeout_s).close()
    return True
  except OSError:
    return False


@dataclasses.dataclass
class TfdsSource:
  """A TFDS dataset by name ('mnist', 'cifar10', 'shapes', 'shapes/64', ...)."""
  name: str
  data_dir: str = ''

  def __post_init__(self):
    self.data_dir = self.data_dir or default_data_dir()
    base_name = self.name.split('/')[0].split(':')[0]
    if base_name in OWN_DATASETS:
      __import__(OWN_DATASETS[base_name])
    try:
      self.builder = tfds.builder(self.name, data_dir=self.data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
      raise UserInputError(f'unknown TFDS dataset {self.name!r}: {str(e).splitlines()[0]}') from e
    if not self.builder.is_prepared():
      self._prepare(own=base_name in OWN_DATASETS)

  def _prepare(self, own: bool):
    if not own and not _download_reachable():
      raise UserInputError(
          f'dataset {self.name!r} is not in the data dir {self.data_dir} and cannot be downloaded '
          '(no network). Build it on a machine with internet access (`tfds build '
          f'{self.name} --data_dir DIR`), copy DIR here and point TFDS_DATA_DIR or '
          '--config.data.data_dir at it, or use --config.data.source=tfds_dir with '
          '--config.data.path=<prepared dataset version folder>.')
    self.builder.download_and_prepare()

  @property
  def info(self):
    return self.builder.info

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    if split not in self.info.splits:
      raise UserInputError(f'dataset {self.name!r} has no split {split!r}; '
                           f'it has {sorted(self.info.splits.keys())}')
    start, stop = shard_bounds(self.info.splits[split].num_examples, shard, num_shards)
    return stop - start

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    start, stop = shard_bounds(self.num_examples(split), shard, num_shards)
    return self.builder.as_dataset(split=f'{split}[{start}:{stop}]', shuffle_files=False)

  def read_numpy(self, split: str, shard: int, num_shards: int, fields, progress=None) -> dict | None:
    """The shard's `fields` as numpy arrays, in read()'s order, decoded without TensorFlow; None
    where data/numpy_reader.py cannot (then read() can). `progress` wraps the records read."""
    from data import numpy_reader  # pylint: disable=import-outside-toplevel
    start, stop = shard_bounds(self.num_examples(split), shard, num_shards)
    return numpy_reader.read(self.builder, f'{split}[{start}:{stop}]', fields, progress)

  def fingerprint(self, split: str) -> list | None:
    """What identifies the data of `split` (see data/split_cache.py): its dataset's files."""
    del split  # the version folder's files, every split's: a rebuilt dataset changes them
    folder = os.fspath(self.builder.data_dir)
    try:
      names = sorted(os.listdir(folder))
    except OSError:  # not a local folder (e.g. gs://): no fingerprint, no saved copy
      return None
    return split_cache.files_fingerprint([os.path.join(folder, name) for name in names])


class TfdsDirectorySource(TfdsSource):
  """A dataset already prepared by TFDS, read from its version folder (…/mnist/3.0.1)."""

  def __init__(self, path: str):  # pylint: disable=super-init-not-called
    if not tf.io.gfile.exists(os.path.join(path, 'dataset_info.json')):
      raise UserInputError(f'{path} is not a prepared TFDS dataset folder (no dataset_info.json); '
                           'point data.path at the version folder, e.g. ~/tensorflow_datasets/mnist/3.0.1')
    self.name = path
    self.builder = tfds.builder_from_directory(path)


@dataclasses.dataclass
class ImageFolderSource:
  """A folder with train/ and test/ (or any split name) holding one subfolder of images per class."""
  path: str
  image_size: tuple[int, int] = (32, 32)

  def __post_init__(self):
    train_dir = os.path.join(self.path, 'train')
    if not os.path.isdir(train_dir):
      raise UserInputError(f'image folder {self.path} needs a train/ subfolder with one folder per class')
    self.class_names = sorted(d for d in os.listdir(train_dir)
                              if os.path.isdir(os.path.join(train_dir, d)))
    if not self.class_names:
      raise UserInputError(f'{train_dir} has no class subfolders')
    self._files = {}

  def _list(self, split: str) -> tuple[list[str], list[int]]:
    if split not in self._files:
      split_dir = os.path.join(self.path, split)
      if not os.path.isdir(split_dir):
        raise UserInputError(f'image folder {self.path} has no {split}/ subfolder')
      paths, labels = [], []
      for name in sorted(os.listdir(split_dir)):
        if name not in self.class_names:
          raise UserInputError(f'{split_dir}/{name} is a class that train/ does not have')
        class_dir = os.path.join(split_dir, name)
        for file in sorted(os.listdir(class_dir)):
          if file.lower().endswith(IMAGE_EXTENSIONS):
            paths.append(os.path.join(class_dir, file))
            labels.append(self.class_names.index(name))
      if not paths:
        raise UserInputError(f'{split_dir} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
      self._files[split] = (paths, labels)
    return self._files[split]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    start, stop = shard_bounds(len(self._list(split)[0]), shard, num_shards)
    return stop - start

  def fingerprint(self, split: str) -> list | None:
    """What identifies the data of `split` (see data/split_cache.py): its image files and size."""
    files = split_cache.files_fingerprint(self._list(split)[0])
    return None if files is None else [list(self.image_size), self.class_names, files]

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    paths, labels = self._list(split)
    start, stop = shard_bounds(len(paths), shard, num_shards)
    height, width = self.image_size

    def load(path, label):
      image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
      image = tf.image.resize(image, (height, width), antialias=True)
      return {'image': tf.cast(tf.round(image), tf.uint8), 'label': label}

    ds = tf.data.Dataset.from_tensor_slices((paths[start:stop], labels[start:stop]))
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_source(data_config: Any):
  """The source a config's `data` block names: source = 'tfds' | 'tfds_dir' | 'image_folder'."""
  kind = data_config.source
  if kind == 'tfds':
    return TfdsSource(data_config.name, data_config.get('data_dir', ''))
  if kind == 'tfds_dir':
    return TfdsDirectorySource(data_config.path)
  if kind == 'image_folder':
    return ImageFolderSource(data_config.path, tuple(data_config.image_size))
  raise UserInputError(f"unknown data.source {kind!r}; choose 'tfds', 'tfds_dir' or 'image_folder'")
