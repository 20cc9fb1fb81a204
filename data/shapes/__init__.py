"""The `shapes` dataset: importing `data.shapes.builder` registers the TFDS builder `shapes`.

`render` draws examples without TFDS and holds the class-name lists (SHAPES, COLOR_NAMES, SIZES,
POSITIONS, BACKGROUNDS) that other code, e.g. caption vocabularies, imports; importing the package
or `render` does not import TensorFlow.
"""

from data.shapes.render import (BACKGROUNDS, COLOR_NAMES, COLORS, POSITIONS, SHAPES, SIZES,
                                render_example)

__all__ = ['BACKGROUNDS', 'COLOR_NAMES', 'COLORS', 'POSITIONS', 'SHAPES', 'SIZES', 'render_example']
