"""Properties every quantizer must have, over random tensors (hypothesis, seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwsim.dtypes import get_element, get_format, list_formats, quantize

QUANTIZED = [n for n in list_formats() if n not in ("fp32", "fp16", "bf16")]
# Formats whose every element is the nearest grid value at its group's stored scale
# (OliVe sacrifices victims on purpose).
NEAREST = [n for n in QUANTIZED if n != "olive4"]
# Re-quantizing a dequantized tensor reproduces it where the stored scale is recomputed
# exactly: single-type absmax formats with FP16/FP32 scales and MX.
IDEMPOTENT = [n for n in QUANTIZED
              if get_format(n).scheme in ("absmax", "mx") and get_format(n).scale_format != "int8"]

# Magnitudes away from FP16-scale underflow, so powers of two scale everything exactly.
_elem = st.one_of(st.just(0.0), st.floats(0.5, 100.0, width=32),
                  st.floats(-100.0, -0.5, width=32))
tensors = arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 70)), elements=_elem)
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def _group_grid(r, f, row: int, col: int) -> np.ndarray:
    """Representable values (scaled) of the group holding element (row, col)."""
    g = r.group_size
    grp = 0 if g is None else col // g
    scale = r.scales[0, 0] if g is None else r.scales[row, grp]
    elem = f.types[0] if r.types is None else get_element(r.type_names[r.types[row, grp]])
    values = elem.values
    if r.zero_points is not None:
        values = values - r.zero_points[row, grp]
    return values * scale


@pytest.mark.parametrize("name", NEAREST)
@SETTINGS
@given(w=tensors)
def test_each_element_is_nearest_at_its_stored_scale(name: str, w: np.ndarray) -> None:
    f = get_format(name)
    r = quantize(w, f, 16 if f.group_size is not None and f.scheme != "mx" else None)
    err = np.abs(r.dequantized.astype(np.float64) - w)
    for (i, j), e in np.ndenumerate(err):
        best = np.abs(_group_grid(r, f, i, j) - w[i, j]).min()
        # Within half a step of the scaled grid (float32 division may move a tie by an ulp).
        assert e <= best + 4e-7 * max(1.0, abs(float(w[i, j]))), (name, i, j)


@pytest.mark.parametrize("name", IDEMPOTENT)
@SETTINGS
@given(w=tensors)
def test_quantizing_a_dequantized_tensor_changes_nothing(name: str, w: np.ndarray) -> None:
    once = quantize(w, name).dequantized
    np.testing.assert_array_equal(quantize(once, name).dequantized, once)


@pytest.mark.parametrize("name", QUANTIZED)
@SETTINGS
@given(w=tensors, power=st.sampled_from([-3, 2, 5]))
def test_power_of_two_scale_invariance(name: str, w: np.ndarray, power: int) -> None:
    r1 = quantize(w, name)
    r2 = quantize(w * np.float32(2.0**power), name)
    np.testing.assert_array_equal(r2.codes, r1.codes)
    np.testing.assert_array_equal(r2.dequantized, r1.dequantized * np.float32(2.0**power))


# Every format whose codes are read by one element type per group (OliVe's pairs mix two),
# at its own scales and, where it may choose them, at two-level INT8 scales.
_DECODABLE = [n for n in QUANTIZED if get_format(n).scheme != "olive"]
DECODE_CASES = [(n, None) for n in _DECODABLE] + [
    (n, "int8") for n in _DECODABLE if get_format(n).scheme not in ("mx", "nvfp4")]


@pytest.mark.parametrize(("name", "scale_format"), DECODE_CASES)
def test_every_code_decodes_to_the_dequantized_value(name: str, scale_format: str | None,
                                                     ) -> None:
    # Group magnitudes spread over four decades: a two-level INT8 scale (round(s_g / s_row)
    # with s_row = max s_g / 255) then rounds small groups' scales far down, so their values
    # land well beyond the grid and must saturate to codes the format has.
    rng = np.random.default_rng(8)
    w = rng.standard_normal((6, 128)) * 10.0 ** rng.uniform(-2, 2, (6, 16)).repeat(8, axis=1)
    w = w.astype(np.float32)
    f = get_format(name)
    g = None if f.group_size is None or f.scheme in ("mx", "nvfp4") else 8
    r = quantize(w, f, g, scale_format=scale_format)
    width = w.shape[1] if r.group_size is None else r.group_size
    shape = (w.shape[0], r.scales.shape[1])  # ternary's one scale covers every row
    scales = np.broadcast_to(r.scales, shape)
    values = np.empty(w.shape)
    for (i, grp), scale in np.ndenumerate(scales):
        cols = slice(grp * width, (grp + 1) * width)
        elem = f.types[0] if r.types is None else get_element(r.type_names[r.types[i, grp]])
        values[i, cols] = elem.decode(r.codes[i, cols])  # raises on a code it does not have
        if r.zero_points is not None:
            values[i, cols] -= r.zero_points[i, grp]
        values[i, cols] *= scale
    np.testing.assert_array_equal(values.astype(np.float32), r.dequantized)


@pytest.mark.parametrize("name", QUANTIZED)
def test_error_metrics_are_consistent(name: str) -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 256)).astype(np.float32)
    r = quantize(w, name)
    err = r.dequantized.astype(np.float64) - w
    # Differences are taken in float32 (the working precision), squares summed in float64.
    assert r.mse == pytest.approx(np.mean(err**2), rel=1e-6)
    assert r.max_abs_error == pytest.approx(np.abs(err).max(), rel=1e-6)
    assert r.sqnr_db == pytest.approx(10 * np.log10(np.sum(w.astype(float) ** 2)
                                                    / np.sum(err**2)), rel=1e-6)
    assert r.bits_per_weight >= get_format(name).bits
