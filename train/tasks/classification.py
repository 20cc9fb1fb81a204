"""Image classification: softmax cross-entropy over any image source (TFDS, TFDS folder, image folder)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epy

from data import sources, subsets
from data.errors import UserInputError
from nets import cnn
from train.tasks import base

# TensorFlow, seconds to import (bench/README_cpu_kernels.md), loads when a pipeline first uses it,
# not with this module: the loop builds this task without it and compiles the model meanwhile
# (train/loop.py).
with epy.lazy_imports():
  import tensorflow as tf


def num_classes_of(source, label_key: str) -> int:
  if isinstance(source, sources.ImageFolderSource):
    return source.num_classes
  feature = source.info.features[label_key] if label_key in source.info.features else None
  if not hasattr(feature, 'num_classes'):
    raise UserInputError(f'dataset {source.name!r} has no class-label feature {label_key!r}; '
                         f'set data.label_key to one of {list(source.info.features.keys())}')
  return feature.num_classes


def class_names_of(source, label_key: str, num_classes: int) -> tuple[str, ...]:
  """The classes' names where the source has them, else their numbers as text."""
  if isinstance(source, sources.ImageFolderSource):
    return tuple(source.class_names)
  names = getattr(source.info.features[label_key], 'names', None)
  return tuple(names) if names else tuple(str(i) for i in range(num_classes))


def image_shape_of(source, image_key: str) -> tuple[int, ...] | None:
  """The [height, width, channels] every image of the source has, or None where they differ."""
  if isinstance(source, sources.ImageFolderSource):
    return tuple(source.image_size) + (3,)  # decoded to RGB and resized on reading
  feature = source.info.features[image_key] if image_key in source.info.features else None
  shape = getattr(feature, 'shape', None)
  return None if shape is None or None in shape else tuple(shape)


def augment_image(image: tf.Tensor, seed: tf.Tensor, train: bool, data_config) -> tf.Tensor:
  """image -> uint8 image with the config's augmentation (training only); pixels are only moved."""
  if image.dtype != tf.uint8:
    image = tf.image.convert_image_dtype(image, tf.uint8, saturate=True)
  if train and data_config.augment == 'crop_flip':
    # Pad-and-crop by 4 pixels plus a horizontal flip: the standard CIFAR augmentation.
    height, width, channels = image.shape
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode='REFLECT')
    image = tf.image.stateless_random_crop(image, (height, width, channels), crop_seed)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
  elif train and data_config.augment:
    raise UserInputError(f"unknown data.augment {data_config.augment!r}; choose '' or 'crop_flip'")
  return image


def preprocess_image(image: tf.Tensor, seed: tf.Tensor, train: bool, data_config) -> tf.Tensor:
  """image -> float32 with the config's augmentation (training only) and normalisation, in tf.data."""
  image = tf.image.convert_image_dtype(augment_image(image, seed, train, data_config), tf.float32)
  return (image - tf.constant(data_config.mean)) / tf.constant(data_config.std)


def normalised(images: jax.Array, data_config) -> jax.Array:
  """uint8 images -> float32 in the model's input scale, (x / 255 - mean) / std, on the device."""
  mean, std = jnp.asarray(data_config.mean, jnp.float32), jnp.asarray(data_config.std, jnp.float32)
  return (images.astype(jnp.float32) / 255.0 - mean) / std


def class_probabilities(task, variables, images: np.ndarray) -> np.ndarray:
  """The softmax of an image task's model (classes last) on uint8 images, for predictions by hand."""
  model = task.make_model()
  return np.asarray(jax.jit(lambda v, x: jax.nn.softmax(model.apply(v, task.model_inputs({'image': x}))))(
      variables, images))


class ClassificationTask(base.SourceTask):
  """Predict `data.label_key` from `data.image_key` with a model from nets.cnn.MODELS."""

  def __init__(self, config):
    super().__init__(config)
    source = sources.make_source(config.data)
    self.num_classes = num_classes_of(source, config.data.label_key)
    self.class_names = class_names_of(source, config.data.label_key, self.num_classes)
    self.image_shape = image_shape_of(source, config.data.image_key)
    self.source = subsets.maybe_filtered(source, config.data)  # data.keep: a subset, e.g. one position
    self.fields = (config.data.image_key, config.data.label_key)
    self.augments = bool(config.data.augment)

  # Batches carry uint8 images, normalised inside the compiled step: a quarter of the bytes to
  # gather and transfer, and no float work on the host (bench/README_cnn.md).
  def _preprocess(self, example, seed, train):
    data = self.config.data
    return {'image': augment_image(example[data.image_key], seed, train, data),
            'label': tf.cast(example[data.label_key], tf.int32)}

  def _preprocess_numpy(self, arrays, train):
    data = self.config.data
    image = arrays[data.image_key]
    if image.dtype != np.uint8 or (train and data.augment):  # _preprocess would convert or move pixels
      return None
    return {'image': image, 'label': arrays[data.label_key].astype(np.int32)}

  def preprocess_id(self):
    return self.data_config_preprocess_id()

  def batch_template(self, rows):
    if self.image_shape is None:
      return None
    return {'image': np.zeros((rows,) + self.image_shape, np.uint8), 'label': np.zeros((rows,), np.int32)}

  def model_inputs(self, batch) -> jax.Array:
    """A batch's images as the model takes them."""
    return normalised(batch['image'], self.config.data)

  def make_model(self, axis_name=None):
    model = dict(self.config.model)
    name = model.pop('name')
    if name not in cnn.MODELS:
      raise UserInputError(f'unknown model.name {name!r}; choose one of {sorted(cnn.MODELS)}')
    return cnn.MODELS[name](num_classes=self.num_classes, dtype=jnp.dtype(self.config.compute_dtype),
                            axis_name=axis_name, **model)

  def init_variables(self, model, rng, batch):
    params_rng, dropout_rng = jax.random.split(rng)
    return dict(model.init({'params': params_rng, 'dropout': dropout_rng}, self.model_inputs(batch), train=False))

  def loss(self, model, params, state, batch, rng, train):
    variables = {'params': params, **state}
    if train:
      logits, state = model.apply(variables, self.model_inputs(batch), train=True, rngs={'dropout': rng},
                                  mutable=list(state))
    else:
      logits = model.apply(variables, self.model_inputs(batch), train=False)
    labels = optax.smooth_labels(jax.nn.one_hot(batch['label'], self.num_classes),
                                 self.config.get('label_smoothing', 0.0))
    loss = optax.softmax_cross_entropy(logits, labels).mean()
    accuracy = (logits.argmax(-1) == batch['label']).mean()
    return loss, ({'accuracy': accuracy}, state)

  def eval_metrics(self, model, variables, batch):
    logits = model.apply(variables, self.model_inputs(batch), train=False)
    return {'loss': optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']),
            'accuracy': (logits.argmax(-1) == batch['label']).astype(jnp.float32)}

  def predict(self, variables, images: np.ndarray) -> dict[str, np.ndarray]:
    """{'probabilities': [N, num_classes]} for uint8 images of the run's image shape (for train.predict)."""
    return {'probabilities': class_probabilities(self, variables, images)}
