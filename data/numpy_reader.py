"""A prepared TFDS split's PNG images and integer labels, read into numpy without TensorFlow.

Importing TensorFlow is the longest part of a short run's start-up on a small CPU machine
(bench/README_cpu_kernels.md). For the features an image classifier reads, TFDS's TFRecord files
need no TensorFlow: a record is a length-prefixed tf.train.Example (parsed with TFDS's own proto
module), an image is PNG bytes (decoded by Pillow) and a label an int64. PNG is lossless, so the
pixels are exactly those tf.data decodes. Anything else (another file format, JPEG bytes, a nested
or non-scalar feature, an unexpected colour mode) makes `read` return None, and the caller reads
through tf.data.
"""

import io
import struct
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.proto import tf_example_pb2

_PNG_MODES = {1: 'L', 3: 'RGB', 4: 'RGBA'}  # channels -> Pillow mode of an 8-bit PNG


def read(builder, split_slice: str, fields: Sequence[str]) -> dict[str, np.ndarray] | None:
  """{field: array over the examples of `split_slice` (e.g. 'train[0:6000]'), in tf.data's order},
  or None where a field cannot be read this way."""
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
    else:
      return None
  columns = {field: [] for field in fields}
  try:
    for instruction in info.splits[split_slice].file_instructions:
      for record in _records(instruction.filename, instruction.skip, instruction.take):
        example = tf_example_pb2.Example.FromString(record).features.feature
        for field, decode in decoders.items():
          value = decode(example[field])
          if value is None:
            return None
          columns[field].append(value)
  except (OSError, KeyError, ValueError):  # a missing file (e.g. TFDS's mock data), field or value:
    return None  # tf.data reads it, or says what is wrong
  return {field: np.stack(values) for field, values in columns.items()}


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
