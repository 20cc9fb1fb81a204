"""The pure training and evaluation steps, and their data-parallel compilations.

Two ways to spread a global batch over devices, which give the same parameters:
  - 'jit' (default): one program over a Mesh of every device of every process; the batch is
    sharded along 'data', the state replicated and donated, and XLA inserts the gradient
    all-reduce itself.
  - 'pmap': the classic per-device program, with an explicit `lax.pmean` of the gradients and
    BatchNorm statistics averaged over the 'batch' axis.
"""

import os
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from train import xla_cpu

PMAP_AXIS = 'batch'


def use_compilation_cache():
  """Reuse compiled steps across runs (JAX's persistent cache): a rerun starts training in seconds.

  JAX_COMPILATION_CACHE_DIR chooses the folder; set it to '' to switch the cache off.
  """
  folder = os.environ.get('JAX_COMPILATION_CACHE_DIR', os.path.expanduser('~/.cache/jax_compilation'))
  if folder:
    jax.config.update('jax_compilation_cache_dir', folder)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any  # non-trainable collections, e.g. {'batch_stats': ...}

  @property
  def variables(self):
    return {'params': self.params, **self.model_state}


def create_state(task, model, tx, rng, batch) -> TrainState:
  variables = dict(task.init_variables(model, rng, batch))
  params = variables.pop('params')
  return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), variables)


def make_init(task, model, tx, sharding) -> Callable:
  """(key, batch) -> the initial TrainState on `sharding`, compiled as a program that runs once."""
  return jax.jit(lambda rng, batch: create_state(task, model, tx, rng, batch), out_shardings=sharding,
                 compiler_options=xla_cpu.run_once_compile_options(jax.default_backend()))


