"""Hand-derived quantization cases, one per scheme (the arithmetic is in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import get_element, quantize
from hwsim.dtypes._quantize import _olive_encode
from hwsim.dtypes._registry import get_format


def test_int4_ties_to_even() -> None:
    # absmax 7 -> scale 7/7 = 1 exactly; -3.5 -> -4 (even), 2.5 -> 2 (even)
    r = quantize(np.array([[7.0, -3.5, 2.5, 0.0]], np.float32), "int4", group_size=4)
    np.testing.assert_array_equal(r.dequantized, [[7, -4, 2, 0]])
    np.testing.assert_array_equal(r.codes, [[7, 0b1100, 2, 0]])  # -4 in 4-bit two's complement
    np.testing.assert_array_equal(r.scales, [[1.0]])


def test_int4_asym_zero_point() -> None:
    # lo -5, hi 10 -> scale 15/15 = 1, zero point 5; 2.5 -> rint 2 (even) + 5 = 7
    r = quantize(np.array([[-5.0, 10.0, 0.0, 2.5]], np.float32), "int4_asym", group_size=4)
    np.testing.assert_array_equal(r.codes, [[0, 15, 5, 7]])
    np.testing.assert_array_equal(r.zero_points, [[5]])
    np.testing.assert_array_equal(r.dequantized, [[-5, 10, 0, 2]])


def test_asym_zero_point_is_rounded_not_floored() -> None:
    # formats.md (AWQ): z = clamp(-round(min / s), 0, 15). s = fp16(2/15) = 0.13330078125,
    # -min / s = 7.5018 -> z = 8 (floored: 7, and the group would read [-0.933, 1.066]).
    # -1 / s = -7.5018 -> -8 + 8 = code 0; 1 / s = 7.5018 -> 8 + 8 = 16, clamped to 15.
    r = quantize(np.array([[-1.0, 1.0]], np.float32), "int4_asym", group_size=2)
    np.testing.assert_array_equal(r.scales, [[0.13330078125]])
    np.testing.assert_array_equal(r.zero_points, [[8]])
    np.testing.assert_array_equal(r.codes, [[0, 15]])
    np.testing.assert_array_equal(r.dequantized, [[-8 * 0.13330078125, 7 * 0.13330078125]])


def test_asym_constant_group_is_exact() -> None:
    # range [0, 0.5] -> scale 0.5/15; 0.5 -> code 15 -> 15 * 0.5/15 (fp16 scale)
    r = quantize(np.full((1, 8), 0.5, np.float32), "int4_asym", group_size=8)
    s = np.float64(np.float16(0.5 / 15))
    np.testing.assert_allclose(r.dequantized, 15 * s, rtol=0)


def test_bitmod_ties_go_to_the_lower_value() -> None:
    # fp32 scale 8/8 = 1 for EA_POS: 2.5 lies between 2 and 3 -> 2; 8 is the special value
    w = np.array([[8.0, 2.5, -0.25, 5.0]], np.float32)
    r = quantize(w, "fp4_ea_pos", group_size=4, scale_format="fp32")
    np.testing.assert_array_equal(r.dequantized, [[8, 2, -0.5, 4]])  # -0.25 -> -0.5 (lower)


def test_bitmod_mixture_ties_go_to_the_lower_value_at_two_level_int8_scales() -> None:
    # The mixture's one-pass per-group encode must keep BitMoD's tie rule (`x <= midpoint`
    # -> lower). ER_POS wins at s = 7.96875 / 6 = 1.328125; one group, so s_row = s / 255
    # and k = 255 store s exactly. w / s = [6, 0.5625, 0.75, 5.25]: 0.75 is the midpoint of
    # 0.5 and 1 -> 0.5 (code 1); 5.25 -> the special 5 (code 0b1000, the -0 code).
    w = np.array([[7.96875, 0.7470703125, 0.99609375, 6.97265625]], np.float32)
    r = quantize(w, "bitmod4", group_size=4)
    assert r.type_names[int(r.types[0, 0])] == "fp4_er_pos"
    np.testing.assert_array_equal(r.scales, [[1.328125]])
    np.testing.assert_array_equal(r.codes, [[7, 1, 1, 8]])
    np.testing.assert_array_equal(r.dequantized, [[7.96875, 0.6640625, 0.6640625, 6.640625]])
    # The same codes as the type's own (single-grid) encode.
    np.testing.assert_array_equal(r.codes, [get_element("fp4_er_pos").encode(w[0] / 1.328125)])


def test_bitmod_mixture_picks_the_exact_type() -> None:
    # EA_POS at scale 1 holds 8, 4, 3, -2 exactly (SSE 0); ER types need scale 8/6 and
    # miss 3 and 4; EA_NEG cannot hold +8.
    w = np.array([[8.0, 4.0, 3.0, -2.0], [-8.0, -4.0, 3.0, 2.0]], np.float32)
    r = quantize(w, "bitmod4", group_size=4, scale_format="fp32")
    assert r.type_names[2] == "fp4_ea_pos" and r.type_names[3] == "fp4_ea_neg"
    np.testing.assert_array_equal(r.types, [[2], [3]])
    np.testing.assert_array_equal(r.dequantized, w)
    assert r.type_histogram() == {"fp4_er_pos": 0, "fp4_er_neg": 0, "fp4_ea_pos": 1,
                                  "fp4_ea_neg": 1}


def test_bitmod_two_level_int8_scales() -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((3, 512)) * np.array([[1.0], [0.01], [30.0]])).astype(np.float32)
    r = quantize(w, "bitmod4")
    # formats.md: s_row = max_g(s_g) / 255 over the chosen group scales s_g = absmax_g /
    # max|type|; each group stores round(s_g / s_row). The factor is rounded up to FP32.
    max_abs = np.array([get_element(n).max_abs for n in r.type_names])  # 6, 6, 8, 8
    # s_g in FP32: the scales the types were chosen at.
    chosen = (np.abs(w.reshape(3, 4, 128)).max(-1) / max_abs[r.types]).astype(np.float32)
    chosen = chosen.astype(np.float64)
    exact = chosen.max(-1) / 255
    row = np.float32(exact).astype(np.float64)
    row = np.where(row < exact, np.nextafter(np.float32(row), np.float32(np.inf)), row)
    k = np.rint(chosen / row[:, None])
    assert k.max(-1).tolist() == [255, 255, 255]  # the largest group uses 255
    # The stored multiplier is k * s_row held in float32, bit for bit.
    np.testing.assert_array_equal(r.scales, (k * row[:, None]).astype(np.float32))
    # Codes and scales reproduce the dequantized tensor exactly.
    types = np.repeat(r.types, 128, axis=1)
    vals = np.empty(w.shape)
    for i, name in enumerate(r.type_names):
        sel = types == i
        vals[sel] = get_element(name).decode(r.codes[sel])
    np.testing.assert_array_equal((vals * np.repeat(r.scales, 128, axis=1)).astype(np.float32),
                                  r.dequantized)
    assert r.bits_per_weight == pytest.approx(4 + 10 / 128 + 32 / 512)  # FP32 row factor


def test_mx_shared_exponent_and_saturation() -> None:
    # amax 7: floor(log2 7) = 2 = emax of E2M1 -> scale 2^0; 7 saturates to 6;
    # 0.25 is a tie between 0 and 0.5 -> even mantissa -> 0.
    w = np.zeros((1, 32), np.float32)
    w[0, :4] = [7.0, 3.0, 0.25, -1.75]
    r = quantize(w, "mxfp4")
    np.testing.assert_array_equal(r.scales, [[1.0]])
    np.testing.assert_array_equal(r.dequantized[0, :4], [6.0, 3.0, 0.0, -2.0])


def test_int8_row_factor_is_rounded_up_to_fp32() -> None:
    # formats.md: s_row = max_g(s_g) / 255; hwsim holds it in FP32 rounded up (_scale.py),
    # so k * s_row >= s_g and the group's largest weight does not saturate. Here
    # s_g = fp32(0.7) / 6 = 0.11666666468, s_g / 255 = 4.5751633208e-4 lies above its nearest
    # float32 (4.5751631842e-4): s_row is the float32 above, 255 * s_row = 0.11666666716.
    w = np.array([[0.1, 0.05, 0.7, -0.2]], np.float32)
    r = quantize(w, "fp4_er_pos", group_size=4)
    s_g = float(np.float32(0.7)) / 6
    row = np.nextafter(np.float32(s_g / 255), np.float32(np.inf))
    assert float(row) > s_g / 255
    np.testing.assert_array_equal(r.scales, [[np.float32(255 * np.float64(row))]])
    assert r.scales[0, 0] == 0.11666666716337204 and r.scales[0, 0] >= s_g


def test_int8_group_scale_rounds_half_to_even() -> None:
    # BitMoD's two-level reference stores torch.round(s_g / s_ch): half to even.
    # Group 0: s = 6 * 255/256 / 6 -> s_row = 2**-8 exactly, k = 255. Group 1:
    # s = 100.5 * 2**-8 -> k = round(100.5) = 100 (half up would give 101).
    w = np.zeros((1, 8), np.float32)
    w[0, 0] = 6 * 255 / 256
    w[0, 4] = 6 * 100.5 / 256
    r = quantize(w, "fp4_er_pos", group_size=4)
    np.testing.assert_array_equal(r.scales * 256, [[255, 100]])
    # 6 * 100.5/256 / (100/256) = 6.03 saturates to 6.
    np.testing.assert_array_equal(r.dequantized[0, [0, 4]], [6 * 255 / 256, 6 * 100 / 256])


def test_symmetric_int_never_uses_the_most_negative_code() -> None:
    # formats.md: symmetric q in [-(2^(b-1) - 1), 2^(b-1) - 1]. With two-level INT8 scales a
    # small group's scale can round far down: s = [1785 / 7, 9.8 / 7] = [255, 1.4], s_row = 1,
    # k = [255, round(1.4) = 1], so -9.8 / 1 rounds to -10 and must clip to -7 (code 0b1001),
    # not to -8 (0b1000, which int4 does not have).
    r = quantize(np.array([[1785.0, -9.8]], np.float32), "int4", group_size=1,
                 scale_format="int8")
    np.testing.assert_array_equal(r.scales, [[255.0, 1.0]])
    np.testing.assert_array_equal(r.codes, [[7, 0b1001]])
    np.testing.assert_array_equal(r.dequantized, [[1785.0, -7.0]])
    np.testing.assert_array_equal(get_format("int4").decode(r.codes), [[7, -7]])


def test_mx_smallest_shared_scale_is_2_to_the_minus_127() -> None:
    # OCP MX v1.0: E8M0 encodes 2**-127 .. 2**127 (code 0 .. 254). A block of amax 2**-128
    # wants 2**(-128 - 2) (E2M1 emax 2), clamped to 2**-127: 2**-128 / 2**-127 = 0.5 is an
    # E2M1 value, so the weight is kept (clamped at 2**-126 it would be the tie 0.25 -> 0).
    w = np.zeros((1, 32), np.float32)
    w[0, 0] = 2.0**-128
    r = quantize(w, "mxfp4")
    np.testing.assert_array_equal(r.scales, [[2.0**-127]])
    assert r.codes[0, 0] == 0b0001  # 0.5
    np.testing.assert_array_equal(r.dequantized, w)
    assert r.flushed_groups == 0


def test_nvfp4_two_level_scales() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 64)).astype(np.float32)
    r = quantize(w, "nvfp4")
    amax = float(np.abs(w).max())
    assert r.tensor_scale == pytest.approx(amax / (448 * 6), rel=1e-7)
    block = r.scales / np.float32(r.tensor_scale)
    # Block scales are E4M3 values (up to float32 rounding of the product).
    nearest = get_element("fp8_e4m3").round(block)
    np.testing.assert_allclose(block, nearest, rtol=1e-6)
    assert r.bits_per_weight == pytest.approx(4 + 8 / 16 + 32 / w.size)


def test_nvfp4_block_scales_are_clamped_to_the_smallest_normal_e4m3() -> None:
    # torchao (the reference) clamps a block's E4M3 scale to 2**-6 before rounding: a block
    # tiny beside the tensor's maximum kept a subnormal scale, or 0 (the block lost), here.
    w = np.zeros((2, 32), np.float32)
    w[0, 0] = 448 * 6  # tensor scale 1
    w[1, :4] = [1e-3, -2e-3, 5e-4, 0.0]  # ideal block scale 2e-3 / 6: below 2**-6 = 0.0156
    r = quantize(w, "nvfp4")
    assert r.tensor_scale == 1.0
    np.testing.assert_array_equal(r.scales, [[448.0, 2.0**-6], [2.0**-6, 2.0**-6]])
    # At 2**-6 the block's values round to E2M1 grid points of 2**-6 (0.5 x 2**-6 = 0.0078).
    np.testing.assert_array_equal(r.dequantized[1, :4], [0.0, 0.0, 0.0, 0.0])


def test_ternary_bitnet() -> None:
    # mean|w| = (0.5 + 1.5 + 0.1 + 2.0) / 4 = 1.025; round(w / 1.025) clamped to +-1
    r = quantize(np.array([[0.5, -1.5, 0.1, 2.0]], np.float32), "ternary")
    s = np.float64(np.float32(1.025))
    np.testing.assert_allclose(r.dequantized, [[0, -s, 0, s]], rtol=1e-7)
    assert r.group_size is None


def test_binary_mean_scale() -> None:
    # alpha = mean(1, 3, 0, 2) = 1.5; sign(0) -> +1
    r = quantize(np.array([[1.0, -3.0, 0.0, 2.0]], np.float32), "binary")
    np.testing.assert_array_equal(r.dequantized, [[1.5, -1.5, 1.5, 1.5]])
    np.testing.assert_array_equal(r.codes, [[1, 0, 1, 1]])


def test_dint4_denormal_value() -> None:
    # absmax 7 -> scale 1: 0.5 is the special code 0b1000; 0.2 is closer to 0 than to 0.5
    r = quantize(np.array([[7.0, 0.5, 0.2, -7.0]], np.float32), "dint4", group_size=4)
    np.testing.assert_array_equal(r.dequantized, [[7, 0.5, 0, -7]])
    assert r.codes[0, 1] == 0b1000


def test_bipolar_has_no_zero() -> None:
    # scale 3/3 = 1: -0.5 -> -1; 0 is a tie between -1 (u=1) and +1 (u=2) -> even code u=2
    r = quantize(np.array([[3.0, 1.0, -0.5, 0.0]], np.float32), "bipolar2", group_size=4)
    np.testing.assert_array_equal(r.dequantized, [[3, 1, -1, 1]])
    np.testing.assert_array_equal(r.codes, [[3, 2, 1, 2]])


def test_olive_pairs() -> None:
    f = get_format("olive4")
    y = np.array([[[20, 1, 3, -30, 20, 25, 1, 2.5]]], np.float32)
    codes, deq, has_outlier = _olive_encode(y, np.ones((1, 1)), f)
    # (20, 1): 20 is the midpoint of 16 and 24 -> 24 (ties up); 1 is the victim.
    # (3, -30): -30 -> -32; 3 is the victim. (20, 25): both outliers, the even one stays.
    # (1, 2.5): normal; 2.5 ties up to 3.
    np.testing.assert_array_equal(deq, [[[24, 0, 0, -32, 24, 0, 1, 3]]])
    np.testing.assert_array_equal(codes, [[[3, 8, 8, 8 | 4, 3, 8, 1, 3]]])
    assert has_outlier.sum() == 3
    # OliVe's reference rounds to the nearest value of both grids, then calls it an outlier
    # when that value is beyond the normal range: values up to halfway between 7 and 12
    # stay normal (7.5, 9 and 9.49 -> 7: an error of 2.49 at most, where the abfloat 12 would
    # err by 4.5 and zero a victim besides); at 9.5 its kernel keeps the last of the equally
    # near values, the outlier (its grid lists the outliers after the normal values): 9.5 ->
    # 12 and -9.5 -> -12, each making its neighbour the victim.
    y = np.array([[[7.5, 1, 9, 2, 9.49, 5, 9.5, 3, -9.5, 4, -9.49, 6]]], np.float32)
    _, deq, has_outlier = _olive_encode(y, np.ones((1, 1)), f)
    np.testing.assert_array_equal(deq, [[[7, 1, 7, 2, 7, 5, 12, 0, -12, 0, -7, 6]]])
    np.testing.assert_array_equal(has_outlier, [[[False, False, False, True, True, False]]])


def _olive_reference_scale(row: np.ndarray) -> float:
    """OliVe's reference search, written out from clevercool/ANT-Quantization
    (olive_quantization/antquant/quant_modules.py, `search_mse` and `_forward`) in NumPy:
    base = max(|mean + 3 std|, |mean - 3 std|) with torch's sample std; candidates 75%..249%
    of it in 2% steps; each quantizes to the nearest value of the int4 grid and the abfloat
    outliers together (a tie to the later in that grid), zeroes each outlier's pair neighbour (the
    odd one when both are outliers) and is scored by its mean squared error; the first best
    candidate wins, stored as FP16."""
    outliers = np.array([12, 16, 24, 32, 48, 64, 96], np.float64)
    # As its `_forward` concatenates them: the normal grid, then the outliers, each sorted.
    grid = np.concatenate([np.arange(-7, 8), np.sort(np.concatenate([-outliers, outliers]))]
                          ).astype(np.float64)
    x = row.astype(np.float64)
    mu, sd = x.mean(), x.std(ddof=1)
    base = max(abs(mu + 3 * sd), abs(mu - 3 * sd))
    best_mse, best_scale = np.inf, base / 7
    for i in range(75, 250, 2):
        scale = base * (i * 0.01) / 7
        d = np.abs(x[:, None] / scale - grid[None, :])
        # The kernel keeps the last of equally near values (`sub_v <= sub_min`).
        q = grid[len(grid) - 1 - np.argmin(d[:, ::-1], axis=1)]
        out = (np.abs(q) > 7).reshape(-1, 2)
        victim = np.stack([out[:, 1] & ~out[:, 0], out[:, 0]], axis=1).ravel()
        q[victim] = 0
        mse = float(np.mean((q * scale - x) ** 2))
        if mse < best_mse:
            best_mse, best_scale = mse, scale
    return float(np.float16(best_scale))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_olive_scale_search_is_the_references(seed: int) -> None:
    # Rows of 64 (32 pairs: every pair is searched); a few heavy values give outliers.
    w = np.random.default_rng(seed).standard_normal((4, 64)).astype(np.float32)
    w[:, ::9] *= 4
    r = quantize(w, "olive4")
    np.testing.assert_array_equal(r.scales[:, 0], [_olive_reference_scale(row) for row in w])
    assert r.outlier_pairs > 0


def test_olive_counts_outlier_pairs_and_beats_int4_on_outliers() -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 256)).astype(np.float32)
    w[:, ::37] *= 25  # a few outliers per row
    r = quantize(w, "olive4")
    assert r.outlier_pairs > 0
    assert r.sqnr_db > quantize(w, "int4", group_size=256, scale_format="fp16").sqnr_db


def test_ant_picks_the_type_that_fits() -> None:
    pot = np.array([64, 32, -16, 1, 0, -64, 8, 4], np.float32)
    w = np.stack([pot, pot[::-1] * 2, pot * 0.5])
    r = quantize(w, "ant4")
    assert set(r.type_histogram()) == {"ant_int4", "flint4", "pot4"}
    assert r.type_histogram()["pot4"] == 3
    np.testing.assert_array_equal(r.dequantized, w)
    ints = np.array([[7, -8, 3, 1, 0, 5, -2, 6]], np.float32)
    assert quantize(ints, "ant4").type_histogram()["ant_int4"] == 1


def test_nf4_blocks_of_64() -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal((2, 128)).astype(np.float32)
    r = quantize(w, "nf4")
    assert r.scales.shape == (2, 2)
    np.testing.assert_array_equal(r.scales, np.abs(w.reshape(2, 2, 64)).max(-1))
    np.testing.assert_array_equal(
        r.dequantized, (get_format("nf4").decode(r.codes) * np.repeat(r.scales, 64, 1))
        .astype(np.float32))


def _ant_reference(w: np.ndarray, grids: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """ANT's reference, written out from clevercool/ANT-Quantization
    (ant_quantization/antquant/quant_modules.py: `search_mse`, `search_adaptive_numeric_type`,
    `_forward`) in NumPy, with its transformer scripts' range (-wl 75 -wu 250): per row, alpha
    = absmax x i% for i in 75..249, the scale alpha over the grid's largest value, each value
    to its nearest grid value (a tie to the larger), the first lowest MSE; the type of lowest
    summed MSE over the tensor. Returns (type, dequantized with FP16 scales, as hwsim stores
    them)."""
    best: dict[str, tuple[float, np.ndarray]] = {}
    for name, grid in grids.items():
        total, scales = 0.0, []
        for row in w.astype(np.float64):
            amax = np.abs(row).max()
            best_mse, best_scale = np.inf, amax / grid.max()
            for i in range(75, 250):
                scale = amax * (i * 0.01) / grid.max()
                d = np.abs(row[:, None] / scale - grid[None, :])
                q = np.where(d == d.min(axis=1, keepdims=True), grid, -np.inf).max(axis=1)
                mse = float(np.mean((q * scale - row) ** 2))
                if mse < best_mse:
                    best_mse, best_scale = mse, scale
            total += best_mse
            scales.append(float(np.float16(best_scale)))
        best[name] = (total, np.array(scales))
    name = min(best, key=lambda n: best[n][0])  # first of equals: dicts keep their order
    grid, s = grids[name], best[name][1]
    d = np.abs(w[:, :, None] / s[:, None, None] - grid)
    q = np.where(d == d.min(axis=2, keepdims=True), grid, -np.inf).max(axis=2)
    return name, q * s[:, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_ant_is_the_references_search(seed: int) -> None:
    """hwsim searched 1%..100% of absmax: pot4 on [1, 0.6 x 7] kept alpha = 1 (error 0.070)
    where ANT's reference takes 1.13 (0.026); on a whole tensor the type could change."""
    grids = {"ant_int4": np.arange(-8.0, 8.0),
             "flint4": np.array(sorted({s * v for v in (0, 1, 2, 3, 4, 6, 8, 16)
                                        for s in (1, -1)})),
             "pot4": np.array(sorted({0.0} | {s * 2.0**e for e in range(7) for s in (1, -1)}))}
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((6, 64)) * 0.02).astype(np.float32)
    w[:, ::13] *= 6  # heavy values: types other than int can win
    w[0] = [1.0, *[0.6] * 63]
    for name in ("flint4", "pot4"):
        _, expected = _ant_reference(w, {name: grids[name]})
        np.testing.assert_allclose(quantize(w, name).dequantized, expected, rtol=1e-6)
    kind, expected = _ant_reference(w, grids)
    r = quantize(w, "ant4")
    assert {t for t, n in r.type_histogram().items() if n} == {kind}
    np.testing.assert_allclose(r.dequantized, expected, rtol=1e-6)
