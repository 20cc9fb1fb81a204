"""The one training loop: every model family plugs into it as a task (train/tasks/).

  train_and_evaluate(config, workdir) -> final evaluation metrics

Rerunning with the same workdir resumes from the latest checkpoint. Since the data order and all
randomness are functions of (seed, step), a resumed run ends bit-identical to an uninterrupted one.
"""

import concurrent.futures
import json
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


def _checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=config.max_checkpoints, create=True,
                                           enable_async_checkpointing=config.async_checkpoints))


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
  instead of threefry's unrolled rounds, which compiles 2x faster (shapes ConvNet: 1.22 -> 0.58 s
  of every cold start). Its values are deterministic on a given JAX version and backend. The
  training key (dropout, noise) stays threefry, whose values are the same everywhere. The two
  generators share the seed but not an algorithm; seeding both, rather than splitting one key,
  saves compiling a split (0.1 s).
  """
  return jax.random.key(seed, impl='rbg'), jax.random.key(seed)


def _build(config):
  task = tasks.make_task(config)
  model = task.make_model(axis_name=steps.PMAP_AXIS if config.parallel == 'pmap' else None)
  return task, model


def restore(workdir: str, step: int | None = None):
  """(config, task, model, variables) of a run's latest (or given) checkpoint, on this host's devices."""
  config = load_config(workdir)
  config.parallel = 'jit'
  task, model = _build(config)
  batch = next(iter(task.eval_batches(0, 1)))
  state = jax.eval_shape(lambda: steps.create_state(task, model, optim.make_optimizer(config, 1),
                                                    jax.random.key(config.seed), batch))
  replicated = jax.sharding.NamedSharding(jax.sharding.Mesh(jax.devices(), ('data',)),
                                          jax.sharding.PartitionSpec())
  manager = _checkpoint_manager(workdir, config)
  step = manager.latest_step() if step is None else step
  if step is None:
    raise UserInputError(f'no checkpoint in {workdir}/checkpoints')
  restored = manager.restore(step, args=ocp.args.StandardRestore(_abstract(state, replicated)))
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
  totals = parallel.scalars(totals)
  count = totals.pop('count')
  return {name: value / count for name, value in totals.items()}


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
  # Compiled once each: run eagerly, their handful of jnp ops would compile one by one (~0.3 s).
  learning_rate = jax.jit(optim.learning_rate_schedule(config, config.num_steps))
  init_key, step_key = jax.jit(_root_keys)(config.seed)
  axis_name = steps.PMAP_AXIS if config.parallel == 'pmap' else None
  parallel = steps.DataParallel(config.parallel,
                                steps.make_train_step(task, model, tx, step_key, axis_name),
                                steps.make_eval_step(task, model, axis_name),
                                task.train_step_compiler_options())

  manager = _checkpoint_manager(workdir, config)
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
        log.write(step, 'eval', evaluate(task, parallel, state))
  finally:
    manager.wait_until_finished()  # an interrupted run keeps every checkpoint it started to write

  final = evaluate(task, parallel, state)
  variables = parallel.host_variables(state)
  final.update(task.evaluate_host(variables, workdir))
  log.write(config.num_steps, 'eval', final)
  if is_chief:
    task.export(variables, workdir)
  log.say('final ' + ' '.join(f'{k} {v:.4f}' for k, v in final.items()))
  log.close()
  manager.close()
  return final
