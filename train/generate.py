"""Drawing images from captions with a trained text-to-image run (configs/shapes_text_to_image.py).

  python -m train.generate --workdir runs/shapes_t2i "a large green triangle in the bottom right" --num 8 --out grid.png

For each caption, --num candidates are drawn from the prior (--temperature scales its spread),
decoded, and reranked by CLIP's score; the PNG grid has a row per caption, best first, each image
titled with its CLIP score. From Python:

  task, variables = load('runs/shapes_t2i')
  images, scores = draw(task, variables, ['a small red circle on the left'], num=8)   # best first
"""

import argparse
import os
import sys

import jax
import numpy as np

from data.errors import UserInputError
from nets import text_to_image
from train import loop, visualize

MAX_CAPTIONS = 64
MAX_CANDIDATES = 64
MAX_CAPTION_CHARS = 300


def load(workdir: str, checkpoint: str = 'latest'):
  """(task, variables) of a text-to-image run."""
  task_name = loop.load_config(workdir).task
  if task_name != 'text_to_image':
    raise UserInputError(f'{workdir} is a {task_name!r} run; train.generate draws with a text_to_image run '
                         '(configs/shapes_text_to_image.py)')
  _, task, _, variables = loop.restore(workdir, which=checkpoint)
  return task, variables


def draw(task, variables, captions: list[str], num: int = 8, seed: int = 0,
         temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
  """(images [captions, num, H, W, 3] in [0, 1], CLIP scores [captions, num]), each caption's best first."""
  ids, lengths = task.encode_captions(captions)
  images, scores = text_to_image.rerank(*task.generator(num, temperature)(variables, ids, lengths, jax.random.key(seed)))
  return np.asarray(images), np.asarray(scores)


def save_grid(captions: list[str], images: np.ndarray, scores: np.ndarray, path: str) -> None:
  """A row per caption (the caption over its best image), each image titled with its CLIP score."""
  tiles = [[(image, f'{caption[:28]}: {score:.2f}' if i == 0 else f'{score:.2f}')
            for i, (image, score) in enumerate(zip(row_images, row_scores))]
           for caption, row_images, row_scores in zip(captions, images, scores)]
  visualize.save_grid(tiles, path)


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--workdir', required=True, help='a text_to_image run')
  parser.add_argument('captions', nargs='+', help='one or more captions')
  parser.add_argument('--num', type=int, default=8, help=f'candidates per caption (1-{MAX_CANDIDATES})')
  parser.add_argument('--out', default='generated.png', help='the PNG grid to write')
  parser.add_argument('--temperature', type=float, default=1.0, help="scales the prior's spread (0: its mean)")
  parser.add_argument('--seed', type=int, default=0)
  loop.add_checkpoint_flag(parser)
  args = parser.parse_args(argv)
  if not 1 <= args.num <= MAX_CANDIDATES:
    raise UserInputError(f'--num must be between 1 and {MAX_CANDIDATES}, got {args.num}')
  if len(args.captions) > MAX_CAPTIONS:
    raise UserInputError(f'at most {MAX_CAPTIONS} captions at once, got {len(args.captions)}')
  for caption in args.captions:
    if not caption.strip() or len(caption) > MAX_CAPTION_CHARS:
      raise UserInputError(f'a caption must have 1 to {MAX_CAPTION_CHARS} characters, got {caption[:40]!r}')
  if args.temperature < 0:
    raise UserInputError(f'--temperature must be 0 or more, got {args.temperature}')
  if not args.out.lower().endswith('.png'):
    raise UserInputError(f'--out must name a .png file, got {args.out}')
  return args


def main(argv=None):
  try:
    args = parse_args(argv)
    task, variables = load(args.workdir, args.checkpoint)
    images, scores = draw(task, variables, args.captions, args.num, args.seed, args.temperature)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_grid(args.captions, images, scores, args.out)
    print(f'wrote {args.out}: {len(args.captions)} caption(s) x {args.num} images, best first')
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  main()
