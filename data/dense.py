"""Images with dense annotations, for segmentation and object detection: a TFDS set, a folder of
images and masks, or a COCO-format folder.

Every source reads as data/sources.py's do (`num_examples`, `read` in a fixed order, contiguous
shards, `fingerprint`), names its classes in `class_names`, and yields canonical examples whatever
the layout it reads, so the tasks never care which one it is:

  segmentation: {'image': uint8 [H, W, 3], 'segmentation': uint8 [H, W, 1]}, a class index into
                class_names per pixel, IGNORE where no class is known (borders, unlabelled);
  detection:    {'image': uint8 [H, W, 3], 'boxes': float32 [N, 4], 'labels': int32 [N]}, a box
                (ymin, xmin, ymax, xmax) in [0, 1] and a class index per object, N >= 0.

H and W may differ from one example to the next. Layouts (`data.source`):

  tfds, tfds_dir: segmentation reads the mask feature `data.mask_key` ('segmentation'), each stored
                  value v becoming class data.mask_map[v] when a map is given (oxford_iiit_pet's
                  `segmentation_mask`, 1 pet, 2 background, 3 border: mask_map (255, 1, 0, 255)
                  with class_names ('background', 'pet')); detection reads the nested features
                  `data.boxes_key` ('objects/bbox') and `data.labels_key` ('objects/label'), the
                  layout of voc/2007 and shapes/scenes. Class names: data.class_names, else the
                  mask's LabeledImage or the labels' ClassLabel.
  mask_folder:    PATH/<split>/images/NAME.png|jpg|jpeg|bmp and PATH/<split>/masks/NAME.png, a
                  single-channel or palette PNG of class indices; class names from
                  data.class_names, else PATH/classes.txt (line i names class i). Segmentation only.
  coco_folder:    PATH/<split>/annotations.json in COCO's format, the files it names in
                  PATH/<split>/images/; class names are the categories' in the order of their ids,
                  crowd annotations (iscrowd 1) are left out. Detection only.

The folders are checked through when the source is built, so that a broken file stops the run at
once with its name rather than hours into training.
"""

from __future__ import annotations

import abc
import json
import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epy
from PIL import Image

# TensorFlow loads when a split is first read, as in data/sources.py.
with epy.lazy_imports():
  import tensorflow as tf

from data import sources, split_cache
from data.errors import UserInputError
from data.pipeline import progress

KINDS = ('segmentation', 'detection')
SOURCES = ('tfds', 'tfds_dir', 'mask_folder', 'coco_folder')
IGNORE = 255  # The mask value of pixels without a class; hence at most IGNORE classes.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
# PIL modes of one band of integers: grey levels, palette indices, bits, 16- and 32-bit integers.
MASK_MODES = ('L', 'P', '1', 'I;16', 'I')
CLASSES_FILE = 'classes.txt'
ANNOTATIONS_FILE = 'annotations.json'
BOX_SLACK_PX = 1.0  # How far a COCO box may reach past its image (rounding in converters).


def _checked_class_names(names, place: str, masks: bool) -> tuple[str, ...]:
  """The names as strings; at least one, and for `masks` (uint8, IGNORE reserved) at most IGNORE."""
  names = tuple(str(name) for name in names)
  if not names:
    raise UserInputError(f'{place} names no classes')
  if masks and len(names) > IGNORE:
    raise UserInputError(f'{place} names {len(names)} classes; masks hold at most {IGNORE} (value {IGNORE} '
                         'means ignore)')
  return names


def _rgb(image: tf.Tensor) -> tf.Tensor:
  return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image


def _feature_paths(feature, prefix: str = '') -> list[str]:
  """The nested names ('objects/bbox', ...) of a TFDS feature's leaves, for error messages."""
  inner = feature.feature if isinstance(feature, tfds.features.Sequence) else feature
  if isinstance(inner, tfds.features.FeaturesDict):
    return [path for name, child in inner.items() for path in _feature_paths(child, f'{prefix}{name}/')]
  return [prefix.rstrip('/')]


def _nested_feature(source, key: str, config_key: str):
  feature = source.info.features
  for part in key.split('/'):
    try:
      feature = feature[part]
    except (KeyError, TypeError) as e:
      raise UserInputError(f'dataset {source.name!r} has no feature {key!r} (data.{config_key}); its features are '
                           f'{_feature_paths(source.info.features)}') from e
  return feature


def _nested_value(example: dict, key: str):
  for part in key.split('/'):
    example = example[part]
  return example