def make_train_step(task, model, tx, base_key: jax.Array, axis_name: str | None = None) -> Callable:
  """(state, batch) -> (state, metrics): one optimizer update, a pure function."""

  def train_step(state: TrainState, batch):
    # Randomness (dropout, noise) is a function of the step, so a resumed run draws the same.
    rng = jax.random.fold_in(base_key, state.step)
    if axis_name:
      rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
    if task.update is not None:
      params, model_state, metrics = task.update(model, state.params, state.model_state, batch, rng, state.step)
      if axis_name:
        metrics = jax.lax.pmean(metrics, axis_name)
      return TrainState(state.step + 1, params, state.opt_state, model_state), metrics

    def loss_fn(params):
      return task.loss(model, params, state.model_state, batch, rng, train=True)

    (loss, (metrics, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    metrics = dict(metrics, loss=loss)
    if axis_name:
      grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics['grad_norm'] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state, model_state), metrics

  return train_step


def make_eval_step(task, model, axis_name: str | None = None) -> Callable:
  """(state, batch) -> sums of the task's per-example metrics over the real rows, plus their count.

  A per-example metric is a value [B] or an array [B, ...] (e.g. a segmentation's confusion
  matrix), summed over the batch. The padded rows (`mask` 0) are left out by selection, not by
  multiplying with the mask: a model may compute inf or NaN on a row of zeros, and 0 * NaN is NaN.
  """

  def eval_step(state: TrainState, batch):
    values = task.eval_metrics(model, state.variables, batch)
    real = batch['mask'] > 0
    rows = lambda value: real.reshape(real.shape + (1,) * (value.ndim - 1))
    sums = {name: jnp.sum(jnp.where(rows(value), value, 0), axis=0) for name, value in values.items()}
    sums['count'] = jnp.sum(real, dtype=jnp.float32)
    return jax.lax.psum(sums, axis_name) if axis_name else sums

  return eval_step


class DataParallel:
  """Compiles the steps for `parallel` = 'jit' or 'pmap' and moves state and batches to devices."""

  def __init__(self, parallel: str, train_step: Callable, eval_step: Callable,
               train_compiler_options: dict | None = None):
    """`train_compiler_options`: XLA options for the train step under 'jit' (pmap takes none)."""
    self.parallel = parallel
    self.mesh = Mesh(np.array(jax.devices()), ('data',))
    self.replicated = NamedSharding(self.mesh, PartitionSpec())
    self.batch_sharding = NamedSharding(self.mesh, PartitionSpec('data'))
    if parallel == 'jit':
      self.train_step = jax.jit(train_step, in_shardings=(self.replicated, self.batch_sharding),
                                out_shardings=(self.replicated, self.replicated), donate_argnums=0,
                                compiler_options=train_compiler_options)
      self.eval_step = jax.jit(eval_step, in_shardings=(self.replicated, self.batch_sharding),
                               out_shardings=self.replicated)
    else:
      # pmap's layout: a leading axis of this process's devices, one slice each.
      self.local_devices = jax.local_device_count()
      self.per_device = NamedSharding(Mesh(np.array(jax.local_devices()), ('local',)),
                                      PartitionSpec('local'))
      self.train_step = jax.pmap(train_step, axis_name=PMAP_AXIS, donate_argnums=0)
      self.eval_step = jax.pmap(eval_step, axis_name=PMAP_AXIS)

  def lower_train_step(self, state, local_batch) -> jax.stages.Lowered | None:
    """The train step traced for `state` (arrays or their shapes) and batches shaped like this
    process's `local_batch`, in 'jit' mode; None for 'pmap'.

    Compiling it puts the program in JAX's cache, so the step's first call finds it compiled:
    the loop compiles it while the first batch is read.
    """
    if self.parallel != 'jit':
      return None
    # Shaped and placed as put_batch hands batches to the step (JAX keys its cache on both):
    # host arrays in one process, global arrays over several.
    count = jax.process_count()
    sharding = self.batch_sharding if count > 1 else None
    global_batch = jax.tree.map(lambda x: jax.ShapeDtypeStruct((x.shape[0] * count,) + x.shape[1:], x.dtype,
                                                               sharding=sharding), local_batch)
    return self.train_step.lower(state, global_batch)

  def put_batch(self, local_batch):
    """This process's rows -> what the compiled steps take: the global batch (jit) or a
    [local devices, ...] stack (pmap).

    In one process under 'jit' that is the numpy batch itself: the compiled step's own transfer,
    in C++, holds up XLA's threads less than a device_put from Python (bench/README_cnn.md).
    """
    if self.parallel == 'jit' and jax.process_count() == 1:
      return local_batch
    if self.parallel == 'jit':
      return jax.tree.map(
          lambda x: jax.make_array_from_process_local_data(self.batch_sharding, x), local_batch)
    return jax.tree.map(
        lambda x: jax.device_put(x.reshape((self.local_devices, -1) + x.shape[1:]), self.per_device),
        local_batch)

  def put_state(self, state):
    """A replicated global state (checkpoint layout) -> this mode's layout."""
    if self.parallel == 'jit':
      return state
    return jax.tree.map(lambda x: jax.device_put(
        np.broadcast_to(x.addressable_data(0), (self.local_devices,) + x.shape), self.per_device), state)

  def get_state(self, state):
    """This mode's layout -> the replicated global state the checkpoints hold."""
    if self.parallel == 'jit':
      return state
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.replicated, np.asarray(x[0])), state)

  def host_variables(self, state) -> dict:
    """The model variables as numpy arrays on this host."""
    if self.parallel == 'pmap':
      state = jax.tree.map(lambda x: x[0], state)
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state.variables)

  def scalars(self, tree) -> dict[str, float]:
    """Replicated scalar step outputs -> host floats."""
    return {k: float(v) for k, v in self.host_arrays(tree).items()}

  def host_arrays(self, tree) -> dict[str, np.ndarray]:
    """Replicated step outputs -> host numpy arrays."""
    if self.parallel == 'pmap':
      tree = jax.tree.map(lambda x: x[0], tree)
    return {k: np.asarray(v.addressable_data(0)) for k, v in tree.items()}
