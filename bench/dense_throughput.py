"""Training throughput of the U-Net and CenterNet, JAX/Flax beside PyTorch, on one CPU machine.

  python bench/dense_throughput.py                    # both models at the configs' sizes; ~2 min on 2 idle cores
  python bench/dense_throughput.py --models unet --steps 5 --torch-layout contiguous

configs/shapes_unet.py and configs/shapes_centernet.py on random batches of 32 64x64 RGB images:
encoder stages (16, 32, 64, 128) of convs_per_stage x [conv -> BatchNorm -> ReLU], each after the
first halving the size (its first conv 4x4 stride 2), decoder stages of nearest upsample x2 -> conv
3x3, concatenated skip, convs_per_stage x [conv 3x3 -> BatchNorm -> ReLU]; the U-Net ends in a 1x1 conv to 9 classes (per-pixel cross-entropy), CenterNet
stops at stride 4 with three heads conv 3x3 (64) -> ReLU -> conv 1x1 (focal loss + 0.1 x size L1 +
offset L1 per object). AdamW (lr 3e-3, weight decay 1e-4 on kernels), clipping 1.0, as the configs.

Ours is the trainer's step (train.steps.make_train_step on the task's own loss, train.optim's
AdamW, DataParallel('jit'), state donated) with Flax's standard layers and the trainer's XLA:CPU
flags and malloc settings (train/xla_cpu.py). Detection targets are computed once before timing
and fed to both sides, so both time network + loss + update ('ours, targets in step': the
trainer's unchanged loss, which computes them in the step). PyTorch is the same architecture in
torch.nn; the parameter counts are checked equal. Images/s: the median of --repeats timings of
--steps steps after --warmup, taken in turns (order reversed each repeat, 0.5 s pause before
each). Results: bench/README_dense.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import timing  # bench/timing.py, beside this script (its folder is on the path)
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=wrong-import-position  (after sys.path; XLA reads XLA_FLAGS when its backend starts, in main)
from configs import shapes_centernet, shapes_unet
from nets import detection
from train import optim, steps, xla_cpu
from train.tasks import detection as detection_task
from train.tasks import segmentation as segmentation_task

SIDE, MAX_OBJECTS, CLASSES = 64, 8, {'unet': 9, 'centernet': 8}
CONFIGS = {'unet': shapes_unet, 'centernet': shapes_centernet}


class PrecomputedTargets(detection_task.DetectionTask):
  """DetectionTask's loss, with detection.targets' outputs read from the batch."""

  def _losses(self, heads, batch):
    valid, at_centres = batch['valid'][..., None], jax.vmap(detection.gather_cells)
    size_error = jnp.where(valid, jnp.abs(at_centres(heads['size'], batch['cells']) - batch['size']), 0.0)
    offset_error = jnp.where(valid, jnp.abs(at_centres(heads['offset'], batch['cells']) - batch['offset']), 0.0)
    focal = jax.vmap(detection.focal_loss)(heads['heatmap'], batch['heatmap'])
    return focal, size_error.sum((1, 2)), offset_error.sum((1, 2)), batch['valid'].sum(1)


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
  parser.add_argument('--models', default='unet,centernet')
  for flag, default in (('--batch', 32), ('--steps', 10), ('--warmup', 5), ('--repeats', 5),
                        ('--torch-threads', os.cpu_count())):
    parser.add_argument(flag, type=int, default=default)
  parser.add_argument('--torch-layout', default='channels_last', choices=('channels_last', 'contiguous'))
  return parser.parse_args()


def random_batch(batch: int) -> dict:
  """Images, masks, up to MAX_OBJECTS boxes per image and detection.targets' heatmap, cells, size, offset."""
  rng = np.random.default_rng(0)
  centre, half = rng.uniform(0.15, 0.85, (batch, MAX_OBJECTS, 2)), rng.uniform(0.05, 0.15, (batch, MAX_OBJECTS, 2))
  host = {'image': rng.integers(0, 256, (batch, SIDE, SIDE, 3), dtype=np.uint8),
          'segmentation': rng.integers(0, CLASSES['unet'], (batch, SIDE, SIDE)).astype(np.int32),
          'boxes': np.concatenate([centre - half, centre + half], -1).astype(np.float32),
          'labels': rng.integers(0, CLASSES['centernet'], (batch, MAX_OBJECTS)).astype(np.int32),
          'valid': np.arange(MAX_OBJECTS) < rng.integers(1, MAX_OBJECTS + 1, (batch, 1))}
  targets = jax.jit(jax.vmap(lambda b, l, v: detection.targets(b, l, v, (SIDE // 4,) * 2, CLASSES['centernet'])))
  outputs = targets(host['boxes'], host['labels'], host['valid'])
  return dict(host, **dict(zip(('heatmap', 'cells', 'size', 'offset'), map(np.array, outputs))))


def jax_step(name: str, host_batch: dict, targets_in_step: bool = False):
  """(step() running one of our training steps and blocking, parameter count, compile s, GFLOP a step)."""
  config = CONFIGS[name].get_config()
  config.batch_size = len(host_batch['image'])
  kind = {'unet': segmentation_task.SegmentationTask}.get(
      name, detection_task.DetectionTask if targets_in_step else PrecomputedTargets)
  task = kind.__new__(kind)  # no data source: random batches
  task.config, task.num_classes, task.image_size = config, CLASSES[name], tuple(config.data.image_size)
  task.max_objects, task.grid = MAX_OBJECTS, (SIDE // 4, SIDE // 4)
  model = task.make_model()
  tx = optim.make_optimizer(config, config.num_steps)
  parallel = steps.DataParallel('jit', steps.make_train_step(task, model, tx, jax.random.key(1)),
                                steps.make_eval_step(task, model))
  batch = jax.device_put(host_batch, parallel.batch_sharding)
  state = steps.make_init(task, model, tx, parallel.replicated)(jax.random.key(0), batch)
  params = sum(x.size for x in jax.tree.leaves(state.params))
  start = time.perf_counter()
  compiled = parallel.train_step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  gflop = (cost[0] if isinstance(cost, list) else cost).get('flops', float('nan')) / 1e9
  holder = [state]

  def step():
    holder[0], metrics = parallel.train_step(holder[0], batch)  # the old state is donated
    jax.block_until_ready(metrics)
  return step, params, compile_s, gflop


def torch_model(name: str, model_config):
  """nets.segmentation.UNet / nets.detection.CenterNet for model_config, in torch.nn."""
  nn, functional = torch.nn, torch.nn.functional
  features, convs = tuple(model_config.stage_features), model_config.convs_per_stage
  stride = model_config.get('output_stride', 1)

  def stage(cin, cout, downsample=False):  # nets.segmentation.ConvStage; Flax's BatchNorm momentum 0.9 = torch's 0.1
    return nn.Sequential(*[layer for i in range(convs) for layer in (
        nn.Conv2d(cin if i == 0 else cout, cout, *((4, 2) if downsample and i == 0 else (3, 1)), padding=1, bias=False),
        nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU())])

  class UNetFeatures(nn.Module):  # nets.segmentation.UNetFeatures
    def __init__(self):
      super().__init__()
      self.encoder = nn.ModuleList(stage(cin, cout, level > 0)
                                   for level, (cin, cout) in enumerate(zip((3,) + features[:-1], features)))
      self.levels = [level for level in reversed(range(len(features) - 1)) if 2 ** level >= stride]
      self.up = nn.ModuleList(nn.Conv2d(features[level + 1], features[level], 3, padding=1) for level in self.levels)
      self.decoder = nn.ModuleList(stage(2 * features[level], features[level]) for level in self.levels)

    def forward(self, x):
      skips = []
      for level, encode in enumerate(self.encoder):
        x = encode(x)
        skips.append(x)
      for level, up, decode in zip(self.levels, self.up, self.decoder):
        x = decode(torch.cat([up(functional.interpolate(x, scale_factor=2, mode='nearest')), skips[level]], 1))
      return x

  def head(outputs, bias=0.0):  # nets.detection.Head
    depth, width = features[stride.bit_length() - 1], model_config.head_features  # the trunk's depth at `stride`
    layers = nn.Sequential(nn.Conv2d(depth, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, outputs, 1))
    nn.init.constant_(layers[-1].bias, bias)
    return layers

  if name == 'unet':
    return nn.Sequential(UNetFeatures(), nn.Conv2d(features[0], CLASSES[name], 1))
  prior = float(np.log(detection.HEATMAP_PRIOR / (1 - detection.HEATMAP_PRIOR)))
  return nn.ModuleDict({'trunk': UNetFeatures(), 'heatmap': head(CLASSES[name], prior), 'size': head(2),
                        'offset': head(2)})


def torch_step(name: str, host_batch: dict, args):
  """(step() running one PyTorch training step, parameter count): same model, loss, AdamW and clipping."""
  functional = torch.nn.functional
  torch.set_num_threads(args.torch_threads)
  torch.manual_seed(0)
  layout = torch.channels_last if args.torch_layout == 'channels_last' else torch.contiguous_format
  model = torch_model(name, CONFIGS[name].get_config().model).to(memory_format=layout).train()
  params = list(model.parameters())
  optimizer = torch.optim.AdamW([{'params': [p for p in params if p.ndim > 1], 'weight_decay': 1e-4},
                                 {'params': [p for p in params if p.ndim <= 1], 'weight_decay': 0.0}], lr=3e-3)
  nchw = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
  images = nchw(host_batch['image']).float().div(255).sub(0.5).div(0.25)  # the configs' (x - 0.5) / 0.25
  labels = torch.from_numpy(host_batch['segmentation']).long()
  heatmap, size_target, offset_target = (nchw(host_batch['heatmap']), torch.from_numpy(host_batch['size']),
                                         torch.from_numpy(host_batch['offset']))
  rows, cells = torch.arange(args.batch)[:, None], torch.from_numpy(host_batch['cells']).long()
  valid = torch.from_numpy(host_batch['valid'])[..., None]

  def loss_fn():
    if name == 'unet':
      logits = model(images)
      (logits.argmax(1) == labels).float().mean()  # the pixel accuracy our step reports
      return functional.cross_entropy(logits, labels, ignore_index=255)
    x = model['trunk'](images)
    logits, size, offset = model['heatmap'](x), model['size'](x), model['offset'](x)
    log_p, log_not_p = functional.logsigmoid(logits), functional.logsigmoid(-logits)  # detection.focal_loss
    p = log_p.exp()
    focal = -torch.where(heatmap >= 1, (1 - p) ** 2 * log_p, (1 - heatmap) ** 4 * p ** 2 * log_not_p).sum()
    at_centres = lambda v: v[rows, :, cells[..., 0], cells[..., 1]]  # [B, M, 2]
    size_error = torch.where(valid, (at_centres(size) - size_target).abs(), 0.0).sum()
    offset_error = torch.where(valid, (at_centres(offset) - offset_target).abs(), 0.0).sum()
    return (focal + 0.1 * size_error + offset_error) / valid.sum().clamp(min=1)

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss_fn().backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
  return step, sum(p.numel() for p in params)


def main():
  args = parse_args()
  xla_cpu.restart_with_malloc_tunables()  # as python -m train runs (and bench/cnn_throughput.py)
  xla_cpu.use_measured_flags()  # the trainer's XLA:CPU flags, nothing else
  load_at_start = os.getloadavg()[0]
  host_batch = random_batch(args.batch)
  steppers, notes, pairs = {}, [], []
  for name in args.models.split(','):
    ours, ours_params, compile_s, gflop = jax_step(name, host_batch)
    theirs, torch_params = torch_step(name, host_batch, args)
    assert ours_params == torch_params, (name, ours_params, torch_params)
    steppers[f'{name}: ours'], steppers[f'{name}: PyTorch'] = ours, theirs
    pairs.append((name, f'{name}: ours', f'{name}: PyTorch'))
    notes.append(f'{name}: {ours_params:,} parameters on both sides; our compile {compile_s:.1f} s, '
                 f'XLA cost analysis {gflop:.1f} GFLOP a step')
    if name == 'centernet':
      steppers['centernet: ours, targets in step'] = jax_step(name, host_batch, targets_in_step=True)[0]
  timings = timing.interleaved_timings(steppers, args.warmup, args.repeats, args.steps)
  images_per_s = timing.images_per_second(timings, args.batch)
  print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average (1 min) '
        f'{load_at_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; batch {args.batch} x {SIDE}x{SIDE}x3; '
        f'JAX {jax.__version__}, torch {torch.__version__} ({args.torch_threads} threads, {args.torch_layout}); '
        f'{args.steps} steps x {args.repeats} repeats (median); XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  print('\n'.join(notes))
  for name, value in images_per_s.items():
    spread = '-'.join(f'{1e3 * f(timings[name]):.0f}' for f in (min, max))
    print(f'{name:36s} {value:8.1f} images/s  ({1e3 * args.batch / value:.0f} ms/step; repeats {spread} ms)')
  for name, ours, theirs in pairs:
    paired = statistics.median(b / a for a, b in zip(timings[ours], timings[theirs]))  # adjacent in time
    print(f'{name}: ours / PyTorch {images_per_s[ours] / images_per_s[theirs]:.2f}x '
          f'(median of the repeats\' own ratios {paired:.2f}x)')


if __name__ == '__main__':
  main()
