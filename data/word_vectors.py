"""Word vectors in the word2vec text format, which gensim, fastText and most NLP tools read and write.

The format: a header line '<number of words> <dimension>', then one line per word, the word
followed by its `dimension` numbers, separated by single spaces:

  3 4
  the 0.1 -0.2 0.03 0.5
  ...

`save` writes float32 values exactly (9 significant digits); `load` checks every line, so a
truncated or mixed-up file fails with the line that is wrong instead of a shape error later.
`vectors_for_vocabulary` is what an embedding layer's initialiser needs: one row per word of
another vocabulary, pretrained where the file has the word and random elsewhere.
"""

import os

import numpy as np

from data.errors import UserInputError


def save(path: str, words, vectors: np.ndarray) -> None:
  vectors = np.asarray(vectors, np.float32)
  if vectors.ndim != 2 or len(words) != len(vectors):
    raise ValueError(f'{len(words)} words need a [{len(words)}, dim] matrix, got {vectors.shape}')
  for word in words:
    if not word or any(c.isspace() for c in word):
      raise ValueError(f'word {word!r} cannot be stored in the word2vec text format (empty or has spaces)')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(f'{len(words)} {vectors.shape[1]}\n')
    for word, row in zip(words, vectors):
      f.write(word + ' ' + ' '.join(f'{x:.9g}' for x in row.tolist()) + '\n')


def load(path: str, limit: int = 0) -> tuple[list[str], np.ndarray]:
  """(words, float32 [num_words, dim]) of a word2vec text file; `limit` > 0 keeps only the first words."""
  if not os.path.isfile(path):
    raise UserInputError(f'word vector file {path} does not exist')
  with open(path, encoding='utf-8', errors='replace') as f:
    header = f.readline().split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
      raise UserInputError(f'{path} is not in the word2vec text format: the first line must be '
                           f"'<number of words> <dimension>', got {' '.join(header)[:80]!r}")
    count, dim = int(header[0]), int(header[1])
    count = min(count, limit) if limit > 0 else count
    words, vectors = [], np.empty((count, dim), np.float32)
    for i in range(count):
      fields = f.readline().rstrip().split(' ')  # .vec files may end lines with a space
      if len(fields) != dim + 1:
        raise UserInputError(f'{path} line {i + 2}: expected a word and {dim} numbers, got {len(fields) - 1} '
                             'fields' + (' (the file ends early)' if fields == [''] else ''))
      try:
        vectors[i] = np.array(fields[1:], np.float32)
      except ValueError as e:
        raise UserInputError(f'{path} line {i + 2}: {e}') from e
      words.append(fields[0])
  return words, vectors


def vectors_for_vocabulary(vocabulary, path: str, rng: np.random.Generator,
                           scale: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
  """(matrix [len(vocabulary), dim], found [len(vocabulary)] bool) for an embedding initialiser.

  Row i is the file's vector for vocabulary[i] when the file has it (looked up as is, then
  lower-cased), else drawn from N(0, scale^2), where scale defaults to the pretrained vectors'
  own standard deviation so new rows look like the rest.
  """
  words, vectors = load(path)
  index = {w: i for i, w in enumerate(words)}
  rows = [index.get(w, index.get(w.lower(), -1)) for w in vocabulary]
  found = np.array([r >= 0 for r in rows], bool)
  matrix = rng.normal(0.0, scale or float(vectors.std()), (len(vocabulary), vectors.shape[1]))
  matrix = matrix.astype(np.float32)
  matrix[found] = vectors[[r for r in rows if r >= 0]]
  return matrix, found
