"""What segmentation and detection share: images with annotations in the image plane.

Both read a source of data/dense.py (the multi-object shapes by default, or oxford_iiit_pet,
voc/2007, a folder of images and masks, a COCO-format folder), resize every image to
`data.image_size` (real data sets mix sizes; the batches need one) and flip it left-right with
its annotations when `data.augment` is 'flip'. Images travel as uint8 and are normalised inside
the compiled step, as the classifier's are.
"""

import abc

import jax
import jax.numpy as jnp
from etils import epy

from data import dense
from data.errors import UserInputError
from train.tasks import base
from train.tasks.classification import normalised

with epy.lazy_imports():
  import tensorflow as tf

AUGMENTS = ('', 'flip')


class DenseImageTask(base.SourceTask, abc.ABC):
  """An image task over a data/dense.py source; subclasses add the annotations' preprocessing and the model."""
  kind: str  # 'segmentation' or 'detection': which canonical examples the source gives

  def __init__(self, config):
    super().__init__(config)
    if config.data.augment not in AUGMENTS:
      raise UserInputError(f'unknown data.augment {config.data.augment!r}; choose one of {AUGMENTS}')
    self.source = dense.make_dense_source(config.data, self.kind)
    self.class_names = tuple(self.source.class_names)
    self.num_classes = len(self.class_names)
    self.image_size = tuple(config.data.image_size)
    self.image_shape = self.image_size + (3,)
    self.augments = config.data.augment == 'flip'

  @abc.abstractmethod
  def _annotations(self, example, size: tuple[int, int], flip) -> dict:
    """The example's annotations as the model's targets, for images resized to `size`, flipped if `flip`."""

  def _preprocess(self, example, seed, train):
    image = example['image']
    if tuple(image.shape[:2]) != self.image_size:  # a dynamic or different size: resize
      image = tf.cast(tf.round(tf.clip_by_value(
          tf.image.resize(image, self.image_size, antialias=True), 0, 255)), tf.uint8)
    flip = tf.random.stateless_uniform([], seed) < 0.5 if train and self.augments else tf.constant(False)
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    image = tf.ensure_shape(image, self.image_size + (3,))
    return {'image': image, **self._annotations(example, self.image_size, flip)}

  def preprocess_id(self):
    return self.data_config_preprocess_id('data.dense')

  def model_inputs(self, batch) -> jax.Array:
    return normalised(batch['image'], self.config.data)

  def _model_kwargs(self, axis_name) -> dict:
    model = dict(self.config.model)
    del model['name']
    return dict(num_classes=self.num_classes, dtype=jnp.dtype(self.config.compute_dtype), axis_name=axis_name,
                **model)

  def init_variables(self, model, rng, batch):
    return dict(model.init(rng, self.model_inputs(batch), train=False))

  def forward(self, model, params, state, batch, train):
    """(model outputs, updated state) on a batch's images; the state is updated in training only."""
    variables = {'params': params, **state}
    if train:
      return model.apply(variables, self.model_inputs(batch), train=True, mutable=list(state))
    return model.apply(variables, self.model_inputs(batch), train=False), state
