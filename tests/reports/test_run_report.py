"""`hwsim run`'s report pieces (`hwsim.reports.run_report`) against the run they describe:
each figure in its own cell and unit."""

from __future__ import annotations

import pytest


def test_design_metrics_ttft_is_the_prefill_latency_in_seconds(batched):
    from hwsim.reports.run_report import design_metrics

    m = design_metrics(batched)
    stages = batched.stage_totals()
    assert m["ttft_s"] == pytest.approx(stages["prefill"]["latency_ms"] / 1e3)
    assert m["tpot_s"] == pytest.approx(stages["decode"]["latency_ms"] / 1e3 / 2)


def test_summary_text_table_cells_match_the_run(batched):
    from hwsim.reports.run_report import design_metrics, summary_text_table
    from hwsim.reports.units import format_number, format_share

    table = summary_text_table([batched], "t")
    row = dict(zip([c.header for c in table.columns], table.rows[0], strict=True))
    assert row["tok/s decode"] == format_number(batched.decode_tokens_per_s)
    assert row["tok/s all"] == format_number(batched.throughput_tokens_per_s)
    assert row["tok/s decode"] != row["tok/s all"]
    # PE/SRAM/DRAM/other; this run is DRAM-bound (~91%), SRAM ~2%, so a swap shows.
    e = batched.energy_breakdown_uj
    parts = [e["pe"], e["sram_weight"] + e["sram_activation"] + e["sram_output"], e["dram"],
             e["dequant"] + e["leakage"]]
    expected = "/".join(format_share(v / batched.energy_uj) for v in parts)
    assert row["energy share PE/SRAM/DRAM/other"] == expected
    assert expected.split("/")[2] == "91"
    assert design_metrics(batched)["energy_shares"]["dram"] == pytest.approx(
        e["dram"] / batched.energy_uj)


def test_vector_ops_line_share_is_a_percent_of_the_latency():
    from hwsim.reports.run_report import vector_ops_line

    vector = {"count": 3, "roofline_time_s": 0.025, "machine": "m"}
    # 100 x 25 ms / 100 ms = 25%.
    assert "(25% of the latency)" in vector_ops_line("bitmod", vector, 0.1)
