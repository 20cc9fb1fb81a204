"""nets/decoding.py on models whose probabilities are known: a fixed table, and a small Seq2Seq.

The table model scores the next token from the last two: log p(next | before, previous). The
step_fn is given `previous` and keeps `before` in its state, so beam search must carry each
beam's own state to its children (the gather by parent) to get the probabilities right.
"""

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nets import decoding
from nets.seq2seq import Seq2Seq
from tests.test_seq2seq import random_variables

PAD, BOS, EOS, A, B = range(5)
VOCAB = 5


def trigram_table(seed=0):
  """log p(next | before, previous) [V, V, V]: a bigram where greedy is not optimal, perturbed by `before`.

  After BOS, A is likelier than B (0.5 against 0.4), but after A the sentence goes on (A 0.4, B
  0.3, EOS 0.3) while after B it ends (EOS 0.9): greedy writes A and continues, though "B EOS"
  is by far the likeliest output.
  """
  bigram = np.full((VOCAB, VOCAB), 1e-6)
  bigram[BOS, [A, B, EOS]] = 0.5, 0.4, 0.1
  bigram[A, [A, B, EOS]] = 0.4, 0.3, 0.3
  bigram[B, [A, B, EOS]] = 0.05, 0.05, 0.9
  bigram[[PAD, EOS], EOS] = 1.0
  logits = np.log(bigram)[None] + 0.3 * np.random.default_rng(seed).standard_normal((VOCAB, VOCAB, VOCAB))
  return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


TABLE = trigram_table()


def table_step(state, previous):
  """A step_fn: the table's row for (before, previous); the state also counts the steps taken."""
  return jnp.asarray(TABLE, jnp.float32)[state['before'], previous], {'before': previous, 'steps': state['steps'] + 1}


def table_state(befores):
  return {'before': np.asarray(befores, np.int32), 'steps': np.zeros(len(befores), np.int32)}


def jitted(decode, step_fn, **options):
  return jax.jit(functools.partial(decode, step_fn, bos_id=BOS, eos_id=EOS, **options))


def penalty(length, alpha):
  return ((5 + length) / 6) ** alpha


def every_hypothesis(before, max_length, alpha):
  """(tokens, length-normalised score) of every sequence a decoder can write: ended by its first EOS, or cut off."""
  for length in range(1, max_length + 1):
    for tokens in itertools.product(range(VOCAB), repeat=length):
      if EOS in tokens[:-1] or (tokens[-1] != EOS and length < max_length):
        continue
      context, log_prob = (before, BOS), 0.0
      for token in tokens:
        log_prob += TABLE[context[0], context[1], token]
        context = (context[1], token)
      yield tokens + (PAD,) * (max_length - length), log_prob / penalty(length, alpha)


def assert_written_like_a_sentence(decoded: decoding.Decoded, max_length):
  """EOS at the last position a length counts (unless cut off at max_length), then pad."""
  tokens, lengths = np.asarray(decoded.tokens).reshape(-1, max_length), np.asarray(decoded.lengths).reshape(-1)
  for row, length in zip(tokens, lengths):
    assert 1 <= length <= max_length
    assert EOS not in row[:length - 1]
    assert row[length - 1] == EOS or length == max_length
    np.testing.assert_array_equal(row[length:], PAD)


def test_beam_search_finds_the_best_sequence_where_greedy_does_not():
  max_length, alpha, befores = 4, 0.6, [PAD, A]  # two rows with different probabilities
  beams = jitted(decoding.beam_search, table_step, max_length=max_length, beam_width=3,
                 length_penalty=alpha)(table_state(befores))
  greedy = jitted(decoding.greedy, table_step, max_length=max_length)(table_state(befores))
  chex.assert_shape(beams.tokens, (2, 3, max_length))
  assert_written_like_a_sentence(beams, max_length)
  for row, before in enumerate(befores):
    scored = dict(every_hypothesis(before, max_length, alpha))
    best = max(scored, key=scored.get)
    np.testing.assert_array_equal(beams.tokens[row, 0], best)
    assert np.diff(np.asarray(beams.scores[row])).max() <= 0, 'beams are sorted best first'
    # Every beam's score is its own sequence's: each beam saw its own history.
    for tokens, score in zip(np.asarray(beams.tokens[row]), np.asarray(beams.scores[row])):
      np.testing.assert_allclose(score, scored[tuple(tokens)], rtol=1e-5)
    greedy_tokens = tuple(np.asarray(greedy.tokens[row]))
    assert scored[greedy_tokens] < scored[best] - 0.1, 'the table is meant to mislead greedy decoding'


def test_greedy_equals_beam_search_of_width_one():
  """One beam without length normalisation keeps the likeliest token at each step: greedy decoding."""
  max_length, state = 6, table_state([PAD, A, B, EOS])
  greedy = jitted(decoding.greedy, table_step, max_length=max_length)(state)
  beam = jitted(decoding.beam_search, table_step, max_length=max_length, beam_width=1, length_penalty=0.0)(state)
  assert_written_like_a_sentence(greedy, max_length)
  chex.assert_trees_all_close(decoding.Decoded(*(part[:, 0] for part in beam)), greedy, atol=1e-6)


def test_sampling_with_top_k_one_is_greedy():
  max_length, state = 6, table_state([PAD, A, B, EOS])
  greedy = jitted(decoding.greedy, table_step, max_length=max_length)(state)
  sampled = jitted(decoding.sample, table_step, max_length=max_length, top_k=1)(state, jax.random.key(0))
  chex.assert_trees_all_close(sampled, greedy, atol=1e-6)


