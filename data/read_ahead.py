"""Batches cut ahead in a thread, for sources that make them in numpy on the host (not tf.data).

numpy releases Python's lock in its heavy operations, so a thread can cut the next batches while
the training loop dispatches steps and waits for the device. Without it the loop cuts them itself,
and whenever it drains the device's queue (at every log line) the device waits for the host.
"""

import queue
import threading
from typing import Iterator, TypeVar

Item = TypeVar('Item')

_DONE = object()


class _Failure:
  def __init__(self, error: BaseException):
    self.error = error


def read_ahead(items: Iterator[Item], depth: int) -> Iterator[Item]:
  """The items of `items`, in order, produced up to `depth` ahead by a daemon thread.

  An exception in the producer is raised here, at the position where it happened. Closing the
  returned generator (or dropping it) stops the thread at its next item.
  """
  ready: queue.Queue = queue.Queue(maxsize=depth)
  stop = threading.Event()

  def put(item) -> bool:
    while not stop.is_set():
      try:
        ready.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def produce():
    try:
      for item in items:
        if not put(item):
          return
    except BaseException as error:  # pylint: disable=broad-exception-caught
      put(_Failure(error))
      return
    put(_DONE)

  threading.Thread(target=produce, daemon=True, name='read_ahead').start()
  try:
    while (item := ready.get()) is not _DONE:
      if isinstance(item, _Failure):
        raise item.error
      yield item
  finally:
    stop.set()
