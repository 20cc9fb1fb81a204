"""data/text/parallel.py and the tokenizers' sentence marks: pairs from TFDS, CSV/TSV and conversations, bad input."""

import json
import types

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from data import corpus, sources
from data.errors import UserInputError
from data.text import parallel, tokenizers

TURNS = ['Hi there!', 'Hello, what can I do for you?', 'Where is the star?']


def write(path, text):
  path.write_text(text, encoding='utf-8')
  return str(path)


def test_word_tokenizer_puts_sentence_marks_first_only_when_asked():
  texts = ['the cat sat .', 'the dog sat on the cat .']
  plain = tokenizers.train('word', texts, vocab_size=5)
  assert plain.tokens == ('<pad>', '<unk>', 'the', 'cat', 'sat')  # as text classification always had them
  with pytest.raises(UserInputError, match='no sentence marks'):
    plain.bos_id
  marked = tokenizers.train('word', texts, vocab_size=7, sentence_marks=True)
  assert marked.tokens == ('<pad>', '<unk>', '<s>', '</s>', 'the', 'cat', 'sat')
  assert (marked.bos_id, marked.eos_id) == (tokenizers.BOS_ID, tokenizers.EOS_ID) == (2, 3)
  ids = [marked.bos_id, *marked.encode('The cat sat.'), marked.eos_id, tokenizers.PAD_ID]
  assert marked.decode(ids) == 'the cat sat'
  assert plain.decode([2, 3]) == 'the cat'  # without marks, ids 2 and 3 are words


def test_subword_tokenizer_always_has_sentence_marks(tmp_path):
  rng = np.random.default_rng(0)
  words = ['circle', 'square', 'red', 'blue', 'left', 'right', 'of', 'the', 'is']
  texts = [' '.join(rng.choice(words, 8)) for _ in range(200)]
  tokenizer = tokenizers.train('subword', texts, vocab_size=40)
  assert (tokenizer.bos_id, tokenizer.eos_id) == (2, 3)
  assert tokenizer.tokens[2:4] == (tokenizers.BOS, tokenizers.EOS)
  tokenizer.save(str(tmp_path))
  loaded = tokenizers.load(str(tmp_path))
  assert loaded.decode([loaded.bos_id, *loaded.encode(texts[0]), loaded.eos_id]) == texts[0]


@pytest.mark.parametrize('kind', sorted(tokenizers.TOKENIZERS))
def test_joined_turns_survive_either_tokenizer(kind):
  joined = parallel.join_turns(TURNS)
  assert parallel.split_turns(joined) == TURNS
  tokenizer = tokenizers.train(kind, [joined] * 20 + ['the star is left of the circle .'] * 20, vocab_size=60)
  decoded = tokenizer.decode(tokenizer.encode(joined))
  turns = parallel.split_turns(decoded)
  assert len(turns) == 3
  if kind == 'word':
    assert turns == [' '.join(corpus.tokenize(t)) for t in TURNS]
  else:
    assert turns == TURNS


def test_csv_with_header_holds_out_every_fifth_row_and_tsv_reads_the_tatoeba_layout(tmp_path):
  rows = ''.join(f'"source {i}, with a comma",target {i}\n' for i in range(10))
  source = parallel.CsvPairs(write(tmp_path / 'a.csv', 'en,fr\n' + rows), 'en', 'fr', holdout_every=5)
  train, test = source.split('train'), source.split('test')
  assert test.sources == ['source 0, with a comma', 'source 5, with a comma'] and test.targets[1] == 'target 5'
  assert len(train.sources) == 8
  # English <tab> French <tab> attribution, no header; a quote is only a character.
  fra = write(tmp_path / 'fra.txt', 'Go.\tVa !\tCC-BY 2.0 #1\n"Hi," he said.\t« Salut », dit-il.\tCC-BY #2\n'
                                    'Run!\tCours !\tCC-BY #3\n')
  config = ml_collections.ConfigDict({'source': 'csv', 'path': fra, 'has_header': False, 'holdout_every': 3})
  pairs = parallel.make_parallel_source(config)
  assert pairs.name == fra
  assert pairs.split('train') == parallel.ParallelTexts(['"Hi," he said.', 'Run!'], ['« Salut », dit-il.', 'Cours !'])
  assert pairs.split('test').sources == ['Go.']
  dialogue = parallel.CsvPairs(write(tmp_path / 'chat.tsv', 'context\treply\nhi\thello !\n'), 'context', 'reply',
                               test_path=write(tmp_path / 'chat_test.tsv', 'reply\tcontext\nbye !\tbye\n'))
  assert dialogue.split('test') == parallel.ParallelTexts(['bye'], ['bye !'])
  with pytest.raises(UserInputError, match="splits 'train' and 'test', not 'validation'"):
    dialogue.split('validation')


