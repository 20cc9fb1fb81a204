"""Generates conversations about scenes of the shapes world, and scores a reply from the text alone.

A scene is a row of two to four shapes of the `shapes` dataset, each of a different kind, left to
right, each with a colour. A conversation goes like this (user and bot alternate, user first):

  user: hi there                                   bot: hello !
  user: there is a red circle left of a blue star . an orange heart is right of the star .
                                                   bot: got it .
  user: what color is the star ?                   bot: the star is blue .
  user: what is left of the heart ?                bot: the red circle is left of the heart .
  user: how many shapes are there ?                bot: i see three shapes .
  user: thanks                                     bot: no problem .

The user describes the scene, in one turn or two, one statement per shape after the first two:
each statement places a new shape next to one already named. Then come two to five questions
(its colour, where a shape is, what lies on one side of it, whether there is a shape of some
colour, how many shapes there are), perhaps with small talk in between (greeting, how are you,
thanks, goodbye; several phrasings each). The right reply to a question depends on statements
made several turns back, so a chatbot has to read the whole context, and a question may ask
about a shape the scene does not have ("there is no heart ."). Every example of the dataset is
one bot turn: the turns before it (the context, oldest first) and the reply.

The scenes of the two splits differ: a scene belongs to the test split when a checksum of its
words says so (one scene in TEST_SCENE_EVERY), so no test conversation is about a training scene.

`reply_reward(context, reply)` scores any reply in [0, 1] from the text alone, e.g. as a reward
for a chatbot: it reads the scene back from the user's turns and the question from the last one,
and gives 1.0 to every reply the generator might have given there (all true statements of the
forms above, small talk of the right intent), 0.0 to anything else. Replies are compared word by
word after `data.corpus.tokenize`, so punctuation and case do not matter and a model that reads
words without punctuation is scored the same way.
"""

import itertools
import re
import zlib
from typing import Iterator, Sequence

import numpy as np

from data import corpus
from data.shapes.render import COLOR_NAMES, SHAPES

SPLITS = ('train', 'test')
TEST_SCENE_EVERY = 10
SCENE_SIZES = (2, 3, 4)
SIDES = ('left', 'right')
NUMBER_WORDS = ('zero', 'one', 'two', 'three', 'four')

# Slots of the templates below: {a} is the article of the colour that follows it.
STATEMENTS_OF_TWO = ('there is {a} {color} {shape} {side} of {a_other} {other_color} {other} .',
                     'i see {a} {color} {shape} {side} of {a_other} {other_color} {other} .')
STATEMENTS_OF_ONE_MORE = ('{a} {color} {shape} is {side} of the {other} .',
                          '{side} of the {other} there is {a} {color} {shape} .')
QUESTIONS = {
    'color': ('what color is the {shape} ?', 'what is the color of the {shape} ?'),
    'where': ('where is the {shape} ?', 'where can i find the {shape} ?'),
    'beside': ('what is {side} of the {shape} ?', 'which shape is {side} of the {shape} ?'),
    'exists': ('is there {a} {color} {shape} ?', 'do you see {a} {color} {shape} ?'),
    'count': ('how many shapes are there ?', 'how many shapes do you see ?'),
}
# intent: (what the user says, what the bot may reply).
SMALL_TALK = {
    'greeting': (('hello', 'hi', 'hi there', 'good morning', 'hey'),
                 ('hello !', 'hi !', 'hello , what can i do for you ?')),
    'how are you': (('how are you ?', 'how are you doing ?', 'how is it going ?'),
                    ('i am fine , thanks .', 'very well , thank you .', 'good , thanks for asking .')),
    'thanks': (('thanks', 'thank you', 'thanks a lot', 'great , thanks'),
               ('you are welcome .', 'no problem .', 'glad to help .')),
    'goodbye': (('bye', 'goodbye', 'see you later', 'that is all , bye'),
                ('goodbye !', 'bye !', 'see you !')),
}
ACKNOWLEDGEMENTS = ('ok .', 'got it .', 'alright .')

GREETING_PROBABILITY = 0.5
HOW_ARE_YOU_PROBABILITY = 0.3
TWO_DESCRIPTION_TURNS_PROBABILITY = 0.4
ABSENT_SHAPE_PROBABILITY = 0.15
THANKS_PROBABILITY = 0.15
GOODBYE_PROBABILITY = 0.5

# A scene: (color, shape) pairs from left to right.
Scene = tuple[tuple[str, str], ...]


def article(word: str) -> str:
  return 'an' if word[0] in 'aeiou' else 'a'


def words(text: str) -> str:
  """The text as `data.corpus.tokenize` reads it: lower-case words, no punctuation."""
  return ' '.join(corpus.tokenize(text))


