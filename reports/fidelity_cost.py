"""Accuracy against cost: one row per (format, design) pairing, joining fidelity with simulated
latency and energy.

Fidelity comes from a checkpoint (`hwsim.reports.fidelity.format_summary`, optionally
`hwsim.reports.fidelity_e2e.end_to_end_fidelity`); cost comes from simulating a workload
(`hwsim.sim.simulate_workload`) with its default weight format replaced by each format in
turn, on every listed design whose PE runs that format. The fidelity model and the workload
model need not be the same network: the point is "what this format does to a real model" next
to "what it costs on the workload I care about", and both are named on the plot's axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.files import comma_list, read_yaml
from hwsim.hw import distinct_names, load_hardware, same_design
from hwsim.reports.fidelity import SUMMARY_COLUMNS
from hwsim.reports.fidelity_e2e import E2E_COLUMNS, REFERENCE
from hwsim.sim import simulate_workload
from hwsim.sim.precision import operand_widths
from hwsim.workloads import load_workload, operators, resolve_workload_path, workload_from_dict

__all__ = [
    "COST_COLUMNS",
    "DesignCosts",
    "costs_on_designs",
    "fidelity_axis",
    "format_costs",
    "measured_group_sizes",
    "read_fidelity_dir",
    "shown_group",
    "tradeoff_table",
]

COST_COLUMNS = ("format", "workload", "model", "hardware", "weight_bits", "latency_ms",
                "energy_uj", "cost_note")


def _workload_source(workload: str | Path) -> Path:
    return resolve_workload_path(workload)


def _hardware_refs(hardware: str | Sequence[str] | None, declared: str | Path | None,
                   source: Path) -> list[str | Path]:
    if isinstance(hardware, str):  # the command line's: empty or repeated items are slips
        return list(comma_list(hardware, "--hardware"))
    if hardware is not None:
        given: list[str | Path] = [str(r).strip() for r in hardware if str(r).strip()]
        if given:
            return given
    if declared is None:
        raise HwsimError(f"{source}: the workload names no 'hardware'; give one (--hardware: "
                         "a preset such as bitmod, or a hardware YAML)")
    return [declared]  # already resolved against the workload's folder


def _designs(refs: Sequence[str | Path], option: str) -> list[Any]:
    """The designs, one given twice under two spellings (bitmod and BITMOD, a preset and its
    file) refused, and two different designs of one name labelled apart (``bitmod#2``, as
    `hwsim run` does): the table, summary and plot key their rows by name."""
    designs: list[Any] = []
    for ref in refs:
        hw = load_hardware(ref)
        for other_ref, other in zip(refs, designs, strict=False):
            if same_design(hw, other):
                raise HwsimError(f"{option}: {str(ref)!r} is the same design as "
                                 f"{str(other_ref)!r}; give each design once")
        designs.append(hw)
    return distinct_names(designs)


def _runs(w: Any, hw: Any) -> str | None:
    """None if `hw`'s PE runs every weight operand of `w`, else the short reason it does not."""
    for op in operators(w):
        if op.kind == "gemm" and op.b_kind == "weight":
            # Not the format: the workload's activations (16-bit on an 8-bit PE); "cannot run
            # it" blamed each format in turn. Compared as operand_widths does.
            a_bits = int(op.a_format.bits) if op.a_format is not None else math.ceil(op.a_bits)
            if a_bits > hw.pe.act_bits:
                return (f"{hw.name} ({hw.pe.kind} PE) cannot run this workload: activations "
                        f"are {a_bits}-bit but pe.act_bits is {hw.pe.act_bits} (set "
                        f"activations.bits <= {hw.pe.act_bits})")
            try:
                operand_widths(op, hw)
            except HwsimError:
                return f"{hw.name} ({hw.pe.kind} PE) cannot run it"
    return None


def _own_format(hw: Any, fmt: Any, group: int | None) -> str | None:
    """None if a design storing weights in a format of its own (the FP16 baseline) stores
    them as `fmt` at `group` (None: the format's own), so its run is this format's cost;
    else why it cannot cost `fmt` (it would simulate its own format instead)."""
    own = hw.weights
    if own.format is not None and get_format(own.format).name == fmt.name:
        if fmt.scheme == "cast":
            return None
        mine = own.group_size if own.group_size is not None else fmt.group_size
        if mine == (group if group is not None else fmt.group_size):
            return None
        return (f"{hw.name} stores its own weight format ({fmt.name} at "
                f"{'no group' if mine is None else f'group size {mine}'})")
    return f"{hw.name} stores its own weight format"


