"""Seeing what a model learned: PNGs from a run's workdir.

  python -m train.visualize --workdir runs/shapes_cnn --out runs/shapes_cnn/figures [--index 3] \
      [--checkpoint best]

For a classification run (a CNN):
  filters.png        the first convolution's filters as small RGB images (grey for 1 channel);
  feature_maps.png   every stage's feature maps for one test image: edges and blobs early,
                     larger parts later, ever coarser;
  saliency.png       the class-saliency map (Simonyan et al. 2014): |d logit / d pixel| for the
                     predicted class, the pixels whose change moves the decision most.
For a segmentation run: segmentation.png (rows: image, true mask, predicted mask); for a detection
run: detection.png (rows: true boxes, predicted boxes). For a reconstruction run: reconstructions.png (input | reconstruction), and samples.png, images
decoded from the prior, for a VAE. For a swap run: swaps.png (A | A->B for every pair of domains).
Every run: curves.png, training and evaluation metrics from metrics.jsonl.
"""

import argparse
import collections
import json
import os
import sys

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

from data.errors import UserInputError  # pylint: disable=wrong-import-position
from train import drawing, loop  # pylint: disable=wrong-import-position

TILE_INCHES = 1.0  # every grid cell is one inch wide and tall, plus TITLE_INCHES for its label
TITLE_INCHES = 0.25
DPI = 100
MAX_FEATURE_MAPS = 16  # channels shown per stage


def grid_pixels(rows: int, columns: int) -> tuple[int, int]:
  """(width, height) in pixels of the PNG `save_grid` writes for a rows x columns grid."""
  return round(columns * TILE_INCHES * DPI), round(rows * (TILE_INCHES + TITLE_INCHES) * DPI)


def save_grid(tiles: list[list[tuple[np.ndarray | None, str]]], path: str, cmap: str = 'gray') -> None:
  """Rows of (image [H, W, C] or [H, W] or None for a blank cell, label) as one labelled PNG."""
  rows, columns = len(tiles), max(len(row) for row in tiles)
  figure = plt.figure(figsize=(columns * TILE_INCHES, rows * (TILE_INCHES + TITLE_INCHES)), dpi=DPI)
  for r, row in enumerate(tiles):
    for c, (image, label) in enumerate(row):
      axes = figure.add_subplot(rows, columns, r * columns + c + 1)
      axes.axis('off')
      if image is None:
        continue
      image = np.asarray(image, np.float32)
      if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
      axes.imshow(np.clip(image, 0.0, 1.0), cmap=cmap if image.ndim == 2 else None, vmin=0.0, vmax=1.0,
                  interpolation='nearest')
      axes.set_title(label, fontsize=6)
  figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.95, wspace=0.08, hspace=0.3)
  figure.savefig(path, dpi=DPI)
  plt.close(figure)


def pair_grid(pairs: dict[str, tuple[np.ndarray, np.ndarray]], path: str, titles: tuple[str, str]) -> None:
  """For each named group, a row of inputs above a row of outputs, images in [0, 1]."""
  tiles = []
  for name, (inputs, outputs) in pairs.items():
    tiles.append([(image, f'{name}: {titles[0]}' if i == 0 else titles[0]) for i, image in enumerate(inputs)])
    tiles.append([(image, titles[1]) for image in outputs])
  save_grid(tiles, path)


def rescale(x: np.ndarray) -> np.ndarray:
  """Linearly onto [0, 1] (a constant array becomes 0.5)."""
  low, high = float(x.min()), float(x.max())
  return (x - low) / (high - low) if high > low else np.full_like(x, 0.5)


def first_conv_kernel(params) -> np.ndarray:
  """The kernel [h, w, in, out] of the first convolution met in parameter order."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if leaf.ndim == 4 and 'kernel' in jax.tree_util.keystr(path):
      return np.asarray(leaf)
  raise UserInputError('the model has no convolution: no filters to show (an MLP?)')


def filter_tiles(kernel: np.ndarray, columns: int = 8) -> list[list]:
  """Each output filter as an image: RGB when it reads 3 channels, else its first channel in grey."""
  filters = np.moveaxis(kernel, -1, 0)
  filters = filters if filters.shape[-1] == 3 else filters[..., 0]
  tiles = [(rescale(f), f'filter {i}') for i, f in enumerate(filters)]
  return [tiles[i:i + columns] for i in range(0, len(tiles), columns)]


def feature_map_tiles(image: np.ndarray, stages: dict[str, np.ndarray]) -> list[list]:
  """The input, then per stage a row of its first channels (each rescaled to [0, 1])."""
  tiles = [[(image, 'input')]]
  for name in sorted(stages):
    maps = np.asarray(stages[name])[0, ..., :MAX_FEATURE_MAPS]
    side = f'{maps.shape[0]}x{maps.shape[1]}'
    tiles.append([(rescale(maps[..., c]), f'{name} ch{c} {side}') for c in range(maps.shape[-1])])
  return tiles


def saliency(model, variables, image: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(predicted class, |d logit / d pixel| maxed over channels [H, W]) for one model input [H, W, C]."""

  @jax.jit  # one program rather than an eager compile per operation, as for every figure here
  def predicted_and_heat(variables, image):
    logits = lambda x: model.apply(variables, x[None], train=False)[0]
    predicted = jnp.argmax(logits(image))
    gradient = jax.grad(lambda x: logits(x)[predicted])(image)
    return predicted, jnp.abs(gradient).max(-1)

  return predicted_and_heat(variables, image)


