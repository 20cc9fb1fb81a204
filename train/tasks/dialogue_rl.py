"""Reinforcement learning for a chatbot: fine-tune a supervised one to raise a reward of its replies.

A supervised chatbot imitates its training replies; a reward says what a reply is worth (is it
right, is it dull: train/tasks/rewards.py). Policy gradient (REINFORCE, Williams 1992) raises the
log-probability of a sampled reply in proportion to how much better its reward is than a
baseline's. The baseline here is self-critical (Rennie et al. 2017): the reward of the greedy
reply to the same context, so a sample is pushed up only where it beats what the model would say
anyway. A KL penalty to the supervised model (Jaques et al. 2017; Ziegler et al. 2019) keeps the
replies in its language, since a reward alone can be gamed by text no one would write:

  loss = -(R(sampled) - R(greedy)) * log p(sampled | context) + kl_weight * KL(policy || supervised)

where the KL is exact over the vocabulary, averaged over the sampled reply's tokens. Replies are
decoded inside the compiled step (nets/decoding.py); the reward is computed on the host from
their text through `jax.pure_callback`, so any Python scorer can be one.

`config.rl.init_from` names the supervised run: its tokenizers and its latest checkpoint start
the policy, and a frozen copy of its parameters (the 'reference' collection, checkpointed with
the run) anchors the KL. Evaluations report on held-out contexts: the reward of the policy's
greedy reply (`reward`) and of the supervised model's (`reward_before`), their KL (`kl`), and the
reference replies' token loss (`loss`, whose exponent is the perplexity: what fluency RL cost).
"""

import jax
import jax.numpy as jnp
import numpy as np

from data.errors import UserInputError
from train.tasks import rewards
from train.tasks.seq2seq import Seq2SeqTask, decode_sources, detokenize, sentence_marks, source_mask


class DialogueRLTask(Seq2SeqTask):
  """A supervised chatbot fine-tuned by self-critical policy gradient with a KL penalty (module docstring)."""

  def __init__(self, config):
    if not config.rl.init_from:
      raise UserInputError('config.rl.init_from must name the workdir of a supervised chatbot run '
                           '(python -m train --config configs/dialogue_rnn.py --workdir RUN)')
    from train import loop  # pylint: disable=import-outside-toplevel
    supervised_config, _, _, variables = loop.restore(config.rl.init_from)
    config.model = supervised_config.model  # the policy is the supervised model
    config.data.tokenizer_dir = config.rl.init_from
    super().__init__(config)
    self.supervised_params = jax.device_get(variables['params'])
    self.rl_rewards = [rewards.make_reward(name) for name in config.rl.rewards]

  def init_variables(self, model, rng, batch):
    del model, rng, batch  # the supervised run's parameters, twice: one copy learns, one stays
    return {'params': self.supervised_params, 'reference': self.supervised_params}

  # --- Replies and their rewards. ---
  def _host_rewards(self, index, tokens):
    """The mean of rl.rewards for each row's reply, on the host: the example's source text and the
    reply's text in, float32 [B] out."""
    values = []
    for i, reply in zip(np.asarray(index), np.asarray(tokens)):
      context, text = self.source_texts[i], detokenize(self.target_tokenizer, reply)
      values.append(np.mean([reward(context, text) for reward in self.rl_rewards]))
    return np.asarray(values, np.float32)

  def _rewards(self, batch, decoded):
    shape = jax.ShapeDtypeStruct(batch['index'].shape, jnp.float32)
    return jax.pure_callback(self._host_rewards, shape, batch['index'], decoded.tokens, vmap_method='sequential')

  def _decode(self, model, params, batch, method, rng=None):
    """The policy's replies; no gradient flows through the choice of tokens."""
    rl = self.config.rl
    options = {'temperature': rl.temperature, 'top_k': rl.top_k} if method == 'sample' else {}
    marks = sentence_marks(self.target_tokenizer, self.config.data.max_target_length)
    return decode_sources(model, {'params': jax.lax.stop_gradient(params)}, batch['source'], batch['source_length'],
                          rng, method=method, marks=marks, **options)

  def _reply_log_probs(self, model, params, batch, decoded):
    """(log-probabilities [B, L, V] of every token given the reply so far, the reply's token mask [B, L])."""
    tokens = decoded.tokens
    reply_in = jnp.concatenate([jnp.full_like(tokens[:, :1], self.target_tokenizer.bos_id), tokens[:, :-1]], axis=1)
    logits = model.apply({'params': params}, batch['source'], source_mask(batch['source'], batch['source_length']),
                         reply_in)
    mask = jnp.arange(tokens.shape[1])[None, :] < decoded.lengths[:, None]
    return jax.nn.log_softmax(logits.astype(jnp.float32)), mask

  def _kl(self, model, params, reference, batch, decoded):
    """Per row: KL(policy || supervised) of the next-token distributions, averaged over the reply's tokens."""
    log_p, mask = self._reply_log_probs(model, params, batch, decoded)
    log_q, _ = self._reply_log_probs(model, reference, batch, decoded)
    per_token = (jnp.exp(log_p) * (log_p - log_q)).sum(-1)
    return jnp.where(mask, per_token, 0).sum(1) / jnp.maximum(mask.sum(1), 1), log_p, mask

  # --- The update's loss and the evaluations. ---
  def loss(self, model, params, state, batch, rng, train):
    del train  # no dropout: the sampled replies are the exploration
    rl = self.config.rl
    sampled = self._decode(model, params, batch, 'sample', rng)
    greedy = self._decode(model, params, batch, 'greedy')
    reward, baseline = self._rewards(batch, sampled), self._rewards(batch, greedy)
    kl, log_p, mask = self._kl(model, params, state['reference'], batch, sampled)
    token_log_p = jnp.take_along_axis(log_p, sampled.tokens[..., None], axis=-1)[..., 0]
    reply_log_p = jnp.where(mask, token_log_p, 0).sum(1)
    advantage = jax.lax.stop_gradient(reward - baseline)
    loss = (-advantage * reply_log_p).mean() + rl.kl_weight * kl.mean()
    return loss, ({'reward': reward.mean(), 'reward_greedy': baseline.mean(), 'kl': kl.mean()}, state)

  def eval_metrics(self, model, variables, batch):
    metrics = super().eval_metrics(model, {'params': variables['params']}, batch)
    greedy = self._decode(model, variables['params'], batch, 'greedy')
    before = self._decode(model, variables['reference'], batch, 'greedy')
    kl, _, _ = self._kl(model, variables['params'], variables['reference'], batch, greedy)
    return dict(metrics, reward=self._rewards(batch, greedy), reward_before=self._rewards(batch, before), kl=kl)

  def evaluate_host(self, variables, workdir):
    return super().evaluate_host({'params': variables['params']}, workdir)
