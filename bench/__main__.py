"""``python -m bench`` (from the repository's root): the same as ``python bench/run.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py imports harness and cases by name

from run import main  # noqa: E402

sys.argv[0] = "python -m bench"  # for the usage line
sys.exit(main())