def curves(metrics_path: str, path: str) -> None:
  """One panel per metric, training and evaluation values against the step."""
  series = collections.defaultdict(lambda: collections.defaultdict(list))
  with open(metrics_path, encoding='utf-8') as f:
    for line in f:
      record = json.loads(line)
      for name, value in record.items():
        if name not in ('step', 'split'):
          series[name][record['split']].append((record['step'], value))
  if not series:
    raise UserInputError(f'{metrics_path} holds no metrics yet')
  # Metrics logged once (the final host-side evaluations) make no curve; keep them out if others do.
  series = {name: splits for name, splits in series.items() if sum(map(len, splits.values())) > 1} or series
  columns = min(len(series), 4)
  rows = -(-len(series) // columns)
  figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.4 * rows), dpi=DPI, squeeze=False)
  for axis, (name, splits) in zip(axes.flat, sorted(series.items())):
    for split, points in splits.items():
      steps, values = zip(*points)
      axis.plot(steps, values, marker='o' if len(points) < 20 else None, markersize=3, label=split)
    axis.set_title(name, fontsize=9)
    axis.set_xlabel('step', fontsize=8)
    axis.legend(fontsize=7)
  for axis in axes.flat[len(series):]:
    axis.axis('off')
  figure.tight_layout()
  figure.savefig(path, dpi=DPI)
  plt.close(figure)


def _eval_rows(task, count: int) -> dict[str, np.ndarray]:
  """The first `count` preprocessed examples of the eval split, every field."""
  rows = collections.defaultdict(list)
  for batch in task.eval_batches(0, 1):
    for name, values in batch.items():
      rows[name].extend(values[batch['mask'] > 0])
    if len(rows['image']) >= count:
      break
  return {name: np.stack(values[:count]) for name, values in rows.items()}


def _eval_images(task, count: int) -> np.ndarray:
  """The first `count` preprocessed images of the eval split."""
  return _eval_rows(task, count)['image']


def classification_figures(config, task, model, variables, out: str, index: int) -> list[str]:
  image = _eval_images(task, index + 1)[index]  # uint8, as the task's batches carry it
  shown = image / 255.0
  inputs = task.model_inputs({'image': image[None]})
  save_grid(filter_tiles(first_conv_kernel(variables['params'])), os.path.join(out, 'filters.png'))
  _, state = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=['intermediates']))(variables, inputs)
  stages = {name: values[0] for name, values in state['intermediates'].items()}
  save_grid(feature_map_tiles(shown, stages), os.path.join(out, 'feature_maps.png'))
  predicted, heat = saliency(model, variables, inputs[0])
  info = getattr(task.source, 'info', None)  # class names where the dataset has them
  names = getattr(info.features[config.data.label_key], 'names', None) if info else None
  predicted = names[int(predicted)] if names else int(predicted)
  heat = rescale(np.asarray(heat))
  overlay = 0.5 * shown.mean(-1, keepdims=True) + 0.5 * np.stack([heat, 0 * heat, 0 * heat], -1)
  save_grid([[(shown, 'input'), (heat, f'saliency: {predicted}'), (overlay, 'overlay')]],
            os.path.join(out, 'saliency.png'), cmap='inferno')
  return ['filters.png', 'feature_maps.png', 'saliency.png']


