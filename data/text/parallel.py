"""Parallel texts, source -> target pairs, for translation and chat: from TFDS, a CSV/TSV or a file of conversations.

A parallel source has a `name` and `split(name) -> ParallelTexts` (all pairs of a split, in a
fixed order, in memory, as `data.text.sources` holds labelled texts: the tokenizers must see
the whole training split anyway). Supported layouts (`data.source`):

  tfds:          a TFDS set with two text features, by default its supervised keys: a translation
                 set ('translation_pairs', 'ted_hrlr_translate/pt_to_en', 'wmt14_translate/de-en')
                 or 'shapes_dialogue', whose context is a sequence of turns
  tfds_dir:      the same, prepared elsewhere and read from its version folder (data.sources)
  csv:           a .csv (quoted as spreadsheets write it) or a tab-separated .tsv/.txt (raw text, a
                 quote is just a character), one pair a row, by default its first two columns. Without
                 a header (`has_header=False`) columns are numbered from '0': the Tatoeba/ManyThings
                 layout `fra.txt` (English <tab> French <tab> attribution) reads as it is; a dialogue
                 TSV of (context, reply) rows is a file like any other
  dialogue_json: a .json file holding a list of conversations, or a .jsonl file holding one a line;
                 a conversation is a list of turns, each a string or an object with a 'text' field,
                 and every turn after the first is the target of a pair whose source is the turns
                 before it (the last `context_turns` of them)
The test split of a file source is a second file (`test_path`), or else every `holdout_every`-th
row (or conversation, so that no conversation is in both splits) of the first. `context_turns`
is how many previous turns a source keeps (0: all; absent or -1: the source's default, 3 for
dialogue_json and all of a TFDS context, which its dataset chose: shapes_dialogue's questions
refer to turns far back).

A chat source holds several turns. They become one text joined by TURN_SEPARATOR, the same
whichever layout the turns came from, so a model reads a context the same way in training and in
use. The separator is 'ǁ' (U+01C1), a letter to Unicode: the word tokenizer keeps runs of letters
and drops punctuation (`data.corpus.tokenize`), so a '|' or '<sep>' would vanish, where 'ǁ' stays
one word; sentencepiece keeps it too, and it does not occur in ordinary text.
"""

import csv
import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np
import tensorflow_datasets as tfds

from data import sources
from data.errors import UserInputError
from data.pipeline import progress, split_examples

TURN_SEPARATOR = ' ǁ '
# A JSON conversation has no context of its own: the last three turns hold a question and what it
# refers to in most chats, and keep sources short. A TFDS dataset's context is used whole.
DEFAULT_CONTEXT_TURNS = 3


def join_turns(turns: Sequence[str]) -> str:
  return TURN_SEPARATOR.join(turn.strip() for turn in turns)


def split_turns(text: str) -> list[str]:
  """The turns of a joined context; also reads a decoded one, whatever spaces the tokenizer left around 'ǁ'."""
  return [turn.strip() for turn in text.split(TURN_SEPARATOR.strip())]


def recent_turns(turns: Sequence[str], context_turns: int) -> Sequence[str]:
  """The last `context_turns` turns, or all of them for 0."""
  return turns[-context_turns:] if context_turns > 0 else turns


@dataclasses.dataclass(frozen=True)
class ParallelTexts:
  sources: list[str]
  targets: list[str]


def checked(pairs: Sequence[tuple[str, str]], places: Sequence[str], split: str) -> ParallelTexts:
  """The pairs, after making sure there are some and no side is empty; places[i] names pair i."""
  if not pairs:
    raise UserInputError(f'{split} holds no pairs')
  for (source, target), place in zip(pairs, places):
    for side, text in (('source', source), ('target', target)):
      if not text.strip():
        raise UserInputError(f'{place} has an empty {side}; remove the pair or give it some words')
  return ParallelTexts([source for source, _ in pairs], [target for _, target in pairs])


