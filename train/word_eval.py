"""Intrinsic evaluations of word vectors: similarity correlation, analogies, nearest neighbours.

  - Word similarity, on any file of (word, word, human score) lines (WordSim353, SimLex-999,
    MEN...; tab- or space-separated, '#' comments): Spearman's rank correlation between the
    cosine similarities and the human scores over the pairs whose words are both known, and the
    out-of-vocabulary ratio of the pairs that could not be scored.
  - Analogies, on files in the questions-words.txt layout (': section' lines, then 'a b c d'
    meaning a is to b as c is to d): 3CosAdd, i.e. the answer is the word whose unit vector is
    closest to b - a + c (a, b and c excluded), searched among the `restrict_vocab` most frequent
    words; questions with a word outside those are skipped and counted.
Words are compared lower-cased (the files capitalise names; the corpora are folded), and the
vocabulary is assumed ordered by frequency, as word2vec files are.

  python -m train.word_eval --vectors runs/sg/vectors.txt \
      --similarity wordsim353.tsv --analogies questions-words.txt
"""

import argparse
import collections
import json
import sys

import numpy as np

from data import word_vectors
from data.errors import UserInputError


def unit_rows(vectors: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return vectors / np.maximum(norms, 1e-12)


def lowercase_index(words) -> dict[str, int]:
  """Lower-cased word -> its most frequent row (the first one, in a frequency-ordered vocabulary)."""
  index = {}
  for i, word in enumerate(words):
    index.setdefault(word.lower(), i)
  return index


def read_similarity_file(path: str) -> list[tuple[str, str, float]]:
  triples = []
  try:
    with open(path, encoding='utf-8') as f:
      for number, line in enumerate(f, 1):
        if not line.strip() or line.startswith('#'):
          continue
        fields = line.split()
        try:
          triples.append((fields[0], fields[1], float(fields[2])))
        except (IndexError, ValueError) as e:
          raise UserInputError(
              f'{path} line {number}: expected "word word score", got {line.strip()[:80]!r}') from e
  except OSError as e:
    raise UserInputError(f'cannot read the similarity file: {e}') from e
  if not triples:
    raise UserInputError(f'{path} has no "word word score" line')
  return triples


def evaluate_similarity(words, vectors: np.ndarray, triples) -> dict[str, float]:
  """{'spearman', 'oov_ratio', 'pairs'}: rank correlation of cosine vs human scores on known pairs."""
  index = lowercase_index(words)
  known = [(index[a.lower()], index[b.lower()], score) for a, b, score in triples
           if a.lower() in index and b.lower() in index]
  result = {'oov_ratio': 1 - len(known) / len(triples), 'pairs': float(len(known))}
  if len(known) < 2:
    return dict(result, spearman=float('nan'))
  first, second, human = (np.array(column) for column in zip(*known))
  unit = unit_rows(vectors)
  cosine = np.sum(unit[first] * unit[second], axis=1)
  import scipy.stats  # pylint: disable=import-outside-toplevel  (a 2-3 s import; only when scoring)
  return dict(result, spearman=float(scipy.stats.spearmanr(cosine, human).statistic))


def read_analogy_file(path: str) -> list[tuple[str, tuple[str, str, str, str]]]:
  """(section, (a, b, c, d)) for every question line."""
  questions, section = [], ''
  try:
    with open(path, encoding='utf-8') as f:
      for number, line in enumerate(f, 1):
        if line.startswith(':'):
          section = line[1:].strip()
        elif line.strip():
          fields = line.split()
          if len(fields) != 4:
            raise UserInputError(
                f'{path} line {number}: expected 4 words "a b c d", got {line.strip()[:80]!r}')
          questions.append((section, tuple(fields)))
  except OSError as e:
    raise UserInputError(f'cannot read the analogy file: {e}') from e
  if not questions:
    raise UserInputError(f'{path} has no "a b c d" question line')
  return questions


def evaluate_analogies(words, vectors: np.ndarray, questions, restrict_vocab: int = 30_000,
                       batch_size: int = 1024) -> dict[str, float]:
  """{'accuracy', 'answered', 'skipped_ratio', 'accuracy/<section>'...} with 3CosAdd over the top words."""
  words, vectors = list(words)[:restrict_vocab], vectors[:restrict_vocab]
  index = lowercase_index(words)
  unit = unit_rows(vectors)
  sections, rows = [], []
  for section, question in questions:
    if all(w.lower() in index for w in question):
      sections.append(section)
      rows.append([index[w.lower()] for w in question])
  result = {'answered': float(len(rows)), 'skipped_ratio': 1 - len(rows) / len(questions)}
  if not rows:
    return dict(result, accuracy=float('nan'))
  rows = np.array(rows)
  correct = np.zeros(len(rows), bool)
  for start in range(0, len(rows), batch_size):
    a, b, c, d = rows[start:start + batch_size].T
    scores = (unit[b] - unit[a] + unit[c]) @ unit.T
    for excluded in (a, b, c):  # the question's own words would often win otherwise
      scores[np.arange(len(a)), excluded] = -np.inf
    correct[start:start + len(a)] = np.argmax(scores, axis=1) == d
  result['accuracy'] = float(correct.mean())
  by_section = collections.defaultdict(list)
  for section, right in zip(sections, correct):
    by_section[section].append(right)
  result.update({f'accuracy/{s}': float(np.mean(v)) for s, v in by_section.items()})
  return result


def nearest_neighbors(words, vectors: np.ndarray, query: str, k: int = 10) -> list[tuple[str, float]]:
  """The k words of highest cosine similarity to `query` (itself excluded)."""
  index = {w: i for i, w in enumerate(words)}
  row = index.get(query, lowercase_index(words).get(query.lower()))
  if row is None:
    raise UserInputError(f'{query!r} is not in the vocabulary ({len(words)} words)')
  unit = unit_rows(vectors)
  cosine = unit @ unit[row]
  cosine[row] = -np.inf
  best = np.argsort(-cosine)[:k]
  return [(words[i], float(cosine[i])) for i in best]


def class_neighbor_precision(words, vectors: np.ndarray, classes: dict[str, tuple[str, ...]]) -> float:
  """Mean share of a class word's (class size - 1) nearest neighbours that belong to its class.

  1.0 when every class is a tight cluster; about (class size - 1) / vocabulary size by chance.
  """
  index = {w: i for i, w in enumerate(words)}
  unit = unit_rows(vectors)
  shares = []
  for members in classes.values():
    rows = [index[w] for w in members if w in index]
    for row in rows:
      cosine = unit @ unit[row]
      cosine[row] = -np.inf
      nearest = np.argsort(-cosine)[:len(members) - 1]
      shares.append(np.isin(nearest, rows).mean())
  if not shares:
    raise UserInputError('none of the class words is in the vocabulary')
  return float(np.mean(shares))


def main(argv=None):
  parser = argparse.ArgumentParser(description='Similarity and analogy scores of a word2vec text file.')
  parser.add_argument('--vectors', required=True, help='word vectors in the word2vec text format')
  parser.add_argument('--similarity', action='append', default=[],
                      help='(word, word, score) file; repeatable')
  parser.add_argument('--analogies', action='append', default=[],
                      help='questions-words.txt layout; repeatable')
  parser.add_argument('--restrict_vocab', type=int, default=30_000,
                      help='analogy answers among the top N words')
  args = parser.parse_args(argv)
  try:
    words, vectors = word_vectors.load(args.vectors)
    results = {}
    for path in args.similarity:
      results[path] = evaluate_similarity(words, vectors, read_similarity_file(path))
    for path in args.analogies:
      results[path] = evaluate_analogies(words, vectors, read_analogy_file(path), args.restrict_vocab)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(json.dumps(results, indent=2))


if __name__ == '__main__':
  main()
