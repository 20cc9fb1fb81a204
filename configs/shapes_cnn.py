"""ConvNet on the project's procedurally generated shapes (the offline default).

  python -m train --config configs/shapes_cnn.py --workdir runs/shapes_cnn
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'classification'
  config.data = defaults.image_data('shapes')
  config.model = ml_collections.ConfigDict({
      'name': 'convnet', 'stage_features': (16, 32, 32), 'convs_per_stage': 1, 'head': (128,),
      'norm': 'batch', 'dropout_rate': 0.0, 'global_pool': False,
      # nets/cpu_kernels.py on CPU: the same network, faster; False for Flax's standard layers only.
      'cpu_kernels': True,
  })
  config.batch_size = 64
  config.optimizer.learning_rate = 5e-3
  config.optimizer.warmup_steps = 50
  config.num_steps = 1200
  config.eval_every = 400
  config.checkpoint_every = 400
  return config