class _TfdsDense(abc.ABC):
  """What both TFDS sources share: splits, shards and fingerprint are the wrapped source's."""

  def __init__(self, source: sources.TfdsSource):
    self.source = source

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    return self.source.num_examples(split, shard, num_shards)

  def fingerprint(self, split: str) -> list | None:
    return self.source.fingerprint(split)

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    return self.source.read(split, shard, num_shards).map(
        self._canonical, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  @abc.abstractmethod
  def _canonical(self, example: dict) -> dict:
    """A TFDS example -> the canonical example (module docstring)."""


class TfdsSegmentation(_TfdsDense):
  """A TFDS set's image and mask features; `mask_map` turns stored values into class indices."""

  def __init__(self, source: sources.TfdsSource, mask_key: str = 'segmentation', mask_map=(), class_names=()):
    super().__init__(source)
    self.mask_key = mask_key
    mask = _nested_feature(source, mask_key, 'mask_key')
    if class_names:
      self.class_names = _checked_class_names(class_names, 'data.class_names', masks=True)
    elif isinstance(mask, tfds.features.LabeledImage) and mask.names:
      self.class_names = _checked_class_names(mask.names, f'feature {mask_key!r} of {source.name!r}', masks=True)
    else:
      raise UserInputError(f'feature {mask_key!r} of dataset {source.name!r} does not name its classes; '
                           'set data.class_names, one name per class index')
    self.table = None
    if mask_map:
      mask_map = [int(v) for v in mask_map]
      bad = [v for v in mask_map if not (0 <= v < len(self.class_names) or v == IGNORE)]
      if bad or len(mask_map) > IGNORE + 1:
        raise UserInputError(f'data.mask_map {tuple(mask_map)}: entry v is the class of stored value v, an index '
                             f'below {len(self.class_names)} (the classes {self.class_names}) or {IGNORE} to '
                             f'ignore, for values 0 to {IGNORE} at most')
      # Values beyond the map are ignored.
      self.table = np.full(IGNORE + 1, IGNORE, np.uint8)
      self.table[:len(mask_map)] = mask_map

  def _canonical(self, example: dict) -> dict:
    mask = _nested_value(example, self.mask_key)
    if mask.shape.rank == 2:
      mask = mask[..., None]
    if self.table is not None:
      mask = tf.gather(self.table, tf.minimum(tf.cast(mask, tf.int32), IGNORE))
    return {'image': _rgb(example['image']), 'segmentation': tf.cast(mask, tf.uint8)}


class TfdsDetection(_TfdsDense):
  """A TFDS set's image, a sequence of boxes and the class label of each."""

  def __init__(self, source: sources.TfdsSource, boxes_key: str = 'objects/bbox', labels_key: str = 'objects/label',
               class_names=()):
    super().__init__(source)
    self.boxes_key, self.labels_key = boxes_key, labels_key
    _nested_feature(source, boxes_key, 'boxes_key')
    labels = _nested_feature(source, labels_key, 'labels_key')
    if class_names:
      self.class_names = _checked_class_names(class_names, 'data.class_names', masks=False)
    elif isinstance(labels, tfds.features.ClassLabel):
      self.class_names = tuple(labels.names)
    else:
      raise UserInputError(f'feature {labels_key!r} of dataset {source.name!r} is not a class label; '
                           'set data.class_names, one name per label')

  def _canonical(self, example: dict) -> dict:
    return {'image': _rgb(example['image']),
            'boxes': tf.reshape(tf.cast(_nested_value(example, self.boxes_key), tf.float32), [-1, 4]),
            'labels': tf.cast(_nested_value(example, self.labels_key), tf.int32)}


class _Folder:
  """A local folder with a subfolder per split, each checked once, when the source is built."""

  def __init__(self, path: str, what: str):
    if not path or not os.path.isdir(path):
      raise UserInputError(f'{what} {path!r} is not a folder; point data.path at it')
    self.path = path
    self._splits = {}

  def _split(self, split: str):
    if split not in self._splits:
      raise UserInputError(f'{self.path} has no split {split!r}; it has {sorted(self._splits)}')
    return self._splits[split]

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    start, stop = sources.shard_bounds(len(self._split(split)), shard, num_shards)
    return stop - start


def _image_size(path: str, named_by: str = '') -> tuple[int, int]:
  """(width, height) from the file's header; `named_by` says where the error's file was named."""
  try:
    with Image.open(path) as image:
      return image.size
  except OSError as e:  # PIL's UnidentifiedImageError is one
    raise UserInputError(f'{path}{named_by} is not an image PIL can read ({e})') from e


def _read_mask(path) -> np.ndarray:
  with Image.open(os.fsdecode(path)) as mask:
    return np.asarray(mask).astype(np.uint8)[..., None]


def _decoded_image(path: tf.Tensor) -> tf.Tensor:
  image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  return tf.ensure_shape(image, [None, None, 3])


class MaskFolder(_Folder):
  """PATH/<split>/images/NAME.* with PATH/<split>/masks/NAME.png of class indices."""

  def __init__(self, path: str, class_names=()):
    super().__init__(path, 'mask folder')
    classes_file = os.path.join(path, CLASSES_FILE)
    self._classes_file = None
    if class_names:
      self.class_names = _checked_class_names(class_names, 'data.class_names', masks=True)
    elif os.path.isfile(classes_file):
      self._classes_file = classes_file
      self.class_names = self._read_classes(classes_file)
    else:
      raise UserInputError(f'mask folder {path} names no classes: write {classes_file} (line i names class i) '
                           'or set data.class_names')
    for split in sorted(os.listdir(path)):
      if os.path.isdir(os.path.join(path, split, 'images')) or os.path.isdir(os.path.join(path, split, 'masks')):
        self._splits[split] = self._checked_pairs(os.path.join(path, split))
    if not self._splits:
      raise UserInputError(f'mask folder {path} has no split: write PATH/<split>/images/ and PATH/<split>/masks/, '
                           'e.g. train/images/')

  @staticmethod
  def _read_classes(file: str) -> tuple[str, ...]:
    with open(file, encoding='utf-8') as f:
      names = [line.strip() for line in f.read().rstrip().splitlines()]
    for number, name in enumerate(names, 1):
      if not name:
        raise UserInputError(f'{file} line {number} is empty; write one class name per line, line i for class i')
    return _checked_class_names(names, file, masks=True)

  def _checked_pairs(self, split_dir: str) -> list[tuple[str, str]]:
    """(image, mask) paths of the split, in name order, each pair checked."""
    folders = {kind: os.path.join(split_dir, kind) for kind in ('images', 'masks')}
    for folder in folders.values():
      if not os.path.isdir(folder):
        raise UserInputError(f'{folder} is missing: a split of a mask folder holds images/ and masks/')
    images = {}
    for name in sorted(os.listdir(folders['images'])):
      stem, extension = os.path.splitext(name)
      if extension.lower() in IMAGE_EXTENSIONS:
        if stem in images:
          raise UserInputError(f'{folders["images"]} holds two images named {stem}: {images[stem]} and {name}')
        images[stem] = name
    masks = {os.path.splitext(name)[0] for name in os.listdir(folders['masks']) if name.lower().endswith('.png')}
    if not images and not masks:
      raise UserInputError(f'{split_dir} holds neither images ({", ".join(IMAGE_EXTENSIONS)}) nor masks (.png)')
    orphans = sorted(masks - set(images))
    if orphans:
      raise UserInputError(f'{folders["masks"]}/{orphans[0]}.png has no image {folders["images"]}/{orphans[0]}.png '
                           '(or .jpg, .jpeg, .bmp)')
    pairs = []
    for stem in progress(sorted(images), desc=f'checking {split_dir}', unit=' masks'):
      image, mask = os.path.join(folders['images'], images[stem]), os.path.join(folders['masks'], stem + '.png')
      if stem not in masks:
        raise UserInputError(f'{image} has no mask: write {mask}')
      self._check_mask(mask, image)
      pairs.append((image, mask))
    return pairs

  def _check_mask(self, file: str, image: str) -> None:
    image_size = _image_size(image)
    try:
      with Image.open(file) as mask:
        mode, size = mask.mode, mask.size
        values = np.unique(np.asarray(mask)) if mode in MASK_MODES else None
    except OSError as e:
      raise UserInputError(f'{file} is not a PNG PIL can read ({e})') from e
    if values is None:
      raise UserInputError(f'{file} has PIL mode {mode}; a mask is a single-channel or palette PNG of class indices')
    if size != image_size:
      raise UserInputError(f'{file} is {size[0]}x{size[1]} pixels (width x height), but its image {image} is '
                           f'{image_size[0]}x{image_size[1]}; a mask has its image\'s size')
    bad = [int(v) for v in values if (v < 0 or v >= len(self.class_names)) and v != IGNORE]
    if bad:
      raise UserInputError(f'{file} holds class indices {bad[:5]}, but there are {len(self.class_names)} classes '
                           f'{self.class_names}; use 0 to {len(self.class_names) - 1}, or {IGNORE} to ignore a pixel')

  def fingerprint(self, split: str) -> list | None:
    pairs = self._split(split)
    extra = [self._classes_file] if self._classes_file else []
    return split_cache.files_fingerprint([path for pair in pairs for path in pair] + extra)

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    pairs = self._split(split)
    start, stop = sources.shard_bounds(len(pairs), shard, num_shards)
    images, masks = zip(*pairs[start:stop]) if stop > start else ((), ())

    def load(image, mask):
      mask = tf.numpy_function(_read_mask, [mask], tf.uint8, stateful=False)
      return {'image': _decoded_image(image), 'segmentation': tf.ensure_shape(mask, [None, None, 1])}

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(images, tf.string), tf.constant(masks, tf.string)))
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _require(entry, keys: tuple[str, ...], place: str, what: str) -> None:
  if not isinstance(entry, dict):
    raise UserInputError(f'{place} is not a JSON object; COCO {what} are objects with {", ".join(keys)}')
  missing = [key for key in keys if key not in entry]
  if missing:
    raise UserInputError(f'{place} has no {", ".join(missing)}; COCO {what} need {", ".join(keys)}')


