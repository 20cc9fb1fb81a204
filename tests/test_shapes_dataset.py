"""Tests of the procedural `shapes` TFDS dataset and of its renderer."""

import itertools

import numpy as np
import pytest
import scipy.ndimage
import tensorflow_datasets as tfds

import data.shapes.builder  # noqa: F401  # registers the builder
from data.errors import UserInputError
from data.shapes import render
from data.shapes.builder import ShapesConfig

_CLASS_FIELDS = {
    'label': render.SHAPES, 'color': render.COLOR_NAMES, 'size': render.SIZES,
    'position': render.POSITIONS, 'background': render.BACKGROUNDS,
}


def _load(data_dir, split, **builder_kwargs):
  """The whole split as one dict of numpy arrays."""
  builder = tfds.builder('shapes', data_dir=data_dir, **builder_kwargs)
  builder.download_and_prepare()
  return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))


@pytest.fixture(scope='module')
def test_split(shapes_data_dir):
  return _load(shapes_data_dir, 'test')


@pytest.fixture(scope='module')
def train_split(shapes_data_dir):
  return _load(shapes_data_dir, 'train')


def _examples(split):
  """Per-example dicts out of a dict of batched arrays."""
  return [dict(zip(split, values)) for values in zip(*split.values())]


def test_render_is_a_pure_function_of_the_generator():
  first = render.render_example(np.random.default_rng([0, 5]))
  again = render.render_example(np.random.default_rng([0, 5]))
  other = render.render_example(np.random.default_rng([0, 6]))
  assert first.keys() == again.keys()
  for key in first:
    np.testing.assert_array_equal(first[key], again[key])
  assert not np.array_equal(first['image'], other['image'])


def test_builds_are_byte_identical_and_splits_and_seeds_differ(tmp_path):
  def build(name, seed):
    config = ShapesConfig(name=name, num_train=24, num_test=8, seed=seed)
    builder = tfds.builder('shapes', data_dir=tmp_path / name, config=config)
    builder.download_and_prepare()
    return builder

  def record_bytes(builder):
    files = sorted(builder.data_path.glob('*.tfrecord*'))
    assert len(files) == 2  # One shard per split.
    return [file.read_bytes() for file in files]

  first, again, reseeded = build('tiny', 0), build('tiny_again', 0), build('tiny_reseeded', 1)
  assert record_bytes(first) == record_bytes(again)
  assert record_bytes(first)[0] != record_bytes(reseeded)[0]
  # Train and test come from different seeds: no image appears in both.
  train, test = (tfds.as_numpy(first.as_dataset(split=split, batch_size=-1))
                 for split in ('train', 'test'))
  train_images = {image.tobytes() for image in train['image']}
  assert not any(image.tobytes() in train_images for image in test['image'])


def test_fixture_reads_as_the_default_config(shapes_data_dir):
  builder = tfds.builder('shapes', data_dir=shapes_data_dir)
  assert builder.builder_config.name == '32'
  assert builder.info.splits['train'].num_examples > builder.info.splits['test'].num_examples > 0


@pytest.mark.parametrize('name, side', [('shapes', 32), ('shapes/64', 64)])
def test_every_feature_has_its_shape_and_dtype(tmp_path, name, side):
  builder = tfds.builder(name, data_dir=tmp_path, num_train=4, num_test=4)
  builder.download_and_prepare()
  batch = tfds.as_numpy(builder.as_dataset(split='test', batch_size=-1))
  expected = {
      'image': ((4, side, side, 3), np.uint8), 'mask': ((4, side, side, 1), np.uint8),
      'bbox': ((4, 4), np.float32), 'center': ((4, 2), np.float32),
      'scale': ((4,), np.float32), 'rotation': ((4,), np.float32), 'caption': ((4,), object),
      **{field: ((4,), np.int64) for field in _CLASS_FIELDS},
  }
  assert set(batch) == set(expected)
  for field, (shape, dtype) in expected.items():
    assert batch[field].shape == shape, field
    assert batch[field].dtype == dtype, field
  for field, names in _CLASS_FIELDS.items():
    assert builder.info.features[field].names == list(names)


def test_geometry_is_inside_the_image_and_labels_follow_it(test_split):
  center, scale = test_split['center'], test_split['scale']
  low, high = render.SCALE_RANGE
  assert np.all((scale >= low) & (scale <= high))
  # The circumscribed circle, hence the shape, lies inside the image.
  assert np.all((center - scale[:, None] >= 0) & (center + scale[:, None] <= 1))
  np.testing.assert_array_equal(
      test_split['size'], np.digitize(scale, np.linspace(low, high, 4)[1:-1]))
  rows, cols = np.minimum((center * 3).astype(int), 2).T
  np.testing.assert_array_equal(test_split['position'], 3 * rows + cols)
  is_circle = test_split['label'] == render.SHAPES.index('circle')
  rotation = test_split['rotation']
  assert np.all(rotation[is_circle] == 0)
  assert np.all(np.abs(rotation) <= render.MAX_ROTATION)
  assert np.std(rotation[~is_circle]) > render.MAX_ROTATION / 3  # Rotations do vary.


