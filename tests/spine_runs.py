"""Running the real `python -m train` entry point in subprocesses, for tests that need a fresh
process: several simulated devices, several processes, or a kill -9 in the middle of a run."""

import os
import socket
import subprocess
import sys

from train import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_overrides(data_dir: str, num_steps: int = 30) -> list[str]:
  """A small but real run of an image classification config: checkpoints every 10 steps."""
  return [f'--config.data.data_dir={data_dir}', '--config.batch_size=32',
          '--config.model.stage_features=(8,16)', f'--config.num_steps={num_steps}',
          '--config.checkpoint_every=10', '--config.log_every=10', '--config.eval_every=1000',
          '--config.eval_batch_size=200', '--config.optimizer.warmup_steps=5']


def train_command(workdir: str, *overrides: str, config: str = 'configs/shapes_cnn.py') -> list[str]:
  return [sys.executable, '-m', 'train', '--config', config, '--workdir', str(workdir), *overrides]


def environment(devices: int = 1) -> dict[str, str]:
  """A subprocess on `devices` simulated CPU devices, on an accelerator host too, with this
  process's XLA flags (tests/conftest.py's, and those the suite was started with).

  Its programs compile unoptimised, as most in-process tests' do (tests/compiling.py): these runs
  check the entry points' mechanics over a few steps, where compiling costs most of the time.
  """
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
  unoptimised = {'JAX_DISABLE_MOST_OPTIMIZATIONS': '1'} if xla_cpu.quick_compile_flags() else {}
  return dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu', XLA_FLAGS=flags, **unoptimised)


def run(command: list[str], devices: int = 1, timeout: float = 240) -> subprocess.CompletedProcess:
  return subprocess.run(command, cwd=ROOT, env=environment(devices), capture_output=True, text=True,
                        timeout=timeout, check=False)


def start(command: list[str], devices: int = 1) -> subprocess.Popen:
  return subprocess.Popen(command, cwd=ROOT, env=environment(devices), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]
