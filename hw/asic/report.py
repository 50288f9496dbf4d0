"""`hwsim area` outputs: one block's calibrated cost as a table, JSON and a sub-block chart."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from hwsim.hw.asic.calibration import RATIO_SOURCE, Calibration
from hwsim.hw.asic.cost import BlockCost

__all__ = ["area_report", "calibration_lines", "calibration_markdown", "cost_lines",
           "write_area_report"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.0f}%"


def _approximate_mw(cal: Calibration) -> str:
    """The caveat on the unconverged rows' default-activity mW (and ratios' power), worded
    alike in the CLI's table and the README's."""
    return ("those power figures are approximate" if len(cal.unconverged) > 1
            else "that power figure is approximate")


def area_report(cost: BlockCost, cal: Calibration) -> dict:
    """JSON-ready result: the block's gates, areas, energy per cycle and the calibration."""
    energy = [{
        "weight_format": act.weight_format,
        "operands": act.operand_source,
        "pj_per_cycle": round(cal.energy_pj(act.switching.total), 6),
        "pj_per_weight": round(cal.energy_pj(act.units_per_weight), 6),
        "pj_per_cycle_clock": round(cal.energy_pj(act.switching.clock), 6),
        "pj_per_cycle_by_subblock": {k: round(cal.energy_pj(v), 6)
                                     for k, v in act.switching.by_subblock.items()},
        "toggle_rate": round(act.switching.toggle_rate, 6),
        "cycles_simulated": act.cycles,
        "gates_match_golden_model": True,
    } for act in cost.activity]
    return {
        "block": cost.block,
        "params": cost.params,
        "verilog_sha256": cost.verilog_sha256,
        "library": cost.library,
        "node": cal.node,
        "cells": cost.cells,
        "flops": cost.flops,
        "nand2_equivalents": round(cost.nand2_eq, 1),
        "library_area_um2": round(cost.area_um2, 3),
        "area_um2": round(cal.area_um2(cost), 3),
        "subblocks": {k: {"nand2_equivalents": round(v / cost.area_um2 * cost.nand2_eq, 1),
                          "area_um2": round(v * cal.area_per_lib_um2, 3)}
                      for k, v in cost.subblock_area_um2.items()},
        "energy": energy,
        # At a synthesis tool's default activity (the published figures' basis), the block
        # analysed whole; the unconverged scopes' figures are approximate.
        "default_activity_pj_per_cycle": round(cal.energy_pj(cost.default_block), 6),
        "default_activity_unconverged": list(cost.default_unconverged),
        "calibration": {
            "area_um2_per_library_um2": round(cal.area_per_lib_um2, 6),
            "pj_per_switched_um2": round(cal.pj_per_unit, 9),
            "blocks": [{k: (round(v, 4) if isinstance(v, float) else v)
                        for k, v in asdict(r).items()} for r in cal.rows],
            "mac_area_order": dict(zip(("published", "ours", "not_estimated"),
                                       cal.mac_order(), strict=True))
            | {"reproduced_where_estimated": cal.mac_order_reproduced()},
            "unfitted_ratios": [{"ratio": r.name, "scope": r.scope,
                                 "published_area": r.published_area, "area": round(r.area, 3),
                                 "published_power": r.published_power,
                                 "power": round(r.power, 3)} for r in cal.ratios],
            "unfitted_ratios_source": RATIO_SOURCE if cal.ratios else None,
            # The published blocks and ratios (``"name (scope)"``) whose default-activity
            # power is approximate (area.txt's warning).
            "default_activity_unconverged": list(cal.unconverged),
        },
    }


