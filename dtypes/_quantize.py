"""The golden quantizer: vectorized NumPy over whole tensors.

``quantize(w, fmt, group_size)`` groups the last axis (the reduction / input-feature axis
of a weight ``(out_features, in_features)``) into groups of `group_size`, computes the
scales of the format's scheme, rounds them to their storage format, and encodes every
element against its stored scale with the format's tie rule.

Arithmetic: float64 input is processed in float64, every other float type in float32 (as
the reference implementations do); stored scales are exact in float32, so ``w / scale`` is
the same division a float32 reference performs. Metrics are accumulated in float64.

Padding: when the last axis is not a multiple of the group size, the last group of each
row is padded with zeros. Zeros never raise a group's absmax, every type with a zero
represents them exactly, and mean- or moment-based scales (ternary, binary, OliVe) divide by
the real element count, so padding changes no scale and no choice; it is excluded from the
output and the metrics, but the padded group's scale is counted in `bits_per_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.dtypes._element import ElementFormat
from hwsim.dtypes._format import FloatFormat, Format, check_group_size
from hwsim.dtypes._grid import count_below_per_row
from hwsim.dtypes._metrics import error_metrics
from hwsim.dtypes._registry import get_element, get_format
from hwsim.dtypes._scale import INT8_ROW_FACTOR_BITS, SCALE_BITS, store_scales
from hwsim.dtypes._search import best_scale_per_row
from hwsim.errors import HwsimError
from hwsim.limits import check_array

__all__ = ["QuantResult", "quantize", "quantize_named"]


@dataclass(frozen=True, eq=False)
class QuantResult:
    """What `quantize` returns.

    Attributes:
        format: canonical format name.
        group_size: elements per scale along the last axis (``None``: one per tensor).
        dequantized: ``decode(codes) * scale`` in the input's shape and dtype.
        codes: stored element codes, input shape (for ``olive4`` victims carry the
            identifier code; for other mixtures the code within the chosen type).
        scales: stored scale per (row, group) as float64; the dequantization multiplier.
        zero_points: per (row, group) zero points of asymmetric formats, else ``None``.
        types: per (row, group) index into `type_names` for mixtures, else ``None``.
        type_names: names of the candidate element types.
        bits_per_weight: storage bits per weight including scales, zero points, selectors.
        mse, sqnr_db, max_abs_error: error of `dequantized` against the input.
        outlier_pairs: OliVe pairs holding an outlier (``None`` for other formats).
        tensor_scale: second-level per-tensor scale (NVFP4), else ``None``.
        flushed_groups: groups holding a nonzero weight that dequantize to all zeros: their
            scale underflowed its storage format (weights below ~1e-7 in FP16), a two-level
            INT8 scale rounded to 0 beside its row's largest, an NVFP4 block scale clamped
            far below its tensor's (every other scheme maps a group's largest weight to a
            nonzero code; ternary's threshold is left out). The commands name them; the
            format defines the result.
    """

    format: str
    group_size: int | None
    dequantized: np.ndarray
    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None
    types: np.ndarray | None
    type_names: tuple[str, ...]
    bits_per_weight: float
    mse: float
    sqnr_db: float
    max_abs_error: float
    outlier_pairs: int | None = None
    tensor_scale: float | None = None
    flushed_groups: int = 0

    def type_histogram(self) -> dict[str, int]:
        """How many groups chose each type (mixtures), in `type_names` order."""
        if self.types is None:
            return {}
        counts = np.bincount(self.types.ravel(), minlength=len(self.type_names))
        return {n: int(c) for n, c in zip(self.type_names, counts, strict=True)}


# --------------------------------------------------------------------------------------------
# input checks


# The float dtypes quantize computes in (float64, else float32) without losing range.
_INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _check_input(w: object, name: str) -> np.ndarray:
    x = np.asarray(w)
    if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
        raise HwsimError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.dtype.name not in _INPUT_DTYPES:  # longdouble: computed in float32, 1e-300 lost
        raise HwsimError(f"{name}: dtype {x.dtype} is not one of {', '.join(_INPUT_DTYPES)}; "
                         "convert it first (e.g. .astype(np.float64))")
    if x.ndim == 0:
        raise HwsimError(f"{name}: expected at least one axis (the reduction axis), got a scalar")
    bad = ~np.isfinite(x.astype(np.float32, copy=False) if x.dtype.name == "bfloat16" else x)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(x[pos]) else "Inf"
        raise HwsimError(f"{name}: {kind} at index {pos}; quantized formats cannot hold it")
    return x


def _work_dtype(x: np.ndarray) -> type:
    return np.float64 if x.dtype == np.float64 else np.float32


def _code_dtype(bits: int) -> type:
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32


# --------------------------------------------------------------------------------------------
# element encoding against stored scales


def _divide(xg: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``xg / scale`` per group (scales broadcast over the last axis); zero scale -> 0."""
    s = scales.astype(xg.dtype)[..., None]
    zero = s == 0
    y = np.divide(xg, np.where(zero, 1, s))
    if zero.any():
        y = np.where(zero, 0, y)
    return y, s


