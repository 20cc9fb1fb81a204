"""train/xla_cpu.py: the trainer's XLA:CPU flag is added once, never over the user's own choice."""

import resource

from train import xla_cpu


def test_adds_the_flag_to_the_users_flags(monkeypatch):
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
  xla_cpu.use_fast_convolutions()
  xla_cpu.use_fast_convolutions()
  assert xla_cpu.os.environ['XLA_FLAGS'] == f'--xla_force_host_platform_device_count=8 {xla_cpu.FAST_CONVOLUTIONS}'


def test_keeps_a_users_own_ynn_choice(monkeypatch):
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_experimental_ynn_fusion_type=dot')
  xla_cpu.use_fast_convolutions()
  assert xla_cpu.os.environ['XLA_FLAGS'] == '--xla_cpu_experimental_ynn_fusion_type=dot'


def test_leaves_unmeasured_jaxlib_releases_alone(monkeypatch):
  """An XLA that does not know the flag would abort: other releases get nothing."""
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.11.0')
  monkeypatch.delenv('XLA_FLAGS', raising=False)
  xla_cpu.use_fast_convolutions()
  assert 'XLA_FLAGS' not in xla_cpu.os.environ


def test_a_steps_temporary_memory_is_reused_instead_of_faulted_in_again():
  """The setting that conftest (like python -m train) applies: XLA:CPU's per-execution block of
  temporary buffers comes from the heap again, not from fresh zero-filled pages."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  assert xla_cpu.reuse_freed_memory()  # Linux with glibc, as here and in CI
  step = jax.jit(lambda x: (x * 2.0) @ jnp.ones(x.shape[1]))  # x * 2 is a temporary the dot reads
  x = jnp.ones((4096, 4096), jnp.float32)
  temp_bytes = step.lower(x).compile().memory_analysis().temp_size_in_bytes
  assert temp_bytes >= 64 * 2**20  # over glibc's 32 MiB mmap threshold, like a ConvNet step's
  step(x).block_until_ready()
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  for _ in range(5):
    step(x).block_until_ready()
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
  pages = 5 * temp_bytes // resource.getpagesize()
  assert faults < pages // 20, f'{faults} page faults for 5 executions of {temp_bytes / 2**20:.0f} MiB temporaries'
