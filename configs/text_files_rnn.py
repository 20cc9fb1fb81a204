"""LSTM text classifier on local files: a folder in the aclImdb layout, or a CSV/TSV with two columns.

  # PATH/train/<class>/*.txt and PATH/test/<class>/*.txt (e.g. the unpacked aclImdb/):
  python -m train --config configs/text_files_rnn.py --workdir runs/aclimdb --config.data.path=aclImdb
  # A CSV with a header, here columns 'message' and 'category' (spam/ham or any number of classes);
  # every 5th row is held out for testing unless --config.data.test_path names a test file:
  python -m train --config configs/text_files_rnn.py --workdir runs/spam --config.data.source=csv \
      --config.data.path=messages.csv --config.data.text_key=message --config.data.label_key=category
"""

import ml_collections

from configs.reviews_rnn import text_classification_config


def get_config() -> ml_collections.ConfigDict:
  config = text_classification_config('text_folder')
  config.data.max_length = 400
  config.model.update(bidirectional=True, pooling='max', dropout_rate=0.3)
  config.num_steps = 4000
  # A few thousand texts are overfitted long before 4000 steps: evaluate often and keep the state
  # with the best held-out accuracy beside the latest (WORKDIR/best; `restore(workdir, which='best')`).
  config.eval_every = 250
  config.best_metric = 'accuracy'
  return config
