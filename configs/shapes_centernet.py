"""CenterNet object detection on the multi-object shapes scenes (shapes/scenes, the offline default).

  python -m train --config configs/shapes_centernet.py --workdir runs/shapes_centernet

Finds every shape (8 classes) with its box. The final evaluation reports COCO mAP@[.5:.95],
mAP@0.5 and mAP@0.75 by pycocotools over the 2,000 test scenes.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'detection'
  config.data = defaults.dense_data('shapes/scenes', max_objects=8)
  config.model = ml_collections.ConfigDict({
      'name': 'centernet', 'stage_features': (16, 32, 64, 128), 'convs_per_stage': 2, 'norm': 'batch',
      'output_stride': 4, 'head_features': 64,
  })
  config.size_weight = 0.1
  config.max_detections = 100
  config.batch_size = 32
  config.eval_batch_size = 100
  config.optimizer.learning_rate = 3e-3
  config.num_steps = 1500
  config.eval_every = 500
  config.checkpoint_every = 500
  return config
