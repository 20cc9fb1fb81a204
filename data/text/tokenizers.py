"""Text -> token ids: a word vocabulary or a sentencepiece subword model, trained on the training split.

Both tokenizers reserve id 0 for `<pad>` and id 1 for `<unk>`, so padding masks and embedding
tables look the same whichever one a config picks. Translation and chat mark where a sentence
begins and ends: the subword model always has `<s>` = 2 and `</s>` = 3, and a word vocabulary
has them at the same ids when trained with `sentence_marks=True` (text classification trains it
without, and its words keep their ids). A tokenizer is saved into the
run's folder (`save(directory)`) and `load(directory)` finds whichever one is there, so
evaluation and inference read text exactly as training did.

  tokenizer = WordTokenizer.train(train_texts, vocab_size=20000)
  ids = tokenizer.encode('Not bad at all!')   # int32 [4]
  tokenizer.save(workdir); load(workdir).encode(...)   # the same ids
"""

import io
import os
from typing import Iterable, Sequence

import numpy as np
import sentencepiece as spm

from data import corpus
from data.errors import UserInputError

PAD, UNK = '<pad>', '<unk>'
PAD_ID, UNK_ID = 0, 1
BOS, EOS = '<s>', '</s>'
BOS_ID, EOS_ID = 2, 3


def _no_sentence_marks() -> UserInputError:
  return UserInputError(f'this tokenizer has no sentence marks {BOS} and {EOS}; train it with '
                        'sentence_marks=True (a word vocabulary for text classification has none)')


class WordTokenizer:
  """Words as `data.corpus.tokenize` splits them (case folded), after the reserved tokens, most frequent first."""
  FILE = 'vocabulary.txt'

  def __init__(self, tokens: Sequence[str]):
    if tuple(tokens[:2]) != (PAD, UNK):
      raise UserInputError(f'a word vocabulary must start with {PAD} and {UNK}, got {list(tokens[:2])}')
    self.tokens = tuple(tokens)
    self._index = {token: i for i, token in enumerate(self.tokens)}
    # No word is spelled '<s>' (tokenize keeps letters and digits only), so these are the marks.
    self.has_sentence_marks = self.tokens[BOS_ID:EOS_ID + 1] == (BOS, EOS)
    self._not_words = {PAD_ID, BOS_ID, EOS_ID} if self.has_sentence_marks else {PAD_ID}

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int, min_count: int = 1,
            sentence_marks: bool = False) -> 'WordTokenizer':
    """The most frequent words of `texts` (ties alphabetical, so the vocabulary is reproducible), after
    (PAD, UNK), or (PAD, UNK, BOS, EOS) with `sentence_marks`."""
    reserved = (PAD, UNK, BOS, EOS) if sentence_marks else (PAD, UNK)
    words = corpus.Vocabulary.build((corpus.tokenize(t) for t in texts), min_count,
                                    max_size=vocab_size - len(reserved))
    return cls(reserved + words.words)

  @property
  def vocab_size(self) -> int:
    return len(self.tokens)

  @property
  def bos_id(self) -> int:
    if not self.has_sentence_marks:
      raise _no_sentence_marks()
    return BOS_ID

  @property
  def eos_id(self) -> int:
    if not self.has_sentence_marks:
      raise _no_sentence_marks()
    return EOS_ID

  def encode(self, text: str) -> np.ndarray:
    return np.array([self._index.get(w, UNK_ID) for w in corpus.tokenize(text)], np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    """The words, without padding or sentence marks (as sentencepiece decodes)."""
    return ' '.join(self.tokens[i] for i in ids if i not in self._not_words)

  def save(self, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, self.FILE), 'w', encoding='utf-8') as f:
      f.write('\n'.join(self.tokens) + '\n')

  @classmethod
  def load(cls, directory: str) -> 'WordTokenizer':
    with open(os.path.join(directory, cls.FILE), encoding='utf-8') as f:
      return cls(f.read().splitlines())


class SubwordTokenizer:
  """A sentencepiece unigram model (Kudo 2018): frequent words whole, rare ones in pieces, nothing unknown."""
  FILE = 'sentencepiece.model'

  def __init__(self, model_proto: bytes):
    self.model_proto = model_proto
    self._processor = spm.SentencePieceProcessor(model_proto=model_proto)

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int, min_count: int = 1,
            sentence_marks: bool = False) -> 'SubwordTokenizer':
    del min_count  # sentencepiece chooses its pieces by likelihood, not by a count threshold
    del sentence_marks  # the model always reserves BOS_ID and EOS_ID
    model = io.BytesIO()
    # One thread and no sampling of the input keep the model a pure function of the texts.
    spm.SentencePieceTrainer.train(
        sentence_iterator=(t.replace('\n', ' ') for t in texts), model_writer=model,
        vocab_size=vocab_size, model_type='unigram', character_coverage=1.0,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID, hard_vocab_limit=False,
        max_sentence_length=1 << 16, num_threads=1, minloglevel=2)
    return cls(model.getvalue())

  @property
  def vocab_size(self) -> int:
    return self._processor.vocab_size()

  @property
  def tokens(self) -> tuple[str, ...]:
    return tuple(self._processor.id_to_piece(i) for i in range(self.vocab_size))

  @property
  def bos_id(self) -> int:
    if self._processor.bos_id() < 0:  # a model trained elsewhere without the marks
      raise _no_sentence_marks()
    return self._processor.bos_id()

  @property
  def eos_id(self) -> int:
    if self._processor.eos_id() < 0:
      raise _no_sentence_marks()
    return self._processor.eos_id()

  def encode(self, text: str) -> np.ndarray:
    return np.array(self._processor.encode(text), np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    return self._processor.decode([int(i) for i in ids if i != PAD_ID])

  def save(self, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, self.FILE), 'wb') as f:
      f.write(self.model_proto)

  @classmethod
  def load(cls, directory: str) -> 'SubwordTokenizer':
    with open(os.path.join(directory, cls.FILE), 'rb') as f:
      return cls(f.read())


TOKENIZERS = {'word': WordTokenizer, 'subword': SubwordTokenizer}


def train(kind: str, texts: Sequence[str], vocab_size: int, min_count: int = 1, sentence_marks: bool = False):
  if kind not in TOKENIZERS:
    raise UserInputError(f'unknown tokenizer {kind!r}; choose one of {sorted(TOKENIZERS)}')
  return TOKENIZERS[kind].train(texts, vocab_size, min_count, sentence_marks)


def saved_kind(directory: str) -> str | None:
  """Which tokenizer `directory` holds, if any."""
  for kind, tokenizer in TOKENIZERS.items():
    if os.path.exists(os.path.join(directory, tokenizer.FILE)):
      return kind
  return None


def load(directory: str):
  kind = saved_kind(directory)
  if kind is None:
    raise UserInputError(f'{directory} holds no tokenizer ({WordTokenizer.FILE} or {SubwordTokenizer.FILE}); '
                         'point at the workdir of the run that trained the model')
  return TOKENIZERS[kind].load(directory)
