"""python -m train.serve in a real browser: every panel answers, bad input gets a message, a busy model says so.

Tiny finished runs (2 steps, the smallest models, compiled unoptimised) of segmentation, CLIP and text
to image, and translation (served as a chatbot too) are served in this process (train.serve.make_server,
as `python -m train.serve` builds it) and driven by Playwright through Debian's Chromium: no browser is
downloaded. The answers of 2-step models are noise; what is checked is what appears on the page.

SERVE_SCREENSHOT=bench/serve_page.png also saves the whole page, every panel answered, there (the README's).
"""

import http.client
import json
import os
import shutil
import socket
import threading

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from configs import shapes_clip, shapes_text_to_image, shapes_unet, translation_rnn
from tests import test_seq2seq_cli
from train import loop, serve
from train.serve import panels

TIMEOUT_MS = 60_000  # a panel's first request compiles its model's program
SCREENSHOT_MAX_BYTES = 300_000


def tiny(config, **overrides):
  config.update(num_steps=2, log_every=1, eval_every=1000, checkpoint_every=1000, async_checkpoints=False,
                **overrides)
  config.optimizer.warmup_steps = 1
  return config


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> dict[str, str]:
  """{task: workdir} of tiny finished runs: text_to_image (on its contrastive run), dialogue, translation,
  segmentation, contrastive."""
  import data.shapes.builder  # noqa: F401  # registers the builder
  folder = tmp_path_factory.mktemp('serve_runs')
  data_dir = str(folder / 'tfds')
  tfds.builder('shapes', data_dir=data_dir, num_train=200, num_test=40).download_and_prepare()
  tfds.builder('shapes/scenes', data_dir=data_dir, num_train=64, num_test=16).download_and_prepare()
  test_seq2seq_cli.write_reversed_pairs(folder / 'pairs.tsv')

  unet = tiny(shapes_unet.get_config(), batch_size=8, eval_batch_size=16)
  unet.data.update(data_dir=data_dir, shuffle_buffer=64)
  unet.model.stage_features = (4, 8)
  clip = tiny(shapes_clip.get_config(), batch_size=16, eval_batch_size=40)
  clip.data.update(data_dir=data_dir, shuffle_buffer=64)
  clip.zero_shot = {}  # no prompts to encode at the evaluation
  clip.model.update(embed_dim=8, image={'stage_features': (4, 8), 'head': (8,)},
                    text={'embed_dim': 8, 'features': 8, 'bidirectional': False})
  text_to_image = tiny(shapes_text_to_image.get_config(), batch_size=16, eval_batch_size=40,
                       clip_workdir=str(folder / 'contrastive'), clip_loss_weight=0.0,
                       perceptual_weight=0.0)  # a smaller step to compile
  text_to_image.model.update(prior_hidden=(16,), decoder_features=(4, 8))
  text_to_image.faithfulness.classifier_workdirs = {}
  translation = tiny(translation_rnn.get_config(), batch_size=8, eval_batch_size=4)
  translation.data.update(source='csv', path=str(folder / 'pairs.tsv'), has_header=False, eval_split='test',
                          max_source_length=32, max_target_length=8, shuffle_buffer=64)
  translation.model.update(cell='gru', bidirectional=False, features=16, embed_dim=8, attention='luong_dot')
  translation.eval.decode_examples = 4
  for config in (unet, clip, text_to_image, translation):  # CLIP before the run that reads it
    loop.train_and_evaluate(config, str(folder / config.task))
  # The chatbot: the translation run relabelled (a chatbot is the same encoder-decoder), a training saved.
  shutil.copytree(folder / 'translation', folder / 'dialogue')
  config = loop.load_config(str(folder / 'dialogue'))
  config.task = 'dialogue'
  (folder / 'dialogue' / 'config.json').write_text(config.to_json())
  return {task: str(folder / task) for task in ('text_to_image', 'dialogue', 'translation', 'segmentation',
                                                 'contrastive')}  # the page's order


@pytest.fixture(scope='module')
def page_server(runs):
  """The page of every run, served in a thread on a free port of 127.0.0.1."""
  server = serve.make_server(list(runs.values()), port=0)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield server
  server.shutdown()
  server.server_close()


def url(server) -> str:
  host, port = server.server_address[:2]
  return f'http://{host}:{port}/'


@pytest.fixture(scope='module')
def browser():
  executable = shutil.which('chromium')
  if executable is None:
    pytest.fail("chromium is not on PATH: install Debian's package (apt-get install chromium), as .ci/run does")
  with sync_playwright() as playwright:
    launched = playwright.chromium.launch(executable_path=executable, args=['--no-sandbox'])
    yield launched
    launched.close()


@pytest.fixture
def page(browser, page_server):
  """The page, loaded; JavaScript errors fail the test."""
  opened = browser.new_page(viewport={'width': 1400, 'height': 900})
  opened.set_default_timeout(TIMEOUT_MS)
  errors = []
  opened.on('pageerror', lambda error: errors.append(error))
  opened.goto(url(page_server))
  opened.locator('section.run').first.wait_for()
  yield opened
  opened.close()
  assert not errors, errors


