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


@pytest.mark.learning
def test_lstm_forecast_beats_persistence_and_seasonal_naive(tmp_path, learning_seed, record_learning):
  config = temperature_rnn.get_config()
  config.seed = learning_seed
  config.data.num_days = 2 * 365
  config.num_steps = 500
  config.eval_every = config.checkpoint_every = 500
  config.log_every = 100
  metrics = loop.train_and_evaluate(config, str(tmp_path))
  # Measured on the last 20% of the series after 500 steps: LSTM MAE 1.08 / RMSE 1.37 °C,
  # seasonal naive 1.55 / 1.91, persistence 3.46 / 4.25; over seeds 0-2 and every XLA:CPU code
  # path, on two cores and on one (bench/learning_margins.py), the LSTM's error is 0.74-0.75 of the
  # better baseline's.
  # Asking for 10% better leaves that margin while still failing a model that merely copies yesterday.
  for error in ('mae', 'rmse'):
    best_baseline = min(metrics[f'persistence_{error}'], metrics[f'seasonal_naive_{error}'])
    record_learning(f'-{error}/best_baseline', -metrics[error] / best_baseline, -0.9)
    assert metrics[error] < 0.9 * best_baseline, metrics


DAILY_WITH_GAPS = ['time,value', '2020-01-01,1.0', '2020-01-02,2.0',  # 01-03 and 01-04 missing
                   '2020-01-05,8.0', '2020-01-06,', '2020-01-07,4.0']  # 01-06 has no value


@pytest.mark.parametrize('lines, message', [
    (DAILY_WITH_GAPS[:4], r"row 3 \(2020-01-05T00:00:00\) follows 2020-01-02T00:00:00 after 259200 seconds, "
                          r"not 86400 seconds.*fill_gaps='interpolate'"),
    (DAILY_WITH_GAPS, r"line 5 has no value in column 'value'.*fill_gaps='interpolate'"),
])
def test_missing_days_are_an_error_that_names_fill_gaps(tmp_path, lines, message):
  with pytest.raises(UserInputError, match=message):
    series.read_csv_series(write_csv(tmp_path, lines), 'time', 'value')


def test_interpolated_gaps_give_the_daily_grid_linear_in_time(tmp_path):
  read = series.read_csv_series(write_csv(tmp_path, DAILY_WITH_GAPS), 'time', 'value', fill_gaps='interpolate')
  np.testing.assert_array_equal(read.times, np.arange('2020-01-01', '2020-01-08', dtype='datetime64[D]'))
  # 2.0 on the 2nd to 8.0 on the 5th: +2 a day; 8.0 on the 5th to 4.0 on the 7th: -2 a day.
  np.testing.assert_array_equal(read.values, [1.0, 2.0, 4.0, 6.0, 8.0, 6.0, 4.0])
  assert read.step_seconds == 86_400


def test_interpolation_resamples_off_grid_times_onto_the_common_step(tmp_path):
  lines = ['time,value', '2020-01-01T00:00,0', '2020-01-01T01:00,10', '2020-01-01T02:30,25',
           '2020-01-01T04:00,40', '2020-01-01T05:00,50']
  read = series.read_csv_series(write_csv(tmp_path, lines), 'time', 'value', fill_gaps='interpolate')
  assert read.step_seconds == 3600 and len(read.values) == 6
  np.testing.assert_array_equal(read.values, [0, 10, 20, 30, 40, 50])


@pytest.mark.parametrize('lines, message', [
    (['time,value', '2020-01-01,1', '2020-01-02,2', '2020-01-02,3', '2020-01-03,4'],
     'row 3 .* follows 2020-01-02T00:00:00; drop or merge the rows of a repeated time'),
    (['time,value', '2020-01-01,1', '2020-01-03,2', '2020-01-02,3', '2020-01-04,4'],
     'row 3 .* follows 2020-01-03T00:00:00; sort the rows by time'),
])
def test_interpolation_needs_increasing_times(tmp_path, lines, message):
  with pytest.raises(UserInputError, match=message):
    series.read_csv_series(write_csv(tmp_path, lines), 'time', 'value', fill_gaps='interpolate')


def test_unknown_fill_gaps_is_a_clear_error(tmp_path):
  with pytest.raises(UserInputError, match="unknown data.fill_gaps 'zero'"):
    series.read_csv_series(write_csv(tmp_path, DAILY_WITH_GAPS), 'time', 'value', fill_gaps='zero')
