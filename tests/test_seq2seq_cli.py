"""python -m train.translate and python -m train.chat on a tiny trained run: the mechanics, not the quality.

One run of configs/translation_rnn.py, a few steps on a TSV of made-up pairs, serves every test:
the chatbot's loop works the same on any encoder-decoder run. The conversation's bookkeeping
(context window, /reset, /quit) is checked apart from any model, with a stand-in bot that records its contexts.
"""

import io
import os
import shutil
import subprocess
import sys

import chex
import numpy as np
import pytest

from configs import shapes_cnn, translation_rnn
from data.text import tokenizers
from data.text.parallel import join_turns, split_turns
from tests import spine_runs
from train import chat, loop, translate

WORDS = 'the a dog cat bird sees likes follows small big red old'.split()
SENTENCES = ['the dog sees a cat', 'a small red bird follows the old dog', 'the cat likes birds']


def write_reversed_pairs(path) -> None:
  """A TSV of 40 made-up sentences, each paired with itself reversed."""
  rng = np.random.default_rng(0)
  sentences = [' '.join(rng.choice(WORDS, size=rng.integers(2, 7))) for _ in range(40)]
  path.write_text(''.join(f'{s}\t{" ".join(reversed(s.split()))}\n' for s in sentences))


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A finished translation run, trained for a few steps on pairs whose target is the source reversed.

  A light model (a GRU, one direction, dot-product attention) compiled with little effort: these
  tests check the entry points' mechanics, not the model's quality.
  """
  folder = tmp_path_factory.mktemp('seq2seq_cli')
  write_reversed_pairs(folder / 'pairs.tsv')
  config = translation_rnn.get_config('luong_dot')
  config.update_from_flattened_dict({
      'data.source': 'csv', 'data.path': str(folder / 'pairs.tsv'), 'data.has_header': False,
      'data.eval_split': 'test', 'data.max_source_length': 32, 'data.max_target_length': 8,
      'data.shuffle_buffer': 64, 'model.cell': 'gru', 'model.bidirectional': False, 'model.features': 16,
      'model.embed_dim': 8, 'eval.decode_examples': 1, 'batch_size': 8, 'eval_batch_size': 4,
      'num_steps': 2, 'log_every': 2, 'checkpoint_every': 2, 'optimizer.warmup_steps': 1})
  loop.train_and_evaluate(config, str(folder / 'run'))
  return str(folder / 'run')


def output_lines(capsys) -> list[str]:
  return capsys.readouterr().out.splitlines()


def feed_stdin(monkeypatch, text: str) -> None:
  monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(text.encode())))


def test_translates_arguments_and_stdin_lines_in_order(run_dir, capsys, monkeypatch):
  """Greedy decoding, and beam search with one beam and no length penalty, which is the same."""
  translate.main(['--workdir', run_dir, '--greedy', '--max-length', '5', *SENTENCES, SENTENCES[0]])
  translations = output_lines(capsys)
  assert len(translations) == len(SENTENCES) + 1
  assert translations[-1] == translations[0], 'a sentence translates alike wherever it is in the batch'
  assert len(set(translations)) > 1, 'the sentences translate differently, so their order can be checked'
  assert all(len(line.split()) <= 5 for line in translations)
  feed_stdin(monkeypatch, f'{SENTENCES[2]}\n\n{SENTENCES[1]}\n{SENTENCES[0]}')  # no newline at the end
  translate.main(['--workdir', run_dir, '--beam', '1', '--length-penalty', '0', '--max-length', '5'])
  assert output_lines(capsys) == [translations[2], '', translations[1], translations[0]]


def test_chat_once_and_an_interactive_session_agree(run_dir, capsys, monkeypatch):
  """Beam search, the run's beam width: the replies of a scripted conversation, then typed with /reset."""
  chat.main(['--workdir', run_dir, '--once', SENTENCES[0], '--once', SENTENCES[1]])
  scripted = output_lines(capsys)
  assert len(scripted) == 2
  feed_stdin(monkeypatch, f'{SENTENCES[0]}\n\n{SENTENCES[1]}\n/reset\n{SENTENCES[0]}\n/quit\n{SENTENCES[2]}\n')
  chat.main(['--workdir', run_dir])
  assert output_lines(capsys) == scripted + scripted[:1]  # after /reset the first message starts over


def test_chat_samples_replies(run_dir, capsys):
  chat.main(['--workdir', run_dir, '--sample', '--seed', '1', '--temperature', '0.7', '--top-k', '4', '--top-p', '0.9',
             *[f'--once={sentence}' for sentence in SENTENCES]])
  replies = output_lines(capsys)
  assert len(replies) == len(SENTENCES)
  known = set(tokenizers.load(os.path.join(run_dir, 'target')).tokens)
  assert all(set(reply.split()) <= known for reply in replies)


