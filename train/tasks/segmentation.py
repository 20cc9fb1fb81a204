"""Semantic segmentation: a class for every pixel, with the U-Net of nets/segmentation.py.

Loss: cross-entropy per pixel, averaged over the pixels that are not `IGNORE` (borders of
oxford_iiit_pet's trimaps, unlabelled pixels), plus `dice_weight` x the soft Dice loss
(1 - 2|P∩Y| / (|P| + |Y|) per class, averaged over classes), which weighs small classes as much as
the background that covers most pixels.

Evaluation over the whole eval split: `pixel_accuracy`, `miou` (intersection over union per class
from the split's confusion matrix, averaged over the classes that occur or are predicted) and, per
class, `iou_<class name>`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epy

from nets import segmentation
from train.tasks import dense
from train.tasks.classification import class_probabilities

with epy.lazy_imports():
  import tensorflow as tf

IGNORE = 255  # the mask value of pixels that have no class


class SegmentationTask(dense.DenseImageTask):
  """Predict the class of every pixel of `data.image_size` images."""
  kind = 'segmentation'
  fields = ('image', 'segmentation')

  def _annotations(self, example, size, flip):
    mask = example['segmentation']
    if tuple(mask.shape[:2]) != size:
      mask = tf.image.resize(mask, size, method='nearest')
    mask = tf.cond(flip, lambda: tf.image.flip_left_right(mask), lambda: mask)
    return {'segmentation': tf.ensure_shape(tf.cast(mask[..., 0], tf.int32), size)}

  def batch_template(self, rows):
    return {'image': np.zeros((rows,) + self.image_size + (3,), np.uint8),
            'segmentation': np.zeros((rows,) + self.image_size, np.int32)}

  def make_model(self, axis_name=None):
    return segmentation.UNet(**self._model_kwargs(axis_name))

  def _pixel_losses(self, logits, labels):
    """Cross-entropy per pixel [B, H, W] and which pixels count."""
    valid = labels != IGNORE
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, labels, 0))
    return jnp.where(valid, losses, 0.0), valid

  def _dice_loss(self, logits, labels, valid):
    probabilities = jax.nn.softmax(logits) * valid[..., None]
    truth = jax.nn.one_hot(labels, self.num_classes) * valid[..., None]
    overlap = jnp.sum(probabilities * truth, axis=(0, 1, 2))
    total = jnp.sum(probabilities, axis=(0, 1, 2)) + jnp.sum(truth, axis=(0, 1, 2))
    return 1.0 - jnp.mean((2 * overlap + 1.0) / (total + 1.0))

  def loss(self, model, params, state, batch, rng, train):
    del rng
    logits, state = self.forward(model, params, state, batch, train)
    labels = batch['segmentation']
    losses, valid = self._pixel_losses(logits, labels)
    cross_entropy = losses.sum() / jnp.maximum(valid.sum(), 1)
    loss = cross_entropy
    dice_weight = self.config.get('dice_weight', 0.0)
    if dice_weight:
      loss = loss + dice_weight * self._dice_loss(logits, labels, valid)
    accuracy = jnp.sum((logits.argmax(-1) == labels) & valid) / jnp.maximum(valid.sum(), 1)
    return loss, ({'cross_entropy': cross_entropy, 'pixel_accuracy': accuracy}, state)

  def eval_metrics(self, model, variables, batch):
    logits = model.apply(variables, self.model_inputs(batch), train=False)
    labels = batch['segmentation']
    losses, valid = self._pixel_losses(logits, labels)
    confusion = jax.vmap(lambda p, y: segmentation.confusion_matrix(p, y, self.num_classes, IGNORE))(
        logits.argmax(-1), labels)
    return {'loss': losses.sum((1, 2)) / jnp.maximum(valid.sum((1, 2)), 1), 'confusion': confusion}

  def summarize_eval(self, averages):
    confusion = averages.pop('confusion')  # the split's, divided by its number of images
    metrics = {name: float(value) for name, value in averages.items()}
    iou = np.asarray(segmentation.intersection_over_union(jnp.asarray(confusion)))
    metrics['pixel_accuracy'] = float(np.trace(confusion) / max(confusion.sum(), 1e-12))
    metrics['miou'] = float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0
    metrics.update({f'iou_{name}': float(value) for name, value in zip(self.class_names, iou) if np.isfinite(value)})
    return metrics

  def predict(self, variables, images: np.ndarray) -> dict[str, np.ndarray]:
    """{'classes': int [N, H, W], 'probabilities': [N, H, W, C]} for uint8 images of the run's size."""
    probabilities = class_probabilities(self, variables, images)
    return {'classes': probabilities.argmax(-1), 'probabilities': probabilities}