@dataclass(frozen=True)
class DesignCosts:
    """`costs_on_designs`: the costs, and every design given with what it did not cost.

    Attributes:
        costs: `format_costs`'s table.
        designs: every design given, by its label in ``costs["hardware"]`` (two designs of
            one name are labelled apart: ``bitmod``, ``bitmod#2``), in the order given.
        not_costed: per design (each one of `designs`), ``{format: reason}`` for every format
            it has no cost for: its PE cannot run it, it stores a weight format of its own,
            or the workload rejects the format.
    """

    costs: pd.DataFrame
    designs: tuple[str, ...]
    not_costed: dict[str, dict[str, str]]


def format_costs(workload: str | Path, formats: Sequence[str], *,
                 hardware: str | Sequence[str] | None = None,
                 group_size: int | Mapping[str, int | None] | None = None) -> pd.DataFrame:
    """Simulate a workload once per weight format and design that runs it.

    Args:
        workload: workload YAML, or the name of a bundled example.
        formats: canonical format names.
        hardware: preset name or hardware YAML, or several (a list or a comma-separated
            string): each format is costed on every one of them whose PE runs it (e.g.
            ``"bitmod,ant,olive,dint"``). Default: the workload's ``hardware``. A design that
            stores weights in a format of its own (the FP16 baseline) costs that format only.
        group_size: weight group size, for every format or per format (e.g.
            `measured_group_sizes`: the fidelity's); None (or a format left out): the
            format's own, as a workload naming the format without a group size (so
            ant4/olive4 get one scale per row, and the figures are those of `hwsim run`).

    Returns:
        `COST_COLUMNS`, one row per (format, design) pair that ran, in format order then design
        order. A format no given design runs (or that the workload rejects) gets one row with
        NaN costs and a one-line ``cost_note`` saying why. The pairs of a format some other
        design ran are not rows: `costs_on_designs` lists them.

    Raises:
        HwsimError: missing workload, unreadable YAML, unknown hardware, one design given
            twice.
    """
    return costs_on_designs(workload, formats, hardware=hardware, group_size=group_size).costs


def costs_on_designs(workload: str | Path, formats: Sequence[str], *,
                     hardware: str | Sequence[str] | None = None,
                     group_size: int | Mapping[str, int | None] | None = None) -> DesignCosts:
    """`format_costs`, with every design given and what each one did not cost, and why."""
    path = _workload_source(workload)
    base = load_workload(path)  # validates the file as written and gives the model
    data = read_yaml(path, "workload")
    option = "--hardware" if isinstance(hardware, str) else "hardware"
    designs = _designs(_hardware_refs(hardware, base.hardware, path), option)
    model = base.model.name if base.model is not None else ""
    given = data.get("weights") or {}
    rows = []
    not_costed: dict[str, dict[str, str]] = {hw.name: {} for hw in designs}
    for name in formats:
        fmt = get_format(name)
        group = group_size.get(name) if isinstance(group_size, Mapping) else group_size
        weights: dict[str, Any] = {"format": name}
        if "overrides" in given:
            weights["overrides"] = given["overrides"]
        # No group: none in the workload either, so a per-row format (ant4, olive4) is costed
        # with one scale per row of each layer, as `hwsim quantize` measured it and as
        # `hwsim run` simulates it (a group of the hidden size blocked the GEMMs otherwise).
        if group is not None and fmt.scheme != "cast":
            weights["group_size"] = group
        empty: dict[str, Any] = {"format": name, "workload": base.name, "model": model,
                                 "hardware": "", "weight_bits": np.nan, "latency_ms": np.nan,
                                 "energy_uj": np.nan, "cost_note": ""}
        try:
            w = workload_from_dict({**data, "weights": weights}, source=str(path),
                                   base_dir=path.parent)
        except HwsimError as exc:  # this format only: the others still get their costs
            why = str(exc).removeprefix(f"{path}: ")  # the key and the problem, whole
            rows.append({**empty, "cost_note": f"not costed: {why}"})
            for hw in designs:
                not_costed[hw.name][name] = f"the workload rejects it: {why}"
            continue
        refused = []
        costed = 0
        for hw in designs:
            why = _own_format(hw, fmt, group) if hw.weights is not None else None
            if why is None:
                why = _runs(w, hw)
            if why is not None:
                refused.append(why)
                not_costed[hw.name][name] = why
                continue
            result = simulate_workload(w, hw)
            unmodelled = "energy" in result.unmodelled  # a measured FPGA build: no 0 figure
            rows.append({**empty, "hardware": hw.name, "weight_bits": w.weights.bits,
                         "latency_ms": result.latency_ms,
                         "energy_uj": np.nan if unmodelled else result.energy_uj,
                         "cost_note": "energy not modelled" if unmodelled else ""})
            costed += 1
        if not costed:
            rows.append({**empty, "weight_bits": w.weights.bits,
                         "cost_note": "not costed: " + "; ".join(refused)})
    return DesignCosts(pd.DataFrame(rows, columns=list(COST_COLUMNS)),
                       tuple(hw.name for hw in designs), not_costed)


