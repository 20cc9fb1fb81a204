"""Tests of data/dense.py: segmentation and detection sources from TFDS, a mask folder and a COCO folder."""

import json
import os
import re

import chex
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import data.shapes.builder  # noqa: F401  # registers the builder
from data import dense
from data.errors import UserInputError
from data.shapes import render

CLASSES = ('background', 'cat', 'dog')


def _config(**values):
  return ml_collections.ConfigDict(values)


def _read(source, split, shard=0, num_shards=1):
  return list(source.read(split, shard, num_shards).as_numpy_iterator())


def _save(array, path):
  """A uint8 array as an image file: [H, W] grey levels (a mask), [H, W, 3] RGB."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def _save_palette(indices, path):
  """A uint8 [H, W] array of indices as a palette PNG."""
  image = Image.frombytes('P', indices.shape[::-1], indices.tobytes())
  image.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [255, 255, 255] * 253)  # 255 included: ignore
  image.save(path)


# A mask folder: name -> (image file extension, height, width, mask saved as a palette PNG).
MASK_EXAMPLES = {'a': ('.png', 6, 5, False), 'b': ('.jpg', 4, 7, True), 'c': ('.bmp', 3, 3, False)}


@pytest.fixture
def mask_folder(tmp_path):
  """PATH with classes.txt and train/ of MASK_EXAMPLES; returns (path, {name: (image, mask)})."""
  rng = np.random.default_rng(0)
  written = {}
  for name, (extension, height, width, palette) in MASK_EXAMPLES.items():
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = rng.choice(np.array([0, 1, 2, 255], np.uint8), (height, width))
    _save(image, tmp_path / 'train' / 'images' / f'{name}{extension}')
    (_save_palette if palette else _save)(mask, tmp_path / 'train' / 'masks' / f'{name}.png')
    written[name] = image, mask
  (tmp_path / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
  return tmp_path, written


def test_mask_folder_reads_canonical_examples(mask_folder):
  path, written = mask_folder
  source = dense.make_dense_source(_config(source='mask_folder', path=str(path)), 'segmentation')
  assert source.class_names == CLASSES
  assert source.num_examples('train') == 3
  assert source.num_examples('train', 0, 2) + source.num_examples('train', 1, 2) == 3
  examples = _read(source, 'train')
  for example, (name, (image, mask)) in zip(examples, sorted(written.items())):
    assert set(example) == {'image', 'segmentation'}
    chex.assert_type([example['image'], example['segmentation']], np.uint8)
    chex.assert_shape(example['segmentation'], image.shape[:2] + (1,))
    np.testing.assert_array_equal(example['segmentation'][..., 0], mask, err_msg=name)
    if MASK_EXAMPLES[name][0] == '.jpg':
      chex.assert_shape(example['image'], image.shape)  # lossy: the size only
    else:
      np.testing.assert_array_equal(example['image'], image, err_msg=name)
  # Contiguous shards in the same order.
  tail = _read(source, 'train', 1, 2)
  np.testing.assert_array_equal(tail[-1]['segmentation'], examples[-1]['segmentation'])
  assert len(tail) == source.num_examples('train', 1, 2)
  assert source.fingerprint('train') is not None


def test_mask_folder_class_names_from_the_config(mask_folder):
  path, _ = mask_folder
  os.remove(path / 'classes.txt')
  with pytest.raises(UserInputError, match='classes.txt'):
    dense.make_dense_source(_config(source='mask_folder', path=str(path)), 'segmentation')
  source = dense.make_dense_source(_config(source='mask_folder', path=str(path), class_names=('x', 'y', 'z')),
                                   'segmentation')
  assert source.class_names == ('x', 'y', 'z')


def _broken_mask_folder(path, case):
  """Breaks the folder one way; returns the file the error must name."""
  train = path / 'train'
  if case == 'missing mask':
    os.remove(train / 'masks' / 'b.png')
    return train / 'images' / 'b.jpg'
  if case == 'missing image':
    _save(np.zeros((2, 2), np.uint8), (train / 'masks' / 'z.png'))
    return train / 'masks' / 'z.png'
  if case == 'mask of another size':
    _save(np.zeros((6, 6), np.uint8), (train / 'masks' / 'a.png'))
    return train / 'masks' / 'a.png'
  if case == 'class index too large':
    _save(np.full((3, 3), 3, np.uint8), (train / 'masks' / 'c.png'))
    return train / 'masks' / 'c.png'
  if case == 'RGB mask':
    _save(np.zeros((6, 5, 3), np.uint8), (train / 'masks' / 'a.png'))
    return train / 'masks' / 'a.png'
  if case == 'unreadable image':
    (train / 'images' / 'a.png').write_bytes(b'not a png')
    return train / 'images' / 'a.png'
  if case == 'empty line in classes.txt':
    (path / 'classes.txt').write_text('background\n\ndog\n')
    return path / 'classes.txt'
  assert case == 'empty split'
  os.makedirs(path / 'test' / 'images')
  os.makedirs(path / 'test' / 'masks')
  return path / 'test'


@pytest.mark.parametrize('case', ['missing mask', 'missing image', 'mask of another size', 'class index too large',
                                  'RGB mask', 'unreadable image', 'empty line in classes.txt', 'empty split'])
def test_mask_folder_rejects_bad_input_naming_the_file(mask_folder, case):
  path, _ = mask_folder
  file = _broken_mask_folder(path, case)
  with pytest.raises(UserInputError, match=re.escape(str(file))):
    dense.make_dense_source(_config(source='mask_folder', path=str(path)), 'segmentation')


def _coco(tmp_path, split='train'):
  """A COCO folder: two images, category ids 3 and 7, a crowd annotation, an image without boxes."""
  images_dir = tmp_path / split / 'images'
  for name, (height, width) in {'one.png': (40, 50), 'two.jpg': (30, 20)}.items():
    _save(np.full((height, width, 3), 128, np.uint8), images_dir / name)
  annotations = {
      'images': [{'id': 10, 'file_name': 'one.png', 'width': 50, 'height': 40},
                 {'id': 11, 'file_name': 'two.jpg', 'width': 20, 'height': 30}],
      'annotations': [
          {'id': 1, 'image_id': 10, 'bbox': [5, 4, 20, 10], 'category_id': 7},
          {'id': 2, 'image_id': 10, 'bbox': [0, 0, 50.5, 40], 'category_id': 3, 'iscrowd': 0},
          {'id': 3, 'image_id': 10, 'bbox': [1, 1, 2, 2], 'category_id': 3, 'iscrowd': 1},
      ],
      'categories': [{'id': 7, 'name': 'dog'}, {'id': 3, 'name': 'cat'}],
  }
  return annotations


def _write_coco(tmp_path, annotations, split='train'):
  file = tmp_path / split / 'annotations.json'
  file.write_text(json.dumps(annotations, indent=1))
  return file


def test_coco_folder_reads_canonical_examples(tmp_path):
  _write_coco(tmp_path, _coco(tmp_path))
  source = dense.make_dense_source(_config(source='coco_folder', path=str(tmp_path)), 'detection')
  assert source.class_names == ('cat', 'dog')  # by category id: 3, 7
  assert source.num_examples('train') == 2
  one, two = _read(source, 'train')
  chex.assert_shape([one['image'], two['image']], [(40, 50, 3), (30, 20, 3)])
  chex.assert_type([one['image'], one['boxes'], one['labels']], [np.uint8, np.float32, np.int32])
  # [x, y, w, h] pixels -> (ymin, xmin, ymax, xmax) in [0, 1], clipped; the crowd box left out.
  np.testing.assert_allclose(one['boxes'], [[4 / 40, 5 / 50, 14 / 40, 25 / 50], [0, 0, 1, 1]], atol=1e-6)
  np.testing.assert_array_equal(one['labels'], [1, 0])
  chex.assert_shape([two['boxes'], two['labels']], [(0, 4), (0,)])
  assert [len(e['labels']) for e in _read(source, 'train', 1, 2)] == [0]


def _broken_coco(tmp_path, case):
  """Writes a COCO folder broken one way; returns (its annotations file, what else the error names)."""
  annotations = _coco(tmp_path)
  first = annotations['annotations'][0]
  if case == 'invalid JSON':
    file = tmp_path / 'train' / 'annotations.json'
    file.write_text('{\n  "images": [],\n  "annotations": [,\n')
    return file, 'line 3'
  if case == 'missing key':
    del annotations['categories']
    return _write_coco(tmp_path, annotations), 'categories'
  if case == 'annotation without bbox':
    del first['bbox']
    return _write_coco(tmp_path, annotations), 'annotation 1'
  if case == 'box outside its image':
    first['bbox'] = [40, 4, 20, 10]  # reaches x = 60 in a 50 pixel wide image
    return _write_coco(tmp_path, annotations), 'annotation 1'
  if case == 'negative size':
    first['bbox'] = [5, 4, -2, 10]
    return _write_coco(tmp_path, annotations), 'annotation 1'
  if case == 'unknown category':
    first['category_id'] = 99
    return _write_coco(tmp_path, annotations), '99'
  if case == 'unknown image':
    first['image_id'] = 12
    return _write_coco(tmp_path, annotations), 'annotation 1'
  if case == 'missing image file':
    os.remove(tmp_path / 'train' / 'images' / 'two.jpg')
    return _write_coco(tmp_path, annotations), 'two.jpg'
  assert case == 'image of another size'
  annotations['images'][1]['width'] = 21
  return _write_coco(tmp_path, annotations), 'image 11'


@pytest.mark.parametrize('case', ['invalid JSON', 'missing key', 'annotation without bbox', 'box outside its image',
                                  'negative size', 'unknown category', 'unknown image', 'missing image file',
                                  'image of another size'])
def test_coco_folder_rejects_bad_input_naming_the_file(tmp_path, case):
  file, detail = _broken_coco(tmp_path, case)
  with pytest.raises(UserInputError, match=re.escape(str(file))) as error:
    dense.make_dense_source(_config(source='coco_folder', path=str(tmp_path)), 'detection')
  assert detail in str(error.value)


def test_coco_splits_need_the_same_categories(tmp_path):
  _write_coco(tmp_path, _coco(tmp_path))
  other = _coco(tmp_path, 'test')
  other['categories'][0]['name'] = 'wolf'
  file = _write_coco(tmp_path, other, 'test')
  with pytest.raises(UserInputError, match=re.escape(str(file))):
    dense.make_dense_source(_config(source='coco_folder', path=str(tmp_path)), 'detection')


@pytest.fixture(scope='module')
def scenes_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  tfds.builder('shapes/scenes', data_dir=data_dir, num_train=8, num_test=6).download_and_prepare()
  return data_dir


def _stored(data_dir, split):
  builder = tfds.builder('shapes/scenes', data_dir=data_dir)
  return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def _tfds_config(data_dir, **values):
  return _config(source='tfds', name='shapes/scenes', data_dir=data_dir, **values)


def test_tfds_scenes_for_segmentation(scenes_dir):
  source = dense.make_dense_source(_tfds_config(scenes_dir), 'segmentation')
  assert source.class_names == ('background', *render.SHAPES)
  assert source.num_examples('test') == 6 and source.num_examples('test', 1, 2) == 3
  examples = _read(source, 'test')
  for example, stored in zip(examples, _stored(scenes_dir, 'test')):
    assert set(example) == {'image', 'segmentation'}
    chex.assert_type([example['image'], example['segmentation']], np.uint8)
    chex.assert_trees_all_equal(example, {'image': stored['image'], 'segmentation': stored['segmentation']})
  chex.assert_trees_all_equal(_read(source, 'test', 1, 2), examples[3:])


def test_tfds_scenes_for_detection(scenes_dir):
  source = dense.make_dense_source(_tfds_config(scenes_dir), 'detection')
  assert source.class_names == render.SHAPES
  for example, stored in zip(_read(source, 'train'), _stored(scenes_dir, 'train')):
    count = len(stored['objects']['label'])
    chex.assert_shape([example['image'], example['boxes'], example['labels']], [(64, 64, 3), (count, 4), (count,)])
    chex.assert_type([example['image'], example['boxes'], example['labels']], [np.uint8, np.float32, np.int32])
    np.testing.assert_array_equal(example['boxes'], stored['objects']['bbox'])
    np.testing.assert_array_equal(example['labels'], stored['objects']['label'])


def test_mask_map_turns_stored_values_into_classes(scenes_dir):
  # Background stays 0, circles (stored 1) are ignored, the other shapes become class 1.
  mask_map = (0, 255) + (1,) * (len(render.SHAPES) - 1)
  config = _tfds_config(scenes_dir, mask_map=mask_map, class_names=('background', 'shape'))
  source = dense.make_dense_source(config, 'segmentation')
  assert source.class_names == ('background', 'shape')
  for example, stored in zip(_read(source, 'test'), _stored(scenes_dir, 'test')):
    np.testing.assert_array_equal(example['segmentation'], np.array(mask_map, np.uint8)[stored['segmentation']])


@pytest.mark.parametrize('values, kind, message', [
    ({'mask_key': 'instances'}, 'segmentation', 'data.class_names'),  # an Image, not a LabeledImage
    ({'mask_key': 'masks'}, 'segmentation', "no feature 'masks'.*objects/bbox"),
    ({'mask_map': (0, 9)}, 'segmentation', r'data.mask_map \(0, 9\)'),
    ({'boxes_key': 'objects/box'}, 'detection', "no feature 'objects/box'"),
    ({'labels_key': 'caption'}, 'detection', 'data.class_names'),
])
def test_tfds_configuration_errors(scenes_dir, values, kind, message):
  with pytest.raises(UserInputError, match=message):
    dense.make_dense_source(_tfds_config(scenes_dir, **values), kind)


@pytest.mark.parametrize('source, kind, message', [
    ('mask_folder', 'detection', 'coco_folder'),
    ('coco_folder', 'segmentation', 'mask_folder'),
    ('csv', 'segmentation', 'tfds, tfds_dir, mask_folder, coco_folder'),
])
def test_source_and_kind_must_fit(tmp_path, source, kind, message):
  with pytest.raises(UserInputError, match=message):
    dense.make_dense_source(_config(source=source, path=str(tmp_path)), kind)
