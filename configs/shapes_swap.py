"""The face-swap autoencoder on two shape classes of shapes (circles and squares by default).

  python -m train --config configs/shapes_swap.py --workdir runs/shapes_swap
  python -m train.deepfake swap --workdir runs/shapes_swap --classifier runs/shapes_cnn --out runs/swap_report

With real faces: an image folder with train/ and test/, one subfolder per person (two of them),
resized to 64x64; the domains are the two class indices:

  python -m train --config configs/shapes_swap.py --workdir runs/face_swap \
    --config.data.source=image_folder --config.data.path=faces --config.data.image_size='(64, 64)'
"""

import ml_collections

from configs import autoencoder


def get_config() -> ml_collections.ConfigDict:
  config = autoencoder.get_config('shapes')
  config.task = 'swap'
  config.model.name = 'swap_autoencoder'
  del config.model['variational']
  # Domain d is every example whose `domain_key` feature equals domains[d]: shapes labels 0 and 1.
  config.swap = ml_collections.ConfigDict({'domain_key': 'label', 'domains': (0, 1)})
  # A narrow code leaves no room to store the shape itself, only what both domains share
  # (colour, position, size, background), so each decoder must draw its own shape.
  config.model.latent_dim = 16
  return config
