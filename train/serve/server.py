"""The HTTP side of train.serve: the page, its script, and a JSON API over the runs' panels.

  GET  /                        the page; GET /page.js, its script
  GET  /api/runs                every run: name, task, panel, and the limits of its inputs
  POST /api/runs/<i>            a panel's request: a JSON object, or an image panel's image file
  GET  /api/runs/<i>/curves     the run's training curves, a PNG data URL
  GET  /api/runs/<i>/examples   a few of its eval examples

Every request has a thread of its own (ThreadingHTTPServer), so a model at work holds up its own panel
alone. A run's lock lets one request at a time use its model; one that arrives meanwhile is answered
503 'busy' at once rather than queued, so no queue grows and the page says to try again. A failure is
a JSON {"error": message}: 400 for bad input (the message says what to fix), 404, 408, 411, 413 and
415 for a request the API does not take, 503 busy, and 500 for a bug, whose traceback goes to the
server's log, never to the page.
"""

import http.server
import json
import os
import re
import traceback
import urllib.parse

from data.errors import UserInputError

PAGE_FILES = {'/': ('page.html', 'text/html; charset=utf-8'), '/page.js': ('page.js', 'text/javascript; charset=utf-8')}
# The page's own script and styles only, images from data URLs; no other site may frame it or read its referrer.
HEADERS = {'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'",
           'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store'}
READ_TIMEOUT_S = 30  # a client slower than this to send its request is dropped, freeing its thread
RUN_PATH = re.compile(r'/api/runs/(\d{1,6})(/curves|/examples)?')


class HttpError(Exception):
  """A request the API does not take, with its status."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


class Handler(http.server.BaseHTTPRequestHandler):
  server_version = 'train.serve'
  timeout = READ_TIMEOUT_S

  def do_GET(self):  # pylint: disable=invalid-name  (the name http.server calls)
    path = urllib.parse.urlsplit(self.path).path
    if path in PAGE_FILES:
      name, content_type = PAGE_FILES[path]
      self.send(200, self.server.page_files[name], content_type)
    elif path == '/api/runs':
      self.answer(lambda: {'runs': [{'id': i, **panel.describe()} for i, panel in enumerate(self.server.panels)]})
    else:
      self.answer(lambda: self.run_request(path, 'GET'))

  def do_POST(self):  # pylint: disable=invalid-name
    self.answer(lambda: self.run_request(urllib.parse.urlsplit(self.path).path, 'POST'))

  def run_request(self, path: str, method: str) -> dict:
    match = RUN_PATH.fullmatch(path)
    panels = self.server.panels
    if not match or int(match[1]) >= len(panels) or (method == 'POST') != (match[2] is None):
      raise HttpError(404, f'no {method} {path} here')
    panel = panels[int(match[1])]
    if match[2] == '/curves':
      return panel.curves()  # the run's log, not its model: no need to wait for the model
    body = self.body(panel) if method == 'POST' else b''
    if not panel.lock.acquire(blocking=False):
      raise HttpError(503, f'{panel.describe()["name"]} is busy with another request; try again in a moment')
    try:
      return panel.examples() if match[2] == '/examples' else panel.answer(body)
    finally:
      panel.lock.release()

  def body(self, panel) -> bytes:
    """The request's body, if of a type and size the panel takes."""
    content_type = self.headers.get('Content-Type', '')
    if not content_type.startswith(panel.body_types):
      raise HttpError(415, f'this panel takes {" or ".join(panel.body_types)} bodies, not {content_type or "none"}')
    length = self.headers.get('Content-Length', '')
    if not length.isdigit():
      raise HttpError(411, 'the request has no Content-Length')
    if int(length) > panel.max_body_bytes:
      raise HttpError(413, f'the request has {int(length):,} bytes; this panel takes at most {panel.max_body_bytes:,}')
    try:
      return self.rfile.read(int(length))
    except TimeoutError as e:
      raise HttpError(408, f'the request did not arrive within {READ_TIMEOUT_S} s') from e

  def answer(self, compute) -> None:
    """Sends compute()'s JSON, or the error it raised as {"error": message}."""
    try:
      status, payload = 200, compute()
    except UserInputError as e:
      status, payload = 400, {'error': str(e)}
    except HttpError as e:
      status, payload = e.status, {'error': str(e)}
    except Exception:  # noqa: BLE001  (a bug: the log gets the traceback, the page one line)
      traceback.print_exc()
      status, payload = 500, {'error': 'the server failed on this request; its log says why'}
    self.send(status, json.dumps(payload).encode(), 'application/json')

  def send(self, status: int, body: bytes, content_type: str) -> None:
    self.send_response(status)
    for name, value in {'Content-Type': content_type, 'Content-Length': str(len(body)), **HEADERS}.items():
      self.send_header(name, value)
    self.end_headers()
    self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
  """The page and the API over `panels` (train/serve/panels.py), listening on host:port (0: any free port)."""
  daemon_threads = True  # a request still at work does not keep the process from ending

  def __init__(self, host: str, port: int, panels: list):
    self.panels = panels
    folder = os.path.dirname(os.path.abspath(__file__))
    self.page_files = {}
    for name, _ in PAGE_FILES.values():
      with open(os.path.join(folder, name), 'rb') as f:
        self.page_files[name] = f.read()
    super().__init__((host, port), Handler)
