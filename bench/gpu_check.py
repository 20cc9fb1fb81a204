"""The trainer's steps on a GPU (or any accelerator): jit == pmap, images/s, and bfloat16 compute.

  python bench/gpu_check.py                 # on the accelerator host; needs no TensorFlow

For each ConvNet of configs/mnist_cnn.py and configs/cifar10_cnn.py (ResNet-20): the trainer's
own train step (train.steps.make_train_step, DataParallel 'jit' and 'pmap', train.optim's
optimizer) on random device-resident batches, started as train/loop.py starts it (its root keys,
the initialisation's compile options, the step compiled ahead of its first call). Prints the
largest parameter difference between the 'jit' and 'pmap' runs after --steps steps (dropout off:
pmap draws per-device masks), the seconds to compile the initialisation and the step, whether the
first call compiled again, and images/s of the jit step in float32 and bfloat16.
The loss is softmax cross-entropy as in train/tasks/classification.py, restated here because that
module reads its data through TensorFlow, which accelerator images often lack.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import cifar10_cnn, mnist_cnn  # pylint: disable=wrong-import-position
from nets import cnn  # pylint: disable=wrong-import-position
from train import loop, optim, steps  # pylint: disable=wrong-import-position

BACKEND_COMPILES = []  # seconds of every XLA compilation since the start
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kwargs: BACKEND_COMPILES.append(seconds)
    if event == '/jax/core/compile/backend_compile_duration' else None)


class RandomImages:
  """The part of a classification task that the steps use: model, init and loss."""
  update = None

  def __init__(self, config, num_classes=10):
    self.config, self.num_classes = config, num_classes

  def make_model(self, axis_name=None):
    model = dict(self.config.model)
    return cnn.MODELS[model.pop('name')](num_classes=self.num_classes, axis_name=axis_name,
                                         dtype=jnp.dtype(self.config.compute_dtype), **model)

  def init_variables(self, model, rng, batch):
    return dict(model.init({'params': rng, 'dropout': rng}, batch['image'], train=False))

  def loss(self, model, params, state, batch, rng, train):
    logits, state = model.apply({'params': params, **state}, batch['image'], train=True,
                                rngs={'dropout': rng}, mutable=list(state))
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()
    return loss, ({'accuracy': (logits.argmax(-1) == batch['label']).mean()}, state)


def run(config, image_shape, batch_size: int, num_steps: int, parallel: str):
  """(final params, seconds per step after the first, start-up facts) of `num_steps` steps."""
  task = RandomImages(config)
  model = task.make_model(steps.PMAP_AXIS if parallel == 'pmap' else None)
  tx = optim.make_optimizer(config, 1000)
  init_key, step_key = jax.jit(loop._root_keys)(0)  # pylint: disable=protected-access
  data_parallel = steps.DataParallel(parallel, steps.make_train_step(
      task, model, tx, step_key, steps.PMAP_AXIS if parallel == 'pmap' else None), lambda state, batch: {})
  rng = np.random.default_rng(0)
  batches = [{'image': rng.normal(size=(batch_size,) + image_shape).astype(np.float32),
              'label': rng.integers(0, 10, batch_size).astype(np.int32)} for _ in range(4)]
  init = steps.make_init(task, model, tx, data_parallel.replicated)
  start = time.perf_counter()
  state = init(init_key, batches[0])
  jax.block_until_ready(state)
  init_s = time.perf_counter() - start
  start = time.perf_counter()
  lowered = data_parallel.lower_train_step(state, batches[0])  # None under pmap
  if lowered is not None:
    lowered.compile()
  compile_s = time.perf_counter() - start
  state = data_parallel.put_state(state)
  compiles_before = len(BACKEND_COMPILES)
  state, metrics = data_parallel.train_step(state, data_parallel.put_batch(batches[0]))  # as the loop's first
  jax.block_until_ready(metrics)
  startup = {'init_s': init_s, 'step_compile_s': compile_s,
             'first_call_compiled': len(BACKEND_COMPILES) > compiles_before}
  # Timed on device-resident batches (the step's program for them compiles in the untimed call).
  device_batches = [jax.device_put(b, data_parallel.batch_sharding) if parallel == 'jit' else data_parallel.put_batch(b)
                    for b in batches]
  state, metrics = data_parallel.train_step(state, device_batches[0])
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for step in range(2, num_steps):
    state, metrics = data_parallel.train_step(state, device_batches[step % 4])
  jax.block_until_ready(state)
  return data_parallel.get_state(state).params, (time.perf_counter() - start) / (num_steps - 2), startup


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
  parser.add_argument('--steps', type=int, default=50)
  args = parser.parse_args()
  print(f'JAX {jax.__version__}, devices: {jax.devices()}')
  for name, config, shape in (('MNIST ConvNet', mnist_cnn.get_config(), (28, 28, 1)),
                              ('ResNet-20', cifar10_cnn.get_config(), (32, 32, 3))):
    batch = config.batch_size  # 128: a multiple of 1, 2, 4 and 8 devices
    _, jit_s, startup = run(config, shape, batch, args.steps, 'jit')
    # pmap folds the device index into the dropout key, so the two agree only without dropout.
    same = config.copy_and_resolve_references()
    if 'dropout_rate' in same.model:
      same.model.dropout_rate = 0.0
    jit_params, _, _ = run(same, shape, batch, args.steps, 'jit')
    pmap_params, _, _ = run(same, shape, batch, args.steps, 'pmap')
    gap = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(jit_params), jax.tree.leaves(pmap_params)))
    config.compute_dtype = 'bfloat16'
    _, bf16_s, _ = run(config, shape, batch, args.steps, 'jit')
    print(f'{name}, batch {batch}: jit vs pmap after {args.steps} steps: max |param difference| {gap:.2e}; '
          f'float32 {batch / jit_s:,.0f} images/s, bfloat16 {batch / bf16_s:,.0f} images/s; '
          f'initialisation {startup["init_s"]:.2f} s, step compiled ahead in {startup["step_compile_s"]:.2f} s, '
          f'first call compiled again: {startup["first_call_compiled"]}', flush=True)


if __name__ == '__main__':
  main()
