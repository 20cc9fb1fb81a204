"""Training and beam-search speed of the translation RNN, JAX/Flax (nets/seq2seq.py) beside PyTorch, in one run.

  python bench/seq2seq_throughput.py                              # the issue's sizes, ~2-3 min on 2 loaded cores
  python bench/seq2seq_throughput.py --torch-threads 1            # PyTorch on one thread (~1.5 min)
  python bench/seq2seq_throughput.py --repeats 9 --train-steps 6 --searches 2   # longer timings, tighter medians

The model is configs/translation_rnn.py's: embedding 64, a bidirectional LSTM encoder of 128
features (64 per direction), a tanh Dense bridge from its final states to the decoder's, Bahdanau
attention, an LSTM decoder of 128 reading [previous word; context], and the output layer over
[state; context; previous word], dropout 0.1; AdamW with global-norm clipping and the
warmup-cosine schedule; token cross-entropy with label smoothing over the real target tokens.
Here the vocabulary is 1000 words per side (--vocab) and every sentence pair is random, 24 to 32
tokens per side, padded to 32: the speed of a step does not depend on what the words mean.

Ours is the trainer's own code: the translation task's model and loss (train/tasks/seq2seq.py,
without its data), train.optim's optimizer and train.steps' jitted step that donates the state, as
train/loop.py builds them; decoding is the task's jitted `make_decoder` around
nets.decoding.beam_search. PyTorch's model below is the same architecture written with nn.LSTM
(packed sequences, so the backward direction starts at each source's last real token, as the
masked scan of nets.rnn does), nn.LSTMCell in a Python loop over the target and the same step
module for training and decoding. It starts from our parameters, copied over, and the two must
agree on the logits of a batch before anything is timed: the comparison is of two
implementations of one function. Its beam search is nets.decoding.beam_search's algorithm in
eager PyTorch: the top 2K of the K x vocabulary candidates, hypotheses ending in </s> kept aside,
the live beams' states gathered by parent, a row done when no live beam can beat its worst
finished hypothesis.

A model with random weights writes </s> whenever it likes, and a search ends as soon as every
row is done, so the two searches could do different amounts of work. Both decode with </s>'s
output bias at -1e4 instead: no hypothesis ever ends, and both run exactly --decode-length steps
of the same work per step. (A trained model stops earlier; the speed per step is the same.)

Reported: target tokens/s of full training steps (forward, backward, clipping, AdamW) and
sentences/s of beam search (beam 4, batch 64), the median of --repeats timings each, taken in
turns (ours, PyTorch, PyTorch, ours, ...) after a pause, so that a shared machine's load changes
hit both alike; and the spread of the repeats and the load average, which on a shared machine
matter as much as the medians. Both frameworks run with the trainer's malloc settings and XLA
flags (train/xla_cpu.py), nothing tuned for this benchmark. Results: bench/README_seq2seq.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.cnn_throughput import build_trainer, init_state, torch_optimizer  # pylint: disable=wrong-import-position
from data.text import tokenizers  # pylint: disable=wrong-import-position
from nets.decoding import length_penalty_of  # pylint: disable=wrong-import-position
from train import xla_cpu  # pylint: disable=wrong-import-position

NEVER_WRITTEN = -1e4  # </s>'s output bias while decoding: its probability is e^-10000 of any other word's


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--vocab', type=int, default=1000, help='words per side, the 4 reserved tokens included')
  parser.add_argument('--batch', type=int, default=64, help='sentence pairs per training step and per search')
  parser.add_argument('--min-length', type=int, default=24, help='shortest source and target, in tokens')
  parser.add_argument('--max-length', type=int, default=32, help='longest ones; every batch is padded to this')
  parser.add_argument('--beam', type=int, default=4)
  parser.add_argument('--decode-length', type=int, default=32, help='tokens each search writes')
  parser.add_argument('--batches', type=int, default=2, help='different random batches, used in turn')
  parser.add_argument('--train-steps', type=int, default=2, help='training steps per timing')
  parser.add_argument('--searches', type=int, default=1, help='beam searches (of a batch) per timing')
  parser.add_argument('--warmup', type=int, default=1, help='untimed training steps (and searches) of each side first')
  parser.add_argument('--repeats', type=int, default=5, help='timings per side; the median is reported')
  parser.add_argument('--torch-threads', type=int, default=os.cpu_count(), help='torch.set_num_threads')
  parser.add_argument('--glibc-default-malloc', action='store_true',
                      help="no restart with train.xla_cpu.MALLOC_TUNABLES (glibc's defaults)")
  return parser.parse_args()


# ----------------------------------------------------------------------------------------------
# The data: random sentence pairs in the translation task's batch layout.


def random_vocabulary(size: int) -> tokenizers.WordTokenizer:
  """A word vocabulary of `size` made-up words, with <pad>, <unk>, <s> and </s> at their usual ids."""
  reserved = (tokenizers.PAD, tokenizers.UNK, tokenizers.BOS, tokenizers.EOS)
  return tokenizers.WordTokenizer(reserved + tuple(f'word{i}' for i in range(size - len(reserved))))


def random_words(rng: np.random.Generator, args) -> tuple[np.ndarray, np.ndarray]:
  """(ids [batch, max_length]: random words, then padding; lengths [batch], from min_length to max_length)."""
  lengths = rng.integers(args.min_length, args.max_length + 1, args.batch).astype(np.int32)
  words = rng.integers(tokenizers.EOS_ID + 1, args.vocab, (args.batch, args.max_length)).astype(np.int32)
  return np.where(np.arange(args.max_length)[None, :] < lengths[:, None], words, tokenizers.PAD_ID), lengths


def random_batch(rng: np.random.Generator, args) -> dict:
  """A batch as Seq2SeqTask feeds the train step: a source, and a target that ends in </s>."""
  source, source_length = random_words(rng, args)
  target_out, target_length = random_words(rng, args)
  target_out[np.arange(args.batch), target_length - 1] = tokenizers.EOS_ID
  # The decoder reads <s> and the reference: what it must predict, one position later, without the </s>.
  target_in = np.concatenate([np.full((args.batch, 1), tokenizers.BOS_ID, np.int32), target_out[:, :-1]], axis=1)
  target_in = np.where(target_in == tokenizers.EOS_ID, tokenizers.PAD_ID, target_in)
  return {'source': source, 'source_length': source_length, 'target_in': target_in, 'target_out': target_out,
          'target_length': target_length}


# ----------------------------------------------------------------------------------------------
# Ours: the trainer's step and decoder.


def random_pairs_task(config, vocabulary):
  """Seq2SeqTask's model, loss and decoder, without its data.

  Seq2SeqTask.__init__ reads the parallel texts and trains the tokenizers on them; the benchmark
  feeds random batches instead. So a subclass sets the tokenizers itself and inherits make_model,
  init_variables and loss unchanged: the compiled step is the trainer's own.
  """
  from train.tasks import base, seq2seq  # pylint: disable=import-outside-toplevel

  class RandomPairsTranslation(seq2seq.Seq2SeqTask):

    def __init__(self, config):  # pylint: disable=super-init-not-called
      base.Task.__init__(self, config)
      self.source_tokenizer = self.target_tokenizer = vocabulary

  return RandomPairsTranslation(config)


def never_ending(params):
  """The parameters with </s>'s output bias at NEVER_WRITTEN: every search then runs to its full length."""
  params = jax.tree.map(np.array, params)  # a copy
  params['decoder']['output']['bias'][tokenizers.EOS_ID] = NEVER_WRITTEN
  return params


