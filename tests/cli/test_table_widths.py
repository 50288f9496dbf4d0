"""Every command's terminal table at 60, 80 and 200 columns: numbers whole, lines in width.

`hwsim run llama-3-8b-long-context` printed its 135 s latency as "1.352…" (read as 13.5 s) at
80 columns; these tests render each table at three widths and read the numbers back.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from hwsim.cli import main

WIDTHS = (60, 80, 200)
GEMMS = """\
gemms:
  - {name: g1, m: 64, n: 96, k: 256}
  - {name: g2, m: 8, n: 512, k: 128, count: 3}
weights: {format: int4, group_size: 128}
hardware: bitmod
"""
_UNITS_S = {"min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def cli(monkeypatch, capsys, width: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(sys, "argv", ["hwsim", *args])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "…" not in out
    too_long = [line for line in out.splitlines() if len(line) > width]
    assert not too_long, too_long
    return out


def parse_tables(out: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each rich table printed in `out` as (headers, rows), wrapped header lines and wrapped
    cells joined back per column (a row whose first cell is empty continues the one above)."""
    tables, headers, rows, part = [], None, [], None
    for line in out.splitlines():
        if line.startswith("┏"):
            headers, rows, part = None, [], "head"
            continue
        if line.startswith("┡"):
            part = "body"
            continue
        if line.startswith("└"):
            tables.append((headers, rows))
            part = None
            continue
        if part is None or not line.startswith(("┃", "│")):
            continue
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if part == "head":
            headers = cells if headers is None else [
                f"{a} {b}".strip() for a, b in zip(headers, cells, strict=True)]
        elif rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return tables


def column(out: str, row_name: str, header_start: str) -> tuple[str, str]:
    """(header, cell) of the first table column whose header starts with `header_start`, in
    the row named `row_name`."""
    for headers, rows in parse_tables(out):
        for j, header in enumerate(headers):
            if header.startswith(header_start):
                for row in rows:
                    if row[0] == row_name:
                        return header, row[j]
    raise AssertionError(f"no column {header_start!r} / row {row_name!r} in\n{out}")


def seconds(header: str, cell: str) -> float:
    unit = re.search(r"\((\w+)\)$", header)
    assert unit, f"no unit in the header {header!r}"
    return float(cell) * _UNITS_S[unit.group(1)]


@pytest.fixture
def gemm_file(tmp_path: Path) -> Path:
    path = tmp_path / "kernels.yaml"
    path.write_text(GEMMS, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", WIDTHS)
def test_run_latency_reads_back_whole(monkeypatch, capsys, tmp_path, width):
    out_dir = tmp_path / "r"
    out = cli(monkeypatch, capsys, width, "run", "--compare", "fp16,ant:ant4", "--out",
              str(out_dir))
    summary = json.loads((out_dir / "summary.json").read_text())
    for design in summary["designs"]:
        value = seconds(*column(out, design["hardware"]["name"], "latency"))
        assert value == pytest.approx(design["latency_ms"] * 1e-3, rel=1e-3)
        tpot = seconds(*column(out, design["hardware"]["name"], "TPOT"))
        decode = design["stages"]["decode"]
        assert tpot == pytest.approx(decode["latency_ms"] * 1e-3 / decode["steps"], rel=1e-3)
    flat = " ".join(out.split())
    assert "ant:ant4 runs ant4 weights (chosen on the command line)" in flat


@pytest.mark.parametrize("width", WIDTHS)
def test_run_of_raw_gemms(monkeypatch, capsys, tmp_path, gemm_file, width):
    out = cli(monkeypatch, capsys, width, "run", str(gemm_file), "--compare", "fp16", "--out",
              str(tmp_path / "g"))
    summary = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert seconds(*column(out, "bitmod", "latency")) == pytest.approx(
        summary["latency_ms"] * 1e-3, rel=1e-3)


@pytest.mark.parametrize("width", WIDTHS)
def test_roofline_stage_times_read_back_whole(monkeypatch, capsys, tmp_path, width):
    out = cli(monkeypatch, capsys, width, "roofline", "--no-plots", "--out", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for stage, st in summary["stages"].items():
        assert seconds(*column(out, stage, "time")) == pytest.approx(st["time_s"], rel=1e-3)


@pytest.mark.parametrize("width", WIDTHS)
def test_dtypes_list_keeps_names_and_ranges(monkeypatch, capsys, width):
    from hwsim.dtypes import get_format, list_formats

    out = cli(monkeypatch, capsys, width, "dtypes", "list")
    for name in list_formats():
        assert column(out, name, "bits") == ("bits", str(get_format(name).bits))


@pytest.mark.parametrize("width", WIDTHS)
def test_dtypes_compare_keeps_every_number(monkeypatch, capsys, tmp_path, width):
    import pandas as pd

    csv = tmp_path / "cmp.csv"
    out = cli(monkeypatch, capsys, width, "dtypes", "compare", "--formats",
              "int4,bitmod4,olive4", "--shape", "64x256", "--csv", str(csv))
    table = pd.read_csv(csv)
    for rec in table.to_dict(orient="records"):
        assert column(out, rec["format"], "SQNR") == ("SQNR (dB)", f"{rec['sqnr_db']:.2f}")
        assert column(out, rec["format"], "bits/w")[1] == f"{rec['bits_per_weight']:.3f}"