def scene_split(scene: Scene) -> str:
  return 'test' if zlib.crc32(' '.join(itertools.chain(*scene)).encode()) % TEST_SCENE_EVERY == 0 else 'train'


def random_scene(rng: np.random.Generator, split: str) -> Scene:
  """Shapes of different kinds in a row, colours drawn freely, drawn until the scene is one of `split`'s."""
  while True:
    kinds = rng.permutation(len(SHAPES))[:rng.choice(SCENE_SIZES)]
    scene = tuple((COLOR_NAMES[rng.integers(len(COLOR_NAMES))], SHAPES[kind]) for kind in kinds)
    if scene_split(scene) == split:
      return scene


def describe(rng: np.random.Generator, scene: Scene) -> list[str]:
  """Statements that place every shape of the scene: two neighbours, then one more at either end of the row."""
  low = int(rng.integers(len(scene) - 1))
  high = low + 1  # the shapes named so far are scene[low:high + 1]
  (left_color, left), (right_color, right) = scene[low], scene[high]
  if rng.random() < 0.5:
    slots = dict(color=left_color, shape=left, side='left', other_color=right_color, other=right)
  else:
    slots = dict(color=right_color, shape=right, side='right', other_color=left_color, other=left)
  statements = [_fill(rng, STATEMENTS_OF_TWO, slots)]
  while high - low + 1 < len(scene):
    sides = [side for side, new in zip(SIDES, (low - 1, high + 1)) if 0 <= new < len(scene)]
    side = sides[rng.integers(len(sides))]
    if side == 'left':
      new, neighbour, low = low - 1, low, low - 1
    else:
      new, neighbour, high = high + 1, high, high + 1
    color, shape = scene[new]
    statements.append(_fill(rng, STATEMENTS_OF_ONE_MORE,
                            dict(color=color, shape=shape, side=side, other=scene[neighbour][1])))
  return statements


def _fill(rng: np.random.Generator, templates: Sequence[str], slots: dict) -> str:
  articles = {key: article(slots[color]) for key, color in (('a', 'color'), ('a_other', 'other_color'))
              if color in slots}
  return templates[rng.integers(len(templates))].format(**slots, **articles)


def replies(scene: Scene, kind: str, slots: dict) -> list[str]:
  """Every right answer to a question of `kind` ('color', 'where', ...) about `slots`' shape in the scene."""
  colors = {shape: color for color, shape in scene}
  order = [shape for _, shape in scene]
  shape = slots.get('shape')
  if kind == 'count':
    number = NUMBER_WORDS[len(scene)]
    return [f'there are {number} shapes .', f'i see {number} shapes .']
  if kind == 'exists':
    color = slots['color']
    if colors.get(shape) == color:
      return [f'yes , there is {article(color)} {color} {shape} .', f'yes , the {shape} is {color} .']
    if shape in colors:
      return [f'no , the {shape} is {colors[shape]} .']
  if shape not in colors:
    return [f'no , there is no {shape} .'] if kind == 'exists' else [f'there is no {shape} .']
  if kind == 'color':
    return [f'the {shape} is {colors[shape]} .', f'it is {colors[shape]} .']
  position = order.index(shape)
  on_the = {'left': order[:position], 'right': order[position + 1:]}
  if kind == 'where':
    return ([f'the {shape} is {side} of the {other} .' for side, opposite in zip(SIDES, SIDES[::-1])
             for other in on_the[opposite]] +
            [f'the {shape} is between the {first} and the {second} .' for left in on_the['left']
             for right in on_the['right'] for first, second in ((left, right), (right, left))])
  side = slots['side']  # kind == 'beside'
  if not on_the[side]:
    return [f'nothing is {side} of the {shape} .']
  return [f'the {other} is {side} of the {shape} .' for other in on_the[side]] + [
      f'the {colors[other]} {other} is {side} of the {shape} .' for other in on_the[side]]


def question(rng: np.random.Generator, scene: Scene) -> tuple[str, list[str]]:
  """A question about the scene and its right replies."""
  kind = tuple(QUESTIONS)[rng.integers(len(QUESTIONS))]
  present = [shape for _, shape in scene]
  if rng.random() < ABSENT_SHAPE_PROBABILITY:
    shape = [s for s in SHAPES if s not in present][rng.integers(len(SHAPES) - len(scene))]
  else:
    shape = present[rng.integers(len(scene))]
  colors = {s: c for c, s in scene}
  # Half of the "is there" questions ask for the colour the shape has.
  color = colors[shape] if shape in colors and rng.random() < 0.5 else COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
  slots = dict(shape=shape, color=color, side=SIDES[rng.integers(2)])
  return _fill(rng, QUESTIONS[kind], slots), replies(scene, kind, slots)


