"""The one training loop: every model family plugs into it as a task (train/tasks/).

  train_and_evaluate(config, workdir) -> final evaluation metrics

Rerunning with the same workdir resumes from the latest checkpoint. Since the data order and all
randomness are functions of (seed, step), a resumed run ends bit-identical to an uninterrupted one.

With `config.best_metric` set (e.g. 'accuracy', or '-loss' where lower is better), the state with
the best value of that evaluation metric so far is also kept, in WORKDIR/best beside the latest
checkpoints in WORKDIR/checkpoints: a small data set is often overfitted long before num_steps.
`restore(workdir, which='best')` loads it.
"""

import argparse
import concurrent.futures
import json
import operator
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from data.errors import UserInputError
from train import optim, steps, tasks, writer

# Host-side bound on dispatched-but-unfinished steps: simulated CPU devices abort with a
# rendezvous timeout beyond ~32 queued sharded steps, and it bounds memory everywhere.
MAX_STEPS_IN_FLIGHT = 8


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite; the checkpoints on disk predate it."""


CHECKPOINTS = ('latest', 'best')


def _best_metric(config) -> tuple[str, str]:
  """(metric name, 'max' or 'min') of config.best_metric: 'accuracy' -> max, '-loss' -> min."""
  spec = config.get('best_metric', '')  # runs saved before the setting existed have none
  return (spec[1:], 'min') if spec.startswith('-') else (spec, 'max')


def checkpoint_manager(workdir: str, config, which: str = 'latest') -> ocp.CheckpointManager:
  """The manager of a run's latest checkpoints (WORKDIR/checkpoints) or of its best one (WORKDIR/best)."""
  if which == 'latest':
    folder, options = 'checkpoints', {'max_to_keep': config.max_checkpoints}
  else:
    # Orbax saves each checkpoint's metrics beside it and keeps the one best_fn ranks first: a
    # resumed run compares with the best value of the run it continues.
    name, mode = _best_metric(config)
    folder, options = 'best', {'max_to_keep': 1, 'best_fn': lambda metrics: metrics[name], 'best_mode': mode}
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), folder),
      options=ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=config.async_checkpoints,
                                           **options))


def _abstract(state, sharding):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def _save_config(config, workdir: str) -> None:
  with open(os.path.join(workdir, 'config.json'), 'w', encoding='utf-8') as f:
    f.write(config.to_json_best_effort(indent=2))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in its workdir."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise UserInputError(f'{workdir} is not a training run (no config.json): pass the --workdir of a run')
  with open(path, encoding='utf-8') as f:
    return ml_collections.ConfigDict(json.load(f))


def _root_keys(seed):
  """(initialisation key, training key), both seeded by the config's seed.

  The initialisation key is of the 'rbg' kind: its random bits come from XLA's RngBitGenerator
  instead of threefry's unrolled rounds, which compiles faster: initialising the variables is a
  large part of every cold start. Its values are deterministic on a given JAX version and backend.
  The training key (dropout, noise) stays threefry, whose values are the same everywhere. The two
  generators share the seed but not an algorithm; seeding both, rather than splitting one key,
  saves compiling a split.
  """
  return jax.random.key(seed, impl='rbg'), jax.random.key(seed)


def _build(config):
  task = tasks.make_task(config)
  model = task.make_model(axis_name=steps.PMAP_AXIS if config.parallel == 'pmap' else None)
  return task, model


def add_checkpoint_flag(parser: argparse.ArgumentParser) -> None:
  """--checkpoint latest|best, for the entry points that load a run."""
  parser.add_argument('--checkpoint', choices=CHECKPOINTS, default='latest',
                      help="which checkpoint of a run to load: the latest, or the one with the best value "
                           "of the run's best_metric")


def check_checkpoint_choice(workdir: str, config, which: str) -> None:
  """A clear error for a checkpoint kind that is not one, or for 'best' of a run that kept none."""
  if which not in CHECKPOINTS:
    raise UserInputError(f'unknown checkpoint {which!r}; choose one of {CHECKPOINTS}')
  if which == 'best' and not _best_metric(config)[0]:
    raise UserInputError(f'{workdir} has no best checkpoint: the run was trained without best_metric '
                         '(e.g. --config.best_metric=accuracy); load its latest checkpoint instead')


def kept_step(manager: ocp.CheckpointManager, which: str) -> int:
  """The step of the latest checkpoint a manager holds, or of its best one."""
  step = manager.latest_step() if which == 'latest' else manager.best_step()
  if step is None:
    raise UserInputError(f'no checkpoint in {manager.directory}')
  return step


