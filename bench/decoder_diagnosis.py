"""Where text to image loses faithfulness: the judges on real images, reconstructions and drawings.

  bash bench/text_to_image.sh runs/t2i
  python bench/decoder_diagnosis.py runs/t2i            # the chain's folder: t2i/ and judge_*/ inside

For the first --examples test images of the chain's CLIP data, the four judges (judge_label, _color,
_size, _position) read: the real images; the decoder's reconstructions from each image's own CLIP
embedding and encoded residual (the posterior mean); the same embedding with the residual prior's
mean; and drawings from the captions, from the priors' means (temperature 0) and sampled
(temperature 1, one candidate, no reranking). Printed per row: the share with every attribute
right, then each attribute's. Results: bench/README_clip.md.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train import xla_cpu  # pylint: disable=wrong-import-position

ATTRIBUTES = ('label', 'color', 'size', 'position')
BATCH = 200


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('chain', help="bench/text_to_image.sh's output folder")
  parser.add_argument('--examples', type=int, default=1000)
  args = parser.parse_args()
  xla_cpu.use_measured_flags()
  import jax  # pylint: disable=import-outside-toplevel

  from nets import text_to_image  # pylint: disable=import-outside-toplevel
  from train import loop  # pylint: disable=import-outside-toplevel
  from train.tasks.text_to_image import attribute_reader  # pylint: disable=import-outside-toplevel

  _, task, model, variables = loop.restore(os.path.join(args.chain, 't2i'))
  readers = {name: attribute_reader(os.path.join(args.chain, f'judge_{name}')) for name in ATTRIBUTES}
  fields = task.source.fields(task.config.data.eval_split)
  count = min(args.examples, len(fields['image']))
  images = fields['image'][:count].astype(np.float32) / 255.0
  image_emb, text_emb = fields['image_emb'][:count], fields['text_emb'][:count]
  truth = {name: fields[f'label_{name}'][:count] for name in ATTRIBUTES}

  def report(row: str, draw) -> None:
    drawn = np.concatenate([np.asarray(draw(slice(i, i + BATCH))) for i in range(0, count, BATCH)])
    hits = {name: np.concatenate([read(drawn[i:i + BATCH]) for i in range(0, count, BATCH)]) == truth[name]
            for name, read in readers.items()}
    every = np.all(list(hits.values()), axis=0).mean()
    print(f'{row:44s} all {every:.3f}  ' + '  '.join(f'{name} {h.mean():.3f}' for name, h in hits.items()), flush=True)

  reconstruct = jax.jit(lambda v, t, e, x: model.apply(v, t, e, x)[1])
  report('real images', lambda part: images[part])
  report('reconstructions (posterior residual)',
         lambda part: reconstruct(variables, text_emb[part], image_emb[part], images[part]))
  if model.residual_dim:
    prior_residual = jax.jit(lambda v, e: model.apply(
        v, e, method=lambda m, e: m.decode(e, m.residual_prior(e)[0])))
    report("own embedding, residual prior's mean", lambda part: prior_residual(variables, image_emb[part]))
  for temperature in (0.0, 1.0):
    draw = jax.jit(lambda v, t, key, temperature=temperature: model.apply(
        v, t, key, 1, temperature, method=text_to_image.TextToImage.draw)[0])
    report(f'drawn from the caption, temperature {temperature}',
           lambda part, draw=draw: draw(variables, text_emb[part], jax.random.key(part.start)))


if __name__ == '__main__':
  main()
