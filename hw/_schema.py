"""Pydantic building blocks shared by the hardware schemas (`hw.spec`, `hw.pe_kinds`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, PlainValidator

from hwsim import limits
from hwsim.config import at_least, at_most, check_at_most

__all__ = [
    "CONFIG",
    "AccBits",
    "AreaMm2",
    "AreaUm2OrRtl",
    "ArrayDim",
    "Bits",
    "BufferKib",
    "BytesPerCycle",
    "ClockMhz",
    "EnergyOverhead",
    "EnergyPj",
    "EnergyPjOrRtl",
    "GbPerS",
    "NonNegInt",
    "PipelineStages",
    "PosInt",
    "PowerMw",
    "RtlSource",
    "SramMm2PerKib",
]

# Unknown keys are errors; numbers may come as YAML ints or floats, but not as booleans or
# quoted text (lax pydantic took `clock_mhz: true` for 1 MHz).
CONFIG = ConfigDict(extra="forbid", strict=False)
PosInt = Annotated[int, Field(strict=True, gt=0)]
NonNegInt = Annotated[int, Field(strict=True, ge=0)]
_PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
# -0.0 passes ge=0 and was written as "-0" (an energy of -0 uJ in layers.csv): made +0.0.
_NonNegFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False),
                         AfterValidator(lambda v: v + 0.0)]
Bits = Annotated[int, Field(strict=True, gt=0, le=32)]
# Register stages of a PE's datapath: more than any PE pipeline built or published (the BitMoD
# PE has up to 6, the MACs 2), bounded so a typo cannot turn into a billion-cycle fill.
PipelineStages = Annotated[int, Field(strict=True, ge=0, le=64)]
# Partial sums may be wider than an operand: the RTL core keeps 128-bit words.
AccBits = Annotated[int, Field(strict=True, gt=0, le=128)]

# Hardware quantities, bounded by `hwsim.limits`: far beyond real designs, so that a unit slip
# is refused and no report overflows float64.
ClockMhz = Annotated[_PosFloat, at_least(limits.MIN_CLOCK_MHZ, "1 kHz; the clock is in MHz"),
                     at_most(limits.MAX_CLOCK_MHZ, "100 GHz; the clock is in MHz")]
ArrayDim = Annotated[PosInt, at_most(limits.MAX_ARRAY_DIM, "2**16, beyond any built design")]
BufferKib = Annotated[_PosFloat, at_most(limits.MAX_BUFFER_KIB, "1 TiB of SRAM in one buffer")]
EnergyPj = Annotated[_NonNegFloat, at_most(limits.MAX_EVENT_PJ,
                                           "1 uJ per event; energies are in pJ")]
AreaMm2 = Annotated[_NonNegFloat, at_most(limits.MAX_CHIP_MM2, "more than a 300 mm wafer")]
SramMm2PerKib = Annotated[_NonNegFloat, at_most(limits.MAX_SRAM_MM2_PER_KIB,
                                                "270x CACTI's 28 nm SRAM; the unit is mm^2")]
PowerMw = Annotated[_NonNegFloat, at_most(limits.MAX_POWER_MW, "10 kW; the unit is mW")]
EnergyOverhead = Annotated[float, Field(strict=True, ge=1.0, allow_inf_nan=False),
                           at_most(limits.MAX_ENERGY_OVERHEAD, "a factor on PE energy")]
GbPerS = Annotated[_PosFloat, at_most(limits.MAX_BANDWIDTH_GB_S, "1 PB/s; the unit is GB/s")]
BytesPerCycle = Annotated[_PosFloat, at_most(limits.MAX_BYTES_PER_CYCLE, "1 MiB per clock")]


def _number_or_rtl(limit: float, why: str, value: Any) -> float | str:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if value == "rtl" and isinstance(value, str):
        return value
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a number >= 0 or 'rtl', got {value!r}")
    return check_at_most(limit, why, float(value))


# A PE figure typed in, or 'rtl': filled in from the block's gate-level cost.
EnergyPjOrRtl = Annotated[float | str, PlainValidator(partial(
    _number_or_rtl, limits.MAX_EVENT_PJ, "1 uJ per PE cycle; the unit is pJ"))]
AreaUm2OrRtl = Annotated[float | str, PlainValidator(partial(
    _number_or_rtl, limits.MAX_CHIP_MM2 * 1e6, "more than a 300 mm wafer; the unit is um^2"))]


def _param_value(value: Any) -> int | str:
    # One message for the two types a block parameter takes (a union reported both).
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"expected an integer or a name, got {value!r}")


# A value of an RTL block's parameter; the block's registry checks its range.
ParamValue = Annotated[int | str, PlainValidator(_param_value)]


@dataclass(frozen=True)
class RtlSource:
    """The RTL block whose gate-level cost stands for a PE's ``rtl`` figures.

    ``params`` override the block's defaults (the PE's own fields fill the rest, see
    `hwsim.hw.asic.pe_costs`); ``format``: the weight format whose activity sets the energy
    (default: the block's native one). ``derived`` (the figures filled in), ``formats``
    (the quantized weight formats the block's build decodes, where it states them: a workload
    operand of another is refused, as the figures are not of a PE that runs it),
    ``energy_format`` (the format whose activity ``pe.energy_pj_per_cycle`` is: ``format`` or
    the native one) and ``energies`` (without ``format``: the energy per cycle of every format
    the block has an operand model for, which the simulator charges each operator by its
    weight operand's format; `hwsim.sim.engine.priced_for`) are set by hwsim when the figures
    are filled in.
    """

    __pydantic_config__ = CONFIG
    block: str
    params: dict[str, ParamValue] = field(default_factory=dict)
    node: str = "28nm"
    format: str | None = None
    derived: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    energy_format: str | None = None
    energies: dict[str, float] = field(default_factory=dict)
