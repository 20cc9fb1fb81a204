"""Preprocessed training shards saved to disk, so that later runs start without TensorFlow.

A shard that data/pipeline.py preprocesses once into memory (InMemoryBatches) is saved here as
numpy arrays under a key covering everything they depend on: the dataset's files (names, sizes,
modification times), the split and shard, the fields read, the task's preprocessing (its data
config and the source of the modules that define it), this package's reading code, and the
TensorFlow, TFDS and numpy versions. A later run with the same key loads the arrays instead of
importing TensorFlow and decoding the split, which take most of a small machine's start-up
(bench/README_cpu_kernels.md). A change to any of those makes a new key, so a
stale copy is never served; the least recently used entries beyond MAX_ENTRIES are deleted.

The folder: data.split_cache_dir in the config, else $SPLIT_CACHE_DIR, else
~/.cache/jax_classics/splits. A folder that cannot be written only costs the speed-up.
"""

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from importlib import metadata

import numpy as np

MAX_ENTRIES = 16
ARRAYS, KEY = 'arrays.npz', 'key.json'
_ABANDONED_AFTER_S = 3600  # a half-written entry this old belongs to a process that died


def default_folder() -> str:
  return os.environ.get('SPLIT_CACHE_DIR') or os.path.expanduser('~/.cache/jax_classics/splits')


def code_version(*module_names: str) -> str:
  """A digest of the modules' source files, found without importing them."""
  digest = hashlib.sha256()
  for name in sorted(set(module_names)):
    with open(importlib.util.find_spec(name).origin, 'rb') as f:
      digest.update(name.encode() + b'\0' + f.read())
  return digest.hexdigest()


def package_versions(*names: str) -> dict[str, str | None]:
  def version(name):
    try:
      return metadata.version(name)
    except metadata.PackageNotFoundError:
      return None
  return {name: version(name) for name in names}


def files_fingerprint(paths: list[str]) -> list[tuple[str, int, int]] | None:
  """(path, size, modification time in ns) of each file; None if one cannot be read (e.g. not local)."""
  try:
    return [(path, stat.st_size, stat.st_mtime_ns) for path, stat in ((p, os.stat(p)) for p in paths)]
  except OSError:
    return None


class SplitCache:
  """Arrays by key (a JSON-serialisable dict) in `folder`, one subfolder per key."""

  def __init__(self, folder: str = ''):
    self.folder = os.path.expanduser(folder) if folder else default_folder()

  def _entry(self, key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return os.path.join(self.folder, digest[:32])

  def load(self, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays saved under `key`, or None (never saved, or damaged: the caller reads afresh)."""
    entry = self._entry(key)
    if not os.path.isdir(entry):
      return None
    try:
      with np.load(os.path.join(entry, ARRAYS)) as stored:
        arrays = {name: stored[name] for name in stored.files}
      os.utime(entry)  # recently used: kept by _evict
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
      shutil.rmtree(entry, ignore_errors=True)  # damaged: the caller's save writes it anew
      return None
    return arrays

  def save(self, key: dict, arrays: dict[str, np.ndarray]) -> None:
    entry = self._entry(key)
    if os.path.exists(entry):
      return
    try:
      os.makedirs(self.folder, exist_ok=True)
      writing = tempfile.mkdtemp(dir=self.folder, prefix='.writing-')
      try:
        np.savez(os.path.join(writing, ARRAYS), **arrays)
        with open(os.path.join(writing, KEY), 'w', encoding='utf-8') as f:
          json.dump(key, f, indent=1, sort_keys=True)  # what the entry holds, for a reader
        try:
          os.rename(writing, entry)  # complete or absent: a crash leaves only the .writing- folder
        except OSError:
          if not os.path.isdir(entry):  # else another process saved it first
            raise
      finally:
        shutil.rmtree(writing, ignore_errors=True)  # gone after the rename, unless it failed
      self._evict()
    except OSError as e:
      print(f'note: preprocessed split not saved to {self.folder} ({e}); later runs will read it again',
            file=sys.stderr)

  def _evict(self) -> None:
    entries = []
    for item in os.scandir(self.folder):
      age = time.time() - item.stat().st_mtime
      if item.name.startswith('.writing-') and age > _ABANDONED_AFTER_S:
        shutil.rmtree(item.path, ignore_errors=True)
      elif item.is_dir() and not item.name.startswith('.'):
        entries.append((item.stat().st_mtime, item.path))
    for _, path in sorted(entries, reverse=True)[MAX_ENTRIES:]:
      shutil.rmtree(path, ignore_errors=True)
