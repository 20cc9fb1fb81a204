"""A caption autoencoder on `shapes`: the text encoder of text to image, learned by writing each
caption back from its encoding.

  python -m train --config configs/shapes_caption_autoencoder.py --workdir runs/shapes_caption_ae
  python -m train --config configs/shapes_clip.py --workdir runs/shapes_clip --config.model.text_init=runs/shapes_caption_ae

The encoder-decoder RNN of translation (nets/seq2seq.py) with the caption as both source and target
and no attention: the encoder's final state is all the decoder gets, so it must hold the whole
caption. CLIP's text tower (configs/shapes_clip.py's model.text: a GRU of 64 per direction, embedding
32) then starts from this encoder and its tokenizer (`model.text_init`).
"""

import ml_collections

from configs import translation_rnn


def get_config() -> ml_collections.ConfigDict:
  config = translation_rnn.seq2seq_config('translation', 'tfds', 'shapes')
  config.data.update(source_key='caption', target_key='caption', shared_vocabulary=True, max_source_length=16,
                     max_target_length=16)
  config.model.update(cell='gru', embed_dim=32, features=128, bidirectional=True, attention='none',
                      share_embeddings=True)
  config.eval.decode_examples = 500
  config.num_steps = 1000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  return config
