"""Images with captions, for CLIP and text-to-image, from a TFDS set, a folder with a captions
file, or a folder of class subfolders whose class names fill a caption template.

Every source has `attributes` ({name: class names}: what zero-shot classification and the
faithfulness of generated images are measured on; none for a captions file) and
`split(name) -> Captioned`, the whole split in memory: uint8 RGB images resized to `image_size`,
their captions and the class index of each attribute. Layouts:

  tfds:           a TFDS set with an image feature and a text feature (`caption_key`; a nested
                  key such as coco_captions' 'captions/text' takes each image's first caption),
                  and the ClassLabel features named in `attribute_keys` ('shapes': the shape
                  'label', 'color', 'size', 'position')
  tfds_dir:       the same, prepared elsewhere and read from its version folder
  caption_folder: PATH/<split>/captions.tsv (a header row naming the columns `file` and
                  `caption`) or PATH/<split>/captions.jsonl ({"file": ..., "caption": ...} per
                  line), the image files beside it
  image_folder:   PATH/<split>/<class>/*.png (data.sources.ImageFolderSource), captioned by
                  `caption_template`, e.g. 'a photo of a {}'; the class is attribute 'label'
"""

import csv
import dataclasses
import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

from data import sources
from data.errors import UserInputError
from data.pipeline import numpy_iterator, progress

CAPTION_FILES = ('captions.tsv', 'captions.jsonl')


@dataclasses.dataclass(frozen=True)
class Captioned:
  images: np.ndarray  # uint8 [N, H, W, 3]
  captions: list[str]
  labels: dict[str, np.ndarray]  # attribute -> int32 [N], indices into the source's attributes[name]


def showing(combinations, attributes: dict[str, list[str]], labels: dict[str, np.ndarray]) -> np.ndarray:
  """bool [N]: the examples showing any of `combinations`, each 'attribute=value[,attribute=value...]'
  (e.g. 'color=green,label=triangle': every green triangle), the compositional split's unseen part."""
  count = len(next(iter(labels.values()))) if labels else 0
  shown = np.zeros(count, bool)
  for combination in combinations:
    match = np.ones(count, bool)
    for term in combination.split(','):
      name, _, value = (part.strip() for part in term.partition('='))
      if name not in attributes or value not in attributes[name]:
        raise UserInputError(f'data.unseen {combination!r}: {term.strip()!r} is not attribute=value; the '
                             f'attributes and values are {attributes}')
      match &= labels[name] == attributes[name].index(value)
    shown |= match
  return shown


def _rgb_resized(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
  image = tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image
  if tuple(image.shape[:2]) != tuple(size):
    image = tf.cast(tf.round(tf.clip_by_value(tf.image.resize(image, size, antialias=True), 0, 255)), tf.uint8)
  return image


def _in_memory(ds: tf.data.Dataset, count: int, desc: str) -> dict[str, np.ndarray]:
  """A dataset of fixed-shape examples -> one numpy array per field, read in chunks."""
  chunks = []
  with progress(total=count, desc=desc, unit=' images') as bar:
    for chunk in numpy_iterator(ds.batch(512).prefetch(2)):
      chunks.append(chunk)
      bar.update(len(next(iter(chunk.values()))))
  if not chunks:
    raise UserInputError(f'{desc}: the split holds no examples')
  return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}


def _decoded_captions(values: np.ndarray, place: str) -> list[str]:
  captions = [v.decode('utf-8', errors='replace') for v in values]
  for i, caption in enumerate(captions):
    if not caption.strip():
      raise UserInputError(f'{place} example {i} has an empty caption')
  return captions