def small_talk(rng: np.random.Generator, intent: str) -> tuple[str, Sequence[str]]:
  said, answers = SMALL_TALK[intent]
  return said[rng.integers(len(said))], answers


def conversation(rng: np.random.Generator, split: str) -> list[str]:
  """The turns of one conversation about a scene of `split`, user first, alternating with the bot."""
  scene = random_scene(rng, split)
  exchanges = []  # (what the user says, the replies that would be right)
  if rng.random() < GREETING_PROBABILITY:
    exchanges.append(small_talk(rng, 'greeting'))
    if rng.random() < HOW_ARE_YOU_PROBABILITY:
      exchanges.append(small_talk(rng, 'how are you'))
  statements = describe(rng, scene)
  turns_of_description = 2 if len(statements) > 1 and rng.random() < TWO_DESCRIPTION_TURNS_PROBABILITY else 1
  cut = int(rng.integers(1, len(statements))) if turns_of_description == 2 else len(statements)
  for part in (statements[:cut], statements[cut:])[:turns_of_description]:
    exchanges.append((' '.join(part), ACKNOWLEDGEMENTS))
  for _ in range(rng.integers(2, 6)):
    exchanges.append(question(rng, scene))
    if rng.random() < THANKS_PROBABILITY:
      exchanges.append(small_talk(rng, 'thanks'))
  if rng.random() < GOODBYE_PROBABILITY:
    exchanges.append(small_talk(rng, 'goodbye'))
  turns = []
  for said, answers in exchanges:
    turns += [said, answers[rng.integers(len(answers))]]
  return turns


def examples(split: str, seed: int = 0) -> Iterator[dict]:
  """{'context', 'reply'} for every bot turn of conversations 0, 1, 2, ... of `split`, each from its own seed."""
  for index in itertools.count():
    turns = conversation(np.random.default_rng([seed, SPLITS.index(split), index]), split)
    for reply in range(1, len(turns), 2):
      yield {'context': turns[:reply], 'reply': turns[reply]}


# Reading the text back: each template becomes a regular expression over `words` of a sentence.
_SLOTS = {
    'a': 'an?', 'a_other': 'an?', 'side': f'(?P<side>{"|".join(SIDES)})',
    'color': f'(?P<color>{"|".join(COLOR_NAMES)})', 'other_color': f'(?P<other_color>{"|".join(COLOR_NAMES)})',
    'shape': f'(?P<shape>{"|".join(SHAPES)})', 'other': f'(?P<other>{"|".join(SHAPES)})',
}


def _pattern(template: str) -> re.Pattern:
  return re.compile(' '.join(_SLOTS[token[1:-1]] if token.startswith('{') else words(token)
                             for token in template.split() if token.startswith('{') or words(token)))


_STATEMENT_PATTERNS = [_pattern(t) for t in STATEMENTS_OF_TWO + STATEMENTS_OF_ONE_MORE]
_QUESTION_PATTERNS = [(kind, _pattern(t)) for kind, templates in QUESTIONS.items() for t in templates]


def _statements(turn: str) -> list[dict]:
  """The slots of every statement in a turn, sentence by sentence."""
  sentences = [words(s) for s in re.split(r'[.?!]', turn)]
  return [match.groupdict() for s in sentences for p in _STATEMENT_PATTERNS if (match := p.fullmatch(s))]


def read_scene(user_turns: Sequence[str]) -> Scene:
  """The scene the statements of the user's turns describe (a statement about an unknown shape is skipped)."""
  order, colors = [], {}
  for slots in itertools.chain(*map(_statements, user_turns)):
    other, shape = slots['other'], slots['shape']
    if other not in colors and slots.get('other_color') and not order:
      order, colors[other] = [other], slots['other_color']
    if other in colors and shape not in colors:
      order.insert(order.index(other) + (slots['side'] == 'right'), shape)
      colors[shape] = slots['color']
  return tuple((colors[shape], shape) for shape in order)


def correct_replies(context: Sequence[str]) -> list[str]:
  """The replies `reply_reward` accepts after `context` (turns oldest first, the last the user's); [] if none."""
  if not context:
    return []
  message = words(context[-1])
  for said, answers in SMALL_TALK.values():
    if message in map(words, said):
      return list(answers)
  if _statements(context[-1]):
    return list(ACKNOWLEDGEMENTS)
  scene = read_scene(context[::-2][::-1])  # turns alternate and the last one is the user's
  if not scene:
    return []
  for kind, pattern in _QUESTION_PATTERNS:
    if match := pattern.fullmatch(message):
      return replies(scene, kind, match.groupdict())
  return []


def reply_reward(context: Sequence[str], reply: str) -> float:
  """1.0 if `reply` is a right reply to the last turn of `context`, else 0.0 (see the module's docstring)."""
  return float(words(reply) in map(words, correct_replies(context)))
