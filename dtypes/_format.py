"""Formats as users name them: element types plus the scheme that scales them.

`Format` combines one or more `ElementFormat`s with a scaling scheme (`int4` = one INT4
element type, absmax scale per group of 128 stored in FP16; `bitmod4` = four FP4 types,
one chosen per group, with an 8-bit integer scale). `FloatFormat` covers the unquantized
references (`fp32`, `fp16`, `bf16`), which quantize by a plain cast.

Codes of a mixture (`bitmod*`, `ant4`, `olive4`) are *extended* codes
``(type_index << bits) | element_code``, so ``decode(encode(x))`` is defined for every
format: each element goes to the nearest value of the union of the types (ties in the
order the types are listed). `quantize` does the per-group or per-tensor choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from hwsim.dtypes._element import ElementFormat
from hwsim.dtypes._scale import INT8_ROW_FACTOR_BITS, SCALE_BITS, ScaleFormat, _round_bf16
from hwsim.dtypes._tables import minifloat
from hwsim.errors import HwsimError

__all__ = ["FloatFormat", "Format", "Scheme", "format_group_problem"]

Scheme = Literal["absmax", "asym", "mixture", "ant", "olive", "mx", "nvfp4", "tensor_mean",
                 "row_mean"]

#: What each scheme does, for listings and docs.
SCHEMES: dict[str, str] = {
    "absmax": "scale = group absmax / largest value of the type",
    "asym": "scale and zero point from the group's min and max (range includes 0)",
    "mixture": "every candidate type per group, the lowest-MSE one kept (2-bit selector)",
    "ant": "per-row scale searched by MSE over 75%..249% of absmax; type chosen per tensor",
    "olive": "outlier-victim pairs (outlier: nearest to an abfloat value, |x| >= 9.5 "
             "steps); scale searched by MSE over 75%..249% of max|mu±3sigma|",
    "mx": "shared E8M0 power-of-two scale per block: floor(log2(amax)) - emax",
    "nvfp4": "E4M3 block scale amax/6 under an FP32 tensor scale amax/(448*6)",
    "tensor_mean": "one scale per group: mean |w| (BitNet b1.58 uses the whole tensor)",
    "row_mean": "alpha = mean |w| per group (a row by default), w ~ alpha * sign(w)",
}


@dataclass(frozen=True, eq=False)
class Format:
    """A quantization format: element type(s) and how they are scaled.

    Attributes:
        name: canonical name (``"bitmod4"``).
        types: element formats; more than one for a mixture.
        scheme: scaling scheme (see `SCHEMES`).
        group_size: default elements per scale along the reduction axis; ``None`` means one
            scale per row (``ant``, ``olive``, ``row_mean``) or per tensor (``tensor_mean``).
        scale_format: storage of the scales (``None``: no stored scale).
        selector_bits: type-selector bits stored per group (mixtures chosen per group).
        family, description, source: for listings.
        aliases: other accepted names.
        params: scheme parameters (e.g. ``emax`` of an MX element type).
        two_term: every magnitude has at most two 1-bits in fixed point with one fraction
            bit (BitMoD's unified FP3/FP4 representation), so it is a sum of two powers of two.
    """

    name: str
    types: tuple[ElementFormat, ...]
    scheme: Scheme
    group_size: int | None
    scale_format: ScaleFormat | None
    family: str
    description: str
    source: str
    selector_bits: int = 0
    aliases: tuple[str, ...] = ()
    params: Mapping[str, float] = field(default_factory=dict)
    two_term: bool = False

    @property
    def bits(self) -> int:
        """Bits per stored element code."""
        return self.types[0].bits

    @property
    def tie(self) -> str:
        """Tie rule of the element rounding."""
        return self.types[0].tie

    @property
    def layout(self) -> str:
        """Bit layout of an element code, MSB first."""
        return self.types[0].layout

    @property
    def is_mixture(self) -> bool:
        """True when codes carry a type index (several element types)."""
        return len(self.types) > 1

    @property
    def is_integer(self) -> bool:
        """A plain integer format (``intN`` or ``intN_asym``): two's-complement codes."""
        return self.family == "int"

    @property
    def has_zero_point(self) -> bool:
        """Codes are unsigned with a per-group zero point (``intN_asym``)."""
        return self.scheme == "asym"

    @property
    def is_bipolar(self) -> bool:
        """A bipolar-INT format (odd values, no zero)."""
        return self.family == "bipolar"

    @property
    def is_dint(self) -> bool:
        """A dINT format (INT4 plus a sub-LSB special value)."""
        return self.family == "dint"

    @property
    def is_reference(self) -> bool:
        """An unquantized IEEE / bfloat16 reference format (always False here)."""
        return False

    @cached_property
    def values(self) -> np.ndarray:
        """Sorted unique values of all element types, in format units."""
        return np.unique(np.concatenate([t.values for t in self.types]))

    @cached_property
    def codes(self) -> np.ndarray:
        """Valid codes (extended with the type index for mixtures)."""
        return np.concatenate([(i << self.bits) | t.codes for i, t in enumerate(self.types)])

    @cached_property
    def max_abs(self) -> float:
        return float(np.abs(self.values).max())

    def encode(self, x: np.ndarray | float) -> np.ndarray:
        """Code of the nearest representable value of each element (see module docstring)."""
        if not self.is_mixture:
            return self.types[0].encode(x)
        x = np.asarray(x, dtype=np.float64)
        best_code = best_err = None
        for i, t in enumerate(self.types):
            code = t.encode(x)
            err = np.abs(t.decode(code) - x)
            ext = (i << self.bits) | code
            if best_code is None:
                best_code, best_err = ext, err
            else:
                better = err < best_err  # strict: earlier types win ties
                best_code = np.where(better, ext, best_code)
                best_err = np.where(better, err, best_err)
        return best_code

    def decode(self, codes: np.ndarray | int) -> np.ndarray:
        """Values (float64, format units) of (extended) codes."""
        if not self.is_mixture:
            return self.types[0].decode(codes)
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu":
            raise HwsimError(f"{self.name}.decode: codes must be integers, got {codes.dtype}")
        kind = codes >> self.bits
        if np.any((kind < 0) | (kind >= len(self.types))):
            raise HwsimError(
                f"{self.name}.decode: type index must be 0..{len(self.types) - 1} "
                f"(codes are (type << {self.bits}) | element code)"
            )
        out = np.empty(codes.shape, dtype=np.float64)
        for i, t in enumerate(self.types):
            sel = kind == i
            out[sel] = t.decode(codes[sel] & ((1 << self.bits) - 1))
        return out

    def bits_per_weight(self, group_size: int | None = None,
                        in_features: int | None = None) -> float:
        """Effective storage bits per weight: element code plus scales, zero points, selectors.

        Per-tensor quantities (a tensor scale, a per-tensor type) are left out: they vanish
        for real layer sizes. With `in_features` known, a row holds ceil(in_features / g)
        groups, its last one padded (as `quantize` stores it), and the two-level ``int8``
        scale adds its per-row FP32 factor; without it, one group's share per g weights.
        """
        if in_features is not None:
            in_features = check_group_size(in_features, "in_features")  # a positive integer
        g = self.group_size if group_size is None else group_size
        if self.scheme == "tensor_mean" and group_size is None:
            return float(self.bits)
        if g is None:
            if in_features is None:
                raise HwsimError(
                    f"{self.name} scales each row: pass group_size or in_features to count "
                    "its scale bits"
                )
            g = in_features
        g = check_group_size(g, "group_size")
        problem = format_group_problem(self, group_size)
        if problem is not None:  # what quantize refuses (OliVe's odd groups) has no storage
            raise HwsimError(f"group_size {group_size}: {problem}")
        per_group = SCALE_BITS[self.scale_format] if self.scale_format else 0
        if self.scheme == "asym":
            per_group += self.bits  # the zero point
        per_group += self.selector_bits
        if in_features is None:
            return self.bits + per_group / g
        # A group size not dividing the row stores one more (padded) group's fields: counted
        # as g, int4 at 128 on rows of 4544 was 4.125 bits where quantize stores 4.1268.
        groups = -(-in_features // g)
        extra = INT8_ROW_FACTOR_BITS if self.scale_format == "int8" else 0
        return self.bits + (per_group * groups + extra) / in_features


def check_group_size(group_size: object, what: str = "group_size") -> int:
    """A positive integer group size, or a clear error."""
    # NOTE: bool is an int subclass; True is not a group size.
    if isinstance(group_size, bool) or not isinstance(group_size, int | np.integer) \
            or group_size <= 0:
        raise HwsimError(f"{what} must be a positive integer, not {group_size!r}")
    return int(group_size)


@dataclass(frozen=True, eq=False)
class FloatFormat:
    """An unquantized reference format: quantizing is a cast (round half to even).

    Codes are the IEEE bit patterns (``uint16``/``uint32``).
    """

    name: str
    bits: int
    exp_bits: int
    man_bits: int
    description: str
    source: str = "IEEE 754 / bfloat16"
    aliases: tuple[str, ...] = ()
    family: str = "reference"
    scheme: str = "cast"
    group_size: None = None
    scale_format: None = None
    tie: str = "even"
    is_mixture: bool = False
    two_term: bool = False
    is_integer: bool = False
    has_zero_point: bool = False
    is_bipolar: bool = False
    is_dint: bool = False
    is_reference: bool = True

    @property
    def layout(self) -> str:
        return f"s e{self.exp_bits - 1}..e0 m{self.man_bits - 1}..m0"

    @cached_property
    def _table(self) -> ElementFormat:
        if self.bits > 16:
            raise HwsimError(f"{self.name} has 2^{self.bits} codes; its values are not enumerated")
        return minifloat(self.exp_bits, self.man_bits, "ieee", name=self.name)

    @property
    def values(self) -> np.ndarray:
        """Sorted unique finite values (fp16, bf16 only)."""
        return self._table.values

    @property
    def codes(self) -> np.ndarray:
        return self._table.codes

    @property
    def max_abs(self) -> float:
        return float(2.0 ** (2 ** (self.exp_bits - 1) - 1) * (2 - 2.0 ** -self.man_bits))

    def cast(self, x: np.ndarray) -> np.ndarray:
        """Round to this format (half to even), returned as float32: one rounding from the
        input's own precision (as ml_dtypes casts, float64 to bf16 included)."""
        x = np.asarray(x)
        if self.name == "fp32":
            with np.errstate(over="ignore"):  # beyond float32: inf, as IEEE rounds it
                return x.astype(np.float32)
        if self.name == "fp16":
            with np.errstate(over="ignore"):
                return x.astype(np.float16).astype(np.float32)

        return _round_bf16(x)

    def encode(self, x: np.ndarray | float) -> np.ndarray:
        """IEEE bit pattern (uint16/uint32) of the nearest value (NaN and Inf kept)."""
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        if self.name == "fp32":
            with np.errstate(over="ignore"):
                return x.astype(np.float32).view(np.uint32)
        if self.name == "fp16":
            with np.errstate(over="ignore"):
                return x.astype(np.float16).view(np.uint16)
        return (self.cast(x).view(np.uint32) >> 16).astype(np.uint16)

    def decode(self, codes: np.ndarray | int) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu" or np.any((codes < 0) | (codes >= 1 << self.bits)):
            raise HwsimError(f"{self.name}.decode: codes must be integers in 0..2^{self.bits}-1")
        if self.name == "fp16":
            return codes.astype(np.uint16).view(np.float16).astype(np.float64)
        bits32 = codes.astype(np.uint32) if self.name == "fp32" else codes.astype(np.uint32) << 16
        with np.errstate(invalid="ignore"):  # signalling NaN patterns stay NaN
            return bits32.view(np.float32).astype(np.float64)

    def bits_per_weight(self, group_size: int | None = None,
                        in_features: int | None = None) -> float:
        return float(self.bits)


def format_group_problem(fmt: Format | FloatFormat, group_size: int | None) -> str | None:
    """Why `group_size` cannot go with format `fmt`, or ``None`` (workloads and hardware
    descriptions that store weights in a format both apply it).

    A plain cast (fp16, bf16, fp32) has no scales, so a group size would be silently ignored;
    OliVe pairs neighbouring elements, so its groups must be even.
    """
    if group_size is None:
        return None
    if fmt.scheme == "cast":
        return (f"{fmt.name} is a plain cast without scales or groups; remove 'group_size' "
                "or pick a quantized format")
    if fmt.scheme == "olive" and group_size % 2:
        return f"{group_size} is odd; {fmt.name} pairs neighbouring weights, so give an even size"
    return None


