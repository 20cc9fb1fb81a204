"""The end of a training run, with tf.data's autotuning model and without.

data/pipeline.py reads every stream through `numpy_iterator`, which turns the autotuning model off.
This trains configs/autoencoder.py:shapes (a tf.data train stream: the shapes dataset, cached,
shuffled, batched, prefetched) for `--steps` steps both ways, in turns, and prints each run's wall
time and the seconds from its last log line to the return of `train_and_evaluate`, which is where the
train stream's iterator is deleted. Run alone on an idle machine:

  python bench/tf_data_teardown.py --steps 600 --repeats 2
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from configs import autoencoder  # noqa: E402
from data import pipeline  # noqa: E402
from train import loop, writer, xla_cpu  # noqa: E402


def timed_run(data_dir: str, steps: int, autotune_model: bool) -> tuple[float, float]:
  """(wall seconds of the run, seconds from its last log line to its return)."""
  config = autoencoder.get_config('shapes')
  config.data.data_dir = data_dir
  config.update(num_steps=steps, log_every=steps, eval_every=steps, checkpoint_every=steps)
  closed = []
  close = writer.MetricsWriter.close
  numpy_iterator = pipeline.numpy_iterator
  writer.MetricsWriter.close = lambda self: (closed.append(time.perf_counter()), close(self))[1]
  if autotune_model:
    pipeline.numpy_iterator = lambda ds: ds.as_numpy_iterator()
  try:
    start = time.perf_counter()
    loop.train_and_evaluate(config, tempfile.mkdtemp())
    end = time.perf_counter()
  finally:
    writer.MetricsWriter.close, pipeline.numpy_iterator = close, numpy_iterator
  return end - start, end - closed[-1]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default='')
  parser.add_argument('--steps', type=int, default=600)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  xla_cpu.use_measured_flags()
  print('autotune_model  run_s  end_s')
  for repeat in range(args.repeats):
    for autotune_model in (True, False)[::1 if repeat % 2 == 0 else -1]:
      run_s, end_s = timed_run(args.data_dir, args.steps, autotune_model)
      print(f'{str(autotune_model):>14}  {run_s:5.1f}  {end_s:5.2f}', flush=True)


if __name__ == '__main__':
  main()