def section(page, panel: str):
  return page.locator(f'section[data-panel="{panel}"]')


def panel_error(run_section):
  """The message under a panel (its training part has one of its own)."""
  return run_section.locator(':scope > .error')


def natural_sizes(locator) -> list[list[int]]:
  """[width, height] of each image the locator finds, once decoded."""
  locator.first.wait_for()
  locator.evaluate_all('images => Promise.all(images.map(image => image.decode()))')
  return locator.evaluate_all('images => images.map(image => [image.naturalWidth, image.naturalHeight])')


def scene_png(path) -> None:
  from data.shapes import scenes  # pylint: disable=import-outside-toplevel
  Image.fromarray(scenes.render_scene(np.random.default_rng(0), 64)['image']).resize((96, 96)).save(path)


def test_every_panel_answers_in_the_browser(page, tmp_path):
  drawing = section(page, 'text_to_image')
  drawing.locator('input[name=caption]').fill('a small red circle on the left')
  drawing.locator('input[name=images]').fill('3')
  drawing.get_by_role('button', name='Draw').click()
  expect(drawing.locator('.drawings img')).to_have_count(3, timeout=TIMEOUT_MS)
  assert natural_sizes(drawing.locator('.drawings img')) == [[32, 32]] * 3  # the run's image size
  assert drawing.locator('figcaption').first.inner_text().startswith('best · CLIP ')
  drawing.get_by_text('Training curves and eval examples').click()
  expect(drawing.locator('.examples tbody tr')).to_have_count(panels.EXAMPLE_CAPTIONS, timeout=TIMEOUT_MS)
  page.screenshot(path=tmp_path / 'text_to_image.png')

  chat = section(page, 'chat')
  chat.locator('select[name=decoding]').select_option('sample')
  chat.locator('input[name=temperature]').fill('2')
  for turn, message in enumerate(['the dog sees a cat', 'the old bird'], start=1):
    chat.locator('input[name=message]').fill(message)
    chat.get_by_role('button', name='Send').click()
    expect(chat.locator('li.bot')).to_have_count(turn, timeout=TIMEOUT_MS)
    assert chat.locator('li.you').nth(turn - 1).inner_text() == message
  page.screenshot(path=tmp_path / 'chat.png')
  chat.get_by_role('button', name='Reset').click()
  expect(chat.locator('li')).to_have_count(0)
  chat.locator('input[name=message]').fill('hi there')
  chat.get_by_role('button', name='Send').click()
  expect(chat.locator('li.bot')).to_have_count(1, timeout=TIMEOUT_MS)

  translation = section(page, 'translate')
  translation.locator('textarea').fill('the dog sees a cat\nthe cat likes birds')
  translation.get_by_role('button', name='Translate').click()
  expect(translation.locator('ol.translations li')).to_have_count(2, timeout=TIMEOUT_MS)
  translation.get_by_text('Training curves and eval examples').click()
  assert natural_sizes(translation.locator('img.curves'))[0][0] > 0
  expect(translation.locator('tbody tr')).to_have_count(4)  # the run's decode_examples

  scene_png(tmp_path / 'scene.png')
  segmentation = section(page, 'image')
  segmentation.locator('input[type=file]').set_input_files(tmp_path / 'scene.png')  # the page sends it on choosing
  assert natural_sizes(segmentation.locator('img.prediction')) == [[96, 96]]  # the mask laid over the image as sent
  assert 'of the pixels' in segmentation.locator('ul.found').inner_text()
  segmentation.get_by_text('Training curves and eval examples').click()
  expect(segmentation.locator('.examples figcaption')).to_have_text(['segmentation'], timeout=TIMEOUT_MS)
  section(page, 'run').get_by_text('Training curves and eval examples').click()  # CLIP: no panel, no examples
  expect(section(page, 'run').locator('.examples')).to_contain_text('no eval examples are drawn for a contrastive run')
  page.screenshot(path=tmp_path / 'page.png', full_page=True)
  if os.environ.get('SERVE_SCREENSHOT'):
    save_small_png(tmp_path / 'page.png', os.environ['SERVE_SCREENSHOT'])
  assert page.locator('.error:not(:empty)').count() == 0


def save_small_png(source, path: str) -> None:
  """The screenshot in 256 colours: the page's flat colours survive, and the file stays small."""
  Image.open(source).convert('RGB').quantize(256).save(path, optimize=True)
  assert os.path.getsize(path) < SCREENSHOT_MAX_BYTES, os.path.getsize(path)


