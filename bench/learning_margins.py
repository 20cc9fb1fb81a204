"""The learning tests' margins over seeds and XLA:CPU code paths, for setting their thresholds.

  python bench/learning_margins.py [--seeds 0 1 2] [--paths native avx2 avx2_xla_defaults] [-k EXPR]
  python bench/learning_margins.py --paths native_one_core avx2_one_core    # as `pytest -n 2` on 2 cores

Runs the tests marked `learning` (tests that train a model and assert a quality on held-out data)
once per (code path, seed), each run in its own pytest process, and prints every recorded metric's
worst and best value per path beside its threshold. A CI machine may lack AVX-512 (its XLA then
emits other vector code) and may run without the project's XLA:CPU flags; the paths:

  native             this CPU as it is, with the project's flags (train/xla_cpu.py), as CI runs here
  avx2               XLA's code limited to AVX2 with 256-bit vectors, as on a CPU without AVX-512
  avx2_xla_defaults  the same, without the project's flags (XLA's default convolutions)
  *_one_core         native or avx2 in a process kept to one core, as each worker of `pytest -n 2`
                     is on a 2-core machine (tests/conftest.py): XLA:CPU's kernels then run on one
                     thread, and some sum in another order than on two

Every path compiles as the suite does (tests/conftest.py: train/xla_cpu.py's quick_compile_flags).
`--xla_cpu_max_isa` limits the code XLA generates; library kernels (Eigen, YNNPACK) choose theirs
from the CPU at run time, so those stay this CPU's. Metrics where lower is better are recorded
negated, so a positive margin (value - threshold) always means the test passes.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

PATHS = {
    'native': {},
    'avx2': {'XLA_FLAGS': '--xla_cpu_max_isa=AVX2 --xla_cpu_prefer_vector_width=256'},
    'avx2_xla_defaults': {'XLA_FLAGS': '--xla_cpu_max_isa=AVX2', 'TESTS_WITHOUT_MEASURED_FLAGS': '1'},
}
PATHS.update({f'{path}_one_core': PATHS[path] for path in ('native', 'avx2')})
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(path: str, seed: int, selection: str, record: str) -> float:
  """Runs the learning tests on one path with one seed; returns the wall time."""
  env = dict(os.environ, LEARNING_RECORD=record, JAX_PLATFORMS='cpu', **PATHS[path])
  command = [sys.executable, '-m', 'pytest', '-q', '-m', 'learning', '--learning-seed', str(seed),
             '-p', 'no:cacheprovider', 'tests']
  if selection:
    command += ['-k', selection]
  started = time.perf_counter()
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          preexec_fn=_keep_to_one_core if path.endswith('_one_core') else None)
  print(f'{path} seed {seed}: {result.stdout.strip().splitlines()[-1]} ({time.perf_counter() - started:.0f} s)',
        flush=True)
  return time.perf_counter() - started


def _keep_to_one_core() -> None:
  os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--paths', nargs='+', choices=sorted(PATHS), default=list(PATHS))
  parser.add_argument('-k', default='', help="pytest's -k: a subset of the learning tests")
  parser.add_argument('--out', default='', help='a folder for the raw records (JSON lines per path and seed)')
  args = parser.parse_args()

  folder = args.out or tempfile.mkdtemp(prefix='learning_margins_')
  os.makedirs(folder, exist_ok=True)
  values = collections.defaultdict(list)  # (test, metric, threshold, path) -> values
  for path in args.paths:
    for seed in args.seeds:
      record = os.path.join(folder, f'{path}_seed{seed}.jsonl')
      run(path, seed, args.k, record)
      if not os.path.exists(record):  # the run failed before any test recorded
        continue
      with open(record, encoding='utf-8') as f:
        for entry in map(json.loads, f):
          values[(entry['test'].split('::')[-1], entry['metric'], entry['threshold'], path)].append(entry['value'])

  print(f'\n{"test":64} {"metric":28} {"threshold":>9} {"path":18} {"worst":>8} {"best":>8} {"margin":>8}')
  for (name, metric, threshold, path), got in sorted(values.items()):
    print(f'{name[:64]:64} {metric:28} {threshold:9.3f} {path:18} {min(got):8.3f} {max(got):8.3f} '
          f'{min(got) - threshold:8.3f}  (n={len(got)})')


if __name__ == '__main__':
  main()
