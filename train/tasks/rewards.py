"""Rewards of a chatbot's reply, for evaluation and for reinforcement learning (train/tasks/dialogue_rl.py).

A reward is a function (source text, reply text) -> float in [0, 1], computed on the host from
text, so any scorer can be one; the source of a dialogue example is its context, its turns joined
by data.text.parallel.TURN_SEPARATOR.

  shapes_dialogue  the task reward of the generated `shapes_dialogue` set: 1 for a right reply to
                   the last message (data/dialogue/generate.py reads the scene back from the turns)
  informative      usable on any dialogue data, after Li et al. (2016)'s rewards against the
                   replies a supervised chatbot falls into: 0 for a dull reply ("i don't know":
                   their ease of answering, here a list of such replies), times the share of
                   distinct words in the reply (against "i i i i"), times one minus the share of
                   its words that repeat the bot's own previous turn (their information flow: each
                   turn should add something), times min(1, words / 3) (a one-word reply adds little)
"""

from typing import Callable

from data import corpus
from data.errors import UserInputError
from data.text import parallel

Reward = Callable[[str, str], float]

# Li et al. (2016) list replies a seq2seq chatbot gives to anything; these are their kind.
DULL_REPLIES = frozenset(' '.join(corpus.tokenize(text)) for text in (
    "i don't know", "i don't know what you are talking about", "i don't know what you mean", 'i have no idea',
    'i am not sure', "i'm not sure", 'ok', 'okay', 'yes', 'no', 'what', 'huh', 'i see', 'sure', "that's fine",
    'you don\'t know', 'me too'))


def shapes_dialogue(source: str, reply: str) -> float:
  from data.dialogue import generate  # pylint: disable=import-outside-toplevel
  return generate.reply_reward(parallel.split_turns(source), reply)


def informative(source: str, reply: str) -> float:
  words = corpus.tokenize(reply)
  if not words or ' '.join(words) in DULL_REPLIES:
    return 0.0
  turns = parallel.split_turns(source)
  own_previous_turn = set(corpus.tokenize(turns[-2])) if len(turns) > 1 else set()
  repeated = sum(word in own_previous_turn for word in words) / len(words)
  return len(set(words)) / len(words) * (1.0 - repeated) * min(1.0, len(words) / 3)


REWARDS: dict[str, Reward] = {'shapes_dialogue': shapes_dialogue, 'informative': informative}


def make_reward(name: str) -> Reward:
  if name not in REWARDS:
    raise UserInputError(f'unknown reward {name!r}; choose one of {sorted(REWARDS)}')
  return REWARDS[name]
