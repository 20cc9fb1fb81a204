"""LSTM temperature forecaster: the last 2 days, hour by hour -> the next 24 hours.

  python -m train --config configs/temperature_rnn.py --workdir runs/temperature
  python -m train --config configs/temperature_rnn.py --workdir runs/jena \
      --config.data.source=csv --config.data.path=jena_climate_2009_2016_hourly.csv \
      --config.data.time_column='Date Time' --config.data.value_column='T (degC)' \
      --config.data.time_format='%d.%m.%Y %H:%M:%S'

The offline default is a generated hourly series (data.series.seasonal_temperature: yearly and
daily cycles, a trend and persistent weather noise). The last 20% of the series is the test
span; the final evaluation reports mae / rmse beside persistence_* and seasonal_naive_*.
A CSV must be regular (one row per step), or name data.fill_gaps='interpolate' to fill missing
steps linearly; the season of the seasonal-naive baseline is one day.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'forecast'
  config.batch_size = 64
  config.eval_batch_size = 512
  config.data = ml_collections.ConfigDict({
      'source': 'generated',  # 'generated' | 'csv'
      'num_days': 3 * 365, 'steps_per_day': 24, 'series_seed': 0,  # generated
      'path': '', 'time_column': 'time', 'value_column': 'value',  # csv (.csv or .tsv)
      'time_format': '',  # csv: strptime format of the times; '' = ISO 8601
      'fill_gaps': '',  # csv: '' = a missing step is an error; 'interpolate' = filled linearly in time
      'window': 48,  # steps read
      'horizon': 24,  # steps predicted
      'split_fraction': 0.8,  # the later 20% of the series is the test span
      'calendar': True,  # add sine/cosine of the time of day and year to each step
      'season': 0,  # seasonal-naive baseline's season in steps; 0 = one day
      'num_shards': 0,
      'shuffle_buffer': 100_000,
  })
  config.model = ml_collections.ConfigDict({
      'name': 'rnn', 'cell': 'lstm', 'features': 64, 'num_layers': 1, 'dropout_rate': 0.0, 'unroll': 1,
  })
  config.optimizer.learning_rate = 3e-3
  config.optimizer.warmup_steps = 50
  config.num_steps = 2000
  config.eval_every = 500
  return config
