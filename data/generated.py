"""What the project's generated offline TFDS datasets have in common: counts, seeds and splits.

`shapes`, `reviews`, `translation_pairs` and `shapes_dialogue` download nothing: a generator written in
numpy makes every example. Their builders subclass `GeneratedBuilder`, which does the part they share:

  - a config (`GeneratedConfig`) holds the number of examples of each split, num_<split>, and a base seed;
  - the builder accepts overrides of those numbers, so that tests prepare a few examples in seconds;
  - example i of a split is generated from its own numpy generator, seeded [config seed, split index, i],
    so preparing a dataset twice writes identical files, and any example can be generated again alone;
  - the example keys are the positions 0, 1, 2, ... in the split.

A builder keeps only what is its own: its version, configs, SUPERVISED_KEYS, DESCRIPTION, `_features`
and `_examples`, the endless stream of examples of a split, usually its generate function mapped over
`_example_rngs`:

  class Reviews(generated.GeneratedBuilder):
    ...
    def _examples(self, split):
      return map(generate.review, self._example_rngs(split))
"""

import abc
import dataclasses
import itertools
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass(eq=False, kw_only=True)
class GeneratedConfig(tfds.core.BuilderConfig):
  """A variant of a generated dataset: examples per split and the base seed of all examples.

  A builder with other splits than train and test uses a subclass that adds their num_<split>.
  """
  num_train: int
  num_test: int
  seed: int = 0


class GeneratedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A TFDS builder whose examples are generated; subclasses declare its features and how to generate them.

  Registration is skipped: this class is no dataset of its own, its subclasses are.
  """

  SPLITS = ('train', 'test')
  SUPERVISED_KEYS: tuple[str, str]  # (input, target) of as_dataset(as_supervised=True).
  DESCRIPTION: str  # What the dataset is, for its DatasetInfo.

  def __init__(self, **kwargs):
    """As any TFDS builder, plus optional overrides num_<split> of the config's number of examples per split.

    The overrides only matter when the data is generated (e.g. a quick build in tests);
    an already prepared data_dir is read as it is.
    """
    overrides = {split: kwargs.pop(f'num_{split}', None) for split in self.SPLITS}
    super().__init__(**kwargs)
    self._num_examples = {split: getattr(self.builder_config, f'num_{split}') if number is None else number
                          for split, number in overrides.items()}

  @abc.abstractmethod
  def _features(self) -> tfds.features.FeaturesDict:
    """The features of an example; a method, as they may depend on the config."""

  @abc.abstractmethod
  def _examples(self, split: str) -> Iterator[dict]:
    """The examples of `split`, first to last, without end: the builder takes as many as the split has."""

  def _example_rngs(self, split: str) -> Iterator[np.random.Generator]:
    """A numpy generator per example of `split`, in order, each from its own seed.

    A generator per example, rather than one per split: any example can be generated again alone, in any order.
    """
    split_index = self.SPLITS.index(split)
    for index in itertools.count():
      yield np.random.default_rng([self.builder_config.seed, split_index, index])

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, description=self.DESCRIPTION, features=self._features(),
                                 supervised_keys=self.SUPERVISED_KEYS)

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is generated; nothing to download.
    return {split: self._generate_examples(split) for split in self.SPLITS}

  def _generate_examples(self, split):
    yield from enumerate(itertools.islice(self._examples(split), self._num_examples[split]))
