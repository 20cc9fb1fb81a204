"""Skip-gram with negative sampling (word2vec) as a task of the generic loop.

Data: a corpus (data.source = 'planted' | 'text_files' | 'tfds', see configs/skipgram_*.py) is
encoded once; `data.corpus.pairs` cuts it into global batches of `batch_size` (centre, context,
k negatives) pairs with subsampling and dynamic windows, epoch after epoch. `num_steps` <= 0
means "as many steps as `data.epochs` passes over the corpus take".

Update: word2vec's plain SGD with a linearly decaying learning rate (the config's 'linear'
schedule), applied micro-batch by micro-batch: each step scans over batch_size / micro_batch
micro-batches and updates only the table rows each one uses (a gather, the gradient of the
summed negative-sampling loss with respect to the gathered rows, a scatter-add). A dense
gradient through the optax optimizer would touch both whole tables every update, and one update
per large batch would average away the many small steps word2vec relies on, so this task plugs
into the loop through the `update` hook rather than `loss`.

Evaluation: the negative-sampling loss and the rate at which the true context outscores all k
negatives on held-out pairs (every `data.eval_every`-th sentence is held out; the planted corpus
holds out separately generated sentences), then on the host: planted-class neighbour precision
(planted corpus), Spearman correlation and OOV ratio on each `evaluation.similarity_files`, and
3CosAdd accuracy on each `evaluation.analogy_files`. `export` writes vectors.txt (word2vec text
format) to the workdir.
"""

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from data import read_ahead, word_vectors
from data.corpus import EncodedCorpus, build, encode, local_text, pairs, planted, tfds_text
from data.errors import UserInputError
from nets import skipgram
from train import optim, word_eval, xla_cpu
from train.tasks import base

SOURCES = ('planted', 'text_files', 'tfds')


def corpus_sentences(data, split: str):
  """A fresh iterator of token lists of the configured corpus; `split` is 'train' or 'eval'."""
  if data.source == 'planted':
    count = data.num_sentences if split == 'train' else data.num_eval_sentences
    # The eval sentences come from another seed: same lexicon, sentences never seen in training.
    return planted.sentences(count, data.corpus_seed + (split == 'eval'), data.num_topics, data.synonyms)
  if data.source == 'text_files':
    if not data.path:
      raise UserInputError("data.source='text_files' needs data.path: a text file or a quoted glob, "
                           "e.g. --config.data.path='corpus/*.txt'")
    sentences = local_text(data.path)
  elif data.source == 'tfds':
    if not data.name:
      raise UserInputError("data.source='tfds' needs data.name, e.g. --config.data.name=lm1b")
    sentences = tfds_text(data.name, data.split, data.feature, data.get('data_dir', ''))
  else:
    raise UserInputError(f'unknown data.source {data.source!r}; choose one of {SOURCES}')
  sentences = _up_to_words(sentences, data.max_words)
  if data.eval_every <= 0:
    return sentences  # no held-out part: evaluation pairs come from the training text
  held_out = (lambda i: i % data.eval_every == 0) if split == 'eval' else (lambda i: i % data.eval_every != 0)
  return (s for i, s in enumerate(sentences) if held_out(i))


def _up_to_words(sentences, max_words: int):
  """The leading sentences holding at most `max_words` words (all of them when max_words <= 0)."""
  total = 0
  for sentence in sentences:
    total += len(sentence)
    if 0 < max_words < total:
      return
    yield sentence


def sgns_sgd_step(tables, micro_batch):
  """One SGD step on a micro-batch's summed negative-sampling loss, touching only the rows it uses.

  tables: (target [V, D], context [V, D]); micro_batch: center [B], positive [B], negatives [B, k],
  learning rate []. All gradients are taken at the old values and summed into the rows, so this is
  exactly SGD on the dense loss; it just never forms the mostly-zero dense gradient.

  The gradient is written out (tested against jax.grad): d loss / d logit is s(x) - 1 for the true
  context and s(x) for a negative, and each row's gradient is that times the other side's rows.
  XLA:CPU then sums the centre rows' gradient in one loop of its own, where jax.grad's form is a
  batched dot product over a broadcast copy; compiled with the task's compiler options, the step
  is faster (bench/README_cpu_kernels.md).
  """
  target, context = tables
  center, positive, negatives, learning_rate = micro_batch
  candidates, weights = skipgram.candidates_and_weights(positive, negatives)
  # Ids come from the task's own vocabulary, so the gathers and scatters skip bounds handling.
  center_rows = target.at[center].get(mode='promise_in_bounds')
  candidate_rows = context.at[candidates].get(mode='promise_in_bounds')
  logits = skipgram.pair_logits(center_rows, candidate_rows)
  loss = jnp.sum(skipgram.negative_sampling_loss(logits, weights))
  is_true_context = jnp.arange(logits.shape[-1]) == 0
  logit_steps = -learning_rate * weights * (jax.nn.sigmoid(logits) - is_true_context)
  center_step = jnp.sum(logit_steps[..., None] * candidate_rows, axis=1)
  candidate_steps = logit_steps[..., None] * center_rows[:, None, :]
  target = target.at[center].add(center_step, mode='promise_in_bounds')
  context = context.at[candidates].add(candidate_steps, mode='promise_in_bounds')
  return (target, context), loss / len(center)


