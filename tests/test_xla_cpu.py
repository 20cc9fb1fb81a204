"""train/xla_cpu.py: the trainer's XLA:CPU flag is added once, never over the user's own choice."""

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
