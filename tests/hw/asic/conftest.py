"""ASIC flow test support: this folder goes on ``sys.path`` so the tests import the hand-made
netlists of ``asic_netlists``."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
