"""The notes' case against the MLP for images, as two measurements.

  python bench/mlp_vs_cnn.py --out runs/mlp_vs_cnn                 # both, on the offline shapes data
  python bench/mlp_vs_cnn.py --out runs/mlp_vs_cnn --skip-translation --sides 32,64,128,256,512

1. Parameters: an MLP's first dense layer reads every pixel of every channel, so its weights grow
   with the square of the image side; a convolution's kernel is the same whatever the image size.
   Counted on the real modules of nets/cnn.py (configs/shapes_mlp.py and configs/shapes_cnn.py).
2. Translation: train the MLP and a ConvNet with global average pooling (configs/shapes_mlp.py,
   configs/shapes_cnn.py with model.global_pool) on shapes whose centre lies in the top-left cell
   of the 3x3 position grid only (data.keep.position), through the real training loop; then test
   both on every cell. The four corner cells are the four quadrants.

Writes README.md (the tables, machine and command) and params.png, translation.png into --out.
"""

import argparse
import datetime
import os
import platform
import sys

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

from configs import shapes_cnn, shapes_mlp  # pylint: disable=wrong-import-position
from data.shapes import render  # pylint: disable=wrong-import-position
from nets import cnn  # pylint: disable=wrong-import-position
from train import deepfake, loop  # pylint: disable=wrong-import-position

TRAIN_CELL = render.POSITIONS.index('top left')
CORNERS = ('top left', 'top right', 'bottom left', 'bottom right')


