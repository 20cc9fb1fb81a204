"""ConvNet on MNIST (TFDS 'mnist'; downloads where there is network, else TFDS_DATA_DIR).

  python -m train --config configs/mnist_cnn.py --workdir runs/mnist_cnn
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'classification'
  config.data = defaults.image_data('mnist', mean=(0.1307,), std=(0.3081,))
  config.model = ml_collections.ConfigDict({
      'name': 'convnet', 'stage_features': (32, 64), 'convs_per_stage': 1, 'head': (128,),
      'norm': 'batch', 'dropout_rate': 0.25, 'global_pool': False,
      # nets/cpu_kernels.py on CPU: the same network, faster; False for Flax's standard layers only.
      'cpu_kernels': True,
  })
  config.num_steps = 4690  # 10 epochs of 60 000 at batch 128
  config.eval_every = 938
  config.checkpoint_every = 938
  return config
