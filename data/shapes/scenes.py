"""Renders one scene of the `shapes/scenes` dataset: up to a few shapes per image, for segmentation
and detection, with numpy alone (no TFDS needed).

A scene holds 0..max_objects shapes of the single-shape set's classes, colours and outlines
(render.py), each at a random place, on a plain or noisy background. Objects are painted in order,
later ones over earlier ones, and every example says which pixel shows what: a class per pixel, an
object per pixel, each object's classes and the tight box of its visible pixels, and a caption.
`render_scene` is pure: the same `np.random.Generator` state gives the same bytes.

Overlap is allowed but bounded, so that every object stays recognisable and its box meaningful:
an object is placed only where every object painted before it keeps at least MIN_VISIBLE of its
own pixels; overlapping objects (their circumscribed circles intersect) differ in colour, so their
common edge shows; and every object colour is at least render.MIN_CONTRAST from the background's.

Coordinates follow render.py: (y, x) in [0, 1], y down; every shape lies inside its
circumscribed circle, and every circle inside the image.
"""

import dataclasses

import numpy as np

from data.shapes import render

# Radius range as a fraction of the image side, split into thirds for small/medium/large. The
# minimum is the pixel radius of the single-shape set's smallest shapes at 32x32 (5 px at 64x64),
# which render.py keeps distinguishable; the maximum lets five large shapes cover at most
# 5 * pi * 0.2^2 = 63% of the image, so a place that hides little of the others is quick to find.
SCALE_RANGE = (0.08, 0.2)
# The least fraction of an object's own pixels (its mask, drawn alone) that later objects leave
# visible.
MIN_VISIBLE = 0.6
PLACEMENT_TRIES = 8  # Random places tried for an object before the scene goes without it.
CAPTION_EMPTY = 'an empty scene'
# How the caption chains objects in reading order: each clause relates an object to the next.
CAPTION_LINK = ', which is '
RELATIONS = ('left of', 'right of', 'above', 'below')  # What relation() says.


@dataclasses.dataclass(frozen=True)
class SceneObject:
  """One shape of a scene: class indices into render's lists, geometry, colour and alone-coverage."""
  label: int
  color: int
  size: int
  center: np.ndarray | None  # (y, x); None until placed.
  scale: float  # Radius of the circumscribed circle / image side.
  rotation: float
  rgb: np.ndarray  # The named colour with its jitter.
  coverage: np.ndarray | None  # float [S, S]: render.shape_coverage of the object alone, once placed.


def _draw_object(rng):
  """A random object not yet placed: its classes, radius, rotation and colour."""
  label = int(rng.integers(len(render.SHAPES)))
  color = int(rng.integers(len(render.COLOR_NAMES)))
  size = int(rng.integers(len(render.SIZES)))
  low, high = SCALE_RANGE
  third = (high - low) / len(render.SIZES)
  scale = rng.uniform(low + size * third, low + (size + 1) * third)
  rotation = 0.0 if render.SHAPES[label] == 'circle' else rng.uniform(-render.MAX_ROTATION, render.MAX_ROTATION)
  rgb = np.clip(np.array(render.COLORS[render.COLOR_NAMES[color]]) +
                rng.integers(-render.COLOR_JITTER, render.COLOR_JITTER + 1, size=3), 0, 255)
  return SceneObject(label, color, size, None, scale, rotation, rgb, None)


def _placed(rng, obj, image_size):
  """`obj` at a random place where its circle fits in the image."""
  center = rng.uniform(obj.scale, 1 - obj.scale, size=2)
  coverage = render.shape_coverage(render.SHAPES[obj.label], image_size, center, obj.scale, obj.rotation)
  return dataclasses.replace(obj, center=center, coverage=coverage)


def visible_coverage(objects):
  """float [N, S, S]: how much of each pixel shows each object once all are painted in order.

  Painting object j blends its colour over what is there by its coverage c_j, so object i shows
  through the later ones with weight coverage_i * prod_{j > i} (1 - c_j).
  """
  visible = np.stack([o.coverage for o in objects])
  for j in range(1, len(objects)):
    visible[:j] *= 1 - objects[j].coverage
  return visible


def instance_map(objects, image_size):
  """int [S, S]: 0 for background, i + 1 where object i shows on at least half of the pixel.

  The rule of render.py's mask, applied to what is visible; on a tie the later object wins.
  """
  instances = np.zeros((image_size, image_size), dtype=np.int64)
  if objects:
    for i, visible in enumerate(visible_coverage(objects)):
      instances[visible >= 0.5] = i + 1
  return instances


def _visible_enough(objects, instances):
  return all(np.sum(instances == i + 1) >= MIN_VISIBLE * np.sum(o.coverage >= 0.5)
             for i, o in enumerate(objects))


def _overlaps_same_color(new, objects):
  return any(o.color == new.color and np.linalg.norm(o.center - new.center) < o.scale + new.scale
             for o in objects)


