"""Training throughput of the MNIST ConvNet: the project's real train step beside PyTorch, on one CPU machine.

  python bench/cnn_throughput.py                                  # everything (~1.5-2.5 min on 2 loaded cores)
  python bench/cnn_throughput.py --skip-pipeline --skip-startup   # sections 1-2 only
  python bench/cnn_throughput.py --skip-throughput                # sections 3-4 only
  python bench/cnn_throughput.py --skip-torch --xla-flags=--xla_cpu_use_xnnpack=true
  python bench/cnn_throughput.py --standard-layers --skip-pipeline --skip-startup   # without nets/cpu_kernels.py

  1. Our train step, built exactly as train/loop.py builds it: configs/mnist_cnn.py, the ConvNet
     of nets/cnn.py from config.model (num_classes 10; with the config's model.cpu_kernels, the
     kernels of nets/cpu_kernels.py; --standard-layers: Flax's standard layers instead),
     train.optim.make_optimizer, train.steps.create_state / make_train_step and
     DataParallel('jit'): the jitted step that donates the state. Fed one device-resident random
     batch of [batch, 28, 28, 1]. Reported: images/s after --warmup steps, the first step's time
     (trace + XLA compile + one run), the process's peak RSS (resource.getrusage; it includes
     TensorFlow, which train.tasks imports) and JAX's device memory statistics (the CPU backend
     has none: live JAX array bytes instead).
  2. The same network in PyTorch (skipped if torch does not import, or --skip-torch):
     conv3x3 'same' (no bias) -> BatchNorm -> ReLU -> 2x2 max-pool per stage, flatten ->
     Linear(head) -> ReLU -> dropout -> Linear(10); AdamW with the config's hyperparameters,
     weight decay on kernels only, global-norm clipping and the warmup-cosine schedule. Measured
     for each --torch-threads value (default: all cores, then 1) in NCHW and channels_last; ours
     is compared with the faster layout at each thread count. PyTorch runs in a child process of
     its own (same environment: GLIBC_TUNABLES, threads), driven step for step from here.
     All rows of sections 1-2 are timed in interleaved repeats (median of --repeats timings of
     --steps steps), so load changes on a shared machine hit every row alike.
  3. Input-pipeline overhead, on the project's own 'shapes' dataset (MNIST is not available
     offline) with configs/shapes_cnn.py's model and batch: --steps steps fed by the real
     ClassificationTask.train_batches (tf.data) + DataParallel.put_batch as the loop feeds them,
     vs the same steps cycling through 16 device-resident batches; plus the host's cost per batch
     with no training beside it.
  4. Start-up: `python -m train --config configs/shapes_cnn.py --config.num_steps=1` as a
     subprocess, three times, with JAX_COMPILATION_CACHE_DIR and SPLIT_CACHE_DIR pointing at fresh
     temporary folders: the first run finds both the persistent compilation cache and the split
     cache (data/split_cache.py) empty, as the first run after building a dataset does; the second
     gets a fresh compilation cache but the split the first saved, as a run after a change to the
     model does; the third finds both filled. --startup-runs such triples. Each: the trainer's
     own "first step done X s after start" (timed from the start of train_and_evaluate, so
     without the imports) and the wall time from launch to that line.

Issue targets: ours >= 1.0x PyTorch's images/s (aim 1.3x), pipeline overhead <= 5%, first step
within 5 s of start on a built dataset. Results and what was tried: bench/README_cnn.md.
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MNIST_SHAPE = (28, 28, 1)
MNIST_CLASSES = 10


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--steps', type=int, default=50, help='timed steps per repeat')
  parser.add_argument('--warmup', type=int, default=30,
                      help='untimed steps after the first (compiling) one: until the heap has settled')
  parser.add_argument('--repeats', type=int, default=5, help='timings of --steps steps; the median is reported')
  parser.add_argument('--batch', type=int, default=128, help='MNIST batch size (sections 1 and 2)')
  parser.add_argument('--torch-threads', default=f'{os.cpu_count()},1',
                      help='comma-separated torch.set_num_threads values to measure (first: the headline)')
  parser.add_argument('--pipeline-steps', type=int, default=100,
                      help='steps per timing in section 3 (short timings drown a 5%% effect in noise)')
  parser.add_argument('--skip-torch', action='store_true', help='no PyTorch comparison')
  parser.add_argument('--torch-worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--skip-pipeline', action='store_true', help='no input-pipeline comparison')
  parser.add_argument('--skip-startup', action='store_true', help='no start-up subprocesses')
  parser.add_argument('--startup-runs', type=int, default=3, help='start-up triples (section 4)')
  parser.add_argument('--skip-throughput', action='store_true', help='no sections 1 and 2 (only 3 and 4)')
  parser.add_argument('--data-dir', default='/tmp/cnn_bench_tfds',
                      help="TFDS data dir for 'shapes'; built there (~20 s) if absent")
  parser.add_argument('--glibc-default-malloc', action='store_true',
                      help="no restart with train.xla_cpu.MALLOC_TUNABLES (glibc's defaults)")
  parser.add_argument('--standard-layers', action='store_true',
                      help="sections 1 and 3 with config.model.cpu_kernels=False (Flax's layers only)")
  parser.add_argument('--xla-flags', default='',
                      help='appended to $XLA_FLAGS before JAX starts, to try XLA CPU options')
  return parser.parse_args()


def peak_rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def device_memory(jax) -> str:
  """The allocator's peak where the backend reports one, else the bytes held by live JAX arrays."""
  stats = jax.devices()[0].memory_stats()
  if stats:
    return f"{stats.get('peak_bytes_in_use', stats.get('bytes_in_use', 0)) / 2**20:.0f} MiB peak"
  live = sum(x.nbytes for x in jax.live_arrays())
  return f'{jax.devices()[0].platform} has no memory_stats; live JAX arrays {live / 2**20:.1f} MiB'


