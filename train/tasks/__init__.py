"""Tasks by name. Each is imported only when a config asks for it, so one family's
dependencies never slow down or break another's."""

import importlib

from data.errors import UserInputError

TASKS = {
    'classification': 'train.tasks.classification:ClassificationTask',
    'reconstruction': 'train.tasks.autoencoder:ReconstructionTask',
    'swap': 'train.tasks.autoencoder:SwapTask',
    'skipgram': 'train.tasks.skipgram:SkipGramTask',
    'text_classification': 'train.tasks.text:TextClassificationTask',
    'forecast': 'train.tasks.forecast:ForecastTask',
    'translation': 'train.tasks.seq2seq:Seq2SeqTask',
    'dialogue': 'train.tasks.seq2seq:Seq2SeqTask',
    'dialogue_rl': 'train.tasks.dialogue_rl:DialogueRLTask',
    'contrastive': 'train.tasks.contrastive:ContrastiveTask',
    'text_to_image': 'train.tasks.text_to_image:TextToImageTask',
    'segmentation': 'train.tasks.segmentation:SegmentationTask',
    'detection': 'train.tasks.detection:DetectionTask',
}


def make_task(config):
  if config.task not in TASKS:
    raise UserInputError(f'unknown task {config.task!r}; choose one of {sorted(TASKS)}')
  module, name = TASKS[config.task].split(':')
  return getattr(importlib.import_module(module), name)(config)
