"""Make `fuzz_support` importable by name from the fuzz tests."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def pytest_terminal_summary(terminalreporter):
    from fuzz_support import TALLY

    if TALLY:
        counts = ", ".join(f"{cmd} exit {code}: {n}" for (cmd, code), n in sorted(TALLY.items()))
        terminalreporter.write_line(f"hwsim invocations checked: {sum(TALLY.values())} "
                                    f"({counts})")