def test_sampling_is_reproducible_and_depends_on_the_key():
  sample = jitted(decoding.sample, table_step, max_length=6, temperature=1.5)
  state = table_state([PAD] * 32)
  first = sample(state, jax.random.key(0))
  assert_written_like_a_sentence(first, 6)
  chex.assert_trees_all_equal(first, sample(state, jax.random.key(0)))
  assert (first.tokens != sample(state, jax.random.key(1)).tokens).any()


def test_top_p_samples_only_from_the_nucleus():
  """Probabilities 0.5, 0.3, 0.15, 0.05: the nucleus of p=0.75 is the first two, renormalised to 0.625, 0.375."""
  probs = np.array([1e-9, 1e-9, 0.05, 0.5, 0.3, 0.15])  # pad, BOS, EOS, then three words
  rows = 4000

  def fixed_step(state, previous):
    return jnp.broadcast_to(jnp.log(jnp.asarray(probs, jnp.float32)), (len(previous), len(probs))), state

  sampled = jitted(decoding.sample, fixed_step, max_length=1, top_p=0.75)(table_state([PAD] * rows),
                                                                          jax.random.key(0))
  frequencies = np.bincount(np.asarray(sampled.tokens[:, 0]), minlength=len(probs)) / rows
  np.testing.assert_array_equal(frequencies[[PAD, BOS, EOS, 5]], 0)
  # Four standard deviations of a frequency over 4000 draws is about 0.03.
  np.testing.assert_allclose(frequencies[[3, 4]], [0.625, 0.375], atol=0.03)


DECODERS = {
    'greedy': lambda step_fn, max_length: jitted(decoding.greedy, step_fn, max_length=max_length),
    'sample': lambda step_fn, max_length: functools.partial(
        jitted(decoding.sample, step_fn, max_length=max_length), rng=jax.random.key(0)),
    'beam_search': lambda step_fn, max_length: jitted(decoding.beam_search, step_fn, max_length=max_length),
}


@pytest.mark.parametrize('name', DECODERS)
def test_a_batch_shape_compiles_once(name):
  traces = []

  def traced_step(state, previous):
    traces.append(previous.shape)  # runs when jit traces step_fn, not when the program runs
    return table_step(state, previous)

  decode = DECODERS[name](traced_step, 5)
  decode(table_state([PAD, A, B]))
  traced = len(traces)
  decode(table_state([B, B, A]))  # other values, same shapes
  assert len(traces) == traced > 0


@pytest.mark.parametrize('name', DECODERS)
def test_decoding_stops_when_every_row_has_ended(name):
  """A model sure of EOS at once: greedy and sampling stop after one step, beam search as soon as no
  live beam can beat the finished ones; both long before max_length."""
  probs = np.array([1e-6, 1e-6, 1 - 4e-6, 1e-6, 1e-6])
  counts = []

  def ending_step(state, previous):
    steps = state['steps'] + 1
    jax.debug.callback(lambda steps: counts.append(int(steps.max())), steps)  # as the program runs
    logits = jnp.broadcast_to(jnp.log(jnp.asarray(probs, jnp.float32)), (len(previous), VOCAB))
    return logits, {**state, 'steps': steps}

  max_length = 20
  decoded = DECODERS[name](ending_step, max_length)(table_state([PAD, A]))
  jax.effects_barrier()
  if name == 'beam_search':
    assert max(counts) < max_length / 2, counts
    np.testing.assert_array_equal(decoded.tokens[:, 0, 0], EOS)
  else:
    assert max(counts) == 1, counts
    np.testing.assert_array_equal(decoded.lengths, 1)


def test_seq2seq_decode_step_drives_the_three_decoders_under_jit():
  """The model's state (LSTM carries, memory, mask, keys, the attentional vector) goes through each loop."""
  model = Seq2Seq(source_vocab_size=11, target_vocab_size=12, embed_dim=8, features=8, attention='luong_general')
  source = np.random.default_rng(0).integers(3, 11, (3, 6)).astype(np.int32)
  mask = np.arange(6)[None, :] < np.array([[6], [4], [1]])
  max_length = 7
  variables = random_variables(model, source, mask, source)

  @jax.jit
  def decode(variables, source, mask, rng):
    state = model.apply(variables, source, mask, method=Seq2Seq.encode)
    step_fn = functools.partial(model.apply, variables, method=Seq2Seq.decode_step)
    options = {'bos_id': BOS, 'eos_id': EOS, 'max_length': max_length}
    return (decoding.greedy(step_fn, state, **options), decoding.sample(step_fn, state, rng, **options),
            decoding.beam_search(step_fn, state, beam_width=1, length_penalty=0.0, **options),
            decoding.beam_search(step_fn, state, beam_width=3, **options))

  greedy, sampled, one_beam, beams = decode(variables, source, mask, jax.random.key(2))
  chex.assert_shape([greedy.tokens, sampled.tokens], (3, max_length))
  chex.assert_shape(beams.tokens, (3, 3, max_length))
  chex.assert_tree_all_finite([greedy.scores, sampled.scores, beams.scores])
  for decoded in (greedy, sampled, beams):
    assert_written_like_a_sentence(decoded, max_length)
  chex.assert_trees_all_close(decoding.Decoded(*(part[:, 0] for part in one_beam)), greedy, atol=1e-5)
  assert np.diff(np.asarray(beams.scores), axis=1).max() <= 0, 'beams are sorted best first'