def place_objects(rng, image_size=64, max_objects=5):
  """The objects of a random scene in painting order: 0..max_objects drawn uniformly, each tried at
  PLACEMENT_TRIES random places and left out if none keeps the overlap rules (module docstring)."""
  objects = []
  for _ in range(rng.integers(max_objects + 1)):
    unplaced = _draw_object(rng)
    for _ in range(PLACEMENT_TRIES):
      candidate = _placed(rng, unplaced, image_size)
      scene = objects + [candidate]
      if not _overlaps_same_color(candidate, objects) and _visible_enough(scene, instance_map(scene, image_size)):
        objects = scene
        break
  return objects


def _background_color(rng, colors):
  """A dark-ish or light-ish colour at least MIN_CONTRAST from every one of `colors` [N, 3].

  Rejection sampling as render._contrasting_color: every named colour is far enough from black,
  so the dark family always has room near it.
  """
  while True:
    low = 0 if rng.random() < 0.5 else 255 - render.BACKGROUND_SPREAD
    candidate = rng.integers(low, low + render.BACKGROUND_SPREAD + 1, size=3)
    if np.all(np.linalg.norm(candidate - colors, axis=-1) >= render.MIN_CONTRAST):
      return candidate


def _article(word):
  return 'an' if word[0] in 'aeiou' else 'a'


def _cell(center):
  """Index into render.POSITIONS of the 3x3 grid cell holding `center`."""
  row, col = np.minimum((center * 3).astype(int), 2)
  return 3 * row + col


def relation(a, b):
  """Where centre `a` lies from centre `b`, along the axis of the larger displacement."""
  dy, dx = a - b
  if abs(dx) >= abs(dy):
    return 'left of' if dx < 0 else 'right of'
  return 'above' if dy < 0 else 'below'


def caption(objects):
  """English for the scene. One object: size, colour, shape and grid cell, as the single-shape set
  ("a small red circle in the top left"). More: colour and shape of each in reading order (rows of
  the 3x3 grid top to bottom, then left to right), each related to the next one
  ("a red circle left of a blue square, which is above a green star")."""
  if not objects:
    return CAPTION_EMPTY
  if len(objects) == 1:
    (o,) = objects
    return (f'a {render.SIZES[o.size]} {render.COLOR_NAMES[o.color]} {render.SHAPES[o.label]} '
            f'{render.POSITION_PHRASES[render.POSITIONS[_cell(o.center)]]}')
  ordered = sorted(objects, key=lambda o: (_cell(o.center) // 3, o.center[1], o.center[0]))
  names = [f'{_article(render.COLOR_NAMES[o.color])} {render.COLOR_NAMES[o.color]} {render.SHAPES[o.label]}'
           for o in ordered]
  clauses = [f'{relation(a.center, b.center)} {name}' for a, b, name in zip(ordered, ordered[1:], names[1:])]
  return names[0] + ' ' + CAPTION_LINK.join(clauses)


def render_scene(rng, image_size=64, max_objects=5):
  """Renders one random scene.

  Args:
    rng: np.random.Generator, the only source of randomness.
    image_size: S, the side of the square image in pixels.
    max_objects: the most objects a scene holds.

  Returns:
    A dict with the `shapes/scenes` features: `image` uint8 [S, S, 3]; `segmentation` uint8
    [S, S, 1], 0 for background and k + 1 for render.SHAPES[k]; `instances` uint8 [S, S, 1], 0 for
    background and i + 1 for object i (painting order); `objects`, a dict of per-object arrays in
    painting order: `label`, `color`, `size` (int64 [N], indices into render's SHAPES, COLOR_NAMES,
    SIZES) and `bbox` (float32 [N, 4], render.tight_bbox of the object's visible pixels); `caption`.
  """
  objects = place_objects(rng, image_size, max_objects)
  background = int(rng.integers(len(render.BACKGROUNDS)))
  base = _background_color(rng, np.array([o.rgb for o in objects]).reshape(-1, 3))
  image = np.broadcast_to(base, (image_size, image_size, 3)).astype(float)
  if render.BACKGROUNDS[background] == 'noisy':
    image = np.clip(image + rng.normal(0.0, render.NOISE_STD, image.shape), 0, 255)
  for o in objects:
    coverage = o.coverage[..., None]
    image = coverage * o.rgb + (1 - coverage) * image
  instances = instance_map(objects, image_size)
  labels = np.array([0] + [o.label + 1 for o in objects])
  return {
      'image': np.round(image).astype(np.uint8),
      'segmentation': labels[instances].astype(np.uint8)[..., None],
      'instances': instances.astype(np.uint8)[..., None],
      'objects': {
          'label': np.array([o.label for o in objects], dtype=np.int64),
          'color': np.array([o.color for o in objects], dtype=np.int64),
          'size': np.array([o.size for o in objects], dtype=np.int64),
          'bbox': np.array([render.tight_bbox(instances == i + 1) for i in range(len(objects))],
                           dtype=np.float32).reshape(-1, 4),
      },
      'caption': caption(objects),
  }
