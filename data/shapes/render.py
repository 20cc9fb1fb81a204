"""Renders one example of the `shapes` dataset with numpy alone (no TFDS needed).

An example is one anti-aliased coloured shape on a plain or noisy background, with everything
a downstream task may want to predict: its class names, geometry, mask, box and an English caption.
`render_example` is pure: the same `np.random.Generator` state gives the same bytes.

Geometry conventions: image coordinates are in [0, 1], (y, x), y pointing down, pixel i covering
[i / S, (i + 1) / S]. Every shape is drawn inside its circumscribed circle, of radius `scale` and
centre `center`, so a shape whose circle lies inside the image lies inside the image.
"""

import numpy as np

from data.errors import UserInputError

SHAPES = ('circle', 'square', 'triangle', 'diamond', 'star', 'cross', 'heart', 'crescent')
# Named colours, far enough apart (>= 80 in RGB) to stay nameable after the jitter.
COLORS = {
    'red': (220, 40, 40),
    'green': (40, 180, 60),
    'blue': (40, 80, 230),
    'yellow': (240, 220, 40),
    'magenta': (220, 50, 220),
    'cyan': (40, 220, 230),
    'orange': (250, 140, 30),
    'white': (245, 245, 245),
}
COLOR_NAMES = tuple(COLORS)
SIZES = ('small', 'medium', 'large')
POSITIONS = ('top left', 'top', 'top right', 'left', 'center', 'right', 'bottom left', 'bottom',
             'bottom right')
BACKGROUNDS = ('plain', 'noisy')
# How a caption says where the shape is; no phrase contains another, so captions parse
# unambiguously.
POSITION_PHRASES = {
    'top left': 'in the top left', 'top': 'at the top', 'top right': 'in the top right',
    'left': 'on the left', 'center': 'in the center', 'right': 'on the right',
    'bottom left': 'in the bottom left', 'bottom': 'at the bottom',
    'bottom right': 'in the bottom right',
}
CAPTION_TEMPLATES = (
    'a {size} {color} {shape} {where}',
    'there is a {size} {color} {shape} {where}',
    'a {size} {color} {shape} {where} on a {background} background',
)

# Radius range as a fraction of the image side, split into equal thirds for small/medium/large.
# The minimum (5 px at 32x32) keeps small stars, hearts and squares apart; the maximum stays below
# 1/3 so that even a large shape can have its centre in any cell of the 3x3 position grid.
SCALE_RANGE = (0.16, 0.32)
COLOR_JITTER = 15  # Max per-channel offset from the named RGB value.
# Squares and elongated diamonds stay apart as long as rotations stay well below 45 degrees.
MAX_ROTATION = np.pi / 12
BACKGROUND_SPREAD = 90  # Dark-ish backgrounds have channels in [0, 90], light-ish in [165, 255].
MIN_CONTRAST = 150.0  # Min RGB distance between the shape's and the background's base colours.
NOISE_STD = 20.0  # Per-pixel, per-channel std of the noisy background.
SUPERSAMPLING = 4  # Samples per pixel side for the anti-aliased coverage.


def _regular_polygon(num_vertices, phase=np.pi / 2):
  angles = phase + 2 * np.pi * np.arange(num_vertices) / num_vertices
  return np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def _star(num_points=5, inner_radius=0.45):
  # Fatter than a regular star (0.38) so the arms survive at small sizes.
  angles = np.pi / 2 + np.pi * np.arange(2 * num_points) / num_points
  radii = np.where(np.arange(2 * num_points) % 2 == 0, 1.0, inner_radius)
  return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=-1)


def _cross(half_width=0.3):
  arm = np.sqrt(1 - half_width**2)  # Arm length that puts the arm corners on the unit circle.
  quarter = np.array([(half_width, arm), (half_width, half_width), (arm, half_width)])
  # Each quarter turn clockwise maps (u, v) to (v, -u); four quarters trace the outline in order.
  quarters = [quarter]
  for _ in range(3):
    quarters.append(quarters[-1][:, ::-1] * np.array([1, -1]))
  return np.concatenate(quarters)


