"""TFDS builder of `shapes`: procedurally rendered images of one coloured shape each, or scenes of several.

The project's offline default dataset. Nothing is downloaded: every example is rendered by
`render.render_example` (configs '32' and '64') or `scenes.render_scene` (config 'scenes': up to five
shapes with segmentation and instance masks and boxes) from its own seed, so preparing the dataset twice
writes identical files.

  import data.shapes.builder  # Registers the builder.
  builder = tfds.builder('shapes', data_dir=data_dir)  # Or 'shapes/64', 'shapes/scenes'.
  builder.download_and_prepare()
  train = builder.as_dataset(split='train')
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from data import generated
from data.shapes import render, scenes


@dataclasses.dataclass(eq=False)
class ShapesConfig(generated.GeneratedConfig):
  """A variant of the dataset: image side in pixels and the most objects per scene (0: one shape per
  image, the single-shape examples), besides the examples per split and the base seed."""
  image_size: int = 32
  max_objects: int = 0


class Shapes(generated.GeneratedBuilder):
  """Images of a single shape with its class, colour, size, position, geometry, mask and caption;
  or scenes of several with per-pixel classes and instances, each object's classes and box, and a caption."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  # 5000 training images already take configs/shapes_cnn.py to high held-out shape accuracy;
  # the default 12000 + 2000 leave room for harder tasks and still build quickly.
  BUILDER_CONFIGS = [
      ShapesConfig(name='32', image_size=32, num_train=12000, num_test=2000, description='32x32 images.'),
      ShapesConfig(name='64', image_size=64, num_train=12000, num_test=2000, description='64x64 images.'),
      ShapesConfig(name='scenes', image_size=64, max_objects=5, num_train=12000, num_test=2000,
                   description='64x64 scenes of 0-5 shapes, for segmentation and detection.'),
      ShapesConfig(name='scenes32', image_size=32, max_objects=5, num_train=12000, num_test=2000,
                   description='32x32 scenes of 0-5 shapes: segmentation and detection in CPU minutes.'),
  ]
  DEFAULT_CONFIG_NAME = '32'

  DESCRIPTION = ('Anti-aliased coloured shapes, one per image or (config scenes) up to five, on a plain or '
                 'noisy background, rendered procedurally; captions describe them.')

  @property
  def SUPERVISED_KEYS(self):  # The name GeneratedBuilder reads; the target depends on the config.
    return ('image', 'segmentation') if self.builder_config.max_objects else ('image', 'label')

  def _features(self):
    side = self.builder_config.image_size
    if self.builder_config.max_objects:
      return self._scene_features(side)
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

  def _scene_features(self, side):
    class_label = tfds.features.ClassLabel
    return tfds.features.FeaturesDict({
        'image': tfds.features.Image(shape=(side, side, 3)),
        'segmentation': tfds.features.LabeledImage(
            labels=['background', *render.SHAPES], shape=(side, side, 1),
            doc='The class of the object shown on at least half of the pixel, 0 for background.'),
        'instances': tfds.features.Image(
            shape=(side, side, 1), doc='i + 1 where object i shows on at least half of the pixel, 0 elsewhere.'),
        'objects': tfds.features.Sequence({
            'label': class_label(names=render.SHAPES, doc='The shape.'),
            'color': class_label(names=render.COLOR_NAMES),
            'size': class_label(names=render.SIZES, doc='Which third of the radius range.'),
            'bbox': tfds.features.BBoxFeature(doc='Tight box of the visible pixels.'),
        }, doc='In painting order: later objects cover earlier ones.'),
        'caption': tfds.features.Text(
            doc='English, e.g. "a red circle left of a blue square, which is above a green star".'),
    })

  def _examples(self, split):
    config = self.builder_config
    if config.max_objects:
      return (scenes.render_scene(rng, config.image_size, config.max_objects) for rng in self._example_rngs(split))
    return (render.render_example(rng, config.image_size) for rng in self._example_rngs(split))
