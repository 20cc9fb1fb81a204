"""A page in the browser to try trained models: each run's panel, its training curves and eval examples.

  python -m train.serve --workdir runs/shapes_t2i --workdir runs/chat --workdir runs/translation \
      --workdir runs/shapes_unet [--port 8000] [--host 127.0.0.1] [--checkpoint latest|best]

Then open http://127.0.0.1:8000/. The run's task decides its panel:
  text_to_image                          a caption and a number of images: the drawings, reranked by CLIP, best first;
  dialogue, dialogue_rl                  a chat: the history, a reset, beam search or sampling settings;
  translation                            sentences, one a line, and their translations;
  classification, segmentation,          an uploaded image and the prediction: its top classes, the mask laid
  detection                              over it, or the boxes drawn on it;
and every run (those of other tasks have no panel) shows its training curves and a few eval examples.

The server listens on 127.0.0.1, this machine alone, unless --host names another address (0.0.0.0:
every interface). For a page others may reach, inputs are bounded (train/serve/panels.py: caption,
message and text lengths, the number of images, an upload's bytes, pixels and format), a model
answers one request at a time while the other panels stay usable, and a bad input gets a message in
the page, never a traceback (train/serve/server.py).

Why not Gradio, the usual demo kit: it brings a web framework, a frontend bundle and a few dozen
packages into a project that needs one page and four JSON endpoints; Python's own http.server
serves those with nothing to install or pin, and starts in no time. The page is plain HTML and
JavaScript (train/serve/page.html, page.js).
"""

import argparse
import ipaddress
import sys

from data.errors import UserInputError
from train import loop, steps
from train.serve import panels, server


def parse_args(argv):
  parser = argparse.ArgumentParser(prog='python -m train.serve', description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', action='append', required=True, help='a trained run; repeat for more runs')
  parser.add_argument('--port', type=int, default=8000, help='0: any free port')
  parser.add_argument('--host', default='127.0.0.1', help='the address to listen on (0.0.0.0: every interface)')
  loop.add_checkpoint_flag(parser)
  args = parser.parse_args(argv)
  if not 0 <= args.port <= 65535:
    raise UserInputError(f'--port must be from 0 to 65535, got {args.port}')
  return args


def make_server(workdirs: list[str], host: str = '127.0.0.1', port: int = 8000,
                checkpoint: str = 'latest') -> server.Server:
  """The server of the runs' panels, listening (its address taken before the runs load, which takes a while)."""
  try:
    page_server = server.Server(host, port, [])
  except OSError as e:
    raise UserInputError(f'cannot listen on {host}:{port}: {e.strerror or e}') from e
  try:
    for workdir in workdirs:
      print(f'loading {workdir}', file=sys.stderr, flush=True)
      page_server.panels.append(panels.load(workdir, checkpoint))
  except UserInputError:
    page_server.server_close()
    raise
  return page_server


def main(argv=None):
  try:
    args = parse_args(argv)
    steps.use_compilation_cache()  # a restarted server finds its decoders and generators compiled
    page_server = make_server(args.workdir, args.host, args.port, args.checkpoint)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  host, port = page_server.server_address[:2]
  if not ipaddress.ip_address(host).is_loopback:
    print(f'note: listening on {host}: anyone who can reach this machine can use the page', file=sys.stderr)
  print(f'serving {len(page_server.panels)} run(s) on http://{host}:{port}/ (Ctrl-C stops)', flush=True)
  try:
    page_server.serve_forever()
  except KeyboardInterrupt:
    print(file=sys.stderr)
  finally:
    page_server.server_close()