def cost_lines(report: dict) -> list[str]:
    """The block's table as text lines."""
    lines = [f"{report['block']} {report['params']}",
             f"  {report['nand2_equivalents']:.0f} NAND2 eq ({report['library']}), "
             f"{report['area_um2']:.1f} um^2 at {report['node']}, {report['flops']} flip-flops"]
    energies = report["energy"]
    if not energies:
        lines.append("  energy: not modelled (no operand model for this block)")
    for e in energies:
        lines.append(f"  energy, {e['weight_format']} weights: {e['pj_per_cycle']:.4f} "
                     f"pJ/cycle (clock {e['pj_per_cycle_clock']:.4f}), "
                     f"{e['pj_per_weight']:.4f} pJ/weight; gates match the golden model")
    if energies:
        lines.append(f"  operands: {energies[0]['operands']}")
    lines.append(f"  at a synthesis tool's default activity (the published figures' basis): "
                 f"{report['default_activity_pj_per_cycle']:.4f} pJ/cycle")
    scopes = report["default_activity_unconverged"]
    if scopes:
        what = ("the figure above is approximate" if "block" in scopes else
                "their own figures, summed where a published block is those parts, are "
                "approximate; the figure above is not")
        lines.append("  warning: default-activity propagation stopped before converging in: "
                     f"{', '.join(scopes)} ({what})")
    lines.append(f"  {'sub-block':<22}{'NAND2 eq':>10}{'um^2':>10}{'pJ/cycle':>10}")
    by_e = energies[0]["pj_per_cycle_by_subblock"] if energies else {}
    for name, v in report["subblocks"].items():
        pj = by_e.get(name)
        lines.append(f"  {name:<22}{v['nand2_equivalents']:>10.0f}{v['area_um2']:>10.1f}"
                     f"{'-' if pj is None else f'{pj:.4f}':>10}")
    return lines


def calibration_lines(cal: Calibration) -> list[str]:
    """The calibration table: every published block, our estimate, errors, LOO errors."""
    lines = [f"calibration {cal.node}: {cal.area_per_lib_um2:.4f} um^2 per library um^2, "
             f"{cal.pj_per_unit * 1e3:.4f} fJ per switched um^2 (fitted on the * blocks; mW "
             "at the default activity, 'real' on real operands)",
             f"  {'published block':<30}{'um^2':>8}{'ours':>8}{'err':>6}{'loo':>6}"
             f"{'mW':>8}{'ours':>8}{'err':>6}{'loo':>6}{'real':>8}{'err':>6}"]
    for r in cal.rows:
        ours_a = "-" if r.area_um2 is None else f"{r.area_um2:.0f}"
        ours_p = "-" if r.power_mw is None else f"{r.power_mw:.3f}"
        real_p = "-" if r.power_real_mw is None else f"{r.power_real_mw:.3f}"
        lines.append(f"  {r.name + (' *' if r.fit else ''):<30}{r.published_area_um2:>8.0f}"
                     f"{ours_a:>8}{_pct(r.area_error):>6}{_pct(r.area_loo_error):>6}"
                     f"{r.published_power_mw:>8.3f}{ours_p:>8}{_pct(r.power_error):>6}"
                     f"{_pct(r.power_loo_error):>6}{real_p:>8}{_pct(r.power_real_error):>6}")
    for r in cal.ratios:
        lines.append(f"  unfitted {r.name}, {r.scope}: area {r.area:.2f}x (published "
                     f"{r.published_area}x, {_pct(r.area_error)}), power {r.power:.2f}x "
                     f"(published {r.published_power}x, {_pct(r.power_error)})")
    if cal.ratios:
        lines.append(f"  (ratios unfitted, power at the default activity; {RATIO_SOURCE})")
    published, ours, missing = cal.mac_order()
    verdict = "reproduced" if cal.mac_order_reproduced() else "NOT reproduced"
    lines.append(f"  MAC area order, published: {' < '.join(published)}")
    lines.append(f"  MAC area order, ours: {' < '.join(ours)} ({verdict}"
                 + (f"; not estimated: {', '.join(missing)})" if missing else ")"))
    if cal.unconverged:
        lines.append("  warning: default-activity propagation stopped before converging for: "
                     f"{', '.join(cal.unconverged)} ({_approximate_mw(cal)})")
    lines.append("  where our RTL differs from the published block:")
    lines.extend(f"    {r.name}: {r.note}" for r in cal.rows if r.note)
    return lines