class SkipGramTask(base.Task):
  """word2vec skip-gram with negative sampling on a planted, local-file or TFDS corpus."""

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    if config.batch_size % data.micro_batch:
      raise UserInputError(f'batch_size={config.batch_size} must be a multiple of '
                           f'data.micro_batch={data.micro_batch}')
    self.vocab, self.corpus = build(corpus_sentences(data, 'train'), data.min_count, data.max_vocab)
    self.keep_prob = pairs.keep_probabilities(self.vocab.counts, data.sample)
    self.table = pairs.negative_table(self.vocab.counts)
    if config.num_steps <= 0:
      # The loop reads num_steps after building the task; this makes `data.epochs` the budget.
      per_epoch = pairs.pairs_per_epoch(self.corpus, self.keep_prob, data.window, config.seed)
      config.num_steps = max(1, math.ceil(data.epochs * per_epoch / config.batch_size))
    self.schedule = optim.learning_rate_schedule(config, config.num_steps)
    self.axis_name = None

  # --- Data. ---
  def train_batches(self, start_step, process_index, process_count):
    data = self.config.data
    rows = _process_rows(self.config.batch_size, process_index, process_count)
    batches = pairs.training_batches(self.corpus, self.keep_prob, self.table, window=data.window,
                                     negatives=data.negatives, batch_size=self.config.batch_size,
                                     seed=self.config.seed, start_batch=start_step)
    # Each chunk's pairs take many milliseconds of numpy; cut in the loop, the device would wait
    # for them after every log line, so a thread cuts them ahead (bench/README_cpu_kernels.md).
    return read_ahead.read_ahead(({k: v[rows] for k, v in batch.items()} for batch in batches), depth=4)

  def batch_template(self, rows):
    negatives = self.config.data.negatives
    return {'center': np.zeros((rows,), np.int32), 'context': np.zeros((rows,), np.int32),
            'negatives': np.zeros((rows, negatives), np.int32)}

  @functools.cached_property
  def _eval_pairs(self) -> dict[str, np.ndarray]:
    """Up to data.eval_pairs fixed pairs with fixed negatives, drawn as in training, from the first
    held-out sentences (from the training text when data.eval_every <= 0)."""
    data = self.config.data
    held_out = self.corpus
    if data.source == 'planted' or data.eval_every > 0:
      held_out = encode(corpus_sentences(data, 'eval'), self.vocab)
    _, stop = pairs.sentence_chunks(held_out, 4 * data.eval_pairs)[0]  # ~2.5 pairs a word: enough
    head = EncodedCorpus(held_out.ids[:stop], held_out.sentence[:stop])
    centers, contexts = next(pairs.epoch_pairs(head, self.keep_prob, data.window, self.config.seed, epoch=0,
                                               chunk_words=stop))
    rng = np.random.default_rng(self.config.seed)
    chosen = np.sort(rng.permutation(len(centers))[:data.eval_pairs])
    negatives = self.table[rng.integers(0, len(self.table), (len(chosen), data.negatives))]
    return {'center': centers[chosen], 'context': contexts[chosen], 'negatives': negatives}

  def eval_batches(self, process_index, process_count):
    examples = dict(self._eval_pairs)
    global_batch = self.config.eval_batch_size
    num_batches = math.ceil(len(examples['center']) / global_batch)
    examples['mask'] = np.ones(len(examples['center']), np.float32)
    padding = num_batches * global_batch - len(examples['center'])
    examples = {k: np.concatenate([v, np.zeros((padding,) + v.shape[1:], v.dtype)])
                for k, v in examples.items()}
    rows = _process_rows(global_batch, process_index, process_count)
    for start in range(0, num_batches * global_batch, global_batch):
      yield {k: v[start:start + global_batch][rows] for k, v in examples.items()}

  # --- Model. ---
  def make_model(self, axis_name=None):
    if self.config.model.name != 'skipgram':
      raise UserInputError(f"unknown model.name {self.config.model.name!r}; the skipgram task has 'skipgram'")
    self.axis_name = axis_name
    return skipgram.SkipGram(vocab_size=len(self.vocab), dim=self.config.model.dim)

  def init_variables(self, model, rng, batch):
    contexts, _ = skipgram.candidates_and_weights(batch['context'][:1], batch['negatives'][:1])
    return dict(model.init(rng, batch['center'][:1], contexts))

  def train_step_compiler_options(self):
    return xla_cpu.library_dots_only_compile_options(jax.default_backend())

  # --- Pure functions. ---
  def update(self, model, params, model_state, batch, rng, step):
    del model, rng  # the update works on the tables directly; all randomness is in the data
    micro = self.config.data.micro_batch
    center = batch['center'].reshape(-1, micro)
    num_micro = center.shape[0]
    # The learning rate keeps decaying from micro-batch to micro-batch within the step.
    rates = self.schedule(step + jnp.arange(num_micro) / num_micro)
    micro_batches = (center, batch['context'].reshape(-1, micro),
                     batch['negatives'].reshape(num_micro, micro, -1), rates)
    tables = (params['target']['embedding'], params['context']['embedding'])
    new_tables, losses = jax.lax.scan(sgns_sgd_step, tables, micro_batches)
    if self.axis_name:  # pmap: every device stepped through its own pairs; apply all their changes
      new_tables = jax.tree.map(lambda new, old: old + jax.lax.psum(new - old, self.axis_name),
                                new_tables, tables)
    params = {'target': {'embedding': new_tables[0]}, 'context': {'embedding': new_tables[1]}}
    return params, model_state, {'loss': jnp.mean(losses)}

  def loss(self, model, params, state, batch, rng, train):
    """The same objective, averaged: what the loop's gradient path would use without `update`."""
    del rng, train
    values = self.eval_metrics(model, {'params': params}, batch)
    return jnp.mean(values['loss']), ({'pair_accuracy': jnp.mean(values['pair_accuracy'])}, state)

  def eval_metrics(self, model, variables, batch):
    candidates, weights = skipgram.candidates_and_weights(batch['context'], batch['negatives'])
    logits = model.apply(variables, batch['center'], candidates)
    negatives = jnp.where(weights[:, 1:] > 0, logits[:, 1:], -jnp.inf)
    return {'loss': skipgram.negative_sampling_loss(logits, weights),
            'pair_accuracy': (logits[:, 0] > jnp.max(negatives, axis=1)).astype(jnp.float32)}

  # --- Host-side. ---
  def embeddings(self, variables) -> np.ndarray:
    return np.asarray(variables['params']['target']['embedding'])

  def evaluate_host(self, variables, workdir):
    del workdir
    vectors, words = self.embeddings(variables), self.vocab.words
    results = {}
    if self.config.data.source == 'planted':
      classes = planted.lexicon(self.config.data.num_topics, self.config.data.synonyms)
      results['planted_neighbor_precision'] = word_eval.class_neighbor_precision(words, vectors, classes)
      results['planted_spearman'] = word_eval.evaluate_similarity(
          words, vectors, planted.similarity_triples(classes))['spearman']
    evaluation = self.config.evaluation
    for path in evaluation.similarity_files:
      scores = word_eval.evaluate_similarity(words, vectors, word_eval.read_similarity_file(path))
      name = os.path.splitext(os.path.basename(path))[0]
      results.update({f'{name}_spearman': scores['spearman'], f'{name}_oov_ratio': scores['oov_ratio']})
    for path in evaluation.analogy_files:
      scores = word_eval.evaluate_analogies(words, vectors, word_eval.read_analogy_file(path),
                                            evaluation.restrict_vocab)
      name = os.path.splitext(os.path.basename(path))[0]
      results.update({f'{name}_accuracy': scores['accuracy'],
                      f'{name}_skipped_ratio': scores['skipped_ratio']})
    return results

  def export(self, variables, workdir):
    word_vectors.save(os.path.join(workdir, 'vectors.txt'), self.vocab.words, self.embeddings(variables))


def _process_rows(global_batch: int, process_index: int, process_count: int) -> slice:
  if global_batch % process_count:
    raise UserInputError(f'a batch of {global_batch} cannot be split over {process_count} processes')
  per_process = global_batch // process_count
  return slice(process_index * per_process, (process_index + 1) * per_process)
