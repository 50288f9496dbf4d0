"""`hwsim verilog`: listing, Verilog + JSON output, byte-identical reruns, Verilator lint."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hwsim.hw.rtl.registry import list_blocks


def _hwsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hwsim", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def test_list_shows_every_block_and_parameter():
    res = _hwsim("verilog", "--list")
    assert res.returncode == 0, res.stderr
    for block in list_blocks():
        assert f"{block.name}:" in res.stdout
        for p in block.params:
            assert f"{p.name}={p.default}" in res.stdout


def test_writes_verilog_and_json_byte_identical_on_rerun(tmp_path):
    outs = []
    for run in ("a", "b"):
        res = _hwsim("verilog", "pe_array", "--param", "rows=2", "--param", "cols=3",
                     "-p", "weights=int4", "--out", str(tmp_path / run))
        assert res.returncode == 0, res.stderr
        outs.append({p.name: p.read_bytes() for p in (tmp_path / run).iterdir()})
    assert sorted(outs[0]) == ["pe_array.json", "pe_array.v"]
    assert outs[0] == outs[1]
    desc = json.loads(outs[0]["pe_array.json"])
    assert desc["params"]["rows"] == 2 and desc["params"]["weights"] == "int4"
    # Every port of the JSON is a port of the Verilog module, with the same width.
    text = outs[0]["pe_array.v"].decode()
    for port in desc["ports"]:
        decl = re.search(rf"^\s*(input|output) (\[(\d+):0\] )?{port['name']};", text, re.M)
        assert decl, port["name"]
        width = int(decl.group(3)) + 1 if decl.group(3) else 1
        assert (decl.group(1), width) == (port["direction"] + "put", port["width"])
    # 2 x 3 PEs of out_width bits each.
    out = next(p for p in desc["ports"] if p["name"] == "out")
    assert out["width"] == 6 * desc["derived"]["out_width"]


@pytest.mark.parametrize(("args", "message"), [
    (["bitmod_pe", "-p", "weights=int9"], "weights = 'int9' is not allowed; allowed: fp3"),
    (["bitmod_pe", "-p", "lanes=0"], "parameter lanes = 0 is not allowed; allowed: integers 1..16"),
    (["bitmod_pe", "-p", "lanes=four"], "parameter lanes must be an integer"),
    (["bitmod_pe", "-p", "rows=2"], "block bitmod_pe has no parameter 'rows'; its parameters:"),
    (["bitmod_pe", "-p", "lanes"], "--param expects key=value, not 'lanes'"),
    (["pe_array", "-p", "dequantizer=col"],
     "parameter dequantizer = 'col' is not allowed; allowed: per_pe, row"),
    (["bitmod_pe", "-p", "dequantizer=row"], "block bitmod_pe has no parameter 'dequantizer'"),
    (["bitmod_pex"], "unknown RTL block 'bitmod_pex' (did you mean bitmod_pe"),
    ([], "give a block name"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = _hwsim("verilog", *args, "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert message in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.rtl
def test_every_block_passes_verilator_lint(tmp_path, sim_env):
    from rtl_env import require_simulator

    from hwsim.hw.rtl.verilog import write_block

    require_simulator("verilator")
    for block in list_blocks():
        v_path, _ = write_block(block.name, {}, tmp_path)
        res = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "--top-module",
                              block.name, str(v_path)], capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0 and "%Error" not in res.stderr, res.stderr[-2000:]


def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path):
    res = _hwsim("verilog", "int_mac", "--out", "/dev/null/x")
    assert res.returncode == 2 and "cannot write" in res.stderr
    assert "Traceback" not in res.stderr
