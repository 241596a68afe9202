"""``python -m widenet``: the ``widenet`` command."""

import sys

from .cli import main

sys.exit(main())
