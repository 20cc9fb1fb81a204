"""The two "deepfake" measurements on shapes, where the truth of every image is known.

1. `reconstruct`: an autoencoder trained on some shape classes (data.keep.label), fed shapes of
   the other classes, redraws them as the classes it knows. Measured with a shapes classifier:
   the fraction of reconstructions of unseen classes it labels as a trained class, next to the
   same fraction for the original images (near 0 for an accurate classifier).
2. `swap`: the face-swap autoencoder (configs/shapes_swap.py). Encode a shape of domain A,
   decode with B's decoder. The swap succeeds when the result is B's shape drawn with A's
   colour, position and size: we segment the object in the swapped image with A's own object
   and background colours, then compare it with the truth, B rendered at A's centre, radius and
   rotation (intersection over union), and its centroid, radius and colour with A's.

  python -m train.deepfake swap --workdir runs/shapes_swap --classifier runs/shapes_cnn --out runs/swap_report
  python -m train.deepfake reconstruct --workdir runs/ae_4_shapes --classifier runs/shapes_cnn \
    --out runs/fake_report

Each writes README.md (a table) and a PNG grid into --out. `--checkpoint best` loads every run
(--workdir and --classifier) from its best checkpoint (config.best_metric) instead of its latest.
"""

import argparse
import os
import sys

import jax
import numpy as np

from data.errors import UserInputError
from data.pipeline import numpy_iterator
from data.shapes import render
from train import loop, visualize

# A swap keeps A's geometry and colour when all of these hold (the shapes renderer's own jitter
# is 15/255 in colour; one pixel at 32x32 is 0.031 of the side).
CENTER_TOLERANCE = 0.05  # centroid distance, as a fraction of the image side
SCALE_TOLERANCE = 0.2  # relative error of the radius
COLOR_TOLERANCE = 40 / 255  # RGB distance of the mean object colours
IOU_THRESHOLD = 0.5  # overlap with the true B shape at A's geometry
SHAPES_FIELDS = ('mask', 'center', 'scale', 'rotation', 'label')


def batched(fn, images: np.ndarray, batch_size: int = 250) -> np.ndarray:
  return np.concatenate([np.asarray(fn(images[i:i + batch_size])) for i in range(0, len(images), batch_size)])


def classifier(workdir: str, checkpoint: str = 'latest'):
  """images in [0, 1] [N, H, W, C] -> predicted labels [N], from a classification run's `checkpoint`."""
  config, _, model, variables = loop.restore(workdir, which=checkpoint)
  if config.task != 'classification':
    raise UserInputError(f'{workdir} holds a {config.task!r} run; --classifier needs a classification run')
  mean, std = np.asarray(config.data.mean, np.float32), np.asarray(config.data.std, np.float32)
  logits = jax.jit(lambda x: model.apply(variables, (x - mean) / std, train=False))
  return lambda images: batched(lambda x: logits(x).argmax(-1), images)


def read_examples(source, split: str) -> dict[str, np.ndarray]:
  """Every example of a split as numpy arrays, images as float32 in [0, 1]."""
  ds = source.read(split).map(lambda ex: {k: v for k, v in ex.items() if k != 'caption'})
  columns = next(numpy_iterator(ds.batch(1_000_000)))
  columns['image'] = columns['image'].astype(np.float32) / 255.0
  return columns


def area_factor(shape: str, resolution: int = 256) -> float:
  """A shape's area over its circumscribed radius squared (pi for a circle, 2 for a square)."""
  coverage = render.shape_coverage(shape, resolution, np.array([0.5, 0.5]), 0.45, 0.0)
  return float(coverage.sum()) / (0.45 * resolution) ** 2


