"""TFDS builder of `reviews`: generated film reviews whose sentiment depends on word order.

The project's offline default for text classification (see `generate` for the grammar).
Nothing is downloaded: example i of a split is generated from its own seed, so preparing the
dataset twice writes identical files.

  import data.reviews.builder  # Registers the builder.
  builder = tfds.builder('reviews', data_dir=data_dir)
  builder.download_and_prepare()
  test = builder.as_dataset(split='test')   # {'text', 'label', 'form'}
"""

import tensorflow_datasets as tfds

from data import generated
from data.reviews import generate


class Reviews(generated.GeneratedBuilder):
  """Short generated film reviews labelled negative or positive, with negation and contrast."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [generated.GeneratedConfig(name='default', num_train=20000, num_test=5000,
                                               description='20000 training and 5000 test reviews.')]

  SUPERVISED_KEYS = ('text', 'label')
  DESCRIPTION = ('Generated film reviews. Negation ("not bad") and contrast ("good but boring") '
                 'make the sentiment depend on word order: half are contrasts on which a '
                 'bag-of-words model is at chance.')

  def _features(self):
    return tfds.features.FeaturesDict({
        'text': tfds.features.Text(),
        'label': tfds.features.ClassLabel(names=generate.SENTIMENTS),
        'form': tfds.features.ClassLabel(names=generate.FORMS,
                                         doc='One judgement, two that agree, or a contrast.'),
    })

  def _examples(self, split):
    return map(generate.review, self._example_rngs(split))
