"""data/read_ahead.py: batches cut ahead in a thread arrive complete, in order, and stop with the reader."""

import itertools
import threading
import time

import pytest

from data.read_ahead import read_ahead


def test_yields_every_item_in_order():
  assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))


def test_a_producer_error_is_raised_where_it_happened():
  def items():
    yield from (0, 1)
    raise ValueError('corpus chunk 2 is broken')

  received = []
  with pytest.raises(ValueError, match='chunk 2'):
    for item in read_ahead(items(), depth=4):
      received.append(item)
  assert received == [0, 1]


def _read_ahead_threads() -> int:
  return sum(thread.name == 'read_ahead' for thread in threading.enumerate())


def test_closing_the_reader_stops_the_thread():
  before = _read_ahead_threads()
  produced = itertools.count()
  reader = read_ahead((next(produced) for _ in itertools.count()), depth=2)
  assert [next(reader) for _ in range(3)] == [0, 1, 2]
  assert _read_ahead_threads() == before + 1
  reader.close()
  deadline = time.monotonic() + 5
  while _read_ahead_threads() > before and time.monotonic() < deadline:
    time.sleep(0.05)
  assert _read_ahead_threads() <= before
  assert next(produced) <= 3 + 2 + 2  # taken, queued, and at most one in hand
