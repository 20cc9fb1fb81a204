"""Real handwritten digits as an image-class folder, for running the CLIP and text-to-image chain on real data.

  pip install -r bench/requirements.txt          # scikit-learn, which ships the data (no download)
  python bench/digits_folder.py runs/digits_folder

scikit-learn's `load_digits`: the 1,797 handwritten digits of the UCI "Optical Recognition of
Handwritten Digits" set (43 writers), 8x8 pixels of 17 grey levels, written white on black as PNGs
in the layout of `data.source=image_folder`: PATH/{train,test}/<class name>/NNNN.png, the class
named in words (zero ... nine) so that a caption template reads "a handwritten seven". A fixed,
stratified quarter of each class is the test split.
"""

import argparse
import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

NAMES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
TEST_SHARE = 0.25


def write(path: str, seed: int = 0) -> dict[str, int]:
  """Writes the folder; returns {split: number of images}."""
  digits = load_digits()
  rng = np.random.default_rng(seed)
  counts = {'train': 0, 'test': 0}
  for digit, name in enumerate(NAMES):
    indices = rng.permutation(np.flatnonzero(digits.target == digit))
    test_count = round(TEST_SHARE * len(indices))
    for split, part in (('test', indices[:test_count]), ('train', indices[test_count:])):
      folder = os.path.join(path, split, name)
      os.makedirs(folder, exist_ok=True)
      for index in part:
        pixels = np.round(digits.images[index] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels, mode='L').save(os.path.join(folder, f'{index:04d}.png'))
      counts[split] += len(part)
  return counts


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('path', help='the folder to write (train/ and test/ inside)')
  args = parser.parse_args()
  print(f'{args.path}: {write(args.path)}')


if __name__ == '__main__':
  main()
