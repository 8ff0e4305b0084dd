"""``python -m stable_softmax``: the command line of :mod:`stable_softmax.cli`."""

import sys

from .cli import main

sys.exit(main())