# What each numeric cell of the two tables may hold: (test, what it must be). The figures
# feed Pareto fronts and cost joins, so a hand-edited or damaged cell is refused, naming it,
# rather than dropped, read as text or plotted as a negative size.
_Rule = tuple[Any, str]
_COUNT: _Rule = (lambda x: np.isfinite(x) and x >= 1 and float(x).is_integer(),
                 "a whole number >= 1")
_GROUP: _Rule = (lambda x: np.isnan(x) or (x >= 1 and float(x).is_integer()),
                 "empty or a whole number >= 1")
_POSITIVE: _Rule = (lambda x: np.isfinite(x) and x > 0, "a finite number > 0")
_NONNEG: _Rule = (lambda x: np.isfinite(x) and x >= 0, "a finite number >= 0")
_SQNR: _Rule = (lambda x: not np.isnan(x) and x != -np.inf, "a number (inf: exact)")
_FRACTION: _Rule = (lambda x: np.isnan(x) or 0 <= x <= 1, "empty or within 0..1")
# A cosine of identical embeddings, computed in float64, can be 1 + 2**-52: rounding, not a
# damaged cell (a few texts made `hwsim fidelity`'s own reference row fail the check).
_COSINE: _Rule = (lambda x: np.isnan(x) or abs(x) <= 1 + 1e-9, "empty or within -1..1")
# A perplexity can be inf (a format that destroys a causal LM: exp of a mean NLL past 709).
_OPTIONAL_POSITIVE: _Rule = (lambda x: np.isnan(x) or x > 0, "empty or a number > 0")
_OPTIONAL_COUNT: _Rule = (lambda x: np.isnan(x) or (x >= 0 and float(x).is_integer()),
                          "empty or a whole number >= 0")
_OPTIONAL_LENGTH: _Rule = (lambda x: np.isnan(x) or (x >= 1 and float(x).is_integer()),
                           "empty or a whole number >= 1")
_SUMMARY_RULES: dict[str, _Rule] = {
    "group_size": _GROUP, "layers": _COUNT, "linear_params": _COUNT,
    "bits_per_weight": _POSITIVE, "linear_bytes": _POSITIVE, "model_bytes": _POSITIVE,
    "compression": _POSITIVE, "mse": _NONNEG, "sqnr_db_mean": _SQNR, "sqnr_db_min": _SQNR,
    "max_abs_error": _NONNEG, "outlier_pair_rate": _FRACTION,
}
_E2E_RULES: dict[str, _Rule] = {
    "group_size": _GROUP, "n_texts": _OPTIONAL_COUNT, "tokens": _OPTIONAL_COUNT,
    "max_length": _OPTIONAL_LENGTH,
    "cos_mean": _COSINE, "cos_min": _COSINE, "nn_top1_agreement": _FRACTION,
    "nn_top5_overlap": _FRACTION, "ppl_reference": _OPTIONAL_POSITIVE,
    "ppl": _OPTIONAL_POSITIVE, "ppl_ratio": _OPTIONAL_POSITIVE,
}


