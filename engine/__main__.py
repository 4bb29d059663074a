"""Run the engine CLI: `python -m engine --help`."""

import sys

from engine.cli import main

sys.exit(main())