class TfdsPairs:
  """Two text features of a TFDS dataset; a sequence of texts (turns of a conversation) is joined."""

  def __init__(self, source: sources.TfdsSource, source_key: str = '', target_key: str = '', context_turns: int = 0):
    self.source, self.name, self.context_turns = source, source.name, context_turns
    features = source.info.features
    if not (source_key and target_key):
      keys = source.info.supervised_keys
      if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys)):
        raise UserInputError(f'dataset {self.name!r} does not name a (source, target) pair of features; set '
                             f'data.source_key and data.target_key to two of {sorted(features.keys())}')
      source_key, target_key = source_key or keys[0], target_key or keys[1]
    for key in (source_key, target_key):
      if key not in features:
        raise UserInputError(f'dataset {self.name!r} has no feature {key!r}; it has {sorted(features.keys())}')
      feature = features[key]
      if not isinstance(getattr(feature, 'feature', feature), tfds.features.Text):
        raise UserInputError(f'feature {key!r} of {self.name!r} is not text (nor a sequence of texts)')
    self.source_key, self.target_key = source_key, target_key

  def _text(self, value: bytes | np.ndarray) -> str:
    if isinstance(value, bytes):
      return value.decode('utf-8', errors='replace')
    return join_turns(recent_turns([turn.decode('utf-8', errors='replace') for turn in value], self.context_turns))

  def split(self, name: str) -> ParallelTexts:
    pairs = [(self._text(example[self.source_key]), self._text(example[self.target_key]))
             for example in split_examples(self.source, name, (self.source_key, self.target_key),
                                           desc=f'reading {name}', unit=' pairs')]
    places = [f'{self.name} {name} example {i}' for i in range(len(pairs))]
    return checked(pairs, places, f'split {name!r} of {self.name}')


def train_and_test(items: list, test_items: list | None, holdout_every: int) -> dict[str, list]:
  """{'train', 'test'}: the items of two files, or every `holdout_every`-th item of one held out for test."""
  if test_items is not None:
    return {'train': items, 'test': test_items}
  if holdout_every < 2:
    raise UserInputError(f'data.holdout_every={holdout_every} leaves no training data; use 2 or more, '
                         'or give the test split its own file (data.test_path)')
  return {'train': [item for i, item in enumerate(items) if i % holdout_every], 'test': items[::holdout_every]}


class FilePairs:
  """Pairs read from files into a train and a test split; subclasses fill `name` and `_splits`."""
  name: str
  _splits: dict[str, ParallelTexts]

  @staticmethod
  def _checked(splits: dict[str, list[tuple[tuple[str, str], str]]], unit: str) -> dict[str, ParallelTexts]:
    """{split: [((source, target), where the pair is)]} -> {split: its ParallelTexts}."""
    return {split: checked([pair for pair, _ in items], [place for _, place in items], f'the {split} {unit}')
            for split, items in splits.items()}

  def split(self, name: str) -> ParallelTexts:
    if name not in self._splits:
      raise UserInputError(f"{self.name} has the splits 'train' and 'test', not {name!r}")
    return self._splits[name]


class CsvPairs(FilePairs):
  """One pair a row of a .csv, or of a tab-separated file; columns by header name, or by number without one."""

  def __init__(self, path: str, source_key: str = '', target_key: str = '', test_path: str = '',
               holdout_every: int = 5, has_header: bool = True):
    self.name, self.keys, self.has_header = path, (str(source_key), str(target_key)), has_header
    rows = train_and_test(self._rows(path), self._rows(test_path) if test_path else None, holdout_every)
    self._splits = self._checked(rows, 'rows')

  def _rows(self, path: str) -> list[tuple[tuple[str, str], str]]:
    """((source, target), 'file line N') of every data row."""
    if not os.path.isfile(path):
      raise UserInputError(f'pairs file {path} does not exist')
    with open(path, encoding='utf-8', errors='replace', newline='') as f:
      # Tab-separated text is read raw: a sentence that starts with a quote must not swallow the lines after it.
      reader = csv.reader(f) if path.lower().endswith('.csv') else csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
      lines = [(fields, reader.line_num) for fields in progress(reader, desc=f'reading {path}', unit=' rows')
               if fields]
    if not lines:
      raise UserInputError(f'{path} is empty; it needs one (source, target) pair a row')
    if self.has_header:
      (columns, _), lines = lines[0], lines[1:]
    else:
      columns = [str(i) for i in range(len(lines[0][0]))]
    keys = tuple(key or default for key, default in zip(self.keys, columns[:2] + ['', '']))  # '': the first two
    for key in keys:
      if key not in columns:
        raise UserInputError(f'{path} has no column {key!r}; its columns are {columns} (set data.source_key / '
                             f'data.target_key{"" if self.has_header else "; without a header they are numbers"})')
    if not lines:
      raise UserInputError(f'{path} has a header but no data rows')
    rows = []
    for fields, line in lines:
      pair = tuple(fields[i] if i < len(fields) else '' for i in map(columns.index, keys))
      for key, text in zip(keys, pair):
        if not text.strip():
          raise UserInputError(f'{path} line {line} has no value in column {key!r}; fill it in or drop the row')
      rows.append((pair, f'{path} line {line}'))
    return rows


