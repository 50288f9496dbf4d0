"""`hwsim area`: bad input is one line and exit 2 with nothing written; a real run's files."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "unknown RTL block"),
    (["int_mac", "-p", "lanes=99"], "lanes = 99 is not allowed"),
    (["int_mac", "-p", "color=red"], "no parameter 'color'"),
    (["int_mac", "--node", "7nm"], "no calibration"),
])
def test_bad_input(run_cli, tmp_path, capsys, args, message):
    out = tmp_path / "o"
    assert run_cli("area", *args, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_file_as_the_cache_folder_is_named(run_cli, tmp_path, capsys, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(afile))
    out = tmp_path / "o"
    assert run_cli("area", "int_mac", "--out", str(out)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"cache folder {afile} ($HWSIM_CACHE_DIR, else the default) exists and is not a " \
        "folder" in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.xdist_group("asic")
def test_area_run_writes_table_json_chart(run_cli, tmp_path, capsys, monkeypatch, asic_cache):
    # `asic_cache`: the calibration blocks are in this process' memo (computed once per run);
    # the block asked for is not, and goes to this run's own cache folder.
    out, cache = tmp_path / "o", tmp_path / "cache"
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(cache))
    assert run_cli("area", "dint_mac", "-p", "k=16", "--out", str(out)) == 0
    text = capsys.readouterr().out
    assert "NAND2 eq" in text and "calibration 28nm" in text and "leave" not in text.lower()
    # The netlist and cost go to the cache folder, not under --out.
    assert {p.name for p in out.iterdir()} == {"area.json", "area.txt", "subblocks.png"}
    assert list(cache.glob("netlist-*.json")) and list(cache.glob("cost-*.json"))
    rep = json.loads((out / "area.json").read_text())
    assert rep["block"] == "dint_mac" and rep["params"]["k"] == 16
    assert "_lines" not in rep   # the text report's lines are area.txt's
    assert rep["energy"][0]["weight_format"] == "dint4"
    assert rep["area_um2"] == pytest.approx(
        rep["library_area_um2"] * rep["calibration"]["area_um2_per_library_um2"], rel=1e-4)
    names = [b["name"] for b in rep["calibration"]["blocks"]]
    assert "BitMoD PE" in names and "FP16 MAC (mul + add)" in names
    assert (out / "area.txt").read_text().splitlines()[0].startswith("dint_mac")
    # The default-activity figure its warning speaks of is printed, and the calibration's
    # approximate rows are in the JSON as in the table.
    assert rep["default_activity_pj_per_cycle"] > 0
    assert "default activity (the published figures' basis): " \
        f"{rep['default_activity_pj_per_cycle']:.4f} pJ/cycle" in text
    unconverged = rep["calibration"]["default_activity_unconverged"]
    assert all(name in " ".join(text.split()) for name in unconverged)