def interleaved_seconds_per_step(steppers: dict, args) -> dict:
  """{name: median seconds per step}; each repeat times every stepper once, in turn, so that load
  changes on the shared machine hit all of them alike. `run_steps(n)` runs n steps and blocks."""
  for run_steps in steppers.values():
    run_steps(args.warmup)
  timings = {name: [] for name in steppers}
  for _ in range(args.repeats):
    for name, run_steps in steppers.items():
      time.sleep(0.5)  # lets the previous stepper's worker threads (OpenMP's spin) go idle first
      start = time.perf_counter()
      run_steps(args.steps)
      timings[name].append((time.perf_counter() - start) / args.steps)
  return {name: statistics.median(values) for name, values in timings.items()}


def first_step_seconds(run_steps) -> float:
  start = time.perf_counter()
  run_steps(1)
  return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------
# 1. Our train step.


def build_trainer(config, task):
  """(parallel, model, tx, init key) exactly as train.loop.train_and_evaluate builds them."""
  import jax  # pylint: disable=import-outside-toplevel
  from train import loop, optim, steps  # pylint: disable=import-outside-toplevel
  model = task.make_model(axis_name=None)
  tx = optim.make_optimizer(config, config.num_steps)
  init_key, step_key = jax.jit(loop._root_keys)(config.seed)  # pylint: disable=protected-access
  parallel = steps.DataParallel('jit', steps.make_train_step(task, model, tx, step_key),
                                steps.make_eval_step(task, model))
  return parallel, model, tx, init_key


def init_state(parallel, task, model, tx, init_key, host_batch):
  """The loop's initial state, as its init program makes it."""
  from train import steps  # pylint: disable=import-outside-toplevel
  init = steps.make_init(task, model, tx, parallel.replicated)
  return parallel.put_state(init(init_key, host_batch))


def random_mnist_batch(batch: int, seed: int = 0) -> dict:
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (batch,) + MNIST_SHAPE, dtype=np.uint8)  # as the task's batches carry them
  return {'image': images, 'label': rng.integers(0, MNIST_CLASSES, batch).astype(np.int32)}


