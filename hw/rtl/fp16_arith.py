"""IEEE binary16 multiply and add as combinational Amaranth logic (round to nearest, ties to
even; subnormals, infinities and NaN as IEEE 754 says; every NaN result is the quiet NaN
0x7E00).

The classic datapaths: the multiplier's 11 x 11-bit significand product, normalized and
rounded once; the adder orders its operands by magnitude, aligns the smaller one right keeping
guard, round and sticky bits, adds or subtracts, normalizes and rounds once. Both share
`_round_fp16`, which rounds ``mag * 2**exp`` (any unsigned integer at any binary exponent) to
FP16. `hwsim.hw.rtl.models.fp16_mac_model` (NumPy's float16, also correctly rounded) is the
reference they are tested against bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed

__all__ = ["FP16_QNAN", "fp16_add", "fp16_add_exact", "fp16_mul"]

FP16_QNAN = 0x7E00
_INF = 0x7C00
_BIAS = 15
_EXP = signed(9)  # wide enough for every intermediate exponent of both operations


def _fields(m: Module, x: Value, name: str):
    """(sign, exp field, significand with hidden bit, effective exponent, is NaN, is Inf)."""
    e, frac = x[10:15], x[0:10]
    mant = Signal(11, name=f"{name}_mant")
    m.d.comb += mant.eq(Cat(frac, e != 0))
    eff = Signal(5, name=f"{name}_eexp")  # subnormals sit at exponent 1
    m.d.comb += eff.eq(Mux(e == 0, 1, e))
    return x[15], e, mant, eff, (e == 31) & (frac != 0), (e == 31) & (frac == 0)


def _leading_zeros(m: Module, x: Value, name: str) -> Signal:
    """Leading zeros of ``x`` (``len(x)`` when zero): a priority encoder.

    One expression (a continuous assignment in the Verilog), not an ``If`` chain: Icarus never
    runs a combinational process whose inputs keep their initial value, so an accumulator
    that stays +0 from reset would leave its count undefined there."""
    n = len(x)
    lz = Signal(range(n + 1), name=name)
    count: Value = C(n, len(lz))
    for i in range(n):  # the highest set bit is the outermost choice and wins
        count = Mux(x[i], n - 1 - i, count)
    m.d.comb += lz.eq(count)
    return lz


def _shift_right_sticky(x: Value, amount: Value, limit: int) -> tuple[Value, Value]:
    """(``x >> min(amount, limit)``, any set bit shifted out): a log shifter that ORs each
    stage's dropped bits into a sticky flag."""
    sticky: Value = C(0, 1)
    width = len(x)
    for j in range(max(limit, 1).bit_length()):
        step = 1 << j
        dropped = x[:min(step, width)] != 0
        sticky = Mux(amount[j], sticky | dropped, sticky)
        x = Mux(amount[j], x >> step, x)
    return x, sticky


def _round_fp16(m: Module, sign: Value, mag: Value, exp: Value, name: str) -> Signal:
    """FP16 bits of ``(-1)**sign * mag * 2**exp``, rounded to nearest even (overflow: Inf;
    underflow: subnormal or zero). ``mag`` is unsigned, at least 12 bits; ``exp`` signed."""
    n = len(mag)
    lz = _leading_zeros(m, mag, f"{name}_lz")
    norm = Signal(n, name=f"{name}_norm")  # MSB at bit n - 1
    m.d.comb += norm.eq(mag << lz)
    biased = Signal(_EXP, name=f"{name}_bexp")  # biased exponent of the leading one
    m.d.comb += biased.eq(exp + (n - 1 + _BIAS) - lz)
    # Keep 11 significand bits and a guard bit; below the normal range shift further
    # (subnormal: the LSB stays at 2**-24). Shifting by n or more leaves only the sticky bit.
    shift = Signal(range(n + 1), name=f"{name}_rsh")
    extra = 1 - biased
    m.d.comb += shift.eq(Mux(biased >= 1, n - 12,
                             Mux(extra >= 12, n, (n - 12) + extra[:4])))
    kept, sticky = _shift_right_sticky(norm, shift, n)
    guard, mant = kept[0], kept[1:12]
    up = guard & (sticky | mant[0])
    field = Signal(16, name=f"{name}_field")  # exponent and fraction; a carry rounds up
    m.d.comb += field.eq(Cat(mant[:10], Mux(biased >= 1, biased[:5], 0)) + up)
    result = Signal(16, name=name)
    m.d.comb += result.eq(Cat(Mux(mag == 0, 0, Mux(biased >= 31, _INF, field[:15])), sign))
    return result


def _align_add(m: Module, big: tuple[Value, Value], small: tuple[Value, Value], diff: Value,
               limit: int, name: str) -> tuple[Value, Signal]:
    """(sign, magnitude) of big + small, ``(sign, significand)`` each, the smaller magnitude
    ``diff`` binary places lower; the sum has 3 more fraction bits than ``big``'s significand.

    Guard, round and sticky bits below the smaller significand, its dropped bits ORed into the
    LSB: rounding the sum then gives what rounding the exact sum would (more than one bit of
    cancellation needs ``diff`` <= 1, where nothing is dropped)."""
    (sx, mx), (sy, my) = big, small
    aligned, sticky = _shift_right_sticky(Cat(C(0, 3), my), diff, limit)
    small_al = Signal(len(my) + 3, name=f"{name}_align")
    m.d.comb += small_al.eq(aligned | sticky)
    total = Signal(len(mx) + 4, name=f"{name}_sum")
    big_al = Cat(C(0, 3), mx)
    m.d.comb += total.eq(Mux(sx == sy, big_al + small_al, big_al - small_al))
    return Mux(total == 0, sx & sy, sx), total


