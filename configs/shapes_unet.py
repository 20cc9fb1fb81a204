"""U-Net semantic segmentation of the multi-object shapes scenes (shapes/scenes, the offline default).

  python -m train --config configs/shapes_unet.py --workdir runs/shapes_unet

Every pixel gets one of 9 classes: background or one of the 8 shapes. Evaluation reports
pixel accuracy, mIoU and the IoU of each class over the 2,000 test scenes.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'segmentation'
  config.data = defaults.dense_data('shapes/scenes')
  config.model = ml_collections.ConfigDict({
      'name': 'unet', 'stage_features': (16, 32, 64, 128), 'convs_per_stage': 1, 'norm': 'batch',
      'skip_connections': True,
  })
  # Dice weighs each class's overlap equally: the shapes' few pixels as much as the background's many.
  config.dice_weight = 1.0
  config.batch_size = 32
  config.eval_batch_size = 100
  config.optimizer.learning_rate = 3e-3
  config.num_steps = 2000
  config.eval_every = 500
  config.checkpoint_every = 500
  return config
