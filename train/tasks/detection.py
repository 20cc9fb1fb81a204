"""Object detection with CenterNet (nets/detection.py): boxes and classes of every object in an image.

Batches carry each image's objects as a fixed-size list of `data.max_objects` rows (boxes, labels
and `valid`, False for padding; an image with more objects keeps the first ones). The heads'
targets (Gaussian heatmaps, sizes, offsets) are computed from them inside the compiled step.

Loss (Zhou et al. 2019): the heatmap's focal loss over all cells and classes plus
`size_weight` x the L1 error of the box size and the L1 error of the centre offset at the objects'
centre cells, each divided by the number of objects in the batch.

Evaluation: the three losses per image over the eval split in every evaluation; at the end COCO's
`map` (AP@[.5:.95]), `map50` and `map75` by pycocotools (train/coco_eval.py) over the whole eval
split, from the `max_detections` best peaks of each image.
"""

import jax
import jax.numpy as jnp
import numpy as np
from etils import epy

from nets import detection
from train import coco_eval
from train.tasks import dense

with epy.lazy_imports():
  import tensorflow as tf


class DetectionTask(dense.DenseImageTask):
  """Find the objects of `data.image_size` images: class, box and score of each."""
  kind = 'detection'
  fields = ('image', 'boxes', 'labels')

  def __init__(self, config):
    super().__init__(config)
    self.max_objects = config.data.max_objects
    stride = config.model.get('output_stride', 4)
    self.grid = (self.image_size[0] // stride, self.image_size[1] // stride)

  def _annotations(self, example, size, flip):
    del size  # boxes are fractions of the image: resizing leaves them as they are
    count = tf.minimum(tf.minimum(tf.shape(example['boxes'])[0], tf.shape(example['labels'])[0]), self.max_objects)
    boxes = tf.cast(example['boxes'], tf.float32)[:count]
    ymin, xmin, ymax, xmax = tf.unstack(boxes, 4, axis=-1)
    boxes = tf.cond(flip, lambda: tf.stack([ymin, 1 - xmax, ymax, 1 - xmin], -1), lambda: boxes)
    labels = tf.cast(example['labels'], tf.int32)[:count]
    padding = self.max_objects - count
    return {'boxes': tf.ensure_shape(tf.pad(boxes, [[0, padding], [0, 0]]), (self.max_objects, 4)),
            'labels': tf.ensure_shape(tf.pad(labels, [[0, padding]]), (self.max_objects,)),
            'valid': tf.ensure_shape(tf.range(self.max_objects) < count, (self.max_objects,))}

  def batch_template(self, rows):
    return {'image': np.zeros((rows,) + self.image_size + (3,), np.uint8),
            'boxes': np.zeros((rows, self.max_objects, 4), np.float32),
            'labels': np.zeros((rows, self.max_objects), np.int32),
            'valid': np.zeros((rows, self.max_objects), bool)}

  def make_model(self, axis_name=None):
    return detection.CenterNet(**self._model_kwargs(axis_name))

  def _losses(self, heads, batch):
    """Per image: (focal loss, size L1, offset L1) summed over its objects and cells, and its object count."""
    heatmap, cells, size, offset = jax.vmap(
        lambda boxes, labels, valid: detection.targets(boxes, labels, valid, self.grid, self.num_classes))(
            batch['boxes'], batch['labels'], batch['valid'])
    valid = batch['valid'][..., None]
    at_centres = jax.vmap(detection.gather_cells)
    size_error = jnp.where(valid, jnp.abs(at_centres(heads['size'], cells) - size), 0.0).sum((1, 2))
    offset_error = jnp.where(valid, jnp.abs(at_centres(heads['offset'], cells) - offset), 0.0).sum((1, 2))
    focal = jax.vmap(detection.focal_loss)(heads['heatmap'], heatmap)
    return focal, size_error, offset_error, batch['valid'].sum(1)

  def _total(self, focal, size_error, offset_error):
    return focal + self.config.get('size_weight', 0.1) * size_error + offset_error

  def loss(self, model, params, state, batch, rng, train):
    del rng
    heads, state = self.forward(model, params, state, batch, train)
    focal, size_error, offset_error, objects = self._losses(heads, batch)
    per_object = lambda value: value.sum() / jnp.maximum(objects.sum(), 1)
    metrics = {'heatmap_loss': per_object(focal), 'size_loss': per_object(size_error),
               'offset_loss': per_object(offset_error)}
    return per_object(self._total(focal, size_error, offset_error)), (metrics, state)

  def eval_metrics(self, model, variables, batch):
    heads = model.apply(variables, self.model_inputs(batch), train=False)
    focal, size_error, offset_error, objects = self._losses(heads, batch)
    per_object = lambda value: value / jnp.maximum(objects, 1)
    return {'loss': per_object(self._total(focal, size_error, offset_error)), 'heatmap_loss': per_object(focal),
            'size_loss': per_object(size_error), 'offset_loss': per_object(offset_error)}

  def _detector(self):
    model = self.make_model()
    max_detections = self.config.get('max_detections', 100)
    return jax.jit(lambda variables, images: detection.decode(
        model.apply(variables, self.model_inputs({'image': images})), max_detections))

  def predict(self, variables, images: np.ndarray) -> dict[str, np.ndarray]:
    """{'boxes' [N, K, 4] (ymin, xmin, ymax, xmax) in [0, 1], 'scores' [N, K], 'classes' [N, K]}, best first."""
    boxes, scores, classes = self._detector()(variables, images)
    return {'boxes': np.asarray(boxes), 'scores': np.asarray(scores), 'classes': np.asarray(classes)}

  def evaluate_host(self, variables, workdir):
    del workdir
    detect = self._detector()
    truths, detections = [], []
    for batch in self.eval_batches(0, 1):
      found = [np.asarray(x) for x in detect(variables, batch['image'])]
      for row in np.flatnonzero(batch['mask'] > 0):
        valid = batch['valid'][row]
        truths.append((batch['boxes'][row][valid], batch['labels'][row][valid]))
        detections.append(tuple(x[row] for x in found))
    return coco_eval.coco_metrics(truths, detections, self.image_size, self.num_classes)