def mnist_task(config):
  """ClassificationTask's model, init and loss for MNIST-shaped data, without its data source.

  ClassificationTask.__init__ opens the TFDS source (MNIST, not available offline) only to learn
  num_classes and to serve train_batches; the benchmark feeds its own batch. So a subclass sets
  num_classes itself and inherits make_model, init_variables and loss unchanged: the compiled step
  is the trainer's own.
  """
  from train.tasks import base, classification  # pylint: disable=import-outside-toplevel

  class MnistShapedClassification(classification.ClassificationTask):

    def __init__(self, config):  # pylint: disable=super-init-not-called
      base.Task.__init__(self, config)
      self.num_classes = MNIST_CLASSES

  return MnistShapedClassification(config)


def our_stepper(args, config) -> dict:
  """Our jitted, donating step on one device-resident batch; its first step is timed here."""
  import jax  # pylint: disable=import-outside-toplevel
  from nets import cnn  # pylint: disable=import-outside-toplevel
  task = mnist_task(config)
  parallel, model, tx, init_key = build_trainer(config, task)
  assert isinstance(model, cnn.ConvNet), model
  host_batch = random_mnist_batch(args.batch)
  state = init_state(parallel, task, model, tx, init_key, host_batch)
  params = sum(x.size for x in jax.tree.leaves(state.params))
  device_batch = jax.device_put(host_batch, parallel.batch_sharding)
  holder = [state]

  def run_steps(n):
    metrics = None
    for _ in range(n):
      holder[0], metrics = parallel.train_step(holder[0], device_batch)  # the old state is donated
    jax.block_until_ready((holder[0], metrics))

  return {'run_steps': run_steps, 'first_step_s': first_step_seconds(run_steps), 'params': params}


# ----------------------------------------------------------------------------------------------
# 2. PyTorch.


def torch_convnet(torch, model_config, in_channels: int, image_side: int, num_classes: int):
  """nets.cnn.ConvNet's architecture for model_config (norm 'batch', no global pool) in PyTorch."""
  nn = torch.nn
  layers, channels, side = [], in_channels, image_side
  for features in model_config.stage_features:
    for _ in range(model_config.convs_per_stage):
      # Flax BatchNorm(momentum=0.9, epsilon=1e-5) keeps 0.9 of the old running stats: torch's 0.1.
      layers += [nn.Conv2d(channels, features, 3, padding='same', bias=False),
                 nn.BatchNorm2d(features, eps=1e-5, momentum=0.1), nn.ReLU()]
      channels = features
    layers.append(nn.MaxPool2d(2))
    side //= 2
  layers.append(nn.Flatten())
  width = channels * side * side
  for hidden in model_config.head:
    layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(model_config.dropout_rate)]
    width = hidden
  layers.append(nn.Linear(width, num_classes))
  return nn.Sequential(*layers)


def torch_optimizer(torch, model, config):
  """train.optim.make_optimizer's AdamW: decay on kernels only, warmup-cosine (clipping is in the step)."""
  opt = config.optimizer
  decay = [p for p in model.parameters() if p.ndim > 1]
  no_decay = [p for p in model.parameters() if p.ndim <= 1]
  optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': opt.weight_decay},
                                 {'params': no_decay, 'weight_decay': 0.0}],
                                lr=opt.learning_rate, betas=(opt.b1, opt.b2), eps=1e-8)
  total = max(config.num_steps, opt.warmup_steps + 1)

  def factor(step):  # optax.warmup_cosine_decay_schedule(0, lr, warmup, total) / lr
    if step < opt.warmup_steps:
      return step / opt.warmup_steps
    progress = min(1.0, (step - opt.warmup_steps) / (total - opt.warmup_steps))
    return 0.5 * (1 + math.cos(math.pi * progress))

  return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def torch_stepper(torch, args, config, threads: int, channels_last: bool):
  """A full PyTorch training step (forward, backward, clipping, AdamW, schedule) on one batch."""
  memory_format = torch.channels_last if channels_last else torch.contiguous_format
  torch.manual_seed(0)
  model = torch_convnet(torch, config.model, MNIST_SHAPE[2], MNIST_SHAPE[0], MNIST_CLASSES)
  model = model.to(memory_format=memory_format).train()
  optimizer, scheduler = torch_optimizer(torch, model, config)
  batch = random_mnist_batch(args.batch)
  images = (torch.from_numpy(batch['image']).float() / 255 - 0.1307) / 0.3081  # MNIST's normalisation, as ours
  images = images.permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
  labels = torch.from_numpy(batch['label']).long()

  def run_steps(n):
    torch.set_num_threads(threads)  # the steppers take turns, so each sets its own
    for _ in range(n):
      optimizer.zero_grad(set_to_none=True)
      logits = model(images)
      loss = torch.nn.functional.cross_entropy(logits, labels)
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), config.optimizer.grad_clip_norm)
      optimizer.step()
      scheduler.step()
      (logits.argmax(-1) == labels).float().mean()  # the accuracy our step also reports
    loss.item()  # PyTorch on the CPU is synchronous; this is for symmetry

  return run_steps