class CocoFolder(_Folder):
  """PATH/<split>/annotations.json (COCO) naming image files in PATH/<split>/images/."""

  def __init__(self, path: str):
    super().__init__(path, 'COCO folder')
    categories_seen = None
    for split in sorted(os.listdir(path)):
      file = os.path.join(path, split, ANNOTATIONS_FILE)
      if os.path.isfile(file):
        categories, examples = self._checked_split(file)
        if categories_seen and categories != categories_seen[0]:
          raise UserInputError(f'{file} lists other categories than {categories_seen[1]}; every split needs the same')
        categories_seen = categories, file
        self._splits[split] = examples
    if not self._splits:
      raise UserInputError(f'COCO folder {path} has no split: write PATH/<split>/{ANNOTATIONS_FILE}, '
                           f'e.g. train/{ANNOTATIONS_FILE}, with the images in train/images/')
    self.class_names = tuple(name for _, name in categories_seen[0])

  @staticmethod
  def _load(file: str) -> dict:
    try:
      with open(file, encoding='utf-8') as f:
        data = json.load(f)
    except json.JSONDecodeError as e:
      raise UserInputError(f'{file} line {e.lineno} column {e.colno} is not valid JSON ({e.msg})') from e
    _require(data, ('images', 'annotations', 'categories'), file, 'annotation files')
    for key in ('images', 'annotations', 'categories'):
      if not isinstance(data[key], list):
        raise UserInputError(f'{file}: "{key}" is not a list')
    return data

  def _checked_split(self, file: str):
    """(categories as sorted (id, name) pairs, [(image path, boxes [N, 4], labels [N])] in the file's order)."""
    data = self._load(file)
    images_dir = os.path.join(os.path.dirname(file), 'images')
    for index, category in enumerate(data['categories']):
      _require(category, ('id', 'name'), f'{file}: category #{index}', 'categories')
    categories = sorted((category['id'], str(category['name'])) for category in data['categories'])
    ids = [category_id for category_id, _ in categories]
    if not ids:
      raise UserInputError(f'{file} lists no categories')
    if len(set(ids)) < len(ids):
      raise UserInputError(f'{file} lists a category id twice')
    label_of = {category_id: label for label, category_id in enumerate(ids)}

    images = {}
    for index, image in enumerate(data['images']):
      _require(image, ('id', 'file_name', 'width', 'height'), f'{file}: image #{index}', 'images')
      if image['id'] in images:
        raise UserInputError(f'{file}: image id {image["id"]} appears twice')
      if not all(isinstance(image[key], int) and image[key] > 0 for key in ('width', 'height')):
        raise UserInputError(f'{file}: image {image["id"]} has width {image["width"]!r}, height {image["height"]!r}; '
                             'both are whole numbers of pixels')
      images[image['id']] = image
    boxes = {image_id: [] for image_id in images}
    labels = {image_id: [] for image_id in images}
    for index, annotation in enumerate(data['annotations']):
      name = annotation.get('id', f'#{index}') if isinstance(annotation, dict) else f'#{index}'
      place = f'{file}: annotation {name}'
      _require(annotation, ('image_id', 'bbox', 'category_id'), place, 'annotations')
      if annotation.get('iscrowd', 0) == 1:
        continue
      if annotation['image_id'] not in images:
        raise UserInputError(f'{place} is of image id {annotation["image_id"]}, which "images" does not list')
      if annotation['category_id'] not in label_of:
        raise UserInputError(f'{place} has category id {annotation["category_id"]}, which "categories" does not '
                             f'list ({ids})')
      image = images[annotation['image_id']]
      boxes[image['id']].append(self._checked_box(annotation['bbox'], image, place))
      labels[image['id']].append(label_of[annotation['category_id']])

    examples = []
    for image_id, image in progress(images.items(), desc=f'checking {images_dir}', unit=' images'):
      path = os.path.join(images_dir, str(image['file_name']))
      place = f'{file}: image {image_id}'
      if not os.path.isfile(path):
        raise UserInputError(f'{place} names {image["file_name"]}, which is not a file in {images_dir}')
      size = _image_size(path, f' (named by {place})')
      if size != (image['width'], image['height']):
        raise UserInputError(f'{place} says {image["width"]}x{image["height"]} pixels, but {path} is '
                             f'{size[0]}x{size[1]}')
      examples.append((path, np.array(boxes[image_id], np.float32).reshape(-1, 4),
                       np.array(labels[image_id], np.int32)))
    return categories, examples

  @staticmethod
  def _checked_box(bbox, image: dict, place: str) -> list[float]:
    """COCO's [x, y, width, height] in pixels -> (ymin, xmin, ymax, xmax) in [0, 1]."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
      raise UserInputError(f'{place}: bbox {bbox!r} is not [x, y, width, height] in pixels')
    x, y, w, h = bbox
    width, height = image['width'], image['height']
    if w < 0 or h < 0:
      raise UserInputError(f'{place}: bbox {bbox} ([x, y, width, height]) has a negative width or height')
    if min(x, y) < -BOX_SLACK_PX or x + w > width + BOX_SLACK_PX or y + h > height + BOX_SLACK_PX:
      raise UserInputError(f'{place}: bbox {bbox} ([x, y, width, height]) is not inside its image {image["id"]} '
                           f'({width}x{height} pixels)')
    return list(np.clip([y / height, x / width, (y + h) / height, (x + w) / width], 0, 1))

  def fingerprint(self, split: str) -> list | None:
    return split_cache.files_fingerprint([os.path.join(self.path, split, ANNOTATIONS_FILE)] +
                                         [path for path, _, _ in self._split(split)])

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    examples = self._split(split)
    start, stop = sources.shard_bounds(len(examples), shard, num_shards)
    paths, boxes, labels = zip(*examples[start:stop]) if stop > start else ((), (), ())
    lengths = [len(b) for b in labels]
    ds = tf.data.Dataset.from_tensor_slices((
        tf.constant(paths, tf.string),
        tf.RaggedTensor.from_row_lengths(np.concatenate(boxes or [np.zeros((0, 4), np.float32)]), lengths),
        tf.RaggedTensor.from_row_lengths(np.concatenate(labels or [np.zeros(0, np.int32)]), lengths)))

    def load(path, boxes, labels):
      return {'image': _decoded_image(path), 'boxes': boxes, 'labels': labels}

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_dense_source(data_config: Any, kind: str):
  """The source of `kind` ('segmentation' | 'detection') that a config's `data` block names.

  Reads data.source ('tfds'), name, data_dir, path, class_names, mask_key, mask_map, boxes_key,
  labels_key; any may be left out.
  """
  if kind not in KINDS:
    raise ValueError(f'kind {kind!r} is not one of {KINDS}')
  source = data_config.get('source', 'tfds')
  class_names = tuple(data_config.get('class_names', ()) or ())
  if source in ('tfds', 'tfds_dir'):
    tfds_source = sources.make_source(data_config)
    if kind == 'segmentation':
      return TfdsSegmentation(tfds_source, data_config.get('mask_key', 'segmentation'),
                              tuple(data_config.get('mask_map', ()) or ()), class_names)
    return TfdsDetection(tfds_source, data_config.get('boxes_key', 'objects/bbox'),
                         data_config.get('labels_key', 'objects/label'), class_names)
  if source == 'mask_folder':
    if kind != 'segmentation':
      raise UserInputError('data.source=mask_folder holds masks, not boxes; for detection use coco_folder or a '
                           'TFDS dataset with boxes')
    return MaskFolder(data_config.get('path', ''), class_names)
  if source == 'coco_folder':
    if kind != 'detection':
      raise UserInputError('data.source=coco_folder holds boxes, not masks; for segmentation use mask_folder or a '
                           'TFDS dataset with masks')
    if class_names:
      raise UserInputError('data.source=coco_folder names its classes by the categories of annotations.json; leave '
                           'data.class_names empty')
    return CocoFolder(data_config.get('path', ''))
  raise UserInputError(f'unknown data.source {source!r} for {kind}; choose one of {", ".join(SOURCES)}')