# ----------------------------------------------------------------------------------------------
# PyTorch: the same model, its training step and its beam search.


class TorchSeq2Seq(torch.nn.Module):
  """nets.seq2seq.Seq2Seq (LSTM, one layer, bidirectional encoder, 'bahdanau') in PyTorch, parameter for parameter."""

  def __init__(self, source_vocab_size, target_vocab_size, embed_dim, features, dropout_rate):
    super().__init__()
    nn = torch.nn
    self.source_embedding = nn.Embedding(source_vocab_size, embed_dim)
    self.target_embedding = nn.Embedding(target_vocab_size, embed_dim)
    self.dropout = nn.Dropout(dropout_rate)
    self.encoder = nn.LSTM(embed_dim, features // 2, batch_first=True, bidirectional=True)
    self.bridge_c = nn.Linear(features, features)
    self.bridge_h = nn.Linear(features, features)
    self.attention_keys = nn.Linear(features, features, bias=False)
    self.query = nn.Linear(features, features)
    self.score = nn.Linear(features, 1, bias=False)
    self.decoder = nn.LSTMCell(embed_dim + features, features)
    self.output = nn.Linear(2 * features + embed_dim, target_vocab_size)
    # Flax's LSTM cell has one bias per gate (on the recurrent product), PyTorch's two; the input
    # ones stay zero and untrained, so both models train the same parameters.
    for lstm in (self.encoder, self.decoder):
      for name, parameter in lstm.named_parameters():
        if name.startswith('bias_ih'):
          parameter.requires_grad_(False)

  def encode(self, source, source_length):
    """source [B, S], source_length [B] -> the decoding state: the decoder's (h, c), memory, keys and mask."""
    embedded = self.dropout(self.source_embedding(source))
    packed = torch.nn.utils.rnn.pack_padded_sequence(embedded, source_length, batch_first=True, enforce_sorted=False)
    outputs, (h, c) = self.encoder(packed)
    memory, _ = torch.nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
    return {'h': torch.tanh(self.bridge_h(torch.cat([h[0], h[1]], dim=-1))),
            'c': torch.tanh(self.bridge_c(torch.cat([c[0], c[1]], dim=-1))),
            'memory': memory, 'keys': self.attention_keys(memory),
            'source_mask': torch.arange(source.shape[1])[None, :] < source_length[:, None]}

  def decode_step(self, state, embedded):
    """One step: (state, embedded previous tokens [N, E]) -> (new state, logits [N, target_vocab])."""
    query = self.query(state['h'])
    scores = self.score(torch.tanh(query[:, None] + state['keys']))[..., 0]
    weights = torch.softmax(scores.masked_fill(~state['source_mask'], -torch.inf), dim=-1)
    context = torch.bmm(weights[:, None], state['memory'])[:, 0]
    h, c = self.decoder(torch.cat([embedded, context], dim=-1), (state['h'], state['c']))
    readout = self.dropout(torch.cat([h, context, embedded], dim=-1))
    return dict(state, h=h, c=c), self.output(readout)

  def forward(self, source, source_length, target_in):
    """Teacher forcing -> logits [B, T, target_vocab]."""
    state = self.encode(source, source_length)
    embedded = self.dropout(self.target_embedding(target_in))
    logits = []
    for t in range(target_in.shape[1]):
      state, step_logits = self.decode_step(state, embedded[:, t])
      logits.append(step_logits)
    return torch.stack(logits, dim=1)


def torch_parameters(params) -> dict:
  """Our Flax parameters under TorchSeq2Seq's names: Dense kernels [in, out] become Linear weights [out, in]."""

  def linear(name, dense):
    weights = {f'{name}.weight': dense['kernel'].T}
    if 'bias' in dense:
      weights[f'{name}.bias'] = dense['bias']
    return weights

  def lstm(name, cell, suffix=''):
    # Flax has a Dense per gate; PyTorch stacks the gates i, f, g, o in one matrix.
    gates = 'ifgo'
    return {f'{name}.weight_ih{suffix}': np.concatenate([cell[f'i{g}']['kernel'] for g in gates], axis=1).T,
            f'{name}.weight_hh{suffix}': np.concatenate([cell[f'h{g}']['kernel'] for g in gates], axis=1).T,
            f'{name}.bias_hh{suffix}': np.concatenate([cell[f'h{g}']['bias'] for g in gates]),
            f'{name}.bias_ih{suffix}': np.zeros(4 * cell['hi']['bias'].shape[0], np.float32)}

  decoder, encoder = params['decoder'], params['encoder']
  named = {'source_embedding.weight': params['source_embedding']['embedding'],
           'target_embedding.weight': params['target_embedding']['embedding'],
           **lstm('encoder', encoder['layer0_forward']['cell'], '_l0'),
           **lstm('encoder', encoder['layer0_backward']['cell'], '_l0_reverse'),
           # The bridge maps an LSTM carry (c, h) part by part: Dense_0 for c, Dense_1 for h.
           **linear('bridge_c', params['bridge']['Dense_0']), **linear('bridge_h', params['bridge']['Dense_1']),
           **linear('attention_keys', params['attention_keys']), **linear('query', decoder['query']),
           **linear('score', decoder['score']), **lstm('decoder', decoder['layer0']),
           **linear('output', decoder['output'])}
  return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in named.items()}


