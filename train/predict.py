"""A trained image model on your own images: classes, masks or boxes.

  python -m train.predict --workdir runs/shapes_unet photo.png [more.jpg ...] --out predictions/

One entry point for every image task; the run's task decides what comes out:
  classification  the --top most likely classes of each image (printed);
  segmentation    OUT/<name>_mask.png, the predicted classes laid over the image, and each
                  class's share of the pixels (printed);
  detection       OUT/<name>_boxes.png, the image with the boxes scoring at least --threshold,
                  labelled with class and score (printed too).
OUT/predictions.json holds all of it for scripts. Images are resized to the run's image size for
the model; masks and boxes are drawn on the image as it was given.
"""

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from data.errors import UserInputError
from train import drawing, loop

TASKS = ('classification', 'segmentation', 'detection')
MAX_IMAGES = 64
MAX_PIXELS = 4096 * 4096  # a larger file is more likely a mistake (or a decompression bomb) than a photo
BOX_DRAWING_SIDE = 512  # boxes are drawn on the image enlarged to about this side, so labels stay readable


def read_image(file, name: str | None = None, formats: tuple[str, ...] | None = None) -> np.ndarray:
  """uint8 [H, W, 3] of an image file (a path, or a file object called `name`), or a UserInputError that
  names it; `formats` (PIL's names: 'PNG', 'JPEG', ...) limits which kinds are read."""
  name = name or file
  try:
    with Image.open(file, formats=formats) as image:
      if image.width * image.height > MAX_PIXELS:
        raise UserInputError(f'{name} has {image.width}x{image.height} pixels, more than {MAX_PIXELS:,}')
      return np.asarray(image.convert('RGB'))
  except FileNotFoundError as e:
    raise UserInputError(f'{name}: no such file') from e
  except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
    kinds = f'one of {", ".join(formats)}' if formats else e
    raise UserInputError(f'{name} is not an image PIL can read ({kinds})') from e


def model_images(task, images: list[np.ndarray]) -> np.ndarray:
  """The images resized to the run's input shape, uint8 [N, H, W, C], as the task's batches carry them."""
  if task.image_shape is None:
    raise UserInputError('the run was trained on images of mixed sizes; train.predict needs a fixed image size')
  height, width, channels = task.image_shape
  mode = 'L' if channels == 1 else 'RGB'
  resized = [np.asarray(Image.fromarray(image).convert(mode).resize((width, height), Image.BILINEAR))
             for image in images]
  return np.stack(resized).reshape((len(images), height, width, channels))


def image_predictions(task_name: str, task, variables, images: list[np.ndarray], top: int = 5,
                      threshold: float = 0.3) -> list[tuple[dict, np.ndarray | None]]:
  """For each image, (its prediction, the image with the prediction drawn on it: the mask laid over it, or its
  boxes; None for classes)."""
  outputs = task.predict(variables, model_images(task, images))
  names = task.class_names
  predictions = []
  for i, image in enumerate(images):
    if task_name == 'classification':
      probabilities = outputs['probabilities'][i]
      best = np.argsort(-probabilities)[:top]
      predictions.append(({'classes': [{'class': names[c], 'probability': float(probabilities[c])} for c in best]},
                          None))
    elif task_name == 'segmentation':
      classes = outputs['classes'][i]
      shares = np.bincount(classes.reshape(-1), minlength=len(names)) / classes.size
      predictions.append(({'pixel_share': {names[c]: float(s) for c, s in enumerate(shares) if s > 0}},
                          drawing.overlay_mask(image, classes, names)))
    else:
      keep = outputs['scores'][i] >= threshold
      boxes, scores, classes = outputs['boxes'][i][keep], outputs['scores'][i][keep], outputs['classes'][i][keep]
      objects = [{'class': names[c], 'score': float(s), 'box_yxyx': [round(float(v), 4) for v in b]}
                 for b, s, c in zip(boxes, scores, classes)]
      scale = max(1, BOX_DRAWING_SIDE // max(image.shape[:2]))
      predictions.append(({'objects': objects}, drawing.draw_boxes(image, boxes, classes, names, scores, scale)))
  return predictions


def predict(workdir: str, paths: list[str], out: str, top: int = 5, threshold: float = 0.3,
            checkpoint: str = 'latest') -> dict:
  """Predictions for each image file (written to `out` as PNGs and predictions.json); {file: prediction}."""
  config = loop.load_config(workdir)
  if config.task not in TASKS:
    raise UserInputError(f'{workdir} is a {config.task!r} run; train.predict takes runs of {", ".join(TASKS)}')
  images = [read_image(path) for path in paths]  # every file checked before the model loads
  _, task, _, variables = loop.restore(workdir, which=checkpoint)
  os.makedirs(out, exist_ok=True)
  results = {}
  for path, (result, drawn) in zip(paths, image_predictions(config.task, task, variables, images, top, threshold)):
    if drawn is not None:
      key, suffix = ('mask', 'mask') if config.task == 'segmentation' else ('boxes_image', 'boxes')
      file = f'{os.path.splitext(os.path.basename(path))[0]}_{suffix}.png'
      Image.fromarray(drawn).save(os.path.join(out, file))
      result = {key: file, **result}
    results[path] = result
  with open(os.path.join(out, 'predictions.json'), 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=1)
  return results


def describe(path: str, result: dict) -> str:
  if 'classes' in result:
    return f'{path}: ' + ', '.join(f"{c['class']} {c['probability']:.3f}" for c in result['classes'])
  if 'pixel_share' in result:
    return f'{path}: ' + ', '.join(f'{name} {share:.1%}' for name, share in result['pixel_share'].items())
  found = ', '.join(f"{o['class']} {o['score']:.2f}" for o in result['objects']) or 'nothing'
  return f'{path}: {len(result["objects"])} object(s): {found}'


def parse_args(argv):
  parser = argparse.ArgumentParser(prog='python -m train.predict', description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='a classification, segmentation or detection run')
  parser.add_argument('images', nargs='+', help='image files (PNG, JPEG, ...)')
  parser.add_argument('--out', default='predictions', help='folder for the PNGs and predictions.json')
  parser.add_argument('--top', type=int, default=5, help='classes shown per image (classification)')
  parser.add_argument('--threshold', type=float, default=0.3, help='lowest score of a box drawn (detection)')
  loop.add_checkpoint_flag(parser)
  args = parser.parse_args(argv)
  if len(args.images) > MAX_IMAGES:
    raise UserInputError(f'at most {MAX_IMAGES} images at once, got {len(args.images)}')
  if args.top < 1:
    raise UserInputError(f'--top must be at least 1, got {args.top}')
  if not 0.0 <= args.threshold <= 1.0:
    raise UserInputError(f'--threshold must be between 0 and 1, got {args.threshold}')
  return args


def main(argv=None):
  try:
    args = parse_args(argv)
    results = predict(args.workdir, args.images, args.out, args.top, args.threshold, args.checkpoint)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  for path, result in results.items():
    print(describe(path, result))
  print(f'wrote {os.path.join(args.out, "predictions.json")}')


if __name__ == '__main__':
  main()
