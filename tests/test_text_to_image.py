"""Text to image (nets/text_to_image.py, train/tasks/text_to_image.py, train/generate.py): the prior,
reranking, the faithfulness measure, the compositional split, and the chain of runs to a PNG."""

import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from configs import shapes_caption_autoencoder, shapes_clip, shapes_cnn, shapes_text_to_image
from data import captions
from data.errors import UserInputError
from nets import text_to_image
from tests import test_eval_padding
from train import generate, loop, visualize
from train.tasks import make_task
from train.tasks.text_to_image import TextToImageTask, faithfulness_metrics


@pytest.mark.parametrize('residual_dim', [0, 2])
def test_draws_are_unit_embeddings_around_the_prior_mean_decoded_to_images(residual_dim):
  model = text_to_image.TextToImage(image_shape=(8, 8, 3), embed_dim=6, prior_hidden=(16,), decoder_features=(4,),
                                    residual_dim=residual_dim)
  keys = jax.random.split(jax.random.key(0), 5)
  text_emb, image_emb = jax.random.normal(keys[0], (3, 6)), jax.random.normal(keys[1], (3, 6))
  images = jax.random.uniform(keys[2], (3, 8, 8, 3))
  variables = jax.jit(model.init)({'params': keys[3], 'latent': keys[4]}, text_emb, image_emb, images)
  (mean, log_std), drawn_again, kl = jax.jit(model.apply)(variables, text_emb, image_emb, images)
  chex.assert_shape((mean, log_std), (3, 6))
  chex.assert_shape(drawn_again, (3, 8, 8, 3))
  assert (kl is None) == (residual_dim == 0)
  if residual_dim:
    chex.assert_shape(kl, (3,))
    assert float(kl.min()) >= 0
  drawn, drawn_emb = model.apply(variables, text_emb, jax.random.key(2), 5, method=model.draw)
  chex.assert_shape(drawn, (15, 8, 8, 3))
  chex.assert_shape(drawn_emb, (3, 5, 6))
  assert float(drawn.min()) >= 0 and float(drawn.max()) <= 1
  np.testing.assert_allclose(jnp.linalg.norm(drawn_emb, axis=-1), 1.0, rtol=1e-5)
  assert float(jnp.std(drawn_emb, axis=1).mean()) > 1e-3  # the candidates differ
  drawn, at_the_mean = model.apply(variables, text_emb, jax.random.key(2), 5, 0.0, method=model.draw)
  unit_mean = mean / jnp.linalg.norm(mean, axis=-1, keepdims=True)
  np.testing.assert_allclose(at_the_mean, jnp.broadcast_to(unit_mean[:, None], (3, 5, 6)), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(drawn.reshape(3, 5, -1), jnp.broadcast_to(drawn.reshape(3, 5, -1)[:, :1], (3, 5, 192)),
                             atol=1e-6)  # temperature 0: every candidate is the mean's drawing


def test_a_run_from_before_film_gets_the_plain_decoder_it_was_trained_with():
  config = shapes_text_to_image.get_config()
  assert config.model.film and config.model.coordinates
  config.model = {name: value for name, value in config.model.items() if name not in ('film', 'coordinates')}
  task = types.SimpleNamespace(config=config, image_shape=(8, 8, 3), clip_config=shapes_clip.get_config())
  model = TextToImageTask.make_model(task)
  assert not model.film and not model.coordinates


def test_gaussian_kl_between_two_diagonal_gaussians_matches_a_monte_carlo_estimate():
  rng = np.random.default_rng(1)
  mean, log_std, prior_mean, prior_log_std = rng.normal(size=(4, 1, 3)) * 0.5
  x = mean + np.exp(log_std) * rng.normal(size=(200_000, 3))
  log_q = -text_to_image.gaussian_nll(x, mean, log_std)
  log_p = -text_to_image.gaussian_nll(x, prior_mean, prior_log_std)
  np.testing.assert_allclose(text_to_image.gaussian_kl(mean, log_std, prior_mean, prior_log_std)[0],
                             np.mean(log_q - log_p), rtol=0.03)
  np.testing.assert_allclose(text_to_image.gaussian_kl(mean, log_std, mean, log_std), [0.0], atol=1e-6)


def test_gaussian_nll_matches_the_density_formula():
  rng = np.random.default_rng(0)
  x, mean, log_std = rng.normal(size=(3, 4, 5))
  density = np.prod(np.exp(-0.5 * ((x - mean) / np.exp(log_std)) ** 2) / (np.sqrt(2 * np.pi) * np.exp(log_std)), axis=-1)
  np.testing.assert_allclose(text_to_image.gaussian_nll(x, mean, log_std), -np.log(density), rtol=1e-5)


def test_rerank_puts_the_highest_clip_score_first():
  scores = jnp.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.7]])
  images = jnp.broadcast_to(scores[:, :, None, None, None], (2, 3, 2, 2, 1))  # each image holds its score
  ranked_images, ranked_scores = text_to_image.rerank(images, scores)
  np.testing.assert_allclose(ranked_scores, [[0.9, 0.5, 0.1], [0.7, 0.3, 0.2]])
  np.testing.assert_allclose(ranked_images[:, :, 0, 0, 0], ranked_scores)


