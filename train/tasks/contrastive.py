"""CLIP: contrastive image-text pretraining (nets/clip.py) over any image-caption source.

Data: an image-caption source (data/captions.py) is read into memory; the caption tokenizer is
trained on the training captions (or loaded from `data.tokenizer_dir`) and saved with the run.
Training contrasts each global batch (train step under jit: XLA gathers the embeddings; under
pmap the loss gathers them itself).

The text tower can start as the encoder of a caption autoencoder (`model.text_init`: the workdir of
a seq2seq run that learned to write each caption back from its encoding alone,
configs/shapes_caption_autoencoder.py): its tokenizer, embedding and encoder; the contrastive loss
then aligns that encoder's space with the images'.

Evaluation, in the loop's evaluations:
  loss                  the contrastive loss within each eval batch (padded rows are nobody's negatives)
  zero_shot_<attribute> zero-shot classification (Radford et al. 2021, section 3.1.2): each class
                        name is put into the prompt templates `zero_shot.<attribute>`, and an image
                        gets the class its prompts match best. `zero_shot_ensemble` says how the
                        templates are combined: 'mean' averages each class's prompt embeddings
                        (CLIP's prompt ensembling); 'logsumexp' adds up the image's softmax weight
                        on each of the class's prompts (the class's marginal likelihood), which
                        keeps a prompt that names the image's other attributes right from being
                        averaged away (measured on shapes: 0.69 -> 0.95 shape accuracy, the same run)
and in the final evaluation, over the whole eval split:
  image_to_text_r1, _r5 retrieval Recall@K: the share of images whose caption is among the K most
  text_to_image_r1, _r5 similar captions of the split (and of captions, the image among the images);
                        a caption with the same text as the right one counts as right.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from data import captions as captions_lib
from data.errors import UserInputError
from data.pipeline import progress
from data.text import batching, tokenizers
from data.text.sources import EncodedSource
from nets import clip, cnn, rnn
from train.tasks import text
from train.tasks.classification import normalised

RETRIEVAL_KS = (1, 5)
ZERO_SHOT_ENSEMBLES = ('mean', 'logsumexp')


class ContrastiveTask(text.EncodedTextTask):
  """Align images and their captions with nets.clip.CLIP."""
  trimmed_fields = {'ids': 'length'}

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    if config.model.loss not in clip.LOSSES:
      raise UserInputError(f'unknown model.loss {config.model.loss!r}; choose one of {clip.LOSSES}')
    if config.get('zero_shot_ensemble', 'mean') not in ZERO_SHOT_ENSEMBLES:
      raise UserInputError(f'unknown zero_shot_ensemble {config.zero_shot_ensemble!r}; '
                           f'choose one of {ZERO_SHOT_ENSEMBLES}')
    source = captions_lib.make_caption_source(data)
    self.attributes = source.attributes
    splits = {name: source.split(name) for name in (data.train_split, data.eval_split)}
    unseen = tuple(data.get('unseen', ()))
    if unseen:  # the compositional split: these attribute combinations never appear in training
      train = splits[data.train_split]
      keep = ~captions_lib.showing(unseen, self.attributes, train.labels)
      splits[data.train_split] = captions_lib.Captioned(
          train.images[keep], [c for c, k in zip(train.captions, keep) if k],
          {name: labels[keep] for name, labels in train.labels.items()})
    self.text_init = self._text_encoder_of(config.model.get('text_init', ''))
    if config.model.get('text_init', ''):
      from train.tasks import seq2seq  # pylint: disable=import-outside-toplevel  (sacrebleu and the decoders)
      self.tokenizer = seq2seq.load_tokenizers(config.model.text_init)[0]
    elif data.tokenizer_dir:
      self.tokenizer = tokenizers.load(data.tokenizer_dir)
    else:
      self.tokenizer = tokenizers.train(data.tokenizer, splits[data.train_split].captions, data.vocab_size,
                                        data.min_count)
    self.eval_captions = splits[data.eval_split].captions
    self.source = EncodedSource({
        name: {'image': split.images,
               'ids': [self.tokenizer.encode(c) for c in progress(split.captions, desc=f'encoding {name}',
                                                                  unit=' captions')],
               **{f'label_{key}': labels for key, labels in split.labels.items()}}
        for name, split in splits.items()})
    self.prompts = self._prompt_ids(config.get('zero_shot', {}))
    self.axis_name = None

  @staticmethod
  def _text_encoder_of(workdir: str) -> dict | None:
    """The source embedding and encoder parameters of a caption autoencoder run (a seq2seq run whose
    targets are its sources, configs/shapes_caption_autoencoder.py), to start the text tower from."""
    if not workdir:
      return None
    from train import loop  # pylint: disable=import-outside-toplevel  (the loop imports the tasks)
    config = loop.load_config(workdir)
    if config.task != 'translation':
      raise UserInputError(f'model.text_init {workdir} is a {config.task!r} run; name a caption autoencoder '
                           '(a translation run, configs/shapes_caption_autoencoder.py)')
    params = loop.restore(workdir)[3]['params']
    embedding = params['embedding' if config.model.share_embeddings else 'source_embedding']
    return {'embedding': jax.tree.map(np.asarray, embedding), 'encoder': jax.tree.map(np.asarray, params['encoder'])}

  def _prompt_ids(self, zero_shot) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """attribute -> (ids [classes * templates, max_length], lengths): every class in every template."""
    prompts = {}
    for attribute, templates in dict(zero_shot).items():
      if attribute not in self.attributes:
        raise UserInputError(f'zero_shot.{attribute}: the data has no attribute {attribute!r}; it has '
                             f'{sorted(self.attributes)} (a caption folder has none: set zero_shot={{}})')
      if not templates or any('{}' not in t for t in templates):
        raise UserInputError(f'zero_shot.{attribute} needs templates with {{}} where the class name goes, '
                             f'e.g. ("a photo of a {{}}",); got {templates}')
      texts = [t.format(name.replace('_', ' ')) for name in self.attributes[attribute] for t in templates]
      prompts[attribute] = batching.padded_ids([self.tokenizer.encode(t) for t in texts], self.config.data.max_length)
    return prompts

  def _preprocess(self, example, seed, train):
    del seed, train  # no augmentation: a flip would move the shape a caption places on the left
    return dict(example, **batching.pad_example(example['ids'], self.config.data.max_length))

  def make_model(self, axis_name=None):
    self.axis_name = axis_name  # the loss gathers embeddings over this axis under pmap
    return self._clip(axis_name)

  def _clip(self, axis_name=None) -> clip.CLIP:
    model = self.config.model
    dtype = jnp.dtype(self.config.compute_dtype)
    image = dict(model.image)
    name = image.pop('name')
    if name not in cnn.MODELS:
      raise UserInputError(f'unknown model.image.name {name!r}; choose one of {sorted(cnn.MODELS)}')
    _, text_kwargs = text.module_kwargs(dict(model.text, name='rnn'))
    return clip.CLIP(
        image_tower=cnn.MODELS[name](num_classes=model.embed_dim, dtype=dtype, axis_name=axis_name, **image),
        text_tower=rnn.TextClassifier(vocab_size=self.tokenizer.vocab_size, num_classes=model.embed_dim,
                                      dtype=dtype, **text_kwargs),
        init_temperature=model.init_temperature, max_scale=model.max_scale)

  def _inputs(self, batch):
    return normalised(batch['image'], self.config.data), batch['ids'], text.token_mask(batch['ids'], batch['length'])

  def init_variables(self, model, rng, batch):
    params_rng, dropout_rng = jax.random.split(rng)
    variables = dict(model.init({'params': params_rng, 'dropout': dropout_rng}, *self._inputs(batch)))
    if self.text_init is None:
      return variables
    text_tower = dict(variables['params']['text_tower'])
    for name, pretrained in self.text_init.items():
      shapes = lambda tree: jax.tree.map(np.shape, tree)
      if shapes(pretrained) != shapes(text_tower[name]):
        raise UserInputError(f'model.text_init: the caption autoencoder\'s {name} has the shapes {shapes(pretrained)}, '
                             f'the text tower\'s are {shapes(text_tower[name])}: give model.text the autoencoder\'s '
                             'cell, embed_dim, num_layers and bidirectional, and features = its features / directions')
      text_tower[name] = jax.tree.map(jnp.asarray, pretrained)
    return dict(variables, params=dict(variables['params'], text_tower=text_tower))

  def loss(self, model, params, state, batch, rng, train):
    variables = {'params': params, **state}
    if train:
      (image_emb, text_emb), state = model.apply(variables, *self._inputs(batch), train=True,
                                                 rngs={'dropout': rng}, mutable=list(state))
    else:
      image_emb, text_emb = model.apply(variables, *self._inputs(batch))
    scale, bias = model.apply(variables, method=clip.CLIP.logit_scale)
    loss = clip.contrastive_loss(image_emb, text_emb, (scale, bias), self.config.model.loss, self.axis_name)
    return loss, ({'logit_scale': scale}, state)

  def class_scores(self, model, variables, attribute: str, image_emb) -> jax.Array:
    """[batch, classes]: how well each class's prompts match each image (see the module doc)."""
    ids, lengths = (jnp.asarray(x) for x in self.prompts[attribute])
    prompts = model.apply(variables, ids, text.token_mask(ids, lengths), method=clip.CLIP.encode_text)
    prompts = prompts.reshape(len(self.attributes[attribute]), -1, prompts.shape[-1])  # [classes, templates, embed]
    ensemble = self.config.get('zero_shot_ensemble', 'mean')
    if ensemble == 'mean':
      return image_emb @ clip.l2_normalize(prompts.mean(axis=1)).T
    scale, _ = model.apply(variables, method=clip.CLIP.logit_scale)
    return jax.nn.logsumexp(scale * jnp.einsum('bd,ctd->bct', image_emb, prompts), axis=-1)

  def eval_metrics(self, model, variables, batch):
    image_emb, text_emb = model.apply(variables, *self._inputs(batch))
    scale, bias = model.apply(variables, method=clip.CLIP.logit_scale)
    metrics = {'loss': clip.pair_losses(image_emb, text_emb, scale, bias, self.config.model.loss,
                                        self.axis_name, valid=batch['mask'] > 0)}
    for attribute in self.prompts:
      predicted = self.class_scores(model, variables, attribute, image_emb).argmax(-1)
      metrics[f'zero_shot_{attribute}'] = (predicted == batch[f'label_{attribute}']).astype(jnp.float32)
    return metrics

  def embed_eval_split(self, variables) -> tuple[np.ndarray, np.ndarray]:
    """(image embeddings, caption embeddings) of every eval example, in the split's order."""
    model = self._clip()
    embed = jax.jit(lambda variables, batch: model.apply(variables, *self._inputs(batch)))
    images, texts = [], []
    for batch in self.eval_batches(0, 1):
      real = batch['mask'] > 0
      image_emb, text_emb = embed(variables, batch)
      images.append(np.asarray(image_emb)[real])
      texts.append(np.asarray(text_emb)[real])
    return np.concatenate(images), np.concatenate(texts)

  def evaluate_host(self, variables, workdir):
    del workdir
    image_emb, text_emb = self.embed_eval_split(variables)
    caption_ids = np.unique(self.eval_captions, return_inverse=True)[1]
    metrics = {}
    for name, queries, keys in (('image_to_text', image_emb, text_emb), ('text_to_image', text_emb, image_emb)):
      ranks = np.concatenate([  # in chunks: a [queries, keys] matrix of a large split would not fit
          np.asarray(clip.similarity_ranks(queries[start:start + 1024], keys,
                                           caption_ids[start:start + 1024, None] == caption_ids[None, :]))
          for start in range(0, len(queries), 1024)])
      metrics.update({f'{name}_r{k}': float(np.mean(ranks < k)) for k in RETRIEVAL_KS})
    return metrics

  def export(self, variables, workdir):
    del variables
    self.tokenizer.save(workdir)
    with open(os.path.join(workdir, 'attributes.json'), 'w', encoding='utf-8') as f:
      json.dump(self.attributes, f, indent=1)