def restore(workdir: str, step: int | None = None, which: str = 'latest'):
  """(config, task, model, variables) of a run's latest checkpoint, or with which='best' of the one
  with the best config.best_metric, on this host's devices; `step` picks another kept checkpoint."""
  config = load_config(workdir)
  check_checkpoint_choice(workdir, config, which)
  config.parallel = 'jit'
  task, model = _build(config)
  batch = next(iter(task.eval_batches(0, 1)))
  state = jax.eval_shape(lambda: steps.create_state(task, model, optim.make_optimizer(config, 1),
                                                    jax.random.key(config.seed), batch))
  replicated = jax.sharding.NamedSharding(jax.sharding.Mesh(jax.devices(), ('data',)),
                                          jax.sharding.PartitionSpec())
  manager = checkpoint_manager(workdir, config, which)
  restored = manager.restore(kept_step(manager, which) if step is None else step,
                             args=ocp.args.StandardRestore(_abstract(state, replicated)))
  manager.close()
  return config, task, model, restored.variables


def _start(task, init, init_key, parallel: steps.DataParallel, start_step: int, local_rows: int):
  """(initial state, train batches, first batch), XLA compiling while the data starts.

  The variables and the train step depend on the batches' shapes alone. Where the task knows them
  from the dataset's metadata (or the opened stream does), both are traced here and compiled in a
  thread while this one opens the stream (TensorFlow's import included) and reads the first batch
  (filling a shuffle buffer, or reading shards into memory). XLA's compiler runs without Python's
  lock; tracing and importing need it, so they take turns in this thread instead of contending.
  """
  def open_stream():
    return task.train_batches(start_step, jax.process_index(), jax.process_count())

  template, batches = task.batch_template(local_rows), None
  if template is None:
    batches = open_stream()
    template = getattr(batches, 'template', None)  # zeros shaped like every batch, if they share one shape
  if template is None:
    first_batch = next(batches)
    return init(init_key, first_batch), batches, first_batch
  init_lowered = init.lower(init_key, template)
  step_lowered = parallel.lower_train_step(init_lowered.out_info, template)

  def compile_and_initialise():
    state = init_lowered.compile()(init_key, template)
    if step_lowered is not None:
      step_lowered.compile()  # now in JAX's cache: the step's first call finds it compiled
    return state

  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    compiling = pool.submit(compile_and_initialise)
    batches = batches or open_stream()
    first_batch = next(batches)
    state = compiling.result()
  if not _same_shapes(template, first_batch):  # a wrong template costs time, not correctness
    state = init(init_key, first_batch)
  return state, batches, first_batch


def _same_shapes(a, b) -> bool:
  shapes = lambda tree: jax.tree.map(lambda x: (x.shape, np.dtype(x.dtype)), tree)
  return jax.tree.structure(a) == jax.tree.structure(b) and shapes(a) == shapes(b)


def evaluate(task, parallel: steps.DataParallel, state) -> dict[str, float]:
  """Per-example metrics averaged over every example of the eval split."""
  totals = None  # summed on the device: no host round trip per eval batch
  for batch in task.eval_batches(jax.process_index(), jax.process_count()):
    sums = parallel.eval_step(state, parallel.put_batch(batch))
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = parallel.host_arrays(totals)
  count = totals.pop('count')
  return task.summarize_eval({name: value / count for name, value in totals.items()})


def _eval_metric_names(task, parallel: steps.DataParallel, state) -> list[str]:
  """The metrics evaluate() reports, from the shapes of the eval step's outputs on one batch."""
  batch = next(iter(task.eval_batches(jax.process_index(), jax.process_count())))
  shapes = jax.eval_shape(parallel.eval_step, state, parallel.put_batch(batch))
  shapes.pop('count')
  return sorted(task.summarize_eval({name: np.ones(shape.shape, shape.dtype) for name, shape in shapes.items()}))


class BestCheckpoint:
  """The state with the best value of config.best_metric so far, in WORKDIR/best (see the module doc)."""

  def __init__(self, workdir: str, config, metric_names: list[str]):
    self.name, mode = _best_metric(config)
    if self.name not in metric_names:
      raise UserInputError(f'best_metric {config.best_metric!r} names no evaluation metric; the evaluations report '
                           f'{metric_names} (a leading "-" means lower is better, e.g. "-loss")')
    self._better = operator.gt if mode == 'max' else operator.lt
    self.manager = checkpoint_manager(workdir, config, 'best')
    self.step = self.manager.best_step()  # a resumed run's best so far
    self.value = None if self.step is None else self.manager.metrics(self.step)[self.name]

  def improves(self, step: int, metrics: dict[str, float]) -> bool:
    """Whether `metrics` beat the best so far; a resumed run evaluating the best step again is no news."""
    value = metrics[self.name]
    return bool(np.isfinite(value)) and step != self.step and (self.value is None or self._better(value, self.value))

  def save(self, step: int, metrics: dict[str, float], state) -> None:
    """Keeps `state` as the best, with all its metrics: a run resumed with another best_metric compares
    with the kept state's value of that one."""
    self.step, self.value = step, float(metrics[self.name])
    self.manager.save(step, args=ocp.args.StandardSave(state),
                      metrics={name: float(value) for name, value in metrics.items()})