def _row_lines(path: Path) -> list[int]:
    """The file line of each data row: pandas skips blank lines, so row i is not line i + 2
    in a hand-edited file (the tables hold no quoted line breaks)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip()][1:]


def _check_cells(df: pd.DataFrame, path: Path, rules: dict[str, _Rule],
                 reference: str | None) -> pd.DataFrame:
    """The table with its numeric columns as floats, its formats canonical and unique, or an
    error naming the file, the CSV line, the format and the column."""
    df = df.copy()
    lines = _row_lines(path)

    def line_of(i: int) -> int:
        return lines[i] if i < len(lines) else i + 2

    formats: dict[str, int] = {}
    for i, raw in enumerate(df["format"]):
        line = line_of(i)
        name = str(raw).strip()
        if name != reference:
            try:
                name = get_format(name).name
            except HwsimError as exc:
                raise HwsimError(f"{path}: line {line}: format: {exc}") from None
        if name in formats:
            raise HwsimError(f"{path}: lines {formats[name]} and {line}: format {name} twice "
                             "(one row per format)")
        formats[name] = line
    df["format"] = list(formats)
    for column, (ok, what) in rules.items():
        values = pd.to_numeric(df[column], errors="coerce").astype(np.float64)
        for i, (raw, x) in enumerate(zip(df[column], values, strict=True)):
            given = not (isinstance(raw, float) and np.isnan(raw))
            if (given and np.isnan(x)) or not ok(x):
                raise HwsimError(f"{path}: line {line_of(i)} ({df['format'].iloc[i]}), column "
                                 f"{column}: {raw!r} is not {what}")
        df[column] = values
    return df


def _read_csv(path: Path, needed: Sequence[str], rules: dict[str, _Rule],
              reference: str | None = None) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise HwsimError(f"{path}: no such file (run `hwsim quantize ... --out "
                         f"{path.parent}` first)") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise HwsimError(f"{path}: not a readable CSV table ({exc})") from None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        # Columns later hwsim versions added: the table is an earlier one's.
        older = " (an earlier hwsim's table: run the command again)" \
            if set(missing) <= {"group_size", "max_length"} else ""
        raise HwsimError(f"{path}: missing column(s) {', '.join(missing)}; expected a table "
                         f"written by hwsim quantize / hwsim fidelity{older}")
    if df.empty:
        raise HwsimError(f"{path}: the table has no rows")
    return _check_cells(df, path, rules, reference)


def shown_group(group: int | None) -> str:
    """A measured group size in words: ``group size 128``, or ``no group`` (a cast, or a
    scale per row or tensor)."""
    return "no group" if group is None else f"group size {group}"


def measured_group_sizes(summary: pd.DataFrame,
                         e2e: pd.DataFrame | None = None) -> dict[str, int | None]:
    """Per format of `read_fidelity_dir`'s tables, the group size it was measured at
    (`hwsim.reports.fidelity.asked_group_size`: None for a cast or a scale per row)."""
    out: dict[str, int | None] = {}
    for table in (summary, e2e):
        if table is not None:
            for name, g in zip(table["format"], table["group_size"], strict=True):
                out.setdefault(str(name), None if np.isnan(g) else int(g))
    return out


def read_fidelity_dir(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read ``summary.csv`` (from ``hwsim quantize``) and, if present, ``fidelity.csv`` (from
    ``hwsim fidelity``) of an output folder.

    Every numeric cell is checked (a finite size, a fraction within 0..1, ...), every format
    named once, a format in both tables must have been measured at one group size, and both
    tables must name one checkpoint (``checkpoint_digest``; ``checkpoint`` names it).

    Raises:
        HwsimError: no summary, a table without the expected columns, a cell, format or
            group size that breaks those rules, naming the file and line, or tables of two
            checkpoints, naming both.
    """
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise HwsimError(f"{d}: a file, not the folder `hwsim quantize --out` wrote")
    summary = _read_csv(d / "summary.csv", SUMMARY_COLUMNS, _SUMMARY_RULES)
    e2e_path = d / "fidelity.csv"
    e2e = (_read_csv(e2e_path, E2E_COLUMNS, _E2E_RULES, REFERENCE) if e2e_path.exists()
           else None)
    if e2e is not None:  # the unquantized reference row has no format to cost
        _check_same_checkpoint(d, summary, e2e)
        e2e = e2e[e2e["format"] != REFERENCE].reset_index(drop=True)
        layer = measured_group_sizes(summary)
        for name, group in measured_group_sizes(e2e).items():
            if name in layer and layer[name] != group:
                raise HwsimError(
                    f"{d}: {name} was measured at {shown_group(layer[name])} in summary.csv "
                    f"and at {shown_group(group)} in fidelity.csv; run hwsim quantize and "
                    "hwsim fidelity with the same --group-size")
    return summary, e2e