def mnist_config(args):
  from configs import mnist_cnn  # pylint: disable=import-outside-toplevel
  config = mnist_cnn.get_config()
  config.batch_size = args.batch
  config.model.cpu_kernels = not args.standard_layers
  return config


def torch_worker(args) -> None:
  """--torch-worker: PyTorch's steppers in a process of their own, on the parent's orders.

  Prints a JSON header (torch's version and each stepper's first-step time, or an error), then
  for each line 'NAME N' on stdin runs N steps of stepper NAME and prints 'done'. Each framework
  has a process and a heap of its own, as in real use, so neither one's allocations shape the
  memory the other's steps get.
  """
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    print(json.dumps({'error': f'torch does not import ({e})'}), flush=True)
    return
  config, steppers, first_step_s = mnist_config(args), {}, {}
  for threads in (int(t) for t in args.torch_threads.split(',')):
    for channels_last in (False, True):
      name = f'PyTorch {threads} thread(s), {"channels_last" if channels_last else "NCHW"}'
      steppers[name] = torch_stepper(torch, args, config, threads, channels_last)
      first_step_s[name] = first_step_seconds(steppers[name])
  print(json.dumps({'version': torch.__version__, 'first_step_s': first_step_s}), flush=True)
  for line in sys.stdin:
    name, steps = line.rsplit(' ', 1)
    steppers[name](int(steps))
    print('done', flush=True)


def torch_steppers(args):
  """(worker process, its header, {name: run_steps}) for the steppers of a --torch-worker child."""
  worker = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--torch-worker', '--batch', str(args.batch),
                             '--torch-threads', args.torch_threads], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)  # inherits this process's GLIBC_TUNABLES and XLA_FLAGS
  header = json.loads(worker.stdout.readline())

  def remote(name):
    def run_steps(n):
      worker.stdin.write(f'{name} {n}\n')
      worker.stdin.flush()
      if worker.stdout.readline().strip() != 'done':
        raise RuntimeError('the PyTorch worker died')
    return run_steps

  return worker, header, {name: remote(name) for name in header.get('first_step_s', {})}


def throughput(args) -> dict:
  """Sections 1 and 2: steppers built, first steps timed, then all timed in interleaved repeats."""
  import jax  # pylint: disable=import-outside-toplevel
  config = mnist_config(args)
  ours = our_stepper(args, config)
  steppers = {'ours': ours['run_steps']}
  result = {'config': config, 'params': ours['params'], 'first_step_s': {'ours': ours['first_step_s']},
            'rss_after_ours_mib': peak_rss_mib(), 'device_memory': device_memory(jax), 'torch': None}
  worker = None
  if not args.skip_torch:
    worker, header, remote_steppers = torch_steppers(args)
    result['torch'] = header.get('version', f'skipped: {header.get("error")}')
    result['first_step_s'].update(header.get('first_step_s', {}))
    steppers.update(remote_steppers)
  result['seconds'] = interleaved_seconds_per_step(steppers, args)
  result['rss_end_mib'] = peak_rss_mib()
  if worker:
    worker.stdin.close()
    worker.wait()
  return result


# ----------------------------------------------------------------------------------------------
# 3. Input pipeline.