def _check_finite(records: list[tuple[int, dict]], manager) -> None:
  for step, metrics in records:
    if not np.isfinite(metrics['loss']):
      kept = manager.latest_step()
      raise TrainingDiverged(
          f'loss is {metrics["loss"]} at step {step}; training stopped. '
          + (f'The last good checkpoint (step {kept}) is kept.' if kept is not None
             else 'No checkpoint had been saved yet.')
          + ' Lower optimizer.learning_rate or set optimizer.grad_clip_norm.')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  started = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  is_chief = jax.process_index() == 0
  if config.parallel not in ('jit', 'pmap'):
    raise UserInputError(f"unknown parallel {config.parallel!r}; choose 'jit' or 'pmap'")
  if config.batch_size % jax.device_count():
    raise UserInputError(f'batch_size={config.batch_size} must be a multiple of the {jax.device_count()} devices')

  task, model = _build(config)
  if is_chief:  # after the task, which may derive values (e.g. num_steps from epochs)
    _save_config(config, workdir)
  tx = optim.make_optimizer(config, config.num_steps)
  # Compiled once each: run eagerly, their handful of jnp ops would compile one by one.
  learning_rate = jax.jit(optim.learning_rate_schedule(config, config.num_steps))
  init_key, step_key = jax.jit(_root_keys)(config.seed)
  axis_name = steps.PMAP_AXIS if config.parallel == 'pmap' else None
  parallel = steps.DataParallel(config.parallel,
                                steps.make_train_step(task, model, tx, step_key, axis_name),
                                steps.make_eval_step(task, model, axis_name),
                                task.train_step_compiler_options())

  manager = checkpoint_manager(workdir, config)
  start_step = manager.latest_step() or 0
  init = steps.make_init(task, model, tx, parallel.replicated)
  state, batches, first_batch = _start(task, init, init_key, parallel, start_step,
                                       config.batch_size // jax.process_count())
  log = writer.MetricsWriter(workdir, config.num_steps, enabled=is_chief)
  if start_step:
    state = manager.restore(start_step, args=ocp.args.StandardRestore(_abstract(state, parallel.replicated)))
    log.say(f'resumed from the checkpoint at step {start_step}')
  params = sum(x.size for x in jax.tree.leaves(state.params))
  log.say(f'{config.task} / {config.model.name}: {params:,} parameters on {jax.device_count()} '
          f'{jax.devices()[0].platform} device(s), {jax.process_count()} process(es), {config.parallel}')

  state = parallel.put_state(state)
  best = (BestCheckpoint(workdir, config, _eval_metric_names(task, parallel, state))
          if config.get('best_metric') else None)

  def record_evaluation(step: int, metrics: dict[str, float], state) -> None:
    log.write(step, 'eval', metrics)
    if best and best.improves(step, metrics):
      best.save(step, metrics, parallel.get_state(state))
      log.say(f'new best {best.name} {best.value:.4g} at step {step}, kept in {best.manager.directory}')

  pending = []  # (step, device metrics) since the last report
  throughput = writer.Throughput(start_step)
  try:
    for step in range(start_step + 1, config.num_steps + 1):
      batch = first_batch if step == start_step + 1 else next(batches)
      state, metrics = parallel.train_step(state, parallel.put_batch(batch))
      pending.append((step, metrics))
      if step == start_step + 1:
        jax.block_until_ready(metrics)
        log.say(f'first step done {time.perf_counter() - started:.1f}s after start')
      elif len(pending) > MAX_STEPS_IN_FLIGHT:
        jax.block_until_ready(pending[-MAX_STEPS_IN_FLIGHT][1])
      report = step % config.log_every == 0 or step == config.num_steps
      save = step % config.checkpoint_every == 0 or step == config.num_steps
      if report or save:
        records = [(s, parallel.scalars(m)) for s, m in pending]
        _check_finite(records, manager)  # before saving, so no checkpoint ever holds a diverged state
        pending = []
        if report:
          mean = {k: float(np.mean([m[k] for _, m in records])) for k in records[0][1]}
          mean['learning_rate'] = float(learning_rate(step - 1))
          log.write(step, 'train', mean)
          log.progress(step, mean, throughput.rate(step))
        if save:
          manager.save(step, args=ocp.args.StandardSave(parallel.get_state(state)))
      if step % config.eval_every == 0 and step != config.num_steps:
        record_evaluation(step, evaluate(task, parallel, state), state)
  finally:
    manager.wait_until_finished()  # an interrupted run keeps every checkpoint it started to write
    if best:
      best.manager.wait_until_finished()

  final = evaluate(task, parallel, state)
  variables = parallel.host_variables(state)
  final.update(task.evaluate_host(variables, workdir))
  record_evaluation(config.num_steps, final, state)
  if is_chief:
    task.export(variables, workdir)
  log.say('final ' + ' '.join(f'{k} {v:.4f}' for k, v in final.items()))
  log.close()
  manager.close()
  if best:
    best.manager.close()
  return final
