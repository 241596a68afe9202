"""``python -m widenet``: the ``widenet`` command."""

import sys

from widenet.app.cli import main

sys.exit(main())
