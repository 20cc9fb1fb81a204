"""Labelled texts from a TFDS text set, a folder of class subfolders (the aclImdb layout) or a CSV/TSV.

Every text source has `class_names` and `split(name) -> LabelledTexts` (all texts of a split, in
a fixed order, in memory: text classification sets fit, and the tokenizer must see the whole
training split anyway). `EncodedSource` then holds the token ids of each split (of these, or of the
parallel texts of data/text/parallel.py) and serves them to `data.pipeline` like any other source. Supported layouts:

  tfds:        any TFDS set with a text feature and a ClassLabel ('imdb_reviews', 'reviews', ...)
  tfds_dir:    the same, prepared elsewhere and read from its version folder (data.sources)
  text_folder: PATH/train/<class>/*.txt and PATH/test/<class>/*.txt, e.g. aclImdb/ (its train/unsup,
               which has no labels, is left out by default)
  csv:         a .csv or .tsv with a header row naming a text column and a label column; the test
               split is a second file, or else every `holdout_every`-th row of the first
"""

import csv
import dataclasses
import os
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from data import sources
from data.errors import UserInputError
from data.pipeline import progress, split_examples


@dataclasses.dataclass(frozen=True)
class LabelledTexts:
  texts: list[str]
  labels: np.ndarray  # int32 [len(texts)], indices into the source's class_names


def checked(texts: list[str], labels: Sequence[int], places: Sequence[str], split: str) -> LabelledTexts:
  """The texts and labels, after making sure there are some and none is empty; places[i] names text i."""
  if not texts:
    raise UserInputError(f'{split} holds no texts')
  for text, place in zip(texts, places):
    if not text.strip():
      raise UserInputError(f'{place} is an empty text; remove it or give it some words')
  return LabelledTexts(list(texts), np.asarray(labels, np.int32))


class TfdsTexts:
  """A TFDS dataset with a text feature and a class-label feature."""

  def __init__(self, source: sources.TfdsSource, text_key: str = 'text', label_key: str = 'label'):
    self.source, self.name = source, source.name
    features = source.info.features
    for key in (text_key, label_key):
      if key not in features:
        raise UserInputError(f'dataset {self.name!r} has no feature {key!r}; it has {sorted(features.keys())}')
    if not hasattr(features[label_key], 'names'):
      raise UserInputError(f'feature {label_key!r} of {self.name!r} is not a class label')
    self.text_key, self.label_key = text_key, label_key
    self.class_names = list(features[label_key].names)

  def split(self, name: str) -> LabelledTexts:
    texts, labels = [], []
    for example in split_examples(self.source, name, (self.text_key, self.label_key), desc=f'reading {name}',
                                  unit=' texts'):
      texts.append(example[self.text_key].decode('utf-8', errors='replace'))
      labels.append(example[self.label_key])
    places = [f'{self.name} {name} example {i}' for i in range(len(texts))]
    return checked(texts, labels, places, f'split {name!r} of {self.name}')


class TextFolder:
  """PATH/<split>/<class>/*.txt, one text per file; classes are train/'s subfolders, sorted."""

  def __init__(self, path: str, exclude: Sequence[str] = ('unsup',)):
    train_dir = os.path.join(path, 'train')
    if not os.path.isdir(train_dir):
      raise UserInputError(f'text folder {path} needs a train/ subfolder with one folder of .txt files per class')
    self.path = path
    self.class_names = sorted(d for d in os.listdir(train_dir)
                              if os.path.isdir(os.path.join(train_dir, d)) and d not in exclude)
    if not self.class_names:
      raise UserInputError(f'{train_dir} has no class subfolders')

  def split(self, name: str) -> LabelledTexts:
    split_dir = os.path.join(self.path, name)
    if not os.path.isdir(split_dir):
      raise UserInputError(f'text folder {self.path} has no {name}/ subfolder')
    labels, files = [], []
    for label, class_name in enumerate(self.class_names):
      class_dir = os.path.join(split_dir, class_name)
      if not os.path.isdir(class_dir):
        raise UserInputError(f'{split_dir} has no {class_name}/ folder, a class that train/ has')
      for file in sorted(f for f in os.listdir(class_dir) if f.endswith('.txt')):
        labels.append(label)
        files.append(os.path.join(class_dir, file))
    texts = []
    for path in progress(files, desc=f'reading {name}', unit=' texts'):
      with open(path, encoding='utf-8', errors='replace') as f:
        texts.append(f.read())
    return checked(texts, labels, files, split_dir)


