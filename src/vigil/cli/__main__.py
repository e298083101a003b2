"""`python -m vigil.cli`: the `vigil` command."""

import sys

from vigil.cli import main

sys.exit(main())
