"""TFDS builder of `shapes_dialogue`: generated conversations about scenes of the shapes world.

The project's offline default for a chatbot (see `generate` for what the conversations say).
One example is one bot turn: the turns before it, oldest first, and the reply. Nothing is
downloaded: conversation i of a split is generated from its own seed, and its bot turns are
examples until the split has its number of examples, so preparing the dataset twice writes
identical files. The two splits talk about different scenes.

  import data.dialogue.builder  # Registers the builder.
  builder = tfds.builder('shapes_dialogue', data_dir=data_dir)
  builder.download_and_prepare()
  test = builder.as_dataset(split='test')   # {'context': [turns], 'reply'}
"""

import tensorflow_datasets as tfds

from data import generated
from data.dialogue import generate


class ShapesDialogue(generated.GeneratedBuilder):
  """Bot turns of conversations whose replies depend on a scene the user described turns before."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  SPLITS = generate.SPLITS  # generate.examples seeds a conversation with its split's index in these.
  BUILDER_CONFIGS = [generated.GeneratedConfig(name='default', num_train=40000, num_test=2000,
                                               description='40000 training and 2000 test replies.')]

  SUPERVISED_KEYS = ('context', 'reply')
  DESCRIPTION = ('Generated conversations: the user describes a row of coloured shapes, then asks '
                 'about colours, positions and counts, with small talk in between. Answering needs '
                 'the statements of earlier turns; test scenes never occur in training. '
                 'data.dialogue.generate.reply_reward scores any reply from the text alone.')

  def _features(self):
    return tfds.features.FeaturesDict({
        'context': tfds.features.Sequence(tfds.features.Text(), doc='The previous turns, oldest first.'),
        'reply': tfds.features.Text(doc="The bot's reply to the last turn of the context."),
    })

  def _examples(self, split):
    # Seeded per conversation, not per example: a conversation gives as many examples as it has bot turns.
    return generate.examples(split, self.builder_config.seed)