# Columns by which `hwsim quantize` and `hwsim fidelity` name the checkpoint they measured.
_CHECKPOINT = ("checkpoint", "checkpoint_digest")


def _measured_checkpoint(folder: Path, table: pd.DataFrame, name: str,
                         command: str) -> tuple[str, str]:
    """(label, digest) of the checkpoint a table names, or an error naming the file."""
    missing = [c for c in _CHECKPOINT if c not in table]
    if missing:
        raise HwsimError(f"{folder / name}: missing column(s) {', '.join(missing)}: the table "
                         f"does not say which checkpoint it measured (an earlier hwsim's "
                         f"table: run {command} again)")
    pairs = set(zip(table["checkpoint"].astype(str), table["checkpoint_digest"].astype(str),
                    strict=True))
    if len(pairs) != 1:
        raise HwsimError(f"{folder / name}: names {len(pairs)} checkpoints; one table "
                         "measures one checkpoint")
    return next(iter(pairs))


def _check_same_checkpoint(folder: Path, summary: pd.DataFrame, e2e: pd.DataFrame) -> None:
    """Refuse a fidelity.csv of another checkpoint than summary.csv's: joined, each format's
    end-to-end fidelity would sit beside the size and SQNR of another model."""
    q_label, q_digest = _measured_checkpoint(folder, summary, "summary.csv", "hwsim quantize")
    f_label, f_digest = _measured_checkpoint(folder, e2e, "fidelity.csv", "hwsim fidelity")
    if q_digest != f_digest:
        raise HwsimError(f"{folder}: summary.csv measured checkpoint {q_label} (tensors "
                         f"{q_digest[:12]}) and fidelity.csv {f_label} (tensors "
                         f"{f_digest[:12]}): tables of two checkpoints; run hwsim quantize "
                         "and hwsim fidelity on the same one")


def tradeoff_table(summary: pd.DataFrame, e2e: pd.DataFrame | None = None,
                   costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Join per-format fidelity and cost into one table (the summary's formats first).

    Args:
        summary: `hwsim.reports.fidelity.format_summary` output.
        e2e: `end_to_end_fidelity` output (formats missing on either side get NaN).
        costs: `format_costs` output: one row per (format, design) pair, so a format costed
            on several designs gets several rows (formats missing there get NaN).
    """
    keep = ["format", "bits_per_weight", "model_bytes", "compression", "sqnr_db_mean",
            "sqnr_db_min", "mse"]
    if "checkpoint" in summary:  # written by `hwsim quantize` since it names its model
        keep.insert(1, "checkpoint")
    table = summary[keep].copy()
    if e2e is not None:
        metrics = ["task", "cos_mean", "cos_min", "nn_top1_agreement", "nn_top5_overlap", "ppl",
                   "ppl_ratio"]
        # Outer join: a format measured end to end only still gets its row (layer columns NaN).
        order = list(dict.fromkeys([*table["format"], *e2e["format"]]))
        table = table.merge(e2e[["format", *metrics]], on="format", how="outer")
        rank = table["format"].map({f: i for i, f in enumerate(order)})
        table = table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
    if costs is not None:
        table = table.merge(costs[list(COST_COLUMNS)], on="format", how="left")
    return table


def fidelity_axis(table: pd.DataFrame) -> tuple[str, str, bool]:
    """The fidelity measure to plot: ``(column, label, higher_is_better)``.

    End-to-end fidelity where measured (embedding cosine similarity, or perplexity), else
    the mean layer SQNR.
    """
    if "cos_mean" in table and table["cos_mean"].notna().any():
        return "cos_mean", "embedding cosine similarity", True
    if "ppl" in table and table["ppl"].notna().any():
        return "ppl", "perplexity", False
    return "sqnr_db_mean", "mean layer SQNR (dB)", True
