"""Training throughput of CLIP on shapes-sized data, JAX/Flax (nets.clip) beside PyTorch, on one machine.

  python bench/clip_throughput.py                    # configs/shapes_clip.py's sizes
  python bench/clip_throughput.py --batch 256 --standard-layers --torch-threads 2
  python bench/clip_throughput.py --tower image      # one tower alone: image or text

The workload of configs/shapes_clip.py: batch 128 of 32x32 RGB images and 16-token captions
(vocabulary 100); the image tower a ConvNet (stages 16, 32, 32 of conv 3x3 -> BatchNorm -> ReLU ->
2x2 max-pool, flatten, 128 -> ReLU -> 64), the text tower an embedding (32) -> bidirectional GRU
(64) -> both final states -> 64, both L2-normalised; the symmetric InfoNCE loss with a learned
logit scale; AdamW. Each step is a full training step on random data. Reported: compile time of
ours (PyTorch has none) and images/s over --steps steps after --warmup, the median of --repeats
timings taken in turns (ours, PyTorch, PyTorch, ours, ...) so that a shared machine's load
changes hit both. Ours is the trainer's real step (train.steps.make_train_step under
DataParallel('jit'), state donated) on train.tasks.contrastive's loss. `--tower image|text` times
one tower alone, to find where a gap lies: its forward and backward pass and AdamW on a loss that
pulls its unit embeddings towards fixed random unit vectors (ours: the same trainer's step on that
loss). Results: bench/README_clip.md.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
import timing  # bench/timing.py, beside this script (its folder is on the path)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train import xla_cpu  # pylint: disable=wrong-import-position

LENGTH, VOCAB = 16, 100


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--batch', type=int, default=128)
  parser.add_argument('--steps', type=int, default=30)
  parser.add_argument('--warmup', type=int, default=10)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--torch-threads', type=int, default=os.cpu_count())
  parser.add_argument('--standard-layers', action='store_true', help="Flax's layers only (no nets/cpu_kernels.py)")
  parser.add_argument('--tower', choices=('both', 'image', 'text'), default='both',
                      help='both: the whole CLIP step; image or text: that tower alone')
  return parser.parse_args()


def random_batch(batch: int) -> dict:
  rng = np.random.default_rng(0)
  return {'image': rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8),
          'ids': rng.integers(2, VOCAB, (batch, LENGTH)).astype(np.int32),
          'length': rng.integers(6, LENGTH + 1, batch).astype(np.int32)}


class _Tokenizer:
  vocab_size = VOCAB


class _OneTower:
  """The contrastive task reduced to one tower: its unit embeddings pulled towards batch['targets']."""
  update = None  # the trainer's step differentiates `loss`

  def __init__(self, task, tower: str):
    self.task, self.tower = task, tower

  def init_variables(self, model, rng, batch):
    return self.task.init_variables(model, rng, batch)

  def loss(self, model, params, state, batch, rng, train):
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

    from nets import clip  # pylint: disable=import-outside-toplevel
    del rng
    images, ids, mask = self.task._inputs(batch)  # pylint: disable=protected-access
    variables = {'params': params, **state}
    if self.tower == 'image':
      embedding, state = model.apply(variables, images, train, method=clip.CLIP.encode_image, mutable=list(state))
    else:
      embedding = model.apply(variables, ids, mask, train, method=clip.CLIP.encode_text)
    return -jnp.mean(jnp.sum(embedding * batch['targets'], axis=-1)), ({}, state)


def jax_step(args):
  """() -> runs one of our training steps and blocks; and the compile time."""
  import jax  # pylint: disable=import-outside-toplevel

  from configs import shapes_clip  # pylint: disable=import-outside-toplevel
  from nets import clip  # pylint: disable=import-outside-toplevel
  from train import optim, steps  # pylint: disable=import-outside-toplevel
  from train.tasks import contrastive  # pylint: disable=import-outside-toplevel

  config = shapes_clip.get_config()
  config.model.image.cpu_kernels = not args.standard_layers
  task = contrastive.ContrastiveTask.__new__(contrastive.ContrastiveTask)  # no data: random batches
  task.config, task.tokenizer, task.axis_name, task.text_init = config, _Tokenizer(), None, None
  model = task.make_model()
  tx = optim.make_optimizer(config, config.num_steps)
  batch = random_batch(args.batch)
  if args.tower != 'both':
    task = _OneTower(task, args.tower)
    batch['targets'] = np.asarray(clip.l2_normalize(jax.random.normal(jax.random.key(2), (args.batch, 64))))
  parallel = steps.DataParallel('jit', steps.make_train_step(task, model, tx, jax.random.key(1)),
                                steps.make_eval_step(task, model))
  batch = jax.device_put(batch)  # an argument of the step: XLA would fold a constant batch into it
  state = steps.make_init(task, model, tx, parallel.replicated)(jax.random.key(0), batch)
  start = time.perf_counter()
  parallel.train_step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  holder = [state]

  def step():
    holder[0], metrics = parallel.train_step(holder[0], batch)
    jax.block_until_ready(metrics)
  return step, compile_s


def torch_step(args):
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(args.torch_threads)

  def stage(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5),
            nn.ReLU(), nn.MaxPool2d(2)]

  image_tower = nn.Sequential(*stage(3, 16), *stage(16, 32), *stage(32, 32), nn.Flatten(),
                              nn.Linear(4 * 4 * 32, 128), nn.ReLU(), nn.Linear(128, 64))

  class TextTower(nn.Module):
    def __init__(self):
      super().__init__()
      self.embedding = nn.Embedding(VOCAB, 32, padding_idx=0)
      self.gru = nn.GRU(32, 64, batch_first=True, bidirectional=True)
      self.projection = nn.Linear(128, 64)

    def forward(self, ids, lengths):
      packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True,
                                                 enforce_sorted=False)
      _, hidden = self.gru(packed)  # [2 directions, batch, 64]
      return self.projection(torch.cat([hidden[0], hidden[1]], dim=-1))

  text_tower = TextTower()
  log_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
  params = [*image_tower.parameters(), *text_tower.parameters(), log_scale]
  optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
  batch = random_batch(args.batch)
  images = torch.from_numpy(batch['image']).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.25)
  ids, lengths = torch.from_numpy(batch['ids']).long(), torch.from_numpy(batch['length']).long()
  labels = torch.arange(args.batch)
  if args.tower != 'both':
    tower_params = [*(image_tower if args.tower == 'image' else text_tower).parameters()]
    tower_optimizer = torch.optim.AdamW(tower_params, lr=3e-3, weight_decay=1e-4)
    targets = nn.functional.normalize(torch.randn(args.batch, 64), dim=-1)

    def tower_step():
      embedding = image_tower(images) if args.tower == 'image' else text_tower(ids, lengths)
      loss = -(nn.functional.normalize(embedding, dim=-1) * targets).sum(-1).mean()
      tower_optimizer.zero_grad()
      loss.backward()
      torch.nn.utils.clip_grad_norm_(tower_params, 1.0)
      tower_optimizer.step()
    return tower_step

  def step():
    image_emb = nn.functional.normalize(image_tower(images), dim=-1)
    text_emb = nn.functional.normalize(text_tower(ids, lengths), dim=-1)
    logits = log_scale.clamp(0, np.log(100)).exp() * image_emb @ text_emb.T
    loss = 0.5 * (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
  return step


def main():
  args = parse_args()
  xla_cpu.use_measured_flags()
  ours, compile_s = jax_step(args)
  rows = {'ours (JAX/Flax)': ours}
  try:
    import torch  # pylint: disable=import-outside-toplevel
    rows[f'PyTorch {torch.__version__} ({args.torch_threads} threads)'] = torch_step(args)
  except ImportError:
    print('torch does not import: PyTorch row skipped (pip install -r bench/requirements.txt)')
  timings = timing.interleaved_timings(rows, args.warmup, args.repeats, args.steps)
  images_per_s = timing.images_per_second(timings, args.batch)
  print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores; batch {args.batch}; '
        f'{"standard layers" if args.standard_layers else "nets/cpu_kernels.py"}; tower {args.tower}; '
        f'our compile {compile_s:.1f} s')
  for name, value in images_per_s.items():
    print(f'{name:40s} {value:8.0f} images/s')
  if len(images_per_s) == 2:
    ours_value, theirs = images_per_s.values()
    print(f'ours / PyTorch: {ours_value / theirs:.2f}x')


if __name__ == '__main__':
  main()
