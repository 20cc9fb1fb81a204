"""LSTM sentiment classifier on the generated `reviews` set (the offline default; needs no data).

  python -m train --config configs/reviews_rnn.py --workdir runs/reviews_rnn
  python -m train --config configs/reviews_bow.py --workdir runs/reviews_bow   # the baseline

Half of the reviews are contrasts ("good but boring") that read the other way when their
clauses swap, so the bag-of-words baseline stays near 75% test accuracy while the LSTM, which
reads in order, goes well above 95%. `text_classification_config` is shared by the other text configs.
"""

import ml_collections

from configs import defaults


def text_classification_config(source: str, name: str = '') -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'text_classification'
  config.batch_size = 64
  config.eval_batch_size = 256
  config.data = ml_collections.ConfigDict({
      'source': source,  # 'tfds' (by name) | 'tfds_dir' | 'text_folder' (aclImdb layout) | 'csv' (.csv or .tsv)
      'name': name,  # tfds: a text classification set, e.g. 'imdb_reviews', 'reviews'
      'data_dir': '',  # tfds: '' = $TFDS_DATA_DIR or ~/tensorflow_datasets
      'path': '',  # tfds_dir: the version folder; text_folder: the one holding train/ and test/; csv: the file
      'test_path': '',  # csv: the test file; '' = every holdout_every-th row of `path`
      'holdout_every': 5,
      'text_key': 'text',  # the TFDS feature or CSV column holding the text
      'label_key': 'label',  # ... and the class label
      'train_split': 'train',
      'eval_split': 'test',
      'tokenizer': 'word',  # 'word' (top vocab_size - 2 words + <pad>, <unk>) | 'subword' (sentencepiece)
      'vocab_size': 20_000,
      'min_count': 1,  # word tokenizer: drop words rarer than this
      'tokenizer_dir': '',  # load the tokenizer an earlier run saved in its workdir instead of training one
      'max_length': 200,  # tokens kept per text (the first ones)
      'trim_batches': True,  # cut each batch to its longest text ...
      'length_multiple': 16,  # ... rounded up to this, bounding the number of compiled shapes
      'num_shards': 0,
      'shuffle_buffer': 100_000,
  })
  config.model = ml_collections.ConfigDict({
      'name': 'rnn', 'cell': 'lstm', 'embed_dim': 128, 'features': 128, 'num_layers': 1,
      'bidirectional': False, 'pooling': 'final', 'dropout_rate': 0.0, 'unroll': 1,
      'pretrained_vectors': '',  # a word2vec text file, e.g. a skip-gram run's vectors.txt
  })
  config.optimizer.learning_rate = 3e-3
  config.optimizer.warmup_steps = 50
  return config


def get_config() -> ml_collections.ConfigDict:
  config = text_classification_config('tfds', 'reviews')
  config.data.vocab_size = 1000  # the generated reviews use about 90 words
  config.data.max_length = 48
  config.model.embed_dim = 32
  config.model.features = 64
  config.num_steps = 1500
  config.eval_every = 500
  return config
