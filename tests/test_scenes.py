"""Tests of the multi-object `shapes/scenes` config and of its renderer."""

import itertools
import re

import chex
import numpy as np
import pytest
import tensorflow_datasets as tfds

import data.shapes.builder  # noqa: F401  # registers the builder
from data.shapes import render, scenes

NUM = {'num_train': 40, 'num_test': 10}


def _examples(builder, split):
  return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def _rendered(render_fn, split_index, count):
  """Example i of split s is rendered from seed [config seed 0, s, i]; TFDS stores them shuffled, so
  they are looked up by their image."""
  examples = [render_fn(np.random.default_rng([0, split_index, index])) for index in range(count)]
  return {example['image'].tobytes(): example for example in examples}


def _assert_same(stored, rendered):
  assert stored['caption'].decode() == rendered['caption']
  chex.assert_trees_all_equal({k: v for k, v in stored.items() if k != 'caption'},
                              {k: v for k, v in rendered.items() if k != 'caption'})


def _build(data_dir, name='shapes/scenes', **num):
  builder = tfds.builder(name, data_dir=data_dir, **(num or NUM))
  builder.download_and_prepare()
  return builder


@pytest.fixture(scope='module')
def scenes_builder(tmp_path_factory):
  return _build(tmp_path_factory.mktemp('scenes'))


@pytest.fixture(scope='module')
def train(scenes_builder):
  return _examples(scenes_builder, 'train')


def _objects(example):
  """Per-object dicts out of the example's sequence of objects."""
  objects = example['objects']
  return [dict(zip(objects, values)) for values in zip(*objects.values())]


def test_features_and_supervised_keys(scenes_builder, train):
  info = scenes_builder.info
  assert info.supervised_keys == ('image', 'segmentation')
  assert info.features['segmentation'].names == ['background', *render.SHAPES]
  assert info.features['objects']['label'].names == list(render.SHAPES)
  assert info.features['objects']['color'].names == list(render.COLOR_NAMES)
  assert info.features['objects']['size'].names == list(render.SIZES)
  for example in train:
    count = len(example['objects']['label'])
    chex.assert_shape([example['image'], example['segmentation'], example['instances']],
                      [(64, 64, 3), (64, 64, 1), (64, 64, 1)])
    chex.assert_type([example['image'], example['segmentation'], example['instances']], np.uint8)
    chex.assert_shape(example['objects']['bbox'], (count, 4))
    assert example['objects']['bbox'].dtype == np.float32


def test_builds_are_identical_and_are_render_scene(tmp_path, scenes_builder):
  def record_bytes(builder):
    return [file.read_bytes() for file in sorted(builder.data_path.glob('*.tfrecord*'))]

  first, again = _build(tmp_path / 'first'), _build(tmp_path / 'again')
  assert record_bytes(first) == record_bytes(again) == record_bytes(scenes_builder)
  for split_index, split in enumerate(('train', 'test')):
    rendered = _rendered(scenes.render_scene, split_index, NUM[f'num_{split}'])
    for stored in _examples(first, split):
      _assert_same(stored, rendered[stored['image'].tobytes()])


def test_masks_instances_and_boxes_agree(train):
  for example in train:
    instances, segmentation = example['instances'][..., 0], example['segmentation'][..., 0]
    objects = _objects(example)
    assert instances.max() <= len(objects)
    np.testing.assert_array_equal(segmentation[instances == 0], 0)
    for i, obj in enumerate(objects):
      visible = instances == i + 1
      assert visible.any()
      np.testing.assert_array_equal(segmentation[visible], obj['label'] + 1)
      np.testing.assert_allclose(obj['bbox'], render.tight_bbox(visible), atol=1e-6)


def _scenes(count=60):
  """(example, its objects with their geometry) of `count` scenes: render_scene places the objects
  first, so place_objects on the same seed gives them."""
  for index in range(count):
    yield (scenes.render_scene(np.random.default_rng([0, 0, index])),
           scenes.place_objects(np.random.default_rng([0, 0, index])))


