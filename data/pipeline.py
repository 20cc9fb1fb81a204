"""tf.data input streams whose order is a pure function of (seed, step), sharded across processes.

Training: the split is cut into `num_shards` contiguous shards (default: one per process).
Each shard is cached, shuffled with its own seed, repeated and batched; global batch `i` is the
concatenation of batch `i` of every shard, and a process reads only the shards whose rows of the
global batch it feeds. Starting at step `s` skips `s` batches of every shard before any decoding
or augmentation, so a resumed run sees exactly the batches an uninterrupted run would, and with
a fixed `num_shards` the global batches do not depend on how many processes read them.
Random augmentation draws from stateless ops seeded by (seed, shard, example position), so it is
reproducible too.

A split whose preprocessing draws no random numbers (`augments=False`), whose examples have one
shape and which fits in IN_MEMORY_LIMIT_BYTES is instead preprocessed once into memory, and each
batch is gathered from those arrays by a seeded permutation per shard and epoch: the same
guarantees at a fraction of the host CPU per batch (tf.data's shuffle, batch and map threads
were most of the input pipeline's cost on a small machine, bench/README_cnn.md). Where
the source can read such shards without TensorFlow (`read_numpy`) and the task preprocess them in
numpy (`preprocess_numpy`), tf.data is not used for them at all. Given a data/split_cache.py folder
and an identity of the task's preprocessing, those shards are saved there, and a later run loads them.
Reading a split into memory shows its progress (`progress`), as other long preparation does.

Evaluation: each process reads its contiguous shard in order, padded to a whole number of
batches (the same number on every process) with examples whose `mask` is 0, so metrics cover
every example exactly once.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import tqdm
from etils import epy

from data import split_cache as split_cache_lib
from data.errors import UserInputError

# TensorFlow, slow to import, loads when a stream first uses it: a run whose shards are in the
# split cache starts without it.
with epy.lazy_imports():
  import tensorflow as tf

# preprocess(example, seed, train) -> example; `seed` is a [2] int64 tf.Tensor for stateless ops.
Preprocess = Callable[[dict, Any, bool], dict]
# The same without random numbers, on {field: array over a shard} -> the same; None: cannot.
PreprocessNumpy = Callable[[dict[str, np.ndarray], bool], dict | None]

# Preprocessed examples (float32 images) take up to 4x the bytes of tf.data's cache of decoded
# ones, so larger splits keep streaming through tf.data.
IN_MEMORY_LIMIT_BYTES = 2 << 30
# Examples per tf.data element when a split is read into memory: enough that the per-element cost
# is negligible, few enough that the progress bar moves.
READ_CHUNK = 1024
# Preparation that ends sooner shows no progress bar.
PROGRESS_DELAY_S = 2.0


def progress(items: Iterable | None = None, *, total: int | None = None, desc: str, unit: str) -> tqdm.tqdm:
  """A tqdm progress bar on stderr for long preparation (reading a split, a corpus, building a vocabulary).

  Iterate it as `items`, or call update(n) for work done in chunks. It appears only once the work
  has taken PROGRESS_DELAY_S, so short preparation stays quiet, and only on a terminal, so logs
  and captured test output get no bars.
  """
  return tqdm.tqdm(items, total=total, desc=desc, unit=unit, unit_scale=True, delay=PROGRESS_DELAY_S,
                   disable=None, file=sys.stderr)


def split_examples(source, split: str, fields: Sequence[str], *, desc: str, unit: str) -> Iterator[dict]:
  """Every example of a whole split as {field: numpy value}, in the source's order, with a progress bar.

  Decoded without TensorFlow where the source can (`read_numpy`: a local TFDS dataset of PNG
  images, integers and texts), else through tf.data, one example at a time.
  """
  count = source.num_examples(split)  # names the splits if `split` is wrong
  with_bar = functools.partial(progress, total=count, desc=desc, unit=unit)
  read_numpy = getattr(source, 'read_numpy', None)
  columns = read_numpy(split, 0, 1, fields, with_bar) if read_numpy else None
  if columns is None:
    yield from with_bar(numpy_iterator(source.read(split)))
    return
  for i in range(count):
    yield {field: column[i] for field, column in columns.items()}


def numpy_iterator(ds: tf.data.Dataset) -> Iterator:
  """`ds.as_numpy_iterator()` without tf.data's autotuning model: every stream the project reads.

  Deleting an iterator whose autotuning model runs waits until the model's thread next wakes, and
  it sleeps the longer the stream has run, so runs ended in long idle waits (bench/README_cnn.md,
  bench/tf_data_teardown.py). Without the model, AUTOTUNE parallelism is one thread per core and
  prefetch buffers still grow when they run empty.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return ds.with_options(options).as_numpy_iterator()


