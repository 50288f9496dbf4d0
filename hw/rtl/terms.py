"""Number encodings shared by the RTL and its golden models (NumPy only, no Amaranth).

The BitMoD PE works in *hardware weight units*: every weight it runs is a signed sum of powers
of two, one power (a "term") per cycle. One hardware unit is

- ``fp3`` family: one format unit (values 0, ±1, ±2, ±4; specials ±3, ±6);
- ``fp4`` family: half an E2M1 unit (BitMoD's "FP4 = E2M1 x 2"): 0, ±1, ±2, ±3, ±4, ±6, ±8, ±12,
  specials ±10 (ER, = ±5 E2M1) and ±16 (EA, = ±8 E2M1);
- ``intB``: one integer step; two's-complement codes split into radix-4 Booth digits.

The weight-type selector ``wtype`` (a 3-bit port of the PE, BitMoD's per-group type metadata)
picks what the negative-zero code of an fp family decodes to: see `SPECIALS`. Values 5..7 are
reserved and decode like 0 (no special value), in the RTL and in the model alike.

FP16 activations: zero and subnormal values are handled exactly (subnormals use exponent 1 and
no hidden bit); Inf and NaN (exponent field 31) contribute zero and raise the PE's sticky
``nonfinite`` flag for that output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError

__all__ = [
    "FP16_MANT_BITS",
    "SPECIALS",
    "WEIGHT_FAMILIES",
    "WEIGHT_SETS",
    "WeightFamily",
    "dtypes_name",
    "family_formats",
    "fp16_fields",
    "fp_term_values",
    "get_families",
    "get_family",
    "weight_terms",
]

# Bits of the FP16 significand with the hidden bit; the value of a finite FP16 number is
# mant * 2 ** (exp_eff - 25) with exp_eff = max(exponent field, 1).
FP16_MANT_BITS = 11
FP16_EXP_OFFSET = 25  # 15 (bias) + 10 (fraction bits)

# wtype port value -> special value of the negative-zero code (None: plain format, -0 = 0).
SPECIALS = ("none", "er_pos", "er_neg", "ea_pos", "ea_neg")

_INT_RE = re.compile(r"^int([2-8])$")


@dataclass(frozen=True)
class WeightFamily:
    """A weight family the BitMoD PE runs, fixed when the hardware is built.

    Attributes:
        name: ``"fp3"``, ``"fp4"`` or ``"int2"`` .. ``"int8"``.
        bits: bits per weight code.
        terms: cycles per weight (2 for fp families, ceil(bits / 2) Booth digits for int).
        is_fp: fp family (has the ``wtype`` selector) or two's-complement int.
        units_per_value: hardware units per format unit (2 for fp4, else 1).
    """

    name: str
    bits: int
    terms: int
    is_fp: bool
    units_per_value: int

    @property
    def max_term_sum(self) -> int:
        """Largest sum of term magnitudes of one weight, over all codes and wtypes."""
        codes = np.arange(1 << self.bits)
        sums = [
            np.where(nz, 1 << t, 0).sum(axis=-1).max()
            for wt in range(len(SPECIALS))
            for _, t, nz in [weight_terms(self, codes, wt)]
        ]
        return int(max(sums))


WEIGHT_FAMILIES = ("fp3", "fp4", "int2", "int3", "int4", "int5", "int6", "int7", "int8")


# Named sets of families one PE instance runs, chosen at run time through its ``mode`` port.
# "bitmod": the paper's decoder, fp3/fp4 (ER/EA per group) and INT8/INT6/INT4 Booth per layer.
WEIGHT_SETS = {"bitmod": ("fp3", "fp4", "int4", "int6", "int8")}


def get_families(spec: str) -> tuple[WeightFamily, ...]:
    """The families a PE runs: one family name, a set name (`WEIGHT_SETS`) or family names
    joined by ``+`` (e.g. ``"fp4+int8"``), in that order (the ``mode`` port's numbering).

    Raises:
        HwsimError: an unknown name or a family given twice (the message lists the allowed).
    """
    key = str(spec).strip().lower()
    names = WEIGHT_SETS.get(key) or tuple(part.strip() for part in key.split("+"))
    fams = tuple(get_family(n) for n in names)
    if len({f.name for f in fams}) != len(fams):
        raise HwsimError(f"weight family given twice in {spec!r}")
    return fams


def family_formats(family: WeightFamily) -> tuple[str, ...]:
    """The `hwsim.dtypes` formats a PE family runs at its own term count: an fp family with
    every selector (and the ``bitmod3``/``bitmod4`` mixture), an int family its own width."""
    if not family.is_fp:
        return (family.name,)
    names = {dtypes_name(family, wt) for wt in range(len(SPECIALS))}
    return (*sorted(names), "bitmod3" if family.name == "fp3" else "bitmod4")


def get_family(name: str) -> WeightFamily:
    """The `WeightFamily` called ``name``.

    Raises:
        HwsimError: unknown name (the message lists `WEIGHT_FAMILIES`).
    """
    key = str(name).lower()
    if key in ("fp3", "fp4"):
        bits = 3 if key == "fp3" else 4
        return WeightFamily(key, bits, 2, True, 2 if key == "fp4" else 1)
    match = _INT_RE.match(key)
    if match:
        bits = int(match.group(1))
        return WeightFamily(key, bits, -(-bits // 2), False, 1)
    raise HwsimError(f"unknown weight family {name!r}; allowed: {', '.join(WEIGHT_FAMILIES)}")


def dtypes_name(family: WeightFamily, wtype: int = 0) -> str:
    """The `hwsim.dtypes` format whose codes this family decodes with selector ``wtype``."""
    if not family.is_fp:
        return family.name
    special = SPECIALS[wtype] if wtype < len(SPECIALS) else "none"
    if special == "none":
        return "fp3" if family.name == "fp3" else "fp4_e2m1"
    return f"{family.name}_{special}"


def weight_terms(
    family: WeightFamily, codes: np.ndarray, wtype: int | np.ndarray = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split weight codes into the PE's bit-serial terms, in the order the PE runs them.

    Args:
        family: the PE's weight family.
        codes: integer codes (any shape), ``0 <= code < 2**bits``.
        wtype: special-value selector (fp families; broadcast against ``codes``).

    Returns:
        ``(neg, exp, nz)`` arrays of shape ``codes.shape + (terms,)``: term ``j`` is
        ``(-1)**neg * 2**exp`` hardware units when ``nz``, else zero. fp families: term 0 is the
        leading one of the magnitude, term 1 the next one. int: term ``j`` is Booth digit ``j``
        (weight ``4**j``) of the sign-extended code.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if family.is_fp:
        return _fp_terms(family, codes, np.broadcast_to(np.asarray(wtype, np.int64), codes.shape))
    return _booth_terms(family, codes)


@cache
def fp_term_values(family: WeightFamily) -> np.ndarray:
    """Signed value in hardware units of every (selector, code) of an fp family, read from the
    `hwsim.dtypes` format definitions (`dtypes_name`): ``(len(SPECIALS), 2**bits)`` int64.

    The golden model decodes weights from here; the RTL's decoder has its own table
    (`hwsim.hw.rtl.bitmod`), so a wrong constant on either side fails the RTL-vs-model tests.

    Raises:
        ValueError: a value that is not an integer number of hardware units or needs more
            than two terms (the format does not fit BitMoD's two-term representation).
    """
    codes = np.arange(1 << family.bits)
    table = np.stack([get_format(dtypes_name(family, wt)).decode(codes) * family.units_per_value
                      for wt in range(len(SPECIALS))])
    values = np.rint(table).astype(np.int64)
    ones = np.array([bin(abs(int(v))).count("1") for v in values.ravel()])
    if not np.array_equal(values, table) or ones.max() > 2:
        raise ValueError(f"{family.name}: values are not sums of two powers of two in "
                         f"hardware units: {table.tolist()}")
    return values


def _fp_terms(family, codes, wtype):
    # Reserved selectors (beyond SPECIALS) decode like "none", as in the RTL.
    sel = np.where((wtype >= 0) & (wtype < len(SPECIALS)), wtype, 0)
    value = fp_term_values(family)[sel, codes]
    mag = np.abs(value)
    neg = value < 0
    # Leading one and next one of a magnitude below 32 (at most two ones, `fp_term_values`).
    lead = np.where(mag > 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int64), 0)
    rest = mag - np.where(mag > 0, 1 << lead, 0)
    second = np.where(rest > 0, np.floor(np.log2(np.maximum(rest, 1))).astype(np.int64), 0)
    exp = np.stack([lead, second], axis=-1)
    nz = np.stack([mag > 0, rest > 0], axis=-1)
    neg = np.stack([neg, neg], axis=-1) & nz
    return neg.astype(bool), exp, nz


def _booth_terms(family, codes):
    bits, terms = family.bits, family.terms
    # Sign-extend the code to 2 * terms bits, then read overlapping triplets b[2j+1] b[2j] b[2j-1].
    signed = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
    ext = signed & ((1 << (2 * terms)) - 1)
    padded = ext << 1
    j = np.arange(terms)
    trip = (padded[..., None] >> (2 * j)) & 0b111
    digit = -2 * (trip >> 2) + ((trip >> 1) & 1) + (trip & 1)
    nz = digit != 0
    neg = digit < 0
    exp = 2 * j + (np.abs(digit) == 2)
    return neg, np.where(nz, exp, 0), nz


def fp16_fields(a_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode FP16 bit patterns the way the PE does.

    Returns:
        ``(sign, exp_eff, mant, nonfinite)``: the value is ``(-1)**sign * mant * 2**(exp_eff -
        25)``; subnormals get ``exp_eff = 1`` and no hidden bit; Inf/NaN give ``mant = 0`` and
        ``nonfinite = True``.
    """
    a = np.asarray(a_bits, dtype=np.int64) & 0xFFFF
    sign = (a >> 15) & 1
    e = (a >> 10) & 0x1F
    frac = a & 0x3FF
    nonfinite = e == 31
    exp_eff = np.maximum(e, 1)
    mant = np.where(nonfinite, 0, frac | np.where(e > 0, 1 << 10, 0))
    return sign.astype(bool), exp_eff, mant, nonfinite