def pipeline_overhead(args) -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  from configs import shapes_cnn  # pylint: disable=import-outside-toplevel
  from train import loop  # pylint: disable=import-outside-toplevel
  from train.tasks import classification  # pylint: disable=import-outside-toplevel

  config = shapes_cnn.get_config()
  config.data.data_dir = args.data_dir
  config.model.cpu_kernels = not args.standard_layers
  start = time.perf_counter()
  task = classification.ClassificationTask(config)  # builds 'shapes' into data_dir if absent
  task_s = time.perf_counter() - start
  parallel, model, tx, init_key = build_trainer(config, task)
  batches = task.train_batches(0, 0, 1)
  first_batch = next(batches)
  state = init_state(parallel, task, model, tx, init_key, first_batch)
  # Device-resident batches, cycled: several rather than one, since steps that see a single batch
  # over and over drift from what real training computes.
  resident = [jax.device_put(batch, parallel.batch_sharding) for batch in [first_batch] + [next(batches) for _ in range(15)]]
  holder = [state]

  def fed(n):
    """The loop's feeding: next host batch, put_batch, at most MAX_STEPS_IN_FLIGHT queued steps."""
    pending = []
    for _ in range(n):
      holder[0], metrics = parallel.train_step(holder[0], parallel.put_batch(next(batches)))
      pending.append(metrics)
      if len(pending) > loop.MAX_STEPS_IN_FLIGHT:
        jax.block_until_ready(pending[-loop.MAX_STEPS_IN_FLIGHT])
    jax.block_until_ready(holder[0])

  def resident_only(n):
    pending = []
    for i in range(n):
      holder[0], metrics = parallel.train_step(holder[0], resident[i % len(resident)])
      pending.append(metrics)
      if len(pending) > loop.MAX_STEPS_IN_FLIGHT:
        jax.block_until_ready(pending[-loop.MAX_STEPS_IN_FLIGHT])
    jax.block_until_ready(holder[0])

  resident_only(1)  # compile
  fed(args.warmup + 1)  # fills tf.data's cache, shuffle buffer and prefetch
  # Interleaved, in alternating order (AB BA AB ...), so that load changes on the shared machine hit
  # both alike; at least 11 pairs of 100 steps, since a 5% effect is small next to that noise.
  fed_times, resident_times = [], []
  pairs = ((fed, fed_times), (resident_only, resident_times))
  for repeat in range(max(11, args.repeats)):
    for run_steps, times in pairs if repeat % 2 == 0 else pairs[::-1]:
      start = time.perf_counter()
      run_steps(args.pipeline_steps)
      times.append((time.perf_counter() - start) / args.pipeline_steps)
  fed_s, resident_s = statistics.median(fed_times), statistics.median(resident_times)
  # The host's own cost per batch with no training beside it: an upper bound on what the pipeline
  # adds where nothing overlaps, and far less noisy than the difference of two step rates.
  start = time.perf_counter()
  jax.block_until_ready([jax.device_put(next(batches), parallel.batch_sharding) for _ in range(args.steps)])
  host_ms = 1e3 * (time.perf_counter() - start) / args.steps
  return {'host_ms_per_batch': host_ms, 'resident_ms_per_step': 1e3 * resident_s,
          'batch': config.batch_size, 'stages': tuple(config.model.stage_features),
          'fed_steps_per_s': 1 / fed_s, 'resident_steps_per_s': 1 / resident_s,
          'fed_best': 1 / min(fed_times), 'resident_best': 1 / min(resident_times), 'pairs': len(fed_times),
          'best_overhead_pct': 100 * (min(fed_times) / min(resident_times) - 1),
          'overhead_pct': 100 * (fed_s / resident_s - 1), 'task_s': task_s,
          # Each pair's two timings are adjacent in time, so their ratio cancels the machine's slow
          # drifts, which the ratio of the two medians keeps.
          'paired_overhead_pct': 100 * (statistics.median(f / r for f, r in zip(fed_times, resident_times)) - 1)}


# ----------------------------------------------------------------------------------------------
# 4. Start-up.


