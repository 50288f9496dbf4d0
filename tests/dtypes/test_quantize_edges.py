"""Edge cases and bad input of the quantizer."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import list_formats, quantize
from hwsim.errors import HwsimError

ALL = list_formats()
QUANTIZED = [n for n in ALL if n not in ("fp32", "fp16", "bf16")]


@pytest.mark.parametrize("name", ALL)
def test_all_zero_tensor(name: str) -> None:
    r = quantize(np.zeros((2, 256), np.float32), name)
    assert not np.any(r.dequantized) or name.startswith("bipolar")
    assert r.dequantized.shape == (2, 256)


def test_bipolar_zero_groups_dequantize_to_zero_through_the_zero_scale() -> None:
    r = quantize(np.zeros((1, 128), np.float32), "bipolar3")
    np.testing.assert_array_equal(r.scales, [[0.0]])
    np.testing.assert_array_equal(r.dequantized, 0)


@pytest.mark.parametrize("name", QUANTIZED)
def test_single_huge_outlier(name: str) -> None:
    rng = np.random.default_rng(6)
    w = (rng.standard_normal((2, 256)) * 0.01).astype(np.float32)
    w[1, 77] = 1e3
    r = quantize(w, name)
    assert np.all(np.isfinite(r.dequantized))
    if name not in ("ternary", "binary", "olive4"):  # mean-scaled and outlier-pair schemes
        # The outlier sets its group's scale, so it is reproduced to within half a step
        # of the coarsest part of the grid.
        assert abs(float(r.dequantized[1, 77]) - 1e3) <= 0.34 * 1e3


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_named_with_position(bad: float) -> None:
    w = np.ones((3, 4), np.float32)
    w[1, 2] = bad
    kind = "NaN" if np.isnan(bad) else "Inf"
    with pytest.raises(HwsimError, match=rf"layer0: {kind} at index \(1, 2\)"):
        quantize(w, "int4", name="layer0")


def test_fp_reference_keeps_nothing_special_either() -> None:
    with pytest.raises(HwsimError, match="NaN at index"):
        quantize(np.array([[np.nan]], np.float32), "fp16")


@pytest.mark.parametrize("name", ["int4", "bitmod3", "mxfp4", "nvfp4", "nf4", "int4_asym"])
def test_padding_of_a_partial_last_group(name: str) -> None:
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 130)).astype(np.float32)
    r = quantize(w, name, group_size=64)
    padded = np.concatenate([w, np.zeros((3, 62), np.float32)], axis=1)
    rp = quantize(padded, name, group_size=64)
    np.testing.assert_array_equal(r.dequantized, rp.dequantized[:, :130])
    np.testing.assert_array_equal(r.codes, rp.codes[:, :130])
    assert r.scales.shape == (3, 3)
    assert r.dequantized.shape == (3, 130)


@pytest.mark.parametrize("shape", [(0, 128), (4, 0), (0,)])
@pytest.mark.parametrize("name", ["int4", "bitmod4", "fp16", "ternary"])
def test_empty_tensors(shape: tuple, name: str) -> None:
    r = quantize(np.zeros(shape, np.float32), name)
    assert r.dequantized.shape == shape and r.mse == 0.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name", ["int4", "bitmod4", "mxfp4", "fp16", "nf4"])
def test_input_dtypes_are_kept(dtype: str, name: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    rng = np.random.default_rng(8)
    w32 = rng.standard_normal((2, 128)).astype(np.float32)
    w = w32.astype(np_dtype)
    r = quantize(w, name)
    assert r.dequantized.dtype == w.dtype
    if dtype in ("float16", "bfloat16"):
        # Half-precision input is processed in float32: same codes as its float32 copy.
        np.testing.assert_array_equal(r.codes, quantize(w.astype(np.float32), name).codes)


def test_one_dimensional_and_3d_inputs_group_the_last_axis() -> None:
    w = np.arange(-8, 8, dtype=np.float32)
    assert quantize(w, "int4", group_size=8).scales.shape == (1, 2)
    w3 = np.ones((2, 3, 16), np.float32)
    r = quantize(w3, "int4", group_size=8)
    assert r.scales.shape == (6, 2) and r.dequantized.shape == (2, 3, 16)


@pytest.mark.parametrize("group", [0, -4, True, 2.5, "8"])
def test_bad_group_size(group) -> None:
    with pytest.raises(HwsimError, match="group_size must be a positive integer"):
        quantize(np.ones((1, 8), np.float32), "int4", group)


def test_bad_inputs() -> None:
    with pytest.raises(HwsimError, match="expected a floating-point tensor"):
        quantize(np.ones((2, 2), np.int32), "int4")
    with pytest.raises(HwsimError, match="got a scalar"):
        quantize(np.float32(1.0), "int4")
    with pytest.raises(HwsimError, match="unknown format 'int4x'"):
        quantize(np.ones((1, 8), np.float32), "int4x")
    with pytest.raises(HwsimError, match="scale_format must be one of"):
        quantize(np.ones((1, 8), np.float32), "int4", scale_format="fp12")
    with pytest.raises(HwsimError, match="mxfp4 stores its scales in e8m0"):
        quantize(np.ones((1, 32), np.float32), "mxfp4", scale_format="fp16")
    with pytest.raises(HwsimError, match="takes no group_size"):
        quantize(np.ones((1, 8), np.float32), "fp16", 4)


def test_scale_overflow_is_an_error_not_inf() -> None:
    # absmax 1e6 / 7 = 142857 > 65504, the largest FP16
    with pytest.raises(HwsimError, match="overflows its storage format fp16"):
        quantize(np.full((1, 8), 1e6, np.float32), "int4")
    r = quantize(np.full((1, 8), 1e6, np.float32), "int4", scale_format="fp32")
    np.testing.assert_allclose(r.dequantized, 1e6, rtol=1e-6)


def test_olive_needs_an_even_group() -> None:
    with pytest.raises(HwsimError, match="must be even"):
        quantize(np.ones((1, 18), np.float32), "olive4", group_size=9)
    # A row of odd length is padded by one zero, which pairs like any normal value.
    r = quantize(np.ones((1, 9), np.float32), "olive4")
    assert r.dequantized.shape == (1, 9) and r.group_size == 10


@pytest.mark.parametrize("name", ["binary", "ternary", "olive4"])
def test_padding_does_not_change_mean_or_moment_scales(name: str) -> None:
    rng = np.random.default_rng(9)
    w = rng.standard_normal((2, 100)).astype(np.float32)
    padded = quantize(w, name, group_size=128)  # 28 zeros of padding per row
    exact = quantize(w, name, group_size=100)
    np.testing.assert_array_equal(padded.scales, exact.scales)
    np.testing.assert_array_equal(padded.dequantized, exact.dequantized)


def test_nvfp4_tensor_scale_overflow_is_an_error() -> None:
    with pytest.raises(HwsimError, match="tensor scale overflows"):
        quantize(np.array([[1e300, -2.0] + [0.5] * 14]), "nvfp4")


def test_metrics_describe_the_returned_half_precision_tensor() -> None:
    rng = np.random.default_rng(10)
    w = rng.standard_normal((64, 256)).astype(np.float16)
    r = quantize(w, "int8")
    err = r.dequantized.astype(np.float64) - w.astype(np.float64)
    assert r.mse == pytest.approx(np.mean(err**2), rel=1e-6)


def test_metrics_do_not_overflow_near_the_float32_limit() -> None:
    w = np.array([[3e38, 1.0] * 8], np.float32)
    r = quantize(w, "nvfp4")
    assert np.isfinite(r.mse) and np.isfinite(r.sqnr_db)


def test_a_group_far_wider_than_the_rows_is_refused_before_padding() -> None:
    # Each row would be zero-padded to the group: the working copy's size is checked first
    # (the command line refuses any group longer than the rows before this).
    with pytest.raises(HwsimError, match="in groups of 1000000000: a 64x1000000000"):
        quantize(np.ones((64, 64), np.float32), "int4", group_size=10**9)


@pytest.mark.parametrize(("x", "fmt", "message"), [
    # float16 near its maximum: fp16(65504 / 7) x 7 = 65520 is inf in float16; the metrics
    # raised "math domain error" as a traceback (from the CLI too).
    (np.array([65504, 1, -3, 0.5], np.float16), "int4",
     r"w: 65504 at index \(0,\) does not fit int4 \(the dequantized value passes the largest "
     r"finite float16 \(65504\), the dtype it is returned in"),
    (np.array([65504, 1, -3, 0.5], np.float16), "bf16", r"passes the largest finite float16"),
    # Casts beyond the format's range gave inf and a NaN SQNR, with RuntimeWarnings only.
    (np.array([70000.0, 1.0]), "fp16", r"w: 70000 at index \(0,\) does not fit fp16 \(beyond "
                                       r"the largest finite fp16\)"),
    (np.array([[1e300, 1.0]]), "fp32", r"does not fit fp32 \(beyond the largest finite fp32\)"),
    # MX clipped its E8M0 scale at 2**127: 1e300 came back as 1.0e39 without a word.
    (np.array([[1e300, 1.0, -2.0, 0.5]]), "mxfp4",
     r"mxfp4: a block's largest magnitude 1e\+300 needs a shared scale of 2\*\*994, beyond "
     r"E8M0's largest, 2\*\*127"),
])
def test_a_result_beyond_its_dtype_or_format_is_refused(x, fmt, message) -> None:
    with pytest.raises(HwsimError, match=message):
        quantize(x, fmt)


def test_metrics_of_tiny_float64_values_do_not_underflow() -> None:
    # Squares of 1e-170 underflowed to 0: every value lost (the FP16 scale flushes to 0) read
    # as exact, SQNR inf. The SQNR of a tensor scaled by a power of two is the tensor's.
    r = quantize(np.full((1, 4), 1e-170), "int4")
    assert r.max_abs_error == 1e-170 and r.sqnr_db == 0.0
    from hwsim.dtypes._metrics import error_metrics

    x = np.random.default_rng(1).standard_normal(64)
    approx = x + 0.01
    mse0, sqnr, _ = error_metrics(x, approx)
    for shift in (-500, 500):  # beyond 2**400 either way: scaled first
        mse, scaled, max_err = error_metrics(np.ldexp(x, shift), np.ldexp(approx, shift))
        assert scaled == pytest.approx(sqnr, rel=1e-12) and max_err > 0
        assert mse == pytest.approx(np.ldexp(mse0, 2 * shift), rel=1e-12)


def test_public_arguments_of_the_wrong_kind_are_refused_by_name() -> None:
    from hwsim.dtypes import bits_per_weight, error_metrics

    x = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    # Broadcast against the other shape, the noise was summed over (4, 256) and divided by
    # 256 values: an MSE 4x too large.
    with pytest.raises(HwsimError, match=r"x has shape \(1, 256\) and approx \(4, 256\)"):
        error_metrics(x[:1], x)
    assert error_metrics([1.0, 2.0], [1.0, 2.5]) == (0.125, pytest.approx(13.0103), 0.5)
    # True read as 1 (20 bits per weight), 1.5 and 0 counted, "4096" a TypeError.
    for in_features in (True, 1.5, 0, -4096, "4096"):
        with pytest.raises(HwsimError, match="in_features must be a positive integer"):
            bits_per_weight("int4", 128, in_features)
    with pytest.raises(HwsimError, match="3 is odd; olive4 pairs"):  # quantize refuses it too
        bits_per_weight("olive4", 3)
    # Its rows scaled whole (no group given): one FP16 scale per row of 1023.
    assert bits_per_weight("olive4", None, 1023) == 4 + 16 / 1023
    # A NumPy integer group overflowed while padding (OverflowError); None an AttributeError.
    assert quantize(x, "int4", group_size=np.int8(64)).sqnr_db == \
        quantize(x, "int4", group_size=64).sqnr_db
    for fmt in (None, 4):
        with pytest.raises(HwsimError, match="format: expected a format name or a Format"):
            quantize(x, fmt)


@pytest.mark.parametrize("fmt", ["bitmod3", "bitmod4"])
def test_a_mirrored_group_ties_its_mirrored_types_exactly(fmt) -> None:
    # ER_NEG on a mirrored group makes ER_POS's errors in another order: summed in element
    # order, the last bit picked ER_NEG (the later type) in 132 of 600 groups, where the rule
    # (lowest error, the earlier type on a tie) picks ER_POS (EA_POS over EA_NEG likewise).
    r = quantize(np.array([[-0.69, -0.87, -0.68, 0.69, 0.87, 0.68]]), "bitmod4", 6)
    assert r.type_names[int(r.types[0, 0])] == "fp4_er_pos"
    half = np.random.default_rng(3).standard_normal((300, 64))
    x = np.concatenate([half, -half[:, ::-1]], axis=1)  # each row of 128 mirrored
    r = quantize(x, fmt, 128)
    names = {r.type_names[i] for i in np.unique(r.types)}
    assert not any(name.endswith("_neg") for name in names), names


@pytest.mark.parametrize("fmt", ["bitmod3", "bitmod4"])
def test_a_mixtures_type_choice_does_not_depend_on_a_power_of_two_scale(fmt) -> None:
    # Squared in float32, errors of weights near 2**80 overflowed (near 2**-80 underflowed):
    # every type tied and the first (fp4_er_pos) took every group, SQNR 20.13 -> 19.83 dB.
    x = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    ref = quantize(x, fmt)
    for shift in (80, -80):
        r = quantize(np.ldexp(x, shift), fmt)
        np.testing.assert_array_equal(r.types, ref.types)
        np.testing.assert_array_equal(r.dequantized, np.ldexp(ref.dequantized, shift))


def test_nf4_of_a_group_with_a_subnormal_absmax_divides() -> None:
    # 1 / absmax is inf in float32: zeros became NaN and every value the last code (+absmax).
    # bitsandbytes 0.50.2 (CPU) gives 0 for the zeros and 0.4407 x absmax for half of it.
    x = np.zeros((1, 64), np.float32)
    x[0, :3] = [1e-40, 0.5e-40, -0.3e-40]
    r = quantize(x, "nf4")
    assert r.dequantized[0, 3:].tolist() == [0.0] * 61
    # The codes of the same group at a normal absmax (2**100 larger).
    np.testing.assert_array_equal(r.codes, quantize(np.ldexp(x, 100), "nf4").codes)
    assert np.isfinite(r.sqnr_db) and r.sqnr_db > 20


def test_a_longdouble_tensor_is_refused_not_computed_in_float32() -> None:
    # Computed in float32, 1e-300 became 0 and then read as exact (SQNR inf).
    x = np.array([[1e-300, 1e-301]], np.longdouble)
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(HwsimError, match="dtype float128 is not one of float16, bfloat16"):
        quantize(x, "int8", scale_format="fp32")


def test_error_metrics_refuse_what_has_no_finite_real_error() -> None:
    from hwsim.dtypes import error_metrics

    ones = np.ones(4, np.float32)
    with pytest.raises(HwsimError, match=r"approx holds an infinity \(flat index 2\)"):
        error_metrics(ones, np.array([1, 1, np.inf, 1], np.float32))  # was a math domain error
    with pytest.raises(HwsimError, match=r"x holds NaN \(flat index 0\)"):
        error_metrics(np.array([np.nan, 1.0]), np.ones(2))  # was (nan, nan, nan)
    with pytest.raises(HwsimError, match="x has dtype complex128; give real numbers"):
        error_metrics(np.array([1j]), np.array([0j]))  # the imaginary part was dropped
    # A 0-d pair is one element (it was a TypeError).
    assert error_metrics(np.array(1.0), np.array(2.0)) == (1.0, 0.0, 1.0)
    # A float32 difference beyond float32 (it was a math domain error): halved in float64.
    mse, sqnr, max_err = error_metrics(np.array([3e38], np.float32),
                                       np.array([-3e38], np.float32))
    assert max_err == pytest.approx(6e38, rel=1e-7) and mse == pytest.approx(3.6e77, rel=1e-6)
    assert sqnr == pytest.approx(-10 * np.log10(4))
    # Errors of 1e300 beside a float32 signal of 1 and 2: each scaled by its own power of two
    # (the signal underflowed to 0 and the SQNR read -inf).
    _, sqnr, _ = error_metrics(np.array([1, 2], np.float32), np.array([1e300, 2.0]))
    assert sqnr == pytest.approx(10 * np.log10(5) - 20 * 300, rel=1e-12)


def test_a_scalar_on_a_tie_encodes() -> None:
    from hwsim.dtypes import get_format

    # The tie's update indexed NumPy's scalar index (a TypeError) for grids over 32 values.
    assert int(get_format("int8").encode(0.5)) == 0  # half to even
    assert int(get_format("int8").encode(1.5)) == 2
    assert int(get_format("fp8_e4m3").encode(np.array(0.53125))) == \
        int(get_format("fp8_e4m3").encode(np.array([0.53125]))[0])


def test_groups_whose_scale_underflows_are_counted() -> None:
    # An FP16 scale of 1e-30 / 7 flushes to 0: the whole tensor read as zeros without a word.
    x = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    r = quantize(x * 1e-30, "int4")
    assert r.flushed_groups == 8 and not r.dequantized.any()
    assert quantize(x, "int4").flushed_groups == 0
    assert quantize(x * 1e-30, "int4", scale_format="fp32").flushed_groups == 0
    tiny = x.copy()
    tiny[1, :128] *= 1e-30  # one group of eight
    assert quantize(tiny, "int4").flushed_groups == 1
    assert quantize(np.zeros((2, 128), np.float32), "int4").flushed_groups == 0  # no weight lost
    # NVFP4 clamps a block scale far below its tensor's largest: those blocks read 0 too.
    mixed = x.copy()
    mixed[:, :128] *= 1e-30
    assert quantize(mixed, "nvfp4").flushed_groups == 4 * 128 // 16


def test_refusals_hint_only_at_what_would_help() -> None:
    x = np.random.default_rng(0).standard_normal((2, 64))
    with pytest.raises(HwsimError, match=r"overflows its storage format fp32 \(the weights are "
                                         r"too large for it\)$"):
        quantize(x * 1e300, "fp8_e5m2")  # scale_format='fp32' was suggested to an fp32 scale
    with pytest.raises(HwsimError, match="quantize a float64 copy"):  # a float32 input
        quantize(-np.full((1, 32), np.finfo(np.float32).max, np.float32), "mxint8")


def test_refused_inputs_leak_no_numpy_warnings() -> None:
    import warnings

    x = np.random.default_rng(0).standard_normal((2, 64)) * 1e300
    for fmt in ("ant4", "olive4", "flint4", "pot4"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(HwsimError, match="overflows its storage format"):
                quantize(x, fmt)
