"""Reinforcement learning for the chatbot of configs/dialogue_rnn.py (train/tasks/dialogue_rl.py).

Self-critical policy gradient on the reward of each sampled reply, with a KL penalty to the
supervised model. Train the supervised chatbot first, then:

  python -m train --config configs/dialogue_rl.py --workdir runs/chat_rl --config.rl.init_from=runs/chat
  python -m train.chat --workdir runs/chat_rl --once "hi there"

The task reward of the generated dialogues (`shapes_dialogue`: is the reply right) or, on any
conversations, `informative` (neither dull, repetitive nor an echo): --config.rl.rewards='("informative",)'.
"""

import ml_collections

from configs.dialogue_rnn import get_config as dialogue_config


def get_config() -> ml_collections.ConfigDict:
  config = dialogue_config()  # the data; the model comes from rl.init_from
  config.task = 'dialogue_rl'
  config.rl = ml_collections.ConfigDict({
      'init_from': '',  # the workdir of a supervised run of configs/dialogue_rnn.py
      'rewards': ('shapes_dialogue',),  # averaged; names in train/tasks/rewards.py
      'kl_weight': 0.05,  # per token, against the supervised model
      'temperature': 1.0,  # of the sampled replies
      'top_k': 0,
  })
  config.num_steps = 300
  config.eval_every = 150
  config.optimizer.learning_rate = 3e-4
  config.optimizer.warmup_steps = 20
  config.optimizer.schedule = 'constant'
  config.optimizer.weight_decay = 0.0  # the KL penalty holds the policy near the supervised model, not near 0
  return config
