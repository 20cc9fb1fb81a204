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

from data import generated
from data.shapes import render


@dataclasses.dataclass(eq=False)
class ShapesConfig(generated.GeneratedConfig):
  """A variant of the dataset: image side in pixels, besides the examples per split and the base seed."""
  image_size: int = 32


class Shapes(generated.GeneratedBuilder):
  """Images of a single shape with its class, colour, size, position, geometry, mask and caption."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  # 5000 training images already take configs/shapes_cnn.py to high held-out shape accuracy;
  # the default 12000 + 2000 leave room for harder tasks and still build quickly.
  BUILDER_CONFIGS = [
      ShapesConfig(name='32', image_size=32, num_train=12000, num_test=2000, description='32x32 images.'),
      ShapesConfig(name='64', image_size=64, num_train=12000, num_test=2000, description='64x64 images.'),
  ]
  DEFAULT_CONFIG_NAME = '32'

  SUPERVISED_KEYS = ('image', 'label')
  DESCRIPTION = ('One anti-aliased coloured shape per image, on a plain or noisy background, '
                 'rendered procedurally; captions describe size, colour, shape and position.')

  def _features(self):
    side = self.builder_config.image_size
    class_label = tfds.features.ClassLabel
    return tfds.features.FeaturesDict({
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
    })

  def _examples(self, split):
    return (render.render_example(rng, self.builder_config.image_size) for rng in self._example_rngs(split))
