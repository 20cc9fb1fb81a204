"""Skip-gram training pairs in large vectorised numpy batches, as word2vec draws them.

For each epoch and each chunk of the encoded corpus (whole sentences, about `chunk_words` words):
  1. frequent-word subsampling: a word of corpus frequency f survives with probability
     (sqrt(f / t) + 1) * t / f, t = sample (word2vec's and gensim's formula), so 'the' and 'of'
     are mostly dropped and windows reach further;
  2. dynamic window: each surviving centre word draws its window radius uniformly in 1..window,
     so near words are paired more often than far ones;
  3. every (centre, context) pair within the radius and inside the sentence, in corpus order;
  4. k negatives per pair from the unigram distribution raised to 0.75, via word2vec's lookup
     table (one integer draw and one gather per negative, no search).
Pairs are cut into fixed global batches. Every random draw is seeded by (seed, epoch, chunk) or
(seed, batch index), so the stream is a pure function of the seed and batch `s` is the same
whether a run starts at 0 or resumes at `s`.
"""

import itertools
from typing import Iterator

import numpy as np

from data.corpus import EncodedCorpus

NEGATIVE_POWER = 0.75


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
  """Per-word probability of surviving subsampling; 1 everywhere when sample <= 0."""
  if sample <= 0:
    return np.ones(len(counts))
  threshold = sample * counts.sum()
  return np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)


def negative_distribution(counts: np.ndarray, power: float = NEGATIVE_POWER) -> np.ndarray:
  weights = counts.astype(np.float64) ** power
  return weights / weights.sum()


def negative_table(counts: np.ndarray, size: int = 0, power: float = NEGATIVE_POWER) -> np.ndarray:
  """word2vec's table: word i fills a share of `size` slots proportional to counts[i] ** power.

  word2vec uses 1e8 slots; by default this uses 64 per word, at least 2^20: small enough that the
  random lookups stay in the CPU cache (a much larger table makes negative sampling much slower).
  """
  size = size or max(1 << 20, 64 * len(counts))
  bounds = np.round(np.cumsum(negative_distribution(counts, power)) * size).astype(np.int64)
  return np.repeat(np.arange(len(counts), dtype=np.int32), np.diff(bounds, prepend=0))


def subsample(ids: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Boolean mask of the word occurrences that survive frequent-word subsampling."""
  return rng.random(len(ids)) < keep_prob[ids]


def window_pairs(sentence: np.ndarray, window: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Positions (centre, context) of every pair within each centre's random radius, same sentence only.

  `sentence` [n] is the sentence id of each (already subsampled) word; pairs come out ordered by
  centre, and within a centre from left to right.
  """
  n = len(sentence)
  radius = rng.integers(1, window + 1, n)
  offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
  valid = np.zeros((n, len(offsets)), bool)  # valid[i, j]: word i + offsets[j] is a context of word i
  for column, offset in enumerate(offsets):
    distance = abs(offset)
    if distance >= n:
      continue
    # Shifted slices instead of gathers: word i and word i + distance, for every i at once.
    same_sentence = sentence[distance:] == sentence[:-distance]
    if offset > 0:
      valid[:-distance, column] = same_sentence & (radius[:-distance] >= distance)
    else:
      valid[distance:, column] = same_sentence & (radius[distance:] >= distance)
  centers, columns = np.nonzero(valid)
  return centers, centers + offsets[columns]


def sentence_chunks(corpus: EncodedCorpus, chunk_words: int) -> list[tuple[int, int]]:
  """[start, stop) ranges of about `chunk_words` words that never split a sentence."""
  targets = np.arange(chunk_words, len(corpus), chunk_words)
  # Move each cut back to the start of the sentence it falls in.
  cuts = np.unique(np.searchsorted(corpus.sentence, corpus.sentence[targets], side='left'))
  bounds = np.concatenate([[0], cuts[cuts > 0], [len(corpus)]])
  return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def epoch_pairs(corpus: EncodedCorpus, keep_prob: np.ndarray, window: int, seed: int, epoch: int,
                chunk_words: int = 1 << 18) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """(centre ids, context ids) of one pass over the corpus, one chunk at a time.

  Cutting a chunk takes numpy a while; the skip-gram task cuts its batches ahead in a thread
  (data/read_ahead.py), so training does not wait for them.
  """
  for chunk, (start, stop) in enumerate(sentence_chunks(corpus, chunk_words)):
    rng = np.random.default_rng([seed, epoch, chunk])
    ids = corpus.ids[start:stop]
    kept = subsample(ids, keep_prob, rng)
    ids = ids[kept]
    centers, contexts = window_pairs(corpus.sentence[start:stop][kept], window, rng)
    yield ids[centers], ids[contexts]


def pairs_per_epoch(corpus: EncodedCorpus, keep_prob: np.ndarray, window: int, seed: int) -> int:
  """How many pairs the first epoch yields; later epochs differ only by sampling noise."""
  return sum(len(c) for c, _ in epoch_pairs(corpus, keep_prob, window, seed, epoch=0))


def training_batches(corpus: EncodedCorpus, keep_prob: np.ndarray, table: np.ndarray, *, window: int,
                     negatives: int, batch_size: int, seed: int,
                     start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
  """Global batches {'center' [N], 'context' [N], 'negatives' [N, k]} int32, epoch after epoch, forever."""
  pending_centers, pending_contexts, pending = [], [], 0
  batch_index = 0
  for epoch in itertools.count():
    for centers, contexts in epoch_pairs(corpus, keep_prob, window, seed, epoch):
      pending_centers.append(centers)
      pending_contexts.append(contexts)
      pending += len(centers)
      if pending < batch_size:
        continue
      all_centers, all_contexts = np.concatenate(pending_centers), np.concatenate(pending_contexts)
      full = pending // batch_size * batch_size
      for begin in range(0, full, batch_size):
        if batch_index >= start_batch:  # batches before a resume point are cut but never sampled
          rng = np.random.default_rng([seed, 1 << 32, batch_index])
          yield {'center': all_centers[begin:begin + batch_size],
                 'context': all_contexts[begin:begin + batch_size],
                 'negatives': table[rng.integers(0, len(table), (batch_size, negatives))]}
        batch_index += 1
      pending_centers, pending_contexts = [all_centers[full:]], [all_contexts[full:]]
      pending = len(all_centers) - full
