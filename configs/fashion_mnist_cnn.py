"""ConvNet on Fashion-MNIST (TFDS 'fashion_mnist').

  python -m train --config configs/fashion_mnist_cnn.py --workdir runs/fashion_mnist_cnn
"""

import ml_collections

from configs import mnist_cnn


def get_config() -> ml_collections.ConfigDict:
  config = mnist_cnn.get_config()  # same images, shapes and budget as MNIST; harder classes
  config.data.update(name='fashion_mnist', mean=(0.2860,), std=(0.3530,))
  config.model.stage_features = (32, 64, 128)
  return config
