"""Run the engine CLI: `python -m engine --help`."""

import signal
import sys

from engine.cli import main

if hasattr(signal, "SIGPIPE"):  # `python -m engine show X | head` ends quietly
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

sys.exit(main())
