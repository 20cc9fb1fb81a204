"""Machine translation with an encoder-decoder RNN: `configs/translation_rnn.py[:ATTENTION]`.

ATTENTION is bahdanau (the default), luong_dot, luong_general or none (Sutskever et al. 2014: the
encoder's final state is the decoder's only view of the source). The offline default is the
generated `translation_pairs` set (English-like SVO to an invented verb-final language):

  python -m train --config configs/translation_rnn.py --workdir runs/translation
  python -m train --config configs/translation_rnn.py:none --workdir runs/translation_none
  python -m train.translate --workdir runs/translation --beam 4 "the small dog sees the cats ."

Real data: a TFDS translation set by name (downloads where it can), or a TSV of sentence pairs:

  python -m train --config configs/translation_rnn.py --workdir runs/pt_en \
      --config.data.name=ted_hrlr_translate/pt_to_en --config.data.tokenizer=subword --config.data.vocab_size=8000
  python -m train --config configs/translation_rnn.py --workdir runs/fra --config.data.source=csv \
      --config.data.path=fra.txt --config.data.has_header=False --config.data.source_key=0 --config.data.target_key=1

`seq2seq_config` is shared with the chatbot (configs/dialogue_rnn.py).
"""

import ml_collections

from configs import defaults


def seq2seq_config(task: str, source: str, name: str = '') -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = task
  config.batch_size = 64
  config.eval_batch_size = 128
  config.label_smoothing = 0.1
  config.data = ml_collections.ConfigDict({
      'source': source,  # 'tfds' (by name) | 'tfds_dir' | 'csv' (.csv, .tsv, .txt) | 'dialogue_json' (.json, .jsonl)
      'name': name,  # tfds: 'translation_pairs', 'ted_hrlr_translate/pt_to_en', 'wmt14_translate/de-en', ...
      'data_dir': '',  # tfds: '' = $TFDS_DATA_DIR or ~/tensorflow_datasets
      'path': '',  # tfds_dir: the version folder; csv and dialogue_json: the file
      'test_path': '',  # csv, dialogue_json: the test file; '' = every holdout_every-th row of `path`
      'holdout_every': 5,
      'has_header': True,  # csv: False numbers the columns '0', '1', ...
      'source_key': '',  # the TFDS feature or CSV column of the source; '' = the dataset's own pair / first column
      'target_key': '',  # ... and of the target; '' = the second
      'context_turns': -1,  # dialogue: previous turns a source keeps; -1 = the source's default, 0 = all
      'train_split': 'train',
      'eval_split': 'test',
      'tokenizer': 'word',  # 'word' | 'subword' (sentencepiece), both with <s> and </s>
      'vocab_size': 8000,
      'min_count': 1,
      'shared_vocabulary': False,  # one tokenizer for both sides (required by model.share_embeddings)
      'tokenizer_dir': '',  # load the tokenizers an earlier run saved in its workdir
      'max_source_length': 64,  # tokens kept per source (the first ones)
      'max_target_length': 64,  # tokens per target, </s> included
      'length_multiple': 16,  # batches are cut to their longest text, rounded up to this (few compiled shapes)
      'num_shards': 0,
      'shuffle_buffer': 100_000,
  })
  config.model = ml_collections.ConfigDict({
      'name': 'seq2seq', 'cell': 'lstm', 'embed_dim': 64, 'features': 128, 'num_layers': 1,
      'bidirectional': True, 'attention': 'bahdanau', 'share_embeddings': False, 'dropout_rate': 0.1,
  })
  config.eval = ml_collections.ConfigDict({
      'decode_examples': 1000,  # eval sentences beam-decoded at the end for BLEU, chrF and rewards; 0: none
      'beam_width': 4,
      'length_penalty': 0.6,
      'rewards': (),  # names in train/tasks/rewards.py, scored on the decoded replies
  })
  config.optimizer.learning_rate = 2e-3
  config.optimizer.warmup_steps = 200
  return config


def get_config(attention: str = 'bahdanau') -> ml_collections.ConfigDict:
  config = seq2seq_config('translation', 'tfds', 'translation_pairs')
  config.model.attention = attention
  config.num_steps = 3000
  config.eval_every = 1000
  config.data.eval_split = 'validation'
  return config
