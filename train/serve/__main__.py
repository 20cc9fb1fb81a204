"""python -m train.serve: see train/serve/__init__.py."""

from train.serve import main

main()
