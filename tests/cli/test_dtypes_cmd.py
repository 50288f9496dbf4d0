"""`hwsim dtypes` through the real console entry point (bad input: one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def hwsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hwsim", *args], capture_output=True,
                          text=True, cwd=cwd, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_list_shows_every_format() -> None:
    from hwsim.dtypes import list_formats

    out = hwsim("dtypes", "list")
    assert out.returncode == 0, out.stderr
    for name in list_formats():
        assert name in out.stdout


def test_show_prints_the_code_table() -> None:
    out = hwsim("dtypes", "show", "FP4_EA_POS")
    assert out.returncode == 0, out.stderr
    assert "1000" in out.stdout and "8" in out.stdout and "tie rule: lower" in out.stdout


@pytest.mark.parametrize(("name", "span"), [
    ("fp32", "2^32 codes (not enumerated), max 3.40282e+38"),
    # 2 x 255 exponents x 128 mantissas, +0 and -0 one value.
    ("bf16", "65279 finite values, max 3.38953e+38")])
def test_show_of_a_cast_says_what_its_codes_span(name: str, span: str) -> None:
    # fp32 printed its header, then an error.
    out = hwsim("dtypes", "show", name)
    assert out.returncode == 0 and not out.stderr
    assert span in out.stdout


def test_compare_on_a_given_tensor_writes_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "w.npy", rng.standard_normal((16, 256)).astype(np.float32))
    out = hwsim("dtypes", "compare", "--formats", "int4,bitmod4,nf4", "--tensor",
                str(tmp_path / "w.npy"), "--out", str(tmp_path / "cmp"))
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert df["format"].tolist() == ["int4", "bitmod4", "nf4"]
    assert df.loc[df.format == "int4", "bits_per_weight"].item() == pytest.approx(4.125)
    # The synthetic tensor's options are refused beside --tensor (they were ignored).
    for extra in (("--shape", "4x4"), ("--seed", "5")):
        out = hwsim("dtypes", "compare", "--tensor", str(tmp_path / "w.npy"), *extra)
        assert out.returncode == 2
        assert f"{extra[0]} describes the synthetic tensor: leave it out with --tensor" in \
            out.stderr


def test_compare_names_groups_whose_scale_underflowed(tmp_path: Path) -> None:
    w = np.random.default_rng(0).standard_normal((8, 256)).astype(np.float32) * 1e-30
    np.save(tmp_path / "w.npy", w)
    out = hwsim("dtypes", "compare", "-f", "int4,ternary", "--tensor", str(tmp_path / "w.npy"),
                "--out", str(tmp_path / "cmp"))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert ("note: int4: 16 groups of 16 hold nonzero weights but a stored scale of 0" in text
            and "note: ternary" not in text)
    # ternary has no group: its empty group_size left int4's as 128.0.
    assert (tmp_path / "cmp" / "compare.csv").read_text().splitlines()[1].startswith("int4,128,")


@pytest.mark.parametrize(("args", "message"), [
    (("dtypes", "show", "fp5x"), "unknown format 'fp5x'; did you mean"),
    (("dtypes", "compare", "--formats", "int4,nope"), "unknown format 'nope'"),
    (("dtypes", "compare", "--formats", "int4,int4"), "--formats 'int4,int4': int4 given twice"),
    # Three identical rows before.
    (("dtypes", "compare", "--formats", "int4,INT4"),
     "--formats: 'int4' and 'INT4' are one format, int4; give it once"),
    (("dtypes", "compare", "--shape", "10by10"), "--shape: expected ROWSxCOLS"),
    (("dtypes", "compare", "--group-size", "0"), "--group-size must be a positive integer, not 0"),
    (("dtypes", "compare", "--shape", "3x5", "--group-size", "100000"),
     "--group-size 100000 is larger than the rows of synthetic 3x5 (seed 0) (5 values): one "
     "group per row is --group-size 5"),
    (("dtypes", "compare", "--tensor", "/nonexistent.npy"), "no such file"),
    (("dtypes", "compare", "--shape", "4x4", "--out", "/dev/null/x"), "--out /dev/null/x: cannot"),
    (("dtypes", "compare", "--shape", "4x4", "-o", "/tmp", "--csv", "/dev/null/x.csv"),
     "--csv '/dev/null/x.csv': cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    out = hwsim(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_npy_is_named_so(tmp_path: Path) -> None:
    (tmp_path / "t.npy").write_text("1 2 3\n", encoding="utf-8")
    out = hwsim("dtypes", "compare", "--tensor", str(tmp_path / "t.npy"))
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: --tensor '{tmp_path / 't.npy'}': not a .npy file "
                                  "(no NumPy header)")


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out = hwsim("dtypes", "compare", "--tensor", str(tmp_path / "obj.npy"))
    assert out.returncode == 2 and "not a plain .npy array" in out.stderr


@pytest.mark.parametrize("typo", ["bitmod5", "uint5x", "bitnett", "olive44", "nvfp5x"])
def test_did_you_mean_names_only_formats_dtypes_list_shows(typo: str) -> None:
    # Aliases (bitnet, uint5) used to be suggested though `dtypes list` never shows them.
    from hwsim.dtypes import get_format, list_formats
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError) as info:
        get_format(typo)
    message = str(info.value)
    assert "did you mean " in message
    suggested = message.split("did you mean ")[1].rstrip("?").split(", ")
    assert suggested and set(suggested) <= set(list_formats()), suggested
