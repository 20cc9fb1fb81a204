"""Every task's evaluation on a padded last batch: the padded rows change no metric and make none NaN.

The last eval batch is filled up with rows of zeros whose `mask` is 0 (data/pipeline.py). A model
may compute anything on such a row (a max over a text without tokens, a ratio of zeros), so the
eval step must leave those rows out of its sums exactly, whatever they hold.
"""

import csv

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds

from configs import autoencoder, reviews_bow, shapes_centernet, shapes_clip, shapes_cnn, shapes_swap, shapes_unet
from configs import skipgram_planted, temperature_rnn, text_files_rnn
from nets import rnn
from train import loop, steps
from train.tasks import base, make_task

REVIEW_WORDS = {'good': ('great', 'tasty', 'friendly', 'fresh'), 'bad': ('awful', 'stale', 'rude', 'slow')}


@pytest.fixture(scope='module')
def tiny_shapes_dir(tmp_path_factory):
  """A TFDS data_dir holding a shapes set of a few images, enough for one padded eval batch."""
  import data.shapes.builder  # noqa: F401  # registers the builder
  data_dir = str(tmp_path_factory.mktemp('tiny_shapes'))
  tfds.builder('shapes', data_dir=data_dir, num_train=8, num_test=20).download_and_prepare()
  return data_dir


def padded_last_batch(task) -> tuple[dict, int]:
  """The task's last eval batch and its number of real rows, which come first."""
  *_, last = task.eval_batches(0, 1)
  real = int(last['mask'].sum())
  assert 0 < real < len(last['mask']), 'the config must leave the last eval batch part padding'
  return last, real


def initial_state(task, model, batch) -> steps.TrainState:
  return steps.make_init(task, model, optax.sgd(0.1), None)(jax.random.key(0), batch)


def assert_padding_changes_no_metric(task, model, state, batch, real: int, label: str = '') -> dict:
  """The eval step's sums over `batch` are finite and equal its sums over the first `real` rows alone;
  returns those sums."""
  eval_step = jax.jit(steps.make_eval_step(task, model))
  padded = eval_step(state, batch)
  chex.assert_tree_all_finite(padded, custom_message=label)
  chex.assert_trees_all_close(padded, eval_step(state, {k: v[:real] for k, v in batch.items()}), rtol=1e-5,
                              custom_message=label)
  return padded


def assert_padding_changes_no_metric_of(config):
  task = make_task(config)
  batch, real = padded_last_batch(task)
  model = task.make_model()
  assert_padding_changes_no_metric(task, model, initial_state(task, model, batch), batch, real)


# The ConvNet classifier, the autoencoder (denoising: the plain one plus a noisy input; the VAE), the
# swap and CLIP (whose eval loss contrasts each row with the batch's other rows): (config, its model shrunk).
IMAGE_CONFIGS = {
    'classification': (shapes_cnn.get_config, {'stage_features': (4, 8, 8), 'head': (8,)}),
    'denoising': (lambda: autoencoder.get_config('shapes,denoising'), {'stage_features': (4, 8)}),
    'vae': (lambda: autoencoder.get_config('shapes,vae'), {'stage_features': (4, 8)}),
    'swap': (shapes_swap.get_config, {'stage_features': (4, 8)}),
    'contrastive': (shapes_clip.get_config, {'embed_dim': 8, 'image': {'stage_features': (4, 8), 'head': (8,)},
                                             'text': {'embed_dim': 8, 'features': 8}}),
}


@pytest.mark.parametrize('name', sorted(IMAGE_CONFIGS))
def test_image_tasks(name, tiny_shapes_dir):
  get_config, model = IMAGE_CONFIGS[name]
  config = get_config()
  config.data.data_dir = tiny_shapes_dir
  config.model.update(model)
  config.eval_batch_size = 16  # 20 test images, fewer in the swap's two domains: the last batch is part padding
  assert_padding_changes_no_metric_of(config)