@pytest.mark.parametrize('name, content, keys, has_header, message', [
    ('a.csv', None, ('en', 'fr'), True, 'a.csv does not exist'),
    ('a.csv', '', ('en', 'fr'), True, 'a.csv is empty'),
    ('a.csv', 'en,de\nhi,hallo\n', ('en', 'fr'), True, "no column 'fr'; its columns are \\['en', 'de'\\]"),
    ('a.tsv', 'hi\tsalut\n', ('0', '2'), False, "no column '2'; its columns are \\['0', '1'\\].*without a header"),
    ('a.csv', 'en,fr\nhi,salut\n  ,vide\n', ('en', 'fr'), True, "a.csv line 3 has no value in column 'en'"),
    ('a.tsv', 'en\tfr\nhi\tsalut\nbye\n', ('en', 'fr'), True, "a.tsv line 3 has no value in column 'fr'"),
    ('a.csv', 'en,fr\n', ('en', 'fr'), True, 'a header but no data rows'),
])
def test_csv_bad_input_is_a_clear_error(tmp_path, name, content, keys, has_header, message):
  path = str(tmp_path / name) if content is None else write(tmp_path / name, content)
  with pytest.raises(UserInputError, match=message):
    parallel.CsvPairs(path, *keys, has_header=has_header)


def test_dialogue_json_pairs_each_turn_with_the_turns_before_it(tmp_path):
  conversations = [['a', {'text': 'b'}, 'c', 'd', 'e'], ['x', 'y'], ['p', 'q', 'r']]
  path = write(tmp_path / 'chats.json', json.dumps(conversations))
  source = parallel.DialogueJson(path, holdout_every=3, context_turns=2)
  # Conversation 0 is held out (every third, from the first); its turns never reach training.
  assert source.split('test') == parallel.ParallelTexts(
      ['a', parallel.join_turns(['a', 'b']), parallel.join_turns(['b', 'c']), parallel.join_turns(['c', 'd'])],
      ['b', 'c', 'd', 'e'])
  assert source.split('train') == parallel.ParallelTexts(['x', 'p', parallel.join_turns(['p', 'q'])], ['y', 'q', 'r'])
  lines = write(tmp_path / 'chats.jsonl', '\n'.join(json.dumps(c) for c in conversations) + '\n\n')
  for context_turns in (None, -1):  # absent or -1: the default, three turns
    config = ml_collections.ConfigDict({'source': 'dialogue_json', 'path': lines, 'holdout_every': 3})
    if context_turns is not None:
      config.context_turns = context_turns
    assert parallel.make_parallel_source(config).split('test').sources[-1] == parallel.join_turns(['b', 'c', 'd'])
  config.context_turns = 0
  assert parallel.make_parallel_source(config).split('test').sources[-1] == parallel.join_turns(['a', 'b', 'c', 'd'])


