"""Writing a sequence with a trained decoder: greedy, sampling and beam search.

A decoder predicts the next token from the tokens so far. Decoding chooses the tokens: starting
from BOS, it feeds each choice back in, until the sequence writes EOS or reaches `max_length`.

  greedy        the most probable token at every step: fast, but a likely first word can lead to an
                unlikely sentence.
  sample        a random token from the predicted distribution, sharpened (temperature < 1) or
                flattened (> 1), optionally restricted to the k most probable tokens (top-k) or to
                the smallest set holding probability top_p (the nucleus; Holtzman et al. 2020):
                varied replies for a chatbot.
  beam_search   keeps the K most probable partial sequences (beams) at every step and returns the K
                best finished ones, scored by log-probability over GNMT's length penalty
                ((5 + |Y|) / 6)^alpha (Wu et al. 2016), since every added token lowers a sum of
                log-probabilities and an unnormalised search prefers short outputs.

The functions know nothing of the model. A `step_fn(state, tokens [N]) -> (logits [N, V], new state)`
drives them, where every leaf of `state` has a leading batch axis N and keeps its shape and dtype
from step to step; Seq2Seq.decode_step is one. Each runs a `jax.lax.while_loop` over at most
`max_length` steps, whole batches at once, and stops as soon as every row is done. They are pure:
jit them (with step_fn and the keyword arguments bound, since they are Python values) and a batch
compiles once per (batch shape, max_length):

  @jax.jit
  def translate(variables, source_ids, source_mask):
    state = model.apply(variables, source_ids, source_mask, method=Seq2Seq.encode)
    step_fn = lambda state, tokens: model.apply(variables, state, tokens, method=Seq2Seq.decode_step)
    return beam_search(step_fn, state, bos_id=2, eos_id=3, max_length=64)

  decoded = translate(variables, source_ids, source_mask)
  decoded.tokens   # [B, K, 64]: EOS included, pad_id after it
  decoded.scores   # [B, K], best first

The variables are an argument of the jitted function rather than constants closed over, so new
parameters (a later checkpoint) reuse the compiled program.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

StepFn = Callable[[object, jax.Array], tuple[jax.Array, object]]


class Decoded(NamedTuple):
  """Written sequences: [B, L] from greedy and sample, [B, K, L] (and [B, K]) from beam_search."""
  tokens: jax.Array   # int32; the EOS is written, then pad_id up to max_length
  lengths: jax.Array  # int32; tokens up to and including EOS, max_length for a sequence cut off
  scores: jax.Array   # float32; summed log-probabilities under the model (beam search: length-normalised)


def _batch_size(state) -> int:
  return jax.tree.leaves(state)[0].shape[0]


def _log_probs(logits):
  return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)


def _write_one_path(step_fn: StepFn, state, choose, *, bos_id: int, eos_id: int, max_length: int,
                    pad_id: int) -> Decoded:
  """The loop of greedy and sample: every row writes `choose(log_probs [B, V], step)` until its EOS."""
  batch = _batch_size(state)

  def unfinished(loop):
    step, _, _, _, ended = loop
    return (step < max_length) & ~ended.all()

  def write(loop):
    step, state, previous, written, ended = loop
    logits, state = step_fn(state, previous)
    log_probs = _log_probs(logits)
    tokens = jnp.where(ended, pad_id, choose(log_probs, step))
    chosen_log_probs = jnp.take_along_axis(log_probs, tokens[:, None], axis=-1)[:, 0]
    written = Decoded(written.tokens.at[:, step].set(tokens),
                      written.lengths + ~ended,
                      written.scores + jnp.where(ended, 0.0, chosen_log_probs))
    return step + 1, state, tokens, written, ended | (tokens == eos_id)

  nothing_written = Decoded(jnp.full((batch, max_length), pad_id, jnp.int32), jnp.zeros(batch, jnp.int32),
                            jnp.zeros(batch, jnp.float32))
  start = (jnp.int32(0), state, jnp.full(batch, bos_id, jnp.int32), nothing_written, jnp.zeros(batch, bool))
  return jax.lax.while_loop(unfinished, write, start)[3]


def greedy(step_fn: StepFn, state, *, bos_id: int, eos_id: int, max_length: int, pad_id: int = 0) -> Decoded:
  """The most probable token at every step -> tokens [B, max_length], lengths [B], scores [B]."""
  return _write_one_path(step_fn, state, lambda log_probs, step: jnp.argmax(log_probs, axis=-1).astype(jnp.int32),
                         bos_id=bos_id, eos_id=eos_id, max_length=max_length, pad_id=pad_id)


def keep_top_k(logits, k: int):
  """Logits [..., V] with all but the k largest set to -inf (ties with the k-th largest are kept too)."""
  kth_largest = jax.lax.top_k(logits, k)[0][..., -1:]
  return jnp.where(logits < kth_largest, -jnp.inf, logits)


def keep_top_p(logits, p: float):
  """Logits [..., V] with all but the nucleus set to -inf: the most probable tokens whose mass first reaches p."""
  descending = -jnp.sort(-logits, axis=-1)
  probs = jax.nn.softmax(descending, axis=-1)
  mass_before = jnp.cumsum(probs, axis=-1) - probs
  # A token is in the nucleus if the more probable ones hold less than p; the most probable always is.
  smallest_kept = jnp.min(jnp.where(mass_before < p, descending, jnp.inf), axis=-1, keepdims=True)
  return jnp.where(logits < smallest_kept, -jnp.inf, logits)


def sample(step_fn: StepFn, state, rng, *, bos_id: int, eos_id: int, max_length: int, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, pad_id: int = 0) -> Decoded:
  """A random token at every step from the model's distribution at `temperature`, within the top_k tokens
  (0: all) and the top_p nucleus (1.0: all) -> tokens [B, max_length], lengths [B], scores [B].

  The scores are the log-probabilities of the sampled tokens under the model itself (temperature 1,
  no filtering). The same rng gives the same samples.
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be positive, got {temperature}; greedy() is the limit of temperature 0')
  if top_k < 0 or not 0 < top_p <= 1:
    raise ValueError(f'top_k must be >= 0 (0 keeps every token) and top_p in (0, 1], got {top_k} and {top_p}')

  def choose(log_probs, step):
    logits = log_probs / temperature
    if top_k:
      logits = keep_top_k(logits, top_k)
    if top_p < 1:
      logits = keep_top_p(logits, top_p)
    return jax.random.categorical(jax.random.fold_in(rng, step), logits).astype(jnp.int32)

  return _write_one_path(step_fn, state, choose, bos_id=bos_id, eos_id=eos_id, max_length=max_length, pad_id=pad_id)


