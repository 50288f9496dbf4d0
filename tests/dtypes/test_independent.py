"""The golden model against independent implementations: ml_dtypes, gfloat, bitsandbytes."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import get_format, quantize

ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is a test dependency ([dev])")

ML = {
    "fp4_e2m1": ml_dtypes.float4_e2m1fn,
    "fp6_e2m3": ml_dtypes.float6_e2m3fn,
    "fp6_e3m2": ml_dtypes.float6_e3m2fn,
    "fp8_e4m3": ml_dtypes.float8_e4m3fn,
    "fp8_e5m2": ml_dtypes.float8_e5m2,
    "bf16": ml_dtypes.bfloat16,
    "fp16": np.float16,
}


def _ml_values(dtype, bits: int) -> np.ndarray:
    """Value of every code, read by ml_dtypes from the bit pattern."""
    codes = np.arange(1 << bits)
    with np.errstate(invalid="ignore"):  # NaN bit patterns cast to NaN
        return _view(codes, dtype, bits)


def _view(codes: np.ndarray, dtype, bits: int) -> np.ndarray:
    if bits <= 8:
        return codes.astype(np.uint8).view(dtype).astype(np.float64)
    return codes.astype(np.uint16).view(dtype).astype(np.float64)


@pytest.mark.parametrize("name", list(ML))
def test_every_code_value_matches_ml_dtypes(name: str) -> None:
    f = get_format(name)
    ours = f.decode(f.codes)
    theirs = _ml_values(ML[name], f.bits)[f.codes]
    np.testing.assert_array_equal(ours, theirs)  # NaN == NaN here


@pytest.mark.parametrize("name", list(ML))
def test_round_to_nearest_even_matches_ml_dtypes_casts(name: str) -> None:
    """Random values, every grid value, every midpoint (the ties) and points beside them."""
    f = get_format(name)
    v = f.values.astype(np.float32)
    mids = ((f.values[1:] + f.values[:-1]) / 2).astype(np.float32)
    rng = np.random.default_rng(7)
    x = np.concatenate([
        v, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
        rng.uniform(v[0], v[-1], 5000).astype(np.float32),
    ])
    x = x[np.abs(x) <= f.max_abs]  # ours saturates beyond the range; ml_dtypes does not
    if name in ("fp16", "bf16"):
        x = x[::7]
    ours = f.decode(f.encode(x))
    theirs = x.astype(ML[name]).astype(np.float64)
    np.testing.assert_array_equal(ours, theirs + 0.0)
    # float64 a hair off each midpoint: one rounding, in ml_dtypes and here (through
    # float32 it would be a tie; bf16 rounded so until 2026-12-05).
    mids64 = (f.values[1:] + f.values[:-1]) / 2
    x64 = np.concatenate([mids64 + 2.0**-40 * np.abs(mids64), mids64 - 2.0**-40 * np.abs(mids64)])
    x64 = x64[np.abs(x64) <= f.max_abs]
    if name in ("fp16", "bf16"):
        x64 = x64[::7]
    np.testing.assert_array_equal(f.decode(f.encode(x64)),
                                  x64.astype(ML[name]).astype(np.float64) + 0.0)


def test_bf16_of_float64_rounds_once_as_ml_dtypes_does() -> None:
    # Through float32 first, 1 + 2**-8 + 2**-30 became the tie 1 + 2**-8 and then 1; the
    # nearest bfloat16 (ml_dtypes' one rounding) is 1 + 2**-7. Subnormals and overflow too.
    rng = np.random.default_rng(11)
    x = np.concatenate([
        rng.standard_normal(20000) * 10.0 ** rng.integers(-44, 39, 20000),
        [1 + 2**-8 + 2**-30, -(1 + 2**-8 + 2**-30), 1 + 2**-8, 1 + 3 * 2**-8, 2**-126,
         2**-127 + 2**-140, 0.5 * 2**-133, 1.5 * 2**-133, 2**-134, 3.3895313892515355e38,
         3.39e38, 1e39, -0.0],
    ])
    with np.errstate(over="ignore"):
        theirs = x.astype(ml_dtypes.bfloat16).astype(np.float32)
        ours = get_format("bf16").cast(x)
    np.testing.assert_array_equal(ours, theirs)
    assert np.signbit(ours[-1])


gfloat = pytest.importorskip("gfloat", reason="gfloat is a test dependency ([dev])")
from gfloat import formats as gf  # noqa: E402

GFLOAT_MX = {
    "mxfp4": gf.format_info_mxfp4_e2m1,
    "mxfp6_e2m3": gf.format_info_mxfp6_e2m3,
    "mxfp6_e3m2": gf.format_info_mxfp6_e3m2,
    "mxfp8_e4m3": gf.format_info_mxfp8_e4m3,
    "mxfp8_e5m2": gf.format_info_mxfp8_e5m2,
    "mxint8": gf.format_info_mxint8,
}


@pytest.mark.parametrize("name", list(GFLOAT_MX))
def test_mx_blocks_match_gfloat(name: str) -> None:
    rng = np.random.default_rng(3)
    # Blocks of 32 at very different magnitudes, with exact ties and an all-zero block.
    w = rng.standard_normal((6, 32)) * np.array([1e-3, 0.1, 1, 7, 300, 1])[:, None]
    w[5] = 0.0
    w[2, :4] = [0.75, 1.25, -2.5, 3.5]
    w = w.astype(np.float32)
    ours = quantize(w, name).dequantized.astype(np.float64)
    fi = GFLOAT_MX[name]
    theirs = np.stack([
        gfloat.quantize_block(fi, row.astype(np.float64), gfloat.compute_scale_amax)
        for row in w
    ])
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", list(GFLOAT_MX))
def test_mx_blocks_at_the_bottom_of_e8m0_match_gfloat(name: str) -> None:
    # Shared scales clamped to E8M0's smallest, 2**-127 (OCP MX v1.0), float32 subnormals.
    w = np.zeros((3, 32), np.float32)
    w[0, 0] = 2.0**-128
    w[1, :3] = [2.0**-127, -(2.0**-128), 2.0**-129]
    w[2, :3] = [1.5 * 2.0**-126, 2.0**-130, -(2.0**-149)]
    ours = quantize(w, name).dequantized.astype(np.float64)
    theirs = np.stack([
        gfloat.quantize_block(GFLOAT_MX[name], row.astype(np.float64), gfloat.compute_scale_amax)
        for row in w
    ])
    np.testing.assert_array_equal(ours, theirs)


def test_nf4_table_matches_bitsandbytes() -> None:
    bnbf = pytest.importorskip("bitsandbytes.functional",
                               reason="bitsandbytes (a [dev] dependency) is not installed")
    table = bnbf.get_4bit_type("nf4", device="cpu").numpy().astype(np.float64)
    # Exactly: float64 weights are dequantized with these values.
    np.testing.assert_array_equal(get_format("nf4").values, np.sort(table))


def test_nf4_quantizes_as_bitsandbytes_on_midpoints_and_random_weights() -> None:
    # NF4 is defined by bitsandbytes' arithmetic (float32 input times the float32 reciprocal of
    # the absmax, float32 midpoints, a value on one to the lower code): with exact midpoints
    # and a division, 6 of 15 values placed on the float32 midpoints took the other code.
    torch = pytest.importorskip("torch", reason="torch (the [llm] extra) is not installed")
    bnbf = pytest.importorskip("bitsandbytes.functional",
                               reason="bitsandbytes (a [dev] dependency) is not installed")
    values = get_format("nf4").values
    mids = ((values[1:] + values[:-1]) / 2).astype(np.float32)
    w = (np.random.default_rng(5).standard_normal((16, 256)) * 0.02).astype(np.float32)
    w[0, :] = 0.0
    w[0, 0], w[0, 1:16] = 1.0, mids                               # on the midpoints
    w[1, :] = 0.0
    w[1, 0], w[1, 1:16] = -0.37, mids * np.float32(0.37)           # scaled onto them
    w[2, :64] = np.nextafter(np.resize(mids, 64) * np.float32(3.1), np.float32(1))
    w[2, 0] = 3.1
    packed, state = bnbf.quantize_4bit(torch.from_numpy(w.copy()), blocksize=64,
                                       quant_type="nf4")
    nibbles = packed.numpy().reshape(-1)
    theirs = np.stack([(nibbles >> 4) & 15, nibbles & 15], axis=1).reshape(w.shape)
    ours = quantize(w, "nf4")
    np.testing.assert_array_equal(ours.codes, theirs)
    np.testing.assert_array_equal(ours.scales.reshape(-1).astype(np.float32),
                                  state.absmax.numpy())
    np.testing.assert_array_equal(ours.dequantized, bnbf.dequantize_4bit(packed, state).numpy())


def test_e8m0_rounds_positive_values_as_ml_dtypes() -> None:
    """Ties went to the even code (3 -> 2, 0.75 -> 0.5) where ml_dtypes rounds up (4, 1)."""
    from hwsim.dtypes import get_element

    rng = np.random.default_rng(5)
    exps = rng.integers(-126, 127, 2000)
    x = np.concatenate([np.ldexp(1.5, exps), np.ldexp(rng.uniform(1, 2, 2000), exps),
                        [3.0, 0.75, 1.5, 6.0, 2.0**-127, 2.0**127]]).astype(np.float32)
    expected = x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)
    np.testing.assert_array_equal(get_element("e8m0").encode(x), expected)


def test_elements_encode_bfloat16_as_its_float32_values() -> None:
    """quantize takes bfloat16 weights; an element's encode refused them ("expected
    numbers, got dtype bfloat16")."""
    from hwsim.dtypes import get_element

    x = np.array([1.0, -2.5, 0.3, 448.0], np.float32)
    for name in ("fp8_e4m3", "fp4_e2m1", "e8m0"):
        e = get_element(name)
        np.testing.assert_array_equal(e.encode(x.astype(ml_dtypes.bfloat16)),
                                      e.encode(x.astype(ml_dtypes.bfloat16).astype(np.float32)))


def test_casts_round_beyond_their_range_to_inf_without_a_warning() -> None:
    """fp16 and bf16 did; fp32 leaked NumPy's "overflow encountered in cast"."""
    import warnings

    from hwsim.dtypes import get_format

    x = np.array([1e300, -1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, dtype in (("fp32", np.float32), ("fp16", np.float16),
                            ("bf16", ml_dtypes.bfloat16)):
            f = get_format(name)
            np.testing.assert_array_equal(f.decode(f.encode(x)), [np.inf, -np.inf])
            np.testing.assert_array_equal(f.cast(x), [np.inf, -np.inf])
            with np.errstate(over="ignore"):
                assert np.isinf(x.astype(dtype)).all()  # as NumPy / ml_dtypes round them
