"""Bidirectional LSTM sentiment classifier on IMDB reviews (TFDS `imdb_reviews`, 25k train / 25k test).

  python -m train --config configs/imdb_rnn.py --workdir runs/imdb_rnn
  python -m train --config configs/imdb_rnn.py --workdir runs/imdb_bow --config.model.name=bag_of_words
  # Any other TFDS text classification set, e.g. 3-class or 4-class topics:
  python -m train --config configs/imdb_rnn.py --workdir runs/ag --config.data.name=ag_news_subset \
      --config.data.text_key=description

`imdb_reviews` must be in the TFDS data dir (downloaded once, or built elsewhere and copied).
Word vectors from a skip-gram run can start the embedding:
  --config.model.pretrained_vectors=runs/skipgram/vectors.txt --config.model.embed_dim=100
"""

import ml_collections

from configs.reviews_rnn import text_classification_config


def get_config() -> ml_collections.ConfigDict:
  config = text_classification_config('tfds', 'imdb_reviews')
  config.data.max_length = 400  # covers the whole of about 80% of the reviews
  config.data.min_count = 2
  config.model.update(bidirectional=True, pooling='max', dropout_rate=0.3)
  config.optimizer.learning_rate = 2e-3
  config.num_steps = 4000  # about 10 epochs of batch 64
  config.eval_every = 1000
  return config
