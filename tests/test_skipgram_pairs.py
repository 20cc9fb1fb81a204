"""Skip-gram pair generation: window sizes, subsampling rate, negative distribution, resumable stream."""

import numpy as np
import pytest

from data.corpus import EncodedCorpus, Vocabulary, build, encode, pairs, planted, tokenize
from data.errors import UserInputError


def _zipf_corpus(num_words=200_000, vocab=500, sentence_length=20, seed=0):
  rng = np.random.default_rng(seed)
  probs = 1 / np.arange(1, vocab + 1)
  ids = rng.choice(vocab, num_words, p=probs / probs.sum()).astype(np.int32)
  sentence = (np.arange(num_words) // sentence_length).astype(np.int32)
  return EncodedCorpus(ids, sentence), np.bincount(ids, minlength=vocab)


def test_dynamic_window_pairs_distance_distribution():
  window, n = 5, 200_000
  centers, contexts = pairs.window_pairs(np.zeros(n, np.int32), window, np.random.default_rng(0))
  distance = np.abs(contexts - centers)
  assert distance.min() == 1 and distance.max() == window
  # A radius uniform in 1..window pairs distance d with probability (window - d + 1) / window.
  expected = (window - np.arange(1, window + 1) + 1) / window
  observed = np.bincount(distance, minlength=window + 1)[1:] / (2 * n)  # 2 sides per centre
  np.testing.assert_allclose(observed, expected, atol=0.005)
  # Each side of each centre has, on average, (window + 1) / 2 contexts.
  assert len(centers) / n == pytest.approx(window + 1, rel=0.01)


def test_window_pairs_stay_inside_sentences():
  sentence = np.repeat(np.arange(100), np.random.default_rng(1).integers(1, 9, 100)).astype(np.int32)
  centers, contexts = pairs.window_pairs(sentence, 5, np.random.default_rng(0))
  assert len(centers) > 0
  np.testing.assert_array_equal(sentence[centers], sentence[contexts])
  assert np.all(centers != contexts)


def test_subsampling_keeps_words_at_the_word2vec_rate():
  corpus, counts = _zipf_corpus()
  sample = 1e-3
  keep_prob = pairs.keep_probabilities(counts, sample)
  # The formula with t = sample * total = 100 here: a word with count 4t is kept with probability
  # (sqrt(4) + 1) * t / 4t = 3/4, and a word rarer than t always.
  np.testing.assert_allclose(pairs.keep_probabilities(np.array([400, 50, 550]), 0.1)[:2], [0.75, 1.0])
  # (Not seed 0: _zipf_corpus drew the words from the same uniforms, which would correlate them.)
  kept = pairs.subsample(corpus.ids, keep_prob, np.random.default_rng(1))
  observed = np.bincount(corpus.ids[kept], minlength=len(counts)) / np.maximum(counts, 1)
  frequent = counts >= 2000  # enough occurrences for the empirical rate to be within +-0.03
  assert frequent.sum() >= 5 and keep_prob[frequent].max() < 0.8
  np.testing.assert_allclose(observed[frequent], keep_prob[frequent], atol=0.03)
  assert np.all(pairs.keep_probabilities(counts, 0) == 1)


def test_negatives_follow_unigram_to_the_three_quarters():
  counts = np.array([1000, 300, 100, 10, 1, 1])
  table = pairs.negative_table(counts, size=1_000_000)
  draws = table[np.random.default_rng(0).integers(0, len(table), 500_000)]
  observed = np.bincount(draws, minlength=len(counts)) / len(draws)
  expected = counts ** 0.75 / np.sum(counts ** 0.75)
  np.testing.assert_allclose(observed, expected, atol=0.003)
  # Flatter than the unigram distribution: rare words are drawn more often than their share.
  assert observed[3] > counts[3] / counts.sum()


def test_chunks_never_split_a_sentence():
  corpus, _ = _zipf_corpus(num_words=10_000, sentence_length=7)
  chunks = pairs.sentence_chunks(corpus, 1000)
  assert chunks[0][0] == 0 and chunks[-1][1] == len(corpus) and len(chunks) > 5
  for (_, stop), (start, _) in zip(chunks[:-1], chunks[1:]):
    assert stop == start and corpus.sentence[start - 1] != corpus.sentence[start]


def test_training_batches_are_fixed_size_and_resume_identically():
  corpus, counts = _zipf_corpus(num_words=20_000)
  keep_prob, table = pairs.keep_probabilities(counts, 1e-3), pairs.negative_table(counts, 10_000)

  def stream(start):
    return pairs.training_batches(corpus, keep_prob, table, window=3, negatives=4, batch_size=4096,
                                  seed=7, start_batch=start)

  from_start = stream(0)
  batches = [next(from_start) for _ in range(30)]  # more than one epoch
  assert sum(len(b['center']) for b in batches) > 2 * pairs.pairs_per_epoch(corpus, keep_prob, 3, seed=7)
  for batch in batches:
    assert batch['center'].shape == batch['context'].shape == (4096,)
    assert batch['negatives'].shape == (4096, 4)
  resumed = next(stream(17))
  for key in batches[17]:
    np.testing.assert_array_equal(resumed[key], batches[17][key])
  assert not np.array_equal(batches[17]['negatives'], batches[18]['negatives'])


def test_vocabulary_and_encoding():
  sentences = [tokenize("The cat, the dog and THE bird don't."), tokenize('the dog'), tokenize('cat')]
  vocab, corpus = build(sentences, min_count=2)
  assert vocab.words == ('the', 'cat', 'dog') and list(vocab.counts) == [4, 2, 2]  # ties alphabetical
  np.testing.assert_array_equal(corpus.ids, [0, 1, 0, 2, 0, 0, 2, 1])  # rare words dropped
  np.testing.assert_array_equal(corpus.sentence, [0, 0, 0, 0, 0, 1, 1, 2])
  held_out = encode([tokenize('a dog and the cat')], vocab)
  np.testing.assert_array_equal(held_out.ids, [2, 0, 1])
  assert build(sentences, min_count=1, max_size=2)[0].words == ('the', 'cat')
  assert Vocabulary.build(sentences, min_count=2).words == vocab.words
  assert "don't" in tokenize("Don't")
  with pytest.raises(UserInputError, match='min_count=9'):
    build(sentences, min_count=9)


def test_planted_corpus_uses_every_class_word_in_its_own_topic_only():
  classes = planted.lexicon(num_topics=3, synonyms=4)
  topic_of = {w: name.split('/')[0] for name, words in classes.items() for w in words}
  seen = set()
  for sentence in planted.sentences(500, seed=0, num_topics=3, synonyms=4):
    topics = {topic_of[w] for w in sentence if w in topic_of}
    assert len(topics) == 1
    seen.update(w for w in sentence if w in topic_of)
  assert seen == set(topic_of)
  assert len(topic_of) == 3 * len(planted.ROLES) * 4  # all made-up words are distinct
