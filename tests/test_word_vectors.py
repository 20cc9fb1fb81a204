"""The word2vec text format: exact round trip, the layout other tools expect, clear errors."""

import numpy as np
import pytest

from data import word_vectors
from data.errors import UserInputError


def test_round_trip_is_exact(tmp_path):
  rng = np.random.default_rng(0)
  words = ['the', 'king', "don't", 'café']
  vectors = (rng.normal(size=(4, 7)) * 10.0 ** rng.integers(-6, 4, (4, 7))).astype(np.float32)
  path = str(tmp_path / 'vectors.txt')
  word_vectors.save(path, words, vectors)
  loaded_words, loaded = word_vectors.load(path)
  assert loaded_words == words
  np.testing.assert_array_equal(loaded, vectors)
  assert word_vectors.load(path, limit=2)[1].shape == (2, 7)


def test_layout_is_word2vec_text(tmp_path):
  path = tmp_path / 'vectors.txt'
  word_vectors.save(str(path), ['a', 'b'], np.array([[0.5, -1.0], [2.0, 0.25]]))
  lines = path.read_text(encoding='utf-8').splitlines()
  assert lines[0] == '2 2'
  assert [line.split() for line in lines[1:]] == [['a', '0.5', '-1'], ['b', '2', '0.25']]


def test_reads_files_other_tools_write(tmp_path):
  path = tmp_path / 'fasttext.vec'
  path.write_text('2 3\nhello 0.1 0.2 0.3 \nworld -1 0 1e-3 \n', encoding='utf-8')  # trailing spaces
  words, vectors = word_vectors.load(str(path))
  assert words == ['hello', 'world']
  np.testing.assert_allclose(vectors[1], [-1, 0, 1e-3])


@pytest.mark.parametrize('content, message', [
    ('hello 0.1 0.2\n', 'first line'),
    ('2 3\nhello 0.1 0.2 0.3\n', 'ends early'),
    ('1 3\nhello 0.1 0.2\n', 'line 2'),
    ('1 2\nhello 0.1 abc\n', 'line 2'),
])
def test_malformed_files_name_the_problem(tmp_path, content, message):
  path = tmp_path / 'bad.txt'
  path.write_text(content, encoding='utf-8')
  with pytest.raises(UserInputError, match=message):
    word_vectors.load(str(path))
  with pytest.raises(UserInputError, match='does not exist'):
    word_vectors.load(str(tmp_path / 'missing.txt'))


def test_vectors_for_vocabulary_copies_known_words_and_fills_the_rest(tmp_path):
  path = str(tmp_path / 'vectors.txt')
  pretrained = np.arange(12, dtype=np.float32).reshape(3, 4)
  word_vectors.save(path, ['paris', 'london', 'rome'], pretrained)
  matrix, found = word_vectors.vectors_for_vocabulary(['<pad>', 'Rome', 'paris', 'oslo'], path,
                                                      np.random.default_rng(0))
  assert matrix.shape == (4, 4) and matrix.dtype == np.float32
  np.testing.assert_array_equal(found, [False, True, True, False])
  np.testing.assert_array_equal(matrix[1], pretrained[2])  # found lower-cased
  np.testing.assert_array_equal(matrix[2], pretrained[0])
  assert np.all(matrix[[0, 3]] != 0)
