"""Detection quality as the field reports it: COCO mean average precision, computed by pycocotools.

Average precision (AP) of a class is the area under its precision-recall curve when its detections
are taken best score first and a detection counts as right if it overlaps a not yet matched object
of the class by IoU >= t. COCO averages it over classes and over t = 0.50, 0.55, ..., 0.95
(`map`); `map50` is t = 0.5 alone (PASCAL VOC's measure), `map75` t = 0.75. The official code
(pycocotools' COCOeval) computes them here from the arrays the detector gives, so the numbers are
comparable with published ones.
"""

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def _xywh(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
  """(ymin, xmin, ymax, xmax) in [0, 1] -> COCO's (x, y, width, height) in pixels."""
  ymin, xmin, ymax, xmax = (boxes * np.array([height, width, height, width])).T
  return np.stack([xmin, ymin, xmax - xmin, ymax - ymin], axis=-1)


def coco_metrics(truths: list[tuple[np.ndarray, np.ndarray]],
                 detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 image_size: tuple[int, int], num_classes: int) -> dict[str, float]:
  """{'map', 'map50', 'map75'} of detections against the truth, image by image.

  Args:
    truths: per image (boxes [N, 4] (ymin, xmin, ymax, xmax) in [0, 1], class ids [N]).
    detections: per image (boxes [K, 4] as above, scores [K], class ids [K]).
    image_size: (height, width) in pixels of the images the boxes are fractions of.
    num_classes: the class ids are 0 .. num_classes - 1.
  """
  height, width = image_size
  images, annotations, results = [], [], []
  for image_id, ((boxes, labels), (found, scores, classes)) in enumerate(zip(truths, detections), start=1):
    images.append({'id': image_id, 'height': height, 'width': width})
    for box, label in zip(_xywh(np.asarray(boxes, np.float64), height, width), labels):
      annotations.append({'id': len(annotations) + 1, 'image_id': image_id, 'category_id': int(label) + 1,
                          'bbox': box.tolist(), 'area': float(box[2] * box[3]), 'iscrowd': 0})
    for box, score, label in zip(_xywh(np.asarray(found, np.float64), height, width), scores, classes):
      results.append({'image_id': image_id, 'category_id': int(label) + 1, 'bbox': box.tolist(),
                      'score': float(score)})
  if not annotations or not results:  # nothing to find, or nothing found: no precision to speak of
    return {'map': 0.0, 'map50': 0.0, 'map75': 0.0}
  truth = COCO()
  truth.dataset = {'images': images, 'annotations': annotations,
                   'categories': [{'id': c + 1, 'name': str(c)} for c in range(num_classes)]}
  with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and tables
    truth.createIndex()
    evaluation = COCOeval(truth, truth.loadRes(results), iouType='bbox')
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
  # stats: AP@[.5:.95], AP@.5, AP@.75, then by object area and recalls; -1 where undefined.
  return {name: max(0.0, float(value)) for name, value in zip(('map', 'map50', 'map75'), evaluation.stats[:3])}
