"""train/xla_cpu.py: the trainer's XLA:CPU flag and malloc settings, never over the user's own choice."""

import os
import subprocess
import sys

import pytest

from train import xla_cpu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('avx512', [True, False])
def test_adds_the_flags_to_the_users_flags(monkeypatch, avx512):
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setattr(xla_cpu, '_has_avx512', lambda: avx512)
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
  xla_cpu.use_measured_flags()
  xla_cpu.use_measured_flags()
  wide = f' {xla_cpu.WIDE_VECTORS}' if avx512 else ''
  assert xla_cpu.os.environ['XLA_FLAGS'] == f'--xla_force_host_platform_device_count=8 {xla_cpu.FAST_CONVOLUTIONS}{wide}'


def test_keeps_a_users_own_choices(monkeypatch):
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setattr(xla_cpu, '_has_avx512', lambda: True)
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_experimental_ynn_fusion_type=dot')
  xla_cpu.use_measured_flags()
  assert xla_cpu.os.environ['XLA_FLAGS'] == f'--xla_cpu_experimental_ynn_fusion_type=dot {xla_cpu.WIDE_VECTORS}'
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_prefer_vector_width=256')
  xla_cpu.use_measured_flags()
  assert xla_cpu.os.environ['XLA_FLAGS'] == f'--xla_cpu_prefer_vector_width=256 {xla_cpu.FAST_CONVOLUTIONS}'


@pytest.mark.parametrize('flags, expected', [
    ('fpu sse avx2 avx512f avx512dq avx512bw', True),
    ('fpu sse avx2 fma', False),
    ('fpu sse avx2 avx512fp16_lookalike', False),  # whole flag names only
])
def test_wide_vectors_only_where_the_cpu_has_them(tmp_path, flags, expected):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text(f'processor\t: 0\nmodel name\t: Some CPU avx512f\nflags\t\t: {flags}\n\n')
  assert xla_cpu._has_avx512(str(cpuinfo)) is expected  # pylint: disable=protected-access
  assert xla_cpu._has_avx512(str(tmp_path / 'absent')) is False  # pylint: disable=protected-access


def test_leaves_unmeasured_jaxlib_releases_alone(monkeypatch):
  """An XLA that does not know the flags would abort: other releases get nothing."""
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.11.0')
  monkeypatch.delenv('XLA_FLAGS', raising=False)
  xla_cpu.use_measured_flags()
  assert 'XLA_FLAGS' not in xla_cpu.os.environ
  assert xla_cpu.quick_compile_flags() == ''


def _random_draw(jax, jnp):
  return jax.random.truncated_normal(jax.random.key(0, impl='rbg'), -2.0, 2.0, (64, 32))


def _gathers_dots_and_sums(jax, jnp):
  table = jax.random.normal(jax.random.key(0), (50, 16))
  ids = jax.random.randint(jax.random.key(1), (40, 6), 0, 50)
  rows = table[ids]
  scores = jnp.einsum('bd,bkd->bk', rows[:, 0], rows)
  return table.at[ids[:, 0]].add(jnp.sum(scores[..., None] * rows, axis=1))


@pytest.mark.parametrize('options_for, program', [(xla_cpu.run_once_compile_options, _random_draw),
                                                  (xla_cpu.library_dots_only_compile_options,
                                                   _gathers_dots_and_sums)])
def test_compile_options_compile_and_keep_the_values(monkeypatch, options_for, program):
  """The compile options XLA:CPU gets for some programs are ones it knows, and they change no value
  beyond float rounding; other backends and unmeasured jaxlib releases get none."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  if xla_cpu._measured_jaxlib():  # pylint: disable=protected-access  # the pinned stack
    options = options_for('cpu')
    assert options is not None
    run = lambda: program(jax, jnp)
    with jax.default_device(jax.devices('cpu')[0]):  # on an accelerator host too
      np.testing.assert_allclose(np.asarray(jax.jit(run, compiler_options=options)()),
                                 np.asarray(jax.jit(run)()), rtol=1e-5, atol=1e-5)
  else:  # options XLA may not know would fail the compilation
    assert options_for('cpu') is None
  assert options_for('gpu') is None
  monkeypatch.setattr(xla_cpu.metadata, 'version', lambda name: '0.99.0')
  assert options_for('cpu') is None


# Restarts itself like python -m train, then reports its tunables and the page faults of five
# executions of a step whose temporary block (64 MiB) is over glibc's mmap threshold.
_RESTARTING_STEP = """
import os, resource, sys
from train import xla_cpu
print('started', flush=True)
if sys.argv[1] == 'restart':
  xla_cpu.restart_with_malloc_tunables()
import jax, jax.numpy as jnp
step = jax.jit(lambda x: (x * 2.0) @ jnp.ones(x.shape[1]))  # x * 2 is a temporary the dot reads
x = jnp.ones((4096, 4096), jnp.float32)
assert step.lower(x).compile().memory_analysis().temp_size_in_bytes >= 64 * 2**20
step(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
  step(x).block_until_ready()
print(os.environ.get('GLIBC_TUNABLES', ''), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run_step(mode: str, env: dict):
  out = subprocess.run([sys.executable, '-c', _RESTARTING_STEP, mode], env=dict(env, JAX_PLATFORMS='cpu'), cwd=REPO,
                       capture_output=True, text=True, check=True).stdout.split('\n')
  tunables, faults = out[-2].rsplit(' ', 1)
  return out.count('started'), tunables, int(faults)


def test_restart_with_malloc_tunables_stops_a_steps_page_faults():
  """The restarted process runs once more with the tunables, and its step's temporary memory is
  no longer faulted in page by page (64 MiB = 16,384 pages an execution without them)."""
  env = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  starts, tunables, faults = _run_step('restart', env)
  assert (starts, tunables) == (2, xla_cpu.MALLOC_TUNABLES)
  assert faults < 5 * 1000, f'{faults} page faults in 5 executions'
  starts, tunables, default_faults = _run_step('no restart', env)
  assert (starts, tunables) == (1, '')
  assert default_faults > 5 * 10_000, 'glibc no longer maps such blocks afresh: the restart is not needed'


def test_restart_keeps_a_users_own_malloc_tunables(monkeypatch):
  monkeypatch.setenv('GLIBC_TUNABLES', 'glibc.malloc.arena_max=2')
  monkeypatch.setattr(xla_cpu.os, 'execve', lambda *args: pytest.fail('restarted over the user\'s choice'))
  xla_cpu.restart_with_malloc_tunables()
