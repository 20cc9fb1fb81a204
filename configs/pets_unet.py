"""U-Net segmentation of pets from background on Oxford-IIIT Pet (TFDS `oxford_iiit_pet`, downloaded by TFDS).

  python -m train --config configs/pets_unet.py --workdir runs/pets_unet

The dataset's trimaps mark each pixel pet (1), background (2) or border (3); the border, a few
pixels wide around each pet where annotators could not tell, is ignored, as is usual. Images
(of many sizes) are resized to 128x128 and flipped at random in training.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'segmentation'
  config.data = defaults.dense_data(
      'oxford_iiit_pet', image_size=(128, 128), augment='flip', mask_key='segmentation_mask',
      mask_map=(255, 1, 0, 255), class_names=('background', 'pet'), shuffle_buffer=1000)
  config.model = ml_collections.ConfigDict({
      'name': 'unet', 'stage_features': (32, 64, 128, 256), 'convs_per_stage': 2, 'norm': 'batch',
      'skip_connections': True,
  })
  config.dice_weight = 0.0
  config.batch_size = 32
  config.eval_batch_size = 64
  config.optimizer.learning_rate = 1e-3
  config.num_steps = 6000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.best_metric = 'miou'  # 3,680 training images: keep the best evaluation, not only the last
  return config
