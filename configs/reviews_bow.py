"""The bag-of-words baseline on the generated `reviews` set: mean word embedding -> MLP.

  python -m train --config configs/reviews_bow.py --workdir runs/reviews_bow

It sees which words a review has but not their order, so on the contrasts ("good but boring"
vs "boring but good") it is at chance; compare its test accuracy with configs/reviews_rnn.py.
"""

import ml_collections

from configs import reviews_rnn


def get_config() -> ml_collections.ConfigDict:
  config = reviews_rnn.get_config()
  config.model = ml_collections.ConfigDict({
      'name': 'bag_of_words', 'embed_dim': 32, 'hidden': (64,), 'dropout_rate': 0.0, 'pretrained_vectors': '',
  })
  return config
