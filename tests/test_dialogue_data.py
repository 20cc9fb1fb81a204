"""data/dialogue: generated conversations about shapes scenes, the reply scorer and the TFDS builder."""

import itertools
import socket

import numpy as np
import pytest

from data.dialogue import generate

SCENE = 'there is a red circle left of a blue square . an orange star is right of the square .'


def examples(split, count, seed=0):
  return list(itertools.islice(generate.examples(split, seed), count))


def user_turns(context):
  return context[::-2][::-1]


def test_conversations_are_reproducible_and_alternate_user_and_bot():
  first = examples('train', 300)
  assert examples('train', 300) == first
  assert examples('train', 300, seed=1) != first
  for example in first:
    assert len(example['context']) % 2 == 1  # the user spoke last
    assert example['context'][0] not in generate.ACKNOWLEDGEMENTS  # the user spoke first


@pytest.mark.parametrize('question, right, wrong', [
    ('what color is the circle ?', ['the circle is red .', 'It is red', 'the circle is red'],
     ['the circle is blue .', 'the square is blue .', 'red', 'there are three shapes .']),
    ('where is the square ?', ['the square is between the circle and the star .', 'the square is right of the circle .',
                               'the square is left of the star .'],
     ['the square is left of the circle .', 'the square is right of the star .', 'the circle is left of the square .']),
    ('which shape is left of the star ?', ['the square is left of the star .', 'the red circle is left of the star .'],
     ['nothing is left of the star .', 'the star is left of the square .', 'the blue circle is left of the star .']),
    ('what is left of the circle ?', ['nothing is left of the circle .'], ['the square is left of the circle .']),
    ('how many shapes are there ?', ['there are three shapes .', 'i see three shapes .'], ['there are two shapes .']),
    ('do you see an orange star ?', ['yes , there is an orange star .', 'yes , the star is orange .'],
     ['no , there is no star .', 'yes , the star is red .']),
    ('is there a red star ?', ['no , the star is orange .'],
     ['yes , there is a red star .', 'no , there is no star .']),
    ('what color is the heart ?', ['there is no heart .'], ['the heart is red .', 'it is red .']),
    ('thanks a lot', ['you are welcome .', 'no problem .'], ['goodbye !', 'the circle is red .']),
    ('a green heart is left of the circle .', ['got it .', 'ok .'], ['you are welcome .']),
    ('what is the weather like ?', [], ['it is sunny .', 'ok .']),
])
def test_the_reward_reads_scene_and_question_from_the_text(question, right, wrong):
  context = ['hi', 'hello !', SCENE, 'ok .', 'how are you ?', 'i am fine , thanks .', question]
  for reply in right:
    assert generate.reply_reward(context, reply) == 1.0, reply
  for reply in wrong:
    assert generate.reply_reward(context, reply) == 0.0, reply


def test_the_scene_may_span_two_turns_and_another_scene_changes_the_answer():
  two_turns = ['there is a red circle left of a blue square .', 'got it .', 'an orange star is right of the square .',
               'alright .', 'where is the star ?']
  assert generate.reply_reward(two_turns, 'the star is right of the circle .') == 1.0
  other_scene = ['there is a blue circle right of a red square .', 'ok .', 'what color is the circle ?']
  assert generate.reply_reward(other_scene, 'the circle is red .') == 0.0
  assert generate.reply_reward(other_scene, 'the circle is blue .') == 1.0


def test_every_generated_reply_scores_one_and_replies_of_other_contexts_mostly_zero():
  rng = np.random.default_rng(0)
  for split, count in (('train', 3000), ('test', 500)):
    batch = examples(split, count)
    assert all(generate.reply_reward(e['context'], e['reply']) == 1.0 for e in batch)
    questions = [e for e in batch if e['reply'] not in generate.ACKNOWLEDGEMENTS
                 and generate.read_scene(user_turns(e['context'])) and len(e['context']) > 2]
    others = rng.permutation(len(questions))
    rewards = [generate.reply_reward(e['context'], questions[j]['reply']) for e, j in zip(questions, others)]
    assert np.mean(rewards) < 0.15


def test_replies_need_turns_far_back_and_the_splits_have_different_scenes():
  scenes, far_back = {}, []
  for split, count in (('train', 4000), ('test', 2000)):
    scenes[split] = set()
    for e in examples(split, count):
      scene = generate.read_scene(user_turns(e['context']))
      if scene and e['reply'] not in generate.ACKNOWLEDGEMENTS:  # a question after the whole description
        scenes[split].add(scene)
        last_statement = max(i for i, turn in enumerate(e['context']) if generate.read_scene([turn]))
        far_back.append(len(e['context']) - 1 - last_statement >= 4)  # two exchanges or more since
  assert {len(s) for s in scenes['train']} == set(generate.SCENE_SIZES)
  assert len(scenes['test']) > 100 and not scenes['train'] & scenes['test']
  assert np.mean(far_back) > 0.6


def test_the_builder_prepares_offline_and_holds_the_generated_turns(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds

  from data import sources
  from data.dialogue import builder  # noqa: F401  # registers the builder

  def no_network(*args, **kwargs):
    raise OSError('no network in this test')

  monkeypatch.setattr(socket, 'create_connection', no_network)
  monkeypatch.setattr(socket.socket, 'connect', no_network)
  tfds.builder('shapes_dialogue', data_dir=str(tmp_path), num_train=60, num_test=20).download_and_prepare()
  source = sources.TfdsSource('shapes_dialogue', str(tmp_path))  # prepared: read as it is
  for split, count in (('train', 60), ('test', 20)):
    read = {(tuple(t.decode() for t in e['context']), e['reply'].decode())
            for e in source.read(split).as_numpy_iterator()}
    assert read == {(tuple(e['context']), e['reply']) for e in examples(split, count)}
