"""Convolutional autoencoders: `configs/autoencoder.py:DATASET[,VARIANT]`.

DATASET is shapes (the offline default), mnist, fashion_mnist or cifar10; VARIANT is plain (the
default), denoising or vae:

  python -m train --config configs/autoencoder.py --workdir runs/shapes_ae
  python -m train --config configs/autoencoder.py:mnist,denoising --workdir runs/mnist_dae
  python -m train --config configs/autoencoder.py:cifar10,vae --workdir runs/cifar10_vae

Train on a subset of classes (the first "deepfake" experiment, train/deepfake.py) with
--config.data.keep.label='(0, 1, 2, 3)'.
"""

import ml_collections

from configs import defaults

# name -> (TFDS name, encoder stage widths, convs per stage, latent size, batch size, steps). Each
# stage halves the image side: the 28x28 MNISTs stop at 7x7 after two stages, 32x32 images at 4x4
# after three. Shapes, the offline default, is sized to train on a laptop CPU in minutes.
DATASETS = {
    'shapes': ('shapes', (16, 32, 64), 1, 32, 64, 3000),
    'mnist': ('mnist', (32, 64), 2, 16, 128, 4690),  # 10 epochs
    'fashion_mnist': ('fashion_mnist', (32, 64), 2, 32, 128, 4690),
    'cifar10': ('cifar10', (64, 128, 256), 2, 256, 128, 7810),  # 20 epochs
}
VARIANTS = ('plain', 'denoising', 'vae')


def get_config(arg: str = 'shapes') -> ml_collections.ConfigDict:
  dataset, _, variant = arg.partition(',')
  variant = variant or 'plain'
  if dataset not in DATASETS or variant not in VARIANTS:
    raise ValueError(f'configs/autoencoder.py:{arg}: choose DATASET from {sorted(DATASETS)} '
                     f'and VARIANT from {VARIANTS}')
  tfds_name, stage_features, convs_per_stage, latent_dim, batch_size, num_steps = DATASETS[dataset]
  config = defaults.training_defaults()
  config.task = 'reconstruction'
  # Images stay in [0, 1]: the decoder ends in a sigmoid. `keep` restricts training to a subset.
  config.data = defaults.image_data(tfds_name, mean=(0.0,), std=(1.0,),
                                    keep=ml_collections.ConfigDict({'label': ()}))
  # No normalisation: LayerNorm over each pixel's channels erases its intensity (measured: stuck
  # at the mean image, 9.5 dB on shapes), and these shallow models train well without.
  config.model = ml_collections.ConfigDict({
      'name': 'autoencoder', 'latent_dim': latent_dim, 'stage_features': stage_features,
      'convs_per_stage': convs_per_stage, 'norm': 'none', 'variational': variant == 'vae',
  })
  # Denoising: std of the Gaussian noise added to inputs in [0, 1] (0 = a plain autoencoder).
  config.noise_std = 0.2 if variant == 'denoising' else 0.0
  # VAE: std of the Gaussian decoder p(x|z); smaller weighs reconstruction more against the KL.
  # Measured on shapes (3000 steps): 0.1 gives 23.0 dB, KL 91 nats and prior samples of formless
  # colour; 0.3 gives 22.3 dB, KL 42, still formless; 0.6 gives 20.0 dB, KL 17, and samples that
  # look like the data: one blurry coloured object on a plain background.
  config.decoder_std = 0.6
  config.batch_size = batch_size
  config.optimizer.learning_rate = 3e-3
  config.optimizer.weight_decay = 0.0
  config.num_steps = num_steps
  config.eval_every = num_steps // 3
  config.checkpoint_every = num_steps // 3
  return config
