"""The MLP baseline on shapes: every pixel a separate input, no weight sharing.

  python -m train --config configs/shapes_mlp.py --workdir runs/shapes_mlp
"""

import ml_collections

from configs import shapes_cnn


def get_config() -> ml_collections.ConfigDict:
  config = shapes_cnn.get_config()  # same data, optimizer and budget as the ConvNet it is compared with
  config.model = ml_collections.ConfigDict({'name': 'mlp', 'hidden': (512, 256), 'dropout_rate': 0.0})
  config.optimizer.learning_rate = 3e-4  # the ConvNet's 5e-3 leaves the MLP at chance (measured 13%)
  return config
