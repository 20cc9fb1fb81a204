"""Time series for forecasting: a generated temperature series, a CSV source, windows and baselines.

A series is regular: one value per `step` (e.g. an hour). Forecasting reads a window of the last
`window` steps (value plus optional calendar features) and predicts the next `horizon` values.
`split_windows` keeps training and evaluation apart in time: training windows have all their
targets before `split_time`, evaluation windows all after it (their inputs may reach back into the
training span: at forecast time the past is known), and normalisation uses training values only.

The baselines every forecast is compared with:
  - persistence: every future value equals the last one seen;
  - seasonal naive: each future value equals the value one season (e.g. a day) earlier.
"""

import csv
import dataclasses
import datetime
import math
import os

import numpy as np
import tensorflow as tf

from data import sources
from data.errors import UserInputError

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365.2425


@dataclasses.dataclass(frozen=True)
class Series:
  times: np.ndarray  # datetime64[s] [n], equally spaced
  values: np.ndarray  # float32 [n]

  @property
  def step_seconds(self) -> int:
    return int((self.times[1] - self.times[0]) / np.timedelta64(1, 's'))


def seasonal_temperature(num_days: int = 3 * 365, steps_per_day: int = 24, seed: int = 0) -> Series:
  """An hourly air temperature (°C) with yearly and daily cycles, a warming trend and weather noise.

  The noise is an AR(1) process (weather persists for hours to days), so both the recent past
  and the seasons carry information and neither baseline is optimal.
  """
  rng = np.random.default_rng(seed)
  n = num_days * steps_per_day
  step = SECONDS_PER_DAY // steps_per_day
  times = np.datetime64('2020-01-01T00:00:00', 's') + np.arange(n) * np.timedelta64(step, 's')
  days = np.arange(n) / steps_per_day
  yearly = -10.0 * np.cos(2 * np.pi * (days - 15) / DAYS_PER_YEAR)  # coldest mid-January
  daily = -4.0 * np.cos(2 * np.pi * (days % 1 - 1 / 6))  # coldest at 4:00, warmest at 16:00
  trend = 0.3 * days / DAYS_PER_YEAR
  persistence = 0.97 ** (24 / steps_per_day)  # the same weather memory whatever the sampling
  shocks = rng.normal(0.0, 2.0 * math.sqrt(1 - persistence ** 2), n)  # a stationary std of 2 °C
  import scipy.signal  # pylint: disable=import-outside-toplevel  (slow to import; only this generator needs it)
  weather = scipy.signal.lfilter([1.0], [1.0, -persistence], shocks)
  return Series(times, (10.0 + yearly + daily + trend + weather).astype(np.float32))


def _parse_time(text: str, time_format: str) -> np.datetime64:
  if time_format:
    return np.datetime64(datetime.datetime.strptime(text, time_format), 's')
  return np.datetime64(datetime.datetime.fromisoformat(text), 's')


# data.fill_gaps: '' = a missing time or value is an error; 'interpolate' = filled linearly in time.
FILL_GAPS = ('', 'interpolate')


