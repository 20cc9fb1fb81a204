"""A source restricted to the examples whose features take given values.

`data.keep` in a config, e.g. {'label': (0, 1)} or {'attributes/Male': (1,)}, keeps the examples
whose every named feature (a '/' path into nested features) has one of the listed values; booleans
compare as 0/1. The kept examples are renumbered 0..n-1 and sharded contiguously like any source,
so the pipelines in data/pipeline.py read a subset exactly as they read a whole split.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from etils import epy

# TensorFlow (1.5 s to import) loads when a pipeline first uses it, not with this module: the
# loop builds the task without it and compiles the model meanwhile (train/loop.py).
with epy.lazy_imports():
  import tensorflow as tf

from data.errors import UserInputError
from data.sources import shard_bounds


def feature(example: dict, path: str) -> tf.Tensor:
  value = example
  for part in path.split('/'):
    if not isinstance(value, Mapping) or part not in value:
      raise UserInputError(f'data.keep names feature {path!r}, which the examples do not have; '
                           f'they have {sorted(example)}')
    value = value[part]
  return value


class FilteredSource:
  """`source` restricted to the examples for which every feature in `keep` has an allowed value."""

  def __init__(self, source, keep: Mapping[str, Sequence[Any]]):
    self.source = source
    self.description = ', '.join(f'{path} in {tuple(values)}' for path, values in keep.items())
    self.keep = {path: tf.constant([int(v) for v in values], tf.int64) for path, values in keep.items()}
    self._counts = {}

  read_numpy = None  # the filter is tf.data's: not the wrapped source's reader, which would skip it

  def __getattr__(self, name):  # everything else (info, num_classes, ...) is the wrapped source's
    return getattr(self.source, name)

  def matches(self, example: dict) -> tf.Tensor:
    """A scalar bool tensor: does `example` have an allowed value for every kept feature?"""
    verdict = tf.constant(True)
    for path, allowed in self.keep.items():
      value = tf.cast(feature(example, path), tf.int64)
      verdict = tf.logical_and(verdict, tf.reduce_any(tf.equal(value, allowed)))
    return verdict

  def _kept(self, split: str) -> tf.data.Dataset:
    return self.source.read(split).filter(self.matches)

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    if split not in self._counts:
      self._counts[split] = int(self._kept(split).reduce(0, lambda count, _: count + 1))
      if not self._counts[split]:
        raise UserInputError(f'no example of split {split!r} matches data.keep ({self.description})')
    start, stop = shard_bounds(self._counts[split], shard, num_shards)
    return stop - start

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    start, stop = shard_bounds(self.num_examples(split), shard, num_shards)
    return self._kept(split).skip(start).take(stop - start)

  def fingerprint(self, split: str) -> list | None:
    """The wrapped source's, and which examples are kept (see data/split_cache.py)."""
    inner = self.source.fingerprint(split)
    return None if inner is None else [self.description, inner]


def maybe_filtered(source, data_config):
  """The source itself, or its subset when `data.keep` lists values for some feature (empty lists keep all)."""
  keep = {path: values for path, values in (data_config.get('keep') or {}).items() if len(values)}
  return FilteredSource(source, keep) if keep else source
