"""word2vec skip-gram on real text: local .txt files (a glob) or a TFDS text dataset.

  python -m train --config configs/skipgram_text.py --workdir runs/sg \
      --config.data.path='corpus/*.txt' \
      --config.evaluation.similarity_files='("wordsim353.tsv",)' \
      --config.evaluation.analogy_files='("questions-words.txt",)'
  python -m train --config configs/skipgram_text.py --workdir runs/sg_lm1b \
      --config.data.source=tfds --config.data.name=lm1b --config.data.max_words=100000000

word2vec's settings: dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs,
learning rate 0.025 decaying linearly to 0. The vectors land in the workdir as vectors.txt.
"""

from configs.skipgram_planted import skipgram_config


def get_config():
  return skipgram_config('text_files')
