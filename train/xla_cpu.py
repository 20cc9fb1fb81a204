"""XLA:CPU settings the trainer, the tests and the benchmarks start JAX with.

XLA:CPU's YNNPACK convolutions are slower than its Eigen ones for every ConvNet here, forward
and backward, so convolutions leave YNNPACK; dot products and elementwise fusions keep it, being
faster there (the LSTM benchmark). On a CPU with AVX-512, XLA's own loops (elementwise,
reductions, gathers, scatters) use 512-bit vectors instead of its default 256, which shortens the
ConvNet's step. What each setting gains, and how to measure it again: bench/README_cpu_kernels.md.

Each execution of a compiled step also allocates its temporary buffers as one block and frees it
at the end; restart_with_malloc_tunables() keeps glibc from handing that block back to the kernel
every step.

The tests compile in a quicker mode of their own (quick_compile_flags): their runs are a few steps.
"""

import ctypes
import os
import sys
from importlib import metadata

FAST_CONVOLUTIONS = '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
WIDE_VECTORS = '--xla_cpu_prefer_vector_width=512'
QUICK_COMPILE = '--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false'
# XLA aborts on a flag or compile option it does not know, so these are only set for the jaxlib
# releases they were measured with (requirements.txt pins one of them).
MEASURED_JAXLIB = ('0.10.',)


def use_measured_flags() -> None:
  """Adds FAST_CONVOLUTIONS, and WIDE_VECTORS on an AVX-512 CPU, to XLA_FLAGS, each unless
  XLA_FLAGS already sets that option.

  Takes effect only if called before JAX initialises its CPU backend (its first computation);
  other backends ignore these flags.
  """
  if not _measured_jaxlib():
    return
  flags = os.environ.get('XLA_FLAGS', '')
  measured = [FAST_CONVOLUTIONS] + ([WIDE_VECTORS] if _has_avx512() else [])
  added = [flag for flag in measured if flag.split('=')[0] not in flags]
  if added:
    os.environ['XLA_FLAGS'] = ' '.join([flags] + added).strip()


def quick_compile_flags() -> str:
  """XLA_FLAGS for processes whose runs are a few steps each (the tests), or '' on unmeasured jaxlib.

  XLA:CPU then compiles with LLVM's backend optimisation level 1 and its older loop emitters
  instead of its fusion emitters: the same programs, compiled in a fraction of the time and run a
  few percent slower, which pays where compiling costs more than running. Not level 0: with the
  older emitters it miscompiles the gradient of nets/cpu_kernels.max_pool_2x2 after a scale and
  shift (bench/README_cnn.md).
  """
  return QUICK_COMPILE if _measured_jaxlib() else ''


def _has_avx512(cpuinfo_path: str = '/proc/cpuinfo') -> bool:
  try:
    with open(cpuinfo_path, encoding='utf-8') as cpuinfo:
      return any(line.startswith('flags') and 'avx512f' in line.split() for line in cpuinfo)
  except OSError:  # not Linux: left to XLA's default
    return False


def run_once_compile_options(backend: str) -> dict | None:
  """`compiler_options` for a program that runs once (the variables' initialisation), or None.

  On CPU, XLA's backend optimisations and its fusion emitters cost more compile time than they
  save a program that runs once (measured on the shapes ConvNet's initialisation). Not for programs
  that take gradients: with both off, XLA:CPU miscompiles the gradient of nets/cpu_kernels.py's
  max-pool after a scale and shift (bench/README_cnn.md).
  Other backends keep their defaults (measured on CPU only), and so do unmeasured jaxlib releases,
  where an option XLA does not know would fail the compilation.
  """
  return _on_measured_cpu(backend, {'xla_backend_optimization_level': 0, 'xla_cpu_use_fusion_emitters': False})


def library_dots_only_compile_options(backend: str) -> dict | None:
  """`compiler_options` that leave YNNPACK single dot products only, or None.

  By default XLA:CPU also hands reductions to YNNPACK. For a program of gathers, scatters and
  small reductions, XLA's own loops are faster: the skip-gram update (micro-batches of gathered
  rows, short dot products and scatter-adds; its gradient written out, see
  train/tasks/skipgram.py). The ConvNet's step is slower this way, so it is chosen per program.
  None on other backends and unmeasured jaxlib releases (see run_once_compile_options).
  """
  return _on_measured_cpu(backend, {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT'})


def _on_measured_cpu(backend: str, options: dict) -> dict | None:
  """`options` where they were measured (XLA:CPU of a MEASURED_JAXLIB release), else None."""
  return options if backend == 'cpu' and _measured_jaxlib() else None


def _measured_jaxlib() -> bool:
  try:
    return metadata.version('jaxlib').startswith(MEASURED_JAXLIB)
  except metadata.PackageNotFoundError:
    return False


# glibc reads these only when a process starts. hugetlb=1: transparent huge pages for the heap
# and for large blocks; mmap_max=0, trim_threshold: freed memory stays in the heap for reuse.
MALLOC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296'


def restart_with_malloc_tunables() -> None:
  """Re-executes this process, once, with MALLOC_TUNABLES added to GLIBC_TUNABLES.

  Every execution of a compiled XLA:CPU step allocates its temporary buffers as one block (tens
  of MB for the MNIST ConvNet) and frees it at the end. glibc hands such blocks back to the
  kernel, which then maps and zero-fills every 4 KiB page of it again on the next step: a page
  fault per page, every step. With these settings freed blocks are reused, and blocks glibc still
  maps afresh (those over the 64 MiB heap of a worker thread) come in 2 MiB pages, so the faults
  all but vanish (bench/README_cpu_kernels.md).
  The cost: memory the process frees stays with it (its peak RSS does not fall back).

  Only on Linux with glibc (others have neither the variable nor the problem), and never over
  a glibc.malloc choice already in GLIBC_TUNABLES (which is also how the restarted process knows
  it is done). Call it first thing: the process starts again from the same command line.
  """
  tunables = malloc_tunables()
  if tunables is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, sys.orig_argv, dict(os.environ, GLIBC_TUNABLES=tunables))


def malloc_tunables() -> str | None:
  """GLIBC_TUNABLES with MALLOC_TUNABLES added, for a process to start with; None where glibc is
  missing or GLIBC_TUNABLES already makes a glibc.malloc choice (see restart_with_malloc_tunables)."""
  tunables = os.environ.get('GLIBC_TUNABLES', '')
  if not _has_glibc() or 'glibc.malloc.' in tunables:
    return None
  return ':'.join(filter(None, [tunables, MALLOC_TUNABLES]))


def _has_glibc() -> bool:
  return sys.platform.startswith('linux') and hasattr(ctypes.CDLL(None), 'gnu_get_libc_version')
