"""How the tests' programs compile: unoptimised, except where a test measures what they compute.

Every process of the suite compiles in XLA:CPU's quick mode (train/xla_cpu.quick_compile_flags,
set by tests/conftest.py). Most tests run each program a few times, where even that mode costs
more compile time than it saves: their programs compile in the RUN_ONCE mode, without LLVM's
optimisations too (`jax_disable_most_optimizations`: backend optimisation level 0), which takes
about a third of the time for a small train step (bench/README_cnn.md). Compiled OPTIMISED (the
quick mode) are:
- the learning tests (marked `learning`) and the fixtures that train for them: their runs take
  hundreds of steps, slower unoptimised, and their margins were measured so;
- the checks of nets/cpu_kernels.py against the standard ops (marked `xla_optimised`). At level 0
  XLA:CPU turns a multiply and an add into one FMA in some fusions and not in others, so a value
  computed again in another fusion can differ in its last bit; the kernels' max-pool gradient
  finds each window's maximum by comparing such values, and sends some gradients astray there
  (tests/test_cpu_kernels.py shows it). The tests compiled in the RUN_ONCE mode check what a
  run does, not the values of those gradients.
The processes the tests start (tests/spine_runs.py) compile in the RUN_ONCE mode.
"""

import contextlib

import jax

from train import xla_cpu

OPTIMISED, RUN_ONCE = 'optimised', 'run once'
# Part of jax.jit's cache key: a program compiled in one mode is never run in the other.
_MODE = jax.make_user_context(default_value=OPTIMISED)


def set_mode(mode: str) -> None:
  """Programs compiled from now on compile in `mode` (only on XLA:CPU, where it was measured)."""
  unoptimised = mode == RUN_ONCE and xla_cpu.run_once_compile_options(jax.default_backend()) is not None
  jax.config.update('jax_disable_most_optimizations', unoptimised)
  _MODE.set_global(mode)


@contextlib.contextmanager
def compiled(mode: str):
  """Programs compiled inside compile in `mode`, whichever test is running."""
  previous = _MODE.get_global()
  set_mode(mode)
  try:
    yield
  finally:
    set_mode(previous)
