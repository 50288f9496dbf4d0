"""One CLI: closest-name suggestions, and -vv about hwsim only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GEMMS = """\
gemms:
  - {name: g1, m: 64, n: 96, k: 256}
weights: {format: int4, group_size: 128}
hardware: bitmod
"""


def hwsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hwsim", *args], capture_output=True,
                          text=True, cwd=cwd, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                                   "MPLCONFIGDIR": str(cwd / "mpl")},
                          timeout=120)


def test_set_suggests_the_closest_field(tmp_path: Path) -> None:
    out = hwsim("run", "--set", "array.row=64", "--out", "o", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().endswith("unknown hardware field 'array.row' (did you mean "
                                       "array.rows?)")
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_misspelt_demo_checkpoint_gets_a_suggestion(tmp_path: Path) -> None:
    out = hwsim("quantize", "minlm", "--out", "o", cwd=tmp_path)
    assert out.returncode == 2
    assert "checkpoint minlm: no such file or folder; did you mean minilm" in out.stderr
    assert not (tmp_path / "o").exists()


def test_verbose_logs_hwsim_not_the_plotting_libraries(tmp_path: Path) -> None:
    wl = tmp_path / "k.yaml"
    wl.write_text(GEMMS, encoding="utf-8")
    out = hwsim("-vv", "run", str(wl), "--out", "o", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # -vv used to flood the screen with matplotlib's font manager debugging.
    assert "matplotlib" not in out.stderr and "findfont" not in out.stderr
