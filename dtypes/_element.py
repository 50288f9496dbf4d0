"""Element formats: a code table (code -> value) with encode, decode and a bit layout.

An `ElementFormat` is the number format of one stored element: `int4`, `fp4_e2m1`,
`fp3_ea_pos`, `nf4`, ... It knows nothing about scales or groups; `hwsim.dtypes.quantize`
combines it with a scaling scheme.

Conventions shared by every table:

- Codes are unsigned integers ``0 .. 2**bits - 1``; `valid` marks the codes the format uses
  (symmetric ``int4`` does not use ``0b1000``).
- Values are in *format units* (``fp4_e2m1`` holds 0.5 .. 6; BitMoD's ``fp4_*`` types use
  the same E2M1 units, so ER adds ±5 and EA adds ±8).
- Several codes may share a value (``+0``/``-0``); `encode` returns the lowest such code,
  the *canonical* one. Signed zero is therefore not preserved. NaN encodes to the lowest
  quiet NaN (mantissa top bit set) where the format has one, as ml_dtypes does.
- "Even" for round-half-to-even is the code's least significant bit being 0: the mantissa
  LSB of a minifloat, the parity of a two's-complement integer, of a bipolar code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hwsim.dtypes._grid import TieRule, nearest_index
from hwsim.errors import HwsimError

__all__ = ["ElementFormat"]


@dataclass(frozen=True, eq=False)
class ElementFormat:
    """A finite number format given by its code table.

    Attributes:
        name: canonical lower-case name, e.g. ``"fp4_ea_pos"``.
        bits: bits per stored code.
        code_values: value of every code ``0 .. 2**bits - 1`` in format units (float64);
            NaN marks a NaN encoding, ``±inf`` an infinity.
        valid: which codes belong to the format.
        tie: tie rule of the format's reference quantizer (see `hwsim.dtypes.TIE_RULES`).
        layout: bit layout from MSB to LSB, e.g. ``"s e1 e0 m0"``.
        family: grouping for listings (``"int"``, ``"fp"``, ``"bitmod"``, ...).
        description: one line for listings.
        source: where the definition comes from (paper, spec or library).
    """

    name: str
    bits: int
    code_values: np.ndarray
    valid: np.ndarray
    tie: TieRule
    layout: str
    family: str
    description: str
    source: str

    def __post_init__(self) -> None:
        if self.code_values.shape != (1 << self.bits,) or self.valid.shape != (1 << self.bits,):
            raise ValueError(f"{self.name}: code table must have 2**{self.bits} entries")
        self.code_values.setflags(write=False)
        self.valid.setflags(write=False)

    # -- derived tables ---------------------------------------------------------------------
    @cached_property
    def codes(self) -> np.ndarray:
        """The valid codes, ascending."""
        return np.flatnonzero(self.valid).astype(np.int64)

    @cached_property
    def _finite(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique finite values and the canonical (lowest) code of each."""
        codes = self.codes
        vals = self.code_values[codes]
        keep = np.isfinite(vals)
        codes, vals = codes[keep], vals[keep] + 0.0  # + 0.0 folds -0.0 into +0.0
        order = np.lexsort((codes, vals))
        vals, codes = vals[order], codes[order]
        first = np.ones(len(vals), dtype=bool)
        first[1:] = vals[1:] != vals[:-1]
        return vals[first], codes[first]

    @property
    def values(self) -> np.ndarray:
        """Sorted unique finite values the format represents, in format units."""
        return self._finite[0]

    @cached_property
    def max_abs(self) -> float:
        """Largest finite magnitude."""
        return float(np.abs(self.values).max())

    @cached_property
    def _midpoints(self) -> np.ndarray:
        v = self.values
        return (v[1:] + v[:-1]) / 2.0

    @cached_property
    def _midpoints_f32(self) -> np.ndarray | None:
        """Midpoints as float32 when they are exact there (then float32 input compares exactly)."""
        m32 = self._midpoints.astype(np.float32)
        return m32 if np.array_equal(m32.astype(np.float64), self._midpoints) else None

    @cached_property
    def _even(self) -> np.ndarray:
        return (self._finite[1] & 1) == 0

    @cached_property
    def _quiet_bit(self) -> int | None:
        """The bit of the mantissa's top bit (`layout`'s first ``m``), if the format has one."""
        fields = self.layout.split("(")[0].split()
        top = next((i for i, f in enumerate(fields) if f.startswith("m")), None)
        return None if top is None or len(fields) != self.bits else self.bits - 1 - top

    def _special_code(self, kind: str) -> int | None:
        cv = self.code_values[self.codes]
        if kind == "nan":
            hit = self.codes[np.isnan(cv)]
            quiet = self._quiet_bit
            if quiet is not None and ((hit >> quiet) & 1).any():
                # IEEE 754's quiet NaN (the mantissa's top bit set), as ml_dtypes encodes it:
                # E5M2 0x7E, not the signalling 0x7D.
                hit = hit[((hit >> quiet) & 1) == 1]
        elif kind == "+inf":
            hit = self.codes[np.isposinf(cv)]
        else:
            hit = self.codes[np.isneginf(cv)]
        return int(hit[0]) if len(hit) else None

    # -- encode / decode --------------------------------------------------------------------
    def nearest_index(self, x: np.ndarray) -> np.ndarray:
        """Index into `values` of the nearest value to each finite element of `x`."""
        x = np.asarray(x)
        if x.dtype == np.float32 and self._midpoints_f32 is not None:
            mids = self._midpoints_f32
        else:
            x = x.astype(np.float64, copy=False)
            mids = self._midpoints
        return nearest_index(x, self.values, mids, self.tie, self._even)

    def round(self, x: np.ndarray) -> np.ndarray:
        """Nearest representable value (float64) of finite `x`, saturating at the ends."""
        return self.values[self.nearest_index(x)]

    def encode(self, x: np.ndarray | float) -> np.ndarray:
        """Canonical code of the value nearest to each element of `x` (the format's tie rule).

        Finite values beyond the range saturate to the largest magnitude of their sign.
        NaN and infinities encode to the format's own NaN/Inf codes; a format without them
        raises `HwsimError`.
        """
        x = np.asarray(x)
        if x.dtype.name == "bfloat16":  # ml_dtypes' (kind "V"), as `quantize` takes it: exact
            x = x.astype(np.float32)
        if x.dtype.kind not in "fiu":
            raise HwsimError(f"{self.name}.encode: expected numbers, got dtype {x.dtype}")
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        finite = np.isfinite(x)
        if finite.all():
            return self._finite[1][self.nearest_index(x)]
        out = np.zeros(x.shape, dtype=np.int64)
        out[finite] = self._finite[1][self.nearest_index(x[finite])]
        for kind, mask in (("nan", np.isnan(x)), ("+inf", np.isposinf(x)),
                           ("-inf", np.isneginf(x))):
            if mask.any():
                code = self._special_code(kind)
                if code is None:
                    pos = tuple(int(i) for i in np.argwhere(mask)[0])
                    raise HwsimError(
                        f"{self.name} cannot represent {kind.lstrip('+')} "
                        f"(first at index {pos})"
                    )
                out[mask] = code
        return out

    def decode(self, codes: np.ndarray | int) -> np.ndarray:
        """Value (float64, format units) of each code; a code outside the format is an error."""
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu":
            raise HwsimError(f"{self.name}.decode: codes must be integers, got {codes.dtype}")
        flat = codes.reshape(-1)
        in_range = (flat >= 0) & (flat < (1 << self.bits))
        bad = ~in_range
        bad[in_range] = ~self.valid[flat[in_range]]
        if bad.any():
            first = flat[bad][0]
            raise HwsimError(
                f"{self.name}.decode: {int(first)} is not a code of this format "
                f"({len(self.codes)} valid codes in 0..{(1 << self.bits) - 1})"
            )
        return self.code_values[flat.astype(np.intp)].reshape(codes.shape)

    def describe_range(self) -> str:
        """Human summary of the finite range, e.g. ``"-6 .. 6"``."""
        v = self.values
        return f"{v[0]:g} .. {v[-1]:g}"
