"""What each run answers on the page: a panel per kind of task, and every run's training curves and eval examples.

A panel checks its request (a UserInputError says what is wrong, for the page to show), runs the model through
the entry points' own functions (train.predict, train.translate, train.chat, train.generate, train.visualize)
and answers a JSON object; images travel in it as PNG data URLs. Every panel holds a lock: the server lets one
request at a time use a model.
"""

import argparse
import base64
import csv
import functools
import io
import json
import os
import tempfile
import threading

import jax
import numpy as np
from PIL import Image

from data.errors import UserInputError
from data.text.parallel import context_turns_of
from train import chat, generate, loop, predict, tasks, translate, visualize

MAX_JSON_BYTES = 64 * 1024  # a request of a text panel: a caption, a message and its history, a few sentences
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_FORMATS = ('PNG', 'JPEG', 'GIF', 'BMP', 'WEBP')  # what browsers show; PIL's other readers stay out
MAX_SHOWN_SIDE = 1024  # larger uploads are shrunk first: the model reads far fewer pixels, the page shows no more
MAX_IMAGES = 16  # per caption: each number of images compiles its own generator
EXAMPLE_CAPTIONS = 3  # eval captions drawn as a text-to-image run's examples, each as often
MAX_MESSAGE_CHARS = 500
MAX_TURN_CHARS = 2000  # a turn of the history, the bot's included
MAX_HISTORY_TURNS = 64
MAX_BEAM = 16
MAX_TEMPERATURE = 10.0
MAX_DECODERS = 8  # chat decoding settings kept compiled per run
MAX_TRANSLATE_CHARS = 2000
MAX_SENTENCES = 16  # lines translated at once
MAX_EXAMPLES = 8  # rows of eval_decoded.tsv shown
PLOTTING = threading.Lock()  # matplotlib's pyplot keeps global state: one figure is drawn at a time


def png_data_url(image: np.ndarray) -> str:
  """A uint8 image [H, W, 3] as a PNG data URL."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return png_bytes_url(buffer.getvalue())


def png_bytes_url(png: bytes) -> str:
  return 'data:image/png;base64,' + base64.b64encode(png).decode('ascii')


def json_object(body: bytes) -> dict:
  try:
    fields = json.loads(body)
  except (ValueError, RecursionError) as e:  # ValueError: not UTF-8, or not JSON
    raise UserInputError(f'the request is not JSON ({e})') from e
  if not isinstance(fields, dict):
    raise UserInputError('the request must be a JSON object')
  return fields


def text_field(fields: dict, name: str, max_chars: int) -> str:
  """A non-blank string of at most max_chars characters."""
  value = fields.get(name)
  if not isinstance(value, str) or not value.strip():
    raise UserInputError(f'{name}: type some text')
  if len(value) > max_chars:
    raise UserInputError(f'{name}: at most {max_chars} characters, got {len(value)}')
  return value


def number_field(fields: dict, name: str, kind: type, low: float, high: float, default, low_open: bool = False):
  """An int or float in [low, high] ((low, high] with low_open), or `default` when absent."""
  value = fields.get(name, default)
  # JSON's true would pass as 1; NaN fails every comparison, infinities the bounds, before is_integer sees them.
  if not (isinstance(value, (int, float)) and not isinstance(value, bool)
          and (low < value if low_open else low <= value) and value <= high
          and (kind is float or float(value).is_integer())):
    bounds = f'above {low} and at most {high}' if low_open else f'from {low} to {high}'
    raise UserInputError(f'{name} must be {"a whole number" if kind is int else "a number"} {bounds}, got {value!r}')
  return kind(value)


class Panel:
  """A run on the page: its training curves and eval examples. Subclasses answer a panel's requests too."""
  kind = 'run'  # which panel the page draws; 'run': the curves and examples alone
  max_body_bytes = MAX_JSON_BYTES
  body_types = ('application/json',)  # a cross-site form cannot send these without the browser asking first

  def __init__(self, workdir: str, config, checkpoint: str):
    self.workdir, self.config, self.checkpoint = workdir, config, checkpoint
    self.lock = threading.Lock()
    self._examples = None

  def load(self) -> None:
    """Loads what answering needs, at start-up: a UserInputError now for a run without the checkpoint asked for.
    A run without a panel is only checked; its checkpoint loads when its eval examples are first asked for."""
    loop.check_checkpoint_choice(self.workdir, self.config, self.checkpoint)
    manager = loop.checkpoint_manager(self.workdir, self.config, self.checkpoint)
    loop.kept_step(manager, self.checkpoint)
    manager.close()

  def describe(self) -> dict:
    return {'name': os.path.basename(os.path.normpath(self.workdir)), 'task': self.config.task, 'panel': self.kind,
            'limits': self.limits()}

  def limits(self) -> dict:
    return {}

  def answer(self, body: bytes) -> dict:
    del body
    raise UserInputError(f'a {self.config.task} run has no panel to try; see its curves and eval examples')

  def curves(self) -> dict:
    path = os.path.join(self.workdir, 'metrics.jsonl')
    if not os.path.exists(path):
      raise UserInputError('the run has written no metrics yet')
    buffer = io.BytesIO()
    with PLOTTING:
      visualize.curves(path, buffer)
    return {'image': png_bytes_url(buffer.getvalue())}

  def examples(self) -> dict:
    """{'images': [{'title', 'src'}], 'table': {'columns', 'rows'}, 'note'}, each where the task has it; made once."""
    if self._examples is None:
      self._examples = self.make_examples()
    return self._examples

  def make_examples(self) -> dict:
    if self.config.task not in visualize.FIGURES:
      return {'note': f'no eval examples are drawn for a {self.config.task} run'}
    return self.figures(*loop.restore(self.workdir, which=self.checkpoint))

  def figures(self, config, task, model, variables) -> dict:
    """train.visualize's PNGs of the run."""
    options = {'index': 0} if config.task == 'classification' else {}  # as train.visualize draws them
    with tempfile.TemporaryDirectory() as out, PLOTTING:
      written = visualize.FIGURES[config.task](config, task, model, variables, out, **options)
      images = []
      for name in written:
        with open(os.path.join(out, name), 'rb') as f:
          images.append({'title': os.path.splitext(name)[0].replace('_', ' '), 'src': png_bytes_url(f.read())})
    return {'images': images}


