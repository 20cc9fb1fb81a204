"""The one training loop, its tasks and the `python -m train...` entry points."""

import os

# TensorFlow only reads data here; its oneDNN kernels compute none of the models. Where the CPU has
# AVX-512 they announce themselves at import, before any log setting applies, and a one-line error
# for a user's mistake would come with two lines of notice. A user's own setting wins.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
