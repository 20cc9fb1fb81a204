// The page of train.serve: a section per run, built from /api/runs; see train/serve/server.py for the API.
'use strict';

const EMPTY = '(empty)';  // a blank line, or a model that ended at once

// An element with properties (textContent, value, ...) and children; text is always set as text, never as HTML.
function el(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function field(label, input, wide = false) {
  return el('label', {className: wide ? 'wide' : ''}, label, input);
}

function numberInput(name, value, min, max = null, step = 1) {
  const input = el('input', {name, type: 'number', value, min, step});
  if (max !== null) input.max = max;
  return input;
}

// The server's JSON answer; a failure throws the message it sent ({error}) for the page to show.
async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new Error('the server cannot be reached');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

function postJson(run, request) {
  return call(`/api/runs/${run.id}`, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                      body: JSON.stringify(request)});
}

// A form whose submission runs `submit`, one at a time, showing its error in the section.
function panelForm(section, fields, label, submit, ...extraButtons) {
  const button = el('button', {type: 'submit', textContent: label});
  const status = el('span', {className: 'status'});
  const form = el('form', {noValidate: true}, ...fields, button, ...extraButtons, status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    section.error.textContent = '';
    button.disabled = true;
    status.textContent = 'working…';
    try {
      await submit();
    } catch (error) {
      section.error.textContent = error.message;
    } finally {
      button.disabled = false;
      status.textContent = '';
    }
  });
  return form;
}

function textToImagePanel(section, run) {
  const {limits} = run;
  const caption = el('input', {name: 'caption', maxLength: limits.max_chars,
                               placeholder: 'a large green triangle in the bottom right'});
  const images = numberInput('images', 8, 1, limits.max_images);
  const seed = numberInput('seed', 0, 0);
  const drawings = el('div', {className: 'drawings'});
  const fields = [field('caption', caption, true), field(`images (at most ${limits.max_images})`, images),
                  field('seed', seed)];
  const form = panelForm(section, fields, 'Draw', async () => {
    const answer = await postJson(run, {caption: caption.value, images: Number(images.value),
                                        seed: Number(seed.value)});
    drawings.replaceChildren(...answer.images.map((image, rank) => el('figure', {},
        el('img', {src: image.src, alt: `drawing ${rank + 1}`, title: caption.value}),
        el('figcaption', {textContent: `${rank === 0 ? 'best · ' : ''}CLIP ${image.score.toFixed(3)}`}))));
  });
  return [form, drawings];
}

function chatPanel(section, run) {
  const {limits} = run;
  const history = [];  // the turns so far, the user's and the bot's in turn
  const turns = el('ol', {className: 'history'});
  const message = el('input', {name: 'message', maxLength: limits.max_chars, placeholder: 'say something'});
  const decoding = el('select', {name: 'decoding'}, el('option', {value: 'beam', textContent: 'beam search'}),
                      el('option', {value: 'sample', textContent: 'sampling'}));
  const beam = numberInput('beam', limits.beam, 1, limits.max_beam);
  const temperature = numberInput('temperature', 1, 0, limits.max_temperature, 0.1);
  const topK = numberInput('top_k', 0, 0);
  const topP = numberInput('top_p', 1, 0, 1, 0.05);
  const seed = numberInput('seed', 0, 0);
  const beamFields = [field('beam width', beam)];
  const sampleFields = [field('temperature', temperature), field('top-k (0: all)', topK), field('top-p', topP),
                        field('seed', seed)];
  const showSettings = () => {
    for (const label of beamFields) label.classList.toggle('hidden', decoding.value !== 'beam');
    for (const label of sampleFields) label.classList.toggle('hidden', decoding.value !== 'sample');
  };
  decoding.addEventListener('change', showSettings);
  showSettings();
  const reset = el('button', {type: 'button', className: 'secondary', textContent: 'Reset'});
  reset.addEventListener('click', () => {
    history.length = 0;
    turns.replaceChildren();
    section.error.textContent = '';
  });
  const form = panelForm(section, [field('message', message, true), field('decoding', decoding), ...beamFields,
                                   ...sampleFields], 'Send', async () => {
    const text = message.value;
    const settings = decoding.value === 'beam' ? {decoding: 'beam', beam: Number(beam.value)} :
      {decoding: 'sample', temperature: Number(temperature.value), top_k: Number(topK.value),
       top_p: Number(topP.value), seed: Number(seed.value)};
    const answer = await postJson(run, {message: text, history: history.slice(-limits.max_history), settings});
    history.push(text, answer.reply);
    turns.append(el('li', {className: 'you', textContent: text}),
                 el('li', {className: 'bot', textContent: answer.reply || EMPTY}));
    turns.scrollTop = turns.scrollHeight;
    message.value = '';
  }, reset);
  return [turns, form];
}

function translatePanel(section, run) {
  const {limits} = run;
  const text = el('textarea', {name: 'text', rows: 3, maxLength: limits.max_chars,
                               placeholder: `sentences to translate, one a line (at most ${limits.max_lines})`});
  const translations = el('ol', {className: 'translations'});
  const notes = el('ul', {className: 'status'});
  const form = panelForm(section, [field('text', text, true)], 'Translate', async () => {
    const answer = await postJson(run, {text: text.value});
    translations.replaceChildren(...answer.translations.map((line) => el('li', {textContent: line || EMPTY})));
    notes.replaceChildren(...answer.notes.map((note) => el('li', {textContent: note})));
  });
  return [form, translations, notes];
}

