"""Run records in the workdir: metrics.jsonl, TensorBoard events, and the console progress line.

Only process 0 writes; the other processes of a multi-host run get a writer that does nothing.
"""

import datetime
import json
import os
import sys
import time

import tensorflow as tf


class MetricsWriter:
  """Appends {'step', 'split', metrics...} lines to metrics.jsonl and scalars to TensorBoard."""

  def __init__(self, workdir: str, total_steps: int, enabled: bool = True):
    self.enabled = enabled
    self.total_steps = total_steps
    if enabled:
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a', encoding='utf-8')
      self._tensorboard = tf.summary.create_file_writer(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    self._jsonl.write(json.dumps({'step': step, 'split': split, **metrics}) + '\n')
    self._jsonl.flush()
    with self._tensorboard.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(f'{split}/{name}', value)
    self._tensorboard.flush()

  def progress(self, step: int, metrics: dict[str, float], steps_per_second: float) -> None:
    if not self.enabled:
      return
    remaining = (self.total_steps - step) / max(steps_per_second, 1e-9)
    shown = ' '.join(f'{k} {v:.4g}' for k, v in metrics.items() if k != 'learning_rate')
    print(f'step {step}/{self.total_steps} {shown} | {steps_per_second:.1f} steps/s '
          f'| ETA {datetime.timedelta(seconds=round(remaining))}', flush=True)

  def say(self, message: str) -> None:
    if self.enabled:
      print(message, file=sys.stdout, flush=True)

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tensorboard.close()


class Throughput:
  """Steps per second between two reports, excluding nothing: what the user actually waits for."""

  def __init__(self, step: int):
    self._step, self._time = step, time.perf_counter()

  def rate(self, step: int) -> float:
    now = time.perf_counter()
    rate = (step - self._step) / max(now - self._time, 1e-9)
    self._step, self._time = step, now
    return rate
