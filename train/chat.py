"""Talking to a trained chatbot (configs/dialogue_rnn.py, configs/dialogue_rl.py) in the terminal.

  python -m train.chat --workdir runs/chat                            # type; /reset starts over, /quit ends
  python -m train.chat --workdir runs/chat --sample --temperature 0.8 --top-p 0.9 --seed 1
  python -m train.chat --workdir runs/chat --once "hi there" --once "what is above the circle ?"

The model answers a context, not a message: the conversation so far, the user's and the bot's
turns one after the other, joined as the training sources were (data.text.parallel.join_turns).
The context is the last `--context-turns` turns (0: all of them), by default as many as the run
trained with. Its encoder reads at most data.max_source_length tokens, so the oldest of those
turns are dropped until the rest fit: a long conversation forgets its beginning, never the
newest message. `/reset` forgets the whole conversation, `/quit` or end of input ends it.

The reply is the best of a beam search (`--beam` K hypotheses, by default the run's
eval.beam_width), or with `--sample` a random one (nets/decoding.py: `--temperature`, `--top-k`,
`--top-p`), varied from reply to reply and the same for the same `--seed`.

In a terminal, a prompt asks for each message and replies are marked 'bot>'. With stdin a pipe or
a file, or with `--once`, each reply is printed bare on its own line and flushed: a program can
talk to the bot line by line. Each `--once` message is answered in turn, with the ones before it
as its context, and then the program ends: several make a scripted conversation.
"""

import argparse
import itertools
import sys
from typing import Callable, Iterable, Iterator

import jax

from data.errors import UserInputError
from data.text.parallel import context_turns_of, join_turns, recent_turns
from train import loop, translate
from train.tasks import seq2seq

RESET, QUIT = '/reset', '/quit'


class Conversation:
  """The turns so far, user's and bot's, and the context each new message is answered in."""

  def __init__(self, answer: Callable[[str], str], context_turns: int, source_tokenizer, max_source_length: int):
    self.answer, self.context_turns = answer, context_turns
    self.source_tokenizer, self.max_source_length = source_tokenizer, max_source_length
    self.turns = []

  def context(self, message: str) -> str:
    """The last context_turns turns and `message`, without the oldest turns that would not fit the encoder."""
    turns = list(recent_turns(self.turns + [message], self.context_turns))
    while len(turns) > 1 and len(self.source_tokenizer.encode(join_turns(turns))) > self.max_source_length:
      turns = turns[1:]
    return join_turns(turns)

  def reply(self, message: str) -> str:
    reply = self.answer(self.context(message))
    self.turns += [message, reply]
    return reply

  def reset(self) -> None:
    self.turns = []


def replies(conversation: Conversation, messages: Iterable[str]) -> Iterator[str]:
  """The reply to each message; '/reset' forgets the conversation, '/quit' ends it, an empty message is skipped."""
  for message in messages:
    message = message.strip()
    if message == QUIT:
      return
    if message == RESET:
      conversation.reset()
    elif message:
      yield conversation.reply(message)


def typed_messages(prompt: str) -> Iterator[str]:
  """Lines of stdin until its end, each asked for with `prompt`."""
  while True:
    try:
      yield input(prompt)
    except EOFError:
      return


