"""The FPGA scaling study as tables and figures: peak MAC rates per PE kind and format.

`hwsim.hw.fpga.scaling` finds the largest array of each PE kind a device holds; this module
turns the points into a table (with the cycles per MAC from each kind's cycle model,
`hwsim.sim.kind_models`), a Markdown table, a bar chart and one hardware YAML per point.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.hw.fpga import (
    SCALING_KINDS,
    ScalingPoint,
    fpga_hardware,
    get_device,
    hardware_yaml_header,
    list_devices,
    peak_macs_per_s,
    write_hardware_yaml,
)
from hwsim.hw.pe_kinds import get_pe_kind, pe_for_block
from hwsim.reports.output_files import digest, earlier_files, remove_stale_files, write_file
from hwsim.reports.roofline_report import markdown_table
from hwsim.sim.kind_models import cycle_model

__all__ = ["cycles_per_lane_mac", "scaling_table", "write_scaling_outputs"]

SCALE_COMMAND = "hwsim fpga-scale"  # scaling.json's ``written_by``


def cycles_per_lane_mac(study: str, weight_format: str, params: Mapping[str, Any]) -> float:
    """Steady-state cycles one PE lane spends per weight, from the PE kind's cycle model.

    Args:
        study: the study's name for the PE (a key of `SCALING_KINDS`).
        weight_format: a `hwsim.dtypes` format name.
        params: the block's parameters (as `Implementation.params` holds them).

    BitMoD: cycles per quantization group (`bitmod_pe_group_cycles`, accumulation overlapped
    with the previous group's dequantization) x lanes / group size. The others: a reduction
    of 8192 (a multiple of every lane count) x lanes / 8192 (`CycleModel.lane_mac_cycles`).

    Raises:
        HwsimError: unknown study, or a format the PE cannot run.
    """
    if study not in SCALING_KINDS:
        raise HwsimError(f"unknown PE kind {study!r}; allowed: {', '.join(SCALING_KINDS)}")
    known = SCALING_KINDS[study]
    # The study's own parameters stand in for any the build does not record.
    pe_fields, _rows, _cols = pe_for_block(known.block, {**known.params, **params})
    pe = get_pe_kind(pe_fields["kind"]).spec(**pe_fields)
    return cycle_model(pe.kind).lane_mac_cycles(pe, get_format(weight_format),
                                                params.get("group_size"))

def scaling_table(points: list[ScalingPoint]) -> pd.DataFrame:
    """One row per (scaling point, weight format): the array, its use of the device, the
    ceiling on the device's logic its search ran with (100: none), fmax and how nextpnr
    placed it (`hwsim.hw.fpga.flow.PLACERS`), peak GMAC/s
    (`hwsim.hw.fpga.peak_macs_per_s` with `cycles_per_lane_mac`).

    Rows are grouped by device, then PE kind (study order), hard multipliers before LUT-only
    builds, whatever order the points come in."""
    devices, kinds = list_devices(), list(SCALING_KINDS)
    points = sorted(points, key=lambda p: (devices.index(p.device), kinds.index(p.kind),
                                           not p.implementation.dsp))
    rows = []
    for p in points:
        impl = p.implementation
        logic, dsp = impl.resource("logic"), impl.resource("dsp")
        for fmt in SCALING_KINDS[p.kind].weight_formats:
            cpm = cycles_per_lane_mac(p.kind, fmt, impl.params)
            rows.append({
                "kind": p.kind,
                "device": p.device,
                "dsp": impl.dsp,
                "array": f"{p.rows}x{p.cols}",
                "pes": p.pes,
                "lanes": p.lanes,
                "logic": logic.used,
                "logic_pct": round(logic.percent, 1),
                "max_logic_pct": round(100 * p.max_logic, 1),
                "dsp_used": dsp.used,
                "dsp_available": dsp.available,
                "fmax_mhz": impl.min_fmax_mhz,
                "placer": impl.placer,
                # The part with its grade: text, so an iCE40 row (no grade) is no NaN.
                "part": get_device(p.device).part_name(impl.speed_grade),
                "weight_format": fmt,
                "cycles_per_mac": round(cpm, 4),
                "peak_gmac_s": round(peak_macs_per_s(p, cpm) / 1e9, 3),
            })
    return pd.DataFrame(rows)


def write_scaling_outputs(points: list[ScalingPoint], table: pd.DataFrame, out: Path, *,
                          memory: str = "sdram16", failed: Collection[str] = ()) -> list[Path]:
    """Write scaling.json, scaling.md, scaling.png and one hardware YAML per point into
    ``out``; returns the paths.

    scaling.json records the SHA-256 of every other file (``files``); a rerun removes what
    the earlier one recorded and this one does not write (another kind's design point, a
    LUT-only variant), unless its bytes changed since, or it is the design point of a kind
    in `failed` (this run's search for it failed: the earlier result stays, still
    recorded). The tools' shape folders (``<kind>_<rows>x<cols>``) are their logs and stay."""
    out.mkdir(parents=True, exist_ok=True)
    earlier = earlier_files(out, SCALE_COMMAND, _owned, record="scaling.json")
    kept = {name: sha for name, sha in earlier.items()
            if name.startswith(tuple(f"fpga-{kind}-" for kind in failed))
            and (out / name).is_file()}
    paths = [out / "scaling.json", out / "scaling.md", out / "scaling.png"]
    write_file(paths[1], markdown_table(table))
    # One horizontal bar per (array, format); a log axis, since rates span 1000x.
    fig = Figure(figsize=(8, 0.8 + 0.28 * max(len(table), 1)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    labels = [f"{r.kind} {r.array} {'DSP' if r.dsp_used else 'LUT'} on {r.device}: "
              f"{r.weight_format}" for r in table.itertuples()]
    colors = ["tab:orange" if r.dsp_used else "tab:blue" for r in table.itertuples()]
    ax.barh(range(len(table)), table["peak_gmac_s"], color=colors)
    ax.set_yticks(range(len(table)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("peak GMAC/s (PEs x lanes x fmax / cycles per MAC)")
    ax.legend(handles=[Patch(color="tab:orange", label="hard multipliers (DSP)"),
                       Patch(color="tab:blue", label="LUTs only")], loc="lower right",
              fontsize=7)
    ax.set_title("Largest array per PE kind that fits: peak MAC rate per weight format")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=120, metadata={"Software": None})
    for p in points:
        # A logic ceiling makes another (smaller) build: named apart from the stored presets'.
        ceiling = "" if p.max_logic >= 1 else f"-logic{p.max_logic * 100:g}"
        name = (f"fpga-{p.kind}-{p.device}" + ("" if p.implementation.dsp else "-lut")
                + p.implementation.speed_suffix + ceiling)
        _spec, data = fpga_hardware(p.implementation, memory, name=name)
        header = hardware_yaml_header(p.implementation, data)
        if ceiling:
            header += (f"\nThe largest {p.kind} array within {p.max_logic * 100:g}% of the "
                       "device's logic (hwsim fpga-scale --max-logic).")
        paths.append(write_hardware_yaml(data, out / f"{name}.yaml", header=header))
    record = {"points": [p.to_dict() for p in points], "table": table.to_dict(orient="records"),
              "files": {**kept, **{path.name: digest(path) for path in paths[1:]}},
              "written_by": SCALE_COMMAND}
    write_file(paths[0], json.dumps(record, indent=2, sort_keys=True) + "\n")
    remove_stale_files(out, earlier, [path.name for path in paths] + list(kept))
    return paths


def _owned(name: str) -> bool:
    """A file name `write_scaling_outputs` writes on some run."""
    return name in ("scaling.md", "scaling.png") or (name.startswith("fpga-")
                                                     and name.endswith(".yaml"))
