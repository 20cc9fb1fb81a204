"""XLA:CPU settings the trainer, the tests and the benchmarks start JAX with.

Measured on this project's 2-core CPU machine (bench/README_cnn.md): XLA:CPU's YNNPACK
convolutions are slower than its Eigen ones for every ConvNet here, forward and backward. One
training step of the MNIST ConvNet (batch 128) takes 35 instead of 45 ms without them, the
shapes ConvNet 6.3 instead of 9.0 ms, ResNet-20 371 instead of 385 ms. Dot products and
elementwise fusions keep YNNPACK, which is faster for them (the LSTM benchmark).

Each execution of a compiled step also allocates its temporary buffers as one block and frees it
at the end; reuse_freed_memory() keeps glibc from handing that block back to the kernel every
step.
"""

import ctypes
import os
import sys
from importlib import metadata

FAST_CONVOLUTIONS = '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
# XLA aborts at start-up on a flag it does not know, so the flag is only set for the jaxlib
# releases it was measured with (requirements.txt pins one of them).
MEASURED_JAXLIB = ('0.10.',)


def configure() -> None:
  """Everything below, as `python -m train` runs it: call before JAX's first computation."""
  use_fast_convolutions()
  reuse_freed_memory()


def use_fast_convolutions() -> None:
  """Adds FAST_CONVOLUTIONS to XLA_FLAGS unless XLA_FLAGS already chooses YNNPACK fusions.

  Takes effect only if called before JAX initialises its CPU backend (its first computation);
  other backends ignore the flag.
  """
  try:
    if not metadata.version('jaxlib').startswith(MEASURED_JAXLIB):
      return
  except metadata.PackageNotFoundError:
    return
  flags = os.environ.get('XLA_FLAGS', '')
  if 'xla_cpu_experimental_ynn_fusion_type' not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {FAST_CONVOLUTIONS}'.strip()


# glibc's <malloc.h> mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_NEVER_TRIM = 2**31 - 1


def reuse_freed_memory() -> bool:
  """Makes glibc keep freed memory in the process's heap for the next allocation.

  glibc serves every allocation over 32 MiB with a fresh mmap and unmaps it when freed. XLA:CPU
  allocates each step's temporary buffers as one block (60 MB for the MNIST ConvNet at batch
  128), so the kernel had to map and zero-fill every page of it again on every step: 14,600 page
  faults, a third of the step's CPU time (bench/README_cnn.md). With mmap off for allocations and
  the heap's top never trimmed, the block is reused from the heap, as PyTorch's CPU tensors are.
  The cost: memory the process frees stays with it (its peak RSS does not fall back).

  Returns whether the setting took effect: only with glibc; other C libraries are left alone.
  """
  if not sys.platform.startswith('linux'):
    return False
  libc = ctypes.CDLL(None)
  if not hasattr(libc, 'gnu_get_libc_version'):  # musl and others: their mallopt means other things
    return False
  return all(libc.mallopt(option, value) for option, value in (
      (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM), (_M_ARENA_MAX, 1)))
