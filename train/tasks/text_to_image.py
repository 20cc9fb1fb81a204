"""Text to image: the prior and the decoder of nets/text_to_image.py, on a trained CLIP run's data.

`clip_workdir` names the CLIP run (task `contrastive`): its checkpoint, tokenizer and data (the
same source and splits, its compositional split included). Every image and caption is embedded
once by the frozen CLIP; the prior learns text embedding -> image embedding, the decoder image
embedding -> image, side by side (their parameters are disjoint, so one loss is their sum). The
decoder's loss: the residual VAE's negative ELBO (pixel error and KL), plus `clip_loss_weight` x
(1 - CLIP's cosine between the drawing's embedding and the image's), plus `perceptual_weight` x the
mean squared difference between the drawing's and the image's stage outputs in CLIP's image tower.

Evaluation, at every evaluation: `psnr` of the decoder drawing each eval image from its own CLIP
embedding (and residual), `kl` of the residual (nats), `prior_nll` (nats per dimension) and
`prior_cosine` (of the prior's mean with the true image embedding), and `clip_score`: CLIP's cosine
between each eval caption and the image the pipeline draws from it at temperature 0 (the priors'
means, decoded).

At the end, with `faithfulness.classifier_workdirs` ({attribute: the workdir of a classification
run predicting it}, e.g. configs/shapes_cnn.py with data.label_key=color): for
`faithfulness.examples` eval captions, `faithfulness.candidates` images are drawn (at
`faithfulness.temperature`) and reranked by CLIP. `faithfulness` is the share of captions whose
best image shows every attribute as the caption says (as the classifiers read it);
`faithfulness_unranked` the same for the first candidate drawn,
without reranking; `_seen` and `_unseen` split them by the compositional split (`data.unseen` of
the CLIP run); `faithful_<attribute>` per attribute, reranked. `faithfulness_real` is the same share
for the real eval images the captions describe: what the classifiers themselves allow, the ceiling.
"""

import jax
import jax.numpy as jnp
import numpy as np

from data import captions as captions_lib
from data.errors import UserInputError
from data.text import batching
from data.text.sources import EncodedSource
from nets import clip, text_to_image
from train.tasks import text
from train.tasks.autoencoder import per_image_mse, psnr
from train.tasks.classification import normalised

EMBED_BATCH = 512


