"""The loop's settings shared by every experiment; each config file starts from these."""

import ml_collections


def training_defaults() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.batch_size = 128  # global, over all devices and processes
  config.eval_batch_size = 256
  config.num_steps = 1000
  config.log_every = 50
  config.eval_every = 1000
  config.checkpoint_every = 500
  config.max_checkpoints = 3
  # An evaluation metric ('accuracy'; '-loss' where lower is better) whose best value's state is kept
  # in WORKDIR/best beside the latest checkpoints. Off by default: no metric is in every task's
  # evaluations (forecasts report mae, autoencoders psnr), and most runs improve to the end, where
  # the copy only doubles the checkpoint writes. Small data sets that overfit want it on.
  config.best_metric = ''
  config.async_checkpoints = True  # write checkpoints in the background while training goes on
  config.parallel = 'jit'  # or 'pmap'
  config.compute_dtype = 'float32'  # 'bfloat16': bf16 compute, float32 parameters
  config.distributed = ml_collections.ConfigDict({
      'coordinator_address': '',  # host:port of process 0; '' = single process
      'num_processes': 1,
      'process_id': 0,
      'auto': False,  # jax.distributed.initialize() with cluster auto-detection (TPU pods, SLURM)
  })
  config.optimizer = ml_collections.ConfigDict({
      'name': 'adamw', 'learning_rate': 1e-3, 'schedule': 'cosine', 'warmup_steps': 100,
      'weight_decay': 1e-4, 'grad_clip_norm': 1.0, 'momentum': 0.9, 'nesterov': False,
      'b1': 0.9, 'b2': 0.999,
  })
  return config


def image_data(name: str, **overrides) -> ml_collections.ConfigDict:
  """An image classification data block: TFDS `name` unless `source` says otherwise."""
  data = ml_collections.ConfigDict({
      'source': 'tfds',  # 'tfds' (by name) | 'tfds_dir' (prepared folder) | 'image_folder'
      'name': name,
      'data_dir': '',  # '' = $TFDS_DATA_DIR or ~/tensorflow_datasets
      'path': '',  # for tfds_dir and image_folder
      'image_size': (32, 32),  # image_folder images are resized to this
      'train_split': 'train',
      'eval_split': 'test',
      'image_key': 'image',
      'label_key': 'label',
      'augment': '',  # '' or 'crop_flip'
      'mean': (0.5,),  # per channel; one value broadcasts to all
      'std': (0.25,),
      'num_shards': 0,  # 0 = one per process; fix it to make batches independent of process count
      'cache': True,
      # A split preprocessed into memory is saved there; later runs load it without TensorFlow.
      'split_cache': True,
      'split_cache_dir': '',  # '' = $SPLIT_CACHE_DIR or ~/.cache/jax_classics/splits
      'shuffle_buffer': 10_000,  # examples; the first batch waits until the buffer is full
  })
  data.update(overrides)
  return data


def dense_data(name: str, **overrides) -> ml_collections.ConfigDict:
  """A segmentation or detection data block (data/dense.py): TFDS `name` unless `source` says otherwise."""
  data = image_data(name)
  data.update({
      'source': 'tfds',  # 'tfds' (by name) | 'mask_folder' (images/ + masks/) | 'coco_folder' (images/ + annotations.json)
      'image_size': (64, 64),  # every image (and mask) is resized to this
      'augment': '',  # '' or 'flip': left-right, with the masks or boxes
      'class_names': (),  # () = from the dataset (a LabeledImage mask, a ClassLabel, classes.txt, COCO categories)
      # Segmentation: the mask feature, and the class of each stored mask value (255 = ignore); () = the values themselves.
      'mask_key': 'segmentation',
      'mask_map': (),
      # Detection: the boxes and labels features, and how many objects an image's batch row holds.
      'boxes_key': 'objects/bbox',
      'labels_key': 'objects/label',
      'max_objects': 8,
  })
  del data['image_key'], data['label_key']
  data.update(overrides)
  return data