def process_shards(num_shards: int, process_index: int, process_count: int) -> range:
  """The contiguous shards whose rows of each global batch this process feeds."""
  if num_shards % process_count:
    raise UserInputError(f'data.num_shards={num_shards} must be a multiple of the process count {process_count}')
  per_process = num_shards // process_count
  return range(process_index * per_process, (process_index + 1) * per_process)


def train_stream(source, split: str, preprocess: Preprocess, *, global_batch: int, seed: int,
                 start_step: int = 0, process_index: int = 0, process_count: int = 1,
                 num_shards: int = 0, cache: bool = True, shuffle_buffer: int = 10_000,
                 fields: Sequence[str] | None = None, augments: bool = True,
                 split_cache: split_cache_lib.SplitCache | None = None,
                 preprocess_id: dict | None = None, preprocess_numpy: PreprocessNumpy | None = None) -> Batches:
  """This process's rows of global training batches start_step, start_step + 1, ... (forever).

  `fields`: the example keys `preprocess` reads (None: all). Dropping the others before the cache
  cuts tf.data's work per batch on a dataset with many annotations (shapes: 12 fields, 2 used).
  `augments`: whether `preprocess` uses its seed; if not (and `cache`), see InMemoryBatches.
  `split_cache`, `preprocess_id`: where in-memory shards are saved, and what identifies
  `preprocess` (everything it depends on beyond the examples); either None: nothing is saved.
  `preprocess_numpy`: `preprocess` on whole shards of numpy arrays, which in-memory shards use
  where the source can read them without TensorFlow (`read_numpy`).
  """
  num_shards = num_shards or process_count
  if global_batch % num_shards:
    raise UserInputError(f'batch_size={global_batch} must be a multiple of data.num_shards={num_shards}')
  shard_batch = global_batch // num_shards
  shards = process_shards(num_shards, process_index, process_count)
  sizes = {shard: source.num_examples(split, shard, num_shards) for shard in shards}
  for shard, size in sizes.items():
    if size < shard_batch:
      raise UserInputError(f'split {split!r} shard {shard} has {size} examples, fewer than one batch '
                           f'of {shard_batch}; lower batch_size')
  if cache and not augments:
    in_memory = _whole_shards(source, split, sizes, num_shards, fields, preprocess, True, split_cache, preprocess_id,
                              preprocess_numpy)
    if in_memory:
      return InMemoryBatches(*in_memory, list(shards), shard_batch, seed, start_step)
  streams = []
  for shard in shards:
    ds = _select(source.read(split, shard, num_shards), fields)
    if cache:
      ds = ds.cache()
    ds = ds.shuffle(min(sizes[shard], shuffle_buffer), seed=seed * 1009 + shard, reshuffle_each_iteration=True)
    ds = ds.repeat().enumerate().skip(start_step * shard_batch)

    def augment(position, example, shard=shard):
      return preprocess(example, tf.stack([tf.constant(seed, tf.int64), shard * 2**40 + position]), True)

    streams.append(_map_then_batch(ds, augment, shard_batch))
  ds = tf.data.Dataset.zip(tuple(streams)).map(_concat_batches) if len(streams) > 1 else streams[0]
  return Batches(ds.prefetch(tf.data.AUTOTUNE))


