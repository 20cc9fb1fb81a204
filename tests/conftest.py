"""Fixtures shared by the test suite."""

import contextlib
import fcntl
import json
import os
import shutil
import tempfile

import jax
import pytest

from tests import compiling
from train import xla_cpu


def _keep_this_worker_to_its_share_of_the_cores():
  """Under pytest-xdist (-n), worker k of n runs on every n-th of the cores, from the k-th.

  XLA:CPU's and tf.data's thread pools are sized to the cores a process may use: with -n 2 on two
  cores, two workers' pools sized to both cores keep preempting each other's threads, and the
  suite takes longer (bench/README_cnn.md). Every thread of the worker moves; the threads and
  processes it starts later (XLA's, tf.data's, the CLI's subprocesses, Chromium) inherit its share.
  """
  worker, count = os.environ.get('PYTEST_XDIST_WORKER'), os.environ.get('PYTEST_XDIST_WORKER_COUNT')
  if not worker or not count or not hasattr(os, 'sched_setaffinity'):
    return
  share = sorted(os.sched_getaffinity(0))[int(worker.removeprefix('gw'))::int(count)]
  if share:
    for thread in os.listdir('/proc/self/task'):
      os.sched_setaffinity(int(thread), share)


_keep_this_worker_to_its_share_of_the_cores()
# What python -m train runs with, before any test starts JAX. bench/learning_margins.py turns it
# off to measure the learning tests on XLA's default code paths too.
if os.environ.get('TESTS_WITHOUT_MEASURED_FLAGS') != '1':
  xla_cpu.use_measured_flags()
# The tests compare two formulations, or two runs, to float rounding or bit for bit. On a GPU that
# takes float32 products (XLA's default there is TF32) and deterministic scatter-adds (atomics
# otherwise); XLA:CPU computes both so anyway.
os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()
# Each test runs its programs a few times, or a few hundred steps for a learning test, where XLA's
# optimisations cost more compile time than they save: every program of the suite, in its workers
# and in the processes they start (tests/spine_runs.py), compiles quickly, and most with fewer
# optimisations still (tests/compiling.py). Users' runs keep XLA's default effort. The learning
# tests' margins were measured in this quick mode (bench/learning_margins.py).
os.environ['XLA_FLAGS'] += f' {xla_cpu.quick_compile_flags()}'.rstrip()
jax.config.update('jax_default_matmul_precision', 'highest')

# Big enough for 95%+ held-out shape accuracy on CPU: configs/shapes_cnn.py measured 98.6% on the
# 1000 test images after 800 of its 1200 steps. Small enough to build in about 4 CPU seconds.
SHAPES_FIXTURE_EXAMPLES = {'num_train': 5000, 'num_test': 1000}


def pytest_configure(config):
  """One fresh JAX compilation cache for the whole run: its workers and the processes they start.

  A program two tests compile alike (a task's steps, the CLI's runs) compiles once, as a rerun of
  `python -m train` does; fresh, so the suite takes here the time it takes on a new machine.
  """
  if 'PYTEST_XDIST_WORKER' not in os.environ:  # the controller, before it starts any worker
    config.jax_compilation_cache_dir = tempfile.mkdtemp(prefix='jax_compilation_')
    os.environ['JAX_COMPILATION_CACHE_DIR'] = config.jax_compilation_cache_dir
    # The workers (-n) start with python -m train's malloc settings, as its runs do; glibc reads them at start.
    tunables = xla_cpu.malloc_tunables()
    if tunables:
      os.environ['GLIBC_TUNABLES'] = tunables
  from train import steps  # pylint: disable=import-outside-toplevel  (after the XLA flags above)
  steps.use_compilation_cache()


def pytest_unconfigure(config):
  if hasattr(config, 'jax_compilation_cache_dir'):
    shutil.rmtree(config.jax_compilation_cache_dir, ignore_errors=True)


@contextlib.contextmanager
def mock_tfds(**kwargs):
  """tfds.testing.mock_data(**kwargs), with no compilation cache writes meanwhile: mock_data swaps
  the file system they go through, and they would fail (with a warning) in its temporary folder."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel  (as in shapes_data_dir)

  min_compile_time = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update('jax_persistent_cache_min_compile_time_secs', float('inf'))
  try:
    with tfds.testing.mock_data(**kwargs):
      yield
  finally:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', min_compile_time)


@pytest.fixture(scope='session', autouse=True)
def split_cache_dir(tmp_path_factory):
  """The suite's own split cache (data/split_cache.py), for its runs and the runs they start."""
  folder = str(tmp_path_factory.mktemp('split_cache'))
  os.environ['SPLIT_CACHE_DIR'] = folder
  yield folder
  os.environ.pop('SPLIT_CACHE_DIR')


@pytest.fixture(scope='session')
def shapes_data_dir(tmp_path_factory):
  """A TFDS data_dir with the default `shapes` config prepared, smaller than its full size.

  `tfds.builder('shapes', data_dir=shapes_data_dir)` reads it as it is: nothing is regenerated.
  Built once per test run: the workers (-n) share it, the first to ask building it under a lock.
  """
  import tensorflow_datasets as tfds  # Imported here: most tests need neither TF nor this fixture.

  import data.shapes.builder  # noqa: F401  # registers the builder

  run_folder = tmp_path_factory.getbasetemp()
  if 'PYTEST_XDIST_WORKER' in os.environ:
    run_folder = run_folder.parent  # above the worker's own folder
  data_dir = run_folder / 'shapes_tfds'
  with open(run_folder / 'shapes_tfds.lock', 'w', encoding='utf-8') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (data_dir / 'prepared').exists():
      tfds.builder('shapes', data_dir=str(data_dir), **SHAPES_FIXTURE_EXAMPLES).download_and_prepare()
      (data_dir / 'prepared').touch()
  return str(data_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
  """A test's programs, and those of the fixtures set up for it, compile in its mode (tests/compiling.py)."""
  optimised = item.get_closest_marker('learning') or item.get_closest_marker('xla_optimised')
  compiling.set_mode(compiling.OPTIMISED if optimised else compiling.RUN_ONCE)


def pytest_addoption(parser):
  parser.addoption('--learning-seed', type=int, default=0,
                   help='the seed of the learning tests (bench/learning_margins.py runs several)')


@pytest.fixture
def learning_seed(request) -> int:
  return request.config.getoption('--learning-seed')


@pytest.fixture
def record_learning(request):
  """record(metric, value, threshold): what a learning test measured, for bench/learning_margins.py.

  Appended as a JSON line to the file $LEARNING_RECORD names, if set; the test still asserts.
  """
  def record(metric: str, value: float, threshold: float) -> None:
    path = os.environ.get('LEARNING_RECORD')
    if path:
      with open(path, 'a', encoding='utf-8') as f:
        f.write(json.dumps({'test': request.node.nodeid, 'metric': metric, 'value': float(value),
                            'threshold': float(threshold), 'seed': request.config.getoption('--learning-seed')}) + '\n')
  return record