def reconstruction_figures(config, task, model, variables, out: str, count: int = 8) -> list[str]:
  images = _eval_images(task, count)
  reconstructions = jax.jit(lambda v, x: model.apply(v, x, train=False)[0])(variables, images)
  pair_grid({'test': (images, reconstructions)}, os.path.join(out, 'reconstructions.png'),
            ('input', 'reconstruction'))
  if not config.model.get('variational'):
    return ['reconstructions.png']
  prior = jax.random.normal(jax.random.key(config.seed), (2 * count, config.model.latent_dim))
  samples = np.asarray(jax.jit(lambda v, z: model.apply(v, z, method=model.decode))(variables, prior))
  save_grid([[(s, 'sample') for s in samples[:count]], [(s, 'sample') for s in samples[count:]]],
            os.path.join(out, 'samples.png'))
  return ['reconstructions.png', 'samples.png']


def swap_figures(config, task, model, variables, out: str, count: int = 8) -> list[str]:
  images, domains = [], []
  for batch in task.eval_batches(0, 1):
    real = batch['mask'] > 0
    images.extend(batch['image'][real])
    domains.extend(batch['domain'][real])
  images, domains = np.stack(images), np.array(domains)
  swap = jax.jit(lambda v, x, domain: model.apply(v, x, domain, method=model.swap), static_argnums=2)
  pairs = {}
  for a, value_a in enumerate(config.swap.domains):
    for b, value_b in enumerate(config.swap.domains):
      if a != b:
        chosen = images[domains == a][:count]
        pairs[f'{value_a}->{value_b}'] = (chosen, swap(variables, chosen, b))
  pair_grid(pairs, os.path.join(out, 'swaps.png'), ('A', 'A->B'))
  return ['swaps.png']


def segmentation_figures(config, task, model, variables, out: str, count: int = 8) -> list[str]:
  """segmentation.png: a column per eval image: the image, the true mask and the predicted one laid over it."""
  del config, model
  rows = _eval_rows(task, count)
  predicted = task.predict(variables, rows['image'])['classes']
  overlay = lambda image, classes: drawing.overlay_mask(image, classes, task.class_names) / 255.0
  save_grid([[(image / 255.0, 'image') for image in rows['image']],
             [(overlay(image, truth), 'truth') for image, truth in zip(rows['image'], rows['segmentation'])],
             [(overlay(image, guess), 'predicted') for image, guess in zip(rows['image'], predicted)]],
            os.path.join(out, 'segmentation.png'))
  return ['segmentation.png']


def detection_figures(config, task, model, variables, out: str, count: int = 8,
                      threshold: float = 0.3) -> list[str]:
  """detection.png: a column per eval image: its true boxes, and the predicted ones scoring at least `threshold`."""
  del config, model
  rows = _eval_rows(task, count)
  found = task.predict(variables, rows['image'])
  truths, guesses = [], []
  for i, image in enumerate(rows['image']):
    valid, keep = rows['valid'][i], found['scores'][i] >= threshold
    truth = drawing.draw_boxes(image, rows['boxes'][i][valid], rows['labels'][i][valid], task.class_names, labels=False)
    guess = drawing.draw_boxes(image, found['boxes'][i][keep], found['classes'][i][keep], task.class_names,
                               found['scores'][i][keep], labels=False)
    truths.append((truth / 255.0, 'truth'))
    guesses.append((guess / 255.0, 'predicted'))
  save_grid([truths, guesses], os.path.join(out, 'detection.png'))
  return ['detection.png']


FIGURES = {'classification': classification_figures, 'reconstruction': reconstruction_figures,
           'swap': swap_figures, 'segmentation': segmentation_figures, 'detection': detection_figures}


def visualize(workdir: str, out: str, index: int = 0, checkpoint: str = 'latest') -> list[str]:
  """Writes the PNGs of the run's `checkpoint` ('latest' or 'best') into `out`; returns their file names."""
  config, task, model, variables = loop.restore(workdir, which=checkpoint)
  if config.task not in FIGURES:
    raise UserInputError(f'no figures for task {config.task!r}; there are for {sorted(FIGURES)}')
  os.makedirs(out, exist_ok=True)
  kwargs = {'index': index} if config.task == 'classification' else {}
  written = FIGURES[config.task](config, task, model, variables, out, **kwargs)
  curves(os.path.join(workdir, 'metrics.jsonl'), os.path.join(out, 'curves.png'))
  return written + ['curves.png']


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m train.visualize', description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True, help='the run to look at')
  parser.add_argument('--out', help='where the PNGs go (default WORKDIR/figures)')
  parser.add_argument('--index', type=int, default=0, help='which eval image the feature maps and saliency use')
  loop.add_checkpoint_flag(parser)
  args = parser.parse_args(argv)
  try:
    written = visualize(args.workdir, args.out or os.path.join(args.workdir, 'figures'), args.index, args.checkpoint)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print('wrote ' + ', '.join(written))


if __name__ == '__main__':
  main()