def test_bad_input_gets_a_message_in_the_page(page, tmp_path):
  (tmp_path / 'notes.png').write_text('not an image')
  image = section(page, 'image')
  image.locator('input[type=file]').set_input_files(tmp_path / 'notes.png')
  expect(panel_error(image)).to_have_text('the upload is not an image PIL can read (one of PNG, JPEG, GIF, BMP, WEBP)')
  drawing = section(page, 'text_to_image')
  drawing.get_by_role('button', name='Draw').click()
  expect(panel_error(drawing)).to_have_text('caption: type some text')
  drawing.locator('input[name=caption]').fill('a red circle')
  drawing.locator('input[name=images]').fill('99')
  drawing.get_by_role('button', name='Draw').click()
  expect(panel_error(drawing)).to_have_text('images must be a whole number from 1 to 16, got 99')
  chat = section(page, 'chat')
  chat.locator('select[name=decoding]').select_option('sample')
  chat.locator('input[name=top_p]').fill('1.5')
  chat.locator('input[name=message]').fill('hello')
  chat.get_by_role('button', name='Send').click()
  expect(panel_error(chat)).to_have_text('top_p must be a number above 0 and at most 1, got 1.5')
  assert 'Traceback' not in page.content()
  page.screenshot(path=tmp_path / 'bad_input.png', full_page=True)


def request(server, method: str, path: str, body: bytes = b'', headers=None) -> tuple[int, dict]:
  connection = http.client.HTTPConnection(*server.server_address[:2], timeout=TIMEOUT_MS / 1000)
  connection.request(method, path, body, headers or {})
  response = connection.getresponse()
  status, answer = response.status, json.loads(response.read())
  connection.close()
  return status, answer


def run_id(server, task: str) -> int:
  return next(i for i, panel in enumerate(server.panels) if panel.config.task == task)


def test_the_api_answers_a_message_for_what_it_does_not_take(page_server):
  assert page_server.server_address[0] == '127.0.0.1'  # no other address unless --host names it
  text_to_image = f'/api/runs/{run_id(page_server, "text_to_image")}'
  as_json = {'Content-Type': 'application/json'}
  for method, path, body, headers, status, message in [
      ('POST', text_to_image, b'{"caption": "a cat", "images": 2', as_json, 400, 'the request is not JSON'),
      ('POST', text_to_image, b'[1]', as_json, 400, 'must be a JSON object'),
      ('POST', text_to_image, b'{"caption": "a cat", "images": 1.5}', as_json, 400, 'a whole number from 1 to 16'),
      ('POST', text_to_image, b'{"caption": "' + b'a' * 301 + b'"}', as_json, 400, 'at most 300 characters'),
      ('POST', text_to_image, b'caption=a+cat', {'Content-Type': 'application/x-www-form-urlencoded'}, 415,
       'takes application/json bodies'),
      ('POST', text_to_image, b'', {**as_json, 'Content-Length': str(panels.MAX_JSON_BYTES + 1)}, 413,
       f'at most {panels.MAX_JSON_BYTES:,}'),
      ('GET', '/api/runs/99/curves', b'', {}, 404, 'no GET /api/runs/99/curves here'),
      ('POST', f'/api/runs/{run_id(page_server, "contrastive")}', b'{}', as_json, 400, 'has no panel to try'),
  ]:
    answer_status, answer = request(page_server, method, path, body, headers)
    assert (answer_status, message in answer['error']) == (status, True), answer


def test_a_busy_model_says_so_while_the_others_answer(page_server):
  segmentation = page_server.panels[run_id(page_server, 'segmentation')]
  with segmentation.lock:  # as while it answers another request
    status, answer = request(page_server, 'POST', f'/api/runs/{run_id(page_server, "segmentation")}', b'x',
                             {'Content-Type': 'image/png'})
    assert status == 503 and 'busy with another request; try again' in answer['error']
    status, answer = request(page_server, 'POST', f'/api/runs/{run_id(page_server, "translation")}',
                             json.dumps({'text': 'the dog\nthe cat'}).encode(), {'Content-Type': 'application/json'})
    assert status == 200 and len(answer['translations']) == 2
    status, answer = request(page_server, 'GET', f'/api/runs/{run_id(page_server, "segmentation")}/curves')
    assert status == 200 and answer['image'].startswith('data:image/png;base64,')


@pytest.mark.parametrize('argv, message', [
    (['--workdir', '{empty}'], 'is not a training run (no config.json)'),
    (['--workdir', '{unknown}'], "a run of an unknown task 'poetry'"),
    (['--workdir', '{translation}', '--checkpoint', 'best'], 'trained without best_metric'),
    (['--workdir', '{translation}', '--port', '70000'], '--port must be from 0 to 65535'),
    (['--workdir', '{translation}', '--port', '{taken}'], 'cannot listen on 127.0.0.1:'),
])
def test_mistakes_in_the_command_exit_2(argv, message, runs, tmp_path, capsys):
  (tmp_path / 'unknown').mkdir()
  (tmp_path / 'unknown' / 'config.json').write_text('{"task": "poetry"}')
  with socket.socket() as taken:
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    names = {'empty': tmp_path, 'unknown': tmp_path / 'unknown', 'translation': runs['translation'],
             'taken': taken.getsockname()[1]}
    with pytest.raises(SystemExit) as exit_info:
      serve.main(['--port', '0'] + [arg.format(**names) for arg in argv])  # a later --port wins
  assert exit_info.value.code == 2
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert error.startswith('error: ') and message in error