class ImagePanel(Panel):
  """Classification, segmentation, detection: an uploaded image, and the prediction drawn on it."""
  kind = 'image'
  max_body_bytes = MAX_UPLOAD_BYTES
  body_types = ('image/', 'application/octet-stream')

  def load(self) -> None:
    self.restored = loop.restore(self.workdir, which=self.checkpoint)  # (config, task, model, variables)

  def limits(self) -> dict:
    return {'max_bytes': MAX_UPLOAD_BYTES, 'max_pixels': predict.MAX_PIXELS,
            'types': [f'image/{kind.lower()}' for kind in UPLOAD_FORMATS]}

  def answer(self, body: bytes) -> dict:
    image = predict.read_image(io.BytesIO(body), 'the upload', UPLOAD_FORMATS)
    if max(image.shape[:2]) > MAX_SHOWN_SIDE:
      picture = Image.fromarray(image)
      picture.thumbnail((MAX_SHOWN_SIDE, MAX_SHOWN_SIDE))
      image = np.asarray(picture)
    config, task, _, variables = self.restored
    prediction, drawn = predict.image_predictions(config.task, task, variables, [image])[0]
    return {'image': png_data_url(image if drawn is None else drawn), **prediction}

  def make_examples(self) -> dict:
    return self.figures(*self.restored)


class Seq2SeqPanel(Panel):
  """An encoder-decoder run, loaded without its data (train.translate.load_run); its decoded eval examples."""

  def load(self) -> None:
    self.run = translate.load_run(self.workdir, self.checkpoint)

  def make_examples(self) -> dict:
    """The first rows of the eval_decoded.tsv the run's final evaluation wrote."""
    path = os.path.join(self.workdir, 'eval_decoded.tsv')
    if not os.path.exists(path):
      return {'note': 'no eval_decoded.tsv: the run has not finished, or decoded no examples (eval.decode_examples)'}
    with open(path, encoding='utf-8', newline='') as f:
      columns, *rows = list(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE))[:MAX_EXAMPLES + 1]
    return {'table': {'columns': columns, 'rows': rows}}


class TranslatePanel(Seq2SeqPanel):
  """Sentences, one a line, translated by beam search as the run evaluated."""
  kind = 'translate'

  def load(self) -> None:
    super().load()
    self.decode = translate.make_decoder(self.run)

  def limits(self) -> dict:
    return {'max_chars': MAX_TRANSLATE_CHARS, 'max_lines': MAX_SENTENCES}

  def answer(self, body: bytes) -> dict:
    lines = text_field(json_object(body), 'text', MAX_TRANSLATE_CHARS).strip().splitlines()
    if len(lines) > MAX_SENTENCES:
      raise UserInputError(f'text: at most {MAX_SENTENCES} lines at once, got {len(lines)}')
    rng = jax.random.key(self.run.config.seed)  # beam search draws nothing from it

    def decode(sentences: list[str]) -> list[str]:
      return translate.decode_texts(self.run, self.decode, sentences, rng)
    return {'translations': translate.translate_lines(decode, lines),
            'notes': translate.cut_notes(self.run, [line for line in lines if line.strip()])}