def torch_model(config, vocab_size: int, params) -> TorchSeq2Seq:
  model = TorchSeq2Seq(vocab_size, vocab_size, config.model.embed_dim, config.model.features,
                       config.model.dropout_rate)
  model.load_state_dict(torch_parameters(params))
  return model


def torch_batch(batch: dict) -> dict:
  return {name: torch.from_numpy(value).long() for name, value in batch.items()}


def torch_train_step(model, optimizer, scheduler, batch, config) -> dict:
  """One full step, as train.steps' step with Seq2SeqTask's loss: smoothed loss, clipping, AdamW; the same metrics."""
  optimizer.zero_grad(set_to_none=True)
  logits = model(batch['source'], batch['source_length'], batch['target_in']).transpose(1, 2)  # classes second
  mask = torch.arange(logits.shape[-1])[None, :] < batch['target_length'][:, None]
  tokens = mask.sum().clamp(min=1)
  token_loss = torch.nn.functional.cross_entropy(logits, batch['target_out'], reduction='none',
                                                 label_smoothing=config.label_smoothing)
  loss = torch.where(mask, token_loss, 0).sum() / tokens
  loss.backward()
  with torch.no_grad():
    nll = torch.nn.functional.cross_entropy(logits, batch['target_out'], reduction='none')
    metrics = {'loss': loss.detach(), 'nll': torch.where(mask, nll, 0).sum() / tokens,
               'token_accuracy': ((logits.argmax(1) == batch['target_out']) & mask).sum() / tokens}
  metrics['grad_norm'] = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optimizer.grad_clip_norm)
  optimizer.step()
  scheduler.step()
  return metrics


