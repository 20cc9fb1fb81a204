"""A chatbot: the encoder-decoder RNN of configs/translation_rnn.py, reading a conversation and writing the reply.

The offline default is the generated `shapes_dialogue` set: a user describes a scene of shapes and
asks about it, with small talk in between, so a right reply needs the context several turns back;
`reward_shapes_dialogue` in the final evaluation is the share of right replies.

  python -m train --config configs/dialogue_rnn.py --workdir runs/chat
  python -m train.chat --workdir runs/chat                 # talk to it; /reset starts over
  python -m train.chat --workdir runs/chat --once "hi there"

Then fine-tune it by reinforcement learning: configs/dialogue_rl.py. Your own conversations: a
JSON list (or JSONL) of conversations, each a list of turns, or a TSV of (context, reply) rows:

  python -m train --config configs/dialogue_rnn.py --workdir runs/mychat --config.data.source=dialogue_json \
      --config.data.path=chats.jsonl --config.data.context_turns=3 --config.eval.rewards='("informative",)'
"""

import ml_collections

from configs.translation_rnn import seq2seq_config


def get_config() -> ml_collections.ConfigDict:
  config = seq2seq_config('dialogue', 'tfds', 'shapes_dialogue')
  config.data.shared_vocabulary = True  # the bot's words are the user's
  config.data.max_source_length = 128  # the whole conversation so far
  config.data.max_target_length = 24
  config.model.share_embeddings = True
  config.num_steps = 3000
  config.eval_every = 1000
  config.eval.rewards = ('shapes_dialogue', 'informative')
  return config