def test_faithfulness_counts_captions_whose_every_attribute_is_right():
  ranked = {'shape': np.array([True, True, False, True]), 'color': np.array([True, False, True, True])}
  first = {'shape': np.array([True, False, False, True]), 'color': np.array([False, False, True, True])}
  unseen = np.array([False, False, True, True])
  real = {'shape': np.array([True, True, True, True]), 'color': np.array([True, True, False, True])}
  metrics = faithfulness_metrics(ranked, first, unseen, real)
  assert metrics == {'faithfulness': 0.5, 'faithfulness_unranked': 0.25, 'faithfulness_real': 0.75,
                     'faithful_shape': 0.75, 'faithful_color': 0.75, 'faithfulness_seen': 0.5,
                     'faithfulness_unranked_seen': 0.0, 'faithfulness_unseen': 0.5, 'faithfulness_unranked_unseen': 0.5}
  assert 'faithfulness_unseen' not in faithfulness_metrics(ranked, first, np.zeros(4, bool), real)


def test_unseen_combinations_select_examples_and_bad_ones_are_named():
  attributes = {'color': ['red', 'green'], 'label': ['circle', 'triangle']}
  labels = {'color': np.array([0, 1, 1, 0]), 'label': np.array([1, 1, 0, 0])}
  np.testing.assert_array_equal(captions.showing(['color=green,label=triangle'], attributes, labels),
                                [False, True, False, False])
  np.testing.assert_array_equal(captions.showing(['color=green', 'label=triangle'], attributes, labels),
                                [True, True, True, False])
  with pytest.raises(UserInputError, match="'colour=green' is not attribute=value"):
    captions.showing(['colour=green'], attributes, labels)


@pytest.fixture(scope='module')
def small_shapes_dir(tmp_path_factory):
  """A TFDS data_dir with a small shapes set: enough for a few steps of each stage."""
  import data.shapes.builder  # noqa: F401  # registers the builder
  data_dir = str(tmp_path_factory.mktemp('small_shapes'))
  tfds.builder('shapes', data_dir=data_dir, num_train=400, num_test=100).download_and_prepare()
  return data_dir


def tiny_clip_config(data_dir):
  config = shapes_clip.get_config()
  config.data.data_dir = data_dir
  config.model.update(embed_dim=8, image={'stage_features': (4, 8, 8), 'head': (16,)},
                      text={'embed_dim': 8, 'features': 8})
  config.zero_shot = {'color': ('a {}',)}
  config.batch_size, config.num_steps, config.eval_every = 32, 4, 1000
  return config


def test_the_compositional_split_keeps_unseen_combinations_out_of_training(small_shapes_dir):
  task = make_task(tiny_clip_config(small_shapes_dir))
  train, test = task.source.fields('train'), task.source.fields('test')
  green, triangle = task.attributes['color'].index('green'), task.attributes['label'].index('triangle')
  assert not np.any((train['label_color'] == green) & (train['label_label'] == triangle))
  assert np.any((test['label_color'] == green) & (test['label_label'] == triangle))


def tiny_caption_autoencoder_config(data_dir):
  config = shapes_caption_autoencoder.get_config()
  config.data.data_dir = data_dir
  config.model.update(embed_dim=8, features=16)
  config.eval.decode_examples = 0  # no beam search: the reconstruction is not what this test checks
  config.batch_size, config.num_steps, config.eval_every = 32, 4, 1000
  return config


