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
def gemm_file(tmp_path: Path, small_gemms: str) -> Path:
    path = tmp_path / "kernels.yaml"
    path.write_text(small_gemms, encoding="utf-8")
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

    out = cli(monkeypatch, capsys, width, "dtypes", "compare", "--formats",
              "int4,bitmod4,olive4", "--shape", "64x256", "--out", str(tmp_path))
    table = pd.read_csv(tmp_path / "compare.csv")
    # Every column the table shows, or drops with a note pointing at compare.csv, is in it.
    for key in ("group_size", "bits_per_weight", "mse", "sqnr_db", "max_abs_error", "types",
                "outlier_pairs"):
        assert key in table.columns
    assert "speed" not in out.split("speed (Mweights/s)")[0]  # a measurement: a note only
    for rec in table.to_dict(orient="records"):
        assert column(out, rec["format"], "SQNR") == ("SQNR (dB)", f"{rec['sqnr_db']:.2f}")
        assert column(out, rec["format"], "bits/w")[1] == f"{rec['bits_per_weight']:.3f}"


@pytest.fixture(scope="module")
def quantize_folder(tmp_path_factory, summary_row) -> Path:
    import pandas as pd

    q = tmp_path_factory.mktemp("q")
    rows = {"int4": (4.125, 17.94), "bitmod4": (4.141, 20.05), "int8": (8.125, 38.08)}
    table = pd.DataFrame([summary_row(f, bits_per_weight=b, sqnr_db_mean=d,
                                      model_bytes=b * 1e6 / 8) for f, (b, d) in rows.items()])
    table.to_csv(q / "summary.csv", index=False)
    return q


@pytest.mark.parametrize("width", WIDTHS)
def test_tradeoff_energy_reads_back_whole(monkeypatch, capsys, tmp_path, quantize_folder,
                                          width):
    import pandas as pd

    out = cli(monkeypatch, capsys, width, "tradeoff", str(quantize_folder), "--workload",
              "llama-2-7b-generative", "-H", "bitmod,ant", "--out", str(tmp_path))
    table = pd.read_csv(tmp_path / "tradeoff.csv")
    joules = {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6}
    for headers, rows in parse_tables(out):
        j = next(i for i, h in enumerate(headers) if h.startswith("energy"))
        unit = re.search(r"\((\w+)\)$", headers[j]).group(1)
        for row in rows:
            design = row[1]
            expected = table[(table["format"] == row[0]) & (table["hardware"] == design)]
            assert float(row[j]) * joules[unit] == pytest.approx(
                expected["energy_uj"].iloc[0] * 1e-6, rel=1e-3)


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_pareto_table_shows_axis_values(monkeypatch, capsys, tmp_path, width, tiny_sweep):
    out = cli(monkeypatch, capsys, width, "sweep", str(tiny_sweep), "--out", str(tmp_path / "o"),
              "-j", "1")
    front = json.loads((tmp_path / "o" / "summary.json").read_text())["front"]
    headers, rows = parse_tables(out)[-1]
    by_label = {row[0]: row[1:] for row in rows}
    shown = list(headers[1:])
    for point in front:
        name = f"point {point['point']}"
        if name not in shown:  # a narrow terminal drops later points, with a note
            assert name in " ".join(out.split())
            continue
        col = shown.index(name)
        # The winning axis values are always in the table (they were hidden at 80 columns).
        assert by_label["weights.format"][col] == point["axes"]["weights.format"]
        assert by_label["array.rows"][col] == str(point["axes"]["array.rows"])