# Outlines in a local frame (u right, v up) where the shape's circumscribed circle is the unit
# circle.
_POLYGONS = {
    'square': _regular_polygon(4, phase=np.pi / 4),
    'triangle': _regular_polygon(3),
    'diamond': np.array([(0.0, 1.0), (0.6, 0.0), (0.0, -1.0), (-0.6, 0.0)]),
    'star': _star(),
    'cross': _cross(),
}
# A heart: two overlapping round lobes above the lines from its tip tangent to them. The lobes
# reach 0.99 from the origin, inside the unit circle.
_LOBE_CENTER, _LOBE_RADIUS, _HEART_TIP = np.array([0.43, 0.3]), 0.47, np.array([0.0, -0.95])


def _heart_body():
  """The polygon below the lobes: tip, right tangent point, lobe centres, left tangent point."""
  to_center = _LOBE_CENTER - _HEART_TIP
  distance = np.linalg.norm(to_center)
  # The tangent touches the lobe where it is perpendicular to the radius: turn the tip-to-centre
  # direction clockwise (outwards) by asin(radius / distance) and go sqrt(distance^2 - radius^2).
  angle = -np.arcsin(_LOBE_RADIUS / distance)
  turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  along_tangent = np.sqrt(distance**2 - _LOBE_RADIUS**2)
  tangent_point = _HEART_TIP + along_tangent * turn @ (to_center / distance)
  mirror = np.array([-1.0, 1.0])
  return np.array([_HEART_TIP, tangent_point, _LOBE_CENTER, _LOBE_CENTER * mirror,
                   tangent_point * mirror])


_HEART_BODY = _heart_body()
# A crescent is the unit disc minus an offset disc; their intersections are its horns.
_CRESCENT_BITE_CENTER, _CRESCENT_BITE_RADIUS = 0.5, 0.8


def _inside_polygon(u, v, vertices):
  """Even-odd rule: inside if a ray towards +u crosses the outline an odd number of times."""
  inside = np.zeros(u.shape, dtype=bool)
  for (u0, v0), (u1, v1) in zip(vertices, np.roll(vertices, 1, axis=0)):
    if v0 == v1:  # A horizontal edge is never crossed by a horizontal ray.
      continue
    crosses = (v0 > v) != (v1 > v)
    u_on_edge = u0 + (v - v0) * (u1 - u0) / (v1 - v0)
    inside ^= crosses & (u < u_on_edge)
  return inside


def _inside(shape, u, v):
  """Which local-frame points (u, v) lie inside `shape`."""
  if shape == 'circle':
    return u**2 + v**2 <= 1
  if shape == 'heart':
    in_lobes = (np.abs(u) - _LOBE_CENTER[0])**2 + (v - _LOBE_CENTER[1])**2 <= _LOBE_RADIUS**2
    return in_lobes | _inside_polygon(u, v, _HEART_BODY)
  if shape == 'crescent':
    bitten = (u - _CRESCENT_BITE_CENTER)**2 + v**2 <= _CRESCENT_BITE_RADIUS**2
    return (u**2 + v**2 <= 1) & ~bitten
  return _inside_polygon(u, v, _POLYGONS[shape])


def shape_coverage(shape, image_size, center, scale, rotation):
  """Fraction of each pixel covered by the shape, float [S, S], by supersampling.

  `rotation` turns the shape counter-clockwise as seen on screen.
  """
  coverage = np.zeros((image_size, image_size))
  # Only the pixels under the circumscribed circle's box can be covered: sample those alone.
  first = np.clip(np.floor((center - scale) * image_size).astype(int), 0, image_size)
  last = np.clip(np.ceil((center + scale) * image_size).astype(int), 0, image_size)
  y, x = np.meshgrid(*[(np.arange(a * SUPERSAMPLING, b * SUPERSAMPLING) + 0.5) /
                       (image_size * SUPERSAMPLING) for a, b in zip(first, last)], indexing='ij')
  # Into the local frame: centred, unit radius, v up (image y points down), rotation undone.
  du, dv = (x - center[1]) / scale, (center[0] - y) / scale
  cos, sin = np.cos(rotation), np.sin(rotation)
  u, v = cos * du + sin * dv, cos * dv - sin * du
  height, width = last - first
  samples = _inside(shape, u, v).reshape(height, SUPERSAMPLING, width, SUPERSAMPLING)
  coverage[first[0]:last[0], first[1]:last[1]] = samples.mean(axis=(1, 3))
  return coverage


def tight_bbox(mask):
  """(ymin, xmin, ymax, xmax) in [0, 1]: the pixel edges around the non-zero pixels of `mask`."""
  rows, cols = np.nonzero(mask)
  height, width = mask.shape
  return np.array([rows.min() / height, cols.min() / width, (rows.max() + 1) / height,
                   (cols.max() + 1) / width], dtype=np.float32)


