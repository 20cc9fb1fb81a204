"""TFDS builder of `shapes`: procedurally rendered images of one coloured shape each.

The project's offline default dataset. Nothing is downloaded: every example is rendered by
`render.render_example` from its own seed, so preparing the dataset twice writes identical files.

  import data.shapes.builder  # Registers the builder.
  builder = tfds.builder('shapes', data_dir=data_dir)  # Or 'shapes/64'.
  builder.download_and_prepare()
  train = builder.as_dataset(split='train')
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data.shapes import render

_SPLITS = ('train', 'test')


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
  """A variant of the dataset: image side in pixels, examples per split and the base seed."""
  image_size: int = 32
  num_train: int = 12000
  num_test: int = 2000
  seed: int = 0


class Shapes(tfds.core.GeneratorBasedBuilder):
  """Images of a single shape with its class, colour, size, position, geometry, mask and caption."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  # 5000 training images already take configs/shapes_cnn.py to high held-out shape accuracy;
  # the default 12000 + 2000 leave room for harder tasks and still build quickly.
  BUILDER_CONFIGS = [
      ShapesConfig(name='32', image_size=32, description='32x32 images.'),
      ShapesConfig(name='64', image_size=64, description='64x64 images.'),
  ]
  DEFAULT_CONFIG_NAME = '32'

  def __init__(self, *, num_train=None, num_test=None, **kwargs):
    """As any TFDS builder, plus optional overrides of the config's number of examples per split.

    The overrides only matter when the data is generated (e.g. a quick build in tests);
    an already prepared data_dir is read as it is.
    """
    super().__init__(**kwargs)
    self._num_examples = {
        'train': self.builder_config.num_train if num_train is None else num_train,
        'test': self.builder_config.num_test if num_test is None else num_test,
    }

  def _info(self):
    side = self.builder_config.image_size
    class_label = tfds.features.ClassLabel
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            'One anti-aliased coloured shape per image, on a plain or noisy background, '
            'rendered procedurally; captions describe size, colour, shape and position.'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(side, side, 3)),
            'label': class_label(names=render.SHAPES, doc='The shape.'),
            'color': class_label(names=render.COLOR_NAMES),
            'size': class_label(names=render.SIZES, doc='Which third of the radius range.'),
            'position': class_label(names=render.POSITIONS,
                                    doc='The cell of the 3x3 grid that holds the centre.'),
            'background': class_label(names=render.BACKGROUNDS),
            'center': tfds.features.Tensor(
                shape=(2,), dtype=np.float32, doc='(y, x) of the centre, in [0, 1].'),
            'scale': tfds.features.Scalar(
                dtype=np.float32, doc='Radius of the circumscribed circle / image side.'),
            'rotation': tfds.features.Scalar(
                dtype=np.float32, doc='Radians, counter-clockwise; 0 for circles.'),
            'caption': tfds.features.Text(
                doc='English, e.g. "a small red circle in the top left".'),
            'mask': tfds.features.Image(
                shape=(side, side, 1),
                doc='1 where the shape covers at least half of the pixel, 0 elsewhere.'),
            'bbox': tfds.features.BBoxFeature(doc='Tight box of the mask.'),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is rendered; nothing to download.
    return {split: self._generate_examples(split) for split in _SPLITS}

  def _generate_examples(self, split):
    config = self.builder_config
    split_index = _SPLITS.index(split)
    for index in range(self._num_examples[split]):
      # A generator per example: any example can be re-rendered alone, in any order.
      rng = np.random.default_rng([config.seed, split_index, index])
      yield index, render.render_example(rng, config.image_size)
