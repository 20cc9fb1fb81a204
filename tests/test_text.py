"""data/text and data/reviews: tokenizers, their save/load, text sources, bad input and length batching."""

import numpy as np
import pytest
import tensorflow as tf

from data import corpus
from data.errors import UserInputError
from data.reviews import generate
from data.text import batching, sources, tokenizers

TEXTS = ['The film was good.', 'The film was not good!', 'A bad, bad film.', 'Good acting; bad plot.']


def test_word_vocabulary_keeps_the_most_frequent_words_after_pad_and_unk():
  tokenizer = tokenizers.WordTokenizer.train(TEXTS, vocab_size=5)
  # film x3, bad x3, good x3, the x2 ...: ties alphabetical, then cut at 5 - 2 words.
  assert tokenizer.tokens == ('<pad>', '<unk>', 'bad', 'film', 'good')
  np.testing.assert_array_equal(tokenizer.encode('Good FILM, unseen words'), [4, 3, 1, 1])


@pytest.mark.parametrize('kind', sorted(tokenizers.TOKENIZERS))
def test_tokenizer_save_load_round_trip(kind, tmp_path):
  rng = np.random.default_rng(0)
  texts = [generate.review(rng)['text'] for _ in range(300)]
  tokenizer = tokenizers.train(kind, texts, vocab_size=150)
  assert tokenizer.vocab_size <= 150
  tokenizer.save(str(tmp_path))
  assert tokenizers.saved_kind(str(tmp_path)) == kind
  loaded = tokenizers.load(str(tmp_path))
  assert loaded.tokens == tokenizer.tokens
  unseen = 'although the soundtrack was not dull , the zeppelin is clumsy .'
  np.testing.assert_array_equal(loaded.encode(unseen), tokenizer.encode(unseen))
  ids = tokenizer.encode(texts[0])
  assert ids.dtype == np.int32 and ids.min() > tokenizers.PAD_ID
  # Words lose their punctuation; subwords give the text back exactly.
  expected = ' '.join(corpus.tokenize(texts[0])) if kind == 'word' else texts[0]
  assert loaded.decode(ids) == expected


def test_loading_from_a_folder_without_a_tokenizer_is_a_clear_error(tmp_path):
  with pytest.raises(UserInputError, match='holds no tokenizer'):
    tokenizers.load(str(tmp_path))


def write(path, text):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding='utf-8')
  return str(path)


def test_csv_source_multiclass_with_holdout_and_tsv(tmp_path):
  rows = ''.join(f'"text number {i}, with a comma",{["spam", "ham", "promo"][i % 3]}\n' for i in range(20))
  source = sources.CsvTexts(write(tmp_path / 'a.csv', 'body,kind\n' + rows), 'body', 'kind', holdout_every=5)
  assert source.class_names == ['ham', 'promo', 'spam']
  train, test = source.split('train'), source.split('test')
  assert len(train.texts) == 16 and len(test.texts) == 4
  assert test.texts[1] == 'text number 5, with a comma' and test.labels[1] == 1  # row 5: 'promo'
  tsv = sources.CsvTexts(write(tmp_path / 'a.tsv', 'label\ttext\n10\tten\n2\ttwo\n'), 'text', 'label',
                         test_path=write(tmp_path / 'b.tsv', 'label\ttext\n2\tdeux\n'))
  assert tsv.class_names == ['2', '10']  # numeric order
  np.testing.assert_array_equal(tsv.split('test').labels, [0])


@pytest.mark.parametrize('content, message', [
    ('body,label\nhello,1\n', "no column 'text'; its columns are \\['body', 'label'\\]"),
    ('text,label\nhello,1\nworld,\n', "line 3 has no value in column 'label'"),
    ('text,label\nhello,1\n   ,0\n', "line 3 has no value in column 'text'"),
    ('text,label\n', 'no data rows'),
])
def test_csv_bad_input_is_a_clear_error(tmp_path, content, message):
  with pytest.raises(UserInputError, match=message):
    sources.CsvTexts(write(tmp_path / 'bad.csv', content), 'text', 'label')


def test_text_folder_reads_the_aclimdb_layout_and_rejects_empty_texts(tmp_path):
  for split in ('train', 'test'):
    write(tmp_path / split / 'neg' / '0_1.txt', 'Awful.<br />Just awful.')
    write(tmp_path / split / 'pos' / '0_9.txt', 'Great fun.')
  write(tmp_path / 'train' / 'unsup' / '0_0.txt', 'No label here.')
  source = sources.TextFolder(str(tmp_path))
  assert source.class_names == ['neg', 'pos']
  train = source.split('train')
  assert train.texts == ['Awful.<br />Just awful.', 'Great fun.']
  np.testing.assert_array_equal(train.labels, [0, 1])
  write(tmp_path / 'test' / 'pos' / '1_8.txt', '  \n')
  with pytest.raises(UserInputError, match='1_8.txt is an empty text'):
    source.split('test')


def test_pad_and_trim_to_the_longest_text_of_the_batch():
  examples = [batching.pad_example(tf.constant(ids, tf.int32), max_length=8)
              for ids in ([5, 6, 7], [4] * 12)]
  np.testing.assert_array_equal(examples[0]['ids'], [5, 6, 7, 0, 0, 0, 0, 0])
  assert int(examples[0]['length']) == 3 and int(examples[1]['length']) == 8
  batch = {'ids': np.zeros((2, 32), np.int32), 'length': np.array([5, 3]), 'label': np.array([0, 1])}
  (trimmed,) = batching.trim_to_longest(iter([batch]), multiple=4, lengths={'ids': 'length'})
  assert trimmed['ids'].shape == (2, 8)  # longest 5, rounded up to a multiple of 4
  np.testing.assert_array_equal(trimmed['label'], batch['label'])


def test_generated_reviews_are_reproducible_and_contrasts_keep_the_main_clause():
  first = [generate.review(np.random.default_rng([0, i])) for i in range(50)]
  again = [generate.review(np.random.default_rng([0, i])) for i in range(50)]
  assert first == again
  assert {r['form'] for r in first} == {0, 1, 2}
  for r in first:
    if 'but' in r['text'].split() and 'not' not in r['text'].split():
      # With no negation the adjective after 'but' decides the label.
      after = r['text'].split(' but ')[1].split()
      polarity = [s for s, words in enumerate(generate.ADJECTIVES) if set(words) & set(after)]
      assert polarity == [r['label']], r
