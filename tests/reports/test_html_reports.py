"""Each command's ``report.html`` in a real browser (headless Chromium).

A page must load with no console error and no request outside itself, render its plots,
show every summary number equal to ``summary.json`` (the cell names its JSON path; the text
shown is read back through its unit), stay under 5 MB, and not screenshot blank.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hwsim.cli import main
from hwsim.reports.html_report import MAX_BYTES, lookup

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import open_page, require_chromium


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()

# A shown unit -> its size in the unit summary.json keeps the value in (by the key's suffix).
_SHOWN = {"min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "J": 1.0, "mJ": 1e-3,
          "uJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12}
_STORED = (("_ms", 1e-3), ("_uj", 1e-6), ("_s", 1.0))
def cli(monkeypatch, capsys, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["hwsim", *args])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    capsys.readouterr()


def shown_value(key: str, text: str) -> float:
    """The number a cell shows, in the unit summary.json stores it in."""
    number, _, unit = text.partition(" ")
    value = float(number.replace(",", ""))
    if unit in _SHOWN:
        stored = next((size for suffix, size in _STORED if key.endswith(suffix)), 1.0)
        return value * _SHOWN[unit] / stored
    if unit == "%":
        return value / 100  # utilization is stored as a fraction
    if unit == "GiB":
        return value * 2**30
    return value


def check_page(folder: Path, plots: int) -> None:
    page = folder / "report.html"
    assert page.stat().st_size < MAX_BYTES
    summary = json.loads((folder / "summary.json").read_text())
    result = open_page(page, expect_plots=plots)
    assert result.errors == []
    outside = [u for u in result.requests if not u.startswith(("file:", "data:"))]
    assert outside == []  # self-contained: opens with no network
    assert result.plots >= plots
    assert result.cells, "no summary numbers on the page"
    for key, value, text in result.cells:
        expected = lookup(summary, key)
        assert expected is not None, key
        if isinstance(expected, str):
            assert value == expected and text == expected, key
            continue
        assert json.loads(value) == expected, key  # the exact value of summary.json
        if re.match(r"^-?[0-9.,]+(e[+-]?\d+)?( |$)", text):
            assert shown_value(key, text) == pytest.approx(expected, rel=6e-4), (key, text)
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(result.screenshot)).convert("RGB"))
    ink = (image < 235).any(axis=2).mean()
    assert ink > 0.01, f"screenshot almost blank ({ink:.1%} of pixels drawn)"
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    assert colours > 50, "screenshot has no plot colours"


def test_run_report(monkeypatch, capsys, tmp_path, small_gemms):
    wl = tmp_path / "kernels.yaml"
    wl.write_text(small_gemms, encoding="utf-8")
    cli(monkeypatch, capsys, "run", str(wl), "--compare", "fp16,ant:ant4", "--out",
        str(tmp_path / "a"))
    check_page(tmp_path / "a", plots=2)
    # Byte-identical on a rerun (fixed Bokeh ids).
    cli(monkeypatch, capsys, "run", str(wl), "--compare", "fp16,ant:ant4", "--out",
        str(tmp_path / "b"))
    assert (tmp_path / "a" / "report.html").read_bytes() == \
        (tmp_path / "b" / "report.html").read_bytes()


def test_run_report_of_a_model_shows_ttft_and_tpot(monkeypatch, capsys, tmp_path):
    wl = tmp_path / "phi.yaml"
    wl.write_text("model: phi-2\nprompt_tokens: 32\ngenerate_tokens: 3\n"
                  "weights: {format: int4, group_size: 128}\nhardware: bitmod\n")
    cli(monkeypatch, capsys, "run", str(wl), "--out", str(tmp_path / "o"))
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'data-key="ttft_s"' in html and 'data-key="tpot_s"' in html
    check_page(tmp_path / "o", plots=1)


def test_roofline_report(monkeypatch, capsys, tmp_path):
    wl = tmp_path / "w.yaml"
    wl.write_text("model: phi-2\nprompt_tokens: 64\ngenerate_tokens: 4\n"
                  "weights: {format: int8, group_size: 128}\n")
    cli(monkeypatch, capsys, "roofline", str(wl), "--hardware", "rtx4090", "--out",
        str(tmp_path / "r"))
    check_page(tmp_path / "r", plots=1)


def test_tradeoff_report(monkeypatch, capsys, tmp_path, summary_row):
    q = tmp_path / "q"
    q.mkdir()
    # A quantize summary: only the columns tradeoff reads matter; SQNR rises with the bits.
    rows = {"int4": (4.125, 17.9), "bitmod4": (4.141, 20.0), "int8": (8.125, 38.1)}
    table = pd.DataFrame([summary_row(f, bits_per_weight=b, sqnr_db_mean=d,
                                      model_bytes=b * 1e6 / 8) for f, (b, d) in rows.items()])
    table.insert(1, "checkpoint", "tiny")
    table.to_csv(q / "summary.csv", index=False)
    wl = tmp_path / "w.yaml"
    wl.write_text(yaml.safe_dump({"model": "opt-1.3b", "prompt_tokens": 8,
                                  "generate_tokens": 2, "weights": {"format": "int4"},
                                  "hardware": "bitmod"}))
    cli(monkeypatch, capsys, "tradeoff", str(q), "--workload", str(wl), "-H", "bitmod,ant",
        "--out", str(tmp_path / "t"))
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["fidelity_model"] == "tiny" and summary["pairings"] == 6
    check_page(tmp_path / "t", plots=1)


def test_sweep_report(monkeypatch, capsys, tmp_path, tiny_sweep):
    cli(monkeypatch, capsys, "sweep", str(tiny_sweep), "--out", str(tmp_path / "o"), "-j", "1")
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["finished"] == 4 and summary["front"]
    # Each Pareto point names its axis values on the page.
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'data-key="front.0.axes.weights.format"' in html
    check_page(tmp_path / "o", plots=1)
