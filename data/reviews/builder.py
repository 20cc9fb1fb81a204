"""TFDS builder of `reviews`: generated film reviews whose sentiment depends on word order.

The project's offline default for text classification (see `generate` for the grammar).
Nothing is downloaded: example i of a split is generated from its own seed, so preparing the
dataset twice writes identical files.

  import data.reviews.builder  # Registers the builder.
  builder = tfds.builder('reviews', data_dir=data_dir)
  builder.download_and_prepare()
  test = builder.as_dataset(split='test')   # {'text', 'label', 'form'}
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data.reviews import generate

_SPLITS = ('train', 'test')


@dataclasses.dataclass(eq=False)
class ReviewsConfig(tfds.core.BuilderConfig):
  num_train: int = 20000
  num_test: int = 5000
  seed: int = 0


class Reviews(tfds.core.GeneratorBasedBuilder):
  """Short generated film reviews labelled negative or positive, with negation and contrast."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [ReviewsConfig(name='default', description='20000 training and 5000 test reviews.')]

  def __init__(self, *, num_train=None, num_test=None, **kwargs):
    """As any TFDS builder, plus optional overrides of the number of examples (e.g. a quick build in tests)."""
    super().__init__(**kwargs)
    self._num_examples = {
        'train': self.builder_config.num_train if num_train is None else num_train,
        'test': self.builder_config.num_test if num_test is None else num_test,
    }

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        description=('Generated film reviews. Negation ("not bad") and contrast ("good but boring") '
                     'make the sentiment depend on word order: half are contrasts on which a '
                     'bag-of-words model is at chance.'),
        features=tfds.features.FeaturesDict({
            'text': tfds.features.Text(),
            'label': tfds.features.ClassLabel(names=generate.SENTIMENTS),
            'form': tfds.features.ClassLabel(names=generate.FORMS,
                                             doc='One judgement, two that agree, or a contrast.'),
        }),
        supervised_keys=('text', 'label'),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is generated; nothing to download.
    return {split: self._generate_examples(split) for split in _SPLITS}

  def _generate_examples(self, split):
    split_index = _SPLITS.index(split)
    for index in range(self._num_examples[split]):
      yield index, generate.review(np.random.default_rng([self.builder_config.seed, split_index, index]))
