"""python -m train --config configs/X.py --workdir DIR [--config.key=value ...]

Exit codes: 0 done, 1 training diverged or crashed, 2 a mistake in the command, config or data.
"""

import os
import sys

from absl import flags
from ml_collections import config_flags

from data.errors import UserInputError
from train import xla_cpu

_CONFIG = config_flags.DEFINE_config_file('config', None, 'experiment config file (configs/*.py)',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'where checkpoints, logs and results go')


def _fail(message: str, code: int = 2):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(code)


def _unknown_key(argv, name: str) -> str:
  """The full dotted override (e.g. 'data.fooo') whose path holds the missing field `name`."""
  for arg in argv:
    path = arg.removeprefix('--config.').split('=')[0]
    if arg.startswith('--config.') and name in path.split('.'):
      return path
  return name


def _parse_flags(argv):
  try:
    flags.FLAGS(argv)
    config = _CONFIG.value
    if config is not None:
      config.keys()  # a config file that failed to load raises only when first used
  except flags.UnrecognizedFlagError as e:
    key = e.flagname.removeprefix('config.')
    _fail(f'unknown config key {key!r}: the config has no such field' if key != e.flagname
          else f'unknown flag --{e.flagname}')
  except (KeyError, AttributeError) as e:  # config_flags' ways of saying an override key does not exist
    missing = str(e.args[0] if isinstance(e, KeyError) else e).strip('"\'')
    _fail(f'unknown config key {_unknown_key(argv, missing)!r}: the config has no such field')
  except OSError as e:
    _fail(f'cannot load the config file: {str(e).strip().splitlines()[-1].strip()}')
  except (flags.Error, TypeError, ValueError) as e:
    _fail(str(e).strip().splitlines()[-1])
  if not _WORKDIR.value:
    _fail('--workdir is required')
  if config is None:
    _fail('--config is required, e.g. --config configs/shapes_cnn.py')
  return config


def _initialize_distributed(config):
  import jax  # pylint: disable=import-outside-toplevel
  dist = config.distributed
  if dist.coordinator_address:
    jax.distributed.initialize(dist.coordinator_address, dist.num_processes, dist.process_id)
  elif dist.auto:
    jax.distributed.initialize()


def _skip_keras():
  """Keeps TensorFlow from importing Keras, which it does eagerly (matplotlib included), at a cost to start-up.

  The trainer uses TensorFlow for tf.data only. TensorFlow guards that import with
  `except ImportError`, and a None entry in sys.modules makes it raise one.
  """
  sys.modules.setdefault('keras.src.optimizers', None)


def main(argv=None):
  if argv is None:  # the command line itself, not a caller's process, may be started again
    xla_cpu.restart_with_malloc_tunables()
  config = _parse_flags(argv or sys.argv)
  _skip_keras()
  xla_cpu.use_measured_flags()
  from train import loop, steps  # pylint: disable=import-outside-toplevel  (flag errors stay fast)
  steps.use_compilation_cache()
  try:
    _initialize_distributed(config)
    loop.train_and_evaluate(config, os.path.expanduser(_WORKDIR.value))
  except UserInputError as e:
    _fail(str(e))
  except loop.TrainingDiverged as e:
    _fail(str(e), code=1)


if __name__ == '__main__':
  main()
