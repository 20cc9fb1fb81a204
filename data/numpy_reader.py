"""A prepared TFDS split's PNG images, integer labels and texts, read into numpy without TensorFlow.

Importing TensorFlow is the longest part of a short run's start-up on a small CPU machine
(bench/README_cpu_kernels.md), and tf.data hands a Python loop its examples one eager call at a
time. For the features an image classifier or a text task reads, TFDS's TFRecord files need
neither: a record is a length-prefixed tf.train.Example (parsed with TFDS's own proto module), an
image is PNG bytes (decoded by Pillow), a label an int64 and a text (or a sequence of texts)
UTF-8 bytes. PNG is lossless, so the pixels are exactly those tf.data decodes; texts come back as
tf.data gives them (bytes; an object array of bytes for a sequence). Anything else (another file
format, JPEG bytes, a nested or non-scalar feature, an unexpected colour mode) makes `read` return
None, and the caller reads through tf.data.
"""

import io
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.proto import tf_example_pb2

_PNG_MODES = {1: 'L', 3: 'RGB', 4: 'RGBA'}  # channels -> Pillow mode of an 8-bit PNG


def read(builder, split_slice: str, fields: Sequence[str],
         progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, np.ndarray] | None:
  """{field: array over the examples of `split_slice` (e.g. 'train[0:6000]'), in tf.data's order},
  or None where a field cannot be read this way. `progress` wraps the stream of records (a bar)."""
  info = builder.info
  if info.file_format != tfds.core.FileFormat.TFRECORD or not fields:
    return None
  features = info.features
  decoders = {}
  for field in fields:
    feature = features[field] if field in features else None
    if isinstance(feature, tfds.features.Image) and feature.np_dtype == np.uint8 and feature.shape[-1] in _PNG_MODES:
      decoders[field] = _png_decoder(feature.shape)
    elif isinstance(feature, (tfds.features.ClassLabel, tfds.features.Scalar)) and np.issubdtype(feature.np_dtype, np.integer):
      decoders[field] = _int_decoder(feature.np_dtype)
    elif _is_text(feature):
      decoders[field] = _text_decoder
    elif isinstance(feature, tfds.features.Sequence) and _is_text(feature.feature):
      decoders[field] = _texts_decoder
    else:
      return None
  columns = {field: [] for field in fields}
  try:
    records = itertools.chain.from_iterable(
        _records(instruction.filename, instruction.skip, instruction.take)
        for instruction in info.splits[split_slice].file_instructions)
    for record in progress(records) if progress else records:
      example = tf_example_pb2.Example.FromString(record).features.feature
      for field, decode in decoders.items():
        value = decode(example[field])
        if value is None:
          return None
        columns[field].append(value)
  except (OSError, KeyError, ValueError):  # a missing file (e.g. TFDS's mock data), field or value:
    return None  # tf.data reads it, or says what is wrong
  return {field: _column(values) for field, values in columns.items()}


def _column(values: list) -> np.ndarray:
  """One field's values as an array: stacked numbers, or an object array of texts."""
  if values and isinstance(values[0], np.ndarray) and values[0].dtype != object:
    return np.stack(values)
  column = np.empty(len(values), dtype=object)
  for i, value in enumerate(values):  # one by one: an array per example (a sequence) stays one element
    column[i] = value
  return column


def _records(path: str, skip: int, take: int) -> Iterator[bytes]:
  """Records skip .. skip + take (take -1: to the end) of a TFRecord file: each a little-endian
  uint64 length, its CRC, the bytes, their CRC."""
  with open(path, 'rb') as f:
    index = 0
    while take < 0 or index < skip + take:
      header = f.read(12)
      if len(header) < 12:
        return
      (length,) = struct.unpack('<Q', header[:8])
      if index >= skip:
        yield f.read(length)
        f.seek(4, io.SEEK_CUR)
      else:
        f.seek(length + 4, io.SEEK_CUR)
      index += 1


def _png_decoder(shape):
  channels = shape[-1]

  def decode(feature) -> np.ndarray | None:
    (data,) = feature.bytes_list.value
    image = Image.open(io.BytesIO(data))
    if image.format != 'PNG' or image.mode != _PNG_MODES[channels]:
      return None
    pixels = np.asarray(image).reshape(image.height, image.width, channels)
    return pixels if all(want in (None, got) for want, got in zip(shape, pixels.shape)) else None

  return decode


def _int_decoder(dtype):
  def decode(feature):
    (value,) = feature.int64_list.value
    return np.asarray(value, dtype)
  return decode


def _is_text(feature) -> bool:
  """A plain tfds.features.Text: UTF-8 bytes in the record (the deprecated encoders store ids)."""
  return isinstance(feature, tfds.features.Text) and getattr(feature, 'encoder', None) is None


def _text_decoder(feature) -> bytes:
  (value,) = feature.bytes_list.value
  return value


def _texts_decoder(feature) -> np.ndarray:
  return np.array(feature.bytes_list.value, dtype=object)