def test_bbox_is_the_tight_box_of_the_mask_within_the_circle(test_split):
  side = test_split['mask'].shape[1]
  for example in _examples(test_split):
    mask = example['mask'][..., 0]
    assert set(np.unique(mask)) == {0, 1}
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    expected = np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]) / side
    np.testing.assert_allclose(example['bbox'], expected, atol=1e-6)
    # Mask pixels lie within the circumscribed circle (half a pixel's diagonal of slack).
    pixel_y, pixel_x = (np.array(np.nonzero(mask)) + 0.5) / side
    distance = np.hypot(pixel_y - example['center'][0], pixel_x - example['center'][1])
    assert distance.max() <= example['scale'] + 0.75 / side


def test_pixels_match_the_mask_colour_and_background(test_split):
  named_colors = np.array(list(render.COLORS.values()))
  for example in _examples(test_split):
    image = example['image'].astype(float)
    mask = example['mask'][..., 0].astype(bool)
    interior = scipy.ndimage.binary_erosion(mask)
    # Thin tips can leave faint anti-aliasing up to 2 pixels past the mask, in any direction.
    exterior = ~scipy.ndimage.binary_dilation(mask, np.ones((3, 3)), iterations=2)
    shape_rgb = np.median(image[interior], axis=0)
    # The shape is one flat colour (anti-aliasing aside) near its labelled named colour.
    assert np.mean(np.all(image[interior] == shape_rgb, axis=-1)) > 0.8
    assert np.all(np.abs(shape_rgb - named_colors[example['color']]) <= render.COLOR_JITTER)
    assert np.argmin(np.linalg.norm(named_colors - shape_rgb, axis=-1)) == example['color']

    background_rgb = np.median(image[exterior], axis=0)
    assert np.linalg.norm(shape_rgb - background_rgb) > 100  # Clearly visible.
    spread = image[exterior].std(axis=0)
    if render.BACKGROUNDS[example['background']] == 'plain':
      assert np.all(spread == 0)
      # Each pixel blends the two colours; the mask holds those that are mostly shape. Rounding
      # to uint8 moves a pixel up to sqrt(3) / 2 from its blend, so half-covered pixels may
      # end up to sqrt(3) nearer either colour.
      to_shape = np.linalg.norm(image - shape_rgb, axis=-1)
      to_background = np.linalg.norm(image - background_rgb, axis=-1)
      assert np.all(to_shape[mask] <= to_background[mask] + np.sqrt(3))
      assert np.all(to_background[~mask] <= to_shape[~mask] + np.sqrt(3))
    else:
      # Clipping at 0 or 255 shrinks the noise, but never to nothing.
      assert np.all(spread > render.NOISE_STD / 3) and np.all(spread < render.NOISE_STD * 1.5)


def test_classes_are_roughly_balanced(train_split):
  for field, names in _CLASS_FIELDS.items():
    counts = np.bincount(train_split[field], minlength=len(names))
    num, p = counts.sum(), 1 / len(names)
    # Uniform draws: every count within 5 binomial standard deviations of its expectation.
    assert np.all(np.abs(counts - num * p) < 5 * np.sqrt(num * p * (1 - p))), (field, counts)


def test_captions_say_exactly_the_labels(train_split):
  templates_used = set()
  for example in _examples(train_split):
    words = dict(
        size=render.SIZES[example['size']], color=render.COLOR_NAMES[example['color']],
        shape=render.SHAPES[example['label']],
        where=render.POSITION_PHRASES[render.POSITIONS[example['position']]],
        background=render.BACKGROUNDS[example['background']])
    caption = example['caption'].decode()
    matches = [t for t in render.CAPTION_TEMPLATES if t.format(**words) == caption]
    assert matches, caption
    templates_used.update(matches)
  assert templates_used == set(render.CAPTION_TEMPLATES)


def test_position_phrases_are_unambiguous():
  for phrase, other in itertools.permutations(render.POSITION_PHRASES.values(), 2):
    assert other not in phrase


def test_requested_classes_are_rendered_and_unknown_ones_rejected():
  example = render.render_example(
      np.random.default_rng(0), shape='circle', color='red', size='small', position='top left',
      background='plain')
  assert example['caption'] in (
      'a small red circle in the top left', 'there is a small red circle in the top left',
      'a small red circle in the top left on a plain background')
  with pytest.raises(UserInputError, match='hexagon'):
    render.render_example(np.random.default_rng(0), shape='hexagon')


@pytest.mark.parametrize('side', [32, 64])
def test_shapes_differ_even_when_small_and_rotated(side):
  """Masks of any two shapes at the smallest size overlap too little to be confused."""
  masks = {}
  for shape, rotation in itertools.product(render.SHAPES, (-render.MAX_ROTATION, 0.0)):
    coverage = render.shape_coverage(shape, side, np.array([0.5, 0.5]), render.SCALE_RANGE[0],
                                     rotation)
    masks[shape, rotation] = coverage >= 0.5
  for (a, mask_a), (b, mask_b) in itertools.combinations(masks.items(), 2):
    if a[0] != b[0]:
      iou = np.sum(mask_a & mask_b) / np.sum(mask_a | mask_b)
      assert iou < 0.8, (a, b, iou)