// What an image run found, as lines: the top classes, each class's share of the pixels, or the boxes.
function findings(answer) {
  if (answer.classes) return answer.classes.map((c) => `${c.class}: ${(100 * c.probability).toFixed(1)}%`);
  if (answer.pixel_share) {
    return Object.entries(answer.pixel_share).map(
        ([name, share]) => `${name}: ${(100 * share).toFixed(1)}% of the pixels`);
  }
  if (!answer.objects.length) return ['nothing found'];
  return answer.objects.map((o) => `${o.class} ${o.score.toFixed(2)}`);
}

function imagePanel(section, run) {
  const {limits} = run;
  const file = el('input', {name: 'image', type: 'file', accept: limits.types.join(',')});
  const picture = el('img', {className: 'prediction', alt: 'the prediction'});
  const label = el('span', {className: 'label'});  // a class is written on the image; masks and boxes come drawn
  const shown = el('div', {className: 'picture hidden'}, picture, label);
  const found = el('ul', {className: 'found'});
  const kinds = limits.types.map((type) => type.replace('image/', '').toUpperCase()).join(', ');
  const megabytes = limits.max_bytes / 2 ** 20;
  const fields = [field(`image: ${kinds}; at most ${megabytes} MB`, file, true)];
  const form = panelForm(section, fields, 'Predict', async () => {
    const chosen = file.files[0];
    if (!chosen) throw new Error('choose an image file first');
    if (chosen.size > limits.max_bytes) {
      throw new Error(`${chosen.name} has ${chosen.size.toLocaleString()} bytes; the page takes at most ` +
                      `${limits.max_bytes.toLocaleString()}`);
    }
    const type = chosen.type.startsWith('image/') ? chosen.type : 'application/octet-stream';
    const answer = await call(`/api/runs/${run.id}`, {method: 'POST', headers: {'Content-Type': type}, body: chosen});
    picture.src = answer.image;
    label.textContent = answer.classes ? answer.classes[0].class : '';
    shown.classList.remove('hidden');
    found.replaceChildren(...findings(answer).map((line) => el('li', {textContent: line})));
  });
  file.addEventListener('change', () => form.requestSubmit());
  return [form, shown, found];
}

function showExamples(box, examples) {
  const parts = (examples.images || []).map((image) => el('figure', {},
      el('img', {src: image.src, alt: image.title}), el('figcaption', {textContent: image.title})));
  if (examples.table) {
    const row = (cells, tag) => el('tr', {}, ...cells.map((cell) => el(tag, {textContent: cell})));
    parts.push(el('table', {}, el('thead', {}, row(examples.table.columns, 'th')),
                  el('tbody', {}, ...examples.table.rows.map((cells) => row(cells, 'td')))));
  }
  if (examples.note) parts.push(el('p', {className: 'status', textContent: examples.note}));
  box.replaceChildren(...parts);
}

// Curves and examples load when first opened; a failed load (a busy model) loads again on the next opening.
function trainingPart(run) {
  const curves = el('img', {className: 'curves hidden', alt: 'training curves'});
  const examples = el('div', {className: 'examples'});
  const error = el('p', {className: 'error', role: 'alert'});
  const part = el('details', {className: 'training'}, el('summary', {textContent: 'Training curves and eval examples'}),
                  error, curves, examples);
  const loaded = {curves: false, examples: false};
  part.addEventListener('toggle', () => {
    if (!part.open) return;
    error.textContent = '';
    const load = (what, show) => {
      if (loaded[what]) return;
      loaded[what] = true;
      call(`/api/runs/${run.id}/${what}`).then(show).catch((e) => {
        loaded[what] = false;
        error.textContent = `${what}: ${e.message}`;
      });
    };
    load('curves', (answer) => {
      curves.src = answer.image;
      curves.classList.remove('hidden');
    });
    load('examples', (answer) => showExamples(examples, answer));
  });
  return part;
}

const PANELS = {text_to_image: textToImagePanel, chat: chatPanel, translate: translatePanel, image: imagePanel};

function runSection(run) {
  const title = el('h2', {textContent: run.name}, el('small', {textContent: run.task}));
  const section = el('section', {className: 'run'}, title);
  section.dataset.run = run.id;
  section.dataset.panel = run.panel;
  section.error = el('p', {className: 'error', role: 'alert'});
  const panel = PANELS[run.panel];
  if (panel) section.append(...panel(section, run));
  else section.append(el('p', {className: 'status', textContent: `A ${run.task} run has no panel to try.`}));
  section.append(section.error, trainingPart(run));
  return section;
}

async function start() {
  const main = document.getElementById('runs');
  try {
    const {runs} = await call('/api/runs');
    main.replaceChildren(...runs.map(runSection));
  } catch (error) {
    main.replaceChildren(el('p', {className: 'error', textContent: error.message}));
  }
}

start();