class TfdsCaptions:
  """A TFDS dataset with an image feature, a text feature and optional class-label features."""

  def __init__(self, source, image_key: str, caption_key: str, attribute_keys, image_size):
    self.source, self.image_key, self.caption_key = source, image_key, caption_key
    self.image_size = tuple(image_size)
    features = source.info.features
    for key in (image_key, caption_key.split('/')[0], *attribute_keys):
      if key not in features:
        raise UserInputError(f'dataset {source.name!r} has no feature {key!r}; it has {sorted(features.keys())}')
    for key in attribute_keys:
      if not hasattr(features[key], 'names'):
        raise UserInputError(f'feature {key!r} of {source.name!r} is not a class label; '
                             'data.attribute_keys names class-label features only')
    self.attributes = {key: list(features[key].names) for key in attribute_keys}

  def _example(self, example):
    caption = example
    for part in self.caption_key.split('/'):
      caption = caption[part]
    if caption.shape.rank:  # a sequence of captions per image: the first
      caption = caption[0]
    return {'image': _rgb_resized(example[self.image_key], self.image_size), 'caption': caption,
            **{f'label_{key}': tf.cast(example[key], tf.int32) for key in self.attributes}}

  def split(self, name: str) -> Captioned:
    count = self.source.num_examples(name)  # names the splits if `name` is wrong
    ds = self.source.read(name).map(self._example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    arrays = _in_memory(ds, count, f'reading {self.source.name} {name}')
    return Captioned(arrays['image'], _decoded_captions(arrays['caption'], f'{self.source.name} {name}'),
                     {key: arrays[f'label_{key}'] for key in self.attributes})


def _read_image_files(paths: list[str], size: tuple[int, int], desc: str) -> np.ndarray:
  def load(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return {'image': tf.ensure_shape(_rgb_resized(tf.ensure_shape(image, [None, None, 3]), size), size + (3,))}
  ds = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  try:
    return _in_memory(ds, len(paths), desc)['image']
  except tf.errors.InvalidArgumentError as e:
    raise UserInputError(f'{desc}: an image file cannot be decoded ({e.message.splitlines()[0]}); '
                         'check that every listed file is a PNG, JPEG, BMP or GIF') from e


class CaptionFolder:
  """PATH/<split>/captions.tsv or captions.jsonl, naming image files beside it and their captions."""

  def __init__(self, path: str, image_size):
    if not os.path.isdir(path):
      raise UserInputError(f'caption folder {path} does not exist')
    self.path, self.image_size = path, tuple(image_size)
    self.attributes = {}

  def _rows(self, split_dir: str) -> list[tuple[str, str, str]]:
    """(image path, caption, 'file line N') of each row of the split's captions file."""
    for name in CAPTION_FILES:
      file = os.path.join(split_dir, name)
      if os.path.isfile(file):
        break
    else:
      raise UserInputError(f'{split_dir} has no captions file; write {" or ".join(CAPTION_FILES)} there')
    rows = []
    with open(file, encoding='utf-8', newline='') as f:
      if file.endswith('.tsv'):
        reader = csv.DictReader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
        if not {'file', 'caption'} <= set(reader.fieldnames or []):
          raise UserInputError(f'{file} needs a header row naming the columns file and caption; '
                               f'it has {reader.fieldnames}')
        lines = ((reader.line_num, row) for row in reader)
      else:
        lines = ((number, _json_row(line, f'{file} line {number}'))
                 for number, line in enumerate(f, 1) if line.strip())
      for number, row in lines:
        place = f'{file} line {number}'
        image, caption = (row.get('file') or '').strip(), (row.get('caption') or '').strip()
        if not image or not caption:
          raise UserInputError(f'{place} needs both a file and a caption')
        image_path = os.path.join(split_dir, image)
        if not os.path.isfile(image_path):
          raise UserInputError(f'{place} names {image}, which is not a file in {split_dir}')
        rows.append((image_path, caption, place))
    if not rows:
      raise UserInputError(f'{file} lists no images')
    return rows

  def split(self, name: str) -> Captioned:
    split_dir = os.path.join(self.path, name)
    if not os.path.isdir(split_dir):
      raise UserInputError(f'caption folder {self.path} has no {name}/ subfolder')
    rows = self._rows(split_dir)
    images = _read_image_files([p for p, _, _ in rows], self.image_size, f'reading {split_dir}')
    return Captioned(images, [c for _, c, _ in rows], {})


def _json_row(line: str, place: str) -> dict:
  try:
    row = json.loads(line)
  except json.JSONDecodeError as e:
    raise UserInputError(f'{place} is not valid JSON ({e.msg}); write one {{"file": ..., "caption": ...}} '
                         'object per line') from e
  if not isinstance(row, dict):
    raise UserInputError(f'{place} is not a JSON object; write one {{"file": ..., "caption": ...}} per line')
  return row


class ClassFolderCaptions:
  """An image-class folder whose class names fill a caption template: 'a photo of a {}'."""

  def __init__(self, path: str, image_size, template: str):
    if '{}' not in template:
      raise UserInputError(f'data.caption_template {template!r} has no {{}} where the class name goes')
    self.folder = sources.ImageFolderSource(path, tuple(image_size))
    self.template = template
    self.attributes = {'label': self.folder.class_names}

  def split(self, name: str) -> Captioned:
    count = self.folder.num_examples(name)
    arrays = _in_memory(self.folder.read(name), count, f'reading {self.folder.path}/{name}')
    names = [n.replace('_', ' ') for n in self.folder.class_names]
    return Captioned(arrays['image'], [self.template.format(names[label]) for label in arrays['label']],
                     {'label': arrays['label'].astype(np.int32)})


def make_caption_source(data_config: Any):
  """The source a config's `data` block names: 'tfds' | 'tfds_dir' | 'caption_folder' | 'image_folder'."""
  kind, size = data_config.source, tuple(data_config.image_size)
  if kind in ('tfds', 'tfds_dir'):
    return TfdsCaptions(sources.make_source(data_config), data_config.image_key, data_config.caption_key,
                        tuple(data_config.attribute_keys), size)
  if kind == 'caption_folder':
    return CaptionFolder(data_config.path, size)
  if kind == 'image_folder':
    return ClassFolderCaptions(data_config.path, size, data_config.caption_template)
  raise UserInputError(f"unknown data.source {kind!r}; choose 'tfds', 'tfds_dir', 'caption_folder' or 'image_folder'")
