"""The loop across processes and devices: exact resume after kill -9, jit == pmap == one device,
two processes training together, and checkpoints moving between device counts.

Every run trains a tiny ResNet (configs/cifar10_cnn.py pointed at shapes) for the same steps on
the same data; with a fixed data.num_shards the global batches do not depend on how many
processes read them. A ResNet, because max-pooling over flat backgrounds has exact ties whose
gradient each compiled program may route to another element.
"""

import os
import signal
import time

import chex
import pytest

from tests import spine_runs
from train import loop

RESUME_STEPS = 40
# Float32 sums over 8 devices or 2 processes are added in another order than on one device, and
# training amplifies those rounding differences: measured 5e-7 after 6 steps but up to 7e-4 after
# 12. So the cross-device runs are compared after 6 steps (4 with a non-zero learning rate),
# where a real difference - another batch, unsynchronised BatchNorm statistics, a missing
# gradient average - is already ~1e-3.
CONFIG = 'configs/cifar10_cnn.py'
CROSS_DEVICE_STEPS = 6
CROSS_DEVICE_ATOL = 2e-5
TINY_RESNET = ['--config.data.name=shapes', '--config.data.augment=', '--config.model.blocks_per_stage=(1,1)',
               '--config.model.stage_features=(8,16)', '--config.optimizer.learning_rate=0.05',
               '--config.optimizer.weight_decay=0', '--config.optimizer.warmup_steps=2']


def _overrides(data_dir, *extra, num_steps=CROSS_DEVICE_STEPS):
  return spine_runs.tiny_overrides(data_dir, num_steps) + ['--config.data.num_shards=2', *TINY_RESNET, *extra]


def _train(workdir, data_dir, *extra, devices=1, num_steps=CROSS_DEVICE_STEPS):
  command = spine_runs.train_command(workdir, *_overrides(data_dir, *extra, num_steps=num_steps), config=CONFIG)
  result = spine_runs.run(command, devices)
  assert result.returncode == 0, result.stdout + result.stderr
  return loop.restore(str(workdir))[3]['params']


@pytest.fixture(scope='module')
def one_device_params(shapes_data_dir, tmp_path_factory):
  return _train(tmp_path_factory.mktemp('one_device'), shapes_data_dir)


@pytest.fixture(scope='module')
def eight_device_jit_params(shapes_data_dir, tmp_path_factory):
  # Also restores a checkpoint written on 8 devices into this 1-device process.
  return _train(tmp_path_factory.mktemp('jit8'), shapes_data_dir, devices=8)


def test_resume_after_sigkill_is_bit_identical(shapes_data_dir, tmp_path_factory):
  uninterrupted = _train(tmp_path_factory.mktemp('uninterrupted'), shapes_data_dir, num_steps=RESUME_STEPS)
  tmp_path = tmp_path_factory.mktemp('killed')
  command = spine_runs.train_command(tmp_path, *_overrides(shapes_data_dir, num_steps=RESUME_STEPS), config=CONFIG)
  victim = spine_runs.start(command)
  first_checkpoint = tmp_path / 'checkpoints' / '10'
  deadline = time.time() + 180
  while not first_checkpoint.exists() and victim.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  victim.send_signal(signal.SIGKILL)
  output = victim.communicate()[0]
  assert victim.returncode == -signal.SIGKILL, f'the run ended before it could be killed:\n{output}'
  killed_at = max(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())
  assert killed_at < RESUME_STEPS

  resumed = spine_runs.run(command)
  assert resumed.returncode == 0, resumed.stdout + resumed.stderr
  assert f'resumed from the checkpoint at step {killed_at}' in resumed.stdout
  chex.assert_trees_all_equal(loop.restore(str(tmp_path))[3]['params'], uninterrupted)


def test_jit_on_eight_devices_matches_one_device(eight_device_jit_params, one_device_params):
  chex.assert_trees_all_close(eight_device_jit_params, one_device_params, atol=CROSS_DEVICE_ATOL)


def test_pmap_matches_one_device(shapes_data_dir, tmp_path, one_device_params):
  params = _train(tmp_path, shapes_data_dir, '--config.parallel=pmap', devices=8)
  chex.assert_trees_all_close(params, one_device_params, atol=CROSS_DEVICE_ATOL)


def test_two_processes_match_one_process(shapes_data_dir, tmp_path, eight_device_jit_params):
  port = spine_runs.free_port()
  processes = [
      spine_runs.start(spine_runs.train_command(
          tmp_path, *_overrides(shapes_data_dir, f'--config.distributed.coordinator_address=localhost:{port}',
                                '--config.distributed.num_processes=2',
                                f'--config.distributed.process_id={index}'), config=CONFIG), devices=4)
      for index in range(2)]
  outputs = [p.communicate(timeout=240)[0] for p in processes]
  for process, output in zip(processes, outputs):
    assert process.returncode == 0, output
  assert '2 process(es)' in outputs[0]
  assert 'step 10/' not in outputs[1]  # only process 0 reports
  chex.assert_trees_all_close(loop.restore(str(tmp_path))[3]['params'], eight_device_jit_params,
                              atol=CROSS_DEVICE_ATOL)