def test_overlap_rules_hold():
  """Every object keeps MIN_VISIBLE of its pixels, overlapping objects differ in colour, and every
  colour stands out from the background."""
  plain = 0
  for example, objects in _scenes():
    instances = example['instances'][..., 0]
    for i, obj in enumerate(objects):
      own = np.sum(obj.coverage >= 0.5)
      assert np.sum(instances == i + 1) >= scenes.MIN_VISIBLE * own
      for other in objects[:i]:
        if np.linalg.norm(obj.center - other.center) < obj.scale + other.scale:
          assert obj.color != other.color
    untouched = sum((o.coverage for o in objects), np.zeros((64, 64))) == 0
    background = example['image'][untouched].astype(float)
    if objects and np.all(background == background[0]):  # a plain background: its base colour
      assert min(np.linalg.norm(o.rgb - background[0]) for o in objects) >= render.MIN_CONTRAST
      plain += 1
  assert plain > 10


def test_object_counts_span_zero_to_five(train):
  counts = {len(example['objects']['label']) for example in train}
  assert counts == set(range(6))


def _parse_multi(caption):
  """((colour, shape) of each object in caption order, relations between neighbours)."""
  name = r'an? (\w+) (\w+)'
  relation = '|'.join(scenes.RELATIONS)
  first, *rest = caption.split(scenes.CAPTION_LINK)
  match = re.fullmatch(f'{name} ({relation}) {name}', first)
  assert match, caption
  names, relations = [match.group(1, 2), match.group(4, 5)], [match.group(3)]
  for clause in rest:
    match = re.fullmatch(f'({relation}) {name}', clause)
    assert match, caption
    relations.append(match.group(1))
    names.append(match.group(2, 3))
  return names, relations


def test_captions_name_every_object_and_relate_them():
  for example, objects in _scenes():
    caption = example['caption']
    described = sorted((render.COLOR_NAMES[o.color], render.SHAPES[o.label]) for o in objects)
    for color, shape in described:
      assert f'{color} {shape}' in caption
    if not objects:
      assert caption == scenes.CAPTION_EMPTY
    elif len(objects) == 1:
      (o,) = objects
      row, col = np.minimum((o.center * 3).astype(int), 2)
      where = render.POSITION_PHRASES[render.POSITIONS[3 * row + col]]
      assert caption == f'a {render.SIZES[o.size]} {described[0][0]} {described[0][1]} {where}'
    else:
      names, relations = _parse_multi(caption)
      assert sorted(names) == described
      ordered = sorted(objects, key=lambda o: (min(int(o.center[0] * 3), 2), o.center[1], o.center[0]))
      assert relations == [scenes.relation(a.center, b.center) for a, b in itertools.pairwise(ordered)]


def test_relation_follows_the_larger_displacement():
  assert scenes.relation(np.array([0.5, 0.1]), np.array([0.4, 0.6])) == 'left of'
  assert scenes.relation(np.array([0.5, 0.9]), np.array([0.4, 0.6])) == 'right of'
  assert scenes.relation(np.array([0.1, 0.5]), np.array([0.6, 0.4])) == 'above'
  assert scenes.relation(np.array([0.9, 0.5]), np.array([0.6, 0.4])) == 'below'


@pytest.mark.parametrize('name, side', [('shapes', 32), ('shapes/64', 64)])
def test_single_shape_configs_are_unchanged(tmp_path, name, side):
  builder = _build(tmp_path, name, num_train=3, num_test=3)
  assert builder.info.supervised_keys == ('image', 'label')
  assert 'segmentation' not in builder.info.features
  rendered = _rendered(lambda rng: render.render_example(rng, side), 1, 3)
  for stored in _examples(builder, 'test'):
    _assert_same(stored, rendered[stored['image'].tobytes()])