def pick(sequences, order):
  """sequences [B, N, L] at order [B, K] -> [B, K, L] (a new tensor)."""
  return sequences.gather(1, order[..., None].expand(-1, -1, sequences.shape[-1]))


@torch.inference_mode()
def torch_beam_search(model, source, source_length, *, bos_id, eos_id, max_length, beam_width, length_penalty,
                      pad_id=0):
  """nets.decoding.beam_search's algorithm, eagerly -> (tokens [B, K, max_length], scores [B, K]), best first."""
  batch, width = source.shape[0], beam_width
  state = {name: value.repeat_interleave(width, dim=0) for name, value in model.encode(source, source_length).items()}
  first_row_of = torch.arange(batch)[:, None] * width
  previous = torch.full((batch, width), bos_id)
  tokens = torch.full((batch, width, max_length), pad_id)
  log_probs = torch.full((batch, width), -torch.inf)
  log_probs[:, 0] = 0.0  # only the first beam is live at the start
  finished_tokens = torch.full((batch, width, max_length), pad_id)
  finished_scores = torch.full((batch, width), -torch.inf)
  done = torch.zeros(batch, dtype=torch.bool)
  among_best = torch.arange(2 * width) < width
  step = 0
  while step < max_length and not done.all():
    state, logits = model.decode_step(state, model.target_embedding(previous.reshape(-1)))
    candidates = log_probs[..., None] + torch.log_softmax(logits, dim=-1).reshape(batch, width, -1)
    scores, indices = candidates.reshape(batch, -1).topk(2 * width)
    parents, words = indices // candidates.shape[-1], indices % candidates.shape[-1]
    sequences = pick(tokens, parents)
    sequences[:, :, step] = words
    ends = words == eos_id
    length = step + 1

    # An </s> among the K best ends its hypothesis: it competes with the finished ones for K places.
    ended_scores = torch.where(ends & among_best, scores / length_penalty_of(length, length_penalty), -torch.inf)
    finished_scores, order = torch.cat([finished_scores, ended_scores], dim=1).topk(width)
    finished_tokens = pick(torch.cat([finished_tokens, sequences], dim=1), order)

    # The K best candidates without </s> live on, each with its parent's decoder state.
    log_probs, live = torch.where(ends, -torch.inf, scores).topk(width)
    state = {name: value[(first_row_of + parents.gather(1, live)).reshape(-1)] for name, value in state.items()}
    previous = words.gather(1, live)
    tokens = pick(sequences, live)
    largest_penalty = max(length_penalty_of(length, length_penalty), length_penalty_of(max_length, length_penalty))
    done |= log_probs[:, 0] / largest_penalty <= finished_scores[:, -1]
    step += 1

  cut_off_scores = log_probs / length_penalty_of(step, length_penalty)
  scores, order = torch.cat([finished_scores, cut_off_scores], dim=1).topk(width)
  return pick(torch.cat([finished_tokens, tokens], dim=1), order), scores