def length_penalty_of(lengths, alpha: float):
  """GNMT's ((5 + |Y|) / 6)^alpha, which divides a hypothesis's log-probability; alpha = 0 leaves it alone."""
  return ((5.0 + lengths) / 6.0) ** alpha


def _best(hypotheses: Decoded, k: int) -> Decoded:
  """The k best of [B, N] hypotheses by score, best first (ties: the earlier one)."""
  scores, order = jax.lax.top_k(hypotheses.scores, k)
  return Decoded(jnp.take_along_axis(hypotheses.tokens, order[..., None], axis=1),
                 jnp.take_along_axis(hypotheses.lengths, order, axis=1), scores)


def _join(*hypotheses: Decoded) -> Decoded:
  return Decoded(*(jnp.concatenate(parts, axis=1) for parts in zip(*hypotheses)))


class _Beams(NamedTuple):
  """Beam search's loop state: K live beams per row and the K best finished hypotheses."""
  step: jax.Array
  state: object            # step_fn's state, [B * K, ...]: row b's beam k at b * K + k
  previous: jax.Array      # [B, K] the live beams' latest tokens
  tokens: jax.Array        # [B, K, max_length] the live beams, pad_id after the tokens written
  log_probs: jax.Array     # [B, K] their summed log-probabilities
  finished: Decoded        # [B, K, ...] best first; an empty slot scores -inf
  done: jax.Array          # [B] no live beam can still beat the row's worst finished hypothesis


