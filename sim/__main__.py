"""``python -m sim``: the same as ``espace-sim``."""

import sys

from sim.cli import main

sys.exit(main())