# ----------------------------------------------------------------------------------------------
# The comparison.


def check_same_function(config, model, params, our_search, decode_variables, their_decoder, search, host_batch):
  """(largest logit difference, rows whose best beam is the same): the two implementations on one batch.

  Raises if the logits differ: then the PyTorch model is not ours, and its speed means nothing.
  """
  from train.tasks import seq2seq  # pylint: disable=import-outside-toplevel
  batch = torch_batch(host_batch)
  source_mask = seq2seq.source_mask(host_batch['source'], host_batch['source_length'])
  our_logits = model.apply({'params': params}, host_batch['source'], source_mask, host_batch['target_in'])
  theirs = torch_model(config, model.target_vocab_size, params).eval()
  with torch.inference_mode():
    their_logits = theirs(batch['source'], batch['source_length'], batch['target_in']).numpy()
  logits_difference = float(np.abs(np.asarray(our_logits) - their_logits).max())
  if logits_difference > 1e-4:
    raise RuntimeError(f'the PyTorch model is not ours: logits differ by up to {logits_difference:.2g}')
  our_best = seq2seq.best_tokens(our_search(decode_variables, host_batch['source'], host_batch['source_length'],
                                            jax.random.key(0)))
  their_best = torch_beam_search(their_decoder, batch['source'], batch['source_length'], **search)[0][:, 0].numpy()
  return logits_difference, int((our_best == their_best).all(axis=1).sum())


def interleaved_rates(runs: dict, count: int, args) -> dict[str, list[float]]:
  """{name: work per second of each repeat}; `run(n)` does n steps, blocks, and returns the work done.

  After --warmup untimed steps of each, every repeat times `count` steps of each run, in
  alternating order (AB, BA, ...), after a pause that lets the other framework's worker threads
  go idle, so that load changes on the shared machine hit both alike.
  """
  for run in runs.values():
    run(args.warmup)
  rates = {name: [] for name in runs}
  for repeat in range(args.repeats):
    for name in list(runs)[::1 if repeat % 2 == 0 else -1]:
      time.sleep(0.5)
      start = time.perf_counter()
      work = runs[name](count)
      rates[name].append(work / (time.perf_counter() - start))
  return rates


