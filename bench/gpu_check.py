"""The trainer's steps on a GPU (or any accelerator): jit == pmap, images/s, and bfloat16 compute.

  python bench/gpu_check.py                 # on the accelerator host; needs no TensorFlow

For each ConvNet of configs/mnist_cnn.py and configs/cifar10_cnn.py (ResNet-20): the trainer's
own train step (train.steps.make_train_step, DataParallel 'jit' and 'pmap', train.optim's
optimizer) on random device-resident batches. Prints the largest parameter difference between the
'jit' and 'pmap' runs after --steps steps (dropout off: pmap draws per-device masks), and images/s
of the jit step in float32 and bfloat16.
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
from train import optim, steps  # pylint: disable=wrong-import-position


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
  """(final params, seconds per step after the first) of `num_steps` steps of `parallel`."""
  task = RandomImages(config)
  model = task.make_model(steps.PMAP_AXIS if parallel == 'pmap' else None)
  tx = optim.make_optimizer(config, 1000)
  init_key, step_key = jax.random.split(jax.random.key(0))
  data_parallel = steps.DataParallel(parallel, steps.make_train_step(
      task, model, tx, step_key, steps.PMAP_AXIS if parallel == 'pmap' else None), lambda state, batch: {})
  rng = np.random.default_rng(0)
  batches = [{'image': rng.normal(size=(batch_size,) + image_shape).astype(np.float32),
              'label': rng.integers(0, 10, batch_size).astype(np.int32)} for _ in range(4)]
  init = jax.jit(lambda k, b: steps.create_state(task, model, tx, k, b), out_shardings=data_parallel.replicated)
  state = data_parallel.put_state(init(init_key, batches[0]))
  device_batches = [data_parallel.put_batch(b) for b in batches]
  state, metrics = data_parallel.train_step(state, device_batches[0])
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for step in range(1, num_steps):
    state, metrics = data_parallel.train_step(state, device_batches[step % 4])
  jax.block_until_ready(state)
  return data_parallel.get_state(state).params, (time.perf_counter() - start) / (num_steps - 1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
  parser.add_argument('--steps', type=int, default=50)
  args = parser.parse_args()
  print(f'JAX {jax.__version__}, devices: {jax.devices()}')
  for name, config, shape in (('MNIST ConvNet', mnist_cnn.get_config(), (28, 28, 1)),
                              ('ResNet-20', cifar10_cnn.get_config(), (32, 32, 3))):
    batch = config.batch_size  # 128: a multiple of 1, 2, 4 and 8 devices
    _, jit_s = run(config, shape, batch, args.steps, 'jit')
    # pmap folds the device index into the dropout key, so the two agree only without dropout.
    same = config.copy_and_resolve_references()
    if 'dropout_rate' in same.model:
      same.model.dropout_rate = 0.0
    jit_params, _ = run(same, shape, batch, args.steps, 'jit')
    pmap_params, _ = run(same, shape, batch, args.steps, 'pmap')
    gap = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(jit_params), jax.tree.leaves(pmap_params)))
    config.compute_dtype = 'bfloat16'
    _, bf16_s = run(config, shape, batch, args.steps, 'jit')
    print(f'{name}, batch {batch}: jit vs pmap after {args.steps} steps: max |param difference| {gap:.2e}; '
          f'float32 {batch / jit_s:,.0f} images/s, bfloat16 {batch / bf16_s:,.0f} images/s', flush=True)


if __name__ == '__main__':
  main()
