"""Text classification: token ids -> an RNN (or the bag-of-words baseline) -> class logits.

Data: a text source (`data.source` = 'tfds' | 'text_folder' | 'csv', see data/text/sources.py)
is read into memory; the tokenizer ('word' or 'subword') is trained on the training split, or
loaded from `data.tokenizer_dir` (the workdir of an earlier run, to read text exactly as that
run did). Each split is encoded once, texts longer than `data.max_length` tokens are cut, and
batches are trimmed to their longest text (data/text/batching.py). Evaluation covers the whole
eval split. `export` writes the tokenizer and classes.txt into the workdir.

`model.pretrained_vectors` names a word2vec text file (e.g. the skip-gram task's vectors.txt)
whose vectors initialise the embedding rows of the words it has (word tokenizer only).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from data import pipeline, word_vectors
from data.errors import UserInputError
from data.text import batching, tokenizers
from data.text.sources import EncodedSource, make_text_source
from nets import rnn
from train.tasks import base


def module_kwargs(model_config) -> tuple[str, dict]:
  """(model name, the module's keyword arguments) of a config's `model` block, its choices checked."""
  kwargs = dict(model_config)
  name = kwargs.pop('name')
  kwargs.pop('pretrained_vectors', None)
  for key, choices in (('cell', rnn.CELLS), ('pooling', rnn.POOLINGS)):
    if key in kwargs and kwargs[key] not in choices:
      raise UserInputError(f'unknown model.{key} {kwargs[key]!r}; choose one of {sorted(choices)}')
  return name, kwargs


def token_mask(ids, length):
  """[B, T] True on each row's first length[b] positions, the real tokens."""
  return jnp.arange(ids.shape[1])[None, :] < length[:, None]


class EncodedTextTask(base.Task):
  """A task reading token ids held in memory (`self.source`, an EncodedSource, through `_preprocess(example,
  seed, train)`), each batch cut to its longest text: `trimmed_fields` maps each padded token field to the
  field holding its lengths."""
  trimmed_fields: dict[str, str] = {}

  def _trimmed(self, batches, process_count):
    # Trimming is per process; with several processes every one must feed the same shape.
    if process_count > 1 or not self.config.data.get('trim_batches', True):
      return batches
    return batching.trim_to_longest(batches, self.config.data.length_multiple, self.trimmed_fields)

  def train_batches(self, start_step, process_index, process_count):
    data = self.config.data
    batches = pipeline.train_stream(
        self.source, data.train_split, self._preprocess, global_batch=self.config.batch_size,
        seed=self.config.seed, start_step=start_step, process_index=process_index,
        process_count=process_count, num_shards=data.num_shards, cache=True, shuffle_buffer=data.shuffle_buffer)
    return self._trimmed(batches, process_count)

  def eval_batches(self, process_index, process_count):
    batches = pipeline.eval_stream(self.source, self.config.data.eval_split, self._preprocess,
                                   global_batch=self.config.eval_batch_size, process_index=process_index,
                                   process_count=process_count)
    return self._trimmed(batches, process_count)


class TextClassificationTask(EncodedTextTask):
  """Predict a text's class from its tokens with a model from nets.rnn.MODELS."""
  trimmed_fields = {'ids': 'length'}

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    texts = make_text_source(data)
    self.class_names = texts.class_names
    splits = {name: texts.split(name) for name in (data.train_split, data.eval_split)}
    if data.tokenizer_dir:
      self.tokenizer = tokenizers.load(data.tokenizer_dir)
    else:
      self.tokenizer = tokenizers.train(data.tokenizer, splits[data.train_split].texts, data.vocab_size,
                                        data.min_count)
    self.source = EncodedSource({
        name: {'ids': [self.tokenizer.encode(t) for t in pipeline.progress(split.texts, desc=f'encoding {name}',
                                                                          unit=' texts')],
               'label': split.labels}
        for name, split in splits.items()})
    self.pretrained_embedding = self._pretrained_embedding(config.model.get('pretrained_vectors', ''))

  def _pretrained_embedding(self, path: str) -> np.ndarray | None:
    if not path:
      return None
    if not isinstance(self.tokenizer, tokenizers.WordTokenizer):
      raise UserInputError('model.pretrained_vectors needs data.tokenizer=word: the vectors are per word')
    matrix, found = word_vectors.vectors_for_vocabulary(self.tokenizer.tokens, path,
                                                        np.random.default_rng(self.config.seed))
    if matrix.shape[1] != self.config.model.embed_dim:
      raise UserInputError(f'{path} holds {matrix.shape[1]}-dimensional vectors but model.embed_dim is '
                           f'{self.config.model.embed_dim}; make them equal')
    if not found[2:].any():
      raise UserInputError(f'{path} has none of the vocabulary\'s words; is it for another language or tokenizer?')
    matrix[tokenizers.PAD_ID] = 0
    return matrix

  def _preprocess(self, example, seed, train):
    del seed, train  # no augmentation
    return dict(batching.pad_example(example['ids'], self.config.data.max_length), label=example['label'])

  def make_model(self, axis_name=None):
    del axis_name  # no batch statistics
    name, model = module_kwargs(self.config.model)
    if name not in rnn.MODELS:
      raise UserInputError(f'unknown model.name {name!r}; choose one of {sorted(rnn.MODELS)}')
    return rnn.MODELS[name](vocab_size=self.tokenizer.vocab_size, num_classes=len(self.class_names),
                            dtype=jnp.dtype(self.config.compute_dtype), **model)

  def init_variables(self, model, rng, batch):
    params_rng, dropout_rng = jax.random.split(rng)
    variables = model.init({'params': params_rng, 'dropout': dropout_rng}, batch['ids'],
                           token_mask(batch['ids'], batch['length']))
    if self.pretrained_embedding is not None:
      params = dict(variables['params'])
      params['embedding'] = {'embedding': jnp.asarray(self.pretrained_embedding)}
      variables = dict(variables, params=params)
    return dict(variables)

  def _logits(self, model, variables, batch, train, rng=None):
    mask = token_mask(batch['ids'], batch['length'])
    return model.apply(variables, batch['ids'], mask, train=train, rngs={'dropout': rng} if train else None)

  def loss(self, model, params, state, batch, rng, train):
    logits = self._logits(model, {'params': params, **state}, batch, train, rng)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()
    return loss, ({'accuracy': (logits.argmax(-1) == batch['label']).mean()}, state)

  def eval_metrics(self, model, variables, batch):
    logits = self._logits(model, variables, batch, train=False)
    return {'loss': optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']),
            'accuracy': (logits.argmax(-1) == batch['label']).astype(jnp.float32)}

  def export(self, variables, workdir):
    del variables
    self.tokenizer.save(workdir)
    with open(os.path.join(workdir, 'classes.txt'), 'w', encoding='utf-8') as f:
      f.write('\n'.join(self.class_names) + '\n')
