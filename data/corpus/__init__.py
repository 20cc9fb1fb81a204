"""Text corpora as sentences of word ids: tokenizer, frequency vocabulary and the sources.

Sources, each an iterable of token lists (one per line, sentence or document):
  - `local_text(pattern)`: one or many local text files (a glob), one sentence per line;
  - `tfds_text(name, split, feature)`: a text feature of a TFDS dataset (lm1b 'text',
    imdb_reviews 'text', wikipedia 'text', ...), read through `data.sources.TfdsSource`;
  - `data.corpus.planted`: the offline default, generated sentences with planted synonym classes.

`build` counts the words and turns a source into one flat int32 array of word ids plus the
sentence each word belongs to, in one pass: the layout `data.corpus.pairs` cuts skip-gram windows
from without any per-word Python.
"""

import array
import collections
import dataclasses
import glob
import itertools
import os
import re
from typing import Iterable, Iterator

import numpy as np

from data.errors import UserInputError
from data.pipeline import numpy_iterator, progress

# Words are runs of letters and digits, keeping inner apostrophes (don't, o'er); case is folded.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
  return _WORD.findall(text.lower())


def local_text(pattern: str, encoding: str = 'utf-8') -> Iterator[list[str]]:
  """The tokenized lines of every file the glob matches, files in sorted order; empty lines dropped."""
  paths = sorted(p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))
  if not paths:
    raise UserInputError(f'no file matches the corpus pattern {pattern!r}; give a path or a glob such '
                         "as 'texts/*.txt' (quoted, so the shell does not expand it)")
  for path in paths:
    with open(path, encoding=encoding, errors='replace') as f:
      for line in f:
        if words := tokenize(line):
          yield words


def tfds_text(name: str, split: str = 'train', feature: str = 'text',
              data_dir: str = '') -> Iterator[list[str]]:
  """The tokenized `feature` of each example of a TFDS text dataset (e.g. 'lm1b', 'imdb_reviews')."""
  from data.sources import TfdsSource  # pylint: disable=import-outside-toplevel  (TF only when asked for)
  source = TfdsSource(name, data_dir)
  features = source.info.features
  if feature not in features:
    raise UserInputError(f'dataset {name!r} has no feature {feature!r}; it has {sorted(features.keys())}')
  source.num_examples(split)  # names the splits if `split` is wrong
  for example in numpy_iterator(source.read(split)):
    if words := tokenize(example[feature].decode('utf-8', errors='replace')):
      yield words


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Words kept by frequency, most frequent first (ties alphabetical), with their corpus counts."""
  words: tuple[str, ...]
  counts: np.ndarray  # int64 [size], counts[i] is how often words[i] occurs

  @classmethod
  def build(cls, sentences: Iterable[list[str]], min_count: int = 5, max_size: int = 0) -> 'Vocabulary':
    """The vocabulary alone; `build` below also returns the encoded corpus from the same pass."""
    return build(sentences, min_count, max_size)[0]

  def __len__(self):
    return len(self.words)

  @property
  def index(self) -> dict[str, int]:
    return {w: i for i, w in enumerate(self.words)}


@dataclasses.dataclass(frozen=True)
class EncodedCorpus:
  """All in-vocabulary words of a corpus in order, and the sentence each one came from."""
  ids: np.ndarray  # int32 [num_words]
  sentence: np.ndarray  # int32 [num_words], non-decreasing; windows never cross a sentence

  def __len__(self):
    return len(self.ids)


def _no_words(what: str):
  return UserInputError(f'the corpus has no {what}; check the corpus path or source, or lower min_count')


def build(sentences: Iterable[list[str]], min_count: int = 5,
          max_size: int = 0) -> tuple[Vocabulary, EncodedCorpus]:
  """The vocabulary of words occurring at least `min_count` times (at most `max_size` of the most
  frequent, 0 for no limit) and the corpus encoded with it, in one pass over the sentences."""
  # array('i') holds 4 bytes a word where a list holds a 36-byte Python int: 100M words fit in 400 MB.
  # A new word gets the next id on first sight, inside the C loop of map (faster than a genexpr).
  first_seen = collections.defaultdict(itertools.count().__next__)
  ids, lengths = array.array('i'), array.array('i')
  for words in progress(sentences, desc='building the vocabulary', unit=' sentences'):
    ids.extend(map(first_seen.__getitem__, words))
    lengths.append(len(words))
  if not ids:
    raise _no_words('words')
  raw = np.frombuffer(ids, np.int32)
  counts = np.bincount(raw, minlength=len(first_seen))
  words = list(first_seen)
  frequent = np.flatnonzero(counts >= min_count)
  if not len(frequent):
    raise _no_words(f'word that occurs at least min_count={min_count} times ({len(raw)} words read)')
  names = np.array([words[i] for i in frequent])
  order = frequent[np.lexsort((names, -counts[frequent]))][:max_size or None]  # by count, then name
  # Out-of-vocabulary words are dropped, as word2vec does, so windows reach past them.
  new_id = np.full(len(words), -1, np.int32)
  new_id[order] = np.arange(len(order), dtype=np.int32)
  ids = new_id[raw]
  in_vocab = ids >= 0
  sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), np.frombuffer(lengths, np.int32))
  vocab = Vocabulary(tuple(words[i] for i in order), counts[order].astype(np.int64))
  return vocab, EncodedCorpus(ids[in_vocab], sentence[in_vocab])


def encode(sentences: Iterable[list[str]], vocab: Vocabulary) -> EncodedCorpus:
  """Word ids of the in-vocabulary words of other text, e.g. a held-out split."""
  index = vocab.index
  ids, lengths = array.array('i'), array.array('i')
  for words in sentences:
    sentence_ids = [index[w] for w in words if w in index]
    ids.extend(sentence_ids)
    lengths.append(len(sentence_ids))
  if not ids:
    raise _no_words('in-vocabulary word')
  sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), np.frombuffer(lengths, np.int32))
  return EncodedCorpus(np.frombuffer(ids, np.int32).copy(), sentence)
