"""`hwsim quantize` and `hwsim tradeoff` end to end on a synthetic checkpoint; bad input gives
one line, exit code 2 and no output folder."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.errors import HwsimError

st_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors ([llm] extra) missing")

H, F = 128, 256


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("opt-tiny")
    t = {"model.decoder.embed_tokens.weight": rng.standard_normal((50, H)).astype(np.float32)}
    for name, shape in [("self_attn.q_proj", (H, H)), ("self_attn.k_proj", (H, H)),
                        ("self_attn.v_proj", (H, H)), ("self_attn.out_proj", (H, H)),
                        ("fc1", (F, H)), ("fc2", (H, F))]:
        t[f"model.decoder.layers.0.{name}.weight"] = (
            rng.standard_normal(shape) * 0.02).astype(np.float32)
    (d / "config.json").write_text(json.dumps({"model_type": "opt",
                                               "architectures": ["OPTForCausalLM"]}))
    st_numpy.save_file(t, str(d / "model.safetensors"))
    return d


@pytest.fixture(scope="module")
def quantized(ckpt_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "out"
    result = CliRunner().invoke(app, ["quantize", str(ckpt_dir), "--formats", "int4,bitmod4",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_quantize_writes_tables_and_plots(ckpt_dir, quantized):
    from hwsim.workloads.checkpoints import open_checkpoint

    out, output = quantized
    layers = pd.read_csv(out / "layers.csv")
    # six decoder linears + the tied lm_head, two formats each
    assert len(layers) == 7 * 2
    # The histogram defaults to the worst layer (lowest SQNR) of the first format.
    int4 = layers[layers["format"] == "int4"]
    worst = int4.loc[int4["sqnr_db"].idxmin(), "layer"]
    assert sorted(p.name for p in out.iterdir()) == [
        f"histogram_{worst}.png", "layers.csv", "sqnr_per_layer.png", "summary.csv"]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["format"]) == ["int4", "bitmod4"]
    # The checkpoint measured, for tradeoff to match a fidelity.csv with.
    assert (summary["checkpoint_digest"] == open_checkpoint(ckpt_dir).digest).all()
    assert "bitmod4 groups per type: fp4_er_pos:" in output
    assert "opt-tiny" in output


def test_quantize_is_deterministic(ckpt_dir, quantized, tmp_path):
    out, _ = quantized
    again = tmp_path / "again"
    r = CliRunner().invoke(app, ["quantize", str(ckpt_dir), "--formats", "int4,bitmod4",
                                 "--out", str(again)])
    assert r.exit_code == 0
    for p in out.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name


def _bad(args: list[str], match: str, out) -> None:
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, HwsimError), r.output
    assert match in str(r.exception)
    assert not out.exists()


def test_bad_input_writes_nothing(ckpt_dir, tmp_path):
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    _bad(["quantize", str(tmp_path / "empty"), "--out", str(out)], "no weights", out)
    _bad(["quantize", str(ckpt_dir), "--formats", "int4,fp5x", "--out", str(out)], "fp5x", out)
    _bad(["quantize", str(ckpt_dir), "--formats", "int4,", "--out", str(out)],
         "--formats 'int4,': an empty item", out)
    _bad(["quantize", str(ckpt_dir), "--layers", "", "--out", str(out)],
         "--layers '': an empty item", out)
    _bad(["quantize", str(ckpt_dir), "--histogram-layer", "nope", "--out", str(out)],
         "--histogram-layer 'nope'", out)
    _bad(["tradeoff", str(tmp_path / "empty"), "--out", str(out)], "summary.csv: no such file",
         out)


def test_an_out_that_cannot_be_written_is_refused_before_any_work(ckpt_dir, quantized,
                                                                   tmp_path, monkeypatch):
    # quantize and fidelity said so only after quantizing every layer (58.6 s on MiniLM).
    import hwsim.reports.fidelity as fidelity_module

    def no_work(*args, **kwargs):
        raise AssertionError("quantized before checking --out")

    monkeypatch.setattr(fidelity_module, "layer_fidelity", no_work)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    for command in (["quantize", str(ckpt_dir)], ["fidelity", str(ckpt_dir)],
                    ["tradeoff", str(quantized[0])]):
        result = CliRunner().invoke(app, [*command, "--out", str(a_file / "sub")])
        assert isinstance(result.exception, HwsimError), (command, result.output)
        assert f"--out {a_file / 'sub'}: {a_file} is not a folder" in str(result.exception)
    assert a_file.read_text() == "mine"


def test_corrupt_checkpoint_one_line_exit_2(ckpt_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((ckpt_dir / "config.json").read_text())
    data = (ckpt_dir / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hwsim", "quantize", str(bad), "--out",
                           str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt or truncated" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_tradeoff_with_and_without_a_workload(quantized, tmp_path):
    out, _ = quantized
    r = CliRunner().invoke(app, ["tradeoff", str(out), "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "pareto_bits.png", "report.html", "summary.json", "tradeoff.csv"]
    wl = tmp_path / "w.yaml"
    wl.write_text(yaml.safe_dump({"model": "opt-1.3b", "prompt_tokens": 8, "generate_tokens": 2,
                                  "weights": {"format": "int4"}, "hardware": "bitmod"}))
    r = CliRunner().invoke(app, ["tradeoff", str(out), "--workload", str(wl), "--x", "latency",
                                 "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "b" / "tradeoff.csv")
    assert list(t["format"]) == ["int4", "bitmod4"]
    assert (t["hardware"] == "bitmod").all() and (t["latency_ms"] > 0).all()
    assert (tmp_path / "b" / "pareto_latency.png").exists()
    _bad(["tradeoff", str(out), "--workload", str(wl), "--figure-format", "png,jpg", "--out",
          str(tmp_path / "c")], "--figure-format 'png,jpg'", tmp_path / "c")
    _bad(["tradeoff", str(out), "--x", "area", "--out", str(tmp_path / "c")], "--x 'area'",
         tmp_path / "c")
    _bad(["tradeoff", str(out), "--hardware", "bitmod", "--out", str(tmp_path / "c")],
         "--hardware needs --workload", tmp_path / "c")
    _bad(["tradeoff", str(out), "--x", "energy", "--out", str(tmp_path / "c")],
         "--x energy needs --workload", tmp_path / "c")
    _bad(["tradeoff", str(out), "-g", "64", "--out", str(tmp_path / "c")],
         "--group-size needs --workload", tmp_path / "c")
    _bad(["tradeoff", str(out / "summary.csv"), "--out", str(tmp_path / "c")],
         "summary.csv: a file, not the folder `hwsim quantize --out` wrote", tmp_path / "c")
    # No format costed on the designs given: one line saying why each was not, no empty plot.
    _bad(["tradeoff", str(out), "--workload", str(wl), "-H", "fp16", "--out",
          str(tmp_path / "c")], "no format has a figure to plot on --x energy (int4: not "
         "costed: fp16 stores its own weight format; bitmod4: not costed", tmp_path / "c")
    # A cost at another group size than the one measured pairs two different quantizations.
    _bad(["tradeoff", str(out), "--workload", str(wl), "-g", "32", "--x", "latency",
          "--out", str(tmp_path / "c")], f"--group-size 32: {out} measured int4 at group size "
         "128; each format is costed at the group size it was measured at", tmp_path / "c")


def test_tradeoff_pairs_formats_with_designs_and_names_both_models(ckpt_dir, quantized,
                                                                   tmp_path):
    out, _ = quantized
    wl = tmp_path / "w.yaml"
    wl.write_text(yaml.safe_dump({"model": "opt-1.3b", "prompt_tokens": 8, "generate_tokens": 2,
                                  "weights": {"format": "int4"}, "hardware": "bitmod"}))
    r = CliRunner().invoke(app, ["tradeoff", str(out), "--workload", str(wl), "-H",
                                 "bitmod,ant,fp16", "--figure-format", "png,pdf,svg", "--out",
                                 str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "p" / "tradeoff.csv")
    # Both formats run on both the BitMoD and the ANT PE: one row per pairing, none on fp16.
    assert list(zip(t["format"], t["hardware"], strict=True)) == [
        ("int4", "bitmod"), ("int4", "ant"), ("bitmod4", "bitmod"), ("bitmod4", "ant")]
    ckpt_name = ckpt_dir.name  # `quantize` records the checkpoint it measured
    assert (t["checkpoint"] == ckpt_name).all()
    files = {p.suffix: p for p in (tmp_path / "p").glob("pareto_energy.*")}
    assert set(files) == {".png", ".pdf", ".svg"}
    assert files[".pdf"].read_bytes()[:5] == b"%PDF-"
    svg = files[".svg"].read_text()
    # The axes name the fidelity model and the costed workload, and the legend the designs.
    assert f"{ckpt_name}: mean layer SQNR (dB)" in svg
    assert "energy per run of w (opt-1.3b)" in svg
    assert "on bitmod" in svg and "on ant" in svg


@pytest.mark.parametrize("command", ["quantize", "tradeoff"])
def test_a_non_positive_group_size_is_refused_at_the_cli(ckpt_dir, quantized, tmp_path,
                                                         command):
    # tradeoff used to exit 0 with a CSV of "not simulated ... group_size" rows.
    out = tmp_path / "out"
    source = str(ckpt_dir) if command == "quantize" else str(quantized[0])
    extra = ["--workload", "llama-2-7b-generative"] if command == "tradeoff" else []
    for g in ("0", "-8"):
        _bad([command, source, *extra, "-g", g, "--out", str(out)],
             f"--group-size must be a positive integer, not {g}", out)


@pytest.mark.parametrize("scale, message", [
    (np.nan, "model.decoder.layers.0.fc1.weight: NaN at index (0, 0)"),
    # A scale overflow named neither the file nor the tensor (and advised an API option).
    (1e38, "model.decoder.layers.0.fc1.weight: int4 scale overflows its storage format fp16"),
])
def test_a_refused_weight_names_the_checkpoint_and_tensor(ckpt_dir, tmp_path, scale, message):
    import shutil

    d = tmp_path / "bad"
    shutil.copytree(ckpt_dir, d)
    t = st_numpy.load_file(str(d / "model.safetensors"))
    fc1 = "model.decoder.layers.0.fc1.weight"
    t[fc1] = t[fc1] * np.float32(scale) if np.isfinite(scale) else t[fc1].copy()
    if not np.isfinite(scale):
        t[fc1][0, 0] = scale
    st_numpy.save_file(t, str(d / "model.safetensors"))
    out = tmp_path / "out"
    _bad(["quantize", str(d), "-f", "int4", "--out", str(out)], f"{d}: {message}", out)


def _invoke_into(out) -> Callable[..., None]:
    def invoke(*args: str) -> None:
        r = CliRunner().invoke(app, [*args, "--out", str(out)])
        assert r.exit_code == 0, r.output

    return invoke


def test_a_quantize_removes_only_the_histogram_its_earlier_run_drew(ckpt_dir, tmp_path):
    # Another --histogram-layer left the earlier histogram beside the new one; a file of the
    # user's is never touched.
    out = tmp_path / "o"
    invoke = _invoke_into(out)
    invoke("quantize", str(ckpt_dir), "--formats", "int4")
    first = next(out.glob("histogram_*.png")).name
    (out / "histogram_mine.png").write_bytes(b"mine")
    other = "model.decoder.layers.0.self_attn.q_proj"
    assert first != f"histogram_{other}.png"
    invoke("quantize", str(ckpt_dir), "--formats", "int4", "--histogram-layer", other)
    assert {p.name for p in out.glob("histogram_*.png")} == {f"histogram_{other}.png",
                                                             "histogram_mine.png"}
    assert pd.read_csv(out / "summary.csv")["histogram_layer"].tolist() == [other]
    invoke("quantize", str(ckpt_dir), "--formats", "int4")
    assert {p.name for p in out.glob("histogram_*.png")} == {first, "histogram_mine.png"}


def test_a_tradeoff_removes_only_the_figures_its_earlier_run_wrote(ckpt_dir, tmp_path):
    # Without -w, or with another --figure-format, the earlier Pareto plot stayed.
    out = tmp_path / "o"
    invoke = _invoke_into(out)
    invoke("quantize", str(ckpt_dir), "--formats", "int4")
    (out / "pareto_bits.pdf").write_bytes(b"mine")  # named like a figure tradeoff never wrote
    invoke("tradeoff", str(out), "--figure-format", "png,svg")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["written_by"] == "hwsim tradeoff"
    assert sorted(summary["files"]) == ["pareto_bits.png", "pareto_bits.svg", "report.html",
                                        "tradeoff.csv"]
    invoke("tradeoff", str(out))
    assert sorted(p.name for p in out.glob("pareto_*")) == ["pareto_bits.pdf", "pareto_bits.png"]
    # quantize's files are not tradeoff's, and the other way round.
    quantized = {p.name for p in out.iterdir()} - {"tradeoff.csv", "report.html", "summary.json",
                                                   "pareto_bits.pdf", "pareto_bits.png"}
    invoke("quantize", str(ckpt_dir), "--formats", "int4")
    invoke("tradeoff", str(out), "--figure-format", "svg")
    assert quantized | {"pareto_bits.pdf", "pareto_bits.svg"} <= {p.name for p in out.iterdir()}
    assert not (out / "pareto_bits.png").exists()


def test_quantize_says_the_compression_is_of_the_linear_weights(ckpt_dir, tmp_path):
    # "smaller (x)" beside "model size (MB)" read as the model's compression, which is less.
    r = CliRunner().invoke(app, ["quantize", str(ckpt_dir), "--formats", "int4", "--out",
                                 str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "linear weights smaller (x)" in r.output
