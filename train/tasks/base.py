"""The seam between the generic loop (train/loop.py) and a model family.

The loop owns devices, sharding, the optimizer, checkpoints, logging and the schedule of
evaluations; a task owns its data, its model, its loss and its metrics. Everything the loop calls
inside a compiled step (`loss`, `eval_metrics`) must be a pure function of its arguments.
"""

import abc
from typing import Any, Iterator

import flax.linen as nn
import jax
import ml_collections
import numpy as np

Batch = dict[str, np.ndarray]
Variables = dict[str, Any]


class Task(abc.ABC):
  """Base class: subclasses fill in the data, model, loss and metrics of one model family."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  # --- Data: this process's numpy batches; the loop puts them on devices. ---
  @abc.abstractmethod
  def train_batches(self, start_step: int, process_index: int, process_count: int) -> Iterator[Batch]:
    """This process's rows of global batches start_step, start_step+1, ...; a pure function of (seed, step)."""

  @abc.abstractmethod
  def eval_batches(self, process_index: int, process_count: int) -> Iterator[Batch]:
    """Every eval example exactly once over all processes; padded rows have `mask` 0."""

  def batch_template(self, rows: int) -> Batch | None:
    """Zeros shaped like each of this process's training batches of `rows` rows, or None.

    Known without reading data (from the dataset's metadata), it lets the loop compile the
    variables and the train step while the input pipeline starts: TensorFlow's import and the
    first read take as long as the compilations. None: the loop asks the stream instead.
    """
    del rows
    return None

  # --- Model. ---
  @abc.abstractmethod
  def make_model(self, axis_name: str | None = None) -> nn.Module:
    """The Flax module; `axis_name` is set under pmap so BatchNorm statistics span all devices."""

  @abc.abstractmethod
  def init_variables(self, model: nn.Module, rng: jax.Array, batch: Batch) -> Variables:
    """Fresh variables ('params' and any other collections) for a batch of this task's shape."""

  # --- Pure functions the loop compiles. ---
  @abc.abstractmethod
  def loss(self, model: nn.Module, params, state: Variables, batch: Batch, rng: jax.Array,
           train: bool) -> tuple[jax.Array, tuple[dict[str, jax.Array], Variables]]:
    """(scalar loss, (scalar metrics, updated non-param collections such as batch_stats))."""

  @abc.abstractmethod
  def eval_metrics(self, model: nn.Module, variables: Variables, batch: Batch) -> dict[str, jax.Array]:
    """Per-example metric values [B] (or arrays [B, ...]); the loop averages them over the unmasked
    eval examples, then hands the averages to `summarize_eval`."""

  def summarize_eval(self, averages: dict[str, np.ndarray]) -> dict[str, float]:
    """The reported metrics from the eval split's averages: the averages themselves by default.

    A metric that is not an average over examples is derived here from averages that are, e.g.
    a segmentation's IoU per class from its average confusion matrix (ratios of sums and of
    averages are the same).
    """
    return {name: float(value) for name, value in averages.items()}

  # --- Optional: the task's own update. ---
  # A task whose update is not one optimizer step on `loss`'s gradient sets this to a pure
  # function (model, params, model_state, batch, rng, step) -> (params, model_state, metrics with
  # 'loss'); the loop then skips the gradient and the optax optimizer. word2vec's sparse SGD, many
  # updates per step touching only the rows a batch uses, is one (train/tasks/skipgram.py).
  update = None

  def train_step_compiler_options(self) -> dict | None:
    """XLA `compiler_options` for the train step under parallel='jit'; None: XLA's defaults."""
    return None

  # --- Optional host-side hooks. ---
  def evaluate_host(self, variables: Variables, workdir: str) -> dict[str, float]:
    """Evaluations that are not per-example averages (e.g. a rank correlation); none by default."""
    del variables, workdir
    return {}

  def export(self, variables: Variables, workdir: str) -> None:
    """Write artefacts at the end of training (e.g. embeddings); nothing by default."""
    del variables, workdir


class SourceTask(Task, abc.ABC):
  """A task that reads one `data.sources` source through the seeded streams of data/pipeline.py.

  Subclasses set `self.source` and define `_preprocess(example, seed, train) -> example`.
  """
  fields: tuple[str, ...] | None = None  # the example keys _preprocess reads; None: all of them
  augments = True  # whether _preprocess draws random numbers from its seed in training

  @abc.abstractmethod
  def _preprocess(self, example, seed, train: bool) -> dict:
    """One raw example -> the model's input fields (tf ops; `seed` for stateless augmentation)."""

  def preprocess_id(self) -> dict | None:
    """Everything `_preprocess` depends on besides the example, if the task can say: then
    shards preprocessed into memory are saved for later runs (data/split_cache.py). None: not saved."""
    return None

  def data_config_preprocess_id(self, *modules: str) -> dict:
    """preprocess_id of a `_preprocess` that reads only the data config: the config, and the code of
    this class's modules and its bases' under train/, plus `modules` (e.g. the source's)."""
    from data import split_cache  # pylint: disable=import-outside-toplevel
    own = [cls.__module__ for cls in type(self).__mro__ if cls.__module__.startswith('train.')]
    return {'task': type(self).__qualname__, 'data': self.config.data.to_json_best_effort(sort_keys=True),
            'code': split_cache.code_version(*own, *modules)}

  # Optional: `_preprocess` on whole shards of numpy arrays where it draws no random numbers,
  # (arrays: {field: array}, train) -> exactly its values, or None for arrays it cannot take. Then
  # shards the source reads without TensorFlow (`read_numpy`) are preprocessed without it too.
  _preprocess_numpy = None

  def _in_memory_args(self) -> dict:
    from data import split_cache  # pylint: disable=import-outside-toplevel
    data = self.config.data
    preprocess_id = self.preprocess_id() if data.get('split_cache', False) else None
    return {'preprocess_id': preprocess_id, 'preprocess_numpy': self._preprocess_numpy,
            'split_cache': split_cache.SplitCache(data.get('split_cache_dir', '')) if preprocess_id else None}

  # data.pipeline is imported where it is used: its streams read through TensorFlow, which tasks
  # that do not use tf.data (skip-gram) should not pay for at start-up.
  def train_batches(self, start_step, process_index, process_count):
    from data import pipeline  # pylint: disable=import-outside-toplevel
    data = self.config.data
    return pipeline.train_stream(
        self.source, data.train_split, self._preprocess, global_batch=self.config.batch_size,
        seed=self.config.seed, start_step=start_step, process_index=process_index,
        process_count=process_count, num_shards=data.num_shards, cache=data.cache,
        shuffle_buffer=data.shuffle_buffer, fields=self.fields, augments=self.augments,
        **self._in_memory_args())

  def eval_batches(self, process_index, process_count):
    from data import pipeline  # pylint: disable=import-outside-toplevel
    return pipeline.eval_stream(
        self.source, self.config.data.eval_split, self._preprocess,
        global_batch=self.config.eval_batch_size, process_index=process_index,
        process_count=process_count, fields=self.fields, **self._in_memory_args())
