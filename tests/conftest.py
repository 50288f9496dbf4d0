"""Suite-wide: the gate-level cache (`hwsim.hw.asic.cache`) goes to a temporary folder per
test process, never to the user's ~/.cache (CLI subprocesses inherit it); the CLI run in this
process (`run_cli`, `run_gemm`); small workloads for CLI and report tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# hwsim.hw.asic.cache.CACHE_ENV, spelled out so collection does not import the ASIC flow.
CACHE_ENV = "HWSIM_CACHE_DIR"


@pytest.fixture(autouse=True, scope="session")
def _private_hwsim_cache(tmp_path_factory):
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("hwsim-cache"))
    yield
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture
def run_cli(monkeypatch) -> Callable[..., int]:
    """Run ``hwsim ARGS`` in this process; returns the exit code."""
    from hwsim.cli import main

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["hwsim", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return run


@pytest.fixture
def run_gemm(run_cli, capsys, tmp_path) -> Callable[..., tuple[int, str, str]]:
    """``hwsim run`` in this process of one GEMM (FP16 activations, ``weights`` in groups of
    128) on the hardware YAML ``hw_path``: (exit code, stdout, stderr). The workload is
    ``tmp_path / (out + ".yaml")``, the outputs go to ``tmp_path / out``."""

    def run(hw_path: Path, weights: str, m: int, n: int, k: int, name: str = "gemm",
            out: str = "out") -> tuple[int, str, str]:
        wl = tmp_path / f"{out}.yaml"
        wl.write_text(f"gemms:\n  - {{name: {name}, m: {m}, n: {n}, k: {k}}}\n"
                      f"weights: {{format: {weights}, group_size: 128}}\n"
                      "activations: {bits: 16}\n")
        code = run_cli("run", str(wl), "-H", str(hw_path), "--out", str(tmp_path / out))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def rtl_figures_stood_in(monkeypatch) -> list[str]:
    """For tests that load every preset: `rtl` PE figures (Yosys and gate simulation, tens of
    seconds per block) become 1.0 each; all else about the description is still validated.
    The real figures are tested in tests/hw/asic (slow, `asic` group). Returns the blocks
    stood in for, one per resolution."""
    from hwsim.hw.asic import pe_costs

    stood_in: list[str] = []

    def stand_in(pe, params, derived):
        stood_in.append(pe.rtl.block)
        # The figures; no energy format or per-format energies recorded.
        return dict.fromkeys(derived, 1.0), None, {}

    monkeypatch.setattr(pe_costs, "_figures", stand_in)
    return stood_in


_SMALL_GEMMS = ("  - {name: g1, m: 64, n: 96, k: 256}\n",
                "  - {name: g2, m: 8, n: 512, k: 128, count: 3}\n")


def _gemm_workload(count: int) -> str:
    return ("gemms:\n" + "".join(_SMALL_GEMMS[:count])
            + "weights: {format: int4, group_size: 128}\nhardware: bitmod\n")


@pytest.fixture
def small_gemms() -> str:
    """A workload of two GEMMs (one repeated 3 times) on `bitmod`: runs in a fraction of a
    second, for CLI and report tests."""
    return _gemm_workload(2)


@pytest.fixture
def one_gemm() -> str:
    """The first GEMM of `small_gemms` alone (k = 256: one int4 group scale per 128 weights,
    one ant4 scale per row)."""
    return _gemm_workload(1)


@pytest.fixture
def tiny_sweep(tmp_path, small_gemms) -> Path:
    """A 4-point grid sweep of `small_gemms` on `bitmod` (array.rows x weights.format); its
    workload is ``k.yaml`` beside it. Returns the sweep file."""
    import yaml

    wl = tmp_path / "k.yaml"
    wl.write_text(small_gemms, encoding="utf-8")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "tiny", "workload": str(wl), "hardware": "bitmod",
        "axes": [{"field": "array.rows", "values": [16, 32]},
                 {"field": "weights.format", "values": ["int4", "bitmod4"]}],
        "objectives": ["latency_ms", "energy_uj"]}), encoding="utf-8")
    return sweep


@pytest.fixture(scope="session")
def summary_row() -> Callable[..., dict]:
    """A row of `hwsim quantize`'s summary.csv for format ``fmt``, valid in every cell
    (`hwsim.reports.fidelity_cost.read_fidelity_dir` checks them), with ``values`` set."""
    from hwsim.reports.fidelity import SUMMARY_COLUMNS, asked_group_size

    def row(fmt: str, **values: object) -> dict:
        group = asked_group_size(fmt, None)
        cells = {"format": fmt, "group_size": "" if group is None else group, "layers": 1,
                 "linear_params": 1024, "bits_per_weight": 4.0, "linear_bytes": 512.0,
                 "model_bytes": 512.0, "compression": 4.0, "mse": 1e-4, "sqnr_db_mean": 20.0,
                 "sqnr_db_min": 18.0, "worst_layer": "l0", "max_abs_error": 0.1,
                 "type_histogram": "", "outlier_pair_rate": float("nan")}
        return {c: cells[c] for c in SUMMARY_COLUMNS} | values

    return row


@pytest.fixture(scope="session")
def batched():
    """`hwsim run`'s result of a batch of 2 (16-token prompts, 3 generated tokens: 2 decode
    steps of 2 sequences each) on bitmod with leakage: figures that differ per token count."""
    from hwsim.hw import load_hardware, with_overrides
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"model": "opt-1.3b", "prompt_tokens": 16, "generate_tokens": 3,
                            "batch": 2, "weights": {"format": "bitmod4", "group_size": 128}})
    return simulate_workload(w, with_overrides(load_hardware("bitmod"), {"leakage_mw": 50.0}))
