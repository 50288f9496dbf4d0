"""Make `sweep_support` (the toy model) importable by name, in this process and in spawned
workers (they inherit sys.path), so the process pool and Dask can unpickle its function."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
