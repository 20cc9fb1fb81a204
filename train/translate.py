"""Translating with a trained encoder-decoder run (configs/translation_rnn.py): sentences in, translations out.

  python -m train.translate --workdir runs/translation "the small dog sees the cats ." "she paints ."
  python -m train.translate --workdir runs/translation --greedy < sentences.txt > translations.txt

Each sentence is encoded by the run's source tokenizer, read by the encoder and written by the
decoder, token by token (nets/decoding.py): by beam search (Sutskever et al. 2014), which keeps the
`--beam` most probable partial translations at every step and ranks the finished ones by their
log-probability over GNMT's length penalty ((5 + |Y|) / 6)^alpha (`--length-penalty` alpha: 0
leaves the bias of a sum of log-probabilities towards short outputs, larger values favour longer
ones), both by default the values the run evaluated with; or greedily (`--greedy`), the most
probable token at every step. A translation ends at its </s>, or after `--max-length` tokens.

Sentences are decoded together, padded to a few fixed shapes (batches of a power of two rows, at
most `--batch-size`, each source padded to the run's max_source_length), so the decoder compiles
once per shape rather than once per sentence. With no sentences on the command line, lines are
read from stdin and each translation is printed and flushed as soon as its line is in: a file
piped in is read in large batches, a line typed or sent by a program waiting for its answer is
answered alone. An empty line gets an empty line, so that line i of the output translates line i
of the input.

The run is loaded without its data set: its saved config, the tokenizers it saved when it finished
(or loaded from data.tokenizer_dir) and its checkpoint. A run still training has saved no
tokenizers yet; they are then rebuilt from its data (train.loop.restore), which takes longer.
`load_run` and `decode_texts` serve the chatbot too (train/chat.py).
"""

import argparse
import dataclasses
import os
import sys
from typing import Any, Callable, Iterator

import jax
import orbax.checkpoint as ocp

from data.errors import UserInputError
from data.text import tokenizers
from nets.seq2seq import Seq2Seq
from train import loop
from train.tasks import seq2seq

SEQ2SEQ_TASKS = ('translation', 'dialogue', 'dialogue_rl')
READ_SIZE = 1 << 16  # bytes of stdin read at once at most


@dataclasses.dataclass(frozen=True)
class Seq2SeqRun:
  """What decoding needs of a trained run."""
  config: Any
  model: Seq2Seq
  variables: dict
  source_tokenizer: Any
  target_tokenizer: Any


def saved_tokenizers(workdir: str, config):
  """(source, target) tokenizers the run saved when it finished, or those it read from data.tokenizer_dir;
  None for a run still training on tokenizers of its own."""
  for directory in (workdir, config.data.get('tokenizer_dir', '')):
    if directory and (tokenizers.saved_kind(directory) or os.path.isdir(os.path.join(directory, 'source'))):
      return seq2seq.load_tokenizers(directory)
  return None


def restore_params(workdir: str, config, which: str):
  """The parameters of a run's latest or best checkpoint, read as the checkpoint describes them: no task is
  built, no data read. Arrays saved from devices this host lacks come back on its first device."""
  loop.check_checkpoint_choice(workdir, config, which)
  manager = loop.checkpoint_manager(workdir, config, which)
  on_this_host = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  state = manager.restore(loop.kept_step(manager, which), args=ocp.args.StandardRestore(fallback_sharding=on_this_host))
  manager.close()
  return state['params']


