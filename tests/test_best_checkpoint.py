"""config.best_metric: the state of the best evaluation so far, kept in WORKDIR/best beside the latest
checkpoints, restored on request, and remembered by a resumed run."""

import json
import os
import pathlib
import shutil

import chex
import numpy as np
import pytest

from configs import skipgram_planted
from data import word_vectors
from data.errors import UserInputError
from train import loop, neighbors, visualize

# The first run's evaluations (steps 1 to 3, then the final one at 4): the lowest loss is step 2's.
FIRST_RUN_LOSSES = [3.0, 1.0, 2.0, 1.5]


def _config(num_steps: int):
  """A skip-gram run small enough to take seconds, evaluated and saved at every step."""
  config = skipgram_planted.get_config()
  config.data.update(num_sentences=500, num_eval_sentences=100, eval_pairs=500)
  config.update(num_steps=num_steps, eval_every=1, checkpoint_every=1, max_checkpoints=10, log_every=1,
                batch_size=2048, eval_batch_size=512, best_metric='-loss')
  return config


def _script_evaluations(monkeypatch, losses):
  """Evaluations that report `losses` in turn, so that which step is best is known."""
  reported = iter(losses)
  monkeypatch.setattr(loop, 'evaluate', lambda task, parallel, state: {'loss': next(reported), 'pair_accuracy': 0.0})


def _steps(folder: str) -> list[int]:
  return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


@pytest.fixture(scope='module')
def run(tmp_path_factory) -> str:
  workdir = str(tmp_path_factory.mktemp('best') / 'run')
  with pytest.MonkeyPatch.context() as monkeypatch:
    _script_evaluations(monkeypatch, FIRST_RUN_LOSSES)
    loop.train_and_evaluate(_config(num_steps=4), workdir)
  return workdir


def test_the_best_evaluation_is_kept_beside_the_latest_checkpoints(run):
  assert _steps(f'{run}/checkpoints') == [1, 2, 3, 4]
  assert _steps(f'{run}/best') == [2]  # step 1's, the best until step 2, is gone


def test_restoring_the_best_gives_the_best_steps_variables(run):
  best = loop.restore(run, which='best')[3]
  chex.assert_trees_all_equal(best, loop.restore(run, step=2)[3])
  latest_vectors = word_vectors.load(f'{run}/vectors.txt')[1]  # written from the last step
  best_vectors = neighbors.run_vectors(run, 'best')[1]
  np.testing.assert_array_equal(best_vectors, best['params']['target']['embedding'])
  assert not np.allclose(best_vectors, latest_vectors)


def test_a_resumed_run_keeps_the_best_it_had(run, tmp_path, monkeypatch):
  resumed = str(tmp_path / 'resumed')
  shutil.copytree(run, resumed)
  _script_evaluations(monkeypatch, [1.1, 1.2])  # steps 5 and 6: both worse than step 2's 1.0
  loop.train_and_evaluate(_config(num_steps=6), resumed)
  assert _steps(f'{resumed}/checkpoints')[-1] == 6 and _steps(f'{resumed}/best') == [2]


def test_an_unknown_best_metric_names_the_ones_there_are(tmp_path):
  config = _config(num_steps=2)
  config.best_metric = 'accuracy'
  with pytest.raises(UserInputError, match=r"best_metric 'accuracy' names no evaluation metric; "
                                           r"the evaluations report \['loss', 'pair_accuracy'\]"):
    loop.train_and_evaluate(config, str(tmp_path))
  assert not os.path.exists(tmp_path / 'best')


def test_asking_for_the_best_of_a_run_without_one_is_a_clear_error(run, tmp_path, capsys):
  config = json.loads(pathlib.Path(run, 'config.json').read_text())
  (tmp_path / 'config.json').write_text(json.dumps(dict(config, best_metric='')))
  with pytest.raises(SystemExit) as exit_code:
    visualize.main(['--workdir', str(tmp_path), '--checkpoint', 'best'])
  assert exit_code.value.code == 2
  assert 'has no best checkpoint: the run was trained without best_metric' in capsys.readouterr().err
  with pytest.raises(UserInputError, match="unknown checkpoint 'finest'"):
    loop.restore(run, which='finest')