def read_csv_series(path: str, time_column: str, value_column: str, time_format: str = '',
                    fill_gaps: str = '') -> Series:
  """A regular series from a CSV/TSV file with a header; times ISO 8601 or in `time_format` (strptime).

  The series' step is the spacing most of its consecutive rows have. With fill_gaps='interpolate'
  it is resampled to that step from its first time on: times without a value (missing rows, empty
  or NaN cells) get one interpolated linearly in time between their known neighbours.
  """
  if fill_gaps not in FILL_GAPS:
    raise UserInputError(f'unknown data.fill_gaps {fill_gaps!r}; choose one of {FILL_GAPS}')
  times, values = _read_rows(path, time_column, value_column, time_format, missing_values=bool(fill_gaps))
  rows = np.arange(1, len(times) + 1)  # data row numbers, for the messages
  if fill_gaps:
    known = np.isfinite(values)
    times, values, rows = times[known], values[known], rows[known]
  if len(times) < 3:
    raise UserInputError(f'{path} has {len(times)} data rows with values; a series needs many more')
  if not np.isfinite(values).all():
    raise UserInputError(f'{path}: column {value_column!r} holds NaN or infinite values; fill them in '
                         "or set data.fill_gaps='interpolate'")
  steps = np.diff(times)
  backwards = np.flatnonzero(steps <= np.timedelta64(0, 's'))
  if backwards.size:
    at = backwards[0] + 1
    raise UserInputError(f'{path}: the times must be increasing, but row {rows[at]} ({times[at]}) follows '
                         f'{times[at - 1]}; ' + ('drop or merge the rows of a repeated time' if steps[at - 1] == 0
                                                 else 'sort the rows by time'))
  spacings, counts = np.unique(steps, return_counts=True)
  step = spacings[np.argmax(counts)]
  if fill_gaps == 'interpolate':
    regular = times[0] + np.arange((times[-1] - times[0]) // step + 1) * step
    seconds = lambda t: t.astype(np.int64).astype(np.float64)
    return Series(regular, np.interp(seconds(regular), seconds(times), values).astype(np.float32))
  irregular = np.flatnonzero(steps != step)
  if irregular.size:
    at = irregular[0] + 1
    raise UserInputError(f'{path}: the times must be equally spaced, but row {rows[at]} ({times[at]}) follows '
                         f'{times[at - 1]} after {steps[at - 1]}, not {step}; resample the series to a regular '
                         "step, or set data.fill_gaps='interpolate' to fill the missing times linearly")
  return Series(times, values.astype(np.float32))


def _read_rows(path: str, time_column: str, value_column: str, time_format: str,
               missing_values: bool) -> tuple[np.ndarray, np.ndarray]:
  """(datetime64[s] times, float64 values) of every data row; an empty value is NaN if `missing_values`."""
  if not os.path.isfile(path):
    raise UserInputError(f'CSV file {path} does not exist')
  times, values = [], []
  with open(path, encoding='utf-8', errors='replace', newline='') as f:
    reader = csv.DictReader(f, delimiter='\t' if path.endswith('.tsv') else ',')
    columns = reader.fieldnames or []
    for column in (time_column, value_column):
      if column not in columns:
        raise UserInputError(f'{path} has no column {column!r}; its columns are {columns} '
                             '(set data.time_column / data.value_column)')
    for row in reader:
      place = f'{path} line {reader.line_num}'
      time, value = ((row[column] or '').strip() for column in (time_column, value_column))  # None: too few fields
      if not time:
        raise UserInputError(f'{place} has no value in column {time_column!r}; fill it in or drop the row')
      if not value and not missing_values:
        raise UserInputError(f'{place} has no value in column {value_column!r}; fill the gap, drop the row '
                             "or set data.fill_gaps='interpolate'")
      try:
        times.append(_parse_time(time, time_format))
      except ValueError as e:
        raise UserInputError(f'{place}: cannot read the time {row[time_column]!r} ({e}); '
                             'set data.time_format, e.g. "%d.%m.%Y %H:%M:%S"') from e
      try:
        values.append(float(value or 'nan'))
      except ValueError as e:
        raise UserInputError(f'{place}: {row[value_column]!r} in column {value_column!r} is not a number') from e
  return np.array(times, 'datetime64[s]'), np.array(values, np.float64)


def calendar_features(times: np.ndarray) -> np.ndarray:
  """[n, 4] float32: sine and cosine of the time of day and of the time of year."""
  seconds = (times - np.datetime64('2000-01-01T00:00:00', 's')) / np.timedelta64(1, 's')
  day = 2 * np.pi * (seconds % SECONDS_PER_DAY) / SECONDS_PER_DAY
  year = 2 * np.pi * (seconds / SECONDS_PER_DAY % DAYS_PER_YEAR) / DAYS_PER_YEAR
  return np.stack([np.sin(day), np.cos(day), np.sin(year), np.cos(year)], axis=1).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Windows:
  """A series cut into (window -> horizon) examples; window i reads steps starts[i] .. + window - 1."""
  features: np.ndarray  # float32 [n, f]: normalised value first, then calendar features
  values: np.ndarray  # float32 [n], original units
  mean: float  # of the training span, for (de)normalising
  std: float
  window: int
  horizon: int
  starts: dict[str, np.ndarray]  # split -> int32 window starts

  def targets(self, starts: np.ndarray) -> np.ndarray:
    """[len(starts), horizon] values after each window, original units."""
    return self.values[starts[:, None] + self.window + np.arange(self.horizon)]


def split_windows(series: Series, window: int, horizon: int, split_fraction: float = 0.8,
                  calendar: bool = True) -> Windows:
  """Training windows end (targets included) before the split time; 'test' windows predict after it."""
  n = len(series.values)
  split = int(n * split_fraction)
  if split - window - horizon < 1 or n - split < horizon:
    raise UserInputError(f'a series of {n} steps split at step {split} is too short for windows of '
                         f'{window} steps and a horizon of {horizon}; give a longer series or smaller windows')
  train_values = series.values[:split]
  mean, std = float(train_values.mean()), float(train_values.std()) or 1.0
  features = ((series.values - mean) / std)[:, None]
  if calendar:
    features = np.concatenate([features, calendar_features(series.times)], axis=1)
  # A window starting at s has its last target at s + window + horizon - 1.
  starts = {'train': np.arange(0, split - window - horizon + 1, dtype=np.int32),
            'test': np.arange(split - window, n - window - horizon + 1, dtype=np.int32)}
  return Windows(features.astype(np.float32), series.values, mean, std, window, horizon, starts)


def persistence_forecast(windows: Windows, starts: np.ndarray) -> np.ndarray:
  last = windows.values[starts + windows.window - 1]
  return np.repeat(last[:, None], windows.horizon, axis=1)


def seasonal_naive_forecast(windows: Windows, starts: np.ndarray, season: int) -> np.ndarray:
  """Each target k steps ahead is the value a whole number of seasons before it, the latest one seen."""
  ahead = np.arange(1, windows.horizon + 1)
  back = season * np.ceil(ahead / season).astype(int)
  return windows.values[(starts + windows.window - 1)[:, None] + ahead - back]


def errors(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
  difference = np.asarray(predictions, np.float64) - targets
  return {'mae': float(np.abs(difference).mean()), 'rmse': float(np.sqrt((difference ** 2).mean()))}


class WindowSource:
  """The windows of each split as a source for data.pipeline: examples are {'start': int32}."""

  def __init__(self, windows: Windows):
    self.windows = windows

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    start, stop = sources.shard_bounds(len(self.windows.starts[split]), shard, num_shards)
    return stop - start

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    starts = self.windows.starts[split]
    start, stop = sources.shard_bounds(len(starts), shard, num_shards)
    return tf.data.Dataset.from_tensor_slices({'start': starts[start:stop]})
