"""Latency of drawing images from a caption with a trained text-to-image run, on this machine.

  python bench/generation_latency.py --workdir runs/t2i/t2i [--num 8] [--repeats 10]

Times `train.generate.draw` (CLIP's text tower, the prior, the decoder, CLIP's image tower on
every candidate, the reranking) for one caption and --num candidates: the first call (tracing and
XLA compilation included) and the median of --repeats calls after it. Loading the run is not timed.
Results: bench/README_clip.md.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train import generate, xla_cpu  # pylint: disable=wrong-import-position


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--num', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=10)
  parser.add_argument('--caption', default='a large green triangle in the bottom right')
  args = parser.parse_args()
  xla_cpu.use_measured_flags()
  task, variables = generate.load(args.workdir)
  timings = []
  for seed in range(args.repeats + 1):
    start = time.perf_counter()
    generate.draw(task, variables, [args.caption], args.num, seed)  # returns numpy: the work is done
    timings.append(time.perf_counter() - start)
  print(f'{args.num} images for one caption: first call {timings[0]:.2f} s (compiling), then median '
        f'{statistics.median(timings[1:]) * 1000:.0f} ms over {args.repeats} calls '
        f'(fastest {min(timings[1:]) * 1000:.0f} ms)')


if __name__ == '__main__':
  main()