def _class_index(names, name, field, rng):
  """A random class, or the requested one."""
  if name is None:
    return int(rng.integers(len(names)))
  if name not in names:
    raise UserInputError(f'Unknown shapes {field} {name!r}: use one of {", ".join(names)}.')
  return names.index(name)


def _contrasting_color(rng, shape_rgb):
  """A random dark-ish or light-ish colour at least MIN_CONTRAST away from `shape_rgb`.

  Rejection sampling: for every named colour, one of the two families is almost entirely far
  enough away, so a few draws suffice.
  """
  while True:
    low = 0 if rng.random() < 0.5 else 255 - BACKGROUND_SPREAD
    candidate = rng.integers(low, low + BACKGROUND_SPREAD + 1, size=3)
    if np.linalg.norm(candidate - shape_rgb) >= MIN_CONTRAST:
      return candidate


def _center_in_cell(rng, position, scale):
  """A centre (y, x) in grid cell `position`, with the shape's circle inside the image.

  As SCALE_RANGE stays below 1/3, every cell keeps room for any shape's centre.
  """
  center = []
  for cell in divmod(position, 3):
    low, high = max(cell / 3, scale), min((cell + 1) / 3, 1 - scale)
    center.append(rng.uniform(low, high))
  return np.array(center)


def render_example(rng, image_size=32, *, shape=None, color=None, size=None, position=None,
                   background=None):
  """Renders one random example; any of the class names may be fixed by name instead.

  Args:
    rng: np.random.Generator, the only source of randomness.
    image_size: S, the side of the square image in pixels.
    shape, color, size, position, background: optional names from SHAPES, COLOR_NAMES, SIZES,
      POSITIONS, BACKGROUNDS; None draws the class uniformly.

  Returns:
    A dict with the `shapes` dataset's features: `image` uint8 [S, S, 3]; `mask` uint8 [S, S, 1],
    1 where the shape covers at least half the pixel, else 0; `bbox` float32 [4], the tight
    (ymin, xmin, ymax, xmax) box of the mask; class indices `label` (the shape), `color`, `size`,
    `position`, `background`; float32 `center` [2] (y, x), `scale` (circumscribed radius) and
    `rotation` (radians, counter-clockwise, 0 for circles); and a `caption` string.
  """
  label = _class_index(SHAPES, shape, 'shape', rng)
  color_index = _class_index(COLOR_NAMES, color, 'color', rng)
  size_index = _class_index(SIZES, size, 'size', rng)
  position_index = _class_index(POSITIONS, position, 'position', rng)
  background_index = _class_index(BACKGROUNDS, background, 'background', rng)

  low, high = SCALE_RANGE
  third = (high - low) / len(SIZES)
  scale = rng.uniform(low + size_index * third, low + (size_index + 1) * third)
  center = _center_in_cell(rng, position_index, scale)
  rotation = 0.0 if SHAPES[label] == 'circle' else rng.uniform(-MAX_ROTATION, MAX_ROTATION)
  shape_rgb = np.clip(
      np.array(COLORS[COLOR_NAMES[color_index]]) +
      rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3), 0, 255)

  backdrop = np.broadcast_to(_contrasting_color(rng, shape_rgb), (image_size, image_size, 3))
  if BACKGROUNDS[background_index] == 'noisy':
    backdrop = np.clip(backdrop + rng.normal(0.0, NOISE_STD, backdrop.shape), 0, 255)
  coverage = shape_coverage(SHAPES[label], image_size, center, scale, rotation)[..., None]
  # Edge pixels blend the two colours by coverage; the mask takes the pixels that are mostly shape.
  image = np.round(coverage * shape_rgb + (1 - coverage) * backdrop).astype(np.uint8)
  mask = (coverage >= 0.5).astype(np.uint8)

  caption = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))].format(
      size=SIZES[size_index], color=COLOR_NAMES[color_index], shape=SHAPES[label],
      where=POSITION_PHRASES[POSITIONS[position_index]],
      background=BACKGROUNDS[background_index])
  return {
      'image': image,
      'mask': mask,
      'bbox': tight_bbox(mask[..., 0]),
      'label': label,
      'color': color_index,
      'size': size_index,
      'position': position_index,
      'background': background_index,
      'center': center.astype(np.float32),
      'scale': np.float32(scale),
      'rotation': np.float32(rotation),
      'caption': caption,
  }