def load_run(workdir: str, which: str = 'latest') -> Seq2SeqRun:
  """A translation or dialogue run's model, parameters ('latest' or 'best' checkpoint) and tokenizers."""
  config = loop.load_config(workdir)
  if config.task not in SEQ2SEQ_TASKS:
    raise UserInputError(f'{workdir} holds a {config.task!r} run, not an encoder-decoder one: give the workdir of a '
                         'run of configs/translation_rnn.py, configs/dialogue_rnn.py or configs/dialogue_rl.py')
  saved = saved_tokenizers(workdir, config)
  if saved is None:
    config, task, model, variables = loop.restore(workdir, which=which)
    return Seq2SeqRun(config, model, {'params': variables['params']}, task.source_tokenizer, task.target_tokenizer)
  source_tokenizer, target_tokenizer = saved
  model = seq2seq.make_model(config, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
  return Seq2SeqRun(config, model, {'params': restore_params(workdir, config, which)}, source_tokenizer,
                    target_tokenizer)


def batch_rows(count: int, batch_size: int) -> int:
  """Rows of the batches `count` texts are decoded in: the power of two that holds them, at most batch_size."""
  return min(batch_size, 1 << max(count - 1, 0).bit_length())


def decode_texts(run: Seq2SeqRun, decode: Callable, texts: list[str], rng: jax.Array,
                 batch_size: int = 32) -> list[str]:
  """The decoded text of each of `texts`, in order; `decode` is train.tasks.seq2seq.make_decoder's."""
  return seq2seq.decode_texts(decode, run.variables, run.source_tokenizer, run.target_tokenizer, texts, rng,
                              batch_rows(len(texts), batch_size), run.config.data.max_source_length)


def arrived_lines(stream) -> Iterator[list[str]]:
  """The lines of a binary `stream`, in lists: each list the lines that had arrived when it was read."""
  rest = b''
  while chunk := stream.read1(READ_SIZE):  # returns what has arrived, waiting only while nothing has
    *lines, rest = (rest + chunk).split(b'\n')
    if lines:
      yield [line.decode('utf-8', errors='replace').rstrip('\r') for line in lines]
  if rest:
    yield [rest.decode('utf-8', errors='replace').rstrip('\r')]


def translate_lines(translate: Callable[[list[str]], list[str]], lines: list[str]) -> list[str]:
  """The translation of each line, in order; an empty line stays empty."""
  translations = iter(translate([line for line in lines if line.strip()]))
  return [next(translations) if line.strip() else '' for line in lines]


def cut_notes(run: Seq2SeqRun, sentences: list[str]) -> list[str]:
  """A note for each sentence longer than the encoder reads (its first max_source_length tokens)."""
  limit, notes = run.config.data.max_source_length, []
  for sentence in sentences:
    length = len(run.source_tokenizer.encode(sentence))
    if length > limit:
      notes.append(f'the model reads the first {limit} of the {length} tokens of: {sentence}')
  return notes


def make_decoder(run: Seq2SeqRun, greedy: bool = False, beam: int | None = None, length_penalty: float | None = None,
                 max_length: int | None = None) -> Callable:
  """The run's decoder: beam search with its eval.beam_width and eval.length_penalty unless given, or greedy."""
  evaluation = run.config.eval
  options = {} if greedy else {'beam_width': beam or evaluation.beam_width,
                               'length_penalty': evaluation.length_penalty if length_penalty is None else length_penalty}
  return seq2seq.make_decoder(run.model, run.target_tokenizer, max_length or run.config.data.max_target_length,
                              'greedy' if greedy else 'beam', **options)


def parse_args(argv):
  parser = argparse.ArgumentParser(prog='python -m train.translate', description=__doc__.splitlines()[0])
  parser.add_argument('sentences', nargs='*', help='sentences to translate (none: one a line from stdin)')
  parser.add_argument('--workdir', required=True, help='a run of configs/translation_rnn.py')
  loop.add_checkpoint_flag(parser)
  search = parser.add_mutually_exclusive_group()
  search.add_argument('--beam', type=int, help='beam width (default: the eval.beam_width of the run)')
  search.add_argument('--greedy', action='store_true', help='greedy decoding instead of beam search')
  parser.add_argument('--length-penalty', type=float, help="beam search's alpha (default: the run's "
                                                             'eval.length_penalty)')
  parser.add_argument('--max-length', type=int, help='tokens per translation at most, </s> included '
                                                     "(default: the run's data.max_target_length)")
  parser.add_argument('--batch-size', type=int, default=32, help='sentences decoded together at most')
  args = parser.parse_args(argv)
  for position, sentence in enumerate(args.sentences, start=1):
    if not sentence.strip():
      raise UserInputError(f'sentence {position} of the command line is empty; give it some words or leave it out')
  if args.greedy and args.length_penalty is not None:
    raise UserInputError('--length-penalty ranks the hypotheses of beam search; leave it out with --greedy')
  for flag, value in (('--beam', args.beam), ('--max-length', args.max_length), ('--batch-size', args.batch_size)):
    if value is not None and value < 1:
      raise UserInputError(f'{flag} must be at least 1, got {value}')
  return args


def main(argv=None):
  try:
    args = parse_args(argv)
    run = load_run(args.workdir, args.checkpoint)
    decode = make_decoder(run, args.greedy, args.beam, args.length_penalty, args.max_length)
    rng = jax.random.key(run.config.seed)  # beam search and greedy decoding draw nothing from it

    def translate(sentences):
      for note in cut_notes(run, sentences):
        print(f'note: {note}', file=sys.stderr)
      return decode_texts(run, decode, sentences, rng, args.batch_size)

    if not args.sentences and sys.stdin.isatty():
      print('Type a sentence a line; Ctrl-D ends.', file=sys.stderr)
    for lines in [args.sentences] if args.sentences else arrived_lines(sys.stdin.buffer):
      print('\n'.join(translate_lines(translate, lines)), flush=True)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  main()
