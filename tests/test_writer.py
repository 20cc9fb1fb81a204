"""train/writer.py: TensorBoard reads back the scalars, and writing them never imports TensorFlow."""

import os
import subprocess
import sys

from tensorboard.backend.event_processing import event_accumulator

from train import writer


def test_tensorboard_reads_the_scalars_back(tmp_path):
  log = writer.MetricsWriter(str(tmp_path), total_steps=20)
  log.write(10, 'train', {'loss': 0.5, 'accuracy': 0.25})
  log.write(20, 'eval', {'loss': 0.125})
  log.close()
  events = event_accumulator.EventAccumulator(str(tmp_path / 'tensorboard'))
  events.Reload()
  assert sorted(events.Tags()['scalars']) == ['eval/loss', 'train/accuracy', 'train/loss']
  assert [(e.step, e.value) for e in events.Scalars('train/loss')] == [(10, 0.5)]
  assert [(e.step, e.value) for e in events.Scalars('eval/loss')] == [(20, 0.125)]


def test_a_skipgram_run_does_not_import_tensorflow(tmp_path):
  """Only tf.data needs TensorFlow (~2 s to import); the word2vec trainer reads text with numpy."""
  code = f'''
import sys
from configs import skipgram_planted
from train import loop
config = skipgram_planted.get_config()
config.num_steps = 2
config.data.num_sentences = 2000
loop.train_and_evaluate(config, {str(tmp_path)!r})
print('tensorflow imported:', 'tensorflow' in sys.modules)
'''
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, check=False,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert result.returncode == 0, result.stderr
  assert 'tensorflow imported: False' in result.stdout
