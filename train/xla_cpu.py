"""XLA:CPU settings the trainer, the tests and the benchmarks start JAX with.

Measured on this project's 2-core CPU machine (bench/README_cnn.md): XLA:CPU's YNNPACK
convolutions are slower than its Eigen ones for every ConvNet here, forward and backward. One
training step of the MNIST ConvNet (batch 128) takes 35 instead of 45 ms without them, the
shapes ConvNet 6.3 instead of 9.0 ms, ResNet-20 371 instead of 385 ms. Dot products and
elementwise fusions keep YNNPACK, which is faster for them (the LSTM benchmark).
"""

import os
from importlib import metadata

FAST_CONVOLUTIONS = '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
# XLA aborts at start-up on a flag it does not know, so the flag is only set for the jaxlib
# releases it was measured with (requirements.txt pins one of them).
MEASURED_JAXLIB = ('0.10.',)


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
