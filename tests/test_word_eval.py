"""Similarity, analogy and neighbour evaluators on small files whose answers are known by construction."""

import json

import numpy as np
import pytest

from data.errors import UserInputError
from train import neighbors, word_eval


def _angle_vectors(angles_degrees):
  angles = np.radians(angles_degrees)
  return np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.arange(1, len(angles) + 1)[:, None]


def test_similarity_spearman_and_oov(tmp_path):
  words = ['a', 'b', 'c', 'd', 'e']
  vectors = _angle_vectors([0, 10, 30, 60, 100])  # cosine to 'a' falls with the angle; norms vary
  path = tmp_path / 'sim.tsv'
  path.write_text('# Word 1\tWord 2\tHuman (mean)\n'
                  'A\tb\t9.0\na\tc\t7.5\na\td\t3\na\te\t1\na\tzebra\t5\n', encoding='utf-8')
  triples = word_eval.read_similarity_file(str(path))
  result = word_eval.evaluate_similarity(words, vectors, triples)
  assert result['spearman'] == pytest.approx(1.0)
  assert result['oov_ratio'] == pytest.approx(1 / 5) and result['pairs'] == 4
  reversed_scores = [(a, b, -s) for a, b, s in triples]
  assert word_eval.evaluate_similarity(words, vectors, reversed_scores)['spearman'] == pytest.approx(-1.0)


def test_analogies_3cosadd_with_known_answers(tmp_path):
  # man->woman is the same offset as king->queen; 'queen' is the only word b - a + c lands on.
  words = ['man', 'woman', 'king', 'queen', 'apple', 'paris', 'france', 'rome', 'italy']
  vectors = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1],
                      [0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1], [0, 0.2, 0.2, -1]], np.float32)
  path = tmp_path / 'questions.txt'
  path.write_text(': gender\nman woman king queen\nking queen man woman\n'
                  ': capitals\nparis france rome italy\nparis france oslo norway\n', encoding='utf-8')
  questions = word_eval.read_analogy_file(str(path))
  assert len(questions) == 4 and questions[0][0] == 'gender'
  result = word_eval.evaluate_analogies(words, vectors, questions)
  assert result['answered'] == 3 and result['skipped_ratio'] == pytest.approx(1 / 4)
  assert result['accuracy/gender'] == 1.0
  assert result['accuracy/capitals'] == 0.0  # 'italy' points away from france - paris + rome
  assert result['accuracy'] == pytest.approx(2 / 3)
  # Restricted to the 4 most frequent words, the capitals question is skipped.
  assert word_eval.evaluate_analogies(words, vectors, questions, restrict_vocab=4)['answered'] == 2


def test_bad_evaluation_files_name_the_line(tmp_path):
  path = tmp_path / 'bad.txt'
  path.write_text('a b c\n', encoding='utf-8')
  with pytest.raises(UserInputError, match='line 1'):
    word_eval.read_similarity_file(str(path))
  with pytest.raises(UserInputError, match='line 1'):
    word_eval.read_analogy_file(str(path))
  with pytest.raises(UserInputError, match='cannot read'):
    word_eval.read_similarity_file(str(tmp_path / 'missing.txt'))


def test_nearest_neighbors_and_class_precision():
  words = ['a1', 'a2', 'b1', 'b2', 'c']
  vectors = np.array([[1, 0.1], [1, -0.1], [-1, 0.1], [-1, -0.1], [0.1, 1]], np.float32)
  assert [w for w, _ in word_eval.nearest_neighbors(words, vectors, 'a1', k=2)] == ['a2', 'c']
  assert word_eval.class_neighbor_precision(words, vectors, {'a': ('a1', 'a2'), 'b': ('b1', 'b2')}) == 1.0
  assert word_eval.class_neighbor_precision(words, vectors, {'x': ('a1', 'b1'), 'y': ('a2', 'b2')}) == 0.0
  with pytest.raises(UserInputError, match='not in the vocabulary'):
    word_eval.nearest_neighbors(words, vectors, 'zzz')


def test_dense_distances_reflect_similarity_one_hot_do_not():
  words = ['cat', 'kitten', 'car']
  vectors = np.array([[1, 0.2, 0], [0.9, 0.3, 0], [0, 0.1, 1]], np.float32)
  dense, one_hot = neighbors.dense_and_one_hot_distances(words, vectors, words)
  assert dense[0, 1] < 0.5 * dense[0, 2]
  off_diagonal = one_hot[~np.eye(3, dtype=bool)]
  np.testing.assert_allclose(off_diagonal, np.sqrt(2))


def test_word_eval_command_scores_a_vector_file(tmp_path, capsys):
  vectors = tmp_path / 'vectors.txt'
  vectors.write_text('3 2\nman 1 0\nwoman 1 1\nking 2 0.1\n', encoding='utf-8')
  similarity = tmp_path / 'sim.txt'
  # Cosines: man-woman 0.71 < woman-king 0.74 < man-king 1.0, the same order as these scores.
  similarity.write_text('man woman 1\nman king 8\nwoman king 3\n', encoding='utf-8')
  word_eval.main(['--vectors', str(vectors), '--similarity', str(similarity)])
  result = json.loads(capsys.readouterr().out)[str(similarity)]
  assert result['spearman'] == pytest.approx(1.0) and result['oov_ratio'] == 0
  with pytest.raises(SystemExit) as exit_info:
    word_eval.main(['--vectors', str(tmp_path / 'missing.txt')])
  assert exit_info.value.code == 2
