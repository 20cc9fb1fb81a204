"""The loop's start-up pieces: the train step compiled ahead of its first call, and the root keys."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train import loop, steps, xla_cpu

BACKEND_COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'


@pytest.fixture
def backend_compiles():
  """A list that collects one entry per XLA compilation while the test runs.

  A persistent compilation cache (JAX_COMPILATION_CACHE_DIR) would serve programs without one, so
  it is off meanwhile.
  """
  compiled = []
  persistent = jax.config.jax_enable_compilation_cache
  jax.config.update('jax_enable_compilation_cache', False)

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if event == BACKEND_COMPILE_EVENT:
      compiled.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  yield compiled
  jax.monitoring.unregister_event_duration_listener(listener)
  jax.config.update('jax_enable_compilation_cache', persistent)


def _toy_parallel(scale: float, compiler_options=None) -> steps.DataParallel:
  """A DataParallel whose train step is new to JAX's caches (`scale` makes it a distinct program)."""

  def train_step(state, batch):
    loss = jnp.mean((batch['x'] @ state['w'] - batch['y']) ** 2) * scale
    return {'w': state['w'] - 0.1 * state['w'] * loss}, {'loss': loss}

  return steps.DataParallel('jit', train_step, lambda state, batch: {}, compiler_options)


def _state_and_batch(parallel):
  state = jax.device_put({'w': jnp.ones((3, 2))}, parallel.replicated)
  batch = {'x': np.ones((8, 3), np.float32), 'y': np.zeros((8, 2), np.float32)}
  return state, batch


def test_precompiled_train_step_is_not_compiled_again_at_its_first_call(backend_compiles):
  parallel = _toy_parallel(scale=1.25)
  state, batch = _state_and_batch(parallel)
  parallel.lower_train_step(state, batch).compile()
  compiled_ahead = len(backend_compiles)
  new_state, metrics = parallel.train_step(state, parallel.put_batch(batch))
  jax.block_until_ready(metrics)
  assert compiled_ahead >= 1
  assert len(backend_compiles) == compiled_ahead  # the first call found the program compiled
  loss = np.mean((batch['x'] @ np.ones((3, 2)) - batch['y']) ** 2) * 1.25
  chex.assert_trees_all_close(new_state, {'w': (1 - 0.1 * loss) * np.ones((3, 2), np.float32)}, rtol=1e-6)


def test_without_precompilation_the_first_call_compiles(backend_compiles):
  """The check above can fail: a fresh step does compile at its first call."""
  parallel = _toy_parallel(scale=1.5)
  state, batch = _state_and_batch(parallel)
  jax.block_until_ready(parallel.train_step(state, parallel.put_batch(batch)))
  assert backend_compiles


def test_a_tasks_compile_options_reach_the_precompiled_and_the_called_step(backend_compiles):
  parallel = _toy_parallel(scale=1.75, compiler_options=xla_cpu.library_dots_only_compile_options('cpu'))
  state, batch = _state_and_batch(parallel)
  parallel.lower_train_step(state, batch).compile()
  compiled_ahead = len(backend_compiles)
  jax.block_until_ready(parallel.train_step(state, parallel.put_batch(batch)))
  assert len(backend_compiles) == compiled_ahead
  broken = _toy_parallel(scale=2.0, compiler_options={'xla_cpu_experimental_ynn_fusion_type': 'NO_SUCH_TYPE'})
  with pytest.raises(Exception, match='xla_cpu_experimental_ynn_fusion_type'):
    broken.lower_train_step(*_state_and_batch(broken)).compile()


def test_root_keys_are_deterministic_and_of_the_intended_kinds():
  init_key, step_key = jax.jit(loop._root_keys)(7)  # pylint: disable=protected-access
  again_init, again_step = jax.jit(loop._root_keys)(7)  # pylint: disable=protected-access
  other_init, _ = jax.jit(loop._root_keys)(8)  # pylint: disable=protected-access
  assert jax.random.key_impl(init_key) == jax.random.key_impl(jax.random.key(0, impl='rbg'))
  assert jax.random.key_impl(step_key) == jax.random.key_impl(jax.random.key(0, impl='threefry2x32'))
  draws = lambda key: np.asarray(jax.random.normal(key, (4,)))
  np.testing.assert_array_equal(draws(init_key), draws(again_init))
  np.testing.assert_array_equal(draws(step_key), draws(again_step))
  assert not np.array_equal(draws(init_key), draws(other_init))
