"""How the tests compile the programs they run once (initialisations, forward passes, evaluations)."""

import jax

from train import xla_cpu

# Most programs a test compiles run once, so their compile time is what counts. Never for a
# gradient: train/xla_cpu.run_once_compile_options says why.
RUN_ONCE = xla_cpu.run_once_compile_options(jax.default_backend())