def test_the_chain_of_runs_draws_a_png_grid(small_shapes_dir, tmp_path):
  """A caption autoencoder, CLIP starting from its encoder, the prior and decoder on CLIP, then
  `python -m train.generate`'s main on the last run."""
  loop.train_and_evaluate(tiny_caption_autoencoder_config(small_shapes_dir), str(tmp_path / 'caption_ae'))
  clip_config = tiny_clip_config(small_shapes_dir)
  clip_config.model.text_init = str(tmp_path / 'caption_ae')
  autoencoder_params = loop.restore(str(tmp_path / 'caption_ae'))[3]['params']
  clip_task = make_task(clip_config)
  batch = next(clip_task.train_batches(0, 0, 1))
  text_tower = test_eval_padding.initial_state(clip_task, clip_task.make_model(), batch).params['text_tower']
  chex.assert_trees_all_close(text_tower['encoder'], autoencoder_params['encoder'])
  chex.assert_trees_all_close(text_tower['embedding'], autoencoder_params['embedding'])
  clip_config.model.text.features = 16  # the autoencoder's 16 are 8 per direction
  with pytest.raises(UserInputError, match='features = its features / directions'):
    test_eval_padding.initial_state(clip_task, clip_task.make_model(), batch)  # the task reads its config
  clip_config.model.text.features = 8

  loop.train_and_evaluate(clip_config, str(tmp_path / 'clip'))
  judge = shapes_cnn.get_config()  # a colour classifier on real images, to judge the drawings
  judge.data.update(data_dir=small_shapes_dir, label_key='color')
  judge.model.update(stage_features=(4, 8), head=(8,))
  judge.batch_size, judge.num_steps, judge.eval_every = 32, 4, 1000
  loop.train_and_evaluate(judge, str(tmp_path / 'judge_color'))
  config = shapes_text_to_image.get_config()
  config.clip_workdir = str(tmp_path / 'clip')
  config.model.update(prior_hidden=(16,), decoder_features=(4, 8))
  config.faithfulness.classifier_workdirs = {'color': str(tmp_path / 'judge_color')}
  config.faithfulness.update(examples=20, candidates=2)
  config.batch_size, config.num_steps, config.eval_every = 32, 4, 1000
  config.perceptual_weight = 1.0
  final = loop.train_and_evaluate(config, str(tmp_path / 't2i'))
  assert {'psnr', 'prior_nll', 'prior_cosine', 'clip_score'} <= set(final)
  chex.assert_tree_all_finite(final)
  shares = ('faithfulness', 'faithfulness_unranked', 'faithfulness_real', 'faithful_color')
  assert all(0 <= final[name] <= 1 for name in shares), final
  _assert_the_perceptual_loss_trains_the_decoder_alone(str(tmp_path / 't2i'))

  out = tmp_path / 'grid.png'
  generate.main(['--workdir', str(tmp_path / 't2i'), '--num', '3', '--out', str(out),
                 'a small red circle on the left', 'a large green triangle in the top right'])
  assert Image.open(out).size == visualize.grid_pixels(rows=2, columns=3)


def _assert_the_perceptual_loss_trains_the_decoder_alone(workdir):
  """Its gradient reaches the decoder (and the residual encoder that feeds it) through frozen CLIP, not the priors."""
  _, task, model, variables = loop.restore(workdir)
  batch = next(task.train_batches(0, 0, 1))

  def perceptual(params):
    _, (metrics, _) = task.loss(model, params, {}, batch, jax.random.key(0), train=True)
    return metrics['perceptual']

  value, grads = jax.jit(jax.value_and_grad(perceptual))(variables['params'])
  assert np.isfinite(value) and value > 0
  norms = jax.jit(lambda grads: {name: optax.global_norm(part) for name, part in grads.items()})(grads)
  assert norms['decoder'] > 0 and norms['residual_encoder'] > 0, norms
  assert norms['prior'] == 0 and norms['residual_prior'] == 0, norms


@pytest.mark.parametrize('args, message', [
    (['--workdir', '{clip}', 'a cat'], "is a 'contrastive' run"),
    (['--workdir', '{clip}', '--num', '0', 'a cat'], '--num must be between 1 and 64'),
    (['--workdir', '{clip}', '   '], 'a caption must have 1 to 300 characters'),
    (['--workdir', '{clip}', '--out', 'grid.jpg', 'a cat'], '--out must name a .png file'),
])
def test_generate_refuses_bad_input_with_exit_code_2(args, message, tmp_path, capsys):
  (tmp_path / 'clip').mkdir()
  (tmp_path / 'clip' / 'config.json').write_text('{"task": "contrastive"}')
  with pytest.raises(SystemExit) as exit_info:
    generate.main([a.format(clip=tmp_path / 'clip') for a in args])
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