def calibration_markdown(cal: Calibration) -> str:
    """The calibration as the Markdown table and lines of ``hw/asic/README.md`` (written there
    by ``benchmarks/bench_area.py --write-docs``; a test checks the README against it)."""
    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = [f"Constants: {cal.area_per_lib_um2:.4f} um^2 at {cal.node} per sky130 um^2, "
             f"{cal.pj_per_unit * 1e3:.4f} fJ per um^2 of switched gate/diffusion area "
             "(fitted on the * blocks). mW: ours at the synthesis tool's default activity "
             "(the published figures' basis), and on real operands.", "",
             "| published block | um^2 | ours | error | LOO | mW | ours | error | LOO "
             "| real operands | error |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in cal.rows:
        lines.append(f"| {r.name}{' *' if r.fit else ''} | {r.published_area_um2:.0f} | "
                     f"{num(r.area_um2, '.0f')} | {_pct(r.area_error)} | "
                     f"{_pct(r.area_loo_error)} | {r.published_power_mw:.3f} | "
                     f"{num(r.power_mw, '.3f')} | {_pct(r.power_error)} | "
                     f"{_pct(r.power_loo_error)} | {num(r.power_real_mw, '.3f')} | "
                     f"{_pct(r.power_real_error)} |")
    lines.append("")
    if cal.ratios:
        lines += ["| unfitted ratio, scope | area | published | error | power (default "
                  "activity) | published | error |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r.name}, {r.scope} | {r.area:.2f}x | {r.published_area}x | "
                  f"{_pct(r.area_error)} | {r.power:.2f}x | {r.published_power}x | "
                  f"{_pct(r.power_error)} |" for r in cal.ratios]
        lines += ["", f"Ratio source: {RATIO_SOURCE}."]
    published, ours, missing = cal.mac_order()
    verdict = "reproduced" if cal.mac_order_reproduced() else "**not reproduced**"
    lines.append(f"MAC area order, published: {' < '.join(published)}; ours: "
                 f"{' < '.join(ours)} ({verdict}"
                 + (f"; not estimated: {', '.join(missing)})." if missing else ")."))
    if cal.unconverged:
        lines.append("Default-activity propagation stopped at its pass limit before converging "
                     f"for: {', '.join(cal.unconverged)} ({_approximate_mw(cal)}).")
    return "\n".join(lines) + "\n"


def write_area_report(report: dict, out: Path) -> list[Path]:
    """``area.json``, ``area.txt`` and ``subblocks.png`` in ``out``."""
    # A Figure on its own Agg canvas: pyplot would switch the caller's backend (a notebook's).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    j, t, png = out / "area.json", out / "area.txt", out / "subblocks.png"
    report = dict(report)
    lines = report.pop("_lines", [])   # the text report's, not a figure of area.json
    j.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    t.write_text("\n".join(lines) + "\n")
    names = list(report["subblocks"])
    fig = Figure(figsize=(10, 0.45 * len(names) + 1.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 2)
    ax[0].barh(names, [report["subblocks"][n]["area_um2"] for n in names], color="tab:blue")
    ax[0].set_xlabel(f"area, um^2 at {report['node']}")
    by_e = report["energy"][0]["pj_per_cycle_by_subblock"] if report["energy"] else {}
    ax[1].barh(names, [by_e.get(n, 0.0) for n in names], color="tab:orange")
    first = report["energy"][0]["weight_format"] if report["energy"] else None
    ax[1].set_xlabel(f"energy, pJ/cycle ({first} weights)" if first else "energy: not modelled")
    ax[1].set_yticks([])
    fig.suptitle(f"{report['block']}: sub-blocks")
    fig.tight_layout()
    fig.savefig(png, dpi=100, metadata={"Software": None})
    return [j, t, png]