def print_report(args, rows: dict, setup: dict) -> None:
  """The machine, the load, the check of the two models, and the table: medians with the spread of the repeats."""
  print(f'{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
        f'{time.strftime("%Y-%m-%d %H:%M %Z")}; JAX {jax.__version__} on {jax.devices()[0].platform}, '
        f'PyTorch {torch.__version__} with torch.set_num_threads({torch.get_num_threads()}); '
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  loads = lambda load: ', '.join(f'{x:.1f}' for x in load)
  print(f'load average (1, 5, 15 min): {loads(setup["load_before"])} before the timings, '
        f'{loads(setup["load_after"])} after')
  print(f'trainable parameters: ours {setup["parameters"][0]:,}, PyTorch {setup["parameters"][1]:,}; with the same '
        f'values their logits differ by at most {setup["logits_difference"]:.1e} and the best beams agree in '
        f'{setup["same_best"]} of {args.batch} rows')
  print(f'vocab {args.vocab}, batch {args.batch}, lengths {args.min_length}-{args.max_length} (padded to '
        f'{args.max_length}), beam {args.beam} x {args.decode_length} steps; our first step '
        f'{setup["first_call_s"]["training"]:.1f} s and search {setup["first_call_s"]["decoding"]:.1f} s '
        f'(trace + compile + run); medians of {args.repeats} interleaved timings of {args.train_steps} steps / '
        f'{args.searches} searches\n')
  print('| measurement | ours (JAX) | PyTorch | ours / PyTorch | ratio per repeat |')
  print('| --- | --- | --- | --- | --- |')
  spread = lambda rates: f'{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})'
  for name, rates in rows.items():
    ratio = statistics.median(rates['ours']) / statistics.median(rates['PyTorch'])
    paired = [ours / theirs for ours, theirs in zip(rates['ours'], rates['PyTorch'])]
    print(f'| {name} | {spread(rates["ours"])} | {spread(rates["PyTorch"])} | **{ratio:.2f}x** | '
          f'{min(paired):.2f}-{max(paired):.2f}x |')


def main():
  args = parse_args()
  if not args.glibc_default_malloc:
    xla_cpu.restart_with_malloc_tunables()  # as python -m train runs (PyTorch shares the process)
  xla_cpu.use_measured_flags()  # the trainer's XLA:CPU settings, before JAX's first computation
  torch.set_num_threads(args.torch_threads)
  from configs import translation_rnn  # pylint: disable=import-outside-toplevel
  from train.tasks import seq2seq  # pylint: disable=import-outside-toplevel

  config = translation_rnn.get_config()
  config.batch_size = args.batch
  vocabulary = random_vocabulary(args.vocab)
  task = random_pairs_task(config, vocabulary)
  rng = np.random.default_rng(0)
  batches = [random_batch(rng, args) for _ in range(args.batches)]  # numpy, as the trainer feeds its step
  torch_batches = [torch_batch(batch) for batch in batches]
  tokens_of = lambda steps: sum(int(batches[step % args.batches]['target_length'].sum()) for step in range(steps))

  # Ours: the trainer's state and step; PyTorch's model starts from the same parameters.
  parallel, model, tx, init_key = build_trainer(config, task)
  holder = [init_state(parallel, task, model, tx, init_key, batches[0])]
  params = jax.tree.map(np.array, holder[0].params)  # copied before the first step donates them
  theirs = torch_model(config, args.vocab, params).train()
  optimizer, scheduler = torch_optimizer(torch, theirs, config)

  # Decoding copies of both, which never write </s> (see the module docstring).
  decode_variables = {'params': never_ending(params)}
  their_decoder = torch_model(config, args.vocab, decode_variables['params']).eval()
  search = dict(bos_id=vocabulary.bos_id, eos_id=vocabulary.eos_id, max_length=args.decode_length,
                beam_width=args.beam, length_penalty=config.eval.length_penalty)
  our_search = seq2seq.make_decoder(model, vocabulary, args.decode_length, 'beam', beam_width=args.beam,
                                    length_penalty=config.eval.length_penalty)

  def our_training(steps):
    for step in range(steps):
      holder[0], _ = parallel.train_step(holder[0], batches[step % args.batches])  # donates the old state
    jax.block_until_ready(holder[0])
    return tokens_of(steps)

  def their_training(steps):
    for step in range(steps):
      torch_train_step(theirs, optimizer, scheduler, torch_batches[step % args.batches], config)
    return tokens_of(steps)

  def our_decoding(searches):
    for i in range(searches):
      batch = batches[i % args.batches]
      jax.block_until_ready(our_search(decode_variables, batch['source'], batch['source_length'], jax.random.key(0)))
    return searches * args.batch

  def their_decoding(searches):
    for i in range(searches):
      batch = torch_batches[i % args.batches]
      torch_beam_search(their_decoder, batch['source'], batch['source_length'], **search)
    return searches * args.batch

  setup = {'parameters': (sum(x.size for x in jax.tree.leaves(params)),
                          sum(p.numel() for p in theirs.parameters() if p.requires_grad)),
           'first_call_s': {}}
  for name, run in (('training', our_training), ('decoding', our_decoding)):
    start = time.perf_counter()
    run(1)  # traces, compiles and runs once
    setup['first_call_s'][name] = time.perf_counter() - start
  setup['logits_difference'], setup['same_best'] = check_same_function(
      config, model, params, our_search, decode_variables, their_decoder, search, batches[0])
  setup['load_before'] = os.getloadavg()
  rows = {'training, target tokens/s': interleaved_rates({'ours': our_training, 'PyTorch': their_training},
                                                          args.train_steps, args),
          'beam search, sentences/s': interleaved_rates({'ours': our_decoding, 'PyTorch': their_decoding},
                                                         args.searches, args)}
  setup['load_after'] = os.getloadavg()
  print_report(args, rows, setup)


if __name__ == '__main__':
  main()
