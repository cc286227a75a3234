"""`python -m qa ...` is the `qa` command (e.g. `python -m qa eval ...` from scripts)."""

import sys

from qa.cli import main

sys.exit(main())