@pytest.mark.parametrize('name, content, message', [
    ('c.json', None, 'c.json does not exist'),
    ('c.jsonl', '\n\n', 'c.jsonl is empty'),
    ('c.jsonl', '["hi", "hello"]\n["hi", "hello"\n', 'c.jsonl:2 is not valid JSON'),
    ('c.json', '[\n  ["hi", "hello"],\n  ["hi" "hello"]\n]', 'c.json:3 is not valid JSON'),
    ('c.json', '{"hi": "hello"}', 'holds {"hi": "hello"}, not a list of conversations'),
    ('c.jsonl', '["hi", "hello"]\n"hi"\n', 'c.jsonl:2 is not a conversation: expected a list of turns, got "hi"'),
    ('c.json', '[["hi", {"turn": "hello"}]]', 'c.json conversation 0 turn 1 is {"turn": "hello"}; a turn is a string'),
    ('c.json', '[["hi", "hello"], ["hi", " "]]', 'c.json conversation 1 turn 1 is empty'),
    ('c.json', '[["hi"]]', 'the train conversations holds no pairs'),
])
def test_dialogue_json_bad_input_is_a_clear_error(tmp_path, name, content, message):
  path = str(tmp_path / name) if content is None else write(tmp_path / name, content)
  with pytest.raises(UserInputError, match=message.replace('[', '\\[').replace('{', '\\{')):
    parallel.DialogueJson(path, test_path=path)


def fake_tfds_source(features, supervised_keys):
  info = types.SimpleNamespace(features=tfds.features.FeaturesDict(features), supervised_keys=supervised_keys)
  return types.SimpleNamespace(name='fake', info=info)


def test_tfds_features_must_be_named_and_be_text():
  with pytest.raises(UserInputError, match="does not name a .* set data.source_key and data.target_key to two of "
                                           "\\['a', 'b'\\]"):
    parallel.TfdsPairs(fake_tfds_source({'a': tfds.features.Text(), 'b': tfds.features.Text()}, None))
  with pytest.raises(UserInputError, match="feature 'label' of 'fake' is not text"):
    parallel.TfdsPairs(fake_tfds_source({'text': tfds.features.Text(),
                                         'label': tfds.features.ClassLabel(num_classes=2)}, ('text', 'label')))
  with pytest.raises(UserInputError, match="has no feature 'de'; it has \\['en', 'pt'\\]"):
    parallel.TfdsPairs(fake_tfds_source({'en': tfds.features.Text(), 'pt': tfds.features.Text()}, ('pt', 'en')),
                       target_key='de')


def test_tfds_translation_and_dialogue_sets_read_as_pairs(tmp_path, monkeypatch):
  from data.dialogue import builder as dialogue_builder  # noqa: F401  # registers the builders
  from data.dialogue import generate
  from data.translation import builder as translation_builder  # noqa: F401

  tfds.builder('translation_pairs', data_dir=str(tmp_path), num_train=5, num_validation=5,
               num_test=5).download_and_prepare()
  tfds.builder('shapes_dialogue', data_dir=str(tmp_path), num_train=5, num_test=30).download_and_prepare()
  config = ml_collections.ConfigDict({'source': 'tfds', 'name': 'translation_pairs', 'data_dir': str(tmp_path),
                                      'context_turns': -1})
  translation = parallel.make_parallel_source(config).split('validation')
  assert len(translation.sources) == 5 and all(s.endswith(' .') for s in translation.sources + translation.targets)
  config.name = 'shapes_dialogue'
  dialogue = parallel.make_parallel_source(config).split('test')
  # The whole context, joined: the scene is in it, so every reply still scores as right.
  rewards = [generate.reply_reward(parallel.split_turns(s), t) for s, t in zip(dialogue.sources, dialogue.targets)]
  assert rewards == [1.0] * 30
  assert max(len(parallel.split_turns(s)) for s in dialogue.sources) > 3
  config.context_turns = 1
  last_turn_only = parallel.make_parallel_source(config).split('test')
  assert [parallel.split_turns(s)[-1] for s in dialogue.sources] == last_turn_only.sources
  # The turns (a sequence of texts) decoded without TensorFlow are those tf.data gives.
  monkeypatch.setattr(sources.TfdsSource, 'read_numpy', lambda *args: None)
  assert parallel.make_parallel_source(config).split('test') == last_turn_only
