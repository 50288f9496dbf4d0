"""`hwsim run` figures: every requested file format, reproducible bytes, labelled contents."""


import re

import pytest


def test_figures_in_every_format_and_byte_identical(run_cli, tmp_path, one_gemm):
    wl = tmp_path / "kernels.yaml"
    wl.write_text(one_gemm, encoding="utf-8")
    for name in ("a", "b"):
        code, cap = run_cli("run", str(wl), "--compare", "fp16,ant:ant4",
                            "--figure-format", "png,pdf,svg", "--out", str(tmp_path / name))
        assert code == 0, cap.err
    stems = ("latency_breakdown", "energy_breakdown", "comparison")
    for stem in stems:
        for fmt in ("png", "pdf", "svg"):
            a = (tmp_path / "a" / f"{stem}.{fmt}").read_bytes()
            assert a == (tmp_path / "b" / f"{stem}.{fmt}").read_bytes(), (stem, fmt)
    svg = (tmp_path / "a" / "energy_breakdown.svg").read_text()
    # The title names the workload, each bar its design and the weight format it ran.
    assert "kernels: energy by component" in svg
    # int4: 4 bits + an FP16 scale per 128 weights; ant4: one FP16 scale per row of k = 256.
    assert "bitmod (int4, 4.12 b/w)" in svg  # 4 + 16 / 128 = 4.125
    assert "ant:ant4 (ant4, 4.06 b/w)" in svg  # 4 + 16 / 256 = 4.0625
    assert "fp16 (fp16, 16 b/w)" in svg
    comparison = (tmp_path / "a" / "comparison.svg").read_text()
    assert "1x" in comparison  # values written on the bars (the baseline's own is 1x)


def test_a_figures_bytes_do_not_depend_on_the_formats_saved_before_it():
    # Constrained layout ran again at each save, from where the last left it: an SVG saved
    # after a PNG differed from one saved alone (17,876 PNG pixels moved in the roofline).
    from hwsim.reports.figure_style import figure_bytes, new_figure

    def drawn():
        fig = new_figure()
        ax = fig.subplots()
        ax.plot([1, 2, 3], [10, 1000, 100])
        ax.set_title("a title long enough to move the layout when laid out again")
        ax.set_ylabel("energy, uJ")
        return fig

    alone = {fmt: figure_bytes(drawn(), fmt) for fmt in ("png", "pdf", "svg")}
    for order in (("png", "svg", "pdf"), ("svg", "pdf", "png"), ("pdf", "png", "svg", "png")):
        fig = drawn()
        assert {fmt: figure_bytes(fig, fmt) for fmt in order} == alone, order


def test_a_bad_figure_format_is_one_line(run_cli, tmp_path):
    code, cap = run_cli("run", "--figure-format", "png,gif", "--out", str(tmp_path / "x"))
    assert code == 2
    assert "--figure-format 'png,gif': expected a comma-separated list of png, pdf, svg" in \
        " ".join(cap.err.split())
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("text", ["png", "svg, PNG"])
def test_figure_formats_parse(text):
    from hwsim.reports.figure_style import parse_figure_formats

    assert parse_figure_formats(text) == tuple(t.strip().lower() for t in text.split(","))


@pytest.mark.parametrize(("text", "message"), [
    ("svg,png,svg", "--figure-format 'svg,png,svg': svg given twice"),
    ("png,PNG", "--figure-format 'png,PNG': png given twice"),
    ("png,", "--figure-format 'png,': an empty item"),
])
def test_a_repeated_or_empty_figure_format_is_refused(text, message):
    from hwsim.errors import HwsimError
    from hwsim.reports.figure_style import parse_figure_formats

    with pytest.raises(HwsimError, match=re.escape(message)):
        parse_figure_formats(text)


def test_figure_labels_are_in_the_units_of_the_run():
    from hwsim.hw import load_hardware
    from hwsim.reports.figure_style import figure_bytes
    from hwsim.reports.run_plots import energy_figure, latency_figure
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"model": "opt-1.3b", "batch": 4, "prompt_tokens": 64,
                            "generate_tokens": 5})
    r = simulate_workload(w, load_hardware("bitmod"))
    stages = r.stage_totals()
    # ~16,300 uJ per token reads in mJ; prefill ~660 ms, decode ~335 ms on a ms axis.
    per_token = r.energy_per_token_uj
    assert 1e4 < per_token < 1e5
    energy = figure_bytes(energy_figure([r], "b4"), "svg").decode()
    assert f"{per_token / 1e3:.1f} mJ/token" in energy
    latency = figure_bytes(latency_figure([r], "b4"), "svg").decode()
    assert "latency (ms)" in latency
    for stage in ("prefill", "decode"):
        assert 100 < stages[stage]["latency_ms"] < 1000
        assert f"{stages[stage]['latency_ms']:.1f} ms" in latency
