"""Sequence to sequence: machine translation and a chatbot with the encoder-decoder RNN of nets/seq2seq.py.

Data: parallel texts (data/text/parallel.py: a TFDS translation or dialogue set by name, a CSV/TSV
with source and target columns, or JSON/JSONL conversations whose last `context_turns` turns are
the source and the next turn the target), read into memory. The tokenizers ('word' or 'subword',
with the sentence marks <s> and </s>) are trained on the training split: one for both sides when
`data.shared_vocabulary` (then `model.share_embeddings` may tie the two embedding tables), else
one per side; `data.tokenizer_dir` loads those of an earlier run instead.

Each example becomes
  source      [max_source_length] the source ids, padded; source_length
  target_in   [max_target_length] <s> and the reference (teacher forcing: what the decoder reads)
  target_out  [max_target_length] the reference and </s> (what it must predict); target_length
  index       the example's place in `source_texts`, the sources as written (for rewards)
and batches are cut to their longest source and target.

Loss: token cross-entropy with label smoothing (Szegedy et al. 2016), over the real target tokens.
The evaluations during training report each sentence's mean token loss (unsmoothed) and token
accuracy; the final evaluation (`evaluate_host`) adds the token-weighted perplexity and decodes
`eval.decode_examples` eval sentences with beam search: BLEU and chrF (sacrebleu) and exact
match against the references (as the word tokenizer reads them, if it is the one), overall and by source length in words (Bahdanau et al. 2015's figure), and the mean reward
of the replies under each of `eval.rewards` (train/tasks/rewards.py). The decoded sentences are
written to WORKDIR/eval_decoded.tsv.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from data import corpus, pipeline
from data.errors import UserInputError
from data.text import batching, parallel, tokenizers
from data.text.sources import EncodedSource
from nets import decoding, seq2seq
from train.tasks import rewards
from train.tasks.text import EncodedTextTask

LENGTH_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, None))  # source words, as in Bahdanau et al.'s figure


def load_tokenizers(directory: str):
  """(source tokenizer, target tokenizer) an earlier run saved: shared in `directory`, or in source/ and target/."""
  if os.path.isdir(os.path.join(directory, 'source')):
    return tokenizers.load(os.path.join(directory, 'source')), tokenizers.load(os.path.join(directory, 'target'))
  shared = tokenizers.load(directory)
  return shared, shared


def save_tokenizers(source_tokenizer, target_tokenizer, directory: str) -> None:
  if source_tokenizer is target_tokenizer:
    source_tokenizer.save(directory)
  else:
    source_tokenizer.save(os.path.join(directory, 'source'))
    target_tokenizer.save(os.path.join(directory, 'target'))


def make_model(config, source_vocab_size: int, target_vocab_size: int) -> seq2seq.Seq2Seq:
  kwargs = dict(config.model)
  kwargs.pop('name')
  if kwargs.get('attention', 'bahdanau') not in seq2seq.ATTENTIONS:
    raise UserInputError(f'unknown model.attention {kwargs["attention"]!r}; choose one of {seq2seq.ATTENTIONS}')
  if kwargs.get('share_embeddings') and source_vocab_size != target_vocab_size:
    raise UserInputError('model.share_embeddings needs one vocabulary for both sides: set data.shared_vocabulary=True')
  return seq2seq.Seq2Seq(source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size,
                         dtype=jnp.dtype(config.compute_dtype), **kwargs)


def target_mask(batch):
  """[B, T] True on the real target positions (the reference's tokens and its </s>)."""
  return jnp.arange(batch['target_out'].shape[1])[None, :] < batch['target_length'][:, None]


def source_mask(source, source_length):
  return jnp.arange(source.shape[1])[None, :] < source_length[:, None]


def decode_sources(model: seq2seq.Seq2Seq, variables, source, source_length, rng, *, method: str, marks: dict,
                   **options) -> decoding.Decoded:
  """Encodes `source` [B, S] and writes each row's target with nets/decoding.py's `method`: 'beam' (options
  beam_width, length_penalty), 'greedy' or 'sample' (rng; temperature, top_k, top_p). `marks` holds bos_id,
  eos_id and max_length. Pure: jit it, or call it inside a compiled step."""
  state = model.apply(variables, source, source_mask(source, source_length), method=model.encode)
  step_fn = lambda state, tokens: model.apply(variables, state, tokens, method=model.decode_step)
  if method == 'beam':
    return decoding.beam_search(step_fn, state, **marks, **options)
  if method == 'greedy':
    return decoding.greedy(step_fn, state, **marks)
  return decoding.sample(step_fn, state, rng, **marks, **options)


def sentence_marks(target_tokenizer, max_length: int) -> dict:
  return {'bos_id': target_tokenizer.bos_id, 'eos_id': target_tokenizer.eos_id, 'max_length': max_length}


def make_decoder(model: seq2seq.Seq2Seq, target_tokenizer, max_length: int, method: str = 'beam', **options):
  """A jitted (variables, source [B, S], source_length [B], rng) -> decoding.Decoded: decode_sources with `method`."""
  if method not in ('beam', 'greedy', 'sample'):
    raise UserInputError(f"unknown decoding {method!r}; choose 'beam', 'greedy' or 'sample'")
  marks = sentence_marks(target_tokenizer, max_length)
  return jax.jit(functools.partial(decode_sources, model, method=method, marks=marks, **options))


def best_tokens(decoded: decoding.Decoded) -> np.ndarray:
  """[B, L] token ids of each row's best sequence (beam search's first beam)."""
  tokens = np.asarray(decoded.tokens)
  return tokens[:, 0] if tokens.ndim == 3 else tokens


def detokenize(tokenizer, ids) -> str:
  """A decoded row's text: the tokens before its first </s>."""
  ids = [int(i) for i in ids]
  if tokenizer.eos_id in ids:
    ids = ids[:ids.index(tokenizer.eos_id)]
  return tokenizer.decode(ids)


def padded_batches(encoded: list[np.ndarray], batch_size: int, max_length: int):
  """(ids [batch_size, max_length], lengths [batch_size], real rows) over `encoded`; the last batch padded
  with empty rows, so that every batch has one shape and a decoder compiles once."""
  for start in range(0, len(encoded), batch_size):
    rows = encoded[start:start + batch_size]
    yield (*batching.padded_ids(rows, max_length, batch_size), len(rows))


def decode_texts(decode, variables, source_tokenizer, target_tokenizer, texts: list[str], rng: jax.Array,
                 batch_size: int, max_source_length: int) -> list[str]:
  """The decoded text of each of `texts`, in order, in batches of `batch_size` rows; `decode` is make_decoder's."""
  encoded = [source_tokenizer.encode(text) for text in texts]
  decoded = []
  for ids, lengths, real in padded_batches(encoded, batch_size, max_source_length):
    rng, batch_rng = jax.random.split(rng)
    rows = best_tokens(decode(variables, ids, lengths, batch_rng))[:real]
    decoded.extend(detokenize(target_tokenizer, row) for row in rows)
  return decoded


class Seq2SeqTask(EncodedTextTask):
  """Predict a target sentence from a source sentence (translation) or a reply from a context (dialogue)."""
  trimmed_fields = {'source': 'source_length', 'target_in': 'target_length', 'target_out': 'target_length'}

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    texts = parallel.make_parallel_source(data)
    splits = {name: texts.split(name) for name in (data.train_split, data.eval_split)}
    self.eval_texts = splits[data.eval_split]
    if data.tokenizer_dir:
      self.source_tokenizer, self.target_tokenizer = load_tokenizers(data.tokenizer_dir)
    else:
      train = splits[data.train_split]
      make = functools.partial(tokenizers.train, data.tokenizer, vocab_size=data.vocab_size,
                               min_count=data.min_count, sentence_marks=True)
      if data.shared_vocabulary:
        self.source_tokenizer = self.target_tokenizer = make(train.sources + train.targets)
      else:
        self.source_tokenizer, self.target_tokenizer = make(train.sources), make(train.targets)
    # Every example carries its index into `source_texts`: a reward reads the source as written,
    # where the ids hold only what the tokenizer kept of it (the word tokenizer drops punctuation).
    self.source_texts, indices = [], {}
    for name, split in splits.items():
      indices[name] = np.arange(len(self.source_texts), len(self.source_texts) + len(split.sources), dtype=np.int32)
      self.source_texts += split.sources
    self.source = EncodedSource({name: {'source': self._encode(self.source_tokenizer, split.sources, f'{name} sources'),
                                        'target': self._encode(self.target_tokenizer, split.targets, f'{name} targets'),
                                        'index': indices[name]}
                                 for name, split in splits.items()})
    self.rewards = {name: rewards.make_reward(name) for name in config.eval.rewards}

  @staticmethod
  def _encode(tokenizer, texts, what):
    return [tokenizer.encode(t) for t in pipeline.progress(texts, desc=f'encoding {what}', unit=' texts')]

  # --- Data. ---
  def _preprocess(self, example, seed, train):
    del seed, train  # no augmentation
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    data = self.config.data
    source = batching.pad_example(example['source'], data.max_source_length)
    target = example['target'][:data.max_target_length - 1]
    target_in = batching.pad_example(tf.concat([[self.target_tokenizer.bos_id], target], 0), data.max_target_length)
    target_out = batching.pad_example(tf.concat([target, [self.target_tokenizer.eos_id]], 0), data.max_target_length)
    return {'index': example['index'], 'source': source['ids'], 'source_length': source['length'],
            'target_in': target_in['ids'], 'target_out': target_out['ids'], 'target_length': target_out['length']}

  # --- Model. ---
  def make_model(self, axis_name=None):
    del axis_name  # no batch statistics
    return make_model(self.config, self.source_tokenizer.vocab_size, self.target_tokenizer.vocab_size)

  def init_variables(self, model, rng, batch):
    params_rng, dropout_rng = jax.random.split(rng)
    return dict(model.init({'params': params_rng, 'dropout': dropout_rng}, batch['source'],
                           source_mask(batch['source'], batch['source_length']), batch['target_in']))

  def _logits(self, model, variables, batch, train, rng=None):
    return model.apply(variables, batch['source'], source_mask(batch['source'], batch['source_length']),
                       batch['target_in'], train=train, rngs={'dropout': rng} if train else None)

  def loss(self, model, params, state, batch, rng, train):
    logits = self._logits(model, {'params': params, **state}, batch, train, rng)
    mask = target_mask(batch)
    smoothed = optax.smooth_labels(jax.nn.one_hot(batch['target_out'], logits.shape[-1]),
                                   self.config.label_smoothing)
    tokens = jnp.maximum(mask.sum(), 1)
    loss = jnp.where(mask, optax.softmax_cross_entropy(logits, smoothed), 0).sum() / tokens
    nll = jnp.where(mask, optax.softmax_cross_entropy_with_integer_labels(logits, batch['target_out']), 0).sum() / tokens
    accuracy = jnp.where(mask, logits.argmax(-1) == batch['target_out'], False).sum() / tokens
    return loss, ({'nll': nll, 'token_accuracy': accuracy}, state)

  def eval_metrics(self, model, variables, batch):
    logits = self._logits(model, variables, batch, train=False)
    mask = target_mask(batch)
    tokens = jnp.maximum(mask.sum(axis=1), 1)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['target_out'])
    return {'loss': jnp.where(mask, nll, 0).sum(axis=1) / tokens,
            'token_accuracy': jnp.where(mask, logits.argmax(-1) == batch['target_out'], False).sum(axis=1) / tokens}

  # --- The final evaluation: perplexity, and what beam search writes. ---
  def evaluate_host(self, variables, workdir):
    metrics = {'perplexity': self._perplexity(variables)}
    count = min(self.config.eval.decode_examples, len(self.eval_texts.sources))
    if not count:
      return metrics
    sources = self.eval_texts.sources[:count]
    references = [scored_text(self.target_tokenizer, t) for t in self.eval_texts.targets[:count]]
    hypotheses = self.decode_texts(variables, sources)
    metrics.update(translation_scores(sources, references, hypotheses))
    for name, reward in self.rewards.items():
      metrics[f'reward_{name}'] = float(np.mean([reward(s, h) for s, h in zip(sources, hypotheses)]))
    if jax.process_index() == 0:
      with open(os.path.join(workdir, 'eval_decoded.tsv'), 'w', encoding='utf-8') as f:
        f.write('source\treference\tdecoded\n')
        f.writelines(f'{s}\t{r}\t{h}\n' for s, r, h in zip(sources, references, hypotheses))
    return metrics

  def _perplexity(self, variables) -> float:
    """exp(the mean loss per real target token over the eval split); eval_metrics' averages are per sentence."""
    model = self.make_model()

    @jax.jit
    def sums(variables, batch):
      logits = self._logits(model, variables, batch, train=False)
      mask = target_mask(batch) & (batch['mask'] > 0)[:, None]
      nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['target_out'])
      return jnp.where(mask, nll, 0).sum(), mask.sum()

    totals = np.zeros(2)
    for batch in self.eval_batches(0, 1):
      totals += np.array([float(x) for x in sums(variables, batch)])
    return float(np.exp(totals[0] / max(totals[1], 1)))

  def decode_texts(self, variables, sources: list[str], method: str = 'beam', rng=None, **options) -> list[str]:
    """Decoded target texts of `sources` (beam search with eval.beam_width and eval.length_penalty by default)."""
    data, evaluation = self.config.data, self.config.eval
    if method == 'beam':
      options = {'beam_width': evaluation.beam_width, 'length_penalty': evaluation.length_penalty, **options}
    decode = make_decoder(self.make_model(), self.target_tokenizer, data.max_target_length, method, **options)
    return decode_texts(decode, variables, self.source_tokenizer, self.target_tokenizer, sources,
                        jax.random.key(self.config.seed) if rng is None else rng, self.config.eval_batch_size,
                        data.max_source_length)

  def export(self, variables, workdir):
    del variables
    save_tokenizers(self.source_tokenizer, self.target_tokenizer, workdir)


