"""Rewards of a chatbot's reply, for evaluation and for reinforcement learning (train/tasks/dialogue_rl.py).

A reward is a function (source text, reply text) -> float in [0, 1], computed on the host from
text, so any scorer can be one; the source of a dialogue example is its context, its turns joined
by data.text.parallel.TURN_SEPARATOR.

  shapes_dialogue  the task reward of the generated `shapes_dialogue` set: 1 for a right reply to
                   the last message (data/dialogue/generate.py reads the scene back from the turns)
  informative      usable on any dialogue data, after Li et al. (2016)'s rewards against the
                   replies a supervised chatbot falls into: 0 for a dull reply ("i don't know",
                   Li et al.'s ease of answering), times the share of distinct words in the reply
                   (against "i i i i"), times one minus the share of its words that echo the last
                   message (their information flow: a reply should add something)
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
  last_message = set(corpus.tokenize(parallel.split_turns(source)[-1]))
  echo = sum(word in last_message for word in words) / len(words)
  return len(set(words)) / len(words) * (1.0 - echo)


REWARDS: dict[str, Reward] = {'shapes_dialogue': shapes_dialogue, 'informative': informative}


def make_reward(name: str) -> Reward:
  if name not in REWARDS:
    raise UserInputError(f'unknown reward {name!r}; choose one of {sorted(REWARDS)}')
  return REWARDS[name]