def _normalized(m: Module, mag: Value, msb_exp: Value, name: str) -> tuple[Signal, Signal]:
    """(``mag`` shifted so its MSB is set, binary exponent of that MSB); a zero gets the
    lowest exponent, so it is always the smaller operand."""
    lz = _leading_zeros(m, mag, f"{name}_lz")
    norm = Signal(len(mag), name=f"{name}_norm")
    exp = Signal(_EXP, name=f"{name}_msb")
    m.d.comb += [norm.eq(mag << lz), exp.eq(Mux(mag == 0, -(1 << 7), msb_exp - lz))]
    return norm, exp


def fp16_add_exact(m: Module, x: Value, y_sign: Value, y_mag: Value, y_exp: Value,
                   name: str = "add") -> Signal:
    """FP16 ``x`` plus the exact finite value ``(-1)**y_sign * y_mag * 2**y_exp`` (``y_mag``
    unsigned, at least 11 bits; ``y_exp`` signed), rounded once to FP16 (an FP16 x INT product
    added into an FP16 accumulator without rounding the product first)."""
    width = len(y_mag)
    sx, _, mx, ex, nan_x, inf_x = _fields(m, x, f"{name}_x")
    nx, ex_msb = _normalized(m, Cat(C(0, width - 11), mx), ex + C(-_BIAS, signed(6)),
                             f"{name}_x")
    ny, ey_msb = _normalized(m, y_mag, y_exp + (width - 1), f"{name}_y")
    swap = (ey_msb > ex_msb) | ((ey_msb == ex_msb) & (ny > nx))
    sb, eb, mb = Mux(swap, y_sign, sx), Mux(swap, ey_msb, ex_msb), Mux(swap, ny, nx)
    ss, es, ms = Mux(swap, sx, y_sign), Mux(swap, ex_msb, ey_msb), Mux(swap, nx, ny)
    big_exp = Signal(_EXP, name=f"{name}_bexp")
    m.d.comb += big_exp.eq(eb)
    gap = Signal(_EXP, name=f"{name}_gap")
    m.d.comb += gap.eq(big_exp - es)
    diff = Signal(range(width + 5), name=f"{name}_diff")  # beyond width + 3 only sticky
    m.d.comb += diff.eq(Mux(gap > width + 4, width + 4, gap[:8]))
    sign, total = _align_add(m, (sb, mb), (ss, ms), diff, width + 4, name)
    exp = Signal(_EXP, name=f"{name}_exp")  # value = total * 2**exp
    m.d.comb += exp.eq(big_exp - (width - 1 + 3))
    finite = _round_fp16(m, sign, total, exp, f"{name}_rnd")
    out = Signal(16, name=name)
    m.d.comb += out.eq(Mux(nan_x, FP16_QNAN, Mux(inf_x, Cat(C(_INF, 15), sx), finite)))
    return out


def fp16_mul(m: Module, a: Value, b: Value, name: str = "mul") -> Signal:
    """FP16 product ``a * b`` (16-bit patterns in, 16-bit pattern out), one rounding."""
    sa, _, ma, ea, nan_a, inf_a = _fields(m, a, f"{name}_a")
    sb, _, mb, eb, nan_b, inf_b = _fields(m, b, f"{name}_b")
    sign = sa ^ sb
    prod = Signal(22, name=f"{name}_prod")
    m.d.comb += prod.eq(ma * mb)
    exp = Signal(_EXP, name=f"{name}_exp")  # value = prod * 2**exp
    m.d.comb += exp.eq(ea + eb + C(-2 * (_BIAS + 10), signed(7)))
    finite = _round_fp16(m, sign, prod, exp, f"{name}_rnd")
    zero_a, zero_b = a[:15] == 0, b[:15] == 0
    nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
    out = Signal(16, name=name)
    m.d.comb += out.eq(Mux(nan, FP16_QNAN, Mux(inf_a | inf_b, Cat(C(_INF, 15), sign), finite)))
    return out


def fp16_add(m: Module, a: Value, b: Value, name: str = "add") -> Signal:
    """FP16 sum ``a + b``, one rounding; an exact zero sum is +0 unless both are -0."""
    swap = b[:15] > a[:15]  # bit patterns order finite magnitudes
    big = Signal(16, name=f"{name}_big")
    small = Signal(16, name=f"{name}_small")
    m.d.comb += [big.eq(Mux(swap, b, a)), small.eq(Mux(swap, a, b))]
    sx, _, mx, ex, nan_x, inf_x = _fields(m, big, f"{name}_x")
    sy, _, my, ey, nan_y, inf_y = _fields(m, small, f"{name}_y")
    diff = Signal(5, name=f"{name}_diff")
    m.d.comb += diff.eq(ex - ey)
    sign, total = _align_add(m, (sx, mx), (sy, my), diff, 16, name)
    exp = Signal(_EXP, name=f"{name}_exp")  # value = total * 2**exp
    m.d.comb += exp.eq(ex + C(-(_BIAS + 10 + 3), signed(7)))
    finite = _round_fp16(m, sign, total, exp, f"{name}_rnd")
    nan = nan_x | nan_y | (inf_x & inf_y & (sx != sy))
    out = Signal(16, name=name)
    # The larger magnitude is the Inf if there is one.
    m.d.comb += out.eq(Mux(nan, FP16_QNAN, Mux(inf_x, Cat(C(_INF, 15), sx), finite)))
    return out
