"""Training throughput of the LSTM and GRU text classifiers, JAX/Flax (nets.rnn) beside PyTorch, on one machine.

  python bench/rnn_throughput.py                      # LSTM and GRU, the issue's sizes
  python bench/rnn_throughput.py --cells lstm --unroll 1,2,4 --steps 10
  taskset -c 0,1 python bench/rnn_throughput.py --torch-threads 2   # both frameworks on 2 cores

The workload of issue 4: vocabulary 20 000, embedding 128, hidden 256, batch 64, length 200,
one layer, the final state into a 2-class classifier, Adam. Each step is a full training step
(forward, backward, update) on random token ids. Reported per framework and cell: compile time
(JAX: tracing + XLA compilation of the step; PyTorch has none) and tokens per second over
`--steps` steps after `--warmup` warm-up steps: the median of `--repeats` timings, taken in turns
(JAX, PyTorch, PyTorch, JAX, ...) so that a shared machine's load changes hit both. Every row
processes all 200 steps of every sequence; the JAX model also carries the padding mask through
its scan, as it does in training. PyTorch is optional: without it only the JAX rows are printed.
Results and what was tried: bench/README_rnn.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nets import rnn  # pylint: disable=wrong-import-position
from train import xla_cpu  # pylint: disable=wrong-import-position


def interleaved_tokens_per_s(steps: list, args) -> list[float]:
  """Tokens/s of each `step()` (which blocks until done): after warm-up, every repeat times each
  step function in turn, in alternating order, so load changes on a shared machine hit all alike."""
  for step in steps:
    for _ in range(args.warmup):
      step()
  timings = [[] for _ in steps]
  for repeat in range(args.repeats):
    order = list(range(len(steps)))[::1 if repeat % 2 == 0 else -1]
    for i in order:
      time.sleep(0.5)  # lets the other framework's worker threads stop spinning before this timing
      start = time.perf_counter()
      for _ in range(args.steps):
        steps[i]()
      timings[i].append((time.perf_counter() - start) / args.steps)
  return [args.batch * args.length / statistics.median(t) for t in timings]


def jax_row(cell: str, unroll: int, args) -> dict:
  model = rnn.TextClassifier(vocab_size=args.vocab, num_classes=2, embed_dim=args.embed, cell=cell,
                             features=args.hidden, unroll=unroll)
  rng = np.random.default_rng(0)
  ids = jnp.asarray(rng.integers(2, args.vocab, (args.batch, args.length)), jnp.int32)
  mask = jnp.ones((args.batch, args.length), bool)
  labels = jnp.asarray(rng.integers(0, 2, args.batch), jnp.int32)
  params = model.init(jax.random.key(0), ids, mask)['params']
  tx = optax.adam(1e-3)
  opt_state = tx.init(params)

  def train_step(params, opt_state):
    def loss_fn(params):
      logits = model.apply({'params': params}, ids, mask)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  start = time.perf_counter()
  compiled = jax.jit(train_step, donate_argnums=(0, 1)).lower(params, opt_state).compile()
  compile_s = time.perf_counter() - start
  state = [params, opt_state]

  def step():
    state[0], state[1], loss = compiled(*state)
    loss.block_until_ready()

  return {'framework': f'JAX {jax.__version__} (unroll {unroll})', 'cell': cell, 'compile_s': compile_s}, step


def torch_row(cell: str, args) -> dict:
  import torch  # pylint: disable=import-outside-toplevel

  class Classifier(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.embedding = torch.nn.Embedding(args.vocab, args.embed)
      self.rnn = {'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell](args.embed, args.hidden, batch_first=True)
      self.classifier = torch.nn.Linear(args.hidden, 2)

    def forward(self, ids):
      _, final = self.rnn(self.embedding(ids))
      hidden = final[0] if cell == 'lstm' else final  # an LSTM returns (h, c)
      return self.classifier(hidden[-1])

  torch.manual_seed(0)
  model = Classifier()
  optimizer = torch.optim.Adam(model.parameters(), 1e-3)
  ids = torch.randint(2, args.vocab, (args.batch, args.length))
  labels = torch.randint(0, 2, (args.batch,))

  def step():
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(ids), labels).backward()
    optimizer.step()

  return {'framework': f'PyTorch {torch.__version__} ({torch.get_num_threads()} threads)', 'cell': cell,
          'compile_s': 0.0}, step


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--cells', default='lstm,gru')
  parser.add_argument('--unroll', default='1', help='comma-separated scan unroll factors to time')
  parser.add_argument('--torch-threads', type=int, default=0, help='0: PyTorch default (one per core)')
  parser.add_argument('--vocab', type=int, default=20_000)
  parser.add_argument('--embed', type=int, default=128)
  parser.add_argument('--hidden', type=int, default=256)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--length', type=int, default=200)
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--no-torch', action='store_true')
  parser.add_argument('--glibc-default-malloc', action='store_true',
                      help="no restart with train.xla_cpu.MALLOC_TUNABLES (glibc's defaults)")
  args = parser.parse_args()
  if not args.glibc_default_malloc:
    xla_cpu.restart_with_malloc_tunables()  # as python -m train runs (PyTorch shares the process)
  xla_cpu.use_measured_flags()  # the trainer's XLA:CPU settings (before JAX's first computation)

  try:
    import torch  # pylint: disable=import-outside-toplevel
    have_torch = not args.no_torch
    if args.torch_threads:
      torch.set_num_threads(args.torch_threads)
  except ImportError:
    have_torch = False
    print('PyTorch is not installed: JAX rows only.')
  print(f'{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
        f'JAX platform: {jax.devices()[0].platform}, {time.strftime("%Y-%m-%d %H:%M %Z")}, '
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}")
  print(f'vocab {args.vocab}, embedding {args.embed}, hidden {args.hidden}, batch {args.batch}, '
        f'length {args.length}; {args.warmup} warm-up steps, median of {args.repeats} x {args.steps} steps\n')
  print('| cell | framework | compile (s) | tokens/s | vs PyTorch |')
  print('| --- | --- | --- | --- | --- |')
  for cell in args.cells.split(','):
    rows = [jax_row(cell, int(u), args) for u in args.unroll.split(',')]
    if have_torch:
      rows.append(torch_row(cell, args))
    rates = interleaved_tokens_per_s([step for _, step in rows], args)
    rows = [dict(row, tokens_per_s=rate) for (row, _), rate in zip(rows, rates)]
    reference = rows[-1]['tokens_per_s'] if have_torch else None
    for row in rows:
      ratio = f'{row["tokens_per_s"] / reference:.2f}x' if reference else '-'
      print(f'| {cell.upper()} | {row["framework"]} | {row["compile_s"]:.2f} | {row["tokens_per_s"]:,.0f} | {ratio} |',
            flush=True)


if __name__ == '__main__':
  main()