def launch_env(extra: dict) -> dict:
  """This process's environment as a user's shell has it: without the malloc settings this
  benchmark restarted itself with, so that the trainer's own restart is timed too."""
  from train import xla_cpu  # pylint: disable=import-outside-toplevel
  env = dict(os.environ, **extra)
  tunables = env.pop('GLIBC_TUNABLES', '').replace(xla_cpu.MALLOC_TUNABLES, '').strip(':')
  return dict(env, GLIBC_TUNABLES=tunables) if tunables else env


def run_trainer_once(args, env: dict) -> dict:
  """Launch `python -m train` for one step; the time to its 'first step done' line, two ways."""
  with tempfile.TemporaryDirectory(prefix='cnn_bench_run_') as workdir:
    command = [sys.executable, '-m', 'train', '--config', 'configs/shapes_cnn.py', '--workdir', workdir,
               f'--config.data.data_dir={args.data_dir}', '--config.num_steps=1']
    launched = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=launch_env(env))
    trainer_s = wall_s = None
    output = []
    for line in process.stdout:
      output.append(line)
      found = re.search(r'first step done ([\d.]+)s after start', line)
      if found:
        wall_s = time.perf_counter() - launched
        trainer_s = float(found.group(1))
    process.wait()
    total_s = time.perf_counter() - launched
  if trainer_s is None:
    raise RuntimeError(f'no "first step done" line (exit {process.returncode}):\n' + ''.join(output[-20:]))
  return {'command': 'python ' + ' '.join(command[1:]).replace(workdir, '<tmp>'), 'trainer_s': trainer_s,
          'wall_s': wall_s, 'total_s': total_s}


STARTUP_KINDS = ('cold compilation cache, no saved split', 'cold compilation cache, saved split',
                 'warm compilation cache, saved split')


def startup(args) -> dict:
  """The trainer as it is, --startup-runs times each kind of STARTUP_KINDS (fresh cache folders
  per triple). Per kind: every run's times, so the spread of a shared machine shows."""
  runs = {kind: [] for kind in STARTUP_KINDS}
  for _ in range(args.startup_runs):
    with tempfile.TemporaryDirectory(prefix='cnn_bench_caches_') as caches:
      splits = os.path.join(caches, 'splits')
      for kind, compilations in zip(STARTUP_KINDS, ('first', 'second', 'second')):
        env = {'JAX_COMPILATION_CACHE_DIR': os.path.join(caches, compilations), 'SPLIT_CACHE_DIR': splits}
        runs[kind].append(run_trainer_once(args, env))
  return runs


def _spread(values: list[float]) -> str:
  """'4.9 s' for one value; 'median 4.9 s (4.6-5.2 s, 3 runs)' for several."""
  if len(values) == 1:
    return f'{values[0]:.1f} s'
  return f'median {statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f} s, {len(values)} runs)'


# ----------------------------------------------------------------------------------------------