def parse_args(argv):
  parser = argparse.ArgumentParser(prog='python -m train.chat', description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True, help='a run of configs/dialogue_rnn.py or dialogue_rl.py')
  loop.add_checkpoint_flag(parser)
  search = parser.add_mutually_exclusive_group()
  search.add_argument('--beam', type=int, help="beam width (default: the run's eval.beam_width)")
  search.add_argument('--sample', action='store_true', help='sample each reply instead of searching for the best')
  parser.add_argument('--temperature', type=float, help='with --sample: below 1 sharper, above 1 flatter (1.0)')
  parser.add_argument('--top-k', type=int, help='with --sample: only the k most probable tokens (0, all)')
  parser.add_argument('--top-p', type=float, help='with --sample: only the nucleus of probability p (1.0, all)')
  parser.add_argument('--seed', type=int, help='with --sample: the seed of the replies (0)')
  parser.add_argument('--context-turns', type=int, help="turns the context holds, 0: all (default: the run's)")
  parser.add_argument('--once', action='append', default=[], metavar='MESSAGE',
                      help='answer this message and exit; repeated, a scripted conversation')
  args = parser.parse_args(argv)
  sampling = {'temperature': args.temperature, 'top_k': args.top_k, 'top_p': args.top_p, 'seed': args.seed}
  given = [f'--{name.replace("_", "-")}' for name, value in sampling.items() if value is not None]
  if given and not args.sample:
    raise UserInputError(f'{", ".join(given)} only set how --sample samples; add --sample')
  if args.beam is not None and args.beam < 1:
    raise UserInputError(f'--beam must be at least 1, got {args.beam}')
  if args.temperature is not None and args.temperature <= 0:
    raise UserInputError(f'--temperature must be positive, got {args.temperature}; for the most probable '
                         'reply leave out --sample')
  if args.top_k is not None and args.top_k < 0:
    raise UserInputError(f'--top-k must be 0 (every token) or more, got {args.top_k}')
  if args.top_p is not None and not 0 < args.top_p <= 1:
    raise UserInputError(f'--top-p must be in (0, 1], got {args.top_p}')
  if args.context_turns is not None and args.context_turns < 0:
    raise UserInputError(f'--context-turns must be 0 (all) or more, got {args.context_turns}')
  if any(not message.strip() for message in args.once):
    raise UserInputError('--once got an empty message; give it some words')
  return args


def reply_decoder(run: translate.Seq2SeqRun, args) -> tuple[Callable, int]:
  """(the decoder of the bot's replies as the flags say, the seed of their keys)."""
  if args.sample:
    options = {'temperature': args.temperature or 1.0, 'top_k': args.top_k or 0,
               'top_p': 1.0 if args.top_p is None else args.top_p}
    method, seed = 'sample', args.seed or 0
  else:
    options = {'beam_width': args.beam or run.config.eval.beam_width, 'length_penalty': run.config.eval.length_penalty}
    method, seed = 'beam', run.config.seed
  decode = seq2seq.make_decoder(run.model, run.target_tokenizer, run.config.data.max_target_length, method, **options)
  return decode, seed


def answer_with(run: translate.Seq2SeqRun, decode: Callable, seed: int, first_reply: int = 0) -> Callable[[str], str]:
  """context -> the bot's reply by `decode`; reply n (from `first_reply` on) draws key n of `seed`."""
  key, reply_numbers = jax.random.key(seed), itertools.count(first_reply)

  def answer(context: str) -> str:
    reply_key = jax.random.fold_in(key, next(reply_numbers))  # a key per reply: the same seed, the same replies
    return translate.decode_texts(run, decode, [context], reply_key, batch_size=1)[0]
  return answer


def make_answer(run: translate.Seq2SeqRun, args) -> Callable[[str], str]:
  """context -> the bot's reply, decoded as the flags say; sampled replies each draw a new key."""
  return answer_with(run, *reply_decoder(run, args))


def main(argv=None):
  try:
    args = parse_args(argv)
    run = translate.load_run(args.workdir, args.checkpoint)
    context_turns = context_turns_of(run.config.data) if args.context_turns is None else args.context_turns
    conversation = Conversation(make_answer(run, args), context_turns, run.source_tokenizer,
                                run.config.data.max_source_length)
    interactive = not args.once and sys.stdin.isatty()
    if interactive:
      print(f'Talking to {args.workdir} ({args.checkpoint} checkpoint). {RESET} forgets the conversation, '
            f'{QUIT} or Ctrl-D ends it.', file=sys.stderr)
    messages = args.once or typed_messages('you> ' if interactive else '')
    for reply in replies(conversation, messages):
      print(f'bot> {reply}' if interactive else reply, flush=True)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:  # Ctrl-C ends a conversation as /quit does
    print(file=sys.stderr)


if __name__ == '__main__':
  main()
