"""TFDS builder of `translation_pairs`: generated sentences of a small English and their translation.

The project's offline default for machine translation (see `generate` for the grammar of the
two languages). Nothing is downloaded: example i of a split is generated from its own seed, so
preparing the dataset twice writes identical files. Short sentences can occur in more than one
split, as they would in any corpus.

  import data.translation.builder  # Registers the builder.
  builder = tfds.builder('translation_pairs', data_dir=data_dir)
  builder.download_and_prepare()
  test = builder.as_dataset(split='test')   # {'source', 'target'}
"""

import dataclasses

import tensorflow_datasets as tfds

from data import generated
from data.translation import generate


@dataclasses.dataclass(eq=False, kw_only=True)
class TranslationPairsConfig(generated.GeneratedConfig):
  """A variant of the dataset: examples per split, validation included, and the base seed."""
  num_validation: int


class TranslationPairs(generated.GeneratedBuilder):
  """Sentence pairs: an English-like SVO source and an invented verb-final target with agreement."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  SPLITS = ('train', 'validation', 'test')
  BUILDER_CONFIGS = [TranslationPairsConfig(name='default', num_train=50000, num_validation=2000, num_test=2000,
                                            description='50000 training, 2000 validation and 2000 test pairs.')]

  SUPERVISED_KEYS = ('source', 'target')
  DESCRIPTION = ('Generated sentence pairs, 3 to 30 tokens long. The target language puts the verb '
                 'last, mirrors noun phrases, moves relative and subordinate clauses first and '
                 'inflects adjectives, articles and verbs by agreement, with irregular forms on '
                 'both sides: neither word-by-word copying nor a bag of words translates it.')

  def _features(self):
    return tfds.features.FeaturesDict({
        'source': tfds.features.Text(doc='English-like, lower case, punctuation as separate tokens.'),
        'target': tfds.features.Text(doc='The invented verb-final language, tokenized the same way.'),
    })

  def _examples(self, split):
    return map(generate.pair, self._example_rngs(split))
