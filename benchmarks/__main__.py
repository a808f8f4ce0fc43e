"""``python -m benchmarks``: run the benchmark harness (see ``benchmarks/harness/run.py``)."""

import os
import sys

# benchmarks/ is not a package (see harness/__init__.py): make the harness importable.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.run import main

sys.exit(main())