def _nearest_scaled(xg: np.ndarray, scales: np.ndarray, elem: ElementFormat,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``elem.values`` and dequantized values (work dtype) at stored scales."""
    y, s = _divide(xg, scales)
    idx = elem.nearest_index(y)
    del y
    deq = elem.values.astype(xg.dtype)[idx]
    deq *= s
    return idx, deq


def _nearest_scaled_per_group(xg: np.ndarray, scales: np.ndarray, types: np.ndarray,
                              f: Format) -> tuple[np.ndarray, np.ndarray]:
    """`_nearest_scaled` where every group has its own type among ``f.types``.

    One pass for all groups: each group compares against its own type's midpoints. The
    types must share a tie rule that needs no fix-up ("lower" or "upper") and a grid size.
    """
    tie = f.types[0].tie
    width = len(f.types[0].values)
    if tie not in ("lower", "upper") or any(
            t.tie != tie or len(t.values) != width for t in f.types):
        idx = np.empty(xg.shape, dtype=np.uint8)
        deq = np.empty_like(xg)
        for i, t in enumerate(f.types):
            sel = types == i
            if sel.any():
                idx[sel], deq[sel] = _nearest_scaled(xg[sel], scales[sel], t)
        return idx, deq
    y, s = _divide(xg, scales)
    mids = np.stack([(t.values[1:] + t.values[:-1]) / 2 for t in f.types]).astype(y.dtype)
    group_types = types.reshape(-1)
    idx = count_below_per_row(y.reshape(-1, xg.shape[-1]), mids[group_types],
                              strict=tie == "lower").reshape(xg.shape)
    del y
    values = np.stack([t.values for t in f.types]).astype(xg.dtype)
    deq = values.reshape(-1)[_type_value_index(types, idx, width)]
    deq *= s
    return idx, deq


def _type_value_index(types: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """Flat index ``type * width + idx`` into a (types, width) table, in the narrowest dtype
    (uint8 for 4-bit mixtures: a quarter of the memory traffic of intp)."""
    dtype = np.uint8 if (int(types.max(initial=0)) + 1) * width <= 256 else np.intp
    flat = idx.astype(dtype, copy=True)
    flat += (types.astype(dtype) * dtype(width))[..., None]
    return flat


def _encode_scaled(xg: np.ndarray, scales: np.ndarray, elem: ElementFormat,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Codes and dequantized values (work dtype) of groups `xg` at their stored scales."""
    idx, deq = _nearest_scaled(xg, scales, elem)
    return elem._finite[1].astype(_code_dtype(elem.bits))[idx], deq


def _encode_int(xg: np.ndarray, scales: np.ndarray, qmax: int, bits: int,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Fast path of symmetric integers: rint (half to even) and clip."""
    q, s = _divide(xg, scales)
    np.rint(q, out=q)
    np.clip(q, -qmax, qmax, out=q)
    # Two's complement of q in `bits` bits: the low byte(s) of the signed integer.
    codes = q.astype(np.int8 if bits <= 8 else np.int16).view(_code_dtype(bits))
    codes &= (1 << bits) - 1
    q *= s
    return codes, q


def _group_sse(xg: np.ndarray, deq: np.ndarray) -> np.ndarray:
    """Squared error per group (float64 result; summed in the working precision).

    The squares are summed in sorted order, so groups whose errors are the same values in
    another order (a mirrored group under ER_POS and ER_NEG) give the same sum: a tie between
    candidate types is an exact tie, and the earlier type wins it as the rule says (summed in
    element order, the last bit picked ER_NEG in 132 of 600 mirrored groups). A float32
    difference is squared in float64, exactly: in float32 the squares of weights near 2**64
    overflowed (near 2**-75 underflowed), every type tied and the first won.
    """
    d = (deq - xg).astype(np.float64, copy=False)
    d *= d
    d.sort(axis=-1)
    return d.sum(axis=-1, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# schemes: each takes groups (rows, groups, g) and returns a partial result


@dataclass
class _Out:
    codes: np.ndarray
    deq: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None = None
    types: np.ndarray | None = None
    outlier_pairs: int | None = None
    tensor_scale: float | None = None
    extra_bits: float = 0.0  # per-tensor bits beyond per-group ones


def _nearest_nf(xg: np.ndarray, scales: np.ndarray, elem: ElementFormat,
                ) -> tuple[np.ndarray, np.ndarray]:
    """`_nearest_scaled` in bitsandbytes' NF4 arithmetic, which defines the format: float32
    input times the float32 reciprocal of the absmax, clamped to [-1, 1], bucketed by the
    table's midpoints rounded to float32, a value on one to the lower side. Compared with
    exact midpoints and a division, 6 of 15 values placed on float32 midpoints took the
    other code (random weights agree either way)."""
    s32 = scales.astype(np.float32)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        recip = np.where(s32 > 0, np.float32(1) / s32, np.float32(0))
        y = xg.astype(np.float32) * recip[..., None]
    # A subnormal absmax has no float32 reciprocal (inf: 0 * inf is NaN, which took the last
    # code): those groups divide, which bitsandbytes' zeros and codes agree with.
    if not np.isfinite(recip).all():
        tiny = ~np.isfinite(recip)
        y[tiny] = xg[tiny].astype(np.float32) / s32[tiny][..., None]
    np.clip(y, -1, 1, out=y)
    # torch.bucketize(y, mids) (right=False): the number of midpoints below y.
    idx = np.searchsorted(elem._midpoints.astype(np.float32), y, side="left")
    deq = elem.values.astype(xg.dtype)[idx]
    deq *= scales.astype(xg.dtype)[..., None]
    return idx, deq


def _scheme_absmax(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    elem = f.types[0]
    amax = np.abs(xg).max(axis=-1).astype(np.float64)
    scales = store_scales(amax / elem.max_abs, scale_format, f"{f.name} scale")
    if elem.family == "nf":
        idx, deq = _nearest_nf(xg, scales, elem)
        codes = elem._finite[1].astype(_code_dtype(elem.bits))[idx]
        return _Out(codes, deq, scales, extra_bits=_row_factor_bits(scale_format, xg.shape[0]))
    if elem.family == "int" and elem.tie == "even":
        qmax = (1 << (elem.bits - 1)) - 1
        codes, deq = _encode_int(xg, scales, qmax, elem.bits)
    else:
        codes, deq = _encode_scaled(xg, scales, elem)
    return _Out(codes, deq, scales, extra_bits=_row_factor_bits(scale_format, xg.shape[0]))


def _row_factor_bits(scale_format: str, rows: int) -> float:
    return INT8_ROW_FACTOR_BITS * rows if scale_format == "int8" else 0.0


def _scheme_asym(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    bits = f.bits
    levels = (1 << bits) - 1
    # The range always includes 0, so the zero point never needs clamping and a constant
    # group stays exact (AWQ clamps the zero point instead).
    lo = np.minimum(xg.min(axis=-1), 0).astype(np.float64)
    hi = np.maximum(xg.max(axis=-1), 0).astype(np.float64)
    scales = store_scales((hi - lo) / levels, scale_format, f"{f.name} scale")
    with np.errstate(divide="ignore", invalid="ignore"):
        zero = np.where(scales > 0, np.clip(np.rint(-lo / scales), 0, levels), 0.0)
    q, s = _divide(xg, scales)
    np.rint(q, out=q)
    q += zero.astype(q.dtype)[..., None]
    np.clip(q, 0, levels, out=q)
    codes = q.astype(_code_dtype(bits))
    q -= zero.astype(q.dtype)[..., None]
    q *= s
    return _Out(codes, q, scales, zero_points=zero.astype(np.int64),
                extra_bits=_row_factor_bits(scale_format, xg.shape[0]))


def _scheme_mixture(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    amax = np.abs(xg).max(axis=-1).astype(np.float64)
    two_level = scale_format == "int8"
    # The type is chosen per group at its own scale: the stored one for per-group scale
    # formats; for BitMoD's two-level INT8 the group's float scale (FP32), since the row
    # factor is only known once every group has chosen (s_row = max_g s_g / 255).
    best_sse = types = best_scales = best_idx = best_deq = None
    divided: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # types sharing a scale
    for i, t in enumerate(f.types):
        scales = store_scales(amax / t.max_abs, "fp32" if two_level else scale_format,
                              f"{f.name} scale")
        if t.max_abs not in divided:
            divided = {t.max_abs: _divide(xg, scales)}
        y, s = divided[t.max_abs]
        idx = t.nearest_index(y)
        deq = t.values.astype(xg.dtype)[idx]
        deq *= s
        sse = _group_sse(xg, deq)
        if best_sse is None:
            best_sse, best_scales = sse, scales
            types = np.zeros(sse.shape, dtype=np.int8)
            if not two_level:
                best_idx, best_deq = idx, deq
            continue
        better = sse < best_sse  # strict: the earlier type wins a tie
        np.copyto(best_sse, sse, where=better)
        np.copyto(best_scales, scales, where=better)
        types[better] = i
        if not two_level:
            b3 = np.broadcast_to(better[..., None], idx.shape)
            np.copyto(best_idx, idx, where=b3)
            np.copyto(best_deq, deq, where=b3)
    del divided
    if two_level:
        # Store the chosen scales in two levels, then encode each group at its stored scale
        # with its chosen type (one pass for all groups).
        best_scales = store_scales(best_scales, "int8", f"{f.name} scale")
        best_idx, best_deq = _nearest_scaled_per_group(xg, best_scales, types, f)
    # Codes once, for the chosen types only: a (type, value index) -> code table.
    width = max(len(t.values) for t in f.types)
    table = np.zeros((len(f.types), width), dtype=_code_dtype(f.bits))
    for i, t in enumerate(f.types):
        table[i, :len(t.values)] = t._finite[1]
    flat = _type_value_index(types, best_idx, width)
    return _Out(table.reshape(-1)[flat], best_deq, best_scales, types=types,
                extra_bits=_row_factor_bits(scale_format, xg.shape[0]))


# ANT's scale search, as its reference runs transformers (clevercool/ANT-Quantization,
# ant_quantization/antquant/quant_modules.py `search_mse` with the BERT scripts' -wl 75 -wu 250):
# alpha = 75% .. 249% of the row's absmax, 1% steps.
_ANT_SEARCH = np.arange(75, 250) / 100.0


def _scheme_ant(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    rows = xg.reshape(-1, xg.shape[-1])
    fractions = _ANT_SEARCH
    amax = np.abs(rows).max(axis=-1).astype(np.float64)
    best_sse, best_ideal = [], []
    for t in f.types:
        # alpha = fraction * absmax is mapped to the type's largest positive value.
        base = amax / t.values.max()
        sse, pick = best_scale_per_row(rows, base, fractions, t)
        best_sse.append(sse)
        best_ideal.append(base * fractions[pick])
    choice = int(np.argmin([s.sum() for s in best_sse]))  # per tensor; first wins a tie
    t = f.types[choice]
    scales = store_scales(best_ideal[choice].reshape(xg.shape[:-1]), scale_format,
                          f"{f.name} scale")
    codes, deq = _encode_scaled(xg, scales, t)
    types = np.full(scales.shape, choice, dtype=np.int8) if f.is_mixture else None
    return _Out(codes, deq, scales, types=types, extra_bits=2.0 if f.is_mixture else 0.0)


_OLIVE_SEARCH = np.arange(75, 251, 2) / 100.0  # 75% .. 249% of the base, 2% steps
_OLIVE_SEARCH_PAIRS = 256  # pairs per row evaluated in the scale search


def _olive_outliers(y: np.ndarray, f: Format) -> np.ndarray:
    """Elements (in units of the scale) that are outliers: those whose nearest value on the
    combined grid, normal values and abfloat outliers, is an outlier value, as OliVe's
    reference quantizes (clevercool/ANT-Quantization, `Quantizer._forward`: the nearest value
    of both grids, then an outlier where it exceeds the normal range). The boundary is halfway
    between the largest normal value and the smallest outlier (7 and 12: 9.5); a tie goes to
    the outlier, of either sign: the reference's kernel (ant_quantization/quant/
    quant_kernel.cu) keeps the last of equally near grid values, and the outliers follow the
    normal values in its grid."""
    normal, outlier = f.types
    largest_normal = float(normal.code_values[normal.valid].max())
    smallest_outlier = float(np.abs(outlier.code_values[outlier.valid]).min())
    return np.abs(y) >= (largest_normal + smallest_outlier) / 2


def _olive_encode(xg: np.ndarray, scales: np.ndarray, f: Format,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OliVe codes, dequantized values and per-pair outlier flags at given scales."""
    outlier = f.types[1]
    y, s = _divide(xg, scales)
    # Normal values: int4 -7..7, ties to the larger value (OliVe's kernels).
    q = np.floor(y + 0.5)
    is_out = _olive_outliers(y, f)
    np.clip(q, -7, 7, out=q)
    pairs = is_out.reshape(*is_out.shape[:-1], -1, 2)
    even_out, odd_out = pairs[..., 0], pairs[..., 1]
    # The even element keeps its outlier when both are; its neighbour becomes the victim.
    keep = np.stack([even_out, odd_out & ~even_out], axis=-1).reshape(is_out.shape)
    victim = np.stack([odd_out & ~even_out, even_out], axis=-1).reshape(is_out.shape)
    codes = (q.astype(np.int8) & 0xF).astype(np.uint8)
    out_codes = outlier.encode(y[keep])  # outliers are few: encode only them
    codes[keep] = out_codes
    codes[victim] = 0b1000
    q[keep] = outlier.code_values[out_codes]
    q[victim] = 0
    q *= s
    return codes, q, even_out | odd_out


def _olive_sse(xg: np.ndarray, scales: np.ndarray, f: Format) -> np.ndarray:
    """Squared error per group of `_olive_encode` at given scales, without building codes.

    Same decisions as `_olive_encode`; used by the scale search, where only the error counts.
    """
    outlier = f.types[1]
    y, s = _divide(xg, scales)
    err = np.floor(y + 0.5)
    is_out = _olive_outliers(y, f)
    np.clip(err, -7, 7, out=err)
    err -= y
    np.square(err, out=err)  # normal error, in units of the scale
    if is_out.any():
        pairs = is_out.reshape(*is_out.shape[:-1], -1, 2)
        even_out, odd_out = pairs[..., 0], pairs[..., 1]
        keep = np.stack([even_out, odd_out & ~even_out], axis=-1).reshape(is_out.shape)
        victim = np.stack([odd_out & ~even_out, even_out], axis=-1).reshape(is_out.shape)
        y_out = y[keep]
        err[keep] = (outlier.round(y_out) - y_out) ** 2
        err[victim] = y[victim] ** 2
    return np.einsum("...i->...", err).astype(np.float64) * (s[..., 0].astype(np.float64) ** 2)


def _scheme_olive(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    if xg.shape[-1] % 2:
        raise HwsimError(f"{f.name}: the group size must be even (elements are paired)")
    r, g, n = xg.shape
    # Moments over the real elements of each group (padding zeros excluded); sigma is the
    # sample standard deviation (n - 1), torch's `std()` in OliVe's reference `search_mse`.
    x64 = xg.astype(np.float64)
    mu = x64.sum(axis=-1) / counts
    squares = np.maximum((x64 * x64).sum(axis=-1) - counts * mu * mu, 0.0)
    sigma = np.sqrt(squares / np.maximum(counts - 1, 1))
    base = np.maximum(np.abs(mu + 3 * sigma), np.abs(mu - 3 * sigma))
    # Search on an evenly strided subset of pairs for long groups (all pairs when short).
    n_pairs = n // 2
    step = max(1, n_pairs // _OLIVE_SEARCH_PAIRS)
    sub = xg.reshape(r, g, n_pairs, 2)[:, :, ::step, :].reshape(r, g, -1)
    best_sse = np.full((r, g), np.inf)
    best_ideal = base / 7.0
    for c in _OLIVE_SEARCH:
        ideal = c * base / 7.0
        sse = _olive_sse(sub, ideal, f)
        better = sse < best_sse
        best_sse = np.where(better, sse, best_sse)
        best_ideal = np.where(better, ideal, best_ideal)
    scales = store_scales(best_ideal, scale_format, f"{f.name} scale")
    codes, deq, has_outlier = _olive_encode(xg, scales, f)
    return _Out(codes, deq, scales, outlier_pairs=int(has_outlier.sum()))


def _scheme_mx(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    elem = f.types[0]
    amax = np.abs(xg).max(axis=-1).astype(np.float64)
    _, exp = np.frexp(amax)  # amax = m * 2**exp, m in [0.5, 1): floor(log2 amax) = exp - 1
    ideal = exp - 1 - int(f.params["emax"])
    if (ideal > 127).any():  # clipped to 2**127, 1e300 came back as 1.0e39 without a word
        big = float(amax[ideal > 127].max())
        raise HwsimError(f"{f.name}: a block's largest magnitude {big:g} needs a shared scale "
                         f"of 2**{int(ideal.max())}, beyond E8M0's largest, 2**127")
    shared = np.clip(ideal, -127, 127)
    scales = np.where(amax > 0, np.ldexp(1.0, shared), 2.0**-127)
    codes, deq = _encode_scaled(xg, scales, elem)
    return _Out(codes, deq, scales)


def _scheme_nvfp4(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    elem = f.types[0]
    e4m3 = get_element("fp8_e4m3")
    amax = np.abs(xg).max(axis=-1).astype(np.float64)
    t_amax = float(amax.max()) if amax.size else 0.0
    with np.errstate(over="ignore"):
        tensor_scale = float(np.float32(t_amax / (e4m3.max_abs * elem.max_abs)))
    if not np.isfinite(tensor_scale):
        raise HwsimError(f"{f.name}: the FP32 tensor scale overflows (absmax {t_amax:g})")
    if tensor_scale == 0.0:
        block = np.zeros_like(amax)
    else:
        # As torchao (the reference): the block scale is clamped to E4M3's smallest normal,
        # 2**-6, before rounding; kept subnormal (or 0), a block tiny beside the tensor's
        # maximum took other values than the reference's (20,853 of 32,768 on one test).
        ideal = np.maximum(np.float32(amax / elem.max_abs / tensor_scale), np.float32(2.0**-6))
        block = e4m3.round(ideal)
    scales = (block.astype(np.float32) * np.float32(tensor_scale)).astype(np.float64)
    codes, deq = _encode_scaled(xg, scales, elem)
    return _Out(codes, deq, scales, tensor_scale=tensor_scale, extra_bits=32.0)


def _scheme_tensor_mean(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    # BitNet b1.58: q = clamp(round(w / mean|w|), -1, 1); the stored scale is mean|w|.
    mean = np.abs(xg).astype(np.float64).sum(axis=-1) / counts  # padding excluded
    scales = store_scales(mean, scale_format, f"{f.name} scale")
    codes, deq = _encode_int(xg, scales, 1, 2)
    return _Out(codes, deq, scales)


def _scheme_row_mean(f: Format, xg: np.ndarray, scale_format: str, counts: np.ndarray) -> _Out:
    alpha = store_scales(np.abs(xg).astype(np.float64).sum(axis=-1) / counts, scale_format,
                         f"{f.name} scale")  # padding excluded
    positive = xg >= 0  # sign(0) -> +1
    codes = positive.astype(np.uint8)
    deq = np.where(positive, 1, -1).astype(xg.dtype) * alpha.astype(xg.dtype)[..., None]
    return _Out(codes, deq, alpha)


_SCHEMES = {
    "absmax": _scheme_absmax, "asym": _scheme_asym, "mixture": _scheme_mixture,
    "ant": _scheme_ant, "olive": _scheme_olive, "mx": _scheme_mx, "nvfp4": _scheme_nvfp4,
    "tensor_mean": _scheme_tensor_mean, "row_mean": _scheme_row_mean,
}

# Schemes whose scale format is part of their definition.
_FIXED_SCALE = {"mx": "e8m0", "nvfp4": "e4m3"}


# --------------------------------------------------------------------------------------------


def _as_format(fmt: object) -> Format | FloatFormat:
    """A format given by name or as the object."""
    if isinstance(fmt, Format | FloatFormat):
        return fmt
    if isinstance(fmt, str):
        return get_format(fmt)
    raise HwsimError(f"format: expected a format name or a Format, not {fmt!r}")


def quantize(w: np.ndarray, fmt: str | Format | FloatFormat, group_size: int | None = None, *,
             scale_format: str | None = None, name: str = "w") -> QuantResult:
    """Quantize `w` group-wise along its last axis and measure the error.

    Args:
        w: float tensor (float16, bfloat16, float32, float64), at least 1-D; a weight is
            ``(out_features, in_features)``.
        fmt: format name or object (see `list_formats`).
        group_size: elements per scale along the last axis; default: the format's own (128
            for most, 32 for MX, 16 for NVFP4, 64 for NF4, a whole row for ANT/OliVe/binary,
            the whole tensor for ternary).
        scale_format: storage of the scales (``fp32``, ``fp16``, ``bf16``, ``e4m3``,
            ``int8`` two-level); default: the format's own. Fixed for MX and NVFP4.
        name: what to call the tensor in error messages.

    Returns:
        A `QuantResult`.

    Raises:
        HwsimError: unknown format, impossible group size, non-float input, NaN/Inf input.
    """
    f = _as_format(fmt)
    x = _check_input(w, name)
    if isinstance(f, FloatFormat):
        return _cast(f, x, group_size, name)
    if group_size is not None:
        group_size = check_group_size(group_size)  # a NumPy integer overflowed in padding
    if scale_format is not None:
        if scale_format not in SCALE_BITS or scale_format == "e8m0":
            allowed = sorted(set(SCALE_BITS) - {"e8m0"})
            raise HwsimError(f"scale_format must be one of {allowed}, not {scale_format!r}")
        if f.scheme in _FIXED_SCALE and scale_format != _FIXED_SCALE[f.scheme]:
            raise HwsimError(f"{f.name} stores its scales in {_FIXED_SCALE[f.scheme]}; "
                             f"scale_format={scale_format!r} is not allowed")
    sfmt = scale_format or f.scale_format
    shape = x.shape
    k = shape[-1]
    per_tensor = f.scheme == "tensor_mean" and group_size is None
    if group_size is None and f.group_size is None:
        g = x.size if per_tensor else k
    else:
        g = group_size if group_size is not None else f.group_size
    if f.scheme == "olive" and group_size is None and g % 2:
        g += 1  # a row of odd length gets one zero of padding to complete its last pair
    if x.size == 0:
        return _empty(f, x, g)
    work = _work_dtype(x)
    # The padded working copy, before it is made: a group far wider than the rows would pad
    # each row to the group's size.
    padded = k if per_tensor else k + (-k) % g
    check_array((x.size // k, padded), np.dtype(work).itemsize,
                f"{name or 'tensor'} in groups of {g}")
    rows = x.reshape(-1, k).astype(work, copy=False)
    if per_tensor:
        xg = rows.reshape(1, 1, -1)
    else:
        pad = (-k) % g
        if pad:
            rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), dtype=work)], axis=1)
        xg = rows.reshape(rows.shape[0], -1, g)
    # Real (unpadded) elements per group; the mean- and moment-based scales divide by it.
    counts = np.full(xg.shape[:-1], float(xg.shape[-1]))
    if not per_tensor and k % g:
        counts[:, -1] = k % g
    # Beyond-range weights overflow inside the scale searches and scalings; each such case is
    # refused by name afterwards (a scale that cannot be stored, a result that is not finite),
    # so NumPy's own warnings would only precede that message.
    with np.errstate(over="ignore", invalid="ignore"):
        out = _SCHEMES[f.scheme](f, xg, sfmt, counts)
    deq = out.deq.reshape(xg.shape[0], -1)[:, :k] if not per_tensor else out.deq
    codes = out.codes.reshape(xg.shape[0], -1)[:, :k] if not per_tensor else out.codes
    with np.errstate(over="ignore"):  # an overflow is refused by name just below
        deq = deq.reshape(shape).astype(x.dtype, copy=False)  # metrics describe what is returned
    _check_finite(x, deq, f, name)
    codes = codes.reshape(shape)
    mse, sqnr, max_err = error_metrics(x, deq)
    n_groups = out.scales.size
    per_group = (SCALE_BITS[sfmt] if sfmt else 0) + f.selector_bits
    if f.scheme == "asym":
        per_group += f.bits
    total_bits = x.size * f.bits + n_groups * per_group + out.extra_bits
    flushed = 0
    if f.scheme != "tensor_mean":  # ternary's threshold zeroes small groups by definition
        lost = (out.deq.reshape(xg.shape) == 0).all(axis=-1)
        flushed = int(np.count_nonzero(lost & (xg != 0).any(axis=-1)))
    return QuantResult(
        format=f.name, group_size=None if per_tensor else g,
        dequantized=deq, codes=codes, scales=out.scales,
        zero_points=out.zero_points, types=out.types,
        type_names=tuple(t.name for t in f.types), bits_per_weight=total_bits / x.size,
        mse=mse, sqnr_db=sqnr, max_abs_error=max_err, outlier_pairs=out.outlier_pairs,
        tensor_scale=out.tensor_scale, flushed_groups=flushed,
    )


def quantize_named(w: np.ndarray, fmt: str | Format | FloatFormat, group_size: int | None,
                   name: str) -> QuantResult:
    """`quantize` whose every refusal starts with the tensor's `name` and then the format
    (a scale or a limit names neither: ``int4 scale overflows ...``, ``scale search: ...``),
    for commands that quantize a named tensor (a checkpoint's, a file's)."""
    f = _as_format(fmt)
    try:
        return quantize(w, f, group_size, name=name)
    except HwsimError as exc:
        msg = str(exc)
        if not msg.startswith(name):
            msg = f"{name}: {msg if msg.startswith(f.name) else f'{f.name}: {msg}'}"
        raise HwsimError(msg) from None


def _check_finite(x: np.ndarray, deq: np.ndarray, f: Format | FloatFormat, name: str) -> None:
    """Refuse a finite input whose result is not: a cast beyond the format's range (fp16 of
    70000), or a dequantized value beyond the input's dtype (float16 near 65504 times a scale
    rounded up). Its metrics were NaN, or a math domain error escaped as a traceback."""
    bad = ~np.isfinite(deq)
    if not bad.any():
        return
    pos = tuple(int(i) for i in np.argwhere(bad)[0])
    value = float(x[pos])
    with np.errstate(over="ignore"):
        beyond_format = isinstance(f, FloatFormat) and not np.isfinite(
            f.cast(np.array([value]))).all()
    if beyond_format:
        why = f"beyond the largest finite {f.name}"
    else:
        wider = {"float16": "float32", "bfloat16": "float32", "float32": "float64"}
        why = (f"the dequantized value passes the largest finite {x.dtype} "
               f"({float(np.finfo(x.dtype).max):g}), the dtype it is returned in"
               + (f": quantize a {wider[x.dtype.name]} copy" if x.dtype.name in wider else ""))
    raise HwsimError(f"{name}: {value:g} at index {pos} does not fit {f.name} ({why})")


def _cast(f: FloatFormat, x: np.ndarray, group_size: int | None,
          name: str = "w") -> QuantResult:
    if group_size is not None:
        raise HwsimError(f"{f.name} is an unquantized reference: it takes no group_size")
    with np.errstate(over="ignore"):  # an overflow is refused by name just below
        deq = f.cast(x).astype(x.dtype, copy=False)
    _check_finite(x, deq, f, name)
    mse, sqnr, max_err = error_metrics(x, deq)
    return QuantResult(
        format=f.name, group_size=None, dequantized=deq,
        codes=f.encode(x), scales=np.ones((1, 1)), zero_points=None, types=None,
        type_names=(f.name,), bits_per_weight=float(f.bits), mse=mse, sqnr_db=sqnr,
        max_abs_error=max_err,
    )


def _empty(f: Format, x: np.ndarray, g: int) -> QuantResult:
    return QuantResult(
        format=f.name, group_size=g, dequantized=x.copy(),
        codes=np.zeros(x.shape, dtype=_code_dtype(f.bits)),
        scales=np.zeros((0, 0)), zero_points=None, types=None,
        type_names=tuple(t.name for t in f.types), bits_per_weight=float(f.bits),
        mse=0.0, sqnr_db=float("inf"), max_abs_error=0.0,
    )


# Re-exported for `hwsim.dtypes.bits_per_weight`.
def bits_per_weight(fmt: str | Format | FloatFormat, group_size: int | None = None,
                    in_features: int | None = None) -> float:
    """Effective storage bits per weight of a format at a group size (see `Format`)."""
    f = _as_format(fmt)
    return f.bits_per_weight(group_size, in_features)
