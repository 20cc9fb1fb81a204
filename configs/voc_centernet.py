"""CenterNet detection of the 20 PASCAL VOC 2007 classes (TFDS `voc/2007`, downloaded by TFDS).

  python -m train --config configs/voc_centernet.py --workdir runs/voc_centernet

Trains on VOC 2007 train and evaluates on its test split with COCO's mAP@[.5:.95] and mAP@0.5
(objects marked difficult count as ordinary ones here, which lowers the mAP@0.5 slightly against
VOC's own protocol). Images are resized to 256x256 and flipped at random; up to 50 objects an image.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'detection'
  config.data = defaults.dense_data('voc/2007', image_size=(256, 256), augment='flip', max_objects=50,
                                    shuffle_buffer=1000)
  config.model = ml_collections.ConfigDict({
      'name': 'centernet', 'stage_features': (32, 64, 128, 256, 256), 'convs_per_stage': 2, 'norm': 'batch',
      'output_stride': 4, 'head_features': 64,
  })
  config.size_weight = 0.1
  config.max_detections = 100
  config.batch_size = 32
  config.eval_batch_size = 32
  config.optimizer.learning_rate = 1e-3
  config.num_steps = 20000
  config.eval_every = 2000
  config.checkpoint_every = 2000
  config.best_metric = '-loss'
  return config
