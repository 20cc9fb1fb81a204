"""Predictions drawn on images: a class mask laid over its image, labelled boxes with scores.

Used by `python -m train.predict` (one image at a time) and train/visualize.py (grids of
predictions beside the truth). Images are uint8 [H, W, 3]; masks and boxes may be at another
resolution than the image they are drawn on (masks are scaled by nearest neighbour, boxes are
fractions of the image).
"""

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

OVERLAY_OPACITY = 0.55
BACKGROUND = 'background'  # a class of this name is left undrawn


def class_colors(num_classes: int) -> np.ndarray:
  """A distinct RGB uint8 colour per class [num_classes, 3], the same for every run with that many classes."""
  palette = matplotlib.colormaps['tab20'](np.linspace(0, 1, 20))[:, :3]
  return (palette[np.arange(num_classes) % 20] * 255).astype(np.uint8)


def overlay_mask(image: np.ndarray, classes: np.ndarray, class_names) -> np.ndarray:
  """The image with each pixel tinted by its class in `classes` (int [h, w]), background left as it is."""
  height, width = image.shape[:2]
  classes = np.asarray(Image.fromarray(classes.astype(np.uint8)).resize((width, height), Image.NEAREST))
  colors = class_colors(len(class_names))[np.minimum(classes, len(class_names) - 1)]
  tinted = ~np.isin(classes, [i for i, name in enumerate(class_names) if name == BACKGROUND])
  tinted &= classes < len(class_names)  # ignored pixels (255) stay as they are
  blended = (1 - OVERLAY_OPACITY) * image + OVERLAY_OPACITY * colors
  return np.where(tinted[..., None], blended, image).astype(np.uint8)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, class_names,
               scores: np.ndarray | None = None, scale: int = 1, labels: bool = True) -> np.ndarray:
  """The image (enlarged `scale` times, so labels stay readable on small images) with each box
  (ymin, xmin, ymax, xmax) in [0, 1] outlined in its class's colour and, with `labels`, labelled
  'class score'."""
  picture = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
  height, width = picture.height, picture.width
  pen = ImageDraw.Draw(picture)
  colors = class_colors(len(class_names))
  for i, (box, label) in enumerate(zip(boxes, classes)):
    ymin, xmin, ymax, xmax = np.asarray(box) * [height, width, height, width]
    color = tuple(int(c) for c in colors[int(label)])
    line = max(1, scale // 2)
    # A dark rim around the class colour keeps every box visible, whatever the colours around it.
    pen.rectangle([xmin - 1, ymin - 1, xmax + 1, ymax + 1], outline=(0, 0, 0), width=line + 2)
    pen.rectangle([xmin, ymin, xmax, ymax], outline=color, width=line)
    if labels:
      text = class_names[int(label)] + ('' if scores is None else f' {scores[i]:.2f}')
      corner = (xmin + 1, max(0, ymin - 11))
      pen.rectangle(pen.textbbox(corner, text), fill=(0, 0, 0))
      pen.text(corner, text, fill=color)
  return np.asarray(picture)
