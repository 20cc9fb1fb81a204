"""data/translation: the generated language pair (reproducible, 3-30 tokens, reordered, inflected) and its builder."""

import itertools
import os
import socket

import numpy as np
import pytest

from data.translation import generate

NUM_PAIRS = 3000


@pytest.fixture(scope='module')
def pairs():
  return [generate.pair(np.random.default_rng([0, 0, i])) for i in range(NUM_PAIRS)]


def tokens(pair):
  return pair['source'].split(), pair['target'].split()


def test_pairs_are_reproducible_and_seeds_differ(pairs):
  again = [generate.pair(np.random.default_rng([0, 0, i])) for i in range(100)]
  assert again == pairs[:100]
  other_seed = [generate.pair(np.random.default_rng([1, 0, i])) for i in range(100)]
  assert sum(a == b for a, b in zip(other_seed, pairs)) < 10  # only the shortest sentences may repeat


def test_lengths_range_from_3_to_30_tokens_on_both_sides(pairs):
  lengths = np.array([[len(side) for side in tokens(p)] for p in pairs])
  assert lengths.min() >= generate.MIN_LENGTH == 3 and lengths.max() <= generate.MAX_LENGTH == 30
  assert (lengths[:, 0] <= 5).any() and (lengths[:, 0] >= 25).any()  # the whole range is used
  assert np.mean(lengths[:, 0] != lengths[:, 1]) > 0.5  # dropped pronouns and articles change the length


def lemma_dictionaries():
  """Every inflected content word of each language -> its English base form, from the word lists."""
  source, target = {}, []
  for noun in generate.NOUNS:
    source.update({noun[0]: noun[0], noun[1]: noun[0]})
    target += [(generate.target_noun(noun, plural), noun[0]) for plural in (False, True)]
  for english, stem in generate.ADJECTIVES:
    source[english] = english
    target += [(generate.target_adjective(stem, *form), english) for form in generate.ADJECTIVE_ENDINGS]
  for base, third, past, stem in generate.VERBS:
    source.update({base: base, third: base, past: base})
    target += [(generate.target_verb(stem, tense, person), base)
               for tense in generate.TENSES for person in generate.PERSONS]
  source.update({p: p for p in generate.PREPOSITIONS})
  target += [(t, p) for p, t in generate.PREPOSITIONS.items()]
  assert len(dict(target)) == len(target)  # no two target words share a spelling
  return source, dict(target)


def test_word_by_word_translation_in_source_order_fails_on_most_sentences(pairs):
  source_lemmas, target_lemmas = lemma_dictionaries()
  monotone = []
  for pair in pairs:
    source, target = tokens(pair)
    source_order = [source_lemmas[w] for w in source if w in source_lemmas]
    target_order = [target_lemmas[w] for w in target if w in target_lemmas]
    assert sorted(source_order) == sorted(target_order), pair  # the same content words ...
    monotone.append(source_order == target_order)  # ... but in the same order only for few sentences
  assert np.mean(monotone) < 0.15


def test_verbs_agree_with_their_subject_and_adjectives_with_their_noun(pairs):
  # The docstring's paradigm, written out by hand.
  assert [generate.target_verb('vid', 'present', p) for p in generate.PERSONS] == [
      'vidam', 'vidas', 'vidat', 'vidamo', 'vidant']
  assert [generate.target_verb('vid', 'past', p) for p in generate.PERSONS][2] == 'vidit'
  persons = {english: person for english, person, _ in generate.PRONOUNS}
  checked = 0
  for pair in pairs:
    source, target = tokens(pair)
    conjunctions = {*generate.COORDINATORS, *generate.SUBORDINATORS}
    if source[0] in ('i', 'you', 'we') and not conjunctions & set(source):
      # The subject is dropped in the target; only the verb, last, says who acted.
      forms = {generate.target_verb(stem, tense, persons[source[0]])
               for *_, stem in generate.VERBS for tense in generate.TENSES}
      assert target[-2] in forms, pair
      checked += 1
  assert checked > 100

  # In the target an adjective and the article follow their noun and end by its gender and number.
  noun_forms = {generate.target_noun(noun, plural): (noun[3], plural)
                for noun in generate.NOUNS for plural in (False, True)}
  adjective_forms = {generate.target_adjective(stem, *form): form
                     for _, stem in generate.ADJECTIVES for form in generate.ADJECTIVE_ENDINGS}
  article_forms = {article: form for form, article in generate.DEFINITE_ARTICLES.items()}
  agreeing = 0
  for pair in pairs:
    noun = None
    for word in tokens(pair)[1]:
      if word in adjective_forms or word in article_forms:
        assert (adjective_forms | article_forms)[word] == noun, pair
        agreeing += 1
      noun = noun_forms.get(word, noun if word in adjective_forms else None)
  assert agreeing > NUM_PAIRS


def test_irregular_forms_appear_and_are_used_consistently(pairs):
  source_words = set(itertools.chain(*(tokens(p)[0] for p in pairs)))
  target_words = set(itertools.chain(*(tokens(p)[1] for p in pairs)))
  assert {'men', 'children', 'mice', 'geese', 'ate', 'went', 'an'} <= source_words
  assert set(generate.TARGET_IRREGULAR_PLURALS.values()) <= target_words
  assert {'omon', 'ninon', 'domon'}.isdisjoint(target_words)  # the regular rule would have given these
  assert {'va', 'fue', 'edit', 'presint'} <= target_words  # go, went, ate, took (3sg, 3pl)
  for pair in pairs:
    source, target = tokens(pair)
    if 'men' in source:
      assert 'omi' in target, pair


def test_the_builder_prepares_offline_and_identically(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds

  from data import sources
  from data.translation import builder  # noqa: F401  # registers the builder

  def no_network(*args, **kwargs):
    raise OSError('no network in this test')

  monkeypatch.setattr(socket, 'create_connection', no_network)
  monkeypatch.setattr(socket.socket, 'connect', no_network)
  counts = {'train': 40, 'validation': 10, 'test': 12}
  folders = []
  for name in ('a', 'b'):
    data_dir = str(tmp_path / name)
    tfds.builder('translation_pairs', data_dir=data_dir,
                 **{f'num_{split}': count for split, count in counts.items()}).download_and_prepare()
    folders.append(os.path.join(data_dir, 'translation_pairs', 'default', '1.0.0'))
  records = sorted(f for f in os.listdir(folders[0]) if '.tfrecord' in f)
  assert len(records) == 3
  for record in records:
    with open(os.path.join(folders[0], record), 'rb') as a, open(os.path.join(folders[1], record), 'rb') as b:
      assert a.read() == b.read()
  source = sources.TfdsSource('translation_pairs', str(tmp_path / 'a'))  # prepared: read as it is
  assert source.info.supervised_keys == ('source', 'target')
  for split_index, (split, count) in enumerate(counts.items()):
    assert source.num_examples(split) == count
    read = {(e['source'].decode(), e['target'].decode()) for e in source.read(split).as_numpy_iterator()}
    made = [generate.pair(np.random.default_rng([0, split_index, i])) for i in range(count)]
    assert read == {(p['source'], p['target']) for p in made}