def _whole_shards(source, split: str, sizes: dict[int, int], num_shards: int, fields: Sequence[str] | None,
                  preprocess: Preprocess, train: bool, split_cache: split_cache_lib.SplitCache | None,
                  preprocess_id: dict | None, preprocess_numpy: PreprocessNumpy | None = None,
                  ) -> tuple[Callable[[], list[dict[str, np.ndarray]]], dict] | None:
  """(read, specs) of shards `sizes` (shard -> examples) preprocessed whole into memory, or None
  where their examples differ in shape or they are larger than IN_MEMORY_LIMIT_BYTES.

  read() returns one {field: array over the shard's examples} per shard: the arrays saved in
  `split_cache` if all are there, else those the source and `preprocess_numpy` make without
  TensorFlow where they can (both read at once), else decoded through tf.data at read(), in chunks
  of READ_CHUNK examples that a progress bar counts; the latter two are saved.
  specs: {field: (one shard's shape, dtype)}, known before read().
  """
  keys = _shard_keys(source, split, sizes, num_shards, fields, train, preprocess_id) if split_cache else None
  arrays = [split_cache.load(key) for key in keys] if keys else []
  read_now = not _complete(arrays, sizes)
  if read_now:
    arrays = _read_numpy(source, split, sizes, num_shards, fields, train, preprocess_numpy)
  if _complete(arrays, sizes):
    if sum(array.nbytes for shard_arrays in arrays for array in shard_arrays.values()) > IN_MEMORY_LIMIT_BYTES:
      return None
    if read_now:
      _save(split_cache, keys, arrays)
    return (lambda: arrays), {name: (array.shape, array.dtype) for name, array in arrays[0].items()}
  no_seed = tf.zeros([2], tf.int64)
  chunked_shards = [_map_then_batch(_select(source.read(split, shard, num_shards).take(size), fields),
                                    lambda example: preprocess(example, no_seed, train), READ_CHUNK,
                                    drop_remainder=False)
                    for shard, size in sizes.items()]
  chunk_specs = chunked_shards[0].element_spec  # every shard's: one source, one preprocessing
  flat_specs = tf.nest.flatten(chunk_specs)
  if (not all(spec.shape[1:].is_fully_defined() for spec in flat_specs)
      or sum(sizes.values()) * sum(spec.shape[1:].num_elements() * spec.dtype.size for spec in flat_specs)
      > IN_MEMORY_LIMIT_BYTES):
    return None
  specs = {name: ((next(iter(sizes.values())),) + tuple(spec.shape[1:]), spec.dtype.as_numpy_dtype)
           for name, spec in chunk_specs.items()}

  def read():
    arrays = _read_chunks(chunked_shards, list(sizes.values()), specs, split)
    _save(split_cache, keys, arrays)
    return arrays

  return read, specs


def _read_chunks(chunked_shards: list[tf.data.Dataset], sizes: list[int], specs: dict,
                 split: str) -> list[dict[str, np.ndarray]]:
  """Each shard's chunks copied into {field: array over the shard's examples}, counted by a progress bar."""
  arrays = []
  with progress(total=sum(sizes), desc=f'reading {split}', unit=' examples') as bar:
    for ds, size in zip(chunked_shards, sizes):
      shard_arrays = {name: np.empty((size,) + shape[1:], dtype) for name, (shape, dtype) in specs.items()}
      start = 0
      for chunk in numpy_iterator(ds.prefetch(tf.data.AUTOTUNE)):
        stop = start + len(next(iter(chunk.values())))
        for name, values in chunk.items():
          shard_arrays[name][start:stop] = values
        bar.update(stop - start)
        start = stop
      arrays.append(shard_arrays)
  return arrays


def _save(split_cache: split_cache_lib.SplitCache | None, keys: list[dict] | None,
          arrays: list[dict[str, np.ndarray]]) -> None:
  for key, shard_arrays in zip(keys or [], arrays):  # keys only with a split cache
    split_cache.save(key, shard_arrays)


def _complete(arrays: list[dict[str, np.ndarray] | None], sizes: dict[int, int]) -> bool:
  """Whether `arrays` holds every shard of `sizes`, each with its number of examples."""
  return len(arrays) == len(sizes) and all(
      shard_arrays is not None and all(len(array) == size for array in shard_arrays.values())
      for size, shard_arrays in zip(sizes.values(), arrays))


def _read_numpy(source, split: str, sizes: dict[int, int], num_shards: int, fields: Sequence[str] | None,
                train: bool, preprocess_numpy: PreprocessNumpy | None) -> list[dict[str, np.ndarray] | None]:
  """The shards preprocessed without TensorFlow, as far as the source and the task can (see _complete)."""
  read_numpy = getattr(source, 'read_numpy', None)
  arrays = []
  for shard in sizes:
    raw = read_numpy(split, shard, num_shards, fields) if read_numpy and preprocess_numpy else None
    arrays.append(None if raw is None else preprocess_numpy(raw, train))
    if arrays[-1] is None:
      break
  return arrays


