"""The offline default corpus: generated sentences whose word similarities are planted, hence known.

The lexicon has `num_topics` topics, named after the shapes dataset's shapes and colours so class
names read 'circle/noun', 'red/adj'. Each topic has one synonym class per role (noun, verb,
adjective), and each class has `synonyms` made-up words ('bababa', 'bepodu', ...) that are used
interchangeably: a sentence picks one topic and fills every slot of a template with a uniformly
drawn member of that topic's class for the slot. Words of one class therefore share exactly the
same contexts and should end up nearest neighbours, while words of another class (another topic,
or another role of the same topic) should not. A few function words ('the', 'a', 'with', ...)
make the corpus frequency-skewed, as subsampling expects of real text.
"""

import itertools
from typing import Iterator

import numpy as np

from data.shapes import COLOR_NAMES, SHAPES

ROLES = ('noun', 'verb', 'adj')
TEMPLATES = (
    'the {adj} {noun} {verb} a {noun} with the {adj} {noun}',
    'a {noun} {verb} the {noun} and {verb} the {adj} {noun}',
    'the {noun} is {adj} and the {noun} is {adj}',
    'with a {adj} {noun} the {noun} {verb}',
)
_CONSONANTS, _VOWELS = 'bdfgklmnprstvz', 'aeiou'


def _pseudo_words() -> Iterator[str]:
  """Distinct made-up three-syllable words ('kotire', 'misafu', ...) that no template uses."""
  syllables = [c + v for c, v in itertools.product(_CONSONANTS, _VOWELS)]
  count = len(syllables) ** 3
  for i in range(count):
    # A stride coprime with `count` visits every word once while neighbours look unalike.
    n = i * 7919 % count
    first, rest = divmod(n, len(syllables) ** 2)
    second, third = divmod(rest, len(syllables))
    yield syllables[first] + syllables[second] + syllables[third]


def topic_names(num_topics: int) -> list[str]:
  names = list(SHAPES) + list(COLOR_NAMES)
  if num_topics > len(names):
    names += [f'topic{i}' for i in range(len(names), num_topics)]
  return names[:num_topics]


def lexicon(num_topics: int = 8, synonyms: int = 4) -> dict[str, tuple[str, ...]]:
  """Class name ('circle/noun') -> its synonymous words, for every topic and role."""
  words = _pseudo_words()
  return {f'{topic}/{role}': tuple(itertools.islice(words, synonyms))
          for topic in topic_names(num_topics) for role in ROLES}


def sentences(num_sentences: int, seed: int, num_topics: int = 8, synonyms: int = 4) -> Iterator[list[str]]:
  """`num_sentences` token lists; topics are Zipf-like (topic i has weight 1/sqrt(i+1)) so counts vary."""
  classes = lexicon(num_topics, synonyms)
  topics = topic_names(num_topics)
  weights = 1 / np.sqrt(np.arange(1, num_topics + 1))
  rng = np.random.default_rng(seed)
  topic_draws = rng.choice(num_topics, num_sentences, p=weights / weights.sum())
  template_draws = rng.integers(len(TEMPLATES), size=num_sentences)
  for topic, template in zip(topic_draws, template_draws):
    sentence = []
    for token in TEMPLATES[template].split():
      if token.startswith('{'):
        members = classes[f'{topics[topic]}/{token[1:-1]}']
        token = members[rng.integers(len(members))]
      sentence.append(token)
    yield sentence


def similarity_triples(classes: dict[str, tuple[str, ...]]) -> list[tuple[str, str, float]]:
  """(word, word, score) for every pair of content words: 1 within a class, 0 across classes.

  The WordSim353 layout, so the generic similarity evaluator can score the planted structure.
  """
  members = [(word, name) for name, words in classes.items() for word in words]
  return [(a, b, float(class_a == class_b))
          for (a, class_a), (b, class_b) in itertools.combinations(members, 2)]
