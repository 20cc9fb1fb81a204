"""Temperature forecasting: a window of past values (and calendar features) -> the next `horizon` values.

Data: `data.source` = 'generated' (data.series.seasonal_temperature, the offline default) or
'csv' (a file with a time column and a value column that the user names). The series is split
in time (data/series.py): training windows predict only values before the split, evaluation
windows only values after it, and normalisation uses training values only.

The model regresses the normalised targets (mean squared error). Evaluation reports, in the
series' own units, MAE and RMSE over every test window, beside the persistence and
seasonal-naive baselines on the same windows.
"""

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf

from data import pipeline, series
from data.errors import UserInputError
from nets import rnn
from train.tasks import base
from train.tasks.text import module_kwargs

SOURCES = ('generated', 'csv')


def load_series(data) -> series.Series:
  if data.source == 'generated':
    return series.seasonal_temperature(data.num_days, data.steps_per_day, data.series_seed)
  if data.source == 'csv':
    return series.read_csv_series(data.path, data.time_column, data.value_column, data.time_format,
                                  data.get('fill_gaps', ''))
  raise UserInputError(f'unknown data.source {data.source!r}; choose one of {SOURCES}')


class ForecastTask(base.Task):
  """Sequence regression of the next values of one series with nets.rnn.Forecaster."""

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    values = load_series(data)
    self.windows = series.split_windows(values, data.window, data.horizon, data.split_fraction, data.calendar)
    self.source = series.WindowSource(self.windows)
    # The baseline's season in steps: one day unless the config says otherwise.
    self.season = data.season or max(1, round(series.SECONDS_PER_DAY / values.step_seconds))

  def _preprocess(self, example, seed, train):
    del seed, train  # no augmentation
    window, horizon = self.windows.window, self.windows.horizon
    start = example['start']
    features = tf.constant(self.windows.features)
    return {'window': tf.ensure_shape(features[start:start + window], [window, features.shape[1]]),
            'target': tf.ensure_shape(features[start + window:start + window + horizon, 0], [horizon])}

  def train_batches(self, start_step, process_index, process_count):
    data = self.config.data
    return pipeline.train_stream(
        self.source, 'train', self._preprocess, global_batch=self.config.batch_size, seed=self.config.seed,
        start_step=start_step, process_index=process_index, process_count=process_count,
        num_shards=data.num_shards, shuffle_buffer=data.shuffle_buffer)

  def eval_batches(self, process_index, process_count):
    return pipeline.eval_stream(self.source, 'test', self._preprocess, global_batch=self.config.eval_batch_size,
                                process_index=process_index, process_count=process_count)

  def make_model(self, axis_name=None):
    del axis_name  # no batch statistics
    name, model = module_kwargs(self.config.model)
    if name != 'rnn':
      raise UserInputError("the forecast task's model.name must be 'rnn'")
    return rnn.Forecaster(horizon=self.windows.horizon, dtype=jnp.dtype(self.config.compute_dtype), **model)

  def init_variables(self, model, rng, batch):
    params_rng, dropout_rng = jax.random.split(rng)
    return dict(model.init({'params': params_rng, 'dropout': dropout_rng}, batch['window']))

  def loss(self, model, params, state, batch, rng, train):
    predictions = model.apply({'params': params, **state}, batch['window'], train=train,
                              rngs={'dropout': rng} if train else None)
    loss = jnp.mean((predictions - batch['target']) ** 2)
    return loss, ({'mae': jnp.mean(jnp.abs(predictions - batch['target'])) * self.windows.std}, state)

  def eval_metrics(self, model, variables, batch):
    """Per-window errors in the series' units (the loop averages them over the test span)."""
    difference = (model.apply(variables, batch['window']) - batch['target']) * self.windows.std
    return {'mae': jnp.mean(jnp.abs(difference), axis=1), 'mse': jnp.mean(difference ** 2, axis=1)}

  def predict(self, variables, starts: np.ndarray) -> np.ndarray:
    """Forecasts [len(starts), horizon] in the series' units for the windows starting at `starts`."""
    model = self.make_model()
    apply = jax.jit(lambda window: model.apply(variables, window))
    window_steps = starts[:, None] + np.arange(self.windows.window)
    predictions = [apply(self.windows.features[window_steps[i:i + self.config.eval_batch_size]])
                   for i in range(0, len(starts), self.config.eval_batch_size)]
    return np.concatenate(predictions) * self.windows.std + self.windows.mean

  def evaluate_host(self, variables, workdir):
    """MAE and RMSE of the model and of both baselines over every test window."""
    del workdir
    starts = self.windows.starts['test']
    targets = self.windows.targets(starts)
    results = {}
    for name, forecast in (('', self.predict(variables, starts)),
                           ('persistence_', series.persistence_forecast(self.windows, starts)),
                           ('seasonal_naive_', series.seasonal_naive_forecast(self.windows, starts, self.season))):
      results.update({name + k: v for k, v in series.errors(forecast, targets).items()})
    return results