class CsvTexts:
  """A CSV (or tab-separated .tsv) file with a header; labels are names or numbers, classes sorted."""

  def __init__(self, path: str, text_column: str, label_column: str, test_path: str = '',
               holdout_every: int = 5):
    self.text_column, self.label_column = text_column, label_column
    rows = self._rows(path)
    if test_path:
      self._rows_of = {'train': rows, 'test': self._rows(test_path)}
    else:
      self._rows_of = {'train': [row for i, row in enumerate(rows) if i % holdout_every],
                       'test': rows[::holdout_every]}
    names = sorted({label for _, label, _ in self._rows_of['train']})
    # Numeric labels keep their numeric order ('2' before '10').
    self.class_names = sorted(names, key=int) if all(n.lstrip('-').isdigit() for n in names) else names

  def _rows(self, path: str) -> list[tuple[str, str, str]]:
    """(text, label, 'file line N') of every data row."""
    if not os.path.isfile(path):
      raise UserInputError(f'CSV file {path} does not exist')
    with open(path, encoding='utf-8', errors='replace', newline='') as f:
      reader = csv.DictReader(f, delimiter='\t' if path.endswith('.tsv') else ',')
      columns = reader.fieldnames or []
      for column in (self.text_column, self.label_column):
        if column not in columns:
          raise UserInputError(f'{path} has no column {column!r}; its columns are {columns} '
                               '(set data.text_key / data.label_key)')
      rows = []
      for row in reader:
        place = f'{path} line {reader.line_num}'
        for column in (self.text_column, self.label_column):
          if not (row[column] or '').strip():  # None when the row has too few fields
            raise UserInputError(f'{place} has no value in column {column!r}; fill it in or drop the row')
        rows.append((row[self.text_column], row[self.label_column].strip(), place))
    if not rows:
      raise UserInputError(f'{path} has a header but no data rows')
    return rows

  def split(self, name: str) -> LabelledTexts:
    if name not in self._rows_of:
      raise UserInputError(f"a CSV source has the splits 'train' and 'test', not {name!r}")
    rows = self._rows_of[name]
    index = {n: i for i, n in enumerate(self.class_names)}
    unknown = [place for _, label, place in rows if label not in index]
    if unknown:
      raise UserInputError(f'{unknown[0]} has a label that no training row has; the classes are {self.class_names}')
    return checked([t for t, _, _ in rows], [index[l] for _, l, _ in rows], [p for _, _, p in rows],
                   f'the {name} rows')


def make_text_source(data_config: Any):
  """The text source a config's `data` block names: source = 'tfds' | 'tfds_dir' | 'text_folder' | 'csv'."""
  kind = data_config.source
  if kind in ('tfds', 'tfds_dir'):
    return TfdsTexts(sources.make_source(data_config), data_config.text_key, data_config.label_key)
  if kind == 'text_folder':
    return TextFolder(data_config.path)
  if kind == 'csv':
    return CsvTexts(data_config.path, data_config.text_key, data_config.label_key,
                    data_config.get('test_path', ''), data_config.get('holdout_every', 5))
  raise UserInputError(f"unknown data.source {kind!r}; choose 'tfds', 'tfds_dir', 'text_folder' or 'csv'")


class EncodedSource:
  """Encoded splits in memory for data.pipeline: {split: {field: values}}, where a field's values are
  a list of token id arrays (read as a ragged int32 sequence) or one array with a value per example.

    EncodedSource({'train': {'ids': [ids, ...], 'label': labels}})     # text classification
    EncodedSource({'train': {'source': [...], 'target': [...]}})       # translation, dialogue
  """

  def __init__(self, splits: dict[str, dict[str, list[np.ndarray] | np.ndarray]]):
    self._splits = splits

  def fields(self, split: str) -> dict[str, list[np.ndarray] | np.ndarray]:
    """Every example's values of one split, by field."""
    return self._splits[split]

  def num_examples(self, split: str, shard: int = 0, num_shards: int = 1) -> int:
    start, stop = sources.shard_bounds(len(next(iter(self._splits[split].values()))), shard, num_shards)
    return stop - start

  def read(self, split: str, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    fields = self._splits[split]
    start, stop = sources.shard_bounds(len(next(iter(fields.values()))), shard, num_shards)
    return tf.data.Dataset.from_tensor_slices({name: _sliced(values[start:stop]) for name, values in fields.items()})


def _sliced(values: list[np.ndarray] | np.ndarray):
  """Per-example values as tf.data slices them: token id lists become one ragged tensor."""
  if isinstance(values, np.ndarray):
    return values
  return tf.RaggedTensor.from_row_lengths(np.concatenate(values or [np.zeros(0)]).astype(np.int32),
                                          [len(x) for x in values])
