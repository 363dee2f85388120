"""``python -m streams``: the same as the ``slawatch`` command."""

import sys

from .cli import main

sys.exit(main())
