"""Long preparation (reading an image folder, building a vocabulary) shows a progress bar on a
terminal, and nothing where stderr is a log or captured."""

import io
import os
import sys

import numpy as np
from PIL import Image

from data import corpus, pipeline, sources


class Terminal(io.StringIO):
  """A stderr that says it is a terminal, as tqdm asks."""

  def isatty(self) -> bool:
    return True


def _terminal(monkeypatch) -> Terminal:
  """A terminal as stderr; set in the test itself, since pytest sets its own stderr between a
  test's fixtures and its body."""
  stderr = Terminal()
  monkeypatch.setattr(sys, 'stderr', stderr)
  return stderr


def _read_image_folder(tmp_path, count: int = 5) -> None:
  """Reads the train split of a folder of `count` small images into memory, as the first batch does."""
  for index in range(count):
    os.makedirs(tmp_path / 'train' / 'dark', exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), index, np.uint8)).save(tmp_path / 'train' / 'dark' / f'{index}.png')
  source = sources.ImageFolderSource(str(tmp_path), (8, 8))
  batches = pipeline.train_stream(source, 'train', lambda example, seed, train: example, global_batch=count,
                                  seed=0, augments=False)
  assert isinstance(batches, pipeline.InMemoryBatches)
  next(batches)


def test_reading_an_image_folder_into_memory_shows_its_progress(tmp_path, monkeypatch):
  terminal = _terminal(monkeypatch)
  monkeypatch.setattr(pipeline, 'PROGRESS_DELAY_S', 0.0)  # a few images read at once
  _read_image_folder(tmp_path)
  assert 'reading train: 100%' in terminal.getvalue() and '5.00/5.00' in terminal.getvalue()


def test_a_log_gets_no_progress_bar(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(pipeline, 'PROGRESS_DELAY_S', 0.0)
  _read_image_folder(tmp_path)
  assert 'reading train' not in capsys.readouterr().err


def test_building_a_vocabulary_shows_progress_only_once_it_takes_a_while(monkeypatch):
  terminal = _terminal(monkeypatch)
  sentences = [['a', 'rose', 'is', 'a', 'rose']] * 3
  corpus.build(sentences, min_count=1)
  assert not terminal.getvalue()
  monkeypatch.setattr(pipeline, 'PROGRESS_DELAY_S', 0.0)
  corpus.build(sentences, min_count=1)
  assert 'building the vocabulary: 100%' in terminal.getvalue() and '3.00/3.00' in terminal.getvalue()