def scored_text(tokenizer, text: str) -> str:
  """A reference as the decoded texts can write it: the word tokenizer reads words only (case folded,
  punctuation dropped), so its decoded texts are scored against references read the same way;
  sentencepiece writes text as it is."""
  return ' '.join(corpus.tokenize(text)) if isinstance(tokenizer, tokenizers.WordTokenizer) else text


def translation_scores(sources: list[str], references: list[str], hypotheses: list[str]) -> dict[str, float]:
  """BLEU, chrF and exact match of decoded texts, overall and by source length in words (sacrebleu)."""
  import sacrebleu  # pylint: disable=import-outside-toplevel
  scores = {'bleu': sacrebleu.corpus_bleu(hypotheses, [references]).score,
            'chrf': sacrebleu.corpus_chrf(hypotheses, [references]).score,
            'exact_match': float(np.mean([h.split() == r.split() for h, r in zip(hypotheses, references)]))}
  words = np.array([len(s.split()) for s in sources])
  for low, high in LENGTH_BUCKETS:
    chosen = np.flatnonzero((words >= low) & (words <= (high or words.max(initial=0))))
    if len(chosen):
      name = f'{low}_{high}' if high else f'{low}_up'
      scores[f'bleu_len_{name}'] = sacrebleu.corpus_bleu([hypotheses[i] for i in chosen],
                                                         [[references[i] for i in chosen]]).score
      scores[f'count_len_{name}'] = float(len(chosen))
  return scores
