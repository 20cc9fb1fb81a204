"""Timing two frameworks side by side on one shared machine: the benchmarks' common measurement.

Each step function is warmed up, then timed in turns (a, b, ..., then reversed, ...), so a load
that comes and goes on a shared machine falls on every side alike. Imported by the bench scripts
beside it (`python bench/X.py` puts this folder on the path).
"""

import statistics
import time
from collections.abc import Callable


def interleaved_timings(steps: dict[str, Callable[[], None]], warmup: int, repeats: int,
                        steps_per_timing: int) -> dict[str, list[float]]:
  """Seconds a step of each function, `repeats` timings each, taken in turns after `warmup` calls."""
  for step in steps.values():
    for _ in range(warmup):
      step()
  timings = {name: [] for name in steps}
  for repeat in range(repeats):
    for name in list(steps)[::1 if repeat % 2 == 0 else -1]:
      time.sleep(0.5)  # the other framework's worker threads stop spinning first
      start = time.perf_counter()
      for _ in range(steps_per_timing):
        steps[name]()
      timings[name].append((time.perf_counter() - start) / steps_per_timing)
  return timings


def images_per_second(timings: dict[str, list[float]], batch: int) -> dict[str, float]:
  """The batch over the median step time of each."""
  return {name: batch / statistics.median(seconds) for name, seconds in timings.items()}