def _shard_keys(source, split: str, shards, num_shards: int, fields: Sequence[str] | None, train: bool,
                preprocess_id: dict | None) -> list[dict] | None:
  """The split-cache keys of `shards`; None where the source or the task cannot say what their
  arrays depend on."""
  fingerprint = getattr(source, 'fingerprint', None)
  files = fingerprint(split) if fingerprint and preprocess_id is not None else None
  if files is None:
    return None
  common = {'source': files, 'split': split, 'fields': list(fields or ()), 'preprocess': preprocess_id,
            'train': train, 'code': split_cache_lib.code_version(__name__, 'data.sources', 'data.subsets'),
            'versions': split_cache_lib.package_versions('tensorflow', 'tensorflow-cpu', 'tensorflow-datasets', 'numpy')}
  return [dict(common, shard=[shard, num_shards]) for shard in shards]


def _fixed_shapes(ds: tf.data.Dataset) -> bool:
  return all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(ds.element_spec))


class Batches:
  """The numpy batches of a dataset and, when all of them have one shape, a batch of zeros shaped like
  them (`template`), available before the first batch is read.

  The loop initialises the model from the template while the first batch is read (tf.data fills
  its shuffle buffer, or InMemoryBatches reads its shards).
  """

  def __init__(self, ds: tf.data.Dataset):
    self._batches = numpy_iterator(ds)
    self.template = (tf.nest.map_structure(lambda spec: np.zeros(spec.shape, spec.dtype.as_numpy_dtype),
                                           ds.element_spec) if _fixed_shapes(ds) else None)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return next(self._batches)


class InMemoryBatches(Batches):
  """Batches gathered from preprocessed shards held in memory, in an order fixed by (seed, step).

  Shard s is read in epochs, each a permutation of its examples drawn from (seed, s, epoch); batch
  i takes positions [i * b, (i + 1) * b) of that endless sequence from every shard of this process,
  concatenated in shard order, as the tf.data streams do. `read_shards()` returns the shards
  ({field: array over the shard's examples} each) and is called at the first batch, so the
  template (from `specs`: {field: (shard shape, dtype)}) is there before the reading starts.
  """

  def __init__(self, read_shards: Callable[[], list[dict[str, np.ndarray]]], specs: dict[str, tuple],
               shard_ids: list[int], shard_batch: int, seed: int, start_step: int):  # pylint: disable=super-init-not-called
    self._read_shards, self._shards = read_shards, None
    self._shard_ids, self._shard_batch, self._seed, self._step = shard_ids, shard_batch, seed, start_step
    self._orders = {}  # (shard, epoch) -> permutation, the last few only
    self.template = {name: np.zeros((shard_batch * len(shard_ids),) + tuple(shape[1:]), dtype)
                     for name, (shape, dtype) in specs.items()}

  def _order(self, shard: int, epoch: int, size: int) -> np.ndarray:
    if (shard, epoch) not in self._orders:
      if len(self._orders) > 4 * len(self._shards):
        self._orders.pop(next(iter(self._orders)))
      self._orders[shard, epoch] = np.random.default_rng([self._seed, shard, epoch]).permutation(size)
    return self._orders[shard, epoch]

  def __next__(self) -> dict[str, np.ndarray]:
    if self._shards is None:
      self._shards = self._read_shards()
    positions = np.arange(self._step * self._shard_batch, (self._step + 1) * self._shard_batch)
    self._step += 1
    parts = []
    for shard, arrays in zip(self._shard_ids, self._shards):
      size = len(next(iter(arrays.values())))
      epochs, offsets = np.divmod(positions, size)
      rows = np.concatenate([self._order(shard, epoch, size)[offsets[epochs == epoch]] for epoch in np.unique(epochs)])
      parts.append({key: value[rows] for key, value in arrays.items()})
    if len(parts) == 1:
      return parts[0]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _select(ds: tf.data.Dataset, fields: Sequence[str] | None) -> tf.data.Dataset:
  if not fields:
    return ds
  missing = [key for key in fields if key not in ds.element_spec]
  if missing:
    raise UserInputError(f'the examples have no field {missing[0]!r}; they have {sorted(ds.element_spec)} '
                         '(set data.image_key / data.label_key to one of them)')
  return ds.map(lambda example: {key: example[key] for key in fields})