def main():
  args = parse_args()
  if args.torch_worker:
    return torch_worker(args)
  from train import xla_cpu  # pylint: disable=import-outside-toplevel
  if not args.glibc_default_malloc:
    xla_cpu.restart_with_malloc_tunables()  # as python -m train runs; the PyTorch worker inherits it
  if args.xla_flags:
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {args.xla_flags}".strip()
  xla_cpu.use_measured_flags()  # the trainer's own XLA:CPU settings (unless --xla-flags chose others)
  import jax  # pylint: disable=import-outside-toplevel  (after XLA_FLAGS is set)
  load_before = os.getloadavg()
  speed = None if args.skip_throughput else throughput(args)
  pipeline = None if args.skip_pipeline else pipeline_overhead(args)
  starts = None if args.skip_startup else startup(args)
  load_after = os.getloadavg()

  print(f'\n{platform.machine()}, {os.cpu_count()} cores (shared); load average (1, 5, 15 min) '
        f'{", ".join(f"{x:.1f}" for x in load_before)} at start, {", ".join(f"{x:.1f}" for x in load_after)} '
        f"at end; JAX {jax.__version__} ({jax.devices()[0].platform}); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}")
  print(f'{args.steps} timed steps x {args.repeats} interleaved repeats (median) after {args.warmup} warm-up steps\n')
  rows = []
  if speed:
    m = speed['config'].model
    print(f'MNIST ConvNet (configs/mnist_cnn.py): stages {tuple(m.stage_features)} x{m.convs_per_stage} conv, '
          f'head {tuple(m.head)}, BatchNorm, dropout {m.dropout_rate}, {speed["params"]:,} parameters, '
          f'cpu_kernels={m.cpu_kernels}; '
          f'batch {args.batch} x {MNIST_SHAPE}, AdamW + clipping')
    images = {name: args.batch / seconds for name, seconds in speed['seconds'].items()}
    for name, seconds in speed['seconds'].items():
      rows.append((f'{name}: images/s', f'{images[name]:,.0f}  ({1e3 * seconds:.1f} ms/step; first step '
                                          f'{speed["first_step_s"][name]:.2f} s)'))
    rows.append(('ours: peak RSS of the process after ours (incl. TF import)', f'{speed["rss_after_ours_mib"]:.0f} MiB'))
    rows.append(('ours: JAX device memory', speed['device_memory']))
    rows.append(('ours: peak RSS at the end of sections 1-2', f'{speed["rss_end_mib"]:.0f} MiB'))
    if isinstance(speed['torch'], str) and speed['torch'].startswith('skipped'):
      rows.append(('PyTorch', speed['torch']))
    elif speed['torch'] is None:
      rows.append(('PyTorch', 'skipped (--skip-torch)'))
    else:
      torch_rows = {name: v for name, v in images.items() if name.startswith('PyTorch')}
      for threads in args.torch_threads.split(','):
        prefix = f'PyTorch {threads} thread(s),'
        faster = max((n for n in torch_rows if n.startswith(prefix)), key=torch_rows.get)
        rows.append((f'ours / {faster} (the faster layout)',
                     f'{images["ours"] / torch_rows[faster]:.2f}x  (target >= 1.0x, aim 1.3x)'))
  if pipeline:
    what = f'shapes_cnn {pipeline["stages"]}, batch {pipeline["batch"]}'
    rows += [(f'{what}: steps/s, tf.data pipeline + put_batch',
              f'{pipeline["fed_steps_per_s"]:.1f}  (best of {pipeline["pairs"]}: {pipeline["fed_best"]:.1f})'),
             (f'{what}: steps/s, 16 resident batches cycled',
              f'{pipeline["resident_steps_per_s"]:.1f}  (best of {pipeline["pairs"]}: {pipeline["resident_best"]:.1f})'),
             ('host time per batch alone (next + device_put, no training)',
              f'{pipeline["host_ms_per_batch"]:.1f} ms = {100 * pipeline["host_ms_per_batch"] / pipeline["resident_ms_per_step"]:.1f}% '
              f'of a resident step ({pipeline["resident_ms_per_step"]:.0f} ms)'),
             ('input-pipeline overhead', f'{pipeline["paired_overhead_pct"]:+.1f}% median of the pairs\' ratios, '
                                         f'{pipeline["overhead_pct"]:+.1f}% of medians, '
                                         f'{pipeline["best_overhead_pct"]:+.1f}% of bests  (target <= 5%)')]
  if starts:
    for name, runs in starts.items():
      rows += [(f'start-up ({name}): trainer\'s "first step done X s after start"', _spread([r['trainer_s'] for r in runs])),
               (f'start-up ({name}): process launch -> that line', _spread([r['wall_s'] for r in runs]) + '  '
                f'(whole 1-step run {_spread([r["total_s"] for r in runs])})')]
  width = max(len(name) for name, _ in rows)
  print(f'| {"measurement":<{width}} | value')
  print(f'|{"-" * (width + 2)}|------')
  for name, value in rows:
    print(f'| {name:<{width}} | {value}')
  if starts:
    print(f'\nstart-up command: JAX_COMPILATION_CACHE_DIR=<tmp> SPLIT_CACHE_DIR=<tmp> {starts[STARTUP_KINDS[0]][0]["command"]}')


if __name__ == '__main__':
  main()
