"""Look at trained word vectors: nearest neighbours, distances, and a 2-D picture.

  python -m train.neighbors --workdir runs/sg king queen man woman --plot runs/sg/words.png

For each word: its nearest neighbours by cosine similarity. Then, for the given words, the
Euclidean distances between their (unit-length) dense vectors next to the distances between
their one-hot vectors: the dense ones are small for similar words and large for unrelated ones,
while every two one-hot vectors are the same sqrt(2) apart, whatever the words mean. `--plot`
draws the words and their neighbours on the first two principal components (PCA) to a PNG.
Reads <workdir>/vectors.txt (the run's last step), any word2vec text file given with --vectors,
or with `--checkpoint best` the vectors of the run's best checkpoint (config.best_metric).
"""

import argparse
import os
import sys

import numpy as np

from data import word_vectors
from data.errors import UserInputError
from train import word_eval


def pairwise_distances(vectors: np.ndarray) -> np.ndarray:
  return np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=-1)


def dense_and_one_hot_distances(words, vectors: np.ndarray, chosen) -> tuple[np.ndarray, np.ndarray]:
  """Euclidean distance matrices among `chosen` words: unit-length dense vectors, and one-hot vectors."""
  index = {w: i for i, w in enumerate(words)}
  rows = [index[w] for w in chosen]
  one_hot = np.eye(len(words), dtype=np.float32)[rows]
  return pairwise_distances(word_eval.unit_rows(vectors[rows])), pairwise_distances(one_hot)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
  centered = vectors - vectors.mean(axis=0)
  _, _, components = np.linalg.svd(centered, full_matrices=False)
  return centered @ components[:2].T


def plot_words(path: str, labels, points: np.ndarray, highlighted) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel  (only when a plot is asked for)
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  figure, axes = plt.subplots(figsize=(8, 8))
  for label, (x, y) in zip(labels, points):
    bold = label in highlighted
    axes.scatter(x, y, s=30 if bold else 10, c='tab:red' if bold else 'tab:blue')
    axes.annotate(label, (x, y), fontsize=10 if bold else 8, fontweight='bold' if bold else 'normal',
                  xytext=(3, 3), textcoords='offset points')
  axes.set_title('word vectors, first two principal components')
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(path, dpi=100)
  plt.close(figure)


def _table(names, matrix) -> str:
  width = max(len(n) for n in names) + 2
  lines = [' ' * width + ''.join(f'{n[:width - 1]:>{width}}' for n in names)]
  lines += [f'{name:<{width}}' + ''.join(f'{v:>{width}.3f}' for v in row) for name, row in zip(names, matrix)]
  return '\n'.join(lines)


def report(words, vectors, queries, k: int, plot: str = '') -> str:
  index = word_eval.lowercase_index(words)
  missing = [q for q in queries if q.lower() not in index]
  if missing:
    raise UserInputError(f'not in the vocabulary ({len(words)} words): {" ".join(missing)}')
  chosen = [words[index[q.lower()]] for q in queries]
  out, shown = [], list(chosen)
  for word in chosen:
    neighbors = word_eval.nearest_neighbors(words, vectors, word, k)
    out.append(f'{word}: ' + ', '.join(f'{w} {s:.3f}' for w, s in neighbors))
    shown += [w for w, _ in neighbors if w not in shown]
  if len(chosen) > 1:
    dense, one_hot = dense_and_one_hot_distances(words, vectors, chosen)
    out += ['', 'Euclidean distance, dense unit vectors:', _table(chosen, dense),
            '', 'Euclidean distance, one-hot vectors:', _table(chosen, one_hot)]
  if plot:
    rows = [words.index(w) for w in shown]
    plot_words(plot, shown, pca_2d(vectors[rows]), set(chosen))
    out.append(f'\nplot of {len(shown)} words written to {plot}')
  return '\n'.join(out)


def run_vectors(workdir: str, checkpoint: str) -> tuple[list[str], np.ndarray]:
  """(words, vectors) of a skip-gram run: the vectors.txt it wrote at its last step, or its best checkpoint's."""
  if checkpoint == 'latest':
    return word_vectors.load(os.path.join(workdir, 'vectors.txt'))
  from train import loop  # pylint: disable=import-outside-toplevel  (JAX only to read a checkpoint)
  config, task, _, variables = loop.restore(workdir, which=checkpoint)
  if not hasattr(task, 'embeddings'):
    raise UserInputError(f'{workdir} holds a {config.task!r} run, which has no word vectors')
  return list(task.vocab.words), task.embeddings(variables)


def main(argv=None):
  parser = argparse.ArgumentParser(description='Nearest neighbours and a PCA plot of trained word vectors.')
  parser.add_argument('words', nargs='+', help='words to look up')
  parser.add_argument('--workdir', help='a training run; reads <workdir>/vectors.txt')
  parser.add_argument('--vectors', help='a word2vec text file (instead of --workdir)')
  parser.add_argument('--k', type=int, default=10, help='neighbours per word')
  parser.add_argument('--plot', default='', help='PNG path for the 2-D projection')
  parser.add_argument('--checkpoint', choices=('latest', 'best'), default='latest',
                      help="with --workdir: the run's vectors.txt, or the vectors of its best checkpoint")
  args = parser.parse_args(argv)
  try:
    if not args.vectors and not args.workdir:
      raise UserInputError('give --workdir (a training run) or --vectors (a word2vec text file)')
    if args.vectors and args.checkpoint == 'best':
      raise UserInputError('--checkpoint best reads a run: give --workdir instead of --vectors')
    words, vectors = (word_vectors.load(args.vectors) if args.vectors
                      else run_vectors(args.workdir, args.checkpoint))
    print(report(words, vectors, args.words, args.k, args.plot))
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  main()