class ChatPanel(Seq2SeqPanel):
  """A conversation kept by the page: each message comes with the turns before it and the decoding settings."""
  kind = 'chat'

  def load(self) -> None:
    super().load()
    # Each setting of the sampler is a program of its own: the last few stay compiled.
    self.decoder = functools.lru_cache(MAX_DECODERS)(
        lambda settings: chat.reply_decoder(self.run, argparse.Namespace(**dict(settings))))

  def limits(self) -> dict:
    return {'max_chars': MAX_MESSAGE_CHARS, 'max_history': MAX_HISTORY_TURNS, 'max_beam': MAX_BEAM,
            'beam': self.run.config.eval.beam_width, 'max_temperature': MAX_TEMPERATURE}

  def answer(self, body: bytes) -> dict:
    fields = json_object(body)
    message = text_field(fields, 'message', MAX_MESSAGE_CHARS)
    history = fields.get('history', [])
    if not isinstance(history, list) or not all(isinstance(turn, str) and len(turn) <= MAX_TURN_CHARS
                                                for turn in history):
      raise UserInputError(f'history must be a list of turns of at most {MAX_TURN_CHARS} characters')
    if len(history) > MAX_HISTORY_TURNS:
      raise UserInputError(f'history: at most {MAX_HISTORY_TURNS} turns, got {len(history)}')
    settings = fields.get('settings', {})
    if not isinstance(settings, dict):
      raise UserInputError('settings must be a JSON object')
    decode, seed = self.decoder(self.decoding(settings))
    data = self.run.config.data
    conversation = chat.Conversation(chat.answer_with(self.run, decode, seed, first_reply=len(history) // 2),
                                     context_turns_of(data), self.run.source_tokenizer, data.max_source_length)
    conversation.turns = list(history)
    return {'reply': conversation.reply(message)}

  def decoding(self, settings: dict) -> tuple:
    """train.chat's flags from the page's settings, as sorted (name, value) pairs (a cache key)."""
    method = settings.get('decoding', 'beam')
    if method not in ('beam', 'sample'):
      raise UserInputError(f"decoding must be 'beam' or 'sample', got {method!r}")
    flags = {'sample': method == 'sample', 'beam': None, 'temperature': None, 'top_k': None, 'top_p': None,
             'seed': None}
    if method == 'beam':
      flags['beam'] = number_field(settings, 'beam', int, 1, MAX_BEAM, self.run.config.eval.beam_width)
    else:
      flags.update(temperature=number_field(settings, 'temperature', float, 0, MAX_TEMPERATURE, 1.0, low_open=True),
                   top_k=number_field(settings, 'top_k', int, 0, self.run.target_tokenizer.vocab_size, 0),
                   top_p=number_field(settings, 'top_p', float, 0, 1, 1.0, low_open=True),
                   seed=number_field(settings, 'seed', int, 0, 2**31 - 1, 0))
    return tuple(sorted(flags.items()))


class TextToImagePanel(Panel):
  """A caption, drawn a number of times and reranked by CLIP's score, best first."""
  kind = 'text_to_image'

  def load(self) -> None:
    self.task, self.variables = generate.load(self.workdir, self.checkpoint)

  def limits(self) -> dict:
    height, width, _ = self.task.image_shape
    return {'max_chars': generate.MAX_CAPTION_CHARS, 'max_images': MAX_IMAGES, 'height': height, 'width': width}

  def answer(self, body: bytes) -> dict:
    fields = json_object(body)
    caption = text_field(fields, 'caption', generate.MAX_CAPTION_CHARS)
    num = number_field(fields, 'images', int, 1, MAX_IMAGES, 8)
    seed = number_field(fields, 'seed', int, 0, 2**31 - 1, 0)
    images, scores = generate.draw(self.task, self.variables, [caption], num, seed)
    return {'images': [{'src': png_data_url(to_uint8(image)), 'score': float(score)}
                       for image, score in zip(images[0], scores[0])]}

  def make_examples(self) -> dict:
    """The first eval captions, each drawn a few times: a row per caption, best first, titled with CLIP's scores."""
    fields = self.task.source.fields(self.task.config.data.eval_split)
    captions = [self.task.tokenizer.decode([int(i) for i in ids[:length]])
                for ids, length in zip(fields['ids'][:EXAMPLE_CAPTIONS], fields['length'])]
    images, scores = generate.draw(self.task, self.variables, captions, EXAMPLE_CAPTIONS)
    buffer = io.BytesIO()
    with PLOTTING:
      generate.save_grid(captions, images, scores, buffer)
    return {'images': [{'title': 'eval captions, drawn', 'src': png_bytes_url(buffer.getvalue())}],
            'table': {'columns': ['caption (a row of the grid)'], 'rows': [[caption] for caption in captions]}}


def to_uint8(image: np.ndarray) -> np.ndarray:
  """An image in [0, 1] as uint8."""
  return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


PANELS = {'classification': ImagePanel, 'segmentation': ImagePanel, 'detection': ImagePanel,
          'translation': TranslatePanel, 'dialogue': ChatPanel, 'dialogue_rl': ChatPanel,
          'text_to_image': TextToImagePanel}


def load(workdir: str, checkpoint: str = 'latest') -> Panel:
  """The panel of a run, its checkpoint loaded (a UserInputError for a folder that is no run, or no run we know)."""
  config = loop.load_config(workdir)
  if config.get('task') not in tasks.TASKS:
    raise UserInputError(f'{workdir} holds a run of an unknown task {config.get("task")!r}; '
                         f'the server knows {sorted(tasks.TASKS)}')
  panel = PANELS.get(config.task, Panel)(workdir, config, checkpoint)
  panel.load()
  return panel