class TextToImageTask(text.EncodedTextTask):
  """Train nets.text_to_image.TextToImage on the frozen embeddings of a CLIP run."""

  def __init__(self, config):
    super().__init__(config)
    from train import loop  # pylint: disable=import-outside-toplevel  (the loop imports the tasks)
    if not config.clip_workdir:
      raise UserInputError('set clip_workdir to the workdir of a trained CLIP run (configs/shapes_clip.py)')
    self.clip_config, clip_task, self.clip_model, self.clip_variables = loop.restore(config.clip_workdir)
    if self.clip_config.task != 'contrastive':
      raise UserInputError(f'clip_workdir {config.clip_workdir} is a {self.clip_config.task!r} run, not a CLIP '
                           '(contrastive) run')
    self.tokenizer, self.attributes = clip_task.tokenizer, clip_task.attributes
    self.unseen = tuple(self.clip_config.data.get('unseen', ()))
    data = self.clip_config.data
    for key in ('train_split', 'eval_split', 'max_length', 'num_shards', 'shuffle_buffer'):
      config.data[key] = data[key]  # the CLIP run's, recorded with this run
    config.data.trim_batches = False
    self.image_shape = tuple(data.image_size) + (3,)
    if config.perceptual_weight and self.clip_config.model.image.name == 'mlp':
      raise UserInputError('perceptual_weight compares the stage outputs of CLIP\'s image tower, and an MLP tower has '
                           'no stages: set perceptual_weight=0 or train CLIP with a convnet or resnet image tower')
    self._generators = {}
    self.source = EncodedSource({split: self._embedded(clip_task.source.fields(split))
                                 for split in (data.train_split, data.eval_split)})

  def image_normalizer(self, images):
    """Images in [0, 1] -> CLIP's input scale."""
    return normalised(images * 255.0, self.clip_config.data)

  def _embedded(self, fields) -> dict[str, np.ndarray]:
    """A split's images, caption ids and labels, with their CLIP embeddings."""
    ids, lengths = batching.padded_ids(fields['ids'], self.config.data.max_length)
    embed = jax.jit(lambda images, ids, lengths: self.clip_model.apply(
        self.clip_variables, normalised(images, self.clip_config.data), ids, text.token_mask(ids, lengths)))
    image_emb, text_emb = [], []
    for start in range(0, len(ids), EMBED_BATCH):
      part = slice(start, start + EMBED_BATCH)
      images, texts = embed(fields['image'][part], ids[part], lengths[part])
      image_emb.append(np.asarray(images))
      text_emb.append(np.asarray(texts))
    labels = {name: values for name, values in fields.items() if name.startswith('label_')}
    return {'image': fields['image'], 'ids': ids, 'length': lengths, 'image_emb': np.concatenate(image_emb),
            'text_emb': np.concatenate(text_emb), **labels}

  def _preprocess(self, example, seed, train):
    del seed, train
    return example

  def make_model(self, axis_name=None):
    model = self.config.model
    return text_to_image.TextToImage(
        image_shape=self.image_shape, embed_dim=self.clip_config.model.embed_dim, prior_hidden=model.prior_hidden,
        decoder_features=model.decoder_features, convs_per_stage=model.convs_per_stage, norm=model.norm,
        # Runs trained before the decoder had FiLM and CoordConv name neither: their decoder is the plain one.
        residual_dim=model.residual_dim, film=model.get('film', False), coordinates=model.get('coordinates', False),
        dtype=jnp.dtype(self.config.compute_dtype), axis_name=axis_name)

  @staticmethod
  def _images(batch):
    return batch['image'].astype(jnp.float32) / 255.0

  def init_variables(self, model, rng, batch):
    params_rng, latent_rng = jax.random.split(rng)
    return dict(model.init({'params': params_rng, 'latent': latent_rng}, batch['text_emb'], batch['image_emb'],
                           self._images(batch)))

  def _parts(self, model, variables, batch, train, rng=None):
    """Per-example (decoder mse per pixel, prior nll per dimension, residual KL in nats), the prior's
    mean, the drawn images and the updated state."""
    images = self._images(batch)
    args = (batch['text_emb'], batch['image_emb'], images)
    if train:
      mutable = [name for name in variables if name != 'params']
      ((mean, log_std), drawn, kl), state = model.apply(variables, *args, train=True, rngs={'latent': rng},
                                                        mutable=mutable)
    else:
      ((mean, log_std), drawn, kl), state = model.apply(variables, *args), {}
    kl = jnp.zeros(images.shape[0]) if kl is None else kl
    nll = text_to_image.gaussian_nll(batch['image_emb'], mean, log_std) / mean.shape[-1]
    return (per_image_mse(drawn, images), nll, kl), mean, drawn, state

  def loss(self, model, params, state, batch, rng, train):
    (mse, nll, kl), _, drawn, state = self._parts(model, {'params': params, **state}, batch, train, rng)
    # The residual's ELBO per pixel, with a Gaussian decoder of std decoder_std (as the VAE task weighs it).
    pixels = np.prod(self.image_shape)
    loss = mse.mean() + 2 * self.config.decoder_std**2 * kl.mean() / pixels + self.config.prior_weight * nll.mean()
    metrics = {'psnr': psnr(mse).mean(), 'prior_nll': nll.mean(), 'kl': kl.mean()}
    clip_weight, perceptual_weight = self.config.clip_loss_weight, self.config.perceptual_weight
    if clip_weight or perceptual_weight:
      drawn_emb, drawn_features = self._clip_image(drawn)
      if clip_weight:  # CLIP must see in the drawing the embedding it was drawn from
        clip_score = jnp.sum(drawn_emb * batch['image_emb'], axis=-1).mean()
        loss += clip_weight * (1 - clip_score)
        metrics['drawn_clip_cosine'] = clip_score
      if perceptual_weight:
        # The image's features are computed here rather than stored beside its embedding: every
        # stage's outputs of every image would take a hundred times the embeddings' memory.
        _, image_features = self._clip_image(self._images(batch))
        perceptual = sum(jnp.mean((a - b) ** 2) for a, b in zip(drawn_features, image_features)) / len(drawn_features)
        loss += perceptual_weight * perceptual
        metrics['perceptual'] = perceptual
    return loss, (metrics, state)

  def _clip_image(self, images):
    """Images in [0, 1] -> (CLIP's unit embedding, the image tower's stage outputs, image first)."""
    embedding, sown = self.clip_model.apply(self.clip_variables, self.image_normalizer(images),
                                            method=clip.CLIP.encode_image, mutable=['intermediates'])
    stages = sown['intermediates']['image_tower']
    return embedding, [stages[f'stage{index}'][0] for index in range(len(stages))]

  def eval_metrics(self, model, variables, batch):
    (mse, nll, kl), mean, _, _ = self._parts(model, variables, batch, train=False)
    # Temperature 0: the image of the prior's mean (and of the residual prior's mean, if any).
    drawn, _ = model.apply(variables, batch['text_emb'], jax.random.key(0), 1, 0.0,
                           method=text_to_image.TextToImage.draw)
    drawn_emb = self.clip_model.apply(self.clip_variables, self.image_normalizer(drawn), method=clip.CLIP.encode_image)
    return {'psnr': psnr(mse), 'prior_nll': nll, 'kl': kl,
            'prior_cosine': jnp.sum(clip.l2_normalize(mean) * batch['image_emb'], axis=-1),
            'clip_score': jnp.sum(drawn_emb * batch['text_emb'], axis=-1)}

  def generator(self, num: int, temperature: float = 1.0):
    """A jitted (variables, ids, lengths, rng) -> (images [B, num, H, W, 3], CLIP scores [B, num]) in the
    order drawn; nets.text_to_image.rerank sorts them. Compiled once per (num, temperature) and shape."""
    if (num, temperature) not in self._generators:
      model = self.make_model()
      self._generators[num, temperature] = jax.jit(
          lambda variables, ids, lengths, rng: text_to_image.candidates(
              self.clip_model, self.clip_variables, model, variables, ids, text.token_mask(ids, lengths), rng, num,
              self.image_normalizer, temperature))
    return self._generators[num, temperature]

  def encode_captions(self, captions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return batching.padded_ids([self.tokenizer.encode(c) for c in captions], self.config.data.max_length)

  def evaluate_host(self, variables, workdir):
    del workdir
    settings = self.config.faithfulness
    if not settings.classifier_workdirs:
      return {}
    readers = {name: attribute_reader(path) for name, path in dict(settings.classifier_workdirs).items()}
    missing = set(readers) - set(self.attributes)
    if missing:
      raise UserInputError(f'faithfulness.classifier_workdirs names {sorted(missing)}, which the CLIP run\'s data '
                           f'does not label; it labels {sorted(self.attributes)}')
    fields = self.source.fields(self.config.data.eval_split)
    count = min(settings.examples, len(fields['ids']))
    generate = self.generator(settings.candidates, settings.temperature)
    rng = jax.random.key(self.config.seed)
    hits = {'ranked': [], 'first': [], 'real': []}
    for start in range(0, count, 64):
      part = slice(start, min(start + 64, count))
      images, scores = generate(variables, fields['ids'][part], fields['length'][part], jax.random.fold_in(rng, start))
      best, _ = text_to_image.rerank(images, scores)
      truth = {name: fields[f'label_{name}'][part] for name in readers}
      for kind, judged in (('ranked', best[:, 0]), ('first', images[:, 0]), ('real', fields['image'][part] / 255.0)):
        hits[kind].append({name: read(judged) == truth[name] for name, read in readers.items()})
    ranked, first, real = ({name: np.concatenate([h[name] for h in hits[kind]]) for name in readers}
                           for kind in ('ranked', 'first', 'real'))
    unseen = captions_lib.showing(self.unseen, self.attributes,
                                  {name: fields[f'label_{name}'][:count] for name in self.attributes})
    return faithfulness_metrics(ranked, first, unseen, real)


def faithfulness_metrics(ranked: dict[str, np.ndarray], first: dict[str, np.ndarray],
                         unseen: np.ndarray, real: dict[str, np.ndarray]) -> dict[str, float]:
  """The faithfulness shares (see the module doc) from per-caption hits.

  ranked, first, real: {attribute: bool [N]}, whether the classifier read the attribute as the
  caption says in the best reranked image, in the first one drawn, and in the real image the
  caption describes; unseen: bool [N], which captions name a combination left out of training.
  """
  def every(hits):  # per caption: every attribute read as the caption says
    return np.all(list(hits.values()), axis=0)

  all_ranked, all_first = every(ranked), every(first)
  metrics = {'faithfulness': float(all_ranked.mean()), 'faithfulness_unranked': float(all_first.mean()),
             'faithfulness_real': float(every(real).mean()),
             **{f'faithful_{name}': float(hits.mean()) for name, hits in ranked.items()}}
  if unseen.any():
    for part, which in (('seen', ~unseen), ('unseen', unseen)):
      metrics[f'faithfulness_{part}'] = float(all_ranked[which].mean())
      metrics[f'faithfulness_unranked_{part}'] = float(all_first[which].mean())
  return metrics


def attribute_reader(workdir: str):
  """images [B, H, W, 3] in [0, 1] -> the class a classification run's model reads in each, numpy."""
  from train import loop  # pylint: disable=import-outside-toplevel
  config, task, model, variables = loop.restore(workdir)
  if config.task != 'classification':
    raise UserInputError(f'{workdir} is a {config.task!r} run; faithfulness needs classification runs')
  del task
  # Rounded to 8 bits first: the classifier reads what a saved PNG would hold.
  classify = jax.jit(lambda images: model.apply(variables, normalised(jnp.round(images * 255.0), config.data)))
  return lambda images: np.asarray(classify(images).argmax(-1))
