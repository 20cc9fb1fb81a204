"""Run records in the workdir: metrics.jsonl, TensorBoard events, and the console progress line.

Only process 0 writes; the other processes of a multi-host run get a writer that does nothing.
"""

import datetime
import json
import os
import socket
import sys
import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


class EventFile:
  """Scalars in TensorBoard's event-file format, written without TensorFlow.

  tf.summary would import TensorFlow (~2 s) into runs that do not otherwise need it (skip-gram).
  """

  def __init__(self, folder: str):
    os.makedirs(folder, exist_ok=True)
    name = f'events.out.tfevents.{time.time():.0f}.{socket.gethostname()}.{os.getpid()}'
    self._records = RecordWriter(open(os.path.join(folder, name), 'wb'))
    self._add(event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2'))

  def _add(self, event) -> None:
    self._records.write(event.SerializeToString())
    self._records.flush()

  def scalars(self, step: int, values: dict[str, float]) -> None:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
                                         for tag, value in values.items()])
    self._add(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

  def close(self) -> None:
    self._records.close()


class MetricsWriter:
  """Appends {'step', 'split', metrics...} lines to metrics.jsonl and scalars to TensorBoard."""

  def __init__(self, workdir: str, total_steps: int, enabled: bool = True):
    self.enabled = enabled
    self.total_steps = total_steps
    if enabled:
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a', encoding='utf-8')
      self._tensorboard = EventFile(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    self._jsonl.write(json.dumps({'step': step, 'split': split, **metrics}) + '\n')
    self._jsonl.flush()
    self._tensorboard.scalars(step, {f'{split}/{name}': value for name, value in metrics.items()})

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
