"""Pydantic building blocks shared by the hardware schemas (`hw.spec`, `hw.pe_kinds`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, Field, PlainValidator

__all__ = [
    "CONFIG",
    "AccBits",
    "Bits",
    "NonNegFloat",
    "NonNegFloatOrRtl",
    "NonNegInt",
    "PipelineStages",
    "PosFloat",
    "PosInt",
    "RtlSource",
]

# Unknown keys are errors; numbers may come as YAML ints or floats, but not as booleans or
# quoted text (lax pydantic took `clock_mhz: true` for 1 MHz).
CONFIG = ConfigDict(extra="forbid", strict=False)
PosInt = Annotated[int, Field(strict=True, gt=0)]
NonNegInt = Annotated[int, Field(strict=True, ge=0)]
PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Bits = Annotated[int, Field(strict=True, gt=0, le=32)]
# Register stages of a PE's datapath: more than any PE pipeline built or published (the BitMoD
# PE has up to 6, the MACs 2), bounded so a typo cannot turn into a billion-cycle fill.
PipelineStages = Annotated[int, Field(strict=True, ge=0, le=64)]
# Partial sums may be wider than an operand: the RTL core keeps 128-bit words.
AccBits = Annotated[int, Field(strict=True, gt=0, le=128)]


def _number_or_rtl(value: Any) -> float | str:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if value == "rtl" and isinstance(value, str):
        return value
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a number >= 0 or 'rtl', got {value!r}")
    return float(value)


# A PE figure typed in, or 'rtl': filled in from the block's gate-level cost.
NonNegFloatOrRtl = Annotated[float | str, PlainValidator(_number_or_rtl)]


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
    (default: the block's native one). ``derived`` is set when the figures are filled in.
    """

    __pydantic_config__ = CONFIG
    block: str
    params: dict[str, ParamValue] = field(default_factory=dict)
    node: str = "28nm"
    format: str | None = None
    derived: tuple[str, ...] = ()
