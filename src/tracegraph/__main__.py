"""``python -m tracegraph`` runs the command line."""

import sys

from tracegraph.cli import main

sys.exit(main())