# Segmentation (a per-pixel confusion matrix summed over the rows) and detection: images of several shapes.
DENSE_CONFIGS = {
    'segmentation': (shapes_unet.get_config, {'stage_features': (4, 8), 'convs_per_stage': 1}),
    'detection': (shapes_centernet.get_config, {'stage_features': (4, 8, 8), 'convs_per_stage': 1,
                                                'head_features': 4}),
}


@pytest.mark.parametrize('name', sorted(DENSE_CONFIGS))
def test_dense_image_tasks(name, tmp_path):
  import data.shapes.builder  # noqa: F401  # registers the builder
  get_config, model = DENSE_CONFIGS[name]
  tfds.builder('shapes/scenes', data_dir=str(tmp_path), num_train=8, num_test=20).download_and_prepare()
  config = get_config()
  config.data.data_dir = str(tmp_path)
  config.model.update(model)
  config.eval_batch_size = 16
  assert_padding_changes_no_metric_of(config)


def tiny_text_config(tmp_path):
  """configs/text_files_rnn.py (max pooling, bidirectional) on a CSV of 30 short reviews, shrunk."""
  rng = np.random.default_rng(0)
  path = tmp_path / 'reviews.csv'
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['text', 'label'])
    for _ in range(30):
      label = rng.choice(sorted(REVIEW_WORDS))
      writer.writerow([f'the {rng.choice(["soup", "film", "waiter"])} was {rng.choice(REVIEW_WORDS[label])}', label])
  config = text_files_rnn.get_config()
  config.data.update(source='csv', path=str(path), max_length=16)
  config.model.update(embed_dim=8, features=8)
  config.eval_batch_size = 8  # every 5th row is held out: 6 of them
  return config


def test_text_classification_with_each_pooling(tmp_path):
  task = make_task(tiny_text_config(tmp_path))
  batch, real = padded_last_batch(task)
  model = task.make_model()
  state = initial_state(task, model, batch)  # every pooling reads the same parameters
  for pooling in rnn.POOLINGS:
    assert_padding_changes_no_metric(task, model.clone(pooling=pooling), state, batch, real, f'pooling={pooling}')


def test_text_classification_bag_of_words(tmp_path):
  config = tiny_text_config(tmp_path)
  config.model = reviews_bow.get_config().model
  config.model.update(embed_dim=8, hidden=(8,))
  assert_padding_changes_no_metric_of(config)


def test_forecast():
  config = temperature_rnn.get_config()
  config.data.update(num_days=10, window=8, horizon=4)
  config.model.features = 8
  config.eval_batch_size = 16
  assert_padding_changes_no_metric_of(config)


def test_skipgram():
  config = skipgram_planted.get_config()
  config.data.update(num_sentences=200, num_eval_sentences=40, eval_pairs=100, micro_batch=64)
  config.model.dim = 8
  config.batch_size, config.eval_batch_size, config.num_steps = 64, 64, 1
  assert_padding_changes_no_metric_of(config)


class NanOnPaddingTask:
  """Two eval batches of values x, the second padded with zeros; the metric x / x is NaN on the padding."""

  def eval_batches(self, process_index, process_count):
    del process_index, process_count
    yield {'x': np.array([1, 2, 3, 4], np.float32), 'mask': np.ones(4, np.float32)}
    yield {'x': np.array([5, 0, 0, 0], np.float32), 'mask': np.array([1, 0, 0, 0], np.float32)}

  def eval_metrics(self, model, variables, batch):
    del model, variables
    return {'x': batch['x'], 'x_over_x': batch['x'] / batch['x']}

  summarize_eval = base.Task.summarize_eval


@pytest.mark.parametrize('parallel', ['jit', 'pmap'])
def test_the_loops_averages_leave_out_a_nan_on_a_padded_row(parallel):
  task = NanOnPaddingTask()
  axis_name = steps.PMAP_AXIS if parallel == 'pmap' else None
  data_parallel = steps.DataParallel(parallel, lambda state, batch: (state, {}),
                                     steps.make_eval_step(task, None, axis_name))
  state = data_parallel.put_state(steps.TrainState(jnp.zeros((), jnp.int32), {}, {}, {}))
  chex.assert_trees_all_close(loop.evaluate(task, data_parallel, state), {'x': 3.0, 'x_over_x': 1.0})