def beam_search(step_fn: StepFn, state, *, bos_id: int, eos_id: int, max_length: int, beam_width: int = 4,
                length_penalty: float = 0.6, pad_id: int = 0) -> Decoded:
  """The beam_width best hypotheses per row -> tokens [B, K, max_length], lengths [B, K], scores [B, K].

  A step extends each of the K live beams by every token and ranks the K * V candidates. An
  EOS among the K best ends its hypothesis, which joins the finished ones (the K best are kept,
  scored log-probability / length penalty); the K best candidates without EOS are the next live
  beams, and the state's rows follow their parents with a gather. A row is done when none of its
  live beams can beat its worst finished hypothesis any more. Beams still live at the end count
  as finished there, so every slot of the result holds a hypothesis. With beam_width=1 and
  length_penalty=0 this is greedy decoding.
  """
  if beam_width < 1:
    raise ValueError(f'beam_width must be at least 1, got {beam_width}')
  batch, width = _batch_size(state), beam_width
  first_rows = jnp.arange(batch)[:, None] * width  # row b's beams start at b * K in the tiled state

  def unfinished(beams):
    return (beams.step < max_length) & ~beams.done.all()

  def search_step(beams: _Beams) -> _Beams:
    logits, state = step_fn(beams.state, beams.previous.reshape(batch * width))
    log_probs = _log_probs(logits).reshape(batch, width, -1)
    vocab_size = log_probs.shape[-1]
    # A beam has one EOS among its candidates, so at least K of the 2K best continue.
    scores, indices = jax.lax.top_k((beams.log_probs[..., None] + log_probs).reshape(batch, -1), 2 * width)
    parents, tokens = indices // vocab_size, indices % vocab_size
    sequences = jnp.take_along_axis(beams.tokens, parents[..., None], axis=1).at[:, :, beams.step].set(tokens)
    ends = tokens == eos_id

    length = beams.step + 1
    # An EOS outside the K best would not have made it into the beam: it ends nothing.
    in_beam = jnp.arange(2 * width) < width
    ended = Decoded(sequences, jnp.full(scores.shape, length, jnp.int32),
                    jnp.where(ends & in_beam, scores / length_penalty_of(length, length_penalty), -jnp.inf))
    finished = _best(_join(beams.finished, ended), width)

    live_log_probs, live = jax.lax.top_k(jnp.where(ends, -jnp.inf, scores), width)
    parent_rows = (first_rows + jnp.take_along_axis(parents, live, axis=1)).reshape(-1)
    # The best a live beam can still score: its log-probability only falls, over the largest
    # penalty of any length it can end with.
    largest_penalty = jnp.maximum(length_penalty_of(length, length_penalty),
                                  length_penalty_of(max_length, length_penalty))
    can_improve = live_log_probs[:, 0] / largest_penalty > finished.scores[:, -1]
    return _Beams(length, jax.tree.map(lambda leaf: leaf[parent_rows], state),
                  jnp.take_along_axis(tokens, live, axis=1), jnp.take_along_axis(sequences, live[..., None], axis=1),
                  live_log_probs, finished, beams.done | ~can_improve)

  def per_beam(fill, dtype, *shape):
    return jnp.full((batch, width) + shape, fill, dtype)

  # Only the first beam is live at the start, so the first candidates are not K copies of each other.
  start = _Beams(step=jnp.int32(0), state=jax.tree.map(lambda leaf: jnp.repeat(leaf, width, axis=0), state),
                 previous=per_beam(bos_id, jnp.int32), tokens=per_beam(pad_id, jnp.int32, max_length),
                 log_probs=per_beam(-jnp.inf, jnp.float32).at[:, 0].set(0.0),
                 finished=Decoded(per_beam(pad_id, jnp.int32, max_length), per_beam(0, jnp.int32),
                                  per_beam(-jnp.inf, jnp.float32)),
                 done=jnp.zeros(batch, bool))
  beams = jax.lax.while_loop(unfinished, search_step, start)
  cut_off = Decoded(beams.tokens, per_beam(beams.step, jnp.int32),
                    beams.log_probs / length_penalty_of(beams.step, length_penalty))
  return _best(_join(beams.finished, cut_off), width)
