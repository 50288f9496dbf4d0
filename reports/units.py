"""Units a reader can take in at a glance: a quantity scaled to its magnitude, the unit named.

A column of a table or an axis of a plot shares one unit, picked from the largest value it
shows (`pick_unit`); a single value gets its own (`format_quantity`). Numbers are written with
`format_number`, which never uses an exponent between 1e-3 and 1e6 and never loses digits
to the left of the decimal point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ENERGY_UNITS",
    "TIME_UNITS",
    "Unit",
    "format_number",
    "format_quantity",
    "format_ratio",
    "format_share",
    "pick_unit",
]

Unit = tuple[str, float]  # (name, size of one unit in the base SI unit)

# Largest first; "min" from a minute on: 135 s reads as 2.25 min.
TIME_UNITS: tuple[Unit, ...] = (("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6),
                                ("ns", 1e-9))
ENERGY_UNITS: tuple[Unit, ...] = (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9),
                                  ("pJ", 1e-12))
_KINDS = {"time": TIME_UNITS, "energy": ENERGY_UNITS}


def _units(kind: str) -> tuple[Unit, ...]:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown quantity kind {kind!r}; known: {', '.join(_KINDS)}") from None


def pick_unit(values: Iterable[Any], kind: str) -> Unit:
    """The unit for a set of values in base SI units (seconds, joules): the largest unit in
    which the largest finite magnitude is at least 1 (the smallest unit when all are 0)."""
    finite = [abs(float(v)) for v in values
              if v is not None and isinstance(v, int | float) and math.isfinite(float(v))]
    units = _units(kind)
    top = max(finite, default=0.0)
    for name, size in units:
        if top >= size:
            return name, size
    return units[-1] if top > 0 else next(u for u in units if u[1] == 1.0)


def format_number(x: Any, digits: int = 4) -> str:
    """`x` to `digits` significant digits, exponent-free in [1e-3, 1e6); "-" for a missing or
    NaN value. Integers keep every digit (with thousands separators from 1e5 on)."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 100_000 else str(x)
    v = float(x)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    mag = abs(v)
    if 1e-3 <= mag < 1e6:
        decimals = max(0, digits - 1 - math.floor(math.log10(mag)))
        text = f"{v:.{decimals}f}"
        if "." in text:  # 4 significant digits of 2.500 read as 2.5
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, _, exponent = f"{v:.{digits - 1}e}".partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent):+d}"


def format_quantity(value: Any, kind: str, digits: int = 4) -> str:
    """One value in base SI units, in its own unit: ``135.2`` s -> ``"2.253 min"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    name, size = pick_unit([value], kind)
    return f"{format_number(float(value) / size, digits)} {name}"


def format_share(fraction: Any) -> str:
    """A share (0..1) as a whole percent that never reads as another: ``"0"`` only for none
    at all and ``"100"`` only for all; a part that would round to them reads ``"<1"`` or
    ``">99"``. "-" for a missing value."""
    if fraction is None or math.isnan(float(fraction)):
        return "-"
    pct = 100 * float(fraction)
    text = f"{pct:.0f}"
    if text == "0" and pct > 0:
        return "<1"
    if text == "100" and pct < 100:
        return ">99"
    return text


def format_ratio(x: Any, digits: int = 3) -> str:
    """A ratio to a baseline, `format_number` to `digits` significant digits, and to as many
    more as it takes not to read as exactly 1 (the baseline's own) when it is not: 0.9996 ->
    ``"0.9996"``, 1.0 -> ``"1"``."""
    text = format_number(x, digits)
    while text == "1" and float(x) != 1.0 and digits < 17:  # 17 digits tell any two doubles
        digits += 1
        text = format_number(x, digits)
    return text
