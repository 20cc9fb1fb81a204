"""Encoded texts -> fixed-size examples for tf.data, and batches trimmed to their longest text.

tf.data batches need one shape, so each example is padded (or cut) to `max_length` with its real
`length` beside it. `trim_to_longest` then cuts every batch back to its longest text, rounded up
to a multiple of `multiple` so that only max_length / multiple shapes are ever compiled: a batch
of short texts does not pay for the longest text of the split.
"""

from typing import Iterator

import numpy as np
import tensorflow as tf

from data.text.tokenizers import PAD_ID


def pad_example(ids: tf.Tensor, max_length: int) -> dict[str, tf.Tensor]:
  """int32 ids of any length -> {'ids': [max_length] (cut or padded with PAD_ID), 'length': []}."""
  ids = ids[:max_length]
  length = tf.shape(ids)[0]
  ids = tf.pad(ids, [[0, max_length - length]], constant_values=PAD_ID)
  return {'ids': tf.ensure_shape(ids, [max_length]), 'length': length}


def padded_ids(token_lists, max_length: int, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Token id arrays of any lengths -> (ids [rows, max_length] cut or padded with PAD_ID, lengths [rows]);
  `rows` (default: one per list) may exceed the lists, leaving empty rows at the end."""
  rows = len(token_lists) if rows is None else rows
  ids = np.full((rows, max_length), PAD_ID, np.int32)
  lengths = np.zeros(rows, np.int32)
  for row, tokens in enumerate(token_lists):
    tokens = tokens[:max_length]
    ids[row, :len(tokens)], lengths[row] = tokens, len(tokens)
  return ids, lengths


def trim_to_longest(batches: Iterator[dict[str, np.ndarray]], multiple: int,
                    lengths: dict[str, str]) -> Iterator[dict[str, np.ndarray]]:
  """Each batch with its padded token fields cut to their longest real length, rounded up to `multiple`.

  `lengths` maps each token field [B, max_length] to the field holding its rows' lengths, e.g.
  {'ids': 'length'}; fields sharing a length field are cut alike.
  """
  for batch in batches:
    trimmed = dict(batch)
    for field, length_field in lengths.items():
      max_length = batch[field].shape[1]
      longest = max(int(batch[length_field].max()), 1)
      trimmed[field] = batch[field][:, :min(max_length, -(-longest // multiple) * multiple)]
    yield trimmed