def test_a_run_without_saved_tokenizers_is_loaded_through_its_data(run_dir, tmp_path):
  """A run still training has saved no tokenizers: they are rebuilt from its data, to the same run."""
  shutil.copytree(run_dir, tmp_path / 'run', ignore=shutil.ignore_patterns('source', 'target'))
  assert translate.saved_tokenizers(str(tmp_path / 'run'), loop.load_config(run_dir)) is None
  light, full = translate.load_run(run_dir), translate.load_run(str(tmp_path / 'run'))
  assert full.source_tokenizer.tokens == light.source_tokenizer.tokens
  assert full.target_tokenizer.tokens == light.target_tokenizer.tokens
  assert full.model == light.model
  chex.assert_trees_all_close(full.variables, light.variables)


def test_a_run_of_another_task_exits_2_in_a_process_of_its_own(tmp_path):
  (tmp_path / 'config.json').write_text(shapes_cnn.get_config().to_json())
  result = subprocess.run([sys.executable, '-m', 'train.translate', '--workdir', str(tmp_path)], input='hi\n',
                          cwd=spine_runs.ROOT, env=spine_runs.environment(), capture_output=True, text=True,
                          timeout=240, check=False)
  assert result.returncode == 2
  error, = result.stderr.strip().splitlines()  # one line, no traceback
  assert error.startswith('error: ') and "holds a 'classification' run" in error


def test_the_best_checkpoint_of_a_run_without_one_exits_2(run_dir, capsys):
  with pytest.raises(SystemExit) as exit_info:
    translate.main(['--workdir', run_dir, '--checkpoint', 'best', 'a sentence'])
  assert exit_info.value.code == 2
  assert 'trained without best_metric' in capsys.readouterr().err


class EchoBot:
  """Answers 'reply1', 'reply2', ... and keeps every context it was given."""

  def __init__(self):
    self.contexts = []

  def __call__(self, context):
    self.contexts.append(context)
    return f'reply{len(self.contexts)}'


def word_tokenizer():
  return tokenizers.WordTokenizer.train([join_turns(['m1 m2 m3 reply1 reply2 reply3 long'])], vocab_size=100,
                                        sentence_marks=True)


@pytest.mark.parametrize('context_turns, expected', [
    (0, [['m1'], ['m1', 'reply1', 'm2'], ['m1', 'reply1', 'm2', 'reply2', 'm3']]),
    (2, [['m1'], ['reply1', 'm2'], ['reply2', 'm3']]),
])
def test_the_context_holds_the_last_turns(context_turns, expected):
  bot = EchoBot()
  conversation = chat.Conversation(bot, context_turns, word_tokenizer(), max_source_length=100)
  assert list(chat.replies(conversation, ['m1', 'm2', 'm3'])) == ['reply1', 'reply2', 'reply3']
  assert [split_turns(context) for context in bot.contexts] == expected


def test_reset_quit_and_empty_messages():
  bot = EchoBot()
  conversation = chat.Conversation(bot, 0, word_tokenizer(), max_source_length=100)
  replies = list(chat.replies(conversation, ['m1', '  ', chat.RESET, 'm2', 'm3', chat.QUIT, 'never']))
  assert replies == ['reply1', 'reply2', 'reply3']
  assert [split_turns(context) for context in bot.contexts] == [['m1'], ['m2'], ['m2', 'reply2', 'm3']]


def test_the_oldest_turns_make_way_for_the_newest_message():
  bot = EchoBot()
  conversation = chat.Conversation(bot, 0, word_tokenizer(), max_source_length=6)  # 'ǁ' is a word too
  list(chat.replies(conversation, ['m1', 'm2', 'm3', 'long ' * 8]))
  assert [split_turns(context) for context in bot.contexts] == [
      ['m1'], ['m1', 'reply1', 'm2'], ['m2', 'reply2', 'm3'], [('long ' * 8).strip()]]


def test_stdin_lines_arrive_in_batches_as_read():
  read, write = os.pipe()
  with os.fdopen(read, 'rb') as reader, os.fdopen(write, 'wb', buffering=0) as writer:
    lines = translate.arrived_lines(reader)
    writer.write(b'one\r\ntwo\nthr')
    assert next(lines) == ['one', 'two'], 'both lines that have arrived, without waiting for more'
    writer.write(b'ee\n')
    assert next(lines) == ['three']
    writer.write(b'last, without a newline')
    writer.close()
    assert list(lines) == [['last, without a newline']]


@pytest.mark.parametrize('argv, message', [
    (['translate', 'a sentence', ' '], 'sentence 2 of the command line is empty'),
    (['translate', '--greedy', '--length-penalty', '1', 'a'], 'leave it out with --greedy'),
    (['translate', '--beam', '0', 'a'], '--beam must be at least 1'),
    (['chat', '--temperature', '0.5'], '--temperature only set how --sample samples'),
    (['chat', '--sample', '--top-p', '1.5'], '--top-p must be in (0, 1]'),
    (['chat', '--once', ''], '--once got an empty message'),
    (['chat', '--once', 'hi'], 'is not a training run (no config.json)'),
])
def test_mistakes_in_the_command_exit_2(argv, message, tmp_path, capsys):
  tool = {'translate': translate, 'chat': chat}[argv[0]]
  with pytest.raises(SystemExit) as exit_info:
    tool.main(['--workdir', str(tmp_path), *argv[1:]])  # an empty folder: no run
  assert exit_info.value.code == 2
  error = capsys.readouterr().err
  assert error.startswith('error: ') and message in error