def count(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def parameter_counts(sides: list[int]) -> list[dict[str, int]]:
  """Parameter counts of the configs' MLP and ConvNet at each image side (shapes only, no memory)."""
  mlp_config, cnn_config = shapes_mlp.get_config().model, shapes_cnn.get_config().model
  mlp = cnn.MLP(num_classes=8, hidden=mlp_config.hidden)
  convnet = cnn.ConvNet(num_classes=8, stage_features=cnn_config.stage_features,
                        convs_per_stage=cnn_config.convs_per_stage, head=cnn_config.head, global_pool=True)
  rows = []
  for side in sides:
    images = jnp.zeros((1, side, side, 3))
    mlp_params = jax.eval_shape(mlp.init, jax.random.key(0), images)['params']
    cnn_params = jax.eval_shape(convnet.init, jax.random.key(0), images)['params']
    rows.append({
        'side': side,
        'mlp_first_layer': count(mlp_params['MLPHead_0']['Dense_0']),
        'mlp_total': count(mlp_params),
        'conv_layers': count({k: v for k, v in cnn_params.items() if k.startswith('Conv')}),
        'cnn_global_pool_total': count(cnn_params),
    })
  return rows


def _train(config, data_dir: str, workdir: str, steps: int):
  config.data.data_dir = data_dir
  config.data.keep = ml_collections.ConfigDict({'position': (TRAIN_CELL,)})
  config.num_steps = steps
  config.eval_every = config.checkpoint_every = steps
  loop.train_and_evaluate(config, workdir)
  return loop.restore(workdir)


def accuracy_by_cell(run, examples) -> np.ndarray:
  """Test accuracy [9] of a restored classification run in each cell of the position grid."""
  config, _, model, variables = run
  normalised = (examples['image'] - np.asarray(config.data.mean)) / np.asarray(config.data.std)
  logits = jax.jit(lambda x: model.apply(variables, x, train=False))
  predicted = deepfake.batched(lambda x: logits(x).argmax(-1), normalised)
  correct = predicted == examples['label']
  return np.array([correct[examples['position'] == cell].mean() for cell in range(len(render.POSITIONS))])


def translation(data_dir: str, workdir: str, steps: int) -> dict[str, np.ndarray]:
  cnn_config = shapes_cnn.get_config()
  cnn_config.model.global_pool = True
  runs = {'MLP': _train(shapes_mlp.get_config(), data_dir, os.path.join(workdir, 'mlp'), steps),
          'CNN (global pool)': _train(cnn_config, data_dir, os.path.join(workdir, 'cnn'), steps)}
  examples = deepfake.read_examples(runs['MLP'][1].source.source, 'test')  # every cell, not just the kept one
  return {name: accuracy_by_cell(run, examples) for name, run in runs.items()}


def plot_parameters(rows, path):
  figure, axis = plt.subplots(figsize=(5, 3.5), dpi=100)
  sides = [r['side'] for r in rows]
  for key, label in (('mlp_first_layer', 'MLP first layer'), ('conv_layers', 'conv layers (all)')):
    axis.plot(sides, [r[key] for r in rows], marker='o', label=label)
  axis.set(xscale='log', yscale='log', xlabel='image side (pixels)', ylabel='parameters')
  axis.set_xticks(sides, [str(s) for s in sides])
  axis.legend()
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def plot_translation(accuracies, path):
  figure, axes = plt.subplots(1, len(accuracies), figsize=(3.2 * len(accuracies), 3), dpi=100)
  for axis, (name, by_cell) in zip(axes, accuracies.items()):
    shown = axis.imshow(by_cell.reshape(3, 3), vmin=0, vmax=1, cmap='viridis')
    for cell, value in enumerate(by_cell):
      axis.text(cell % 3, cell // 3, f'{value:.2f}', ha='center', va='center', color='w' if value < 0.6 else 'k')
    axis.set_title(f'{name}\n(trained on top-left cell only)', fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
  figure.colorbar(shown, ax=list(axes), shrink=0.8, label='test accuracy')
  figure.savefig(path)
  plt.close(figure)


def markdown(rows, accuracies, command: str) -> str:
  lines = [f'# MLP vs CNN on images\n\n{datetime.date.today()}, {platform.processor() or platform.machine()}, '
           f'{jax.devices()[0].platform}, `{command}`\n',
           '## Parameters vs image side (RGB input)\n',
           '| side | MLP first layer | MLP total | conv layers | CNN (global pool) total |',
           '|---|---|---|---|---|']
  lines += [f"| {r['side']} | {r['mlp_first_layer']:,} | {r['mlp_total']:,} | {r['conv_layers']:,} | "
            f"{r['cnn_global_pool_total']:,} |" for r in rows]
  lines.append('\n![parameters](params.png)\n')
  if accuracies:
    lines += ['## Translation: trained on the top-left cell only, test accuracy per quadrant\n',
              '| model | ' + ' | '.join(CORNERS) + ' | all 9 cells |', '|---' * (len(CORNERS) + 2) + '|']
    for name, by_cell in accuracies.items():
      corners = ' | '.join(f'{by_cell[render.POSITIONS.index(c)]:.3f}' for c in CORNERS)
      lines.append(f'| {name} | {corners} | {by_cell.mean():.3f} |')
    lines.append('\nChance is 1/8 = 0.125. ![translation](translation.png)\n')
  return '\n'.join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='where README.md and the PNGs go')
  parser.add_argument('--sides', default='32,64,128,256')
  parser.add_argument('--steps', type=int, default=1500, help='training steps of each translation model')
  parser.add_argument('--data_dir', default='', help='TFDS data dir ($TFDS_DATA_DIR by default)')
  parser.add_argument('--skip-translation', action='store_true')
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  rows = parameter_counts([int(s) for s in args.sides.split(',')])
  plot_parameters(rows, os.path.join(args.out, 'params.png'))
  accuracies = {}
  if not args.skip_translation:
    accuracies = translation(args.data_dir, os.path.join(args.out, 'runs'), args.steps)
    plot_translation(accuracies, os.path.join(args.out, 'translation.png'))
  report = markdown(rows, accuracies, 'python ' + ' '.join(sys.argv))
  with open(os.path.join(args.out, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(report)
  print(report)


if __name__ == '__main__':
  main()
