"""data/series.py and the forecast task: time splits without leakage, baselines, CSV errors, learning."""

import numpy as np
import pytest

from configs import temperature_rnn
from data import series
from data.errors import UserInputError
from train import loop


def hourly(values) -> series.Series:
  times = np.datetime64('2021-03-01T00:00:00', 's') + np.arange(len(values)) * np.timedelta64(3600, 's')
  return series.Series(times, np.asarray(values, np.float32))


def test_generated_series_is_reproducible_and_seasonal():
  one, again = series.seasonal_temperature(730, seed=3), series.seasonal_temperature(730, seed=3)
  np.testing.assert_array_equal(one.values, again.values)
  assert one.step_seconds == 3600
  days = one.values.reshape(-1, 24)
  # Afternoons are warmer than nights, and July warmer than January, on average.
  assert days[:, 16].mean() > days[:, 4].mean() + 4
  assert days[180:210].mean() > days[0:30].mean() + 10


def test_windows_keep_training_targets_before_the_test_span():
  values = hourly(np.arange(200.0))
  windows = series.split_windows(values, window=10, horizon=5, split_fraction=0.8)
  split = 160
  train, test = windows.starts['train'], windows.starts['test']
  assert windows.targets(train).max() == split - 1  # the last training target is just before the split
  assert windows.targets(test).min() == split and windows.targets(test).max() == 199
  # Normalisation comes from the training span alone.
  assert windows.mean == pytest.approx(np.arange(split).mean())
  np.testing.assert_allclose(windows.features[:, 0] * windows.std + windows.mean, values.values, atol=1e-3)
  assert windows.features.shape == (200, 5)  # value + 4 calendar features


def test_baselines_are_exact_on_the_series_they_suit():
  daily = hourly(np.tile(np.arange(24.0), 20))
  windows = series.split_windows(daily, window=30, horizon=30)  # a horizon longer than one season
  starts = windows.starts['test']
  forecast = series.seasonal_naive_forecast(windows, starts, season=24)
  assert series.errors(forecast, windows.targets(starts)) == {'mae': 0.0, 'rmse': 0.0}
  constant = series.split_windows(hourly(np.full(100, 7.0)), window=5, horizon=3)
  starts = constant.starts['test']
  np.testing.assert_array_equal(series.persistence_forecast(constant, starts), constant.targets(starts))
  assert series.errors(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]])) == {'mae': 2.0, 'rmse': np.sqrt(5.0)}


def write_csv(tmp_path, lines):
  path = tmp_path / 'weather.csv'
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


def test_csv_series_reads_named_columns_and_formats(tmp_path):
  path = write_csv(tmp_path, ['Date Time,T (degC),p', '01.01.2009 00:00:00,-8.0,1',
                              '01.01.2009 01:00:00,-8.5,1', '01.01.2009 02:00:00,-9.25,1'])
  read = series.read_csv_series(path, 'Date Time', 'T (degC)', '%d.%m.%Y %H:%M:%S')
  np.testing.assert_array_equal(read.values, [-8.0, -8.5, -9.25])
  assert read.times[2] == np.datetime64('2009-01-01T02:00:00') and read.step_seconds == 3600


@pytest.mark.parametrize('lines, message', [
    (['time,temp', '2020-01-01T00:00,1', '2020-01-01T01:00,2', '2020-01-01T02:00,3'],
     "no column 'value'; its columns are \\['time', 'temp'\\]"),
    (['time,value', '2020-01-01T00:00,1', '2020-01-01T01:00,', '2020-01-01T02:00,3'],
     "line 3 has no value in column 'value'"),
    (['time,value', '2020-01-01T00:00,1', 'yesterday,2', '2020-01-01T02:00,3'],
     "line 3: cannot read the time 'yesterday'"),
    (['time,value', '2020-01-01T00:00,1', '2020-01-01T01:00,2', '2020-01-01T03:00,3'],
     'equally spaced, but row 3'),
    (['time,value', '2020-01-01T00:00,1', '2020-01-01T01:00,warm', '2020-01-01T02:00,3'],
     "'warm' in column 'value' is not a number"),
])
def test_csv_series_bad_input_is_a_clear_error(tmp_path, lines, message):
  with pytest.raises(UserInputError, match=message):
    series.read_csv_series(write_csv(tmp_path, lines), 'time', 'value')


def test_lstm_forecast_beats_persistence_and_seasonal_naive(tmp_path):
  config = temperature_rnn.get_config()
  config.data.num_days = 2 * 365
  config.num_steps = 500
  config.eval_every = config.checkpoint_every = 500
  config.log_every = 100
  metrics = loop.train_and_evaluate(config, str(tmp_path))
  # Measured on the last 20% of the series after 500 steps: LSTM MAE 1.08 / RMSE 1.37 °C,
  # seasonal naive 1.55 / 1.91, persistence 3.46 / 4.25. Asking for 10% better than the better
  # baseline leaves margin for a different CPU's rounding while still failing a model that
  # merely copies yesterday.
  for error in ('mae', 'rmse'):
    best_baseline = min(metrics[f'persistence_{error}'], metrics[f'seasonal_naive_{error}'])
    assert metrics[error] < 0.9 * best_baseline, metrics
