"""Calibration of the gate-level costs to a process node against published silicon.

One area constant (node um^2 per library um^2) and one energy constant (pJ per um^2 of
switched gate/diffusion area) per node, the energy constant fitted on the switching at the
synthesis tool's default activity the published mW were made with (`vectorless`: a block the
artifact synthesized as several modules is the sum of its parts each analysed alone; the real
operands' figure is reported beside it), each the geometric mean of published / estimated over
the fitted blocks (the least-squares fit of log errors). Every published block with an RTL
counterpart here gets its error; the fitted ones also a leave-one-out error (the constant fitted
on the others). Ratios the published work states are checked without fitting.

The published 28 nm figures (BitMoD paper's area/power sheet, 1 GHz; see the shared
accelerators reference): area with registers in um^2, power in mW (= pJ per cycle at 1 GHz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.asic.cost import BlockCost, block_cost

__all__ = ["MACS", "NODES", "PUBLISHED", "RATIOS", "RATIO_SCOPES", "RATIO_SOURCE", "Calibration",
           "CalibrationRow", "PublishedBlock", "RatioCheck", "calibrate", "check_node"]


@dataclass(frozen=True)
class PublishedBlock:
    """A published block and the RTL block (or sub-block) standing for it here.

    Attributes:
        name: as published.
        area_um2, power_mw: published area with registers and power at 1 GHz.
        block, params: our RTL block (None: no counterpart here).
        subblocks: our sub-blocks compared with it (None: the whole block).
        fit: used to fit the node's constants.
        note: where our RTL differs from the published architecture.
        format: the weight format whose activity stands for the published power (None: the
            block's native one).
    """

    name: str
    area_um2: float
    power_mw: float
    block: str | None
    params: tuple[tuple[str, object], ...] = ()
    subblocks: tuple[str, ...] | None = None
    fit: bool = False
    note: str = ""
    format: str | None = None


# The published PE runs FP3/FP4 (ER/EA) and INT weights through one datapath and keeps a
# 6-bit exponent + 15-bit mantissa group accumulator: our PE with all modes and that
# accumulator (its other parameters at their defaults).
_BITMOD = (("weights", "bitmod"), ("accumulator", "bitmod"))
# The published PE total is the sum of its four sub-blocks (with their registers, the first
# stage's being the decoded operands): ours is compared over the same sub-blocks, each with
# its pipeline registers (`subblocks`). Its input (beat) register of raw FP16 activations and weight
# codes, its operand decode (weight-term decoder, FP16 field split), its output accumulator
# and its stream control have no published counterpart (the artifact's decoder.v, operand
# feed and output accumulation are outside its four sub-blocks, which take decoded weight
# terms and split FP16 fields): left out here, counted in the whole block.
_BITMOD_SCOPE = ("exponent match", "bit-serial multiply", "group accumulate", "dequantize")
_BITMOD_NOTE = ("published total = its 4 sub-blocks, each synthesized with its own input and "
                "output registers; ours over the same sub-blocks with their pipeline "
                "registers (3 stages, the first holding the decoded terms and activations), "
                "each register in the sub-block that reads it, "
                "without its input register of raw FP16 activations and weight codes, operand "
                "decode (weight-term decoder, FP16 field split), output accumulator and "
                "control (the artifact's decoder, operand feed and output accumulation are "
                "outside its 4 sub-blocks); real-operand power on bitmod4 operands")
# The artifact's FP16 x INT8 MAC (hardware/fma-fp16-int8) adds every product into an FP16
# accumulator (19-bit product mantissa, FP adder, normalizer), with input, product and output
# registers: ours with accumulator=fp16 and the product register is that architecture. It is
# one module (`fma_int8`, its multiplier, adder and normalizer instantiated inside, registers
# only at its top), synthesized as one: ours is analysed whole.
_FP16_INT8_NOTE = ("ours: the exact product (registered) added into an FP16 accumulator with "
                   "one IEEE rounding (accumulator=fp16); the artifact's fma-fp16-int8 "
                   "rounds to even from three single bits (no OR-reduced sticky), flushes "
                   "subnormal results to 0 and also registers the accumulator input")
# The artifact's FP16 MAC is its fp16_mul and fp16_add, each with input and output registers,
# two modules synthesized apart: ours is compared as its two parts (`subblocks`), each
# analysed alone at the default activity, as the PE's sub-blocks are.
_FP16_NOTE = ("ours: IEEE FP16 multiplier (rounded product registered) and adder into an FP16 "
              "accumulator, round to nearest even; the artifact's fp16_mul rounds half up "
              "without a sticky bit, its fp16_add truncates, and each registers its core's "
              "inputs and outputs")
# The artifact's dual-mode MAC (hardware/fma-dual-main, `dualFMA_clk`: one module, registers
# only at its top) is ours in the same architecture: two 11 x 4 multipliers shared by the
# modes, two FP16 accumulators, the products registered. Out of sample: it is not fitted, so
# its error tests the constants the three blocks the targets name give (the artifact marks
# its FP4 decoder a placeholder, so what was synthesized is not quite a dual-mode MAC).
_DUAL_NOTE = ("out of sample (not fitted); ours: exact products (registered) added into two "
              "FP16 accumulators with one IEEE rounding each, a real E2M1 decoder; the "
              "artifact's FP4 decoder is a placeholder and it registers both accumulator "
              "inputs")
PUBLISHED: dict[str, tuple[PublishedBlock, ...]] = {
    "28nm": (
        PublishedBlock("BitMoD PE", 1793.7, 0.586, "bitmod_pe", _BITMOD, format="bitmod4", fit=True,
                       subblocks=_BITMOD_SCOPE,
                       note=_BITMOD_NOTE),
        PublishedBlock("FP16 x INT8 MAC", 1318.6, 0.613, "fp16_int_mac",
                       (("weight_bits", 8), ("accumulator", "fp16"), ("pipeline", 1)),
                       fit=True, note=_FP16_INT8_NOTE),
        PublishedBlock("FP16 MAC (mul + add)", 1968.7, 0.77, "fp16_mac", (("pipeline", 1),),
                       subblocks=("multiply", "add"), fit=True, note=_FP16_NOTE),
        PublishedBlock("FP16 x (INT8 or 2x FP4) MAC", 2318.9, 0.851, "fp16_dual_mac",
                       (("pipeline", 1),), note=_DUAL_NOTE),
        PublishedBlock("BitMoD exponent match", 306.9, 0.136, "bitmod_pe",
                       _BITMOD, format="bitmod4", subblocks=("exponent match",)),
        PublishedBlock("BitMoD bit-serial multiply", 748.3, 0.185, "bitmod_pe",
                       _BITMOD, format="bitmod4", subblocks=("bit-serial multiply",)),
        PublishedBlock("BitMoD group accumulate", 546.1, 0.195, "bitmod_pe",
                       _BITMOD, format="bitmod4", subblocks=("group accumulate",)),
        PublishedBlock("BitMoD dequantize", 192.4, 0.070, "bitmod_pe", _BITMOD, format="bitmod4",
                       subblocks=("dequantize",)),
    ),
}
NODES = tuple(PUBLISHED)

# The four MACs whose published areas the paper orders (its PE and three baselines).
MACS = ("BitMoD PE", "FP16 x INT8 MAC", "FP16 MAC (mul + add)", "FP16 x (INT8 or 2x FP4) MAC")

# Published ratios checked unfitted: (name, numerator block, denominator block, area, power).
# The dINT paper compares one MAC unit with another: ours at one lane with the product
# register (pipeline 1), as the FP16 MACs are calibrated. At one lane the default pipeline's
# two further stages hold no logic (no pairwise or lane sum to split): 16 + 23 (INT8) and
# 13 + 20 (dINT) flip-flops of pure delay, FPGA timing boundaries no published MAC has.
_ONE_MAC = (("lanes", 1), ("pipeline", 1))
RATIOS = (("INT8 MAC / dINT MAC", ("int_mac", _ONE_MAC), ("dint_mac", _ONE_MAC), 1.93, 2.56),)
RATIO_SOURCE = ("Lee et al., EMNLP 2023 (arXiv 2311.05161); the paper does not state the scope "
                "of its MACs' figures (accumulator, registers)")
# The scopes a ratio is checked at, headline first: (label, sub-blocks; None: the whole
# block, its power analysed whole). The second view is the multiplier with its input and
# product registers (`subblocks`), its power the parts analysed alone: what the published
# figures would be if the MACs' common parts (accumulator, output register, control) were
# negligible beside the multiplier, which the paper neither states nor excludes.
RATIO_SCOPES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("whole MAC", None),
    ("multiplier with its input and product registers (second view)", ("multiply",)),
)


@dataclass(frozen=True)
class RatioCheck:
    """A published ratio against ours at one scope, unfitted (power at the default activity)."""

    name: str
    scope: str
    published_area: float
    area: float
    published_power: float
    power: float

    @property
    def area_error(self) -> float:
        return self.area / self.published_area - 1.0

    @property
    def power_error(self) -> float:
        return self.power / self.published_power - 1.0


@dataclass(frozen=True)
class CalibrationRow:
    """One published block against our estimate at the node (after calibration).

    ``power_mw`` is at the default activity (the published mW's basis, fitted);
    ``power_real_mw`` the same gates on real operands, with the same energy constant."""

    name: str
    published_area_um2: float
    published_power_mw: float
    area_um2: float | None
    power_mw: float | None
    area_error: float | None
    power_error: float | None
    area_loo_error: float | None
    power_loo_error: float | None
    fit: bool
    note: str
    power_real_mw: float | None = None
    power_real_error: float | None = None


@dataclass(frozen=True)
class Calibration:
    """The node's constants and how well they reproduce the published blocks.

    Attributes:
        node: process node name.
        area_per_lib_um2: node um^2 per library um^2.
        pj_per_unit: pJ per um^2 of switched capacitance proxy.
        rows: every published block.
        ratios: the unfitted published ratios, each at every `RATIO_SCOPES` scope.
        unconverged: the rows, and the ratios at a scope (``"name (scope)"``), whose
            default-activity figure stopped at the propagation's pass limit (`vectorless`):
            approximate.
    """

    node: str
    area_per_lib_um2: float
    pj_per_unit: float
    rows: tuple[CalibrationRow, ...]
    ratios: tuple[RatioCheck, ...]
    unconverged: tuple[str, ...] = ()

    def area_um2(self, cost: BlockCost) -> float:
        return cost.area_um2 * self.area_per_lib_um2

    def mac_order(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(published area order of `MACS`, ours over those we estimate, those we do not),
        smallest first."""
        rows = [r for r in self.rows if r.name in MACS]
        published = tuple(r.name for r in sorted(rows, key=lambda r: r.published_area_um2))
        ours = tuple(r.name for r in sorted((r for r in rows if r.area_um2 is not None),
                                            key=lambda r: r.area_um2))
        return published, ours, tuple(r.name for r in rows if r.area_um2 is None)

    def mac_order_reproduced(self) -> bool:
        """Our order of the MACs we estimate is the published one restricted to them. Only
        over the estimated ones: a MAC without RTL is left out, not counted against (see
        `mac_order` for which are missing)."""
        published, ours, _ = self.mac_order()
        return tuple(n for n in published if n in ours) == ours

    def energy_pj(self, switched: float) -> float:
        return switched * self.pj_per_unit


def check_node(node: str) -> str:
    """``node`` if calibrated, else HwsimError naming the calibrated nodes."""
    if node not in PUBLISHED:
        raise HwsimError(f"--node {node!r} has no calibration; calibrated nodes: "
                         f"{', '.join(NODES)}")
    return node


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _scope(cost: BlockCost, subblocks: tuple[str, ...] | None) -> tuple[float, float]:
    """(library um^2, switched units per cycle at the default activity) of ``subblocks`` of
    ``cost``: the whole block analysed whole (None), else the sum of the parts each analysed
    alone, as a block synthesized as several modules."""
    if subblocks is None:
        return cost.area_um2, cost.default_block
    return (sum(cost.subblock_area_um2.get(b, 0.0) for b in subblocks),
            sum(cost.default_alone.get(b, 0.0) for b in subblocks))


def _estimate(p: PublishedBlock, cost: BlockCost) -> tuple[float, float, float | None]:
    """(library um^2, switched units per cycle at the default activity, on real operands)
    of ``p``'s counterpart in ``cost``. The default activity is the published figures' basis:
    the whole block for one synthesized module, the sum of its parts each analysed alone where
    the published block was synthesized as several modules (the PE, the FP16 MAC)."""
    acts = {a.weight_format: a for a in cost.activity}
    sw = acts[p.format].switching if p.format else cost.switching
    area, default = _scope(cost, p.subblocks)
    if sw is None:
        return area, default, None
    if p.subblocks is None:
        return area, default, sw.total
    return area, default, sum(sw.by_subblock.get(b, 0.0) for b in p.subblocks)


def _err(ours: float | None, published: float) -> float | None:
    return None if ours is None else ours / published - 1.0


def calibrate(node: str = "28nm", cache_dir: Path | None = None, *,
              ratios: bool = True) -> Calibration:
    """Fit ``node``'s constants on its published blocks and report every error (and, with
    ``ratios``, the unfitted published ratios: two more blocks to synthesize)."""
    check_node(node)
    blocks = PUBLISHED[node]
    est: dict[str, tuple[float, float, float | None]] = {}
    unconverged = []
    for p in blocks:
        if p.block is not None:
            cost = block_cost(p.block, dict(p.params), cache_dir)
            est[p.name] = _estimate(p, cost)
            if set(p.subblocks or ("block",)) & set(cost.default_unconverged):
                unconverged.append(p.name)
    fitted = [p for p in blocks if p.fit]
    a_ratio = {p.name: p.area_um2 / est[p.name][0] for p in fitted}
    e_ratio = {p.name: p.power_mw / est[p.name][1] for p in fitted}
    k_area, k_energy = _geomean(list(a_ratio.values())), _geomean(list(e_ratio.values()))
    rows = []
    for p in blocks:
        if p.name not in est:
            rows.append(CalibrationRow(p.name, p.area_um2, p.power_mw, None, None, None, None,
                                       None, None, p.fit, p.note))
            continue
        area_lib, units, real = est[p.name]
        area, power = area_lib * k_area, units * k_energy
        power_real = real * k_energy if real is not None else None
        loo_a = loo_e = None
        if p.fit and len(fitted) > 1:
            others = [q.name for q in fitted if q is not p]
            loo_a = area_lib * _geomean([a_ratio[n] for n in others]) / p.area_um2 - 1
            loo_e = units * _geomean([e_ratio[n] for n in others]) / p.power_mw - 1
        rows.append(CalibrationRow(p.name, p.area_um2, p.power_mw, area, power,
                                   _err(area, p.area_um2), _err(power, p.power_mw),
                                   loo_a, loo_e, p.fit, p.note, power_real,
                                   _err(power_real, p.power_mw)))
    checked = []
    for name, (num, nparams), (den, dparams), pub_area, pub_power in RATIOS if ratios else ():
        a, b = block_cost(num, dict(nparams), cache_dir), block_cost(den, dict(dparams), cache_dir)
        for label, subblocks in RATIO_SCOPES:
            for cost in (a, b):
                if missing := set(subblocks or ()) - set(cost.subblock_area_um2):
                    raise HwsimError(f"{cost.block} has no sub-block {sorted(missing)} for the "
                                     f"ratio {name!r} at scope {label!r}")
            (area_a, power_a), (area_b, power_b) = _scope(a, subblocks), _scope(b, subblocks)
            checked.append(RatioCheck(name, label, pub_area, area_a / area_b, pub_power,
                                      power_a / power_b))
            if any(set(subblocks or ("block",)) & set(c.default_unconverged) for c in (a, b)):
                unconverged.append(f"{name} ({label})")
    return Calibration(node, k_area, k_energy, tuple(rows), tuple(checked), tuple(unconverged))