def object_colors(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean colour inside the masks and median colour outside them, [N, 3] each."""
  inside = masks.astype(bool)[..., 0]
  obj = np.stack([image[m].mean(0) for image, m in zip(images, inside)])
  background = np.stack([np.median(image[~m], axis=0) for image, m in zip(images, inside)])
  return obj, background


def segment(images: np.ndarray, obj: np.ndarray, background: np.ndarray) -> np.ndarray:
  """Pixels nearer the object colour than the background colour, bool [N, H, W]."""
  to_object = np.linalg.norm(images - obj[:, None, None], axis=-1)
  to_background = np.linalg.norm(images - background[:, None, None], axis=-1)
  return to_object < to_background


def centroids(masks: np.ndarray) -> np.ndarray:
  """(y, x) centre of mass of each mask [N, H, W] in [0, 1] image coordinates; NaN when empty."""
  _, height, width = masks.shape
  ys, xs = (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width
  area = masks.sum((1, 2))
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.stack([(masks.sum(2) * ys).sum(1) / area, (masks.sum(1) * xs).sum(1) / area], axis=-1)


def measure_swap(swapped: np.ndarray, source: dict[str, np.ndarray], to_shape: str) -> dict[str, float]:
  """How well `swapped` [N, H, W, 3] redraws the shapes examples `source` as `to_shape`."""
  side = swapped.shape[1]
  obj, background = object_colors(source['image'], source['mask'])
  masks = segment(swapped, obj, background)
  truth = np.stack([render.shape_coverage(to_shape, side, center, scale, rotation) >= 0.5
                    for center, scale, rotation in zip(source['center'], source['scale'], source['rotation'])])
  iou = (masks & truth).sum((1, 2)) / np.maximum((masks | truth).sum((1, 2)), 1)
  center_error = np.linalg.norm(centroids(masks) - centroids(source['mask'][..., 0].astype(bool)), axis=-1)
  radius = np.sqrt(masks.sum((1, 2)) / area_factor(to_shape)) / side
  scale_error = np.abs(radius - source['scale']) / source['scale']
  drawn = np.stack([image[m].mean(0) if m.any() else np.full(3, np.nan) for image, m in zip(swapped, masks)])
  color_error = np.linalg.norm(drawn - obj, axis=-1)
  # An empty segmentation has NaN errors, which fail every comparison: it counts as a failed swap.
  kept = (center_error < CENTER_TOLERANCE) & (scale_error < SCALE_TOLERANCE) & (color_error < COLOR_TOLERANCE)
  return {
      'iou': float(iou.mean()),
      'center_error': float(np.nanmedian(center_error)),
      'scale_error': float(np.nanmedian(scale_error)),
      'color_error': float(np.nanmedian(color_error)),
      'keeps_geometry_and_color': float(kept.mean()),
      'success': float((kept & (iou > IOU_THRESHOLD)).mean()),
  }


def swap_directions(model, variables, examples: dict[str, np.ndarray], domains, classify=None):
  """{'circle_to_square': (images, swapped images, measurements)} for every ordered pair of labels."""
  results = {}
  for a, label_a in enumerate(domains):
    for b, label_b in enumerate(domains):
      if a == b:
        continue
      chosen = examples['label'] == label_a
      source = {k: v[chosen] for k, v in examples.items()}
      swap = jax.jit(lambda x, b=b: model.apply(variables, x, b, method=model.swap))
      swapped = batched(swap, source['image'])
      metrics = measure_swap(swapped, source, render.SHAPES[label_b])
      if classify is not None:
        metrics['classified_as_target'] = float((classify(swapped) == label_b).mean())
        metrics['source_classified_as_target'] = float((classify(source['image']) == label_b).mean())
      results[f'{render.SHAPES[label_a]}_to_{render.SHAPES[label_b]}'] = (source['image'], swapped, metrics)
  return results


def _markdown_table(rows: dict[str, dict[str, float]]) -> str:
  columns = list(next(iter(rows.values())))
  lines = ['| | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
  lines += [f'| {name} | ' + ' | '.join(f'{row[c]:.3f}' for c in columns) + ' |' for name, row in rows.items()]
  return '\n'.join(lines) + '\n'


def swap_report(workdir: str, classifier_workdir: str | None, out: str, split: str = 'test',
                checkpoint: str = 'latest') -> dict:
  config, task, model, variables = loop.restore(workdir, which=checkpoint)
  if config.task != 'swap' or config.swap.domain_key != 'label':
    raise UserInputError(f'{workdir}: the swap measurement needs a swap run over shapes labels')
  examples = read_examples(task.source, split)
  classify = classifier(classifier_workdir, checkpoint) if classifier_workdir else None
  results = swap_directions(model, variables, examples, config.swap.domains, classify)
  os.makedirs(out, exist_ok=True)
  pairs = {name: (images[:8], swapped[:8]) for name, (images, swapped, _) in results.items()}
  visualize.pair_grid(pairs, os.path.join(out, 'swap.png'), ('A', 'A->B'))
  rows = {name: metrics for name, (_, _, metrics) in results.items()}
  with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(f'# Shape swap: {workdir}, {split} split\n\n' + _markdown_table(rows) +
            f'\nTolerances: centre {CENTER_TOLERANCE} of the side, radius {SCALE_TOLERANCE:.0%}, '
            f'colour {COLOR_TOLERANCE * 255:.0f}/255, IoU > {IOU_THRESHOLD}.\n\n![swaps](swap.png)\n')
  return rows


def reconstruct_report(workdir: str, classifier_workdir: str, out: str, split: str = 'test',
                       checkpoint: str = 'latest') -> dict:
  config, task, model, variables = loop.restore(workdir, which=checkpoint)
  trained = tuple(config.data.get('keep', {}).get('label', ()))
  if config.task != 'reconstruction' or not trained:
    raise UserInputError(f'{workdir}: needs a reconstruction run trained on some classes '
                         "(--config.data.keep.label='(0, 1, 2, 3)')")
  source = task.source.source  # the unfiltered dataset: the classes the autoencoder never saw too
  examples = read_examples(source, split)
  classify = classifier(classifier_workdir, checkpoint)
  reconstruct = jax.jit(lambda x: model.apply(variables, x, train=False)[0])
  rows, pairs = {}, {}
  for label in sorted(set(range(len(render.SHAPES))) - set(trained)):
    images = examples['image'][examples['label'] == label]
    reconstructions = batched(reconstruct, images)
    as_trained = lambda x: float(np.isin(classify(x), trained).mean())
    rows[render.SHAPES[label]] = {'originals_as_trained': as_trained(images),
                                  'reconstructions_as_trained': as_trained(reconstructions)}
    pairs[render.SHAPES[label]] = (images[:8], reconstructions[:8])
  os.makedirs(out, exist_ok=True)
  visualize.pair_grid(pairs, os.path.join(out, 'reconstructions.png'), ('unseen', 'reconstruction'))
  names = ', '.join(render.SHAPES[label] for label in trained)
  with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(f'# Autoencoder trained on {names}, shown the other shapes ({workdir}, {split} split)\n\n'
            'Fraction the classifier labels as one of the trained shapes:\n\n' + _markdown_table(rows) +
            '\n![reconstructions](reconstructions.png)\n')
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m train.deepfake', description=__doc__.splitlines()[0])
  parser.add_argument('measurement', choices=('swap', 'reconstruct'))
  parser.add_argument('--workdir', required=True, help='the autoencoder run')
  parser.add_argument('--classifier', help='a shapes classification run (required by reconstruct)')
  parser.add_argument('--out', required=True, help='where README.md and the PNG go')
  parser.add_argument('--split', default='test', help='the split to measure on')
  loop.add_checkpoint_flag(parser)
  args = parser.parse_args(argv)
  try:
    if args.measurement == 'swap':
      rows = swap_report(args.workdir, args.classifier, args.out, args.split, args.checkpoint)
    elif not args.classifier:
      raise UserInputError('reconstruct needs --classifier, a shapes classification run')
    else:
      rows = reconstruct_report(args.workdir, args.classifier, args.out, args.split, args.checkpoint)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(_markdown_table(rows))


if __name__ == '__main__':
  main()
