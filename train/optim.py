"""Optimizers from the config: SGD with momentum or AdamW, warmup + cosine decay, clipping, decay mask."""

import jax
import ml_collections
import optax

from data.errors import UserInputError


def learning_rate_schedule(config: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  opt = config.optimizer
  if opt.schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        0.0, opt.learning_rate, opt.warmup_steps, max(total_steps, opt.warmup_steps + 1))
  if opt.schedule == 'linear':  # decays to zero, as word2vec does
    return optax.join_schedules([optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps),
                                 optax.linear_schedule(opt.learning_rate, 0.0, total_steps - opt.warmup_steps)],
                                [opt.warmup_steps])
  if opt.schedule == 'constant':
    return optax.join_schedules([optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps),
                                 optax.constant_schedule(opt.learning_rate)], [opt.warmup_steps])
  raise UserInputError(f"unknown optimizer.schedule {opt.schedule!r}; choose 'cosine', 'linear' or 'constant'")


def decay_mask(params):
  """Weight decay on weight matrices and kernels only, not on biases or normalisation scales."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  opt = config.optimizer
  schedule = learning_rate_schedule(config, total_steps)
  clip = [optax.clip_by_global_norm(opt.grad_clip_norm)] if opt.grad_clip_norm else []
  if opt.name == 'sgd':
    return optax.chain(*clip, optax.add_decayed_weights(opt.weight_decay, decay_mask),
                       optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov))
  if opt.name == 'adamw':
    return optax.chain(*clip, optax.adamw(schedule, b1=opt.b1, b2=opt.b2,
                                          weight_decay=opt.weight_decay, mask=decay_mask))
  raise UserInputError(f"unknown optimizer.name {opt.name!r}; choose 'sgd' or 'adamw'")
