"""ResNet-20 on CIFAR-10 with pad-and-crop + flip augmentation and SGD with momentum.

  python -m train --config configs/cifar10_cnn.py --workdir runs/cifar10_resnet
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
  config = defaults.training_defaults()
  config.task = 'classification'
  config.data = defaults.image_data('cifar10', augment='crop_flip', mean=(0.4914, 0.4822, 0.4465),
                                    std=(0.2470, 0.2435, 0.2616))
  config.model = ml_collections.ConfigDict({
      'name': 'resnet', 'blocks_per_stage': (3, 3, 3), 'stage_features': (16, 32, 64),
      # nets/cpu_kernels.py on CPU: the same network, faster; False for Flax's standard layers only.
      'cpu_kernels': True,
  })
  config.optimizer.update(name='sgd', learning_rate=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4, warmup_steps=390, grad_clip_norm=0.0)
  config.num_steps = 64_000  # ~164 epochs of 50 000 at batch 128, as in He et al.
  config.eval_every = 3900
  config.checkpoint_every = 3900
  return config