class DialogueJson(FilePairs):
  """Conversations in a .json list or a .jsonl file; each turn after the first is a reply to the turns before it."""

  def __init__(self, path: str, test_path: str = '', holdout_every: int = 5,
               context_turns: int = DEFAULT_CONTEXT_TURNS):
    self.name = path
    conversations = train_and_test(self._conversations(path), self._conversations(test_path) if test_path else None,
                                   holdout_every)
    pairs = {split: [((join_turns(recent_turns(turns[:i], context_turns)), turns[i]), f'{place} turn {i}')
                     for turns, place in items for i in range(1, len(turns))]
             for split, items in conversations.items()}
    self._splits = self._checked(pairs, 'conversations')

  def _conversations(self, path: str) -> list[tuple[list[str], str]]:
    """(turns, where the conversation is) of every conversation in the file."""
    if not os.path.isfile(path):
      raise UserInputError(f'conversations file {path} does not exist')
    with open(path, encoding='utf-8', errors='replace') as f:
      if path.lower().endswith('.jsonl'):
        items = [(_json(line, path, number), f'{path}:{number}')
                 for number, line in enumerate(progress(f, desc=f'reading {path}', unit=' lines'), start=1)
                 if line.strip()]
      else:
        text = f.read()
        items = []
        if text.strip():
          conversations = _json(text, path)
          if not isinstance(conversations, list):
            raise UserInputError(f'{path} holds {_shown(conversations)}, not a list of conversations '
                                 '(or name the file .jsonl for one conversation a line)')
          items = [(c, f'{path} conversation {i}') for i, c in enumerate(conversations)]
    if not items:
      raise UserInputError(f'{path} is empty; it needs conversations, each a list of turns')
    return [(_turns(conversation, place), place) for conversation, place in items]


def _json(text: str, path: str, line: int = 0) -> Any:
  """The JSON value of `text`, line `line` of `path` (0: the whole file)."""
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise UserInputError(f'{path}:{line or e.lineno} is not valid JSON ({e.msg}); a conversation is written like '
                         '["hi", "hello !"] or [{"text": "hi"}, {"text": "hello !"}]') from e


def _shown(value: Any) -> str:
  shown = json.dumps(value)
  return shown if len(shown) <= 60 else shown[:57] + '...'


def _turns(conversation: Any, place: str) -> list[str]:
  """The texts of a conversation's turns, each a string or an object with a 'text' string."""
  if not isinstance(conversation, list):
    raise UserInputError(f'{place} is not a conversation: expected a list of turns, got {_shown(conversation)}')
  turns = []
  for number, turn in enumerate(conversation):
    text = turn.get('text') if isinstance(turn, dict) else turn
    if not isinstance(text, str):
      raise UserInputError(f'{place} turn {number} is {_shown(turn)}; a turn is a string or an object with a '
                           '"text" string')
    if not text.strip():
      raise UserInputError(f'{place} turn {number} is empty; remove it or give it some words')
    turns.append(text)
  return turns


def context_turns_of(data_config: Any) -> int:
  """The previous turns a source keeps (0: all): data.context_turns, or where it is absent or negative the
  source's default, DEFAULT_CONTEXT_TURNS for conversations read from JSON and all of a TFDS context."""
  context_turns = data_config.get('context_turns', -1)
  if context_turns >= 0:
    return context_turns
  return DEFAULT_CONTEXT_TURNS if data_config.source == 'dialogue_json' else 0


def make_parallel_source(data_config: Any):
  """The parallel source a config's `data` block names: source = 'tfds' | 'tfds_dir' | 'csv' | 'dialogue_json'."""
  kind = data_config.source
  if kind in ('tfds', 'tfds_dir'):
    return TfdsPairs(sources.make_source(data_config), data_config.get('source_key', ''),
                     data_config.get('target_key', ''), context_turns_of(data_config))
  if kind == 'csv':
    return CsvPairs(data_config.path, data_config.get('source_key', ''), data_config.get('target_key', ''),
                    data_config.get('test_path', ''), data_config.get('holdout_every', 5),
                    data_config.get('has_header', True))
  if kind == 'dialogue_json':
    return DialogueJson(data_config.path, data_config.get('test_path', ''), data_config.get('holdout_every', 5),
                        context_turns_of(data_config))
  raise UserInputError(f"unknown data.source {kind!r}; choose 'tfds', 'tfds_dir', 'csv' or 'dialogue_json'")
