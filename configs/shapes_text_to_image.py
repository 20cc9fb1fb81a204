"""Text to image on `shapes`: a prior and a decoder on a trained CLIP (nets/text_to_image.py).

The pipeline is a short chain of runs, each finding the one before by its workdir:

  python -m train --config configs/shapes_clip.py --workdir runs/shapes_clip            # CLIP
  python -m train --config configs/shapes_cnn.py --workdir runs/shapes_cnn              # judges: the shape ...
  python -m train --config configs/shapes_cnn.py --workdir runs/shapes_color --config.data.label_key=color
  for a in size position; do                                                            # near a boundary: a larger judge
    python -m train --config configs/shapes_cnn.py --workdir runs/shapes_$a --config.data.label_key=$a \
      --config.model.convs_per_stage=2 --config.num_steps=2000; done
  python -m train --config configs/shapes_text_to_image.py --workdir runs/shapes_t2i    # prior + decoder
  python -m train.generate --workdir runs/shapes_t2i "a large green triangle in the bottom right" --num 8 --out grid.png

The classifiers are separate runs on real images, so that CLIP does not judge its own drawings;
without them (faithfulness.classifier_workdirs={}) the final evaluation skips the faithfulness.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'text_to_image'
  config.clip_workdir = 'runs/shapes_clip'
  # Filled in from the CLIP run (its splits and caption length), for the record.
  config.data = ml_collections.ConfigDict({'train_split': 'train', 'eval_split': 'test', 'max_length': 16,
                                           'num_shards': 0, 'shuffle_buffer': 100_000, 'trim_batches': False})
  config.model = ml_collections.ConfigDict({
      'name': 'text_to_image', 'prior_hidden': (256, 256), 'decoder_features': (16, 32, 64),
      # Two convolutions per decoder stage draw the shapes sharper: faithfulness 0.31 -> 0.45 (before FiLM;
      # bench/README_clip.md).
      'convs_per_stage': 2, 'norm': 'none',
      'residual_dim': 8,  # the decoder's VAE latent beside the CLIP embedding; 0: none
      # The embedding and latent also scale and shift each decoder conv's output (FiLM), and each stage sees its
      # pixels' coordinates (CoordConv). Measured at 2000 steps (2,000 test captions): faithfulness 0.66 with
      # neither, 0.83 with FiLM, 0.61 with the coordinates alone, 0.87 with both.
      'film': True, 'coordinates': True,
  })
  config.prior_weight = 0.01  # the prior's nll (nats per dimension) beside the decoder's pixel mse
  config.decoder_std = 0.3  # the residual VAE's Gaussian decoder: smaller weighs the pixels more against its KL
  # > 0: the decoder is also trained so that CLIP sees in its drawing the embedding it drew from.
  # Measured (500 held-out captions, before FiLM): faithfulness 0.21 without, 0.33 with 0.1; with FiLM
  # (2000 steps): 0.86 without, 0.87 with.
  config.clip_loss_weight = 0.1
  # > 0: the drawing's features in CLIP's image tower (each stage's output) are also trained to match
  # the image's, a perceptual loss (Johnson et al. 2016) that keeps corners and edges the pixel error
  # blurs. Measured at 1000 steps (1,000 held-out captions, before FiLM): faithfulness 0.34 without, 0.43-0.44
  # with 1-10; with FiLM (2000 steps, 2,000 captions): 0.76 without, 0.87 with 3.
  config.perceptual_weight = 3.0
  config.faithfulness = ml_collections.ConfigDict({
      'classifier_workdirs': {'label': 'runs/shapes_cnn', 'color': 'runs/shapes_color', 'size': 'runs/shapes_size',
                              'position': 'runs/shapes_position'},
      'examples': 2000,  # eval captions drawn for (shapes' whole test split)
      'candidates': 8,  # images drawn per caption, reranked by CLIP
      # The priors' spread when drawing them: below 1 the draws keep nearer the typical image (the
      # truncation trick). Measured on 1,000 test captions before FiLM: 75.4% at 1.0, 78.9% at 0.7, 81.4% at 0.5,
      # 82.7% at 0.3; with FiLM (2,000 captions): 89.1% at 1.0, 95.3% at 0.5.
      'temperature': 0.5,
  })
  # Measured at equal time (1,000 held-out captions): 2000 steps of 32 at 3e-3 read 0.59 where 1000 of 64
  # read 0.44 at 2e-3 and 0.52 at 3e-3 (0.52 at 5e-3): smaller batches cost less per image on CPU.
  config.batch_size = 32
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 0.0
  config.num_steps = 5000
  config.eval_every = 2000
  config.checkpoint_every = 2000
  return config
