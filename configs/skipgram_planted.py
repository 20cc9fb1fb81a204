"""word2vec skip-gram on the offline planted-synonym corpus (the default; needs no data).

  python -m train --config configs/skipgram_planted.py --workdir runs/skipgram_planted
  python -m train.neighbors --workdir runs/skipgram_planted bababa demine \
      --plot runs/skipgram_planted/words.png

The final evaluation reports planted_neighbor_precision (1.0: every planted synonym class is
exactly the nearest-neighbour set of its words) and the workdir gets vectors.txt.
"""

import ml_collections

from configs import defaults


def skipgram_config(source: str) -> ml_collections.ConfigDict:
  """Settings shared by the skip-gram configs; word2vec's defaults where it has them."""
  config = defaults.training_defaults()
  config.task = 'skipgram'
  config.data = ml_collections.ConfigDict({
      'source': source,  # 'planted' | 'text_files' | 'tfds'
      'path': '',  # text_files: a file or a quoted glob, one sentence per line
      'name': '', 'split': 'train', 'feature': 'text', 'data_dir': '',  # tfds: e.g. lm1b, imdb_reviews
      'max_words': 0,  # read at most this many words of a text corpus (0: all)
      'eval_every': 100,  # text corpora: every n-th sentence is held out for the pair metrics (0: none)
      'num_sentences': 20_000, 'num_eval_sentences': 1_000, 'num_topics': 8, 'synonyms': 4,  # planted
      'corpus_seed': 0,  # planted: the corpus is fixed while config.seed varies the training
      'min_count': 5, 'max_vocab': 0, 'sample': 1e-3, 'window': 5, 'negatives': 5, 'epochs': 5,
      'micro_batch': 1024,  # pairs per SGD update; batch_size pairs make one loop step
      'eval_pairs': 10_000,
  })
  config.model = ml_collections.ConfigDict({'name': 'skipgram', 'dim': 100})
  config.evaluation = ml_collections.ConfigDict({
      'similarity_files': (),  # (word, word, score) files, e.g. wordsim353.tsv, simlex999.txt
      'analogy_files': (),  # questions-words.txt layout
      'restrict_vocab': 30_000,  # analogy answers are searched among this many most frequent words
  })
  config.batch_size = 64 * 1024
  config.eval_batch_size = 4096
  config.num_steps = 0  # 0: as many steps as data.epochs passes take
  config.log_every = 50
  config.eval_every = 1_000_000  # the pair metrics once, at the end
  config.checkpoint_every = 1000
  # Only the schedule is used: the task applies plain sparse SGD itself (see train/tasks/skipgram.py).
  config.optimizer.update(name='sgd', learning_rate=0.025, schedule='linear', warmup_steps=0,
                          momentum=0.0, weight_decay=0.0, grad_clip_norm=0.0)
  return config


def get_config() -> ml_collections.ConfigDict:
  config = skipgram_config('planted')
  config.data.min_count = 1
  config.model.dim = 32
  config.batch_size = 16 * 1024
  return config