def _map_then_batch(ds: tf.data.Dataset, fn, batch_size: int, drop_remainder: bool = True) -> tf.data.Dataset:
  """`ds.map(fn).batch(batch_size)`, vectorised over whole batches when the examples' shapes allow.

  tf.data's per-example call overhead was most of the pipeline's CPU time (bench/cnn_throughput.py),
  CPU that XLA needs on a small machine. Examples of varying shape (token sequences) cannot be
  batched before `fn`, so they keep the per-example map. Without `drop_remainder` the last batch
  is smaller and the batches' first dimension has no static size.
  """
  if all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(ds.element_spec)):
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # Without autograph: converting the vectorised function was a noticeable part of every run's start-up.
    per_batch = tf.autograph.experimental.do_not_convert(
        lambda *batch: tf.vectorized_map(lambda example: fn(*example), batch))
    return ds.map(per_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.batch(batch_size, drop_remainder=drop_remainder)


def _concat_batches(*batches):
  return {k: tf.concat([b[k] for b in batches], axis=0) for k in batches[0]}


def num_eval_batches(source, split: str, global_batch: int, process_count: int) -> int:
  """Batches each process runs so that the largest process shard is fully covered."""
  local_batch = global_batch // process_count
  largest = max(source.num_examples(split, p, process_count) for p in range(process_count))
  return math.ceil(largest / local_batch)


def eval_stream(source, split: str, preprocess: Preprocess, *, global_batch: int, process_index: int = 0,
                process_count: int = 1, fields: Sequence[str] | None = None,
                split_cache: split_cache_lib.SplitCache | None = None, preprocess_id: dict | None = None,
                preprocess_numpy: PreprocessNumpy | None = None) -> Iterator[dict[str, np.ndarray]]:
  """This process's padded eval batches; every example of the split appears exactly once overall.

  With `split_cache` and `preprocess_id`, or `preprocess_numpy` (see train_stream), the shard is
  preprocessed whole into memory where it fits (and saved): evaluation without TensorFlow.
  """
  if global_batch % process_count:
    raise UserInputError(f'eval batch size {global_batch} must be a multiple of the process count {process_count}')
  local_batch = global_batch // process_count
  batches = num_eval_batches(source, split, global_batch, process_count)
  size = source.num_examples(split, process_index, process_count)
  in_memory = (_whole_shards(source, split, {process_index: size}, process_count, fields, preprocess, False,
                             split_cache, preprocess_id, preprocess_numpy)
               if (split_cache and preprocess_id or preprocess_numpy) and size else None)
  if in_memory:
    read_shard, _ = in_memory
    return _padded_batches(read_shard()[0], size, batches, local_batch)
  no_seed = tf.zeros([2], tf.int64)  # evaluation preprocessing is deterministic
  ds = _select(source.read(split, process_index, process_count), fields).map(
      lambda ex: dict(preprocess(ex, no_seed, False), mask=tf.constant(1.0)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  padding = ds.take(1).map(lambda ex: {k: tf.zeros_like(v) for k, v in ex.items()}).repeat()
  ds = ds.concatenate(padding.take(batches * local_batch - size))
  return numpy_iterator(ds.batch(local_batch).prefetch(tf.data.AUTOTUNE))


def _padded_batches(arrays: dict[str, np.ndarray], size: int, batches: int,
                    batch: int) -> Iterator[dict[str, np.ndarray]]:
  """`batches` batches of the rows of `arrays`, then rows of zeros with `mask` 0, as eval_stream's
  tf.data path pads."""
  for start in range(0, batches * batch, batch):
    real = max(0, min(batch, size - start))
    yield {**{name: np.concatenate([array[start:start + real], np.zeros((batch - real,) + array.shape[1:], array.dtype)])
              for name, array in arrays.items()},
           'mask': (np.arange(batch) < real).astype(np.float32)}
