"""Make ``tests.support`` importable when pytest runs from the venv's script.

The editable install maps only the product packages; until pyproject sets
``pythonpath = ["."]`` for pytest, the repository root is added here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
